#include "omnirelay/config/decode.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "decode_artefacts.h"
#include "decode_primitives.h"
#include "decode_spec.h"
#include "json_convert.h"
#include "json_strict.h"
#include "omnirelay/config/capability.h"
#include "omnirelay/config/rollout_policy.h"
#include "omnirelay/config/scope.h"

namespace omnirelay {
namespace {

using internal::DecodeObject;
using internal::Decoder;
using internal::FieldRule;
using simdjson::dom::element;
using simdjson::dom::element_type;

// ---- the document header: apiVersion, kind, metadata, spec

struct Header {
  std::string_view want_kind;
  element metadata{}, spec{}, rollout{};
  bool has_metadata = false, has_spec = false, has_rollout = false;
};

constexpr FieldRule<Header> kHeaderRules[] = {
    {"apiVersion",
     [](Decoder& d, element v, Header&) {
       std::string s;
       if (d.AsString(v, &s) && s != kApiVersion) {
         d.Error(DiagCode::kOutOfRange, "unsupported apiVersion \"" + s + "\" (this build reads " +
                                            std::string(kApiVersion) + ")");
       }
     },
     true},
    {"kind",
     [](Decoder& d, element v, Header& h) {
       std::string s;
       if (d.AsString(v, &s) && s != h.want_kind) {
         d.Error(DiagCode::kOutOfRange,
                 "kind \"" + s + "\" where " + std::string(h.want_kind) + " was expected");
       }
     },
     true},
    {"metadata",
     [](Decoder&, element v, Header& h) {
       h.metadata = v;
       h.has_metadata = true;
     },
     true},
    {"spec",
     [](Decoder&, element v, Header& h) {
       h.spec = v;
       h.has_spec = true;
     },
     true},
    // A layer's default rollout policy (rollout_policy.h); layers only.
    {"rollout",
     [](Decoder&, element v, Header& h) {
       h.rollout = v;
       h.has_rollout = true;
     },
     false},
};

// Checks apiVersion and kind; true when metadata and spec are present.
bool DecodeHeader(Decoder& d, element root, Header& header) {
  DecodeObject<Header>(d, root, "document", kHeaderRules, header);
  return header.has_metadata && header.has_spec;
}

// ---- layer metadata

constexpr FieldRule<LayerMetadata> kLayerMetadataRules[] = {
    {"scope",
     [](Decoder& d, element v, LayerMetadata& m) {
       if (!d.AsString(v, &m.scope)) return;
       auto scope = ParseScope(m.scope);
       if (!scope.ok()) d.Error(DiagCode::kInvalidScope, scope.status().message());
     },
     true},
    {"author", [](Decoder& d, element v, LayerMetadata& m) { d.FreeText(v, &m.author); }},
    {"features", [](Decoder& d, element v, LayerMetadata& m) { d.FeatureList(v, &m.features); }},
};

// ---- snapshot metadata

void DecodeScopeChain(Decoder& d, element el, std::vector<std::string>* out) {
  std::vector<Scope> chain;
  bool all_ok = true;
  const bool is_array = d.Items(el, [&](element item) {
    std::string s;
    if (!d.AsString(item, &s)) {
      all_ok = false;
      return;
    }
    auto scope = ParseScope(s);
    if (!scope.ok()) {
      d.Error(DiagCode::kInvalidScope, scope.status().message());
      all_ok = false;
      return;
    }
    chain.push_back(std::move(scope).value());
    out->push_back(std::move(s));
  });
  if (is_array && all_ok) {
    if (Status st = CheckScopeChain(chain); !st.ok()) {
      d.Error(DiagCode::kInvalidScope, st.message());
    }
  }
}

constexpr FieldRule<SnapshotRollout> kSnapshotRolloutRules[] = {
    {"id",
     [](Decoder& d, element v, SnapshotRollout& r) {
       if (d.FreeText(v, &r.id) && r.id.empty())
         d.Error(DiagCode::kOutOfRange, "must not be empty");
     },
     true},
    {"wave",
     [](Decoder& d, element v, SnapshotRollout& r) { d.IntInRange(v, 1, INT32_MAX, &r.wave); },
     true},
};

// The metadata being read, and whether its two timestamps were valid (for
// the check between them).
struct SnapshotMetadataRead {
  SnapshotMetadata& m;
  bool created_ok = false, expires_ok = false;
};

constexpr FieldRule<SnapshotMetadataRead> kSnapshotMetadataRules[] = {
    {"version",
     [](Decoder& d, element v, SnapshotMetadataRead& r) {
       d.IntInRange(v, 0, INT64_MAX, &r.m.version);
     },
     true},
    {"scopeChain",
     [](Decoder& d, element v, SnapshotMetadataRead& r) {
       DecodeScopeChain(d, v, &r.m.scope_chain);
     },
     true},
    {"createdAt",
     [](Decoder& d, element v, SnapshotMetadataRead& r) {
       r.created_ok = d.Timestamp(v, &r.m.created_at);
     },
     true},
    {"expiresAt",
     [](Decoder& d, element v, SnapshotMetadataRead& r) {
       r.expires_ok = d.Timestamp(v, &r.m.expires_at);
     },
     true},
    {"author", [](Decoder& d, element v, SnapshotMetadataRead& r) { d.FreeText(v, &r.m.author); }},
    {"requiredFeatures", [](Decoder& d, element v,
                            SnapshotMetadataRead& r) { d.FeatureList(v, &r.m.required_features); }},
    // Which rollout wave assigned the snapshot: only for a reader with the
    // feature (a node that advertised it is the only one sent it).
    {"rollout",
     [](Decoder& d, element v, SnapshotMetadataRead& r) {
       SnapshotRollout rollout;
       if (DecodeObject<SnapshotRollout>(d, v, "metadata.rollout", kSnapshotRolloutRules,
                                         rollout)) {
         r.m.rollout = std::move(rollout);
       }
     },
     false,
     {},
     kFeatureRolloutInfo},
};

void DecodeSnapshotMetadata(Decoder& d, element el, SnapshotMetadata& m) {
  Decoder::PathGuard g(d, "metadata");
  SnapshotMetadataRead read{m};
  DecodeObject<SnapshotMetadataRead>(d, el, "metadata", kSnapshotMetadataRules, read);
  if (read.created_ok && read.expires_ok && m.expires_at < m.created_at) {
    Decoder::PathGuard eg(d, "expiresAt");
    d.Error(DiagCode::kOutOfRange, "expiresAt is before createdAt");
  }
}

// ---- entry points

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
  return feature == kFeatureShadowing || feature == kFeatureArtefacts;
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
  // Private keys are refused wherever they sit, before any merge (a layer is
  // a patch, schema-checked only once merged) and whatever else is wrong.
  internal::FindPrivateKeyMaterial(d, root);
  Header header{kKindLayer};
  ParsedLayer layer;
  if (DecodeHeader(d, root, header)) {
    {
      Decoder::PathGuard g(d, "metadata");
      DecodeObject<LayerMetadata>(d, header.metadata, "metadata", kLayerMetadataRules,
                                  layer.metadata);
    }
    if (header.spec.type() != element_type::OBJECT) {
      Decoder::PathGuard g(d, "spec");
      d.TypeMismatch(header.spec, "object");
    }
  }
  std::vector<Diagnostic> diagnostics = d.TakeDiagnostics();
  if (header.has_rollout) {
    const std::string block = internal::ToNlohmann(header.rollout).dump();
    auto policy = ParseRolloutPolicy(block, "/rollout");
    if (policy.ok()) {
      layer.rollout_json = RolloutPolicyToJson(*policy);
    } else {
      for (const Diagnostic& diag : policy.status().diagnostics()) diagnostics.push_back(diag);
    }
  }
  if (!diagnostics.empty()) return Invalid(std::move(diagnostics));
  auto tree = std::make_shared<const nlohmann::json>(internal::ToNlohmann(header.spec));
  layer.spec_json = tree->dump();
  layer.spec_tree = std::move(tree);
  return layer;
}

Result<Snapshot> DecodeSnapshot(std::string_view json, const DecodeOptions& options) {
  element root;
  simdjson::dom::parser own;
  if (auto err = internal::ParseStrict(json, Limits(options), ParserFor(json, own), &root)) {
    return Invalid({*err});
  }
  Decoder d("", {});
  d.SetReaderFeatures(options.reader_features ? *options.reader_features
                                              : LocalCapabilities().features);
  Header header{kKindSnapshot};
  Snapshot snap;
  if (DecodeHeader(d, root, header)) {
    if (header.has_rollout) {
      Decoder::PathGuard g(d, "rollout");
      d.Error(DiagCode::kUnknownField, "a snapshot has no rollout block (layers carry it)");
    }
    DecodeSnapshotMetadata(d, header.metadata, snap.metadata);
    d.SetFeatures(snap.metadata.required_features);
    Decoder::PathGuard g(d, "spec");
    internal::DecodeSpecObject(d, header.spec, snap.spec);
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
  internal::DecodeSpecObject(d, root, spec);
  if (d.failed()) return Invalid(d.TakeDiagnostics());
  return spec;
}

}  // namespace omnirelay
