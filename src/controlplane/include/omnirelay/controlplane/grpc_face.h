// The gRPC face of the control plane (proto/omnirelay/controlplane/v1/):
// the operator services, mapped one to one onto ControlPlaneService, and the
// transport of the node feed (NodeFeed, node_feed.h) — one long-lived bidi
// stream per node, served with gRPC's callback API (no thread per stream):
// hello → notify {version, hash[, envelope]} → ACK/NACK + status; fetch by
// hash. The face only translates; the feed decides.
//
// Thread safety: port() from any thread; Shutdown() once, from any thread.
#pragma once

#include <memory>
#include <string>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/node_feed.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"
#include "omnirelay/controlplane/tls.h"

namespace omnirelay::cp {

struct GrpcFaceOptions {
  std::string listen = "127.0.0.1:7443";  // port 0 picks a free port (tests)
  // Envelopes up to this size ride inside the notify (no second round trip).
  std::size_t inline_envelope_bytes = 64 << 10;
  // Certificates and keys in force (see tls.h), read at every handshake;
  // null = plaintext.
  std::shared_ptr<TlsState> tls;
};

class GrpcFace {
 public:
  virtual ~GrpcFace() = default;
  virtual int port() const = 0;
  // Closes every node stream (NodeFeed::CloseAll), stops accepting, waits
  // for handlers to finish.
  virtual void Shutdown() = 0;
};

// Binds and starts serving node streams to `feed` and operator calls to
// `service`. Fails (kUnavailable) when the address cannot be bound.
Result<std::unique_ptr<GrpcFace>> StartGrpcFace(const GrpcFaceOptions& options,
                                                ControlPlaneService& service,
                                                const Authenticator& auth, NodeFeed& feed,
                                                Store& store, MetricsRegistry& metrics);

}  // namespace omnirelay::cp
