// A std::mutex the compiler can reason about (clang -Wthread-safety).
//
// Every field shared between threads is declared `GUARDED_BY(mu_)` next to
// the Mutex that protects it, and every function that expects the caller to
// hold a lock says so with `REQUIRES(mu_)`. clang then refuses, at compile
// time, a read or write of a guarded field without its lock. gcc ignores the
// attributes; the `tsa` build preset (clang, -Wthread-safety -Werror) is the
// one that checks them, in CI.
//
// Conventions:
//   - A field is guarded by a mutex of the same object, never another's.
//   - MutexLock for a scope; Mutex::Lock/Unlock only where a lock is handed
//     across a wait (CondVar does that for you).
//   - CondVar::Wait* take the Mutex, not a std::unique_lock, so the analysis
//     sees that the lock is held before and after the wait.
//
// Thread safety: Mutex and CondVar are what make other classes safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define OMNI_TSA(x) __attribute__((x))
#else
#define OMNI_TSA(x)
#endif

// Abseil (pulled in by gRPC) defines some of these names with the same
// meaning; ours replace them, so both may be included in either order.
#undef CAPABILITY
#undef SCOPED_CAPABILITY
#undef GUARDED_BY
#undef PT_GUARDED_BY
#undef ACQUIRED_BEFORE
#undef ACQUIRED_AFTER
#undef REQUIRES
#undef ACQUIRE
#undef RELEASE
#undef TRY_ACQUIRE
#undef EXCLUDES
#undef ASSERT_CAPABILITY
#undef RETURN_CAPABILITY
#undef NO_THREAD_SAFETY_ANALYSIS
#define CAPABILITY(x) OMNI_TSA(capability(x))
#define SCOPED_CAPABILITY OMNI_TSA(scoped_lockable)
#define GUARDED_BY(x) OMNI_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) OMNI_TSA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) OMNI_TSA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) OMNI_TSA(acquired_after(__VA_ARGS__))
#define REQUIRES(...) OMNI_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) OMNI_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) OMNI_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) OMNI_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) OMNI_TSA(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) OMNI_TSA(assert_capability(x))
#define RETURN_CAPABILITY(x) OMNI_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS OMNI_TSA(no_thread_safety_analysis)

namespace omnirelay {

class CondVar;

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Documents (and tells the analysis) that the caller holds the lock.
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex for its scope. Unlock()/Lock() release and retake it inside
// the scope (e.g. around a call that must not run under the lock).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    mu_.Unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mu_.Lock();
    held_ = true;
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// A condition variable over Mutex. The caller holds `mu` around every Wait.
class CondVar {
 public:
  void Wait(Mutex& mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Waits until `pred()` (evaluated with `mu` held) is true.
  template <typename Pred>
  void Wait(Mutex& mu, Pred pred) REQUIRES(mu) {
    while (!pred()) Wait(mu);
  }
  // False on timeout.
  template <typename Clock, typename Duration>
  bool WaitUntil(Mutex& mu, const std::chrono::time_point<Clock, Duration>& deadline)
      REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  // Waits until `pred()` or `deadline`; returns pred()'s last value.
  template <typename Clock, typename Duration, typename Pred>
  bool WaitUntil(Mutex& mu, const std::chrono::time_point<Clock, Duration>& deadline, Pred pred)
      REQUIRES(mu) {
    while (!pred()) {
      if (!WaitUntil(mu, deadline)) return pred();
    }
    return true;
  }
  template <typename Rep, typename Period, typename Pred>
  bool WaitFor(Mutex& mu, const std::chrono::duration<Rep, Period>& timeout, Pred pred)
      REQUIRES(mu) {
    return WaitUntil(mu, std::chrono::steady_clock::now() + timeout, pred);
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace omnirelay
