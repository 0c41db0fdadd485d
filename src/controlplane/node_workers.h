// Internal: a fixed pool of threads running queued tasks in FIFO order. The
// node feed uses it for work that must not run on a transport's callback
// threads (hello: token lookup and rendering; fetch) and to spread a fan-out.
// A pool of 0 threads runs each task on the caller of Submit (tests).
//
// Thread safety: Submit from any thread; Stop once (runs what is queued,
// then joins). Tasks submitted after Stop are dropped.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "omnirelay/config/mutex.h"

namespace omnirelay::cp {

class NodeWorkers {
 public:
  explicit NodeWorkers(std::size_t threads);
  ~NodeWorkers();  // Stop()
  NodeWorkers(const NodeWorkers&) = delete;
  NodeWorkers& operator=(const NodeWorkers&) = delete;

  // False (and `task` dropped) once stopping.
  bool Submit(std::function<void()> task) EXCLUDES(mu_);
  // The slices of one fan-out, queued together: every worker may start one
  // at once (submitted one by one, a caller preempted between two Submits
  // would hold the later slices back while a worker idles).
  bool SubmitAll(std::vector<std::function<void()>> tasks) EXCLUDES(mu_);
  // A fan-out of `n` items: as many slices as workers, but none smaller than
  // `min_slice` items (at least one when n > 0).
  std::size_t SliceCount(std::size_t n, std::size_t min_slice) const;
  // Queues `slices` tasks together (SubmitAll), task i running `run(begin,
  // end)` over the i-th of `slices` consecutive ranges of [0, n).
  bool SubmitSlices(std::size_t n, std::size_t slices,
                    const std::function<void(std::size_t begin, std::size_t end)>& run)
      EXCLUDES(mu_);
  void Stop() EXCLUDES(mu_);
  // How many tasks run at once (1 for the inline pool).
  std::size_t size() const { return count_ == 0 ? 1 : count_; }

 private:
  void Run() EXCLUDES(mu_);

  const std::size_t count_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // started in the constructor, joined by Stop
};

}  // namespace omnirelay::cp
