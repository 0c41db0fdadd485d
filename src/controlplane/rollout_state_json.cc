// The stored form of a rollout's state (rollout_state.h, contract 7): the one
// JSON codec of RolloutState, written into RolloutRecord::state_json.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "json_text.h"
#include "rollout_state.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;

constexpr int kFormat = 1;       // everything in one object
constexpr int kFormatApart = 2;  // a head and the members apart (RolloutStateToParts)

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

namespace {

// Format 2 (RolloutStateToParts): the version a member's wave, the phase and
// the rollout's versions imply it is assigned; the head lists only the
// members assigned otherwise (none, unless a node joined late or the state
// was made by hand). Only the size of the head depends on this rule, never
// what reads back.
std::int64_t ImpliedAssignment(const RolloutState& s, const NodeAssignment& a) {
  std::int64_t v = a.previous_version;
  if (s.phase != RolloutPhase::kPending) {
    if (s.shadow_version != 0) v = std::max(v, s.shadow_version);
    if (a.wave <= s.current_wave) v = std::max(v, s.new_version);
  }
  if (s.rollback_version != 0 && v > a.previous_version) v = s.rollback_version;
  return v;
}

// The keys both formats share, in nlohmann's order, written into `out`
// after its opening brace; `full` adds format 1's per-member keys (nodes,
// untargeted, the waves' node lists), else format 2's head keys.
void AppendState(std::string& out, const RolloutState& s, bool full) {
  using json_text::AppendInt;
  using json_text::AppendKey;
  using json_text::AppendString;
  using json_text::AppendStrings;
  if (!full) {
    AppendKey(out, "assignedApart");
    out += '{';
    for (const auto& [id, a] : s.nodes) {
      if (a.assigned_version == ImpliedAssignment(s, a)) continue;
      AppendKey(out, id);
      AppendInt(out, a.assigned_version);
    }
    out += '}';
  }
  AppendKey(out, "createdAtMs");
  AppendInt(out, s.created_at_ms);
  AppendKey(out, "currentWave");
  AppendInt(out, s.current_wave);
  AppendKey(out, "format");
  AppendInt(out, full ? kFormat : kFormatApart);
  AppendKey(out, "generation");
  AppendInt(out, s.generation);
  AppendKey(out, "id");
  AppendString(out, s.id);
  AppendKey(out, "newVersion");
  AppendInt(out, s.new_version);
  if (full) {
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
  }
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
  if (full) {
    AppendKey(out, "untargeted");
    AppendStrings(out, s.untargeted);
  }
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
    if (full) {
      AppendKey(out, "nodes");
      AppendStrings(out, w.node_ids);
    }
    AppendKey(out, "scopes");
    out += ScopesJson(w.scopes).dump();
    out += '}';
  }
  out += ']';
}

// Finds the ids of a list in the sorted `ids`, in the list's order. Lists
// come sorted (a wave's, the untargeted): the search walks forward, a
// comparison per id passed over; an id below the one before searches from
// the start. The cursor stays on a found id, so a repeated one finds it too.
class IdFinder {
 public:
  explicit IdFinder(const std::vector<std::string_view>& ids) : ids_(ids), at_(ids.begin()) {}
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t Find(std::string_view id) {
    if (id < last_) at_ = std::lower_bound(ids_.begin(), ids_.end(), id);
    last_ = id;
    while (at_ != ids_.end() && *at_ < id) ++at_;
    return at_ != ids_.end() && *at_ == id ? static_cast<std::size_t>(at_ - ids_.begin()) : kNone;
  }

 private:
  const std::vector<std::string_view>& ids_;
  std::vector<std::string_view>::const_iterator at_;
  std::string_view last_;
};

// Every node id the members part names (assignments, chains, wave lists,
// untargeted), sorted and unique: the index its arrays share, with each
// id's assignment and chain (null: none). The assignments and the chains
// come sorted and are merged; ids only in a wave list or untargeted (none,
// in a state the engine made) are added after, and then each id's
// assignment and chain are looked up.
struct MemberRows {
  std::vector<std::string_view> ids;
  std::vector<const NodeAssignment*> assignments;
  std::vector<const std::string*> chains;
  // The positions in `ids` of each wave's list and of the untargeted.
  std::vector<std::vector<std::size_t>> waves;
  std::vector<std::size_t> untargeted;
};

MemberRows MemberIndex(const RolloutState& s, const std::map<std::string, std::string>& chains) {
  MemberRows rows;
  const std::size_t most = s.nodes.size() + chains.size();
  rows.ids.reserve(most);
  rows.assignments.reserve(most);
  rows.chains.reserve(most);
  auto a = s.nodes.begin();
  auto c = chains.begin();
  while (a != s.nodes.end() || c != chains.end()) {
    const bool take_a = a != s.nodes.end() && (c == chains.end() || !(c->first < a->first));
    const bool take_c = c != chains.end() && (a == s.nodes.end() || !(a->first < c->first));
    rows.ids.push_back(take_a ? std::string_view(a->first) : std::string_view(c->first));
    rows.assignments.push_back(take_a ? &(a++)->second : nullptr);
    rows.chains.push_back(take_c ? &(c++)->second : nullptr);
  }
  std::vector<std::string_view> extra;
  auto place = [&](const std::vector<std::string>& list, std::vector<std::size_t>& positions) {
    IdFinder finder(rows.ids);
    positions.clear();
    positions.reserve(list.size());
    for (const std::string& id : list) {
      positions.push_back(finder.Find(id));
      if (positions.back() == IdFinder::kNone) extra.push_back(id);
    }
  };
  auto place_all = [&] {
    rows.waves.resize(s.waves.size());
    for (std::size_t w = 0; w < s.waves.size(); ++w) place(s.waves[w].node_ids, rows.waves[w]);
    place(s.untargeted, rows.untargeted);
  };
  place_all();
  if (!extra.empty()) {
    std::vector<std::string_view>& ids = rows.ids;
    ids.insert(ids.end(), extra.begin(), extra.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    rows.assignments.clear();
    rows.chains.clear();
    for (const std::string_view id : ids) {
      const auto found_a = s.nodes.find(id);
      const auto found_c = chains.find(std::string(id));
      rows.assignments.push_back(found_a != s.nodes.end() ? &found_a->second : nullptr);
      rows.chains.push_back(found_c != chains.end() ? &found_c->second : nullptr);
    }
    place_all();  // every id is there now
  }
  return rows;
}

void AppendPositions(std::string& out, const std::vector<std::size_t>& positions) {
  out += '[';
  for (std::size_t i = 0; i < positions.size(); ++i) {
    if (i != 0) out += ',';
    json_text::AppendInt(out, positions[i]);
  }
  out += ']';
}

}  // namespace

std::string RolloutStateToJson(const RolloutState& s) {
  // Written as text in the order nlohmann sorts the keys (the bytes one
  // dump of the whole object would give: a unit test holds it to that), so
  // the per-member parts — assignments, wave ids — cost no json values.
  std::string out = "{";
  out.reserve(64 * s.nodes.size() + 24 * s.untargeted.size() + 1024);
  AppendState(out, s, /*full=*/true);
  out += '}';
  return out;
}

std::string RolloutStateHead(const RolloutState& s) {
  std::string head = "{";
  AppendState(head, s, /*full=*/false);
  head += '}';
  return head;
}

RolloutStateParts RolloutStateToParts(const RolloutState& s,
                                      const std::map<std::string, std::string>& chains) {
  using json_text::AppendInt;
  using json_text::AppendKey;
  RolloutStateParts parts;
  parts.head = RolloutStateHead(s);

  const MemberRows rows = MemberIndex(s, chains);
  const std::vector<std::string_view>& ids = rows.ids;
  std::string& out = parts.members;
  out.reserve(32 * ids.size() + 8 * s.untargeted.size() + 1024);
  // Chain texts, each once (a fleet shares a few), and each id's position
  // among them (-1: none known).
  std::vector<std::string_view> texts;
  std::unordered_map<std::string_view, std::size_t> text_at;
  std::string chain_of = "[";
  std::string wave_of = "[";
  std::string previous = "[";
  chain_of.reserve(4 * ids.size());
  wave_of.reserve(3 * ids.size());
  previous.reserve(8 * ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) {
      chain_of += ',';
      wave_of += ',';
      previous += ',';
    }
    if (const std::string* chain = rows.chains[i]; chain != nullptr) {
      const auto [at, added] = text_at.try_emplace(*chain, texts.size());
      if (added) texts.push_back(*chain);
      AppendInt(chain_of, at->second);
    } else {
      chain_of += "-1";
    }
    if (const NodeAssignment* a = rows.assignments[i]; a != nullptr) {
      AppendInt(wave_of, a->wave);
      AppendInt(previous, a->previous_version);
    } else {
      wave_of += "-1";  // not a member (untargeted, or a chain remembered)
      previous += '0';
    }
  }
  out = "{";
  AppendKey(out, "chainOf");
  out += chain_of;
  out += ']';
  AppendKey(out, "chains");
  json_text::AppendStrings(out, texts);
  AppendKey(out, "format");
  AppendInt(out, kFormatApart);
  AppendKey(out, "ids");
  json_text::AppendStrings(out, ids);
  AppendKey(out, "previous");
  out += previous;
  out += ']';
  AppendKey(out, "untargeted");
  AppendPositions(out, rows.untargeted);
  AppendKey(out, "waveOf");
  out += wave_of;
  out += ']';
  AppendKey(out, "waves");
  out += '[';
  for (std::size_t w = 0; w < s.waves.size(); ++w) {
    if (w != 0) out += ',';
    AppendPositions(out, rows.waves[w]);
  }
  out += "]}";
  return parts;
}

std::string VerdictRecordToJson(const VerdictRecord& v) {
  return VerdictJson(v).dump();
}

namespace {

// Reads the keys both formats share; `full`: format 1's per-member keys too.
// Shape problems throw (the callers turn them into one Status).
void ReadState(const Json& j, RolloutState& s, bool full) {
  s.id = j.at("id").get<std::string>();
  s.generation = j.at("generation").get<std::int64_t>();
  auto policy = ParseRolloutPolicy(j.at("policy").dump(), "/policy");
  if (!policy.ok()) throw std::invalid_argument(policy.status().message());
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
        Wave{*kind, ReadScopes(w.at("scopes")),
             full ? w.at("nodes").get<std::vector<std::string>>() : std::vector<std::string>{}});
    s.wave_baselines.push_back(ReadWindow(w.at("baseline")));
  }
  s.current_wave = j.at("currentWave").get<std::size_t>();
  s.wave_started_ms = j.at("waveStartedMs").get<std::int64_t>();
  if (full) {
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
  }
  s.rollback_reason = j.at("rollbackReason").get<std::string>();
  const Json& v = j.at("verdict");
  s.last_verdict = VerdictRecord{ReadVerdict(v.at("verdict")), v.at("gate").get<std::string>(),
                                 v.at("reason").get<std::string>(),
                                 v.at("message").get<std::string>(), ReadFigures(v.at("figures"))};
  s.created_at_ms = j.at("createdAtMs").get<std::int64_t>();
  s.updated_at_ms = j.at("updatedAtMs").get<std::int64_t>();
}

Status CheckFormat(const Json& j, int want, std::string_view what) {
  if (j.at("format").get<int>() == want) return Status::Ok();
  return Status(StatusCode::kInternal, std::string(what) + " has format " + j.at("format").dump() +
                                           ", not " + std::to_string(want));
}

Status CheckWaves(const RolloutState& s) {
  if (s.waves.empty() || s.current_wave >= s.waves.size()) {
    return Status(StatusCode::kInternal, "stored rollout state: current wave out of range");
  }
  return Status::Ok();
}

// The members part of format 2 joined to the state read from its head.
void ReadMembers(const Json& m, RolloutState& s, std::map<std::string, std::string>* chains) {
  const auto ids = m.at("ids").get<std::vector<std::string>>();
  const auto wave_of = m.at("waveOf").get<std::vector<std::int64_t>>();
  const auto previous = m.at("previous").get<std::vector<std::int64_t>>();
  const auto chain_of = m.at("chainOf").get<std::vector<std::int64_t>>();
  const auto texts = m.at("chains").get<std::vector<std::string>>();
  if (wave_of.size() != ids.size() || previous.size() != ids.size() ||
      chain_of.size() != ids.size()) {
    throw std::invalid_argument("members: arrays of unequal length");
  }
  auto id_at = [&](const Json& position) -> const std::string& {
    return ids.at(position.get<std::size_t>());
  };
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0 && !(ids[i - 1] < ids[i])) throw std::invalid_argument("members: ids not sorted");
    if (wave_of[i] >= 0) {
      const auto wave = static_cast<std::size_t>(wave_of[i]);
      if (wave >= s.waves.size()) throw std::out_of_range("node wave " + ids[i]);
      NodeAssignment a{wave, previous[i], 0};
      a.assigned_version = ImpliedAssignment(s, a);
      s.nodes.Set(ids[i], a);  // in id order: appended
    }
    if (chains != nullptr && chain_of[i] >= 0) {
      chains->emplace_hint(chains->end(), ids[i], texts.at(static_cast<std::size_t>(chain_of[i])));
    }
  }
  const Json& lists = m.at("waves");
  if (lists.size() != s.waves.size()) throw std::invalid_argument("members: wave count");
  for (std::size_t w = 0; w < s.waves.size(); ++w) {
    s.waves[w].node_ids.reserve(lists[w].size());
    for (const Json& at : lists[w]) s.waves[w].node_ids.push_back(id_at(at));
  }
  for (const Json& at : m.at("untargeted")) s.untargeted.push_back(id_at(at));
}

}  // namespace

Result<RolloutState> ReadRolloutState(const nlohmann::json& j) {
  if (!j.is_object()) return Status(StatusCode::kInternal, "stored rollout state is not an object");
  RolloutState s;
  try {
    OMNI_RETURN_IF_ERROR(CheckFormat(j, kFormat, "stored rollout state"));
    ReadState(j, s, /*full=*/true);
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string("stored rollout state: ") + e.what());
  }
  OMNI_RETURN_IF_ERROR(CheckWaves(s));
  return s;
}

Result<RolloutState> RolloutStateFromJson(std::string_view json) {
  const Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status(StatusCode::kInternal, "stored rollout state is not JSON");
  return ReadRolloutState(j);
}

Result<RolloutState> ReadRolloutStateParts(const nlohmann::json& head, std::string_view members,
                                           std::map<std::string, std::string>* chains) {
  const Json m = Json::parse(members, nullptr, /*allow_exceptions=*/false);
  if (!head.is_object() || m.is_discarded() || !m.is_object()) {
    return Status(StatusCode::kInternal, "stored rollout state is not two JSON objects");
  }
  RolloutState s;
  std::map<std::string, std::string> read_chains;
  try {
    OMNI_RETURN_IF_ERROR(CheckFormat(head, kFormatApart, "stored rollout state"));
    OMNI_RETURN_IF_ERROR(CheckFormat(m, kFormatApart, "stored rollout members"));
    ReadState(head, s, /*full=*/false);
    OMNI_RETURN_IF_ERROR(CheckWaves(s));
    ReadMembers(m, s, chains != nullptr ? &read_chains : nullptr);
    for (const auto& [id, version] : head.at("assignedApart").items()) {
      const auto it = s.nodes.find(id);
      if (it == s.nodes.end()) throw std::out_of_range("assignment of a non-member " + id);
      it->second.assigned_version = version.get<std::int64_t>();
    }
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string("stored rollout state: ") + e.what());
  }
  if (chains != nullptr) *chains = std::move(read_chains);
  return s;
}

Result<RolloutState> RolloutStateFromParts(std::string_view head, std::string_view members,
                                           std::map<std::string, std::string>* chains) {
  const Json h = Json::parse(head, nullptr, /*allow_exceptions=*/false);
  if (h.is_discarded()) return Status(StatusCode::kInternal, "stored rollout state is not JSON");
  return ReadRolloutStateParts(h, members, chains);
}

bool IsMembersApartHead(const nlohmann::json& state) {
  if (!state.is_object()) return false;
  const auto format = state.find("format");
  return format != state.end() && format->is_number_integer() && *format == kFormatApart;
}

Result<RolloutState> RolloutStateOfRecord(std::string_view state_json,
                                          std::string_view members_json) {
  const Json j = Json::parse(state_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status(StatusCode::kInternal, "stored rollout is not JSON");
  const auto state = j.is_object() ? j.find("state") : j.end();
  if (state == j.end()) return ReadRolloutState(j);  // format 1, the bare state
  if (!members_json.empty() && IsMembersApartHead(*state)) {
    return ReadRolloutStateParts(*state, members_json, nullptr);
  }
  return ReadRolloutState(*state);  // format 1 inside a rollout record
}

}  // namespace omnirelay::cp
