// One cell, one identity (DESIGN.md §4; issue 12 item 4): every replica of a
// cell signs with the same key, so a node that fails over from one replica
// to another never meets a key it does not trust (unknown_key). The key is
// provisioned to each replica as a file (never kept in the store); the
// store records which key the cell signs with — the first replica's, at its
// first start — and a replica that starts with another key is refused.
//
// Thread safety: stateless functions; the store is thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "omnirelay/config/signing.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

// The store setting that names the cell's key: {"keyId": "<key id>"}.
inline constexpr char kCellKeySettingKey[] = "cell.signing-key";

// Records `key` as the cell's signing key when the store records none yet,
// or checks that it is the one recorded. A replica whose key differs gets
// kConflict naming both key ids, `key_file` and how to provision the
// cell's key. Atomic across replicas starting together
// (Store::PutSettingIfAbsent): one key wins, the others are refused.
Status ClaimCellKey(Store& store, const SigningKey& key, std::string_view key_file,
                    std::int64_t now_ms);

}  // namespace omnirelay::cp
