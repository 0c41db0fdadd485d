#include "omnirelay/config/decode.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "decode_primitives.h"
#include "decode_spec.h"
#include "json_convert.h"
#include "json_strict.h"
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
  element metadata{}, spec{};
  bool has_metadata = false, has_spec = false;
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
  if (el.type() != element_type::ARRAY) {
    d.TypeMismatch(el, "array");
    return;
  }
  std::vector<Scope> chain;
  std::size_t i = 0;
  bool all_ok = true;
  for (element item : internal::ArrayOf(el)) {
    Decoder::PathGuard g(d, i++);
    std::string s;
    if (!d.AsString(item, &s)) {
      all_ok = false;
      continue;
    }
    auto scope = ParseScope(s);
    if (!scope.ok()) {
      d.Error(DiagCode::kInvalidScope, scope.status().message());
      all_ok = false;
      continue;
    }
    chain.push_back(std::move(scope).value());
    out->push_back(std::move(s));
  }
  if (all_ok) {
    if (Status st = CheckScopeChain(chain); !st.ok()) {
      d.Error(DiagCode::kInvalidScope, st.message());
    }
  }
}

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
  if (d.failed()) return Invalid(d.TakeDiagnostics());
  layer.spec_json = internal::ToNlohmann(header.spec).dump();
  return layer;
}

Result<Snapshot> DecodeSnapshot(std::string_view json, const DecodeOptions& options) {
  element root;
  simdjson::dom::parser own;
  if (auto err = internal::ParseStrict(json, Limits(options), ParserFor(json, own), &root)) {
    return Invalid({*err});
  }
  Decoder d("", {});
  Header header{kKindSnapshot};
  Snapshot snap;
  if (DecodeHeader(d, root, header)) {
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

Result<std::int64_t> ParseRfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z (UTC only: snapshots are machine-written).
  // Second 60 is refused: unix time, which the model stores, has no leap seconds.
  auto digits = [&](std::size_t pos, std::size_t n, int* out) {
    if (pos + n > text.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  int year, month, day, hour, minute, second;
  const bool shape = text.size() >= 20 && digits(0, 4, &year) && text[4] == '-' &&
                     digits(5, 2, &month) && text[7] == '-' && digits(8, 2, &day) &&
                     (text[10] == 'T' || text[10] == 't') && digits(11, 2, &hour) &&
                     text[13] == ':' && digits(14, 2, &minute) && text[16] == ':' &&
                     digits(17, 2, &second);
  std::size_t pos = 19;
  if (shape && pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) pos = text.size() + 1;  // "." with no digits
  }
  if (!shape || pos + 1 != text.size() || (text[pos] != 'Z' && text[pos] != 'z') || month < 1 ||
      month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return Status(
        StatusCode::kInvalidArgument,
        "\"" + std::string(text) + "\" is not an RFC 3339 UTC time like 2026-01-31T12:00:00Z");
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::int64_t t = timegm(&tm);
  if (tm.tm_mday != day) {  // timegm normalised an impossible date such as Feb 30
    return Status(StatusCode::kInvalidArgument, "\"" + std::string(text) + "\" is not a real date");
  }
  return t;
}

std::string FormatRfc3339(std::int64_t unix_seconds) {
  // RFC 3339 has four-digit years: clamp to 0000-01-01 .. 9999-12-31T23:59:59.
  constexpr std::int64_t kMin = -62167219200, kMax = 253402300799;
  const std::time_t t = static_cast<std::time_t>(std::clamp(unix_seconds, kMin, kMax));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace omnirelay
