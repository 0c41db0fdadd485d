// The stored form of a rollout's state (rollout_state.h, contract 7): the one
// JSON codec of RolloutState, written into RolloutRecord::state_json.
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "json_text.h"
#include "rollout_state.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;

constexpr int kFormat = 1;

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kHold:
      return "hold";
    case Verdict::kPromote:
      return "promote";
    case Verdict::kRollback:
      return "rollback";
  }
  return "hold";
}

Json ScopesJson(const std::vector<Scope>& scopes) {
  Json out = Json::array();
  for (const auto& s : scopes) out.push_back(s.ToString());
  return out;
}

Json WindowJson(const SloWindow& w) {
  return Json{{"requests", w.requests}, {"errors", w.errors}, {"latency", w.latency.counts}};
}

Json DiscoveryJson(const GateFigures& f) {
  Json clusters = Json::array();
  for (const ClusterHealthFigure& c : f.clusters) {
    clusters.push_back(Json{{"service", c.service},
                            {"cluster", c.cluster},
                            {"healthy", c.healthy},
                            {"total", c.total}});
  }
  return Json{{"state", f.discovery},
              {"feedId", f.feed_id},
              {"feedGeneration", f.feed_generation},
              {"feedLagMs", f.feed_lag_ms},
              {"clusters", std::move(clusters)},
              {"uncovered", f.uncovered},
              {"bridgesDown", f.bridges_down}};
}

Json FiguresJson(const GateFigures& f) {
  return Json{{"nodes", f.nodes},
              {"cells", f.cells},
              {"discovery", DiscoveryJson(f)},
              {"counted", f.counted},
              {"offlineExcluded", f.offline_excluded},
              {"acked", f.acked},
              {"nacked", f.nacked},
              {"applied", f.applied},
              {"drifting", f.drifting},
              {"ackRatio", f.ack_ratio},
              {"nackRatio", f.nack_ratio},
              {"requests", f.requests},
              {"baselineRequests", f.baseline_requests},
              {"errorRate", f.error_rate},
              {"baselineErrorRate", f.baseline_error_rate},
              {"p99Ms", f.p99_ms},
              {"baselineP99Ms", f.baseline_p99_ms},
              {"discoverySkew", f.discovery_skew},
              {"bakeRemainingMs", f.bake_remaining_ms}};
}

Json VerdictJson(const VerdictRecord& v) {
  return Json{{"verdict", VerdictName(v.verdict)},
              {"gate", v.gate},
              {"reason", v.reason},
              {"message", v.message},
              {"figures", FiguresJson(v.figures)}};
}

// Reads a stored state; any shape problem throws nlohmann's exceptions,
// which RolloutStateFromJson turns into one Status (they never leave it).
std::vector<Scope> ReadScopes(const Json& j) {
  std::vector<Scope> out;
  for (const auto& item : j) {
    auto scope = ParseScope(item.get<std::string>());
    if (!scope.ok()) throw std::invalid_argument(scope.status().message());
    out.push_back(*std::move(scope));
  }
  return out;
}

SloWindow ReadWindow(const Json& j) {
  SloWindow w;
  w.requests = j.at("requests").get<std::uint64_t>();
  w.errors = j.at("errors").get<std::uint64_t>();
  w.latency.counts = j.at("latency").get<decltype(w.latency.counts)>();
  return w;
}

GateFigures ReadFigures(const Json& j) {
  GateFigures f;
  f.nodes = j.at("nodes").get<std::int64_t>();
  f.counted = j.at("counted").get<std::int64_t>();
  f.offline_excluded = j.at("offlineExcluded").get<std::int64_t>();
  f.acked = j.at("acked").get<std::int64_t>();
  f.nacked = j.at("nacked").get<std::int64_t>();
  f.applied = j.at("applied").get<std::int64_t>();
  f.drifting = j.value("drifting", std::int64_t{0});  // absent before drift repair
  f.ack_ratio = j.at("ackRatio").get<double>();
  f.nack_ratio = j.at("nackRatio").get<double>();
  f.requests = j.at("requests").get<std::uint64_t>();
  f.baseline_requests = j.at("baselineRequests").get<std::uint64_t>();
  f.error_rate = j.at("errorRate").get<double>();
  f.baseline_error_rate = j.at("baselineErrorRate").get<double>();
  f.p99_ms = j.at("p99Ms").get<double>();
  f.baseline_p99_ms = j.at("baselineP99Ms").get<double>();
  f.discovery_skew = j.at("discoverySkew").get<std::int64_t>();
  f.bake_remaining_ms = j.at("bakeRemainingMs").get<std::int64_t>();
  // Absent before MeshKit gates (a state stored by an older daemon).
  f.cells = j.value("cells", std::vector<std::string>{});
  if (const auto d = j.find("discovery"); d != j.end()) {
    f.discovery = d->at("state").get<std::string>();
    f.feed_id = d->at("feedId").get<std::string>();
    f.feed_generation = d->at("feedGeneration").get<std::int64_t>();
    f.feed_lag_ms = d->at("feedLagMs").get<std::int64_t>();
    f.uncovered = d->at("uncovered").get<std::vector<std::string>>();
    for (const Json& c : d->at("clusters")) {
      f.clusters.push_back(ClusterHealthFigure{
          c.at("service").get<std::string>(), c.at("cluster").get<std::string>(),
          c.at("healthy").get<std::int64_t>(), c.at("total").get<std::int64_t>()});
    }
    f.bridges_down = d->at("bridgesDown").get<std::vector<std::string>>();
  }
  return f;
}

RolloutPhase ReadPhase(const Json& j) {
  auto phase = ParseRolloutPhase(j.get<std::string>());
  if (!phase) throw std::invalid_argument("unknown phase " + j.dump());
  return *phase;
}

Verdict ReadVerdict(const Json& j) {
  for (Verdict v : {Verdict::kHold, Verdict::kPromote, Verdict::kRollback}) {
    if (VerdictName(v) == j.get<std::string>()) return v;
  }
  throw std::invalid_argument("unknown verdict " + j.dump());
}

}  // namespace

std::string RolloutStateToJson(const RolloutState& s) {
  // Written as text in the order nlohmann sorts the keys (the bytes one
  // dump of the whole object would give: a unit test holds it to that), so
  // the per-member parts — assignments, wave ids — cost no json values.
  using json_text::AppendInt;
  using json_text::AppendKey;
  using json_text::AppendString;
  using json_text::AppendStrings;
  std::string out = "{";
  out.reserve(64 * s.nodes.size() + 24 * s.untargeted.size() + 1024);
  AppendKey(out, "createdAtMs");
  AppendInt(out, s.created_at_ms);
  AppendKey(out, "currentWave");
  AppendInt(out, s.current_wave);
  AppendKey(out, "format");
  AppendInt(out, kFormat);
  AppendKey(out, "generation");
  AppendInt(out, s.generation);
  AppendKey(out, "id");
  AppendString(out, s.id);
  AppendKey(out, "newVersion");
  AppendInt(out, s.new_version);
  AppendKey(out, "nodes");
  out += '{';
  for (const auto& [id, a] : s.nodes) {
    AppendKey(out, id);
    out += "{\"assigned\":";
    AppendInt(out, a.assigned_version);
    out += ",\"previous\":";
    AppendInt(out, a.previous_version);
    out += ",\"wave\":";
    AppendInt(out, a.wave);
    out += '}';
  }
  out += '}';
  AppendKey(out, "pausedFrom");
  AppendString(out, RolloutPhaseName(s.paused_from));
  AppendKey(out, "phase");
  AppendString(out, RolloutPhaseName(s.phase));
  AppendKey(out, "policy");
  out += Json::parse(RolloutPolicyToJson(s.policy)).dump();
  AppendKey(out, "rollbackReason");
  AppendString(out, s.rollback_reason);
  AppendKey(out, "rollbackVersion");
  AppendInt(out, s.rollback_version);
  AppendKey(out, "shadowVersion");
  AppendInt(out, s.shadow_version);
  AppendKey(out, "untargeted");
  AppendStrings(out, s.untargeted);
  AppendKey(out, "updatedAtMs");
  AppendInt(out, s.updated_at_ms);
  AppendKey(out, "verdict");
  out += VerdictJson(s.last_verdict).dump();
  AppendKey(out, "waveStartedMs");
  AppendInt(out, s.wave_started_ms);
  AppendKey(out, "waves");
  out += '[';
  for (std::size_t i = 0; i < s.waves.size(); ++i) {
    const Wave& w = s.waves[i];
    out += i == 0 ? "{" : ",{";
    AppendKey(out, "baseline");
    out += WindowJson(s.wave_baselines.at(i)).dump();
    AppendKey(out, "kind");
    AppendString(out, WaveKindName(w.kind));
    AppendKey(out, "nodes");
    AppendStrings(out, w.node_ids);
    AppendKey(out, "scopes");
    out += ScopesJson(w.scopes).dump();
    out += '}';
  }
  out += "]}";
  return out;
}

std::string VerdictRecordToJson(const VerdictRecord& v) {
  return VerdictJson(v).dump();
}

Result<RolloutState> RolloutStateFromJson(std::string_view json) {
  const Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(StatusCode::kInternal, "stored rollout state is not a JSON object");
  }
  RolloutState s;
  try {
    if (j.at("format").get<int>() != kFormat) {
      return Status(StatusCode::kInternal, "stored rollout state has format " +
                                               j.at("format").dump() + ", not " +
                                               std::to_string(kFormat));
    }
    s.id = j.at("id").get<std::string>();
    s.generation = j.at("generation").get<std::int64_t>();
    auto policy = ParseRolloutPolicy(j.at("policy").dump(), "/policy");
    if (!policy.ok()) return Status(StatusCode::kInternal, policy.status().message());
    s.policy = *std::move(policy);
    s.new_version = j.at("newVersion").get<std::int64_t>();
    s.rollback_version = j.at("rollbackVersion").get<std::int64_t>();
    s.shadow_version = j.value("shadowVersion", std::int64_t{0});  // absent before shadow-first
    s.phase = ReadPhase(j.at("phase"));
    s.paused_from = ReadPhase(j.at("pausedFrom"));
    for (const auto& w : j.at("waves")) {
      auto kind = ParseWaveKind(w.at("kind").get<std::string>());
      if (!kind) throw std::invalid_argument("unknown wave kind " + w.at("kind").dump());
      s.waves.push_back(
          Wave{*kind, ReadScopes(w.at("scopes")), w.at("nodes").get<std::vector<std::string>>()});
      s.wave_baselines.push_back(ReadWindow(w.at("baseline")));
    }
    s.current_wave = j.at("currentWave").get<std::size_t>();
    s.wave_started_ms = j.at("waveStartedMs").get<std::int64_t>();
    const Json& nodes = j.at("nodes");
    s.nodes.reserve(nodes.size());
    for (const auto& [id, a] : nodes.items()) {
      const NodeAssignment assignment{a.at("wave").get<std::size_t>(),
                                      a.at("previous").get<std::int64_t>(),
                                      a.at("assigned").get<std::int64_t>()};
      if (assignment.wave >= s.waves.size()) throw std::out_of_range("node wave " + id);
      s.nodes.Set(id, assignment);  // in id order: appended
    }
    s.untargeted = j.at("untargeted").get<std::vector<std::string>>();
    s.rollback_reason = j.at("rollbackReason").get<std::string>();
    const Json& v = j.at("verdict");
    s.last_verdict =
        VerdictRecord{ReadVerdict(v.at("verdict")), v.at("gate").get<std::string>(),
                      v.at("reason").get<std::string>(), v.at("message").get<std::string>(),
                      ReadFigures(v.at("figures"))};
    s.created_at_ms = j.at("createdAtMs").get<std::int64_t>();
    s.updated_at_ms = j.at("updatedAtMs").get<std::int64_t>();
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string("stored rollout state: ") + e.what());
  }
  if (s.waves.empty() || s.current_wave >= s.waves.size()) {
    return Status(StatusCode::kInternal, "stored rollout state: current wave out of range");
  }
  return s;
}

}  // namespace omnirelay::cp
