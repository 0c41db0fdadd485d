// The file system as the project uses it (LevelDB's Env, reduced to files):
// small whole-file reads, and durable atomic replacement built from a handful
// of primitives. Code that writes state a restart depends on (the relay's
// last-known-good files, the control plane's data dir) takes a FileSystem&,
// so tests can make any primitive fail (ENOSPC, EACCES, a failed rename) and
// check that the previous file survives. RealFileSystem() is POSIX.
//
// Thread safety: RealFileSystem() is reentrant; a WritableFile belongs to
// one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "omnirelay/config/status.h"

namespace omnirelay {

// A file being written; closed (and, if not renamed, left behind) on destruction.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The whole file, at most `max_bytes` (kIoError beyond, and when it cannot
  // be opened or read). The read buffers are wiped: secrets leave no stray copy.
  virtual Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Creates a new file at a unique path starting with `prefix` (O_EXCL, mode
  // 0600, then chmod'ed to `mode`) and sets `*path` to it.
  virtual Result<std::unique_ptr<WritableFile>> CreateTemp(const std::string& prefix,
                                                           std::uint32_t mode,
                                                           std::string* path) = 0;
  // rename(2): replaces `to` atomically.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // The directory and its missing parents; Ok when it already exists.
  virtual Status CreateDirectories(const std::string& path) = 0;
  // fsync of a directory, so a rename in it is durable.
  virtual Status SyncDirectory(const std::string& path) = 0;
};

// The process's real (POSIX) file system.
FileSystem& RealFileSystem();

// Replaces `path` with `data` atomically and durably: a temporary file in the
// same directory (see CreateTemp) is written, fsync'd, closed and renamed over
// `path`; then the directory is fsync'd (best effort: the file is already in
// place). On any failure the temporary file is removed and `path` is left as
// it was: readers see the old file or the new one, never a torn one.
Status WriteFileAtomically(FileSystem& fs, const std::string& path, std::string_view data,
                           std::uint32_t mode);

}  // namespace omnirelay
