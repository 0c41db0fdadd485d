#include "omnirelay/config/files.h"

#include "omnirelay/config/file_system.h"

namespace omnirelay {

Result<std::string> ReadFileLimited(const std::string& path, std::size_t max_bytes) {
  return RealFileSystem().ReadFile(path, max_bytes);
}

Status WriteFileAtomically(const std::string& path, std::string_view data, std::uint32_t mode) {
  return WriteFileAtomically(RealFileSystem(), path, data, mode);
}

}  // namespace omnirelay
