#include "fault_file_system.h"

#include <cstring>
#include <utility>

namespace omnirelay::test_support {
namespace {

Status Injected(std::string_view what, std::string_view path, int err) {
  return Status(StatusCode::kIoError,
                std::string(what) + " " + std::string(path) + ": " + std::strerror(err));
}

class FaultyWritableFile final : public WritableFile {
 public:
  FaultyWritableFile(FaultInjectingFileSystem& fs, std::unique_ptr<WritableFile> base,
                     std::string target, std::string path)
      : fs_(fs), base_(std::move(base)), target_(std::move(target)), path_(std::move(path)) {}

  Status Append(std::string_view data) override {
    if (const int err = fs_.ErrorFor(FsOp::kAppend, target_)) {
      (void)base_->Append(data.substr(0, data.size() / 2));  // torn, as a full disk leaves it
      return Injected("cannot write", path_, err);
    }
    return base_->Append(data);
  }
  Status Sync() override {
    if (const int err = fs_.ErrorFor(FsOp::kSync, target_))
      return Injected("cannot fsync", path_, err);
    return base_->Sync();
  }
  Status Close() override {
    Status closed = base_->Close();
    if (const int err = fs_.ErrorFor(FsOp::kClose, target_))
      return Injected("cannot close", path_, err);
    return closed;
  }

 private:
  FaultInjectingFileSystem& fs_;
  std::unique_ptr<WritableFile> base_;
  const std::string target_;  // the path the file is to replace
  const std::string path_;
};

}  // namespace

void FaultInjectingFileSystem::Fail(FsOp op, int err, std::string path_part) {
  MutexLock lock(mu_);
  rules_.push_back({op, err, std::move(path_part)});
}

void FaultInjectingFileSystem::Clear() {
  MutexLock lock(mu_);
  rules_.clear();
}

int FaultInjectingFileSystem::injected() const {
  MutexLock lock(mu_);
  return injected_;
}

int FaultInjectingFileSystem::ErrorFor(FsOp op, std::string_view path) {
  MutexLock lock(mu_);
  for (const Rule& rule : rules_) {
    if (rule.op == op && path.find(rule.path_part) != std::string_view::npos) {
      ++injected_;
      return rule.err;
    }
  }
  return 0;
}

Result<std::string> FaultInjectingFileSystem::ReadFile(const std::string& path,
                                                       std::size_t max_bytes) {
  if (const int err = ErrorFor(FsOp::kReadFile, path)) return Injected("cannot open", path, err);
  return base_.ReadFile(path, max_bytes);
}

Result<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::CreateTemp(
    const std::string& prefix, std::uint32_t mode, std::string* path) {
  if (const int err = ErrorFor(FsOp::kCreateTemp, prefix)) {
    return Injected("cannot create a temporary file", prefix + "*", err);
  }
  Result<std::unique_ptr<WritableFile>> file = base_.CreateTemp(prefix, mode, path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<WritableFile>(
      std::make_unique<FaultyWritableFile>(*this, std::move(file).value(), prefix, *path));
}

Status FaultInjectingFileSystem::Rename(const std::string& from, const std::string& to) {
  if (const int err = ErrorFor(FsOp::kRename, to)) return Injected("cannot rename onto", to, err);
  return base_.Rename(from, to);
}

Status FaultInjectingFileSystem::Remove(const std::string& path) {
  if (const int err = ErrorFor(FsOp::kRemove, path)) return Injected("cannot remove", path, err);
  return base_.Remove(path);
}

Status FaultInjectingFileSystem::CreateDirectories(const std::string& path) {
  if (const int err = ErrorFor(FsOp::kCreateDirectories, path)) {
    return Injected("cannot create directory", path, err);
  }
  return base_.CreateDirectories(path);
}

Status FaultInjectingFileSystem::SyncDirectory(const std::string& path) {
  if (const int err = ErrorFor(FsOp::kSyncDirectory, path)) {
    return Injected("cannot fsync directory", path, err);
  }
  return base_.SyncDirectory(path);
}

}  // namespace omnirelay::test_support
