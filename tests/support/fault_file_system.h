// A FileSystem for tests that fails chosen operations the way a real disk
// does (ENOSPC, EACCES, EIO, EXDEV...), over the real file system otherwise.
// A failing Append first writes half of its data, as a disk that fills up
// mid-write does, so a test sees what a torn temporary file leaves behind.
//
//   FaultInjectingFileSystem fs;
//   fs.Fail(FsOp::kRename, EXDEV, "trusted-keys.json");  // every such rename fails
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/file_system.h"
#include "omnirelay/config/mutex.h"

namespace omnirelay::test_support {

enum class FsOp {
  kReadFile,
  kCreateTemp,
  kAppend,
  kSync,
  kClose,
  kRename,
  kRemove,
  kCreateDirectories,
  kSyncDirectory,
};

class FaultInjectingFileSystem final : public FileSystem {
 public:
  explicit FaultInjectingFileSystem(FileSystem& base = RealFileSystem()) : base_(base) {}

  // From now on, `op` on a path containing `path_part` ("" = any path) fails
  // with `err` (for a rename: the destination path; for a temporary file:
  // the path it will replace).
  void Fail(FsOp op, int err, std::string path_part = "");
  // No more failures.
  void Clear();
  // How many operations failed on purpose so far.
  int injected() const;

  Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes) override;
  bool Exists(const std::string& path) override { return base_.Exists(path); }
  Result<std::unique_ptr<WritableFile>> CreateTemp(const std::string& prefix, std::uint32_t mode,
                                                   std::string* path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status CreateDirectories(const std::string& path) override;
  Status SyncDirectory(const std::string& path) override;

  // The error `op` on `path` is to fail with, or 0 (counted when not 0).
  int ErrorFor(FsOp op, std::string_view path);

 private:
  struct Rule {
    FsOp op;
    int err;
    std::string path_part;
  };

  FileSystem& base_;
  mutable Mutex mu_;
  std::vector<Rule> rules_ GUARDED_BY(mu_);
  int injected_ GUARDED_BY(mu_) = 0;
};

}  // namespace omnirelay::test_support
