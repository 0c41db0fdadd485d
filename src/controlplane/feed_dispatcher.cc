#include "feed_dispatcher.h"

#include <algorithm>
#include <utility>

namespace omnirelay::cp {

FeedDispatcher::FeedDispatcher(const Clock& clock, Timing timing, Handlers handlers, bool threaded)
    : clock_(clock),
      timing_(timing),
      handlers_(std::move(handlers)),
      next_refresh_ms_(clock.MonotonicMs() + timing.refresh_interval.count()),
      next_sweep_ms_(clock.MonotonicMs() + timing.sweep_interval.count()) {
  if (threaded) thread_ = std::thread([this] { Run(); });
}

FeedDispatcher::~FeedDispatcher() {
  Stop();
}

void FeedDispatcher::Post(const std::vector<std::string>& scopes, std::int64_t revision) {
  {
    MutexLock lock(mu_);
    oldest_revision_ = pending_ ? std::min(oldest_revision_, revision) : revision;
    pending_ = true;
    scopes_.insert(scopes_.end(), scopes.begin(), scopes.end());
  }
  cv_.NotifyOne();
}

void FeedDispatcher::RetryAfter(const std::vector<std::string>& scopes,
                                std::chrono::milliseconds delay) {
  {
    MutexLock lock(mu_);
    const std::int64_t due = clock_.MonotonicMs() + delay.count();
    next_retry_ms_ = next_retry_ms_ == 0 ? due : std::min(next_retry_ms_, due);
    retry_scopes_.insert(retry_scopes_.end(), scopes.begin(), scopes.end());
  }
  cv_.NotifyOne();  // the thread's wait may end later than this deadline
}

void FeedDispatcher::RunDue() {
  MutexLock run(run_mu_);
  const std::int64_t now = clock_.MonotonicMs();
  Round round;
  Round retry;
  bool run_round = false;
  bool run_retry = false;
  bool sweep = false;
  {
    MutexLock lock(mu_);
    if (now >= next_refresh_ms_) {
      next_refresh_ms_ = now + timing_.refresh_interval.count();
      round.all = true;
      run_round = true;
    }
    if (now >= next_sweep_ms_) {
      next_sweep_ms_ = now + timing_.sweep_interval.count();
      sweep = true;
    }
    if (pending_) {
      round.scopes = std::move(scopes_);
      round.oldest_revision = oldest_revision_;
      scopes_.clear();
      pending_ = false;
      run_round = true;
    }
    if (next_retry_ms_ != 0 && now >= next_retry_ms_) {
      // A round of its own (oldest_revision 0): its chains render in full,
      // whatever the events' round may skip.
      retry.scopes = std::move(retry_scopes_);
      retry_scopes_.clear();
      next_retry_ms_ = 0;
      run_retry = true;
    }
  }
  // Expired tokens first: their streams are not worth a notify.
  if (sweep && handlers_.sweep) handlers_.sweep();
  if (run_round && handlers_.round) handlers_.round(round);
  if (run_retry && handlers_.round) handlers_.round(retry);
}

void FeedDispatcher::Run() {
  MutexLock lock(mu_);
  while (!stop_) {
    std::int64_t due_ms = std::min(next_refresh_ms_, next_sweep_ms_);
    if (next_retry_ms_ != 0) due_ms = std::min(due_ms, next_retry_ms_);
    const std::int64_t wait_ms = due_ms - clock_.MonotonicMs();
    if (!pending_ && wait_ms > 0) {
      cv_.WaitUntil(mu_, std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms));
      continue;  // re-checks stop_, events and deadlines
    }
    lock.Unlock();
    RunDue();
    lock.Lock();
  }
}

void FeedDispatcher::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

}  // namespace omnirelay::cp
