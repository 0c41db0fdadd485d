// The key-list decoding trusted-keys.json and key-set documents share
// (private to omni_config: it exposes simdjson).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "json_strict.h"
#include "omnirelay/config/signing.h"

namespace omnirelay::internal {

struct KeyListAccess {
  static std::vector<TrustedKey>& Keys(TrustedKeySet& set) { return set.keys_; }
};

// Appends the entries of a JSON array of keys ({"keyId", "algorithm",
// "publicKey", "revoked"?}) to `out`, refusing with kInvalid (a diagnostic
// at `at`/<index>/<field>) what TrustedKeySet::FromJson refuses: unknown or
// missing fields, another algorithm, a key not 32 bytes, a keyId not
// derived from its key, a key listed twice.
// `document` names the document in the summary ("key set", "trusted key set").
Status DecodeTrustedKeyList(simdjson::dom::array list, const std::string& at,
                            std::string_view document, TrustedKeySet* out);

// kInvalid: "<document> is invalid: <message> (at <path>)", one diagnostic.
Status KeyDocumentInvalid(std::string_view document, std::string path, DiagCode code,
                          std::string message);

}  // namespace omnirelay::internal
