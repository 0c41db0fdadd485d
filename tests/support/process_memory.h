// What a soak needs to say "memory stayed flat": this process's resident
// size, and whether AddressSanitizer is in the build (its quarantine keeps
// freed memory, so the resident size grows whether or not anything leaks;
// LeakSanitizer checks for leaks at exit there instead).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <fstream>

namespace omnirelay::test_support {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif
#else
inline constexpr bool kUnderAsan = false;
#endif

// Resident set size of this process, bytes.
inline std::int64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  std::int64_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

}  // namespace omnirelay::test_support
