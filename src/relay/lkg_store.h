// The last-known-good files of a node (the one place that knows their format):
//
//   <path>        the DSSE envelope of the last applied snapshot, byte for byte;
//   <path>.state  {"highestVersion": <int64>, "hash": "sha256:<hex>"}: the
//                 highest version ever applied, and its content id.
//
// Both are replaced atomically (WriteFileAtomically: temp file, fsync,
// rename, directory fsync), the state file first, so at any instant the
// recorded highest version is at least that of the saved envelope. A failed
// write (disk full, permissions, a failed rename) leaves both files as they
// were, or the state file alone advanced, which is still consistent.
//
// Thread safety: reentrant; concurrent writers of one path must be serialised
// by the caller (ConfigHost writes under its apply lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "omnirelay/config/file_system.h"
#include "omnirelay/config/status.h"

namespace omnirelay::relay {

struct LkgState {
  std::int64_t highest_version = 0;
  std::string hash;
};

class LkgStore {
 public:
  // `fs` must outlive the store.
  explicit LkgStore(std::string envelope_path, FileSystem& fs = RealFileSystem());

  const std::string& envelope_path() const { return envelope_path_; }
  const std::string& state_path() const { return state_path_; }

  // kNotFound when there is no state file; kInvalid when it is not one.
  Result<LkgState> ReadState() const;
  // kNotFound when there is no envelope file; kIoError beyond `max_bytes`.
  Result<std::string> ReadEnvelope(std::size_t max_bytes) const;
  // Writes the state file, then the envelope (creating their directory).
  Status Write(const LkgState& state, std::string_view envelope) const;

  static std::string FormatState(const LkgState& state);
  static Result<LkgState> ParseState(std::string_view text);

 private:
  FileSystem& fs_;
  std::string envelope_path_;
  std::string state_path_;
};

}  // namespace omnirelay::relay
