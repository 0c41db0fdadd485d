#include "omnirelay/config/file_system.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace omnirelay {
namespace {

Status IoError(std::string_view what, const std::string& path, int err) {
  return Status(StatusCode::kIoError, std::string(what) + " " + path + ": " + std::strerror(err));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::string_view data) override {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot write", path_, errno);
      }
      done += static_cast<std::size_t>(n);
    }
    return Status::Ok();
  }
  Status Sync() override {
    if (::fsync(fd_) != 0) return IoError("cannot fsync", path_, errno);
    return Status::Ok();
  }
  Status Close() override {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return IoError("cannot close", path_, errno);
    return Status::Ok();
  }

 private:
  int fd_;
  const std::string path_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot open", path, errno);
    std::string data;
    char buf[16384];
    Status failed;
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        failed = IoError("cannot read", path, errno);
        break;
      }
      if (n == 0) break;
      if (data.size() + static_cast<std::size_t>(n) > max_bytes) {
        failed = Status(StatusCode::kIoError, path + " is over the size limit of " +
                                                  std::to_string(max_bytes) + " bytes");
        break;
      }
      data.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    OPENSSL_cleanse(buf, sizeof buf);
    if (!failed.ok()) {
      OPENSSL_cleanse(data.data(), data.size());
      return failed;
    }
    return data;
  }

  bool Exists(const std::string& path) override {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
  }

  Result<std::unique_ptr<WritableFile>> CreateTemp(const std::string& prefix, std::uint32_t mode,
                                                   std::string* path) override {
    std::string name = prefix + "XXXXXX";
    const int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) return IoError("cannot create a temporary file", prefix + "*", errno);
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(name.c_str());
      return IoError("cannot chmod", name, err);
    }
    *path = name;
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(fd, name));
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return IoError("cannot rename onto", to, errno);
    return Status::Ok();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return IoError("cannot remove", path, errno);
    return Status::Ok();
  }

  Status CreateDirectories(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
      return Status(StatusCode::kIoError, "cannot create directory " + path + ": " + ec.message());
    }
    return Status::Ok();
  }

  Status SyncDirectory(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot open directory", path, errno);
    const int synced = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (synced != 0) return IoError("cannot fsync directory", path, err);
    return Status::Ok();
  }
};

}  // namespace

FileSystem& RealFileSystem() {
  static PosixFileSystem* fs = new PosixFileSystem();  // never destroyed: used until exit
  return *fs;
}

Status WriteFileAtomically(FileSystem& fs, const std::string& path, std::string_view data,
                           std::uint32_t mode) {
  std::string tmp;
  Result<std::unique_ptr<WritableFile>> file = fs.CreateTemp(path + ".tmp.", mode, &tmp);
  if (!file.ok()) return file.status();
  Status written = (*file)->Append(data);
  if (written.ok()) written = (*file)->Sync();
  if (Status closed = (*file)->Close(); written.ok()) written = std::move(closed);
  if (written.ok()) written = fs.Rename(tmp, path);
  if (!written.ok()) {
    (void)fs.Remove(tmp);  // best effort; the failure reported is the write's
    return written;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  (void)fs.SyncDirectory(dir);  // best effort: the file itself is durable and in place
  return Status::Ok();
}

}  // namespace omnirelay
