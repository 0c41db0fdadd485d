#include "lkg_store.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

namespace omnirelay::relay {
namespace {

constexpr std::size_t kMaxStateBytes = 4096;
constexpr std::uint32_t kFileMode = 0600;

Status NotFound(const std::string& path) {
  return Status(StatusCode::kNotFound, path + " does not exist");
}

Status CorruptState(std::string why) {
  return Status(StatusCode::kInvalid, "last-known-good state file is corrupt: " + std::move(why),
                {{"", DiagCode::kParseError, "not a last-known-good state document"}});
}

}  // namespace

LkgStore::LkgStore(std::string envelope_path, FileSystem& fs)
    : fs_(fs), envelope_path_(std::move(envelope_path)), state_path_(envelope_path_ + ".state") {}

std::string LkgStore::FormatState(const LkgState& state) {
  return nlohmann::json{{"highestVersion", state.highest_version}, {"hash", state.hash}}.dump() +
         "\n";
}

Result<LkgState> LkgStore::ParseState(std::string_view text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return CorruptState("not a JSON object");
  LkgState state;
  bool have_version = false;
  for (const auto& [key, value] : doc.items()) {
    if (key == "highestVersion" && value.is_number_integer() && value.get<std::int64_t>() >= 0) {
      state.highest_version = value.get<std::int64_t>();
      have_version = true;
    } else if (key == "hash" && value.is_string()) {
      state.hash = value.get<std::string>();
    } else {
      return CorruptState("unexpected field or value \"" + key + "\"");
    }
  }
  if (!have_version) return CorruptState("no highestVersion");
  return state;
}

Result<LkgState> LkgStore::ReadState() const {
  if (!fs_.Exists(state_path_)) return NotFound(state_path_);
  Result<std::string> text = fs_.ReadFile(state_path_, kMaxStateBytes);
  if (!text.ok()) return text.status();
  return ParseState(*text);
}

Result<std::string> LkgStore::ReadEnvelope(std::size_t max_bytes) const {
  if (!fs_.Exists(envelope_path_)) return NotFound(envelope_path_);
  return fs_.ReadFile(envelope_path_, max_bytes);
}

Status LkgStore::Write(const LkgState& state, std::string_view envelope) const {
  const std::filesystem::path dir = std::filesystem::path(envelope_path_).parent_path();
  if (!dir.empty()) OMNI_RETURN_IF_ERROR(fs_.CreateDirectories(dir.string()));
  OMNI_RETURN_IF_ERROR(WriteFileAtomically(fs_, state_path_, FormatState(state), kFileMode));
  return WriteFileAtomically(fs_, envelope_path_, envelope, kFileMode);
}

}  // namespace omnirelay::relay
