// The REST/JSON face of the control plane (DESIGN.md §4 REST routes), served
// by omni_http (event-driven; see omnirelay/http/server.h for the timeouts and
// limits), plus /healthz, /readyz and /metrics. Every /v1 route needs a
// bearer token; errors are 4xx/5xx with {"code","message","details"}, the
// server's own refusals (404, 413, 431, 503) included.
//
// With client SPIFFE patterns (tls.h), a connection whose client
// certificate matches none is answered 403 `permission_denied` with the
// `peer_not_allowed: ...` reason right after the handshake, then closed;
// logged and counted (omnirelay_cp_peer_refusals_total{face="rest"}).
//
// Thread safety: port() and UseTls() from any thread; Shutdown() once,
// from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/tls.h"
#include "omnirelay/http/server.h"

namespace omnirelay::cp {

struct RestFaceOptions {
  std::string listen = "127.0.0.1:7080";  // port 0 picks a free port (tests)
  http::Limits limits;                    // timeouts, connection/header/body limits
  int io_threads = 1;                     // connections are spread over these loops
  int worker_threads = 8;                 // handlers (store calls) at once, up to 2x this
  int max_follow_seconds = 3600;          // audit ?follow=true streams at most this long
  TlsMaterial tls;                        // loaded certificates (see tls.h); none = plaintext
};

class RestFace {
 public:
  virtual ~RestFace() = default;
  virtual int port() const = 0;
  // New TLS material (same files, new content) for connections accepted
  // afterwards. On an error the current certificate stays in use.
  virtual Status UseTls(const TlsMaterial& tls) = 0;
  virtual void Shutdown() = 0;
};

// `ready` backs /readyz: OK when ready (store reachable, keys loaded), else
// why not, which /readyz reports beside its 503; `auth` checks bearer
// tokens. kUnavailable when the address cannot be bound.
Result<std::unique_ptr<RestFace>> StartRestFace(const RestFaceOptions& options,
                                                ControlPlaneService& service,
                                                const Authenticator& auth, MetricsRegistry& metrics,
                                                std::function<Status()> ready);
// The same for a caller with no reason to give.
Result<std::unique_ptr<RestFace>> StartRestFace(const RestFaceOptions& options,
                                                ControlPlaneService& service,
                                                const Authenticator& auth, MetricsRegistry& metrics,
                                                std::function<bool()> ready);

}  // namespace omnirelay::cp
