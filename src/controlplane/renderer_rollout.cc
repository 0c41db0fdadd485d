// SnapshotRenderer::WithRollout: a chain's snapshot with metadata.rollout,
// for the nodes that read it (DESIGN.md §3.3, Compatibility).
#include <chrono>
#include <nlohmann/json.hpp>

#include "omnirelay/config/digest.h"
#include "omnirelay/controlplane/renderer.h"

namespace omnirelay::cp {

Result<std::shared_ptr<const SnapshotRecord>> SnapshotRenderer::WithRollout(
    const std::shared_ptr<const SnapshotRecord>& base, std::string_view rollout_id,
    std::int64_t wave) {
  if (!base || rollout_id.empty() || wave < 1) {
    return Status(StatusCode::kInvalidArgument, "a rollout label needs a snapshot, an id, a wave");
  }
  const LabelKey key{base->hash, rollout_id, wave};
  {
    MutexLock lock(mu_);
    if (auto it = labelled_.find(key); it != labelled_.end()) return it->second->record;
  }
  // One rendering of a chain at a time (see Current): a wave's nodes asking together
  // get one signing between them.
  MutexLock rendering(RenderLock(base->scope_chain));
  {
    MutexLock lock(mu_);
    if (auto it = labelled_.find(key); it != labelled_.end()) return it->second->record;
  }
  const auto start = std::chrono::steady_clock::now();
  // The base document with one member more: parsing and dumping the
  // renderer's own (sorted, compact) output gives back its bytes, so the
  // rendering differs from the base only by the label.
  nlohmann::json doc = nlohmann::json::parse(base->snapshot, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("metadata") || !doc["metadata"].is_object()) {
    return Status(StatusCode::kInternal, "snapshot " + base->hash + " is not a Snapshot document");
  }
  doc["metadata"]["rollout"] = {{"id", rollout_id}, {"wave", wave}};

  auto record = std::make_shared<SnapshotRecord>();
  record->snapshot = doc.dump();
  record->hash = ContentId(record->snapshot);
  const auto sign_start = std::chrono::steady_clock::now();
  auto envelope = SignEnvelope(key_, kSnapshotPayloadType, record->snapshot);
  sign_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sign_start).count());
  if (!envelope.ok()) return envelope.status();
  record->envelope = std::move(envelope).value();
  record->version = base->version;
  record->scope_chain = base->scope_chain;
  record->created_at_ms = base->created_at_ms;
  record->expires_at_ms = base->expires_at_ms;
  record->rollout = std::string(rollout_id) + "/" + std::to_string(wave);
  OMNI_RETURN_IF_ERROR(store_.PutSnapshot(*record));
  renders_.Inc();
  render_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  auto entry = std::make_shared<Labelled>();
  entry->base_hash = base->hash;
  entry->rollout_id = std::string(rollout_id);
  entry->record = std::move(record);
  MutexLock lock(mu_);
  if (labelled_.size() >= kMaxLabelled) labelled_.clear();
  labelled_.emplace(LabelKey{entry->base_hash, entry->rollout_id, wave}, entry);
  return entry->record;
}

}  // namespace omnirelay::cp
