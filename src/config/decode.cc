#include "omnirelay/config/decode.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "json_convert.h"
#include "json_strict.h"
#include "omnirelay/config/scope.h"

namespace omnirelay {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr std::int64_t kMaxTimeoutMs = 3'600'000;
constexpr std::int64_t kMaxConcurrentRequests = 10'000'000;
constexpr std::size_t kMaxFreeTextBytes = 256;

// Walks a parsed DOM, filling the model and collecting diagnostics. The
// current JSON Pointer is kept in path_ and extended with PathGuard.
class Decoder {
 public:
  Decoder(std::string prefix, const std::vector<std::string>& features)
      : path_(std::move(prefix)), features_(features) {}

  std::vector<Diagnostic> TakeDiagnostics() { return std::move(diags_); }
  bool failed() const { return !diags_.empty(); }

  void Error(DiagCode code, std::string message) {
    diags_.push_back(Diagnostic{path_, code, std::move(message)});
  }

  class PathGuard {
   public:
    PathGuard(Decoder& d, std::string_view token) : d_(d), mark_(d.path_.size()) {
      AppendPointerToken(d.path_, token);
    }
    PathGuard(Decoder& d, std::size_t index) : PathGuard(d, std::to_string(index)) {}
    ~PathGuard() { d_.path_.resize(mark_); }
    PathGuard(const PathGuard&) = delete;
    PathGuard& operator=(const PathGuard&) = delete;

   private:
    Decoder& d_;
    std::size_t mark_;
  };

  void TypeMismatch(element el, std::string_view expected) {
    Error(DiagCode::kTypeMismatch, "expected " + std::string(expected) + ", got " +
                                       std::string(internal::JsonTypeName(el.type())));
  }

  bool AsObject(element el, object* out) {
    if (el.type() != element_type::OBJECT) {
      TypeMismatch(el, "object");
      return false;
    }
    *out = internal::ObjectOf(el);
    return true;
  }

  bool AsString(element el, std::string* out) {
    if (el.type() != element_type::STRING) {
      TypeMismatch(el, "string");
      return false;
    }
    *out = std::string(el.get_string().value_unsafe());
    return true;
  }

  bool AsInt(element el, std::int64_t* out) {
    if (el.type() == element_type::INT64) {
      *out = el.get_int64().value_unsafe();
      return true;
    }
    if (el.type() == element_type::UINT64) {
      Error(DiagCode::kOutOfRange, "integer does not fit in 64 bits");
      return false;
    }
    TypeMismatch(el, "integer");
    return false;
  }

  bool IntInRange(element el, std::int64_t lo, std::int64_t hi, std::int64_t* out) {
    if (!AsInt(el, out)) return false;
    if (*out < lo || *out > hi) {
      Error(DiagCode::kOutOfRange, "must be between " + std::to_string(lo) + " and " +
                                       std::to_string(hi) + ", got " + std::to_string(*out));
      return false;
    }
    return true;
  }

  bool AsName(element el, std::string* out) {
    if (!AsString(el, out)) return false;
    if (!IsValidName(*out)) {
      Error(DiagCode::kInvalidName, "\"" + *out +
                                        "\" is not a valid name (lowercase DNS label: 1-63 "
                                        "characters of a-z, 0-9 and '-')");
      return false;
    }
    return true;
  }

  bool FreeText(element el, std::string* out) {
    if (!AsString(el, out)) return false;
    if (out->size() > kMaxFreeTextBytes) {
      Error(DiagCode::kOutOfRange, "longer than " + std::to_string(kMaxFreeTextBytes) + " bytes");
      return false;
    }
    return true;
  }

  void NameList(element el, std::vector<std::string>* out) {
    if (el.type() != element_type::ARRAY) {
      TypeMismatch(el, "array");
      return;
    }
    std::size_t i = 0;
    for (element item : internal::ArrayOf(el)) {
      PathGuard g(*this, i++);
      std::string name;
      if (AsName(item, &name)) out->push_back(std::move(name));
    }
  }

  void FeatureList(element el, std::vector<std::string>* out) {
    if (el.type() != element_type::ARRAY) {
      TypeMismatch(el, "array");
      return;
    }
    std::size_t i = 0;
    for (element item : internal::ArrayOf(el)) {
      PathGuard g(*this, i++);
      std::string feature;
      if (!AsString(item, &feature)) continue;
      if (!IsKnownFeature(feature)) {
        Error(DiagCode::kUnknownFeature, "unknown feature \"" + feature + "\"");
        continue;
      }
      out->push_back(std::move(feature));
    }
  }

  void UnknownField(std::string_view key, std::string_view where) {
    PathGuard g(*this, key);
    Error(DiagCode::kUnknownField,
          "unknown field \"" + std::string(key) + "\" in " + std::string(where));
  }

  void Missing(std::string_view key) {
    PathGuard g(*this, key);
    Error(DiagCode::kMissingField, "required field \"" + std::string(key) + "\" is missing");
  }

  // Iterates a map object whose keys are names: validates each key, then calls fn.
  template <typename Fn>
  void NamedMap(element el, Fn&& fn) {
    object obj;
    if (!AsObject(el, &obj)) return;
    for (auto field : obj) {
      PathGuard g(*this, field.key);
      if (!IsValidName(field.key)) {
        Error(DiagCode::kInvalidName, "\"" + std::string(field.key) +
                                          "\" is not a valid name (lowercase DNS label: 1-63 "
                                          "characters of a-z, 0-9 and '-')");
        continue;
      }
      fn(field.key, field.value);
    }
  }

  // ---- spec ---------------------------------------------------------------

  void DecodeSpecObject(element el, Spec* spec) {
    object obj;
    if (!AsObject(el, &obj)) return;
    for (auto f : obj) {
      if (f.key == "clusters") {
        PathGuard g(*this, f.key);
        NamedMap(f.value, [&](std::string_view name, element v) {
          Cluster c;
          if (DecodeCluster(v, &c)) spec->clusters.push_back({std::string(name), std::move(c)});
        });
      } else if (f.key == "routes") {
        PathGuard g(*this, f.key);
        NamedMap(f.value, [&](std::string_view name, element v) {
          Route r;
          if (DecodeRoute(v, &r)) spec->routes.push_back({std::string(name), std::move(r)});
        });
      } else if (f.key == "dispatcher") {
        PathGuard g(*this, f.key);
        DecodeDispatcher(f.value, &spec->dispatcher);
      } else if (f.key == "topology") {
        PathGuard g(*this, f.key);
        DecodeTopology(f.value, &spec->topology);
      } else if (f.key == "security") {
        PathGuard g(*this, f.key);
        DecodeSecurity(f.value, &spec->security);
      } else {
        UnknownField(f.key, "spec");
      }
    }
  }

  bool DecodeCluster(element el, Cluster* c) {
    object obj;
    if (!AsObject(el, &obj)) return false;
    const std::size_t before = diags_.size();
    bool has_service = false;
    for (auto f : obj) {
      PathGuard g(*this, f.key);
      if (f.key == "service") {
        has_service = true;
        AsName(f.value, &c->service);
      } else if (f.key == "region") {
        AsName(f.value, &c->region);
      } else if (f.key == "cell") {
        AsName(f.value, &c->cell);
      } else if (f.key == "failover") {
        NameList(f.value, &c->failover);
      } else if (f.key == "timeoutMs") {
        std::int64_t v;
        if (IntInRange(f.value, 1, kMaxTimeoutMs, &v)) c->timeout_ms = v;
      } else {
        diags_.push_back({path_, DiagCode::kUnknownField,
                          "unknown field \"" + std::string(f.key) + "\" in cluster"});
      }
    }
    if (!has_service) Missing("service");
    return diags_.size() == before;
  }

  bool DecodeRoute(element el, Route* r) {
    object obj;
    if (!AsObject(el, &obj)) return false;
    const std::size_t before = diags_.size();
    bool has_service = false, has_weights = false;
    for (auto f : obj) {
      if (f.key == "service") {
        PathGuard g(*this, f.key);
        has_service = true;
        AsName(f.value, &r->service);
      } else if (f.key == "procedure") {
        PathGuard g(*this, f.key);
        if (FreeText(f.value, &r->procedure) && r->procedure.empty()) {
          Error(DiagCode::kOutOfRange, "procedure must not be empty (use \"*\" for all)");
        }
      } else if (f.key == "weights") {
        PathGuard g(*this, f.key);
        has_weights = true;
        NamedMap(f.value, [&](std::string_view name, element v) {
          std::int64_t w;
          if (IntInRange(v, 0, 100, &w)) r->weights.push_back({std::string(name), w});
        });
      } else if (f.key == "shadow") {
        if (!FeatureEnabled(kFeatureShadowing)) {
          PathGuard g(*this, f.key);
          Error(DiagCode::kUnknownField,
                "field \"shadow\" needs feature \"shadowing\" enabled in metadata.features");
          continue;
        }
        PathGuard g(*this, f.key);
        Shadow s;
        if (DecodeShadow(f.value, &s)) r->shadow = std::move(s);
      } else {
        UnknownField(f.key, "route");
      }
    }
    if (!has_service) Missing("service");
    if (!has_weights) Missing("weights");
    return diags_.size() == before;
  }

  bool DecodeShadow(element el, Shadow* s) {
    object obj;
    if (!AsObject(el, &obj)) return false;
    const std::size_t before = diags_.size();
    bool has_cluster = false, has_percent = false;
    for (auto f : obj) {
      if (f.key == "cluster") {
        PathGuard g(*this, f.key);
        has_cluster = true;
        AsName(f.value, &s->cluster);
      } else if (f.key == "percent") {
        PathGuard g(*this, f.key);
        has_percent = true;
        DecodePercent(f.value, &s->basis_points);
      } else {
        UnknownField(f.key, "shadow");
      }
    }
    if (!has_cluster) Missing("cluster");
    if (!has_percent) Missing("percent");
    return diags_.size() == before;
  }

  void DecodePercent(element el, std::uint32_t* basis_points) {
    double p;
    if (el.type() == element_type::INT64) {
      p = static_cast<double>(el.get_int64().value_unsafe());
    } else if (el.type() == element_type::DOUBLE) {
      p = el.get_double().value_unsafe();
    } else if (el.type() == element_type::UINT64) {
      Error(DiagCode::kOutOfRange, "percent must be between 0 and 100");
      return;
    } else {
      TypeMismatch(el, "number");
      return;
    }
    if (!(p >= 0.0 && p <= 100.0)) {
      Error(DiagCode::kOutOfRange, "percent must be between 0 and 100");
      return;
    }
    const double scaled = p * 100.0;
    const double rounded = std::round(scaled);
    if (std::fabs(scaled - rounded) > 1e-9) {
      Error(DiagCode::kOutOfRange, "percent allows at most two decimals");
      return;
    }
    *basis_points = static_cast<std::uint32_t>(rounded);
  }

  void DecodeDispatcher(element el, Dispatcher* d) {
    object obj;
    if (!AsObject(el, &obj)) return;
    for (auto f : obj) {
      if (f.key == "maxConcurrentRequests") {
        PathGuard g(*this, f.key);
        std::int64_t v;
        if (IntInRange(f.value, 1, kMaxConcurrentRequests, &v)) d->max_concurrent_requests = v;
      } else {
        UnknownField(f.key, "dispatcher");
      }
    }
  }

  void DecodeTopology(element el, Topology* t) {
    object obj;
    if (!AsObject(el, &obj)) return;
    for (auto f : obj) {
      if (f.key == "regions") {
        PathGuard g(*this, f.key);
        NamedMap(f.value, [&](std::string_view name, element v) {
          Region r;
          if (DecodeRegion(v, &r)) t->regions.push_back({std::string(name), std::move(r)});
        });
      } else if (f.key == "bridges") {
        PathGuard g(*this, f.key);
        NamedMap(f.value, [&](std::string_view name, element v) {
          Bridge b;
          if (DecodeBridge(v, &b)) t->bridges.push_back({std::string(name), std::move(b)});
        });
      } else {
        UnknownField(f.key, "topology");
      }
    }
  }

  bool DecodeRegion(element el, Region* r) {
    object obj;
    if (!AsObject(el, &obj)) return false;
    const std::size_t before = diags_.size();
    bool has_cells = false;
    for (auto f : obj) {
      if (f.key == "cells") {
        PathGuard g(*this, f.key);
        has_cells = true;
        NameList(f.value, &r->cells);
      } else {
        UnknownField(f.key, "region");
      }
    }
    if (!has_cells) Missing("cells");
    return diags_.size() == before;
  }

  bool DecodeBridge(element el, Bridge* b) {
    object obj;
    if (!AsObject(el, &obj)) return false;
    const std::size_t before = diags_.size();
    bool has_cells = false, has_quota = false;
    for (auto f : obj) {
      PathGuard g(*this, f.key);
      if (f.key == "cells") {
        has_cells = true;
        NameList(f.value, &b->cells);
      } else if (f.key == "exportServices") {
        NameList(f.value, &b->export_services);
      } else if (f.key == "denyServices") {
        NameList(f.value, &b->deny_services);
      } else if (f.key == "quotaRps") {
        has_quota = true;
        AsInt(f.value, &b->quota_rps);
      } else {
        diags_.push_back({path_, DiagCode::kUnknownField,
                          "unknown field \"" + std::string(f.key) + "\" in bridge"});
      }
    }
    if (!has_cells) Missing("cells");
    if (!has_quota) Missing("quotaRps");
    return diags_.size() == before;
  }

  void DecodeSecurity(element el, Security* s) {
    object obj;
    if (!AsObject(el, &obj)) return;
    for (auto f : obj) {
      if (f.key == "jwksUri") {
        PathGuard g(*this, f.key);
        if (AsString(f.value, &s->jwks_uri) &&
            (s->jwks_uri.rfind("https://", 0) != 0 || s->jwks_uri.size() <= 8 ||
             s->jwks_uri.size() > 2048)) {
          Error(DiagCode::kOutOfRange, "jwksUri must be an https:// URL of at most 2048 bytes");
        }
      } else {
        UnknownField(f.key, "security");
      }
    }
  }

  // ---- document header ----------------------------------------------------

  // Checks apiVersion and kind; returns the metadata and spec elements.
  bool DecodeHeader(element root, std::string_view want_kind, element* metadata, element* spec) {
    object obj;
    if (!AsObject(root, &obj)) return false;
    bool has_api = false, has_kind = false, has_meta = false, has_spec = false;
    for (auto f : obj) {
      PathGuard g(*this, f.key);
      std::string s;
      if (f.key == "apiVersion") {
        has_api = true;
        if (AsString(f.value, &s) && s != kApiVersion) {
          Error(DiagCode::kOutOfRange, "unsupported apiVersion \"" + s + "\" (this build reads " +
                                           std::string(kApiVersion) + ")");
        }
      } else if (f.key == "kind") {
        has_kind = true;
        if (AsString(f.value, &s) && s != want_kind) {
          Error(DiagCode::kOutOfRange,
                "kind \"" + s + "\" where " + std::string(want_kind) + " was expected");
        }
      } else if (f.key == "metadata") {
        has_meta = true;
        *metadata = f.value;
      } else if (f.key == "spec") {
        has_spec = true;
        *spec = f.value;
      } else {
        diags_.push_back({path_, DiagCode::kUnknownField,
                          "unknown field \"" + std::string(f.key) + "\" in document"});
      }
    }
    if (!has_api) Missing("apiVersion");
    if (!has_kind) Missing("kind");
    if (!has_meta) Missing("metadata");
    if (!has_spec) Missing("spec");
    return has_meta && has_spec;
  }

  void DecodeLayerMetadata(element el, LayerMetadata* m) {
    PathGuard g(*this, "metadata");
    object obj;
    if (!AsObject(el, &obj)) return;
    bool has_scope = false;
    for (auto f : obj) {
      PathGuard fg(*this, f.key);
      if (f.key == "scope") {
        has_scope = true;
        if (!AsString(f.value, &m->scope)) continue;
        auto scope = ParseScope(m->scope);
        if (!scope.ok()) Error(DiagCode::kInvalidScope, scope.status().message());
      } else if (f.key == "author") {
        FreeText(f.value, &m->author);
      } else if (f.key == "features") {
        FeatureList(f.value, &m->features);
      } else {
        diags_.push_back({path_, DiagCode::kUnknownField,
                          "unknown field \"" + std::string(f.key) + "\" in metadata"});
      }
    }
    if (!has_scope) Missing("scope");
  }

  void DecodeSnapshotMetadata(element el, SnapshotMetadata* m) {
    PathGuard g(*this, "metadata");
    object obj;
    if (!AsObject(el, &obj)) return;
    bool has_version = false, has_chain = false, has_created = false, has_expires = false;
    for (auto f : obj) {
      PathGuard fg(*this, f.key);
      std::string s;
      if (f.key == "version") {
        has_version = true;
        IntInRange(f.value, 0, INT64_MAX, &m->version);
      } else if (f.key == "scopeChain") {
        has_chain = true;
        DecodeScopeChain(f.value, &m->scope_chain);
      } else if (f.key == "createdAt") {
        has_created = Timestamp(f.value, &m->created_at);
      } else if (f.key == "expiresAt") {
        has_expires = Timestamp(f.value, &m->expires_at);
      } else if (f.key == "author") {
        FreeText(f.value, &m->author);
      } else if (f.key == "requiredFeatures") {
        FeatureList(f.value, &m->required_features);
      } else {
        diags_.push_back({path_, DiagCode::kUnknownField,
                          "unknown field \"" + std::string(f.key) + "\" in metadata"});
      }
    }
    if (!has_version) Missing("version");
    if (!has_chain) Missing("scopeChain");
    if (!obj_has(obj, "createdAt")) Missing("createdAt");
    if (!obj_has(obj, "expiresAt")) Missing("expiresAt");
    if (has_created && has_expires && m->expires_at < m->created_at) {
      PathGuard eg(*this, "expiresAt");
      Error(DiagCode::kOutOfRange, "expiresAt is before createdAt");
    }
  }

  void DecodeScopeChain(element el, std::vector<std::string>* out) {
    if (el.type() != element_type::ARRAY) {
      TypeMismatch(el, "array");
      return;
    }
    std::vector<Scope> chain;
    std::size_t i = 0;
    bool all_ok = true;
    for (element item : internal::ArrayOf(el)) {
      PathGuard g(*this, i++);
      std::string s;
      if (!AsString(item, &s)) {
        all_ok = false;
        continue;
      }
      auto scope = ParseScope(s);
      if (!scope.ok()) {
        Error(DiagCode::kInvalidScope, scope.status().message());
        all_ok = false;
        continue;
      }
      chain.push_back(std::move(scope).value());
      out->push_back(std::move(s));
    }
    if (all_ok) {
      if (Status st = CheckScopeChain(chain); !st.ok()) {
        Error(DiagCode::kInvalidScope, st.message());
      }
    }
  }

  // True when `el` held a valid timestamp (stored in *out).
  bool Timestamp(element el, std::int64_t* out) {
    std::string s;
    if (!AsString(el, &s)) return false;
    auto t = ParseRfc3339(s);
    if (!t.ok()) {
      Error(DiagCode::kOutOfRange, t.status().message());
      return false;
    }
    *out = *t;
    return true;
  }

  static bool obj_has(object obj, std::string_view key) {
    simdjson::dom::element unused;
    return !obj.at_key(key).get(unused);
  }

  bool FeatureEnabled(std::string_view feature) const {
    return std::find(features_.begin(), features_.end(), feature) != features_.end();
  }
  void SetFeatures(const std::vector<std::string>& features) { features_ = features; }

 private:
  std::vector<Diagnostic> diags_;
  std::string path_;
  std::vector<std::string> features_;
};

internal::JsonLimits Limits(const DecodeOptions& o) {
  return {o.max_bytes, o.max_depth};
}

Status Invalid(std::vector<Diagnostic> diags) {
  std::string msg = diags.size() == 1
                        ? "document is invalid: 1 problem"
                        : "document is invalid: " + std::to_string(diags.size()) + " problems";
  return Status(StatusCode::kInvalid, std::move(msg), std::move(diags));
}

// Documents up to this size reuse one parser per thread (its buffers stay
// warm between decodes); larger ones get a parser of their own, so no thread
// keeps a buffer sized for the largest document it ever saw.
constexpr std::size_t kReusableParserBytes = 4u << 20;

simdjson::dom::parser& ParserFor(std::string_view json, simdjson::dom::parser& own) {
  if (json.size() > kReusableParserBytes) return own;
  thread_local simdjson::dom::parser parser;
  return parser;
}

}  // namespace

bool IsKnownFeature(std::string_view feature) {
  return feature == kFeatureShadowing;
}

Result<std::string> PeekKind(std::string_view json, const DecodeOptions& options) {
  element root;
  simdjson::dom::parser own;
  if (auto err = internal::ParseStrict(json, Limits(options), ParserFor(json, own), &root)) {
    return Invalid({*err});
  }
  if (root.type() != element_type::OBJECT) {
    return Invalid({{"", DiagCode::kTypeMismatch,
                     "expected object, got " + std::string(internal::JsonTypeName(root.type()))}});
  }
  element kind;
  if (internal::ObjectOf(root).at_key("kind").get(kind)) {
    return Invalid({{"/kind", DiagCode::kMissingField, "required field \"kind\" is missing"}});
  }
  if (kind.type() != element_type::STRING) {
    return Invalid({{"/kind", DiagCode::kTypeMismatch, "expected string"}});
  }
  return std::string(kind.get_string().value_unsafe());
}

Result<ParsedLayer> ParseLayer(std::string_view json, const DecodeOptions& options) {
  element root;
  simdjson::dom::parser own;
  if (auto err = internal::ParseStrict(json, Limits(options), ParserFor(json, own), &root)) {
    return Invalid({*err});
  }
  Decoder d("", {});
  element metadata, spec;
  ParsedLayer layer;
  if (d.DecodeHeader(root, kKindLayer, &metadata, &spec)) {
    d.DecodeLayerMetadata(metadata, &layer.metadata);
    if (spec.type() != element_type::OBJECT) {
      Decoder::PathGuard g(d, "spec");
      d.TypeMismatch(spec, "object");
    }
  }
  if (d.failed()) return Invalid(d.TakeDiagnostics());
  layer.spec_json = internal::ToNlohmann(spec).dump();
  return layer;
}

Result<Snapshot> DecodeSnapshot(std::string_view json, const DecodeOptions& options) {
  element root;
  simdjson::dom::parser own;
  if (auto err = internal::ParseStrict(json, Limits(options), ParserFor(json, own), &root)) {
    return Invalid({*err});
  }
  Decoder d("", {});
  element metadata, spec_el;
  Snapshot snap;
  if (d.DecodeHeader(root, kKindSnapshot, &metadata, &spec_el)) {
    d.DecodeSnapshotMetadata(metadata, &snap.metadata);
    d.SetFeatures(snap.metadata.required_features);
    Decoder::PathGuard g(d, "spec");
    d.DecodeSpecObject(spec_el, &snap.spec);
  }
  if (d.failed()) return Invalid(d.TakeDiagnostics());
  return snap;
}

Result<Spec> DecodeSpec(std::string_view spec_json, const std::vector<std::string>& features,
                        const DecodeOptions& options, std::string_view pointer_prefix) {
  element root;
  simdjson::dom::parser own;
  if (auto err =
          internal::ParseStrict(spec_json, Limits(options), ParserFor(spec_json, own), &root)) {
    err->path = std::string(pointer_prefix) + err->path;
    return Invalid({*err});
  }
  Decoder d(std::string(pointer_prefix), features);
  Spec spec;
  d.DecodeSpecObject(root, &spec);
  if (d.failed()) return Invalid(d.TakeDiagnostics());
  return spec;
}

}  // namespace omnirelay
