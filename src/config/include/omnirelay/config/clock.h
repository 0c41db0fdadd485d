// Time, injected (STYLE.md 7): production code takes a Clock&, tests pass a
// FakeClock and move time by hand, so nothing waits on real time to test timing.
//
// Thread safety: SystemClock is stateless; FakeClock is safe to use from
// several threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace omnirelay {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall time, unix milliseconds: timestamps, expiry.
  virtual std::int64_t NowUnixMs() const = 0;
  // Monotonic time, milliseconds from an arbitrary origin: timeouts, latency.
  virtual std::int64_t MonotonicMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t NowUnixMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t MonotonicMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static SystemClock& Instance() {
    static SystemClock clock;
    return clock;
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t unix_ms = 1'800'000'000'000) : unix_ms_(unix_ms) {}
  std::int64_t NowUnixMs() const override { return unix_ms_.load(); }
  std::int64_t MonotonicMs() const override { return mono_ms_.load(); }
  void AdvanceMs(std::int64_t ms) {
    unix_ms_ += ms;
    mono_ms_ += ms;
  }

 private:
  std::atomic<std::int64_t> unix_ms_;
  std::atomic<std::int64_t> mono_ms_{0};
};

}  // namespace omnirelay
