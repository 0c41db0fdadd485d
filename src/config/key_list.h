// The key-list decoding trusted-keys.json and key-set documents share
// (private to omni_config: it exposes simdjson).
#pragma once

#include <string>
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
Status DecodeTrustedKeyList(simdjson::dom::array list, const std::string& at, TrustedKeySet* out);

}  // namespace omnirelay::internal
