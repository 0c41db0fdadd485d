// Small-file I/O with the durability and secrecy rules the project needs:
// key files, token files, trusted key sets and last-known-good snapshots.
// Shorthands for the same calls on RealFileSystem() (file_system.h); code
// whose write failures are tested takes a FileSystem& instead.
//
// Thread safety: reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "omnirelay/config/status.h"

namespace omnirelay {

// Reads a whole file of at most `max_bytes` (kIoError beyond). The read
// buffer is wiped afterwards, so secrets read this way leave no stray copy.
Result<std::string> ReadFileLimited(const std::string& path, std::size_t max_bytes);

// Replaces `path` with `data` atomically and durably: a temporary file in the
// same directory is created with mode 0600, chmod'ed to `mode`, written,
// fsync'd and renamed over `path`; then the directory is fsync'd. Readers see
// the old file or the new one, never a torn one; a secret is never readable
// by others, even briefly.
Status WriteFileAtomically(const std::string& path, std::string_view data, std::uint32_t mode);

}  // namespace omnirelay
