// bench_fanout: the node feed's fan-out against the real `controlplane`
// daemon (issue 3, bench/): one daemon, N node streams from this separate
// load process on loopback, one channel — hence one TCP connection — per node.
//
//   bench_fanout [--nodes N] [--rounds R] [--chains C] [--daemon PATH]
//                [--sqlite-sync full|normal] [--client-bdp-probe on|off]
//                [--verify every|distinct]
//                [--replicas K --replica-arg ARG...]
//
// --replicas K (with --replica-arg --store=postgres://... and
// --replica-arg --bus=redis://... or kafka://..., each passed to every
// replica): K daemons of one cell, sharing the first one's signing key; node
// i streams from replica i % K, writes go to the first, and the per-node
// latency is also given apart for the nodes of the first replica (local) and
// of the others (cross-replica: the bus in between).
// bench/fanout_replicas.sh starts Postgres and the bus and runs this.
//
// The daemon runs as a child on a fresh data dir and free ports. After the N
// nodes have said hello and applied the first snapshot, each round writes the
// global layer through the gRPC ConfigService and measures, from the write's
// acknowledgement, when each node has received the Notify and verified the
// envelope as a node must (Ed25519 by a trusted key over the exact bytes,
// ContentId(payload) == hash, version inside).
//
// --verify: where the Ed25519 verification runs. On a real fleet every node
// verifies on its own CPU, in parallel with the others; here N simulated
// nodes share this machine's two cores with the daemon, so N verifications
// (~0.1 ms each here) run back to back and delay the nodes queued behind
// them. `every` (default) does it anyway, per node. `distinct` models the
// fleet: the first node to receive a given envelope verifies it for real;
// every other node compares its received bytes with those verified bytes in
// full and still checks hash and version itself; the one-node verify cost is
// printed beside the figures. Prints, as text and one JSON
// line: per-node latency p50/p99/max over all rounds, the all-nodes time
// p50/p99 over rounds, and the daemon's RSS growth per idle node stream.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"
#include "streamed_fleet.h"

namespace {

namespace v1 = omnirelay::controlplane::v1;
using omnirelay::bench::CpuSeconds;
using omnirelay::bench::Die;
using omnirelay::bench::Percentile;
using omnirelay::bench::Sample;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

struct Options {
  int nodes = 1000;
  int rounds = 20;
  int chains = 4;
  int connect_batch = 500;
  std::string daemon = OMNI_CONTROLPLANE_BIN;
  std::string sqlite_sync = "full";
  bool client_bdp_probe = false;
  bool verify_distinct = false;
  int replicas = 1;
  std::vector<std::string> replica_args;
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--nodes") {
      o.nodes = std::stoi(next());
    } else if (a == "--rounds") {
      o.rounds = std::stoi(next());
    } else if (a == "--chains") {
      o.chains = std::stoi(next());
    } else if (a == "--connect-batch") {
      o.connect_batch = std::stoi(next());
    } else if (a == "--daemon") {
      o.daemon = next();
    } else if (a == "--sqlite-sync") {
      o.sqlite_sync = next();
    } else if (a == "--client-bdp-probe") {
      o.client_bdp_probe = next() == "on";
    } else if (a == "--verify") {
      const std::string v = next();
      if (v != "every" && v != "distinct") Die("--verify takes every or distinct");
      o.verify_distinct = v == "distinct";
    } else if (a == "--replicas") {
      o.replicas = std::stoi(next());
    } else if (a == "--replica-arg") {
      o.replica_args.push_back(next());
    } else {
      Die("unknown flag " + a +
          " (flags: --nodes --rounds --chains --connect-batch --daemon --sqlite-sync "
          "--client-bdp-probe on|off --verify every|distinct --replicas --replica-arg)");
    }
  }
  if (o.nodes < 1 || o.rounds < 1 || o.chains < 1) Die("--nodes, --rounds, --chains must be >= 1");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  // As the daemon does (grpc_face.cc): Debian's absl leaves deadlock detection on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  omnirelay::bench::DaemonChild daemon(o.daemon, o.sqlite_sync, o.replica_args);
  std::vector<std::unique_ptr<omnirelay::bench::DaemonChild>> others;
  std::vector<const omnirelay::bench::DaemonChild*> replicas = {&daemon};
  for (int k = 1; k < o.replicas; ++k) {
    others.push_back(std::make_unique<omnirelay::bench::DaemonChild>(o.daemon, o.sqlite_sync,
                                                                     o.replica_args, &daemon));
    replicas.push_back(others.back().get());
  }
  const std::vector<std::string> chains = omnirelay::bench::BenchChains(o.chains);

  omnirelay::bench::WriteGlobal(daemon, 0, chains);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss_before = omnirelay::bench::RssKiB(daemon.pid());

  omnirelay::bench::Fleet fleet(o.nodes, daemon.keys(), o.verify_distinct);
  std::vector<std::string> node_chains;
  for (int i = 0; i < o.nodes; ++i) {
    node_chains.push_back(chains[static_cast<std::size_t>(i % o.chains)]);
  }
  const auto connect_start = Clock::now();
  auto nodes = omnirelay::bench::ConnectFleet(fleet, replicas, node_chains, o.connect_batch,
                                              o.client_bdp_probe);
  const double connect_s = std::chrono::duration<double>(Clock::now() - connect_start).count();
  // Idle: let coalesced status writes and allocator churn settle before measuring.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long rss_idle = omnirelay::bench::RssKiB(daemon.pid());

  std::vector<double> per_node_ms, all_nodes_ms, received_ms, local_ms, cross_ms;
  per_node_ms.reserve(static_cast<std::size_t>(o.nodes) * o.rounds);
  int incomplete = 0;
  const double daemon_cpu0 = CpuSeconds(daemon.pid()), self_cpu0 = CpuSeconds(::getpid());
  double round_wall = 0;
  for (int r = 1; r <= o.rounds; ++r) {
    const auto round_start = Clock::now();
    const std::int64_t before = fleet.verified_total.load();
    const std::int64_t revision = omnirelay::bench::WriteGlobal(daemon, r, chains);
    const std::int64_t acked_ns = Clock::now().time_since_epoch().count();
    if (!fleet.WaitTotal(before + o.nodes, std::chrono::seconds(60))) ++incomplete;
    double worst = 0;
    for (int i = 0; i < o.nodes; ++i) {
      if (fleet.version[i].load() < revision) continue;
      // A node may verify before the write's response reaches the client: 0.
      const double ms = std::max<double>(0, (fleet.verified_at_ns[i].load() - acked_ns) / 1e6);
      per_node_ms.push_back(ms);
      (i % o.replicas == 0 ? local_ms : cross_ms).push_back(ms);
      received_ms.push_back(std::max<double>(0, (fleet.received_at_ns[i].load() - acked_ns) / 1e6));
      worst = std::max(worst, ms);
    }
    all_nodes_ms.push_back(worst);
    round_wall += std::chrono::duration<double>(Clock::now() - round_start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }

  std::printf(
      "CPU per round (incl. the 300 ms pause after it): daemon %.0f ms, load process %.0f ms; "
      "round wall %.0f ms\n",
      1000 * (CpuSeconds(daemon.pid()) - daemon_cpu0) / o.rounds,
      1000 * (CpuSeconds(::getpid()) - self_cpu0) / o.rounds, 1000 * round_wall / o.rounds);
  const std::string metrics = omnirelay::bench::Http(daemon.http_port(), "GET", "/metrics").body;
  auto mean_ms = [&](const std::string& h) {
    const double count = Sample(metrics, h + "_count");
    return count > 0 ? 1000 * Sample(metrics, h + "_sum") / count : 0.0;
  };
  std::printf(
      "daemon: fan-out (event -> last write started) mean %.1f ms over %.0f; render mean %.1f ms\n",
      mean_ms("omnirelay_cp_fanout_seconds"), Sample(metrics, "omnirelay_cp_fanout_seconds_count"),
      mean_ms("omnirelay_cp_render_seconds"));
  std::printf("daemon: %.0f node status records written for %.0f ACKs (coalesced)\n",
              Sample(metrics, "omnirelay_cp_node_status_writes_total"),
              Sample(metrics, "omnirelay_cp_node_acks_total"));

  omnirelay::bench::DisconnectFleet(fleet, nodes);
  if (o.replicas > 1) {
    std::printf(
        "  replicas=%d: nodes of the writing replica p50 %.1f ms p99 %.1f ms; of the others "
        "(cross-replica) p50 %.1f ms p99 %.1f ms\n",
        o.replicas, Percentile(local_ms, 0.5), Percentile(local_ms, 0.99),
        Percentile(cross_ms, 0.5), Percentile(cross_ms, 0.99));
  }

  const double per_stream_kib =
      static_cast<double>(rss_idle - rss_before) / static_cast<double>(o.nodes);
  std::printf(
      "nodes=%d chains=%d rounds=%d sqlite-sync=%s client-bdp-probe=%s\n"
      "  connect+first snapshot: %.2f s\n"
      "  per-node latency (write ack -> received): p50 %.1f ms  p99 %.1f ms\n"
      "  per-node latency (write ack -> verified): p50 %.1f ms  p99 %.1f ms  max %.1f ms\n"
      "  all nodes verified:                     p50 %.1f ms  p99 %.1f ms\n"
      "  daemon RSS: %ld KiB before streams, %ld KiB with %d idle streams -> %.1f KiB/stream\n"
      "  verification failures: %d, incomplete rounds: %d\n",
      o.nodes, o.chains, o.rounds, o.sqlite_sync.c_str(), o.client_bdp_probe ? "on" : "off",
      connect_s, Percentile(received_ms, 0.50), Percentile(received_ms, 0.99),
      Percentile(per_node_ms, 0.50), Percentile(per_node_ms, 0.99), Percentile(per_node_ms, 1.0),
      Percentile(all_nodes_ms, 0.50), Percentile(all_nodes_ms, 0.99), rss_before, rss_idle, o.nodes,
      per_stream_kib, fleet.failures.load(), incomplete);
  const double verify_us = fleet.verify_count > 0
                               ? static_cast<double>(fleet.verify_ns_total) / 1e3 /
                                     static_cast<double>(fleet.verify_count)
                               : 0.0;
  std::printf("  verify (%s): %lld real Ed25519 verifications, %.0f us each on average\n",
              o.verify_distinct ? "distinct" : "every",
              static_cast<long long>(fleet.verify_count.load()), verify_us);
  Json summary = {{"nodes", o.nodes},
                  {"chains", o.chains},
                  {"rounds", o.rounds},
                  {"per_node_p50_ms", Percentile(per_node_ms, 0.50)},
                  {"per_node_p99_ms", Percentile(per_node_ms, 0.99)},
                  {"all_nodes_p50_ms", Percentile(all_nodes_ms, 0.50)},
                  {"all_nodes_p99_ms", Percentile(all_nodes_ms, 0.99)},
                  {"rss_per_idle_stream_kib", per_stream_kib},
                  {"verification_failures", fleet.failures.load()},
                  {"incomplete_rounds", incomplete},
                  {"verify", o.verify_distinct ? "distinct" : "every"},
                  {"verifications", fleet.verify_count.load()},
                  {"verify_mean_us", verify_us},
                  {"replicas", o.replicas}};
  if (o.replicas > 1) {
    summary["local_p50_ms"] = Percentile(local_ms, 0.5);
    summary["local_p99_ms"] = Percentile(local_ms, 0.99);
    summary["cross_replica_p50_ms"] = Percentile(cross_ms, 0.5);
    summary["cross_replica_p99_ms"] = Percentile(cross_ms, 0.99);
  }
  std::printf("%s\n", summary.dump().c_str());
  return fleet.failures.load() == 0 && incomplete == 0 ? 0 : 1;
}
