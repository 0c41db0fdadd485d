#include "node_workers.h"

#include <algorithm>

namespace omnirelay::cp {

NodeWorkers::NodeWorkers(std::size_t threads) : count_(threads) {
  threads_.reserve(count_);
  for (std::size_t i = 0; i < count_; ++i) threads_.emplace_back([this] { Run(); });
}

NodeWorkers::~NodeWorkers() {
  Stop();
}

bool NodeWorkers::Submit(std::function<void()> task) {
  {
    MutexLock lock(mu_);
    if (stopping_) return false;
    if (count_ != 0) queue_.push_back(std::move(task));
  }
  if (count_ == 0) {
    task();
    return true;
  }
  cv_.NotifyOne();
  return true;
}

bool NodeWorkers::SubmitAll(std::vector<std::function<void()>> tasks) {
  {
    MutexLock lock(mu_);
    if (stopping_) return false;
    if (count_ != 0) {
      for (auto& task : tasks) queue_.push_back(std::move(task));
    }
  }
  if (count_ == 0) {
    for (auto& task : tasks) task();
    return true;
  }
  if (tasks.size() == 1) {
    cv_.NotifyOne();
  } else {
    cv_.NotifyAll();
  }
  return true;
}

std::size_t NodeWorkers::SliceCount(std::size_t n, std::size_t min_slice) const {
  if (n == 0) return 0;
  return std::max<std::size_t>(1, std::min(size(), (n + min_slice - 1) / min_slice));
}

bool NodeWorkers::SubmitSlices(std::size_t n, std::size_t slices,
                               const std::function<void(std::size_t, std::size_t)>& run) {
  std::vector<std::function<void()>> tasks;
  tasks.reserve(slices);
  for (std::size_t i = 0; i < slices; ++i) {
    tasks.emplace_back(
        [run, begin = n * i / slices, end = n * (i + 1) / slices] { run(begin, end); });
  }
  return SubmitAll(std::move(tasks));
}

void NodeWorkers::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void NodeWorkers::Run() {
  MutexLock lock(mu_);
  while (true) {
    while (!stopping_ && queue_.empty()) cv_.Wait(mu_);
    if (queue_.empty()) return;  // stopping and drained
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.Unlock();
    task();
    lock.Lock();
  }
}

}  // namespace omnirelay::cp
