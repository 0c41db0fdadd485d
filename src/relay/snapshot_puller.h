// SnapshotPuller: the ETag pull fallback, GET /v1/nodes/{id}/snapshot?chain=...
// with If-None-Match, rotating through the control plane's HTTP endpoints on
// failure. cpp-httplib stays in snapshot_puller.cc.
//
// Thread safety: one thread at a time (the watcher's worker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "client_tls.h"
#include "omnirelay/config/status.h"
#include "omnirelay/relay/watcher.h"

namespace omnirelay::relay::internal {

struct PullReply {
  enum class Kind { kNotModified, kSnapshot };
  Kind kind = Kind::kNotModified;
  std::string hash;      // the ETag, unquoted ("sha256:<hex>")
  std::string envelope;  // kSnapshot: the signed envelope
  std::string endpoint;  // the endpoint that answered
};

// What a non-200 answer to a pull means: the control plane's own refusal
// (a 4xx whose JSON body names a code) and 400/401/403/404 are about this
// node and final; anything else (408, 429, 5xx, a proxy's page) is the
// endpoint's trouble, kUnavailable, and the next endpoint is tried.
StatusCode RefusalCode(int http_status, const std::string& body);

inline constexpr std::int64_t kDefaultMaxSnapshotBytes = 64 << 20;
// The same bound as a persisted chain (key_set_trust.cc).
inline constexpr std::size_t kMaxKeySetListBytes = 8u << 20;

class SnapshotPuller {
 public:
  // With `tls` the pull is https, verified against its CA only (not the
  // system's), presenting its client certificate for mTLS; the endpoint's
  // host is what is verified, and with server SPIFFE IDs the certificate
  // must carry one, or the request is not sent. Null: plain http.
  // An answer's body is capped: a snapshot at `max_snapshot_bytes` (the
  // watcher passes its node channel's receive limit; 0 or less, as gRPC's
  // -1: no cap), a key-set list at kMaxKeySetListBytes; a larger one counts
  // as no answer (kUnavailable).
  SnapshotPuller(std::string node_id, std::string scope_chain_csv, std::string token,
                 std::int64_t timeout_ms, std::shared_ptr<ClientTls> tls = nullptr,
                 std::int64_t max_snapshot_bytes = kDefaultMaxSnapshotBytes);

  // Configured endpoints first, announced ones appended (deduplicated).
  void AddEndpoints(const std::vector<std::string>& endpoints);
  bool has_endpoints() const { return !endpoints_.empty(); }

  // Tries each endpoint once, starting with the one that answered last.
  // kUnavailable when none answered; the control plane's refusal (e.g.
  // kPermissionDenied, kNotFound) when one answered with an error.
  Result<PullReply> Pull(const std::string& current_hash);
  // Key rotation: GET /v1/keysets?after=N, the envelopes oldest first (the
  // host verifies them; nothing here is trusted). Same endpoints and failover.
  Result<std::vector<std::string>> FetchKeySets(std::int64_t after_version);

 private:
  Result<PullReply> PullFrom(const std::string& endpoint, const std::string& current_hash);

  std::string node_id_;
  std::string chain_;
  std::string token_;
  std::int64_t timeout_ms_;
  std::shared_ptr<ClientTls> tls_;
  std::size_t max_snapshot_bytes_;
  std::vector<std::string> endpoints_;
  std::size_t next_ = 0;
};

}  // namespace omnirelay::relay::internal
