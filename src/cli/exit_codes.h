// omnirctl's documented exit codes (docs/knowledge-base/omnirctl.md). Scripts
// depend on them: extend, never renumber.
#pragma once

namespace omnirelay::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // I/O and other errors
inline constexpr int kExitUsage = 2;        // bad flags or arguments
inline constexpr int kExitInvalid = 3;      // validation failed
inline constexpr int kExitConflict = 4;     // CAS conflict
inline constexpr int kExitDenied = 5;       // unauthenticated / permission denied
inline constexpr int kExitUnreachable = 6;  // server unreachable

}  // namespace omnirelay::cli
