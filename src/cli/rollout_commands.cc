// `omnirctl rollout start|status|promote|pause|resume|rollback|abort`: a
// change set of layers rolled out in waves (canary percent -> named scopes ->
// the rest; docs/knowledge-base/rollouts.md) through RolloutService. `-o json`
// prints the rollout exactly as REST answers it. A server without rollouts
// answers UNIMPLEMENTED, which these commands report as such (exit 1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cli.h"
#include "documents.h"
#include "exit_codes.h"
#include "omnirelay/config/decode.h"

namespace omnirelay::cli {
namespace {

using Json = nlohmann::json;

int Unsupported(Session& s, const Status& status) {
  if (status.code() != StatusCode::kUnimplemented) return s.out.Fail(status);
  return s.out.Fail(Status(StatusCode::kUnimplemented,
                           "this control plane does not offer rollouts (RolloutService is not "
                           "served); upgrade the server or publish with `config set`"));
}

bool Finished(const std::string& state) {
  return state == "succeeded" || state == "rolled_back" || state == "aborted";
}

// The rollout as REST answers it (a start's dry run says so, as REST does).
Json RolloutJson(const RolloutInfo& r) {
  Json j = Json::parse(r.json, nullptr, false);
  if (j.is_discarded()) j = Json::object();
  if (r.dry_run) j["dryRun"] = true;
  return j;
}

std::string Version(std::int64_t v) {
  return "v" + std::to_string(v);
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out.empty() ? "-" : out;
}

Colour StateColour(const std::string& state) {
  if (state == "succeeded" || state == "passed") return Colour::kGreen;
  if (state == "rolled_back" || state == "rolling_back" || state == "breached") return Colour::kRed;
  if (state == "paused" || state == "awaiting_promote" || state == "aborted") {
    return Colour::kYellow;
  }
  return Colour::kNone;
}

// "[#####-----]": `done` of `total`, ten cells.
std::string Bar(std::int64_t done, std::int64_t total) {
  const std::int64_t cells = total <= 0 ? 0 : std::min<std::int64_t>(10, done * 10 / total);
  return "[" + std::string(static_cast<std::size_t>(cells), '#') +
         std::string(static_cast<std::size_t>(10 - cells), '-') + "]";
}

// A wave's count from the rollout's JSON ("-" when absent: a dry run).
std::string Count(const Json& j, std::size_t wave, const char* key) {
  if (!j.is_object() || !j.contains("waves") || wave >= j["waves"].size()) return "-";
  const Json& w = j["waves"][wave];
  return w.contains(key) && w[key].is_number_integer() ? std::to_string(w[key].get<std::int64_t>())
                                                       : "-";
}

void PrintRollout(std::ostream& os, const RolloutInfo& r, const Output& out) {
  std::vector<std::string> scopes;
  const Json j = Json::parse(r.json, nullptr, false);
  if (j.is_object() && j.contains("scopes")) scopes = j["scopes"].get<std::vector<std::string>>();
  os << "rollout " << r.id << ": " << out.Paint(r.state, StateColour(r.state)) << ", "
     << Version(r.version) << " (from " << Version(r.previous_version) << ") of " << Joined(scopes)
     << (r.dry_run ? " (dry run: nothing committed)" : "") << "\n";
  os << "by " << r.author << (r.reason.empty() ? "" : " (" + r.reason + ")") << ", updated "
     << RelativeTime(r.updated_at_ms, NowUnixMs()) << "\n";
  if (j.is_object() && j.value("shadowVersion", std::int64_t{0}) > 0) {
    os << "shadow-first: wave 1 gives every node "
       << Version(j["shadowVersion"].get<std::int64_t>())
       << " (the old routing, mirroring), the later waves " << Version(r.version) << "\n";
  }
  Table t({"WAVE", "KIND", "SCOPES", "NODES", "ASSIGNED NEW", "ACKED", "NACKED", "DRIFTING",
           "OFFLINE", "PROGRESS", "STATE"});
  for (const auto& w : r.waves) {
    const auto i = static_cast<std::size_t>(w.index);
    const std::string acked = Count(j, i, "acked");
    const std::string nacked = Count(j, i, "nacked");
    const std::string drifting = Count(j, i, "drifting");
    t.Row({std::to_string(w.index + 1) + (w.index == r.current_wave ? "*" : ""), w.kind,
           Joined(w.scopes), std::to_string(w.nodes), std::to_string(w.assigned_new), acked,
           Table::Cell(nacked, nacked != "0" && nacked != "-" ? Colour::kRed : Colour::kNone),
           Table::Cell(drifting,
                       drifting != "0" && drifting != "-" ? Colour::kYellow : Colour::kNone),
           Count(j, i, "offline"), Bar(acked == "-" ? 0 : std::stoll(acked), w.nodes),
           Table::Cell(w.state, StateColour(w.state))});
  }
  t.Print(os, out);
  // The last verdict (the gate that holds) means something only while it runs.
  if (!r.gate_message.empty() && !Finished(r.state) && r.state != "rolling_back") {
    os << "gate: " << r.gate_message << "\n";
  }
  if (!Finished(r.state) && j.is_object() && j.contains("gate")) {
    const Json figures = j["gate"].value("figures", Json::object());
    const Json d = figures.value("discovery", Json::object());
    const std::string state = d.value("state", "");
    if (state == "none") {
      os << "meshkit: not connected (no controlplane --meshkit): cluster_health, bridge and "
            "feed-generation gates skipped\n";
    } else if (state == "waiting") {
      os << "meshkit: connected, no endpoints received yet\n";
    } else if (state == "connected") {
      os << "meshkit: feed " << d.value("feedId", "") << " at generation "
         << d.value("feedGeneration", std::int64_t{0});
      std::string clusters;
      for (const Json& c : d.value("clusters", Json::array())) {
        clusters += (clusters.empty() ? "" : ", ") + c.value("cluster", "") + " " +
                    std::to_string(c.value("healthy", std::int64_t{0})) + "/" +
                    std::to_string(c.value("total", std::int64_t{0}));
      }
      os << "; healthy endpoints where the wave is: " << (clusters.empty() ? "none" : clusters);
      const auto uncovered = d.value("uncovered", std::vector<std::string>{});
      if (!uncovered.empty()) os << "; not in this feed (not judged): " << Joined(uncovered);
      const auto down = d.value("bridgesDown", std::vector<std::string>{});
      if (!down.empty()) os << "; bridges not up: " << Joined(down);
      os << "\n";
    }
  }
  if (r.rollback_version != 0) {
    os << "rolled back (" << r.rollback_reason << "): the old contents as "
       << Version(r.rollback_version) << "\n";
  }
  if (r.state == "awaiting_promote") {
    os << "waiting for `omnirctl rollout promote " << r.id << "`\n";
  }
  if (!r.blocked_nodes.empty()) {
    os << out.Paint(std::to_string(r.blocked_nodes.size()) +
                        " node(s) would refuse it (a start is refused until they "
                        "advertise what they lack):",
                    Colour::kRed)
       << "\n";
    Table blocked({"NODE", "SCOPE CHAIN", "MISSING"});
    for (const auto& b : r.blocked_nodes) {
      blocked.Row({b.node_id, b.scope_chain, Joined(b.missing)});
    }
    blocked.Print(os, out);
  }
}

// `rollout status` without an id: one line per rollout.
void PrintRollouts(const std::vector<RolloutInfo>& rollouts, const Output& out) {
  if (rollouts.empty()) {
    std::cout << "no rollouts\n";
    return;
  }
  const std::int64_t now = NowUnixMs();
  Table t({"ID", "STATE", "VERSION", "WAVE", "AUTHOR", "UPDATED", "REASON"});
  for (const auto& r : rollouts) {
    t.Row({r.id, Table::Cell(r.state, StateColour(r.state)), Version(r.version),
           std::to_string(r.current_wave + 1) + "/" + std::to_string(r.waves.size()), r.author,
           RelativeTime(r.updated_at_ms, now), r.reason.empty() ? "-" : r.reason});
  }
  t.Print(std::cout, out);
}

// A start's dry run that names nodes which would refuse the change exits 3,
// as `config set --dry-run` does with blocked nodes.
int PrintOne(Session& s, const Result<RolloutInfo>& r) {
  if (!r.ok()) return Unsupported(s, r.status());
  if (s.out.json()) {
    std::cout << RolloutJson(*r).dump() << "\n";
  } else {
    PrintRollout(std::cout, *r, s.out);
  }
  return r->dry_run && !r->blocked_nodes.empty() ? kExitInvalid : kExitOk;
}

Status BadFile(const std::string& file, const std::string& path, DiagCode code,
               const std::string& why) {
  return Status(StatusCode::kInvalid, file + ": " + why, {Diagnostic{path, code, why}});
}

// A layer file: its scope is its metadata.scope, as for POST /v1/rollouts.
Result<LayerChangeArg> ReadLayer(const std::string& file) {
  auto text = ReadInput(file, DecodeOptions{}.max_bytes);
  if (!text.ok()) return text.status();
  const Json doc = Json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return BadFile(file, "", DiagCode::kParseError, "not a JSON object (a ConfigLayer)");
  }
  if (!doc.contains("metadata") || !doc["metadata"].is_object() ||
      !doc["metadata"].contains("scope") || !doc["metadata"]["scope"].is_string()) {
    return BadFile(file, "/metadata/scope", DiagCode::kMissingField,
                   "a layer names its scope in metadata.scope");
  }
  return LayerChangeArg{doc["metadata"]["scope"].get<std::string>(), std::move(text).value()};
}

// The rollout block: the policy file, then the flags over it.
Result<std::string> PolicyJson(const RolloutStartOptions& a) {
  Json policy = Json::object();
  if (!a.policy_file.empty()) {
    auto text = ReadInput(a.policy_file, DecodeOptions{}.max_bytes);
    if (!text.ok()) return text.status();
    policy = Json::parse(*text, nullptr, false);
    if (policy.is_discarded() || !policy.is_object()) {
      return BadFile(a.policy_file, "", DiagCode::kParseError,
                     "not a JSON object (the rollout block, e.g. {\"canaryPercent\": 5})");
    }
  }
  if (a.canary >= 0) policy["canaryPercent"] = a.canary;
  if (a.shadow_first >= 0) policy["shadowFirstPercent"] = a.shadow_first;
  if (!a.bake.empty()) {
    auto ms = api::ParseDurationMs(a.bake);
    if (!ms.ok()) return Status(StatusCode::kInvalidArgument, "--bake: " + ms.status().message());
    policy["bakeMs"] = *ms;
  }
  if (a.manual) policy["promotion"] = "manual";
  return policy.empty() ? std::string() : policy.dump();
}

}  // namespace

int RunRolloutStart(Session& s, const RolloutStartOptions& a) {
  if (a.files.empty() && a.deletes.empty()) {
    return s.out.Fail(Status(StatusCode::kInvalidArgument,
                             "a rollout needs a change: -f LAYER.json or --delete SCOPE"));
  }
  StartRolloutArgs args;
  for (const auto& file : a.files) {
    auto layer = ReadLayer(file);
    if (!layer.ok()) return s.out.Fail(layer.status());
    if (!a.expected_scope.empty() && layer->scope != a.expected_scope) {
      return s.out.Fail(BadFile(
          file, "/metadata/scope", DiagCode::kInvalidScope,
          "metadata.scope is \"" + layer->scope + "\", not --scope \"" + a.expected_scope + "\""));
    }
    args.changes.push_back(std::move(layer).value());
  }
  for (const auto& scope : a.deletes) args.changes.push_back({scope, std::nullopt});
  auto policy = PolicyJson(a);
  if (!policy.ok()) return s.out.Fail(policy.status());
  args.policy_json = std::move(policy).value();
  args.dry_run = a.dry_run;
  args.confirm = a.confirm;
  args.allow_large_change = a.allow_large_change;
  args.reason = a.reason;
  return PrintOne(s, s.client.StartRollout(args));
}

void AddRolloutStartFlags(CLI::App& cmd, RolloutStartOptions& start) {
  cmd.add_option("--canary", start.canary,
                 "Percent of the targeted nodes in the canary wave (0 = none; default 5)")
      ->check(CLI::Range(0.0, 100.0));
  cmd.add_option("--shadow-first", start.shadow_first,
                 "Percent of each changed route's requests mirrored to the cluster it moves to, "
                 "in a first wave on every node before the cut-over (0 = none, the default)")
      ->check(CLI::Range(0.0, 100.0));
  cmd.add_option("--bake", start.bake, "Minimum time per wave, e.g. 10m (default 5m)");
  cmd.add_flag("--manual", start.manual,
               "A wave whose gates pass waits for `rollout promote` (promotion: manual)");
  cmd.add_option("--reason", start.reason, "Why (kept with the rollout and in the audit log)");
}

namespace {

struct StatusArgs {
  std::string id;
  bool watch = false;
  std::string interval = "2s";
};

// Prints the rollout whenever it changes until it ends: exit 0 succeeded, 1 otherwise.
// On a terminal the display is redrawn in place (the previous one erased);
// otherwise each change is appended with its time, for logs.
int Watch(Session& s, std::string id, std::int64_t interval_ms) {
  const bool tty = ::isatty(1) == 1;
  std::string last;
  std::size_t drawn_lines = 0;
  while (true) {
    auto rollouts = s.client.RolloutStatus(id);
    if (!rollouts.ok()) return Unsupported(s, rollouts.status());
    if (rollouts->empty()) return s.out.Fail(Status(StatusCode::kNotFound, "no rollout to watch"));
    const RolloutInfo& r = rollouts->front();  // by id, or the newest
    id = r.id;
    if (r.json != last) {
      last = r.json;
      if (s.out.json()) {
        std::cout << RolloutJson(r).dump() << std::endl;
      } else {
        std::ostringstream display;
        display << "[" << FormatRfc3339Ms(NowUnixMs()) << "]\n";
        PrintRollout(display, r, s.out);
        const std::string text = display.str();
        if (tty && drawn_lines > 0) std::cout << "\x1b[" << drawn_lines << "F\x1b[J";
        std::cout << text << std::flush;
        drawn_lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
      }
    }
    if (Finished(r.state)) return r.state == "succeeded" ? kExitOk : kExitError;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));  // the poll interval
  }
}

int RunStatus(Session& s, const StatusArgs& a) {
  auto interval = api::ParseDurationMs(a.interval);
  if (!interval.ok() || *interval <= 0) {
    return s.out.Fail(Status(StatusCode::kInvalidArgument, "--interval must be a duration > 0"));
  }
  if (a.watch) return Watch(s, a.id, *interval);
  auto rollouts = s.client.RolloutStatus(a.id);
  if (!rollouts.ok()) return Unsupported(s, rollouts.status());
  if (!a.id.empty()) {
    if (rollouts->empty()) return s.out.Fail(Status(StatusCode::kNotFound, "no rollout " + a.id));
    return PrintOne(s, rollouts->front());
  }
  if (s.out.json()) {  // GET /v1/rollouts
    Json list = Json::array();
    for (const auto& r : *rollouts) list.push_back(RolloutJson(r));
    std::cout << Json{{"rollouts", list}}.dump() << "\n";
  } else {
    PrintRollouts(*rollouts, s.out);
  }
  return kExitOk;
}

struct ActionArgs {
  std::string id;
  std::string reason;
};

}  // namespace

void AddRolloutCommands(CLI::App& app, Cli& cli) {
  CLI::App* rollout = app.add_subcommand(
      "rollout", "Roll a change set of layers out in waves: canary % -> scopes -> the rest");
  rollout->require_subcommand(1);

  auto start = std::make_shared<RolloutStartOptions>();
  CLI::App* cmd = rollout->add_subcommand(
      "start",
      "Commit layers (and deletes) as a rollout: the first wave gets them now, the next ones "
      "when the gates pass");
  cmd->add_option("-f,--file", start->files,
                  "A ConfigLayer file ('-' = stdin; repeatable); its scope is metadata.scope");
  cmd->add_option("--delete", start->deletes, "Delete this scope's layer (repeatable)")
      ->check(ScopeValidator());
  AddRolloutStartFlags(*cmd, *start);
  cmd->add_option("--policy", start->policy_file,
                  "The rollout block as JSON (rollouts.md Policy); the flags above override it");
  cmd->add_flag("--dry-run", start->dry_run,
                "Check the change set and plan the waves, naming the nodes that would refuse "
                "it; commit nothing");
  cmd->add_flag("--confirm", start->confirm, "Allow destructive changes (as config set)");
  cmd->add_flag("--allow-large-change", start->allow_large_change,
                "Write layers whose diff is over the server's --max-change-entries (audited)");
  cmd->callback(
      [&cli, start] { cli.RunWithServer([&](Session& s) { return RunRolloutStart(s, *start); }); });

  auto status = std::make_shared<StatusArgs>();
  cmd = rollout->add_subcommand(
      "status", "Show one rollout, or list them all (newest first); --watch follows one");
  cmd->add_option("id", status->id, "The rollout's id (ro-...); none = all");
  cmd->add_flag("-w,--watch", status->watch,
                "Print the rollout (the newest without ID) whenever it changes, until it ends "
                "(exit 0 succeeded, 1 otherwise)");
  cmd->add_option("--interval", status->interval, "Watch poll interval")->capture_default_str();
  cmd->callback(
      [&cli, status] { cli.RunWithServer([&](Session& s) { return RunStatus(s, *status); }); });

  struct Action {
    const char* name;
    const char* help;
    RolloutAction action;
  };
  const Action actions[] = {
      {"promote", "Move to the next wave now, whatever the gates hold", RolloutAction::kPromote},
      {"pause", "Hold the rollout at its wave (rollback gates still apply)", RolloutAction::kPause},
      {"resume", "Continue a paused rollout", RolloutAction::kResume},
      {"rollback", "Roll back now: the old contents as new revisions, every node moved to them",
       RolloutAction::kRollback},
      {"abort", "End the rollout where it is; nodes keep what they are assigned",
       RolloutAction::kAbort},
  };
  for (const Action& act : actions) {
    auto args = std::make_shared<ActionArgs>();
    cmd = rollout->add_subcommand(act.name, act.help);
    cmd->add_option("id", args->id, "The rollout's id (ro-...)")->required();
    cmd->add_option("--reason", args->reason, "Why (recorded in the audit log)");
    const RolloutAction action = act.action;
    cmd->callback([&cli, args, action] {
      cli.RunWithServer([&](Session& s) {
        return PrintOne(s, s.client.ActOnRollout(action, args->id, args->reason));
      });
    });
  }
  AddFreezeCommands(*rollout, cli);
}

}  // namespace omnirelay::cli
