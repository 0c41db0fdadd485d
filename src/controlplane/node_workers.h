// Internal: a fixed pool of threads running queued tasks in FIFO order. The
// node feed uses it for work that must not run on gRPC's callback threads
// (hello: token lookup and rendering; fetch) and to spread a fan-out.
//
// Thread safety: Submit from any thread; Stop once (runs what is queued,
// then joins). Tasks submitted after Stop are dropped.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace omnirelay::cp {

class NodeWorkers {
 public:
  explicit NodeWorkers(std::size_t threads);
  ~NodeWorkers();  // Stop()
  NodeWorkers(const NodeWorkers&) = delete;
  NodeWorkers& operator=(const NodeWorkers&) = delete;

  // False (and `task` dropped) once stopping.
  bool Submit(std::function<void()> task);
  void Stop();
  std::size_t size() const { return count_; }

 private:
  void Run();

  const std::size_t count_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace omnirelay::cp
