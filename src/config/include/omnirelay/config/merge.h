// RFC 7386 JSON merge patch over JSON text, and the merge of a scope chain's
// layer specs (DESIGN.md §3.1): least specific first, `null` deletes.
//
// Inputs go through the strict parser (decode.h rules); outputs are canonical
// JSON: object keys sorted, no insignificant whitespace. Canonical output is
// what makes identical content render to identical bytes (and hashes).
//
// Thread safety: reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/status.h"

namespace omnirelay {

// Applies `patch` to `target` (RFC 7386) and returns the canonical result.
Result<std::string> MergePatch(std::string_view target_json, std::string_view patch_json,
                               const DecodeOptions& options = {});

// Merges layer specs in order onto {}: MergeSpecs({g, r}) = patch(patch({}, g), r).
// The result never contains null members.
Result<std::string> MergeSpecs(const std::vector<std::string>& spec_jsons,
                               const DecodeOptions& options = {});

// MergeSpecs over layers: each layer's spec_tree when it has one (no parse),
// else its spec_json. A tree is not checked against `options`' limits again:
// ParseLayer made it under its own (by default the same).
Result<std::string> MergeLayerSpecs(const std::vector<ParsedLayer>& layers,
                                    const DecodeOptions& options = {});

// The canonical form of a JSON text.
Result<std::string> CanonicalJson(std::string_view json, const DecodeOptions& options = {});

}  // namespace omnirelay
