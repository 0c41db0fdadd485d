// `omnirctl rollout start|status|rollback|pause|resume|promote|abort`: waves
// of a config version (canary percent -> named scopes -> global; DESIGN.md
// §4) through RolloutService. A server without rollouts answers
// UNIMPLEMENTED, which these commands report as such (exit 1).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.h"
#include "exit_codes.h"
#include "omnirelay/api/json.h"
#include "omnirelay/config/scope.h"

namespace omnirelay::cli {
namespace {

using Json = nlohmann::json;

// "v12" or "12" -> 12.
CLI::Validator VersionValidator() {
  return CLI::Validator(
      [](std::string& s) {
        std::string digits = !s.empty() && s[0] == 'v' ? s.substr(1) : s;
        if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
            digits.size() > 18 || std::stoll(digits) <= 0) {
          return std::string("a version is vN or N, N > 0");
        }
        s = digits;
        return std::string();
      },
      "vN");
}

int Unsupported(Session& s, const Status& status) {
  if (status.code() != StatusCode::kUnimplemented) return s.out.Fail(status);
  return s.out.Fail(Status(StatusCode::kUnimplemented,
                           "this control plane does not offer rollouts (RolloutService is not "
                           "served); upgrade the server or publish with `config set`"));
}

// "canary:5", "scopes:region:us-east,cell:use1-a", "global".
Result<WaveInfo> ParseWave(const std::string& text) {
  WaveInfo w;
  const auto colon = text.find(':');
  w.kind = text.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
  auto bad = [&](const std::string& why) {
    return Status(StatusCode::kInvalidArgument, "--wave " + text + ": " + why);
  };
  if (w.kind == "canary") {
    char* end = nullptr;
    w.canary_percent = std::strtod(rest.c_str(), &end);
    if (rest.empty() || *end != '\0' || w.canary_percent <= 0 || w.canary_percent > 100) {
      return bad("canary takes a percent in (0, 100], e.g. canary:5");
    }
  } else if (w.kind == "scopes") {
    w.scopes = SplitCommaList(rest);
    if (w.scopes.empty() || std::find(w.scopes.begin(), w.scopes.end(), "") != w.scopes.end()) {
      return bad("scopes takes a list, e.g. scopes:region:us-east,cell:c1");
    }
  } else if (w.kind == "global") {
    if (!rest.empty()) return bad("global takes no argument");
  } else {
    return bad("a wave is canary:PERCENT, scopes:SCOPE[,SCOPE...] or global");
  }
  return w;
}

std::string WaveName(const WaveInfo& w) {
  if (w.kind == "canary") {
    std::string p = std::to_string(w.canary_percent);
    p.erase(p.find_last_not_of('0') + 1);
    if (p.back() == '.') p.pop_back();
    return "canary " + p + "%";
  }
  if (w.kind == "scopes") {
    std::string out;
    for (const auto& sc : w.scopes) out += (out.empty() ? "" : ",") + sc;
    return out;
  }
  return w.kind;
}

Json RolloutJson(const RolloutInfo& r) {
  Json waves = Json::array();
  for (const auto& w : r.waves) {
    waves.push_back({{"kind", w.kind},
                     {"canaryPercent", w.canary_percent},
                     {"scopes", w.scopes},
                     {"bakeSeconds", w.bake_seconds},
                     {"state", w.state},
                     {"nodesTargeted", w.nodes_targeted},
                     {"nodesAcked", w.nodes_acked},
                     {"nodesNacked", w.nodes_nacked},
                     {"gateMessage", w.gate_message}});
  }
  Json blocked = Json::array();
  for (const auto& b : r.blocked_nodes) blocked.push_back(api::ToJson(b));
  Json out = {{"id", r.id},
              {"version", r.version},
              {"previousVersion", r.previous_version},
              {"state", r.state},
              {"currentWave", r.current_wave},
              {"waves", waves},
              {"author", r.author},
              {"dryRun", r.dry_run},
              {"blockedNodes", blocked}};
  // As in the API's JSON, a time that is not there is left out.
  if (r.created_at_ms != 0) out["createdAt"] = FormatRfc3339Ms(r.created_at_ms);
  if (r.updated_at_ms != 0) out["updatedAt"] = FormatRfc3339Ms(r.updated_at_ms);
  return out;
}

void PrintRollout(const RolloutInfo& r, const Output& out) {
  const std::int64_t now = NowUnixMs();
  std::cout << "rollout " << r.id << ": v" << r.version << " (from v" << r.previous_version << ") "
            << out.Paint(r.state, Colour::kBold) << ", updated "
            << RelativeTime(r.updated_at_ms, now) << "\n";
  Table t({"#", "WAVE", "STATE", "ACKED", "NACKED", "BAKE", "GATE"});
  for (std::size_t i = 0; i < r.waves.size(); ++i) {
    const WaveInfo& w = r.waves[i];
    const Colour c = w.state == "passed"     ? Colour::kGreen
                     : w.state == "breached" ? Colour::kRed
                                             : Colour::kNone;
    t.Row({std::to_string(i + 1) + (static_cast<int>(i) == r.current_wave ? "*" : ""),
           WaveName(w),
           {w.state, c},
           std::to_string(w.nodes_acked) + "/" + std::to_string(w.nodes_targeted),
           std::to_string(w.nodes_nacked),
           w.bake_until_ms > now ? "until " + RelativeTime(w.bake_until_ms, now) : "-",
           w.gate_message.empty() ? "-" : w.gate_message});
  }
  t.Print(std::cout, out);
  for (const auto& b : r.blocked_nodes) {
    std::cout << out.Paint("blocked: ", Colour::kRed) << b.node_id << " (" << b.scope_chain
              << "): " << b.reason << "\n";
  }
}

bool Finished(const std::string& state) {
  return state == "succeeded" || state == "rolled_back" || state == "aborted" || state == "failed";
}

struct StartArgs {
  std::int64_t version = 0;
  std::vector<std::string> waves;
  std::string bake;
  double min_ack_ratio = 0;
  std::string reason;
  bool dry_run = false;
};

int RunStart(Session& s, const StartArgs& a) {
  StartRolloutArgs args;
  args.version = a.version;
  args.dry_run = a.dry_run;
  args.reason = a.reason;
  std::int64_t bake_seconds = 0;
  if (!a.bake.empty()) {
    auto ms = api::ParseDurationMs(a.bake);
    if (!ms.ok()) return s.out.Fail(ms.status());
    bake_seconds = *ms / 1000;
  }
  for (const auto& text : a.waves) {
    auto wave = ParseWave(text);
    if (!wave.ok()) return s.out.Fail(wave.status());
    wave->bake_seconds = bake_seconds;
    wave->min_ack_ratio = a.min_ack_ratio;
    args.waves.push_back(std::move(wave).value());
  }
  auto r = s.client.StartRollout(args);
  if (!r.ok()) return Unsupported(s, r.status());
  if (s.out.json()) {
    std::cout << RolloutJson(*r).dump() << "\n";
  } else {
    PrintRollout(*r, s.out);
  }
  return r->dry_run && !r->blocked_nodes.empty() ? kExitInvalid : kExitOk;
}

struct StatusArgs {
  std::int64_t version = 0;
  std::string id;
  bool watch = false;
  std::string interval = "2s";
};

int RunStatus(Session& s, const StatusArgs& a) {
  auto interval = api::ParseDurationMs(a.interval);
  if (!interval.ok() || *interval <= 0) {
    return s.out.Fail(Status(StatusCode::kInvalidArgument, "--interval must be a duration > 0"));
  }
  std::string last;
  while (true) {
    auto rollouts = s.client.RolloutStatus(a.id, a.version);
    if (!rollouts.ok()) return Unsupported(s, rollouts.status());
    if (!a.watch) {
      if (s.out.json()) {
        Json list = Json::array();
        for (const auto& r : *rollouts) list.push_back(RolloutJson(r));
        std::cout << Json{{"rollouts", list}}.dump() << "\n";
      } else if (rollouts->empty()) {
        std::cout << "no rollouts\n";
      } else {
        for (const auto& r : *rollouts) PrintRollout(r, s.out);
      }
      return kExitOk;
    }
    if (rollouts->empty()) {
      return s.out.Fail(Status(StatusCode::kNotFound, "no rollout to watch"));
    }
    // Watch the newest: print it whenever it changes, until it ends.
    const RolloutInfo& r = rollouts->front();
    const std::string now_json = RolloutJson(r).dump();
    if (now_json != last) {
      last = now_json;
      if (s.out.json()) {
        std::cout << now_json << std::endl;
      } else {
        std::cout << "[" << FormatRfc3339Ms(NowUnixMs()) << "]\n";
        PrintRollout(r, s.out);
        std::cout << std::flush;
      }
    }
    if (Finished(r.state)) return r.state == "succeeded" ? kExitOk : kExitError;
    std::this_thread::sleep_for(std::chrono::milliseconds(*interval));  // poll interval
  }
}

struct ActionArgs {
  std::int64_t version = 0;
  std::string id;
  bool dry_run = false;
};

int RunAction(Session& s, RolloutAction action, const ActionArgs& a) {
  auto r = s.client.ActOnRollout(action, a.id, a.version, a.dry_run);
  if (!r.ok()) return Unsupported(s, r.status());
  if (s.out.json()) {
    std::cout << RolloutJson(*r).dump() << "\n";
  } else {
    PrintRollout(*r, s.out);
  }
  return kExitOk;
}

}  // namespace

void AddRolloutCommands(CLI::App& app, Cli& cli) {
  CLI::App* rollout =
      app.add_subcommand("rollout", "Roll a version out in waves: canary % -> scopes -> global");
  rollout->require_subcommand(1);

  auto start = std::make_shared<StartArgs>();
  CLI::App* cmd = rollout->add_subcommand("start", "Start rolling out a version");
  cmd->add_option("--version", start->version, "Store revision to roll out (vN)")
      ->required()
      ->transform(VersionValidator());
  cmd->add_option("--wave", start->waves,
                  "A wave, in order (repeatable): canary:PERCENT, scopes:S1,S2, global "
                  "(default: the server's plan)");
  cmd->add_option("--bake", start->bake, "Bake time per wave, e.g. 10m (default: server's)");
  cmd->add_option("--min-ack-ratio", start->min_ack_ratio, "ACK ratio a wave needs (0-1)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--reason", start->reason, "Why (recorded in the audit log)");
  cmd->add_flag("--dry-run", start->dry_run, "Show the waves and blocking nodes; start nothing");
  cmd->callback(
      [&cli, start] { cli.RunWithServer([&](Session& s) { return RunStart(s, *start); }); });

  auto status = std::make_shared<StatusArgs>();
  cmd = rollout->add_subcommand("status", "Show rollouts; --watch follows one until it ends");
  cmd->add_option("--version", status->version, "The rollout of this version")
      ->transform(VersionValidator());
  cmd->add_option("--id", status->id, "The rollout with this id");
  cmd->add_flag("-w,--watch", status->watch,
                "Print progress until the rollout ends (exit 0 succeeded, 1 otherwise)");
  cmd->add_option("--interval", status->interval, "Watch poll interval")->capture_default_str();
  cmd->callback(
      [&cli, status] { cli.RunWithServer([&](Session& s) { return RunStatus(s, *status); }); });

  struct Action {
    const char* name;
    const char* help;
    RolloutAction action;
    bool version_required;
  };
  const Action actions[] = {
      {"rollback", "Publish the previous version again and end the rollout",
       RolloutAction::kRollback, true},
      {"pause", "Hold the rollout at its current wave", RolloutAction::kPause, false},
      {"resume", "Continue a paused rollout", RolloutAction::kResume, false},
      {"promote", "Skip the current wave's remaining bake time", RolloutAction::kPromote, false},
      {"abort", "Stop the rollout where it is", RolloutAction::kAbort, false},
  };
  for (const Action& act : actions) {
    auto args = std::make_shared<ActionArgs>();
    cmd = rollout->add_subcommand(act.name, act.help);
    CLI::Option* v = cmd->add_option("--version", args->version, "The rollout of this version (vN)")
                         ->transform(VersionValidator());
    if (act.version_required) {
      v->required();
    } else {
      cmd->add_option("--id", args->id, "The rollout with this id (default: the active one)");
    }
    cmd->add_flag("--dry-run", args->dry_run, "Show what would happen; change nothing");
    const RolloutAction action = act.action;
    cmd->callback([&cli, args, action] {
      cli.RunWithServer([&](Session& s) { return RunAction(s, action, *args); });
    });
  }
  AddFreezeCommands(*rollout, cli);
}

}  // namespace omnirelay::cli
