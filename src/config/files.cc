#include "omnirelay/config/files.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace omnirelay {
namespace {

Status IoError(std::string_view what, const std::string& path, int err) {
  return Status(StatusCode::kIoError, std::string(what) + " " + path + ": " + std::strerror(err));
}

}  // namespace

Result<std::string> ReadFileLimited(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open", path, errno);
  std::string data;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      return IoError("cannot read", path, err);
    }
    if (n == 0) break;
    if (data.size() + static_cast<std::size_t>(n) > max_bytes) {
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      return Status(StatusCode::kIoError,
                    path + " is over the size limit of " + std::to_string(max_bytes) + " bytes");
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  OPENSSL_cleanse(buf, sizeof buf);
  return data;
}

// Replaces `path` with `data` atomically: a temporary file in the same
// directory, created with mode 0600 (O_EXCL), chmod'ed to `mode`, fsync'd,
// renamed over `path`; then the directory is fsync'd.
Status WriteFileAtomically(const std::string& path, std::string_view data, std::uint32_t mode) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return IoError("cannot create a temporary file for", path, errno);
  auto fail = [&](std::string_view what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return IoError(what, tmp, err);
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("cannot chmod", errno);
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return IoError("cannot close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return IoError("cannot rename onto", path, err);
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    // Best effort: the file itself is already durable and in place.
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
  return Status::Ok();
}

}  // namespace omnirelay
