// The per-thread snapshot caches behind ConfigHost::Current() (config_host.h):
// host identities, cache indexes, and the slow path that grows a thread's table.
//
// Thread safety: all functions may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "omnirelay/relay/config_host.h"

namespace omnirelay::relay::internal {

// A process-unique, never reused, non-zero host identity.
std::uint64_t NextHostUid();

// A small index for a live host; released indexes are reused, so per-thread
// tables stay as small as the number of hosts alive at once.
std::size_t AcquireCacheIndex();
void ReleaseCacheIndex(std::size_t index);

// This thread's slot for `index`, creating the thread's table (and the
// thread_local owner that frees it at thread exit) as needed.
CacheSlot& ThreadCacheSlot(std::size_t index);

}  // namespace omnirelay::relay::internal
