// The gRPC face of the control plane (proto/omnirelay/controlplane/v1/):
// the operator services, mapped one to one onto ControlPlaneService, and the
// node feed — one long-lived bidi stream per node, served with gRPC's callback
// API (no thread per stream): hello → notify {version, hash[, envelope]} →
// ACK/NACK + status; fetch by hash.
//
// Thread safety: port() from any thread; Shutdown() once, from any thread.
#pragma once

#include <memory>
#include <string>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"
#include "omnirelay/controlplane/tls.h"

namespace omnirelay::cp {

struct GrpcFaceOptions {
  std::string listen = "127.0.0.1:7443";  // port 0 picks a free port (tests)
  // The REST address announced to nodes on the stream for the ETag pull fallback.
  std::string announce_http;
  // Envelopes up to this size ride inside the notify (no second round trip).
  std::size_t inline_envelope_bytes = 64 << 10;
  // Threads for hellos, fetches and spreading a notify fan-out; 0 = one per
  // core, at least 2.
  std::size_t feed_threads = 0;
  // Certificates and keys (see tls.h); empty = plaintext.
  TlsMaterial tls;
};

class GrpcFace {
 public:
  virtual ~GrpcFace() = default;
  virtual int port() const = 0;
  virtual std::size_t connected_nodes() const = 0;
  // Closes every node stream, stops accepting, waits for handlers to finish.
  virtual void Shutdown() = 0;
  // Writes the node status records still coalescing in memory (ACKs, NACKs,
  // status reports are persisted ~250 ms after they change) to the store now (tests).
  virtual void FlushNodeStatusForTest() = 0;
};

// Binds, starts serving, and subscribes to `bus` so each commit notifies
// exactly the node streams whose snapshot changed. Fails (kUnavailable) when
// the address cannot be bound.
Result<std::unique_ptr<GrpcFace>> StartGrpcFace(const GrpcFaceOptions& options,
                                                ControlPlaneService& service, Store& store,
                                                Bus& bus, MetricsRegistry& metrics,
                                                const Clock& clock);

}  // namespace omnirelay::cp
