// The relay node's HTTP face: /healthz, /readyz, /metrics, /route.
//
// /route answers the decision for a request: its cluster by weight, the
// failover order, the shadow decision and, with MeshKit endpoints, the member
// to send it to (after failover) and the discovery generation it came from.
// `cell` is the node's cell the bridge rules apply for (null: its chain names
// none, so they are not applied; relay/router.h), `crossCell` the bridge and
// far cell when the request leaves the cell; a route the bridges leave
// nowhere to go is a 503 whose message starts "no_route:".
// It reports each answer it gives with a snapshot to the rollout gates
// (ConfigHost::RecordOutcome: the version that routed it, error = a 5xx,
// latency = its handling time). Requests whose route resolves to one of
// `fail_clusters` are answered 503 (and so recorded as errors): the switch
// that lets a demo make one cluster fail and watch a canary roll back.
//
// Served by omni_http (omnirelay/http/server.h): event-driven, with its
// timeouts and connection limits; /healthz answers on the I/O thread.
//
// Thread safety: handlers run on the server's worker threads; everything
// they read (ConfigHost::Current, health, the registry) is thread-safe.
// Stop() from any thread (a signal waiter), also before Serve().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/status.h"
#include "omnirelay/meshkit/endpoints.h"
#include "omnirelay/relay/artefacts.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/router.h"
#include "omnirelay/relay/watcher.h"

namespace omnirelay::relay_node {

class NodeHttp {
 public:
  // `stream`: the watcher's view of its control-plane stream, shown by
  // /readyz (a refusal such as a revoked token is its lastError).
  // `endpoints`: MeshKit's current endpoint set (--meshkit), joined with each
  // /route decision (relay/endpoint_join.h); empty: answers name clusters only.
  // `artefacts` (may be null; must outlive this): serves /capability and
  // /artefacts, and /readyz lists the capabilities failing closed.
  using Endpoints = std::function<std::shared_ptr<const meshkit::EndpointSet>()>;
  NodeHttp(relay::ConfigHost& host, const relay::Router& router, MetricsRegistry& metrics,
           std::function<relay::WatcherStats()> stream, std::vector<std::string> fail_clusters = {},
           Endpoints endpoints = {}, const relay::Artefacts* artefacts = nullptr);
  ~NodeHttp();

  // Binds host:port (port 0: any) and starts serving; the bound port after.
  // kUnavailable when the port is in use.
  Result<int> Bind(const std::string& listen);
  // Blocks until Stop().
  void Serve();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnirelay::relay_node
