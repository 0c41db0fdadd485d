// The relay node's HTTP face: /healthz, /readyz, /metrics, /route.
//
// Thread safety: handlers run on cpp-httplib's worker threads; everything
// they read (ConfigHost::Current, health, the registry) is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/status.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/router.h"

namespace omnirelay::relay_node {

class NodeHttp {
 public:
  NodeHttp(relay::ConfigHost& host, const relay::Router& router, MetricsRegistry& metrics);
  ~NodeHttp();

  // Binds host:port (port 0: any); the bound port after.
  Result<int> Bind(const std::string& listen);
  // Serves until Stop() (blocking).
  void Serve();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnirelay::relay_node
