// Strict decoding of config documents (DESIGN.md §3.1, §3.2).
//
// Every function here rejects, with a Status of code kInvalid whose
// diagnostics carry JSON Pointers and stable codes: text that is not JSON,
// invalid UTF-8, duplicate object keys, nesting deeper than max_depth,
// documents over max_bytes (all parse_error), and any schema problem
// (unknown_field, type_mismatch, missing_field, invalid_name, out_of_range,
// unknown_feature, invalid_scope). Decoding never crashes on any input and
// never recurses deeper than max_depth.
//
// Graph rules (dangling references, cycles, weights...) are validate.h's job.
//
// Thread safety: all functions are reentrant.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/model.h"
#include "omnirelay/config/rfc3339.h"  // snapshot times; kept here for decode.h users
#include "omnirelay/config/status.h"

namespace omnirelay {

inline constexpr std::size_t kDefaultMaxDocumentBytes = 8u << 20;  // 8 MiB
inline constexpr std::size_t kDefaultMaxDepth = 64;

struct DecodeOptions {
  std::size_t max_bytes = kDefaultMaxDocumentBytes;
  std::size_t max_depth = kDefaultMaxDepth;
  // The features of the node reading a snapshot (NodeCapabilities::features).
  // A snapshot field defined by a node feature (metadata.rollout:
  // kFeatureRolloutInfo) is refused as unknown_field, with the message an
  // older build gives, when the reader lacks the feature. nullopt: this
  // build's own features (LocalCapabilities()), which read every field.
  std::optional<std::vector<std::string>> reader_features;
};

// The "kind" a document declares, read without checking the rest.
// kInvalid (parse_error / missing_field / type_mismatch) when it has none.
Result<std::string> PeekKind(std::string_view json, const DecodeOptions& options = {});

// A layer as stored and merged: its checked metadata and its spec kept as
// canonical JSON text, because a layer's spec is an RFC 7386 merge patch
// (null deletes) and is only schema-checked once merged (document_set.h).
struct ParsedLayer {
  LayerMetadata metadata;
  std::string spec_json;  // canonical: sorted keys, no insignificant whitespace
  // `spec_json` parsed, when whoever made it kept the tree (ParseLayer
  // does), so that a merge or a reader need not parse the text again;
  // null otherwise. Whoever changes spec_json sets or resets it.
  std::shared_ptr<const nlohmann::json> spec_tree;
  // The layer's `rollout` block (its default rollout policy, every field
  // written: RolloutPolicyToJson); "" when it has none.
  std::string rollout_json;
};

// Checks apiVersion, kind == ConfigLayer, metadata (scope, author, features),
// that spec is an object, and the optional `rollout` block (rollout_policy.h;
// its problems point under /rollout).
Result<ParsedLayer> ParseLayer(std::string_view json, const DecodeOptions& options = {});

// Decodes and schema-checks a whole Snapshot document (no graph validation).
Result<Snapshot> DecodeSnapshot(std::string_view json, const DecodeOptions& options = {});

// Decodes and schema-checks a bare spec object. Diagnostics are reported under
// `pointer_prefix` (e.g. "/spec"); `features` are the enabled feature gates.
Result<Spec> DecodeSpec(std::string_view spec_json, const std::vector<std::string>& features,
                        const DecodeOptions& options = {},
                        std::string_view pointer_prefix = "/spec");

// True when `feature` is one this build knows (model.h lists them).
bool IsKnownFeature(std::string_view feature);

}  // namespace omnirelay
