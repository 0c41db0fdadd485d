#include "thread_cache.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "omnirelay/config/mutex.h"

namespace omnirelay::relay::internal {
namespace {

std::atomic<std::uint64_t> g_next_uid{1};

struct IndexRegistry {
  Mutex mu;
  std::size_t next GUARDED_BY(mu) = 0;
  std::vector<std::size_t> released GUARDED_BY(mu);
};

IndexRegistry& Registry() {
  static IndexRegistry* registry =
      new IndexRegistry();  // never destroyed: hosts may outlive statics
  return *registry;
}

// Owns one thread's slots; tls_cache_table points into it. Destroyed at
// thread exit, which drops the thread's references to snapshots.
class ThreadCacheOwner {
 public:
  ~ThreadCacheOwner() {
    tls_cache_table = ThreadCacheTable{};
    pointers_.clear();
    slots_.clear();
  }

  CacheSlot& Slot(std::size_t index) {
    if (index >= slots_.size()) {
      // Grow geometrically; existing slots stay where they are (callers may
      // hold references into them), only the pointer array moves.
      const std::size_t size = std::max(index + 1, slots_.size() * 2);
      while (slots_.size() < size) slots_.push_back(std::make_unique<CacheSlot>());
      pointers_.clear();
      for (const auto& slot : slots_) pointers_.push_back(slot.get());
      tls_cache_table = ThreadCacheTable{pointers_.data(), pointers_.size()};
    }
    return *slots_[index];
  }

 private:
  std::vector<std::unique_ptr<CacheSlot>> slots_;
  std::vector<CacheSlot*> pointers_;
};

thread_local ThreadCacheOwner tls_owner;

}  // namespace

std::uint64_t NextHostUid() {
  return g_next_uid.fetch_add(1, std::memory_order_relaxed);
}

std::size_t AcquireCacheIndex() {
  IndexRegistry& r = Registry();
  MutexLock lock(r.mu);
  if (!r.released.empty()) {
    const std::size_t index = r.released.back();
    r.released.pop_back();
    return index;
  }
  return r.next++;
}

void ReleaseCacheIndex(std::size_t index) {
  IndexRegistry& r = Registry();
  MutexLock lock(r.mu);
  r.released.push_back(index);
}

CacheSlot& ThreadCacheSlot(std::size_t index) {
  return tls_owner.Slot(index);
}

}  // namespace omnirelay::relay::internal
