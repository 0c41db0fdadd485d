// `omnirctl audit tail`, `omnirctl status`, `omnirctl nodes list`: what the
// control plane did, where it stands, and which nodes run what.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "exit_codes.h"
#include "omnirelay/api/json.h"

namespace omnirelay::cli {
namespace {

using Json = nlohmann::json;

struct AuditArgs {
  std::string since;  // "" = 15m, or now with --follow
  bool follow = false;
  AuditFilter filter;
};

Colour OutcomeColour(const std::string& outcome) {
  if (outcome == "ok") return Colour::kGreen;
  if (outcome == "unauthenticated" || outcome == "permission_denied") return Colour::kRed;
  return Colour::kYellow;
}

// A table cell keeps long diff summaries to one readable width; -o json
// carries them whole.
std::string Shortened(const std::string& text) {
  constexpr std::size_t kMax = 48;
  if (text.size() <= kMax) return text;
  std::size_t cut = kMax - 4;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return text.substr(0, cut) + " ...";
}

// `audit verify`: exit 0 when the chain holds, 3 (validation failed) at a break.
int RunAuditVerify(Session& s) {
  auto report = s.client.VerifyAudit();
  if (!report.ok()) return s.out.Fail(report.status());
  const api::AuditChainReport& r = *report;
  if (s.out.json()) {
    std::cout << api::ToJson(r).dump() << "\n";
  } else {
    std::cout << "audit chain: " << (r.ok ? "intact" : "BROKEN") << ", " << r.entries << " entries";
    if (r.before_chain > 0) std::cout << " (" << r.before_chain << " before the chain began)";
    std::cout << "\n";
    if (r.anchor_id != 0) {
      std::cout << "pruned:      entries up to " << r.anchor_id
                << " (retention); the chain continues from its hash\n";
    }
    if (r.head_id != 0) {
      std::cout << "head:        entry " << r.head_id
                << (r.head_hash.empty() ? "" : " " + r.head_hash) << "\n";
    }
    if (r.break_id != 0) {
      std::cout << "first break: entry " << r.break_id << ": " << r.break_reason << "\n";
    }
  }
  return r.ok ? 0 : kExitInvalid;
}

int RunAudit(Session& s, const AuditArgs& a) {
  // --follow starts now (what happens from here on) unless --since says
  // otherwise; a one-off tail looks back 15 minutes.
  const std::int64_t now = NowUnixMs();
  std::int64_t since_ms = now;
  if (!a.since.empty() || !a.follow) {
    auto window = api::ParseDurationMs(a.since.empty() ? "15m" : a.since);
    if (!window.ok()) return s.out.Fail(window.status());
    since_ms = now - *window;
  }
  const std::vector<std::string> headers = {"TIME",     "PRINCIPAL", "ACTION", "SCOPE",
                                            "REVISION", "OUTCOME",   "SUMMARY"};
  auto row = [&](const AuditEntry& e) -> std::vector<Table::Cell> {
    return {a.follow ? FormatRfc3339Ms(e.time_ms) : RelativeTime(e.time_ms, now),
            e.principal.empty() ? "-" : e.principal,
            e.action,
            e.scope.empty() ? "-" : e.scope,
            e.revision == 0 ? "-" : std::to_string(e.revision),
            {e.outcome, OutcomeColour(e.outcome)},
            Shortened(e.summary)};
  };
  if (a.follow) {
    // Streamed: one line (or one JSON object) per entry as it arrives.
    if (!s.out.json()) {
      std::cerr << "following the audit log since " << FormatRfc3339Ms(since_ms)
                << " (Ctrl-C to stop)\n";
    }
    Status st = s.client.Audit(since_ms, true, a.filter, [&](const AuditEntry& e) {
      if (s.out.json()) {
        std::cout << api::ToJson(e).dump() << std::endl;
      } else {
        std::string line;
        for (const auto& cell : row(e)) line += (line.empty() ? "" : "  ") + cell.text;
        std::cout << line << std::endl;
      }
      return true;
    });
    return st.ok() ? kExitOk : s.out.Fail(st);
  }
  std::vector<AuditEntry> entries;
  Status st = s.client.Audit(since_ms, false, a.filter, [&](const AuditEntry& e) {
    entries.push_back(e);
    return true;
  });
  if (!st.ok()) return s.out.Fail(st);
  if (s.out.json()) {
    Json out = Json::array();
    for (const auto& e : entries) out.push_back(api::ToJson(e));
    std::cout << Json{{"entries", out}}.dump() << "\n";
    return kExitOk;
  }
  Table t(headers);
  for (const auto& e : entries) t.Row(row(e));
  t.Print(std::cout, s.out);
  return kExitOk;
}

struct NodesArgs {
  bool drift_only = false;
  std::string state;  // "" = every state
};

Colour StateColour(const std::string& state) {
  if (state == "current") return Colour::kGreen;
  if (state == "updating" || state == "offline") return Colour::kYellow;
  return Colour::kRed;
}

int RunNodes(Session& s, const NodesArgs& args) {
  auto nodes = s.client.ListNodes();
  if (!nodes.ok()) return s.out.Fail(nodes.status());
  std::vector<Node> shown;
  for (auto& n : *nodes) {
    if (args.drift_only && !n.drift()) continue;
    if (!args.state.empty() && n.state != args.state) continue;
    shown.push_back(std::move(n));
  }
  if (s.out.json()) {
    Json out = Json::array();
    for (const auto& n : shown) out.push_back(api::ToJson(n));
    std::cout << Json{{"nodes", out}}.dump() << "\n";
    return kExitOk;
  }
  if (shown.empty()) {
    std::cout << (args.drift_only       ? "no drifted nodes\n"
                  : !args.state.empty() ? "no nodes are " + args.state + "\n"
                                        : std::string("no nodes have said hello yet\n"));
    return kExitOk;
  }
  const std::int64_t now = NowUnixMs();
  Table t(
      {"NODE", "STATE", "SCOPE CHAIN", "ASSIGNED", "APPLIED", "DRIFT", "LAST SEEN", "LAST ERROR"});
  auto version = [](std::int64_t v) { return v == 0 ? std::string("-") : "v" + std::to_string(v); };
  for (const auto& n : shown) {
    std::string error = n.last_error.empty() ? "-" : n.last_error;
    if (!n.last_error_path.empty()) error += " (at " + n.last_error_path + ")";
    t.Row({n.node_id, Table::Cell(n.state, StateColour(n.state)), n.scope_chain,
           version(n.assigned_version), version(n.applied_version),
           n.drift() ? Table::Cell("yes", Colour::kRed) : Table::Cell("no", Colour::kGreen),
           RelativeTime(n.last_seen_ms, now), error});
  }
  t.Print(std::cout, s.out);
  return kExitOk;
}

// One read (one audit entry): the status carries the layers and the active
// rollouts (`rollout status` lists them all).
int RunStatus(Session& s) {
  auto status = s.client.GetStatus();
  if (!status.ok()) return s.out.Fail(status.status());
  if (s.out.json()) {
    std::cout << api::ToJson(*status).dump() << "\n";  // GET /v1/status
    return kExitOk;
  }
  std::cout << "head revision:  " << status->head_revision << "\n";
  if (status->freeze.frozen) {
    const auto& f = status->freeze;
    std::cout << "freeze:         "
              << s.out.Paint("FROZEN by " + f.by + " since " + FormatRfc3339Ms(f.since_ms),
                             Colour::kRed)
              << ": " << f.reason << " (`omnirctl rollout unfreeze` lifts it)\n";
  }
  std::cout << "nodes:          " << status->nodes_total << " total, " << status->nodes_connected
            << " connected, "
            << s.out.Paint(std::to_string(status->nodes_drifted) + " drifted",
                           status->nodes_drifted > 0 ? Colour::kRed : Colour::kGreen)
            << "\n";
  std::string versions;
  for (const auto& [version, count] : status->nodes_by_applied_version) {
    versions += (versions.empty() ? "" : ", ") + ("v" + std::to_string(version)) + ": " +
                std::to_string(count);
  }
  std::cout << "applied:        " << (versions.empty() ? "-" : versions) << "\n";
  std::string states;
  for (const auto& [state, count] : status->nodes_by_state) {
    if (count == 0) continue;
    states += (states.empty() ? "" : ", ") +
              s.out.Paint(std::to_string(count) + " " + state, StateColour(state));
  }
  std::cout << "states:         " << (states.empty() ? "-" : states) << "\n";
  std::string scopes;
  for (const auto& l : status->layers) {
    scopes += (scopes.empty() ? "" : ", ") + l.scope + " r" + std::to_string(l.revision);
  }
  std::cout << "layers:         " << (scopes.empty() ? "none" : scopes) << "\n";
  if (status->rollouts.empty()) std::cout << "rollouts:       none active\n";
  for (const auto& r : status->rollouts) {
    std::cout << "rollout:        " << r.id << " v" << r.version << " " << r.state << " (wave "
              << r.current_wave + 1 << "/" << r.wave_count << ")\n";
  }
  return kExitOk;
}

}  // namespace

void AddOpsCommands(CLI::App& app, Cli& cli) {
  CLI::App* audit = app.add_subcommand("audit", "Read the audit log");
  audit->require_subcommand(1);
  auto args = std::make_shared<AuditArgs>();
  CLI::App* cmd = audit->add_subcommand(
      "tail", "Audit entries since a time; --follow streams new ones (-o json: one per line)");
  cmd->add_option("--since", args->since,
                  "How far back, e.g. 30s, 15m, 2h, 7d (default 15m; with --follow: from now)");
  cmd->add_flag("-f,--follow", args->follow, "Keep streaming new entries until interrupted");
  cmd->add_option("--scope", args->filter.scope, "Only entries for this scope, e.g. global")
      ->check(ScopeValidator());
  cmd->add_option("--principal", args->filter.principal,
                  "Only entries of this principal (token name), e.g. admin or node:relay-1");
  cmd->add_option("--action", args->filter.action,
                  "Only entries of this action, e.g. layer.put, token.revoke, layer.get");
  std::string writes;
  for (std::string_view action : api::kWriteActions) {
    writes += (writes.empty() ? "" : ", ") + std::string(action);
  }
  cmd->add_flag("--writes-only", args->filter.writes_only,
                "Only writes (" + writes + "), refused ones included; no reads or dry runs");
  cmd->callback(
      [&cli, args] { cli.RunWithServer([&](Session& s) { return RunAudit(s, *args); }); });

  cmd = audit->add_subcommand(
      "verify",
      "Walk the audit log's hash chain; exit 3 at the first entry changed, removed or added by "
      "hand (record the head it prints somewhere else to catch a rewritten chain)");
  cmd->callback([&cli] { cli.RunWithServer(RunAuditVerify); });

  cmd = app.add_subcommand("status", "Head revision, nodes by version, drift, layers, rollouts");
  cmd->callback([&cli] { cli.RunWithServer(RunStatus); });

  CLI::App* nodes = app.add_subcommand("nodes", "Nodes known to the control plane");
  nodes->require_subcommand(1);
  auto nodes_args = std::make_shared<NodesArgs>();
  cmd = nodes->add_subcommand("list", "State, assigned vs applied version and last error per node");
  cmd->add_flag("--drift", nodes_args->drift_only,
                "Only nodes whose applied version is not the assigned one (offline ones too)");
  std::vector<std::string> states(std::begin(api::kNodeStates), std::end(api::kNodeStates));
  cmd->add_option("--state", nodes_args->state, "Only nodes in this state")
      ->check(CLI::IsMember(states));
  cmd->callback([&cli, nodes_args] {
    cli.RunWithServer([&](Session& s) { return RunNodes(s, *nodes_args); });
  });
  auto forget_id = std::make_shared<std::string>();
  cmd = nodes->add_subcommand(
      "forget",
      "Remove a disconnected node at once: it leaves the totals and no longer constrains writes "
      "(admin; disconnected nodes also expire by themselves, see controlplane --node-expiry)");
  cmd->add_option("NODE", *forget_id, "The node id")->required();
  cmd->callback([&cli, forget_id] {
    cli.RunWithServer([&](Session& s) {
      if (Status st = s.client.ForgetNode(*forget_id); !st.ok()) return s.out.Fail(st);
      if (s.out.json()) {
        std::cout << Json{{"nodeId", *forget_id}, {"forgotten", true}}.dump() << "\n";
      } else {
        std::cout << "forgot node " << *forget_id << "\n";
      }
      return kExitOk;
    });
  });
}

}  // namespace omnirelay::cli
