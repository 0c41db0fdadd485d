// bench_reconnect_storm: N nodes cut off at once and coming back together
// (issue 12, the reconnect storm), against the real `controlplane` daemon.
//
//   bench_reconnect_storm [--nodes N] [--chains C] [--jitter-ms J] [--daemon PATH]
//                         [--timeout-s T]
//
// N simulated nodes (streamed_fleet.h: one channel and one stream each,
// verifying every Notify) connect and apply a first snapshot. Then every
// stream is cut at once, the global layer is written while they are all
// away, and all N reconnect together as the relay watcher does: each after a
// delay drawn uniformly in [0, J] (the watcher's first retry, J = 250 ms;
// J = 0: all in the same instant), and after a stream that ended without
// the new snapshot again after a full-jitter backoff doubling from 250 ms
// to 15 s. Measures the time from the reconnect until every node has
// verified the new version ("all current"), per-node times, and how many
// attempts the daemon ended early (refusals, e.g. its admission limits).
// Prints text and one JSON line; exits 1 when not all are current in time.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "streamed_fleet.h"

namespace {

using omnirelay::bench::Die;
using omnirelay::bench::Percentile;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

struct Options {
  int nodes = 5000;
  int chains = 4;
  int jitter_ms = 250;
  int timeout_s = 60;
  std::string daemon = OMNI_CONTROLPLANE_BIN;
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
    } else if (a == "--chains") {
      o.chains = std::stoi(next());
    } else if (a == "--jitter-ms") {
      o.jitter_ms = std::stoi(next());
    } else if (a == "--timeout-s") {
      o.timeout_s = std::stoi(next());
    } else if (a == "--daemon") {
      o.daemon = next();
    } else {
      Die("unknown flag " + a + " (flags: --nodes --chains --jitter-ms --timeout-s --daemon)");
    }
  }
  if (o.nodes < 1 || o.chains < 1 || o.jitter_ms < 0) Die("bad --nodes, --chains or --jitter-ms");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  omnirelay::bench::DaemonChild daemon(o.daemon, "full");
  const std::vector<std::string> chains = omnirelay::bench::BenchChains(o.chains);
  omnirelay::bench::WriteGlobal(daemon, 0, chains);

  omnirelay::bench::Fleet fleet(o.nodes, daemon.keys(), /*distinct=*/true);
  std::vector<std::string> node_chains;
  for (int i = 0; i < o.nodes; ++i) {
    node_chains.push_back(chains[static_cast<std::size_t>(i % o.chains)]);
  }
  auto first = omnirelay::bench::ConnectFleet(fleet, daemon, node_chains, 500, false);
  std::printf("%d nodes connected and current; cutting every stream\n", o.nodes);
  omnirelay::bench::DisconnectFleet(fleet, first);
  const std::int64_t target = omnirelay::bench::WriteGlobal(daemon, 1, chains);

  // Each node: its live attempt, the failures so far, when to try next.
  std::mt19937_64 rng(std::random_device{}());
  auto draw = [&rng](std::int64_t ceiling_ms) {
    return std::uniform_int_distribution<std::int64_t>(0,
                                                       std::max<std::int64_t>(ceiling_ms, 0))(rng);
  };
  struct Slot {
    std::unique_ptr<omnirelay::bench::Node> node;
    bool started = false;
    int failures = 0;
    Clock::time_point next;
    double current_ms = -1;
  };
  std::vector<Slot> slots(static_cast<std::size_t>(o.nodes));
  std::vector<std::unique_ptr<omnirelay::bench::Node>> ended;  // kept until the end
  auto make_node = [&](int i) {
    return std::make_unique<omnirelay::bench::Node>(fleet, i, daemon.target(), daemon.admin_token(),
                                                    node_chains[static_cast<std::size_t>(i)],
                                                    false);
  };
  // Each node's channel is made beforehand (on a fleet every node makes its
  // own, in parallel): the storm is the connects, hellos and snapshots.
  for (int i = 0; i < o.nodes; ++i) slots[static_cast<std::size_t>(i)].node = make_node(i);
  const auto start = Clock::now();
  const std::int64_t start_ns = omnirelay::bench::NowNs();
  for (auto& s : slots) s.next = start + std::chrono::milliseconds(draw(o.jitter_ms));
  long attempts = 0, refused = 0;
  std::map<std::string, long> refusal_codes;
  int current = 0;
  const auto deadline = start + std::chrono::seconds(o.timeout_s);
  while (current < o.nodes && Clock::now() < deadline) {
    const auto now = Clock::now();
    for (int i = 0; i < o.nodes; ++i) {
      Slot& s = slots[static_cast<std::size_t>(i)];
      if (s.current_ms >= 0) continue;
      if (fleet.version[i].load() >= target) {
        s.current_ms = static_cast<double>(fleet.verified_at_ns[i].load() - start_ns) / 1e6;
        ++current;
        continue;
      }
      if (s.started && s.node->done()) {  // ended before the new version: retry later
        ++refused;
        ++refusal_codes[std::to_string(static_cast<int>(s.node->end_code()))];
        ++s.failures;
        const std::int64_t ceiling =
            std::min<std::int64_t>(15'000, 250LL << std::min(s.failures - 1, 6));
        s.next = now + std::chrono::milliseconds(draw(ceiling));
        ended.push_back(std::move(s.node));
        s.node = make_node(i);
        s.started = false;
      }
      if (!s.started && now >= s.next) {
        s.node->Start();
        s.started = true;
        ++attempts;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::vector<double> per_node;
  for (const auto& s : slots) {
    if (s.current_ms >= 0) per_node.push_back(s.current_ms);
  }
  // The last node's verification, not when this loop noticed it.
  const double all_ms =
      current == o.nodes ? Percentile(per_node, 1.0)
                         : std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::vector<std::unique_ptr<omnirelay::bench::Node>> live;
  for (auto& s : slots) {
    if (s.started) live.push_back(std::move(s.node));
  }
  fleet.ended = 0;
  omnirelay::bench::DisconnectFleet(fleet, live);

  Json codes = Json::object();
  for (const auto& [code, n] : refusal_codes) codes[code] = n;
  std::printf(
      "reconnect storm: nodes=%d chains=%d jitter=%d ms\n"
      "  all current: %s after %.0f ms (%d of %d)\n"
      "  per node: p50 %.0f ms  p99 %.0f ms  max %.0f ms\n"
      "  attempts %ld, ended before current %ld, verification failures %d\n",
      o.nodes, o.chains, o.jitter_ms, current == o.nodes ? "yes" : "NO", all_ms, current, o.nodes,
      Percentile(per_node, 0.5), Percentile(per_node, 0.99), Percentile(per_node, 1.0), attempts,
      refused, fleet.failures.load());
  Json summary = {{"benchmark", "reconnect_storm"},
                  {"nodes", o.nodes},
                  {"chains", o.chains},
                  {"jitter_ms", o.jitter_ms},
                  {"all_current", current == o.nodes},
                  {"all_current_ms", all_ms},
                  {"per_node_p50_ms", Percentile(per_node, 0.5)},
                  {"per_node_p99_ms", Percentile(per_node, 0.99)},
                  {"attempts", attempts},
                  {"ended_before_current", refused},
                  {"end_codes", codes},
                  {"verification_failures", fleet.failures.load()}};
  std::printf("%s\n", summary.dump().c_str());
  return current == o.nodes && fleet.failures.load() == 0 ? 0 : 1;
}
