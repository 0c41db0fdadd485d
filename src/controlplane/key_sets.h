// The cell's key sets in the store (docs/knowledge-base/signing.md, "Key
// rotation"): each accepted version kept as its envelope, byte for byte, under
// the setting "keyset.v<version>", versions 1, 2, ... without gaps. The chain
// is what the daemon serves to nodes (GET /v1/keysets?after=N) so a node that
// missed rotations walks it step by step; the newest set says which online
// keys may sign snapshots.
//
// Thread safety: stateless functions; the store is thread-safe. Two replicas
// storing the same version race through PutSettingIfAbsent: one wins, the
// other gets kConflict.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/key_set.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

// "keyset.v<version>".
std::string KeySetSettingKey(std::int64_t version);

// The newest stored key set, nullopt when the cell has none yet (plain
// trusted-keys.json mode). `hint`: a version known to exist, to start the
// walk from (0: from the start).
Result<std::optional<SignedKeySet>> LatestKeySet(Store& store, std::int64_t hint = 0);

// The stored envelopes after `after_version`, oldest first.
Result<std::vector<std::string>> KeySetsAfter(Store& store, std::int64_t after_version);

// Checks `envelope` as the cell's next key set (the first one: against its
// own roots; later ones: VerifyNextKeySet from the newest stored) and that
// `signing_key_id` — the key this replica signs with — stays an online key
// it does not revoke (kFailedPrecondition-like kConflict otherwise: nodes
// would refuse every snapshot), then stores it with `audit`.
Result<SignedKeySet> PublishKeySet(Store& store, std::string_view envelope,
                                   std::string_view signing_key_id, std::int64_t now_ms,
                                   AuditEntry audit);

// At start: when the store holds key sets, `key` must be an online key of
// the newest that is not revoked (kConflict naming the set and what to do).
// Returns whether the cell has key sets (then they, not the recorded cell
// key, say which keys may sign).
Result<bool> CheckKeyAgainstKeySets(Store& store, const SigningKey& key, std::string_view key_file);

}  // namespace omnirelay::cp
