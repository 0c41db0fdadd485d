// KeySetTrust: a node's place in the key-set chain (omnirelay/config/key_set.h,
// docs/knowledge-base/signing.md "Key rotation"). It starts from the set the
// node was given by configuration, walks the chain the control plane serves
// one version at a time (VerifyNextKeySet), and keeps what it accepted next
// to the last-known-good snapshot:
//
//   <lkg path>.keysets  {"envelopes": ["<v+1 envelope>", "<v+2 envelope>", ...]}
//
// every envelope accepted after the configured set, in order. At start the
// file is walked again from the configured set, so a node restarted after a
// rotation trusts the newest set it reached (and refuses what that set
// revoked), never just the configured one; a file that does not chain from
// the configured set is ignored (error() says why) and the chain is fetched
// again.
//
// Thread safety: none; ConfigHost holds it under its apply lock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "omnirelay/config/file_system.h"
#include "omnirelay/config/key_set.h"
#include "omnirelay/config/status.h"

namespace omnirelay::relay::internal {

class KeySetTrust {
 public:
  // `persist_path` "" = keep nothing on disk. `fs` must outlive this.
  KeySetTrust(SignedKeySet configured, std::string persist_path, FileSystem& fs);

  // Reads and walks the persisted chain (see the top). OK when there is
  // none; the refusal when there is one that does not verify (then the
  // configured set stays the trusted one).
  Status LoadPersisted();
  // Walks `envelopes` (the control plane's answer to "after version()"):
  // each one must be the next version. Entries not newer than version() are
  // skipped. Accepts as many as verify, persists them, and returns whether
  // the trusted set changed; the first refusal is returned after the ones
  // before it were kept.
  Result<bool> Advance(const std::vector<std::string>& envelopes);

  std::int64_t version() const { return trusted_.set.version; }
  const TrustedKeySet& online_keys() const { return trusted_.set.online_keys; }
  const Status& error() const { return error_; }

 private:
  // Accepts each of `envelopes` that is the next version from the trusted
  // set (not newer: skipped); stops at the first refusal.
  Status Walk(const std::vector<std::string>& envelopes);
  Status Persist();

  SignedKeySet configured_;
  SignedKeySet trusted_;
  std::vector<std::string> accepted_;  // envelopes after configured_, oldest first
  std::string persist_path_;
  FileSystem& fs_;
  Status error_;  // the last refusal (load or advance); OK when none
};

}  // namespace omnirelay::relay::internal
