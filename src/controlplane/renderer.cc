#include "omnirelay/controlplane/renderer.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/document_set.h"

namespace omnirelay::cp {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Result<std::vector<LayerRecord>> ChainLayers(Store& store, const std::vector<Scope>& chain) {
  std::vector<std::string> names;
  for (const Scope& scope : chain) names.push_back(scope.ToString());
  OMNI_ASSIGN_OR_RETURN(std::vector<LayerRecord> stored, store.GetLayers(names));
  std::vector<LayerRecord> out;
  for (const std::string& name : names) {
    auto layer = std::find_if(stored.begin(), stored.end(),
                              [&](const LayerRecord& r) { return r.scope == name; });
    if (layer != stored.end()) out.push_back(std::move(*layer));
  }
  return out;
}

SnapshotRenderer::SnapshotRenderer(Store& store, const SigningKey& key, const Clock& clock,
                                   MetricsRegistry& metrics, RendererOptions options)
    : store_(store),
      key_(key),
      clock_(clock),
      options_(options),
      renders_(
          metrics.counter("omnirelay_cp_snapshot_renders_total", "Snapshots rendered and signed")),
      render_seconds_(metrics.histogram("omnirelay_cp_render_seconds",
                                        "Time to merge, validate and serialise a snapshot")),
      sign_seconds_(metrics.histogram("omnirelay_cp_sign_seconds", "Time to sign a snapshot")) {}

Result<EffectiveConfig> SnapshotRenderer::Merge(const std::vector<Scope>& chain,
                                                std::int64_t version) {
  OMNI_ASSIGN_OR_RETURN(std::vector<LayerRecord> stored, ChainLayers(store_, chain));
  std::vector<std::string> documents;
  for (LayerRecord& layer : stored) documents.push_back(std::move(layer.document));
  return MergeDocuments(chain, version, documents);
}

Result<EffectiveConfig> SnapshotRenderer::MergeDocuments(
    const std::vector<Scope>& chain, std::int64_t version,
    const std::vector<std::string>& documents) {
  EffectiveConfig out;
  out.version = version;
  std::vector<ParsedLayer> layers;
  for (const std::string& document : documents) {
    OMNI_ASSIGN_OR_RETURN(ParsedLayer parsed, ParseLayer(document));
    layers.push_back(std::move(parsed));
  }
  OMNI_ASSIGN_OR_RETURN(RenderedSpec rendered, RenderLayers(layers, ScopeChainToString(chain)));
  out.spec_json = std::move(rendered.spec_json);
  out.features = std::move(rendered.features);
  out.spec = std::move(rendered.spec);
  return out;
}

Result<EffectiveConfig> SnapshotRenderer::Effective(const std::vector<Scope>& chain) {
  auto version = ChainVersion(chain);
  if (!version.ok()) return version.status();
  return Merge(chain, *version);
}

Result<std::int64_t> SnapshotRenderer::ChainVersion(const std::vector<Scope>& chain) {
  std::int64_t version = 0;
  for (const Scope& scope : chain) {
    auto history = store_.History(scope.ToString(), 0, 1);
    if (!history.ok()) return history.status();
    if (!history->empty()) version = std::max(version, history->front().revision);
  }
  return version;
}

Result<std::shared_ptr<const SnapshotRecord>> SnapshotRenderer::Current(
    const std::vector<Scope>& chain) {
  const auto start = std::chrono::steady_clock::now();
  auto version = ChainVersion(chain);
  if (!version.ok()) return version.status();
  if (*version == 0) {
    return Status(StatusCode::kNotFound,
                  "no layer has been written for " + ScopeChainToString(chain) + " yet");
  }
  const std::string key = ScopeChainToString(chain);
  const std::int64_t now = clock_.NowUnixMs();
  const std::int64_t refresh_ms = RefreshMs();
  auto fresh = [&](const SnapshotRecord& r) {
    return r.version == *version && r.expires_at_ms - now > refresh_ms && SignedByOwnKey(r);
  };
  {
    MutexLock lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && fresh(*it->second)) return it->second;
  }
  // One render at a time: two callers missing the cache together would sign
  // two different copies (createdAt) of one version, and nodes holding one
  // would be sent the other. The second finds the first's in the cache.
  MutexLock rendering(RenderLock(key));
  {
    MutexLock lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && fresh(*it->second)) return it->second;
  }
  // What this control plane (or a previous run of it) already signed for this
  // version: re-using it keeps the bytes, and so the hash, stable.
  auto stored = store_.LatestSnapshot(key);
  if (stored.ok() && fresh(*stored)) {
    std::shared_ptr<const SnapshotRecord> out =
        std::make_shared<const SnapshotRecord>(std::move(stored).value());
    MutexLock lock(mu_);
    cache_[key] = out;
    return out;
  }
  auto effective = Merge(chain, *version);  // version already known
  if (!effective.ok()) return effective.status();
  auto rendered = Render(chain, std::move(effective).value());
  render_seconds_.Observe(SecondsSince(start));
  return rendered;
}

Mutex& SnapshotRenderer::RenderLock(std::string_view chain) {
  return render_mu_[std::hash<std::string_view>{}(chain) % kRenderStripes];
}

bool SnapshotRenderer::SignedByOwnKey(const SnapshotRecord& r) const {
  // SignEnvelope ends an envelope with its one signature: the key id sits
  // in the last ~150 bytes, so a cache hit never scans a large envelope.
  constexpr std::size_t kTail = 256;
  const std::string_view env(r.envelope);
  const std::string_view tail = env.size() > kTail ? env.substr(env.size() - kTail) : env;
  return tail.find(key_.key_id()) != std::string_view::npos;
}

std::int64_t SnapshotRenderer::RefreshMs() const {
  return static_cast<std::int64_t>(options_.ttl_seconds * 1000.0 * options_.refresh_fraction);
}

Result<std::shared_ptr<SnapshotRecord>> SnapshotRenderer::Sign(const std::vector<Scope>& chain,
                                                               const EffectiveConfig& effective,
                                                               std::int64_t now_ms,
                                                               std::int64_t min_expires_s) {
  const std::int64_t created_s = now_ms / 1000;
  const std::int64_t expires_s = std::max(created_s + options_.ttl_seconds, min_expires_s);
  nlohmann::json scope_chain = nlohmann::json::array();
  for (const auto& s : chain) scope_chain.push_back(s.ToString());
  nlohmann::json doc = {{"apiVersion", kApiVersion},
                        {"kind", kKindSnapshot},
                        {"metadata",
                         {{"version", effective.version},
                          {"scopeChain", std::move(scope_chain)},
                          {"createdAt", FormatRfc3339(created_s)},
                          {"expiresAt", FormatRfc3339(expires_s)},
                          {"author", "controlplane"},
                          {"requiredFeatures", effective.features}}},
                        {"spec", nlohmann::json::parse(effective.spec_json)}};

  auto record = std::make_shared<SnapshotRecord>();
  record->snapshot = doc.dump();
  record->hash = ContentId(record->snapshot);
  const auto sign_start = std::chrono::steady_clock::now();
  auto envelope = SignEnvelope(key_, kSnapshotPayloadType, record->snapshot);
  sign_seconds_.Observe(SecondsSince(sign_start));
  if (!envelope.ok()) return envelope.status();
  record->envelope = std::move(envelope).value();
  record->version = effective.version;
  record->scope_chain = ScopeChainToString(chain);
  record->created_at_ms = created_s * 1000;
  record->expires_at_ms = expires_s * 1000;
  return record;
}

Result<std::shared_ptr<const SnapshotRecord>> SnapshotRenderer::RenderUnstored(
    const std::vector<Scope>& chain, std::int64_t version,
    const std::vector<std::string>& documents) {
  const auto start = std::chrono::steady_clock::now();
  OMNI_ASSIGN_OR_RETURN(EffectiveConfig effective, MergeDocuments(chain, version, documents));
  OMNI_ASSIGN_OR_RETURN(std::shared_ptr<SnapshotRecord> record,
                        Sign(chain, effective, clock_.NowUnixMs(), 0));
  renders_.Inc();
  render_seconds_.Observe(SecondsSince(start));
  return std::shared_ptr<const SnapshotRecord>(std::move(record));
}

void SnapshotRenderer::Adopt(std::shared_ptr<const SnapshotRecord> stored) {
  if (!stored) return;
  MutexLock lock(mu_);
  auto& cached = cache_[stored->scope_chain];
  if (!cached || cached->version <= stored->version) cached = std::move(stored);
}

Result<std::shared_ptr<const SnapshotRecord>> SnapshotRenderer::Render(
    const std::vector<Scope>& chain, EffectiveConfig effective, bool current,
    std::int64_t min_expires_s) {
  const std::int64_t now_ms = clock_.NowUnixMs();
  OMNI_ASSIGN_OR_RETURN(std::shared_ptr<SnapshotRecord> record,
                        Sign(chain, effective, now_ms, min_expires_s));
  // Kept once per (chain, version) for the whole cell: when another replica
  // stored a fresh one first, that one is served here too (same bytes, same
  // hash, same createdAt/expiresAt) and this rendering is dropped.
  OMNI_ASSIGN_OR_RETURN(SnapshotRecord kept,
                        store_.PutChainSnapshot(*record, now_ms + RefreshMs()));
  if (!SignedByOwnKey(kept)) {
    // Fresh, but signed by another key (a rotation: this replica now signs
    // with the new key, the stored one with the old): this one replaces it,
    // so the old key can be revoked once every replica has moved. Nodes take
    // a re-signing of their version only with a later expiry, and one
    // rendered in the same second as the stored one has its very bytes (the
    // same content id, which nodes hold with the old signature): such a
    // rendering expires a second after the stored one.
    if (kept.expires_at_ms >= record->expires_at_ms) {
      return Render(chain, std::move(effective), current, kept.expires_at_ms / 1000 + 1);
    }
    OMNI_ASSIGN_OR_RETURN(
        kept, store_.PutChainSnapshot(*record, std::numeric_limits<std::int64_t>::max()));
  }
  if (kept.hash != record->hash) *record = std::move(kept);
  renders_.Inc();
  std::shared_ptr<const SnapshotRecord> out = std::move(record);
  MutexLock lock(mu_);
  if (current) {
    cache_[out->scope_chain] = out;
  } else {
    if (older_.size() >= kMaxOlder) older_.clear();
    older_[out->scope_chain + "@" + std::to_string(out->version)] = out;
  }
  return out;
}

}  // namespace omnirelay::cp
