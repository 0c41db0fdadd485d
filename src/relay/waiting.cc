// The Watcher's waiting and retry pacing (watcher.h): the real Waiter on a
// condition variable, and Backoff (exponential, full jitter).
#include <algorithm>
#include <chrono>
#include <random>

#include "omnirelay/config/mutex.h"
#include "omnirelay/relay/watcher.h"

namespace omnirelay::relay {
namespace {

class SystemWaiter final : public Waiter {
 public:
  bool WaitMs(std::int64_t ms) override {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(ms, 0));
    MutexLock lock(mu_);
    while (!interrupted_ && !notified_) {
      if (!cv_.WaitUntil(mu_, deadline)) break;
    }
    notified_ = false;
    return !interrupted_;
  }
  void Interrupt() override {
    MutexLock lock(mu_);
    interrupted_ = true;
    cv_.NotifyAll();
  }
  void Notify() override {
    MutexLock lock(mu_);
    notified_ = true;
    cv_.NotifyAll();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool interrupted_ GUARDED_BY(mu_) = false;
  bool notified_ GUARDED_BY(mu_) = false;
};

}  // namespace

std::unique_ptr<Waiter> MakeSystemWaiter() {
  return std::make_unique<SystemWaiter>();
}

Backoff::Backoff(std::int64_t initial_ms, std::int64_t max_ms, std::uint64_t seed)
    : initial_ms_(std::max<std::int64_t>(initial_ms, 1)),
      max_ms_(std::max(max_ms, std::max<std::int64_t>(initial_ms, 1))),
      rng_(seed != 0 ? seed : std::random_device{}()) {}

std::int64_t Backoff::CeilingMs() const {
  std::int64_t ceiling = initial_ms_;
  for (int i = 0; i < failures_ && ceiling < max_ms_; ++i) ceiling *= 2;
  return std::min(ceiling, max_ms_);
}

std::int64_t Backoff::NextDelayMs() {
  const std::int64_t ceiling = CeilingMs();
  if (failures_ < 62) ++failures_;
  return std::uniform_int_distribution<std::int64_t>(0, ceiling)(rng_);
}

}  // namespace omnirelay::relay
