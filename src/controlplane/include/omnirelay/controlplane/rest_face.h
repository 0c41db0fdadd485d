// The REST/JSON face of the control plane (DESIGN.md §4 REST routes), served
// by cpp-httplib, plus /healthz, /readyz and /metrics. Every /v1 route needs
// a bearer token; errors are 4xx/5xx with {"code","message","details"}.
//
// Thread safety: port() from any thread; Shutdown() once, from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/tls.h"

namespace omnirelay::cp {

struct RestFaceOptions {
  std::string listen = "127.0.0.1:7080";  // port 0 picks a free port (tests)
  std::size_t max_body_bytes = 16u << 20;
  int max_follow_seconds = 3600;  // audit ?follow=true streams at most this long
  TlsOptions tls;                 // certificate files (see tls.h); empty = plaintext
};

class RestFace {
 public:
  virtual ~RestFace() = default;
  virtual int port() const = 0;
  virtual void Shutdown() = 0;
};

// `ready` backs /readyz (store open, keys loaded); `auth` checks bearer
// tokens. kUnavailable when the address cannot be bound.
Result<std::unique_ptr<RestFace>> StartRestFace(const RestFaceOptions& options,
                                                ControlPlaneService& service,
                                                const Authenticator& auth, MetricsRegistry& metrics,
                                                std::function<bool()> ready);

}  // namespace omnirelay::cp
