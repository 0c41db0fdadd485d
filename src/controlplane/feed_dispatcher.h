// Internal: the node feed's timing. Collects change events (scopes touched)
// and runs, on one thread, a round for them; every `refresh_interval` a round
// over every chain; every `sweep_interval` the token sweep; a retry asked for
// (RetryAfter) when its delay is up. All deadlines are
// read from the injected Clock (MonotonicMs), so a test that runs without the
// thread drives everything with RunDue() and a FakeClock.
//
// Thread safety: Post, RunDue and Stop may be called from any thread; the
// handlers run on the dispatcher thread (or RunDue's caller), one at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/mutex.h"

namespace omnirelay::cp {

class FeedDispatcher {
 public:
  struct Round {
    std::vector<std::string> scopes;  // changed scopes (chains containing one are affected)
    bool all = false;                 // the timed refresh: every chain
    // The oldest commit among the events merged into `scopes` (0: unknown,
    // e.g. an event with no revision).
    std::int64_t oldest_revision = 0;
  };
  struct Handlers {
    std::function<void(const Round&)> round;
    std::function<void()> sweep;
  };
  struct Timing {
    std::chrono::milliseconds refresh_interval;
    std::chrono::milliseconds sweep_interval;
  };

  // `threaded`: a dispatcher thread waits for events and deadlines; else
  // nothing runs until RunDue().
  FeedDispatcher(const Clock& clock, Timing timing, Handlers handlers, bool threaded);
  ~FeedDispatcher();  // Stop()
  FeedDispatcher(const FeedDispatcher&) = delete;
  FeedDispatcher& operator=(const FeedDispatcher&) = delete;

  // Queues a change of `scopes`.
  void Post(const std::vector<std::string>& scopes, std::int64_t revision = 0) EXCLUDES(mu_);
  // Queues a round for `scopes` no later than `delay` from now (a render the
  // store could not serve, tried again): retries asked for before it runs
  // share its round, at the earliest deadline asked for.
  void RetryAfter(const std::vector<std::string>& scopes, std::chrono::milliseconds delay)
      EXCLUDES(mu_);
  // Runs what is queued and what is due by the clock now.
  void RunDue() EXCLUDES(mu_, run_mu_);
  // Stops the thread (a running round finishes first). Idempotent.
  void Stop() EXCLUDES(mu_);

 private:
  void Run() EXCLUDES(mu_);

  const Clock& clock_;
  const Timing timing_;
  const Handlers handlers_;

  Mutex run_mu_;  // one RunDue at a time (the thread, or a test)
  mutable Mutex mu_;
  CondVar cv_;
  std::vector<std::string> scopes_ GUARDED_BY(mu_);
  bool pending_ GUARDED_BY(mu_) = false;
  std::int64_t oldest_revision_ GUARDED_BY(mu_) = 0;  // of the pending events
  std::int64_t next_refresh_ms_ GUARDED_BY(mu_);
  std::int64_t next_sweep_ms_ GUARDED_BY(mu_);
  std::vector<std::string> retry_scopes_ GUARDED_BY(mu_);
  std::int64_t next_retry_ms_ GUARDED_BY(mu_) = 0;  // 0: no retry queued
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace omnirelay::cp
