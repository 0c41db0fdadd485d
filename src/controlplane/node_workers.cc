#include "node_workers.h"

namespace omnirelay::cp {

NodeWorkers::NodeWorkers(std::size_t threads) : count_(threads == 0 ? 1 : threads) {
  threads_.reserve(count_);
  for (std::size_t i = 0; i < count_; ++i) threads_.emplace_back([this] { Run(); });
}

NodeWorkers::~NodeWorkers() {
  Stop();
}

bool NodeWorkers::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void NodeWorkers::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void NodeWorkers::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace omnirelay::cp
