// bench_rollout_waves: a three-wave rollout (canary, a scope wave, everything
// left) over N streamed nodes against the real `controlplane` daemon, each
// wave's time to "every node of the wave ACKed its assigned version" held
// against a plain write's fan-out to the same number of nodes, measured in
// the same run (issue 11, item 10).
//
//   bench_rollout_waves [--nodes N] [--rounds R] [--canary PERCENT]
//                       [--verify distinct|every] [--layout spread|blocks]
//                       [--daemon PATH]
//
// The fleet (streamed_fleet.h: one gRPC connection and stream per node,
// every Notify verified, then ACKed) is split over three regions sized like
// the waves: ap-south holds canary% of the nodes, eu-west a quarter, us-east
// the rest. With --layout spread (the default) each region's nodes are
// spread evenly over the order in which the nodes connect, as a region's
// nodes are in a real fleet and as the canary (drawn by hash) always is;
// --layout blocks connects each region's nodes as one block (ap-south first),
// which the figures before 2026-12-07 22:30 UTC used: there a plain write to
// a region reaches nodes whose state was allocated together, while the
// canary reaches nodes spread over all of them (docs/benchmarks.md). Each
// round:
//  1. plain writes: the global layer (all N nodes), then a layer at each
//     region (its nodes only); each timed from the moment the PUT is sent to
//     the moment the last node it reaches verified the new version and sent
//     its ACK;
//  2. a rollout of a new global layer (POST /v1/rollouts, policy: canary%,
//     one scope wave region:eu-west, manual promotion, no bake), promoted
//     wave by wave (POST /v1/rollouts/{id}:promote); each wave timed the same
//     way, from the start (wave 0) or the promote request to its last node's
//     ACK of the rollout's version. After each wave the program also waits
//     until the daemon's own gate figures count every node of the wave as
//     ACKed (the driver ticks once a second; not part of the timing), and
//     checks that no node of a later wave got the version early.
// The canary is drawn by the daemon's hash from all three regions, anew for
// each rollout, so the waves' node counts differ a little from the regions'
// and from round to round; a wave whose rounds had a median of k nodes is
// compared with the plain fan-out time at k nodes, interpolated linearly
// between the two plain sizes measured around k (medians over the rounds).
// (Until 2026-12-08 k was the last round's count: a small last canary drew
// the plain figure down while the median canary time stayed that of a
// typical one.)
// Target: each wave <= 1.2 x that plain figure. Prints text and one JSON line;
// in the JSON each plain write and wave also carries what the simulated
// fleet spent on it ("fleet": real verifications, one per distinct envelope,
// and the time its nodes waited for one another's verification; medians).
#include <absl/synchronization/mutex.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "streamed_fleet.h"

namespace {

namespace bench = omnirelay::bench;
using Json = nlohmann::json;

struct Options {
  int nodes = 5000;
  int rounds = 10;
  double canary = 5;
  bool verify_distinct = true;
  int connect_batch = 500;
  bool spread = true;  // --layout spread|blocks (the header says what each is)
  std::string daemon = OMNI_CONTROLPLANE_BIN;
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) bench::Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--nodes") {
      o.nodes = std::stoi(next());
    } else if (a == "--rounds") {
      o.rounds = std::stoi(next());
    } else if (a == "--canary") {
      o.canary = std::stod(next());
    } else if (a == "--verify") {
      const std::string v = next();
      if (v != "every" && v != "distinct") bench::Die("--verify takes every or distinct");
      o.verify_distinct = v == "distinct";
    } else if (a == "--layout") {
      const std::string v = next();
      if (v != "blocks" && v != "spread") bench::Die("--layout takes blocks or spread");
      o.spread = v == "spread";
    } else if (a == "--daemon") {
      o.daemon = next();
    } else {
      bench::Die("unknown flag " + a +
                 " (flags: --nodes --rounds --canary --verify --layout --daemon)");
    }
  }
  if (o.nodes < 20 || o.rounds < 1 || o.canary <= 0 || o.canary >= 50) {
    bench::Die("--nodes >= 20, --rounds >= 1, 0 < --canary < 50");
  }
  return o;
}

const char* const kChains[] = {"global,region:ap-south", "global,region:eu-west",
                               "global,region:us-east"};

// A region's own small layer; `round` makes each write a new document.
std::string RegionLayer(const std::string& region, int round) {
  return Json{{"apiVersion", "omnirelay.config/v1"},
              {"kind", "ConfigLayer"},
              {"metadata", {{"scope", "region:" + region}, {"author", "bench"}}},
              {"spec", {{"dispatcher", {{"maxConcurrentRequests", 500 + round}}}}}}
      .dump();
}

// Milliseconds from `t0_ns` to the last of `indexes` verifying (then ACKing).
double LastVerifiedMs(const bench::Fleet& fleet, const std::vector<int>& indexes,
                      std::int64_t t0_ns) {
  std::int64_t last = t0_ns;
  for (int i : indexes) last = std::max(last, fleet.verified_at_ns[i].load());
  return static_cast<double>(last - t0_ns) / 1e6;
}

// A REST call that must answer `want`; its parsed body.
Json Call(const bench::DaemonChild& d, const std::string& method, const std::string& path,
          const std::string& body, int want) {
  const bench::HttpReply r = bench::Http(d.http_port(), method, path, d.admin_token(), body);
  if (r.status != want) {
    bench::Die(method + " " + path + ": HTTP " + std::to_string(r.status) + " " +
               r.body.substr(0, 400));
  }
  return Json::parse(r.body, nullptr, false);
}

// What the simulated fleet spent verifying during one timed operation, per
// round: real verifications (one per distinct envelope, --verify distinct)
// and the time its nodes waited for each other's verification.
struct FleetWork {
  std::vector<double> verifications;
  std::vector<double> wait_ms;
  std::int64_t count0 = 0, wait0_ns = 0;  // the fleet's counters when the operation began
  void Begin(const bench::Fleet& fleet) {
    count0 = fleet.verify_count.load();
    wait0_ns = fleet.verify_wait_ns_total.load();
  }
  void End(const bench::Fleet& fleet) {
    verifications.push_back(static_cast<double>(fleet.verify_count.load() - count0));
    wait_ms.push_back(static_cast<double>(fleet.verify_wait_ns_total.load() - wait0_ns) / 1e6);
  }
  Json ToJson() const {
    return {{"verifications_p50", bench::Percentile(verifications, 0.5)},
            {"verify_wait_p50_ms", bench::Percentile(wait_ms, 0.5)}};
  }
};

struct Plain {
  std::string scope;
  std::vector<int> nodes;
  std::vector<double> ms;         // PUT sent -> last node ACKed
  std::vector<double> answer_ms;  // PUT answered -> last node ACKed
  FleetWork fleet;                // what the fleet's verification cost in it
};

struct WaveFigures {
  // The wave's node count in each round: the canary is drawn anew by each
  // rollout's id (a few dozen nodes either way), and the scope wave loses
  // the canary's nodes of its region.
  std::vector<double> node_counts;
  std::vector<double> ms;          // promote sent -> last node ACKed
  std::vector<double> request_ms;  // promote sent -> its answer
  std::vector<double> answer_ms;   // promote answered -> last node ACKed
  FleetWork fleet;
};

// Plain fan-out at k nodes from the measured (nodes, median ms) points:
// linear between the two sizes around k, or on the line of the nearest two
// beyond them (a fixed cost stays in the figure).
double PlainAt(std::vector<std::pair<double, double>> points, double k) {
  std::sort(points.begin(), points.end());
  std::size_t i = 1;
  while (i + 1 < points.size() && k > points[i].first) ++i;
  const auto [x0, y0] = points[i - 1];
  const auto [x1, y1] = points[i];
  return std::max(0.0, y0 + (y1 - y0) * (k - x0) / (x1 - x0));
}

// Waits (10 s) until the driver's last verdict counts all `nodes` of the
// current wave `wave` as ACKed.
bool DaemonCountsAcked(const bench::DaemonChild& d, const std::string& id, std::size_t wave,
                       std::size_t nodes) {
  const auto deadline = bench::SteadyClock::now() + std::chrono::seconds(10);
  while (bench::SteadyClock::now() < deadline) {
    const Json s = Call(d, "GET", "/v1/rollouts/" + id, "", 200);
    if (s.value("currentWave", std::size_t{99}) == wave && s.contains("gate")) {
      const Json& f = s["gate"]["figures"];
      if (f.value("nodes", std::size_t{0}) == nodes && f.value("acked", std::size_t{0}) == nodes) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as bench_fanout
  bench::DaemonChild daemon(o.daemon, "full");
  const std::vector<std::string> chains(std::begin(kChains), std::end(kChains));
  int doc_round = 0;
  Call(daemon, "PUT", "/v1/layers/global", bench::GlobalLayer(doc_round, chains), 200);

  // Node i's region (nodes connect in index order). Spread: every
  // (N / ap-south's count)-th node in ap-south, then eu-west's evenly among
  // the others, the rest in us-east. Blocks: the first canary% of the nodes
  // in ap-south, the next quarter in eu-west, the rest in us-east.
  const int n_canary_region = std::max(1, static_cast<int>(o.nodes * o.canary / 100));
  const int n_scope_region = o.nodes / 4;
  std::vector<std::string> node_chains;
  std::vector<Plain> plains = {{"global", {}, {}, {}, {}},
                               {"region:ap-south", {}, {}, {}, {}},
                               {"region:eu-west", {}, {}, {}, {}},
                               {"region:us-east", {}, {}, {}, {}}};
  std::vector<int> region_of(static_cast<std::size_t>(o.nodes), 2);
  if (o.spread) {
    for (int k = 0; k < n_canary_region; ++k) {
      region_of[static_cast<std::size_t>(std::int64_t{k} * o.nodes / n_canary_region)] = 0;
    }
    std::vector<std::size_t> rest;
    for (std::size_t i = 0; i < region_of.size(); ++i) {
      if (region_of[i] == 2) rest.push_back(i);
    }
    for (int k = 0; k < n_scope_region; ++k) {
      region_of[rest[static_cast<std::size_t>(k) * rest.size() /
                     static_cast<std::size_t>(n_scope_region)]] = 1;
    }
  } else {
    for (int i = 0; i < o.nodes; ++i) {
      region_of[static_cast<std::size_t>(i)] = i < n_canary_region                    ? 0
                                               : i < n_canary_region + n_scope_region ? 1
                                                                                      : 2;
    }
  }
  for (int i = 0; i < o.nodes; ++i) {
    const int region = region_of[static_cast<std::size_t>(i)];
    node_chains.push_back(kChains[region]);
    plains[0].nodes.push_back(i);
    plains[static_cast<std::size_t>(region) + 1].nodes.push_back(i);
  }
  bench::Fleet fleet(o.nodes, daemon.keys(), o.verify_distinct);
  const auto connect_start = bench::SteadyClock::now();
  auto nodes = bench::ConnectFleet(fleet, daemon, node_chains, o.connect_batch, false);
  const double connect_s =
      std::chrono::duration<double>(bench::SteadyClock::now() - connect_start).count();
  std::this_thread::sleep_for(std::chrono::seconds(3));  // settle, as bench_fanout

  std::vector<WaveFigures> waves(3);
  int incomplete = 0, early = 0, unconfirmed = 0;
  const Json policy = {{"canaryPercent", o.canary},
                       {"waves", {{{"scopes", {"region:eu-west"}}}}},
                       {"promotion", "manual"},
                       {"bakeMs", 0}};
  for (int r = 1; r <= o.rounds; ++r) {
    // 1. Plain writes.
    for (Plain& p : plains) {
      const std::string doc = p.scope == "global" ? bench::GlobalLayer(++doc_round, chains)
                                                  : RegionLayer(p.scope.substr(7), r);
      p.fleet.Begin(fleet);
      const std::int64_t t0 = bench::NowNs();
      const Json w = Call(daemon, "PUT", "/v1/layers/" + p.scope, doc, 200);
      const std::int64_t answered = bench::NowNs();
      const std::int64_t revision = w.value("revision", std::int64_t{0});
      if (!fleet.WaitVersion(p.nodes, revision, std::chrono::seconds(60))) ++incomplete;
      p.ms.push_back(LastVerifiedMs(fleet, p.nodes, t0));
      p.answer_ms.push_back(LastVerifiedMs(fleet, p.nodes, answered));
      p.fleet.End(fleet);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    // 2. The rollout, wave by wave.
    const Json body = {{"layers", {Json::parse(bench::GlobalLayer(++doc_round, chains))}},
                       {"policy", policy},
                       {"reason", "bench_rollout_waves round " + std::to_string(r)}};
    waves[0].fleet.Begin(fleet);
    std::int64_t t0 = bench::NowNs();
    Json run = Call(daemon, "POST", "/v1/rollouts", body.dump(), 201);
    std::int64_t answered = bench::NowNs();
    const std::string id = run.value("id", "");
    const std::int64_t version = run.value("version", std::int64_t{0});
    if (!run.contains("waves") || run["waves"].size() != 3) bench::Die("not three waves: " + id);
    std::vector<std::vector<int>> members(3);
    for (std::size_t w = 0; w < 3; ++w) {
      for (const auto& node_id : run["waves"][w]["nodeIds"]) {
        members[w].push_back(std::stoi(node_id.get<std::string>().substr(6)));  // "bench-<i>"
      }
      waves[w].node_counts.push_back(static_cast<double>(members[w].size()));
    }
    for (std::size_t w = 0; w < 3; ++w) {
      if (w > 0) {
        // As after each plain write: the last wave's status writes and the
        // status reads above settle first.
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        waves[w].fleet.Begin(fleet);
        t0 = bench::NowNs();
        Call(daemon, "POST", "/v1/rollouts/" + id + ":promote", "", 200);
        answered = bench::NowNs();
      }
      if (!fleet.WaitVersion(members[w], version, std::chrono::seconds(60))) ++incomplete;
      waves[w].ms.push_back(LastVerifiedMs(fleet, members[w], t0));
      waves[w].request_ms.push_back(static_cast<double>(answered - t0) / 1e6);
      waves[w].answer_ms.push_back(LastVerifiedMs(fleet, members[w], answered));
      waves[w].fleet.End(fleet);
      for (std::size_t later = w + 1; later < 3; ++later) {
        for (int i : members[later]) early += fleet.version[i].load() >= version ? 1 : 0;
      }
      if (!DaemonCountsAcked(daemon, id, w, members[w].size())) ++unconfirmed;
    }
    const Json done = Call(daemon, "POST", "/v1/rollouts/" + id + ":promote", "", 200);
    if (done.value("state", "") != "succeeded") bench::Die("rollout " + id + " did not succeed");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  bench::DisconnectFleet(fleet, nodes);

  std::vector<std::pair<double, double>> points;
  Json plain_json = Json::array();
  std::printf(
      "nodes=%d rounds=%d canary=%.1f%% verify=%s layout=%s; connect+first snapshot %.1f s\n",
      o.nodes, o.rounds, o.canary, o.verify_distinct ? "distinct" : "every",
      o.spread ? "spread" : "blocks", connect_s);
  for (const Plain& p : plains) {
    const double p50 = bench::Percentile(p.ms, 0.5), max = bench::Percentile(p.ms, 1.0);
    points.emplace_back(static_cast<double>(p.nodes.size()), p50);
    const double answer = bench::Percentile(p.answer_ms, 0.5);
    std::printf(
        "  plain write %-16s %5zu nodes: p50 %7.1f ms  max %7.1f ms  (from its answer p50 %.1f "
        "ms)\n",
        p.scope.c_str(), p.nodes.size(), p50, max, answer);
    plain_json.push_back({{"scope", p.scope},
                          {"nodes", p.nodes.size()},
                          {"p50_ms", p50},
                          {"max_ms", max},
                          {"from_answer_p50_ms", answer},
                          {"fleet", p.fleet.ToJson()}});
  }
  Json wave_json = Json::array();
  bool met = incomplete == 0 && early == 0 && unconfirmed == 0;
  const char* const kNames[] = {"canary", "scopes", "global"};
  for (std::size_t w = 0; w < 3; ++w) {
    const double p50 = bench::Percentile(waves[w].ms, 0.5),
                 max = bench::Percentile(waves[w].ms, 1.0);
    // Compared at the rounds' median count: the median wave time is that of
    // a typical round, not of the last one's draw.
    const double k = bench::Percentile(waves[w].node_counts, 0.5);
    const double plain = PlainAt(points, k);
    const double ratio = plain > 0 ? p50 / plain : 0;
    met = met && ratio <= 1.2;
    std::printf(
        "  wave %zu (%s) %5zu nodes: p50 %7.1f ms  max %7.1f ms  (request p50 %.1f ms, from its "
        "answer p50 %.1f ms); plain at %zu nodes %.1f ms -> ratio %.2f (target <= 1.2)\n",
        w, kNames[w], static_cast<std::size_t>(k), p50, max,
        bench::Percentile(waves[w].request_ms, 0.5), bench::Percentile(waves[w].answer_ms, 0.5),
        static_cast<std::size_t>(k), plain, ratio);
    wave_json.push_back({{"wave", w},
                         {"kind", kNames[w]},
                         {"nodes", k},
                         {"nodes_min", bench::Percentile(waves[w].node_counts, 0.0)},
                         {"nodes_max", bench::Percentile(waves[w].node_counts, 1.0)},
                         {"p50_ms", p50},
                         {"max_ms", max},
                         {"request_p50_ms", bench::Percentile(waves[w].request_ms, 0.5)},
                         {"from_answer_p50_ms", bench::Percentile(waves[w].answer_ms, 0.5)},
                         {"plain_at_nodes_ms", plain},
                         {"fleet", waves[w].fleet.ToJson()},
                         {"ratio", ratio}});
  }
  std::printf(
      "  incomplete waits %d, nodes ahead of their wave %d, waves not confirmed by the "
      "daemon %d, verification failures %d\n",
      incomplete, early, unconfirmed, fleet.failures.load());
  const Json summary = {{"nodes", o.nodes},
                        {"rounds", o.rounds},
                        {"canary_percent", o.canary},
                        {"verify", o.verify_distinct ? "distinct" : "every"},
                        {"layout", o.spread ? "spread" : "blocks"},
                        {"plain", plain_json},
                        {"waves", wave_json},
                        {"incomplete", incomplete},
                        {"early", early},
                        {"unconfirmed", unconfirmed},
                        {"verification_failures", fleet.failures.load()},
                        {"target_met", met}};
  std::printf("%s\n", summary.dump().c_str());
  return incomplete == 0 && early == 0 && unconfirmed == 0 && fleet.failures.load() == 0 ? 0 : 1;
}
