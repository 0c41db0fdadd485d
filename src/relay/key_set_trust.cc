#include "key_set_trust.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace omnirelay::relay::internal {
namespace {

constexpr std::size_t kMaxChainFileBytes = 8 << 20;

Result<std::vector<std::string>> ParseChainFile(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("envelopes") || !doc["envelopes"].is_array()) {
    return Status(StatusCode::kInvalid, "not a key-set chain file ({\"envelopes\": [...]})");
  }
  std::vector<std::string> out;
  for (const auto& e : doc["envelopes"]) {
    if (!e.is_string()) return Status(StatusCode::kInvalid, "an envelope that is not a string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

KeySetTrust::KeySetTrust(SignedKeySet configured, std::string persist_path, FileSystem& fs)
    : configured_(std::move(configured)),
      trusted_(configured_),
      persist_path_(std::move(persist_path)),
      fs_(fs) {}

Status KeySetTrust::LoadPersisted() {
  if (persist_path_.empty() || !fs_.Exists(persist_path_)) return Status::Ok();
  Result<std::string> text = fs_.ReadFile(persist_path_, kMaxChainFileBytes);
  Result<std::vector<std::string>> chain =
      text.ok() ? ParseChainFile(*text) : Result<std::vector<std::string>>(text.status());
  if (!chain.ok()) {
    error_ = Status(chain.status().code(), persist_path_ + ": " + chain.status().message());
    return error_;
  }
  // Walked as Advance walks: entries the configured set already covers (an
  // operator gave the node a newer file since) are skipped, the rest must
  // chain from it.
  Status walked = Walk(*chain);
  if (!walked.ok()) {
    trusted_ = configured_;
    accepted_.clear();
    error_ = Status(walked.code(), persist_path_ +
                                       " does not chain from the configured key set "
                                       "version " +
                                       std::to_string(configured_.set.version) + ": " +
                                       walked.message());
    return error_;
  }
  return Status::Ok();
}

Status KeySetTrust::Walk(const std::vector<std::string>& envelopes) {
  for (const std::string& envelope : envelopes) {
    Result<SignedKeySet> next = VerifyNextKeySet(trusted_.set, envelope);
    if (!next.ok()) {
      if (next.status().code() == StatusCode::kRollback) continue;  // already trusted
      return next.status();
    }
    trusted_ = std::move(next).value();
    accepted_.push_back(envelope);
  }
  return Status::Ok();
}

Result<bool> KeySetTrust::Advance(const std::vector<std::string>& envelopes) {
  const std::int64_t before = version();
  Status refused = Walk(envelopes);
  if (version() != before) {
    if (Status saved = Persist(); !saved.ok() && refused.ok()) refused = saved;
  }
  if (!refused.ok()) {
    error_ = refused;
    return refused;
  }
  return version() != before;
}

Status KeySetTrust::Persist() {
  if (persist_path_.empty()) return Status::Ok();
  nlohmann::json doc{{"envelopes", accepted_}};
  return WriteFileAtomically(fs_, persist_path_, doc.dump() + "\n", 0644);
}

}  // namespace omnirelay::relay::internal
