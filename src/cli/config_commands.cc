// `omnirctl config get|set|delete|list|diff|history|effective` (validate
// and revert have their own files): the layers
// of desired state (DESIGN.md §3.1) through the control plane.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli.h"
#include "documents.h"
#include "exit_codes.h"
#include "omnirelay/api/json.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/scope.h"

namespace omnirelay::cli {
namespace {

using Json = nlohmann::json;

// The document as JSON (for -o json), or a string when it is not JSON.
Json DocumentJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json(text) : j;
}

struct GetArgs {
  std::string scope;
  std::int64_t revision = 0;
};

int RunGet(Session& s, const GetArgs& a) {
  std::optional<std::int64_t> revision;
  if (a.revision > 0) revision = a.revision;
  auto layer = s.client.GetLayer(a.scope, revision);
  if (!layer.ok()) return s.out.Fail(layer.status());
  if (s.out.json()) {
    std::cout << api::ToJson(*layer).dump() << "\n";
  } else {
    // Only the document, so that `config get > f.json` round-trips to `config set`.
    const Json doc = DocumentJson(layer->document);
    std::cout << (doc.is_string() ? layer->document : doc.dump(2)) << "\n";
  }
  return kExitOk;
}

struct SetArgs {
  std::string scope;
  std::string file;
  std::int64_t expect_revision = -1;
  bool dry_run = false;
  bool confirm = false;
  bool allow_unknown_node = false;
  bool force = false;
  bool allow_large_change = false;
  bool rollout = false;
  RolloutStartOptions rollout_options;  // --canary, --shadow-first, --bake, --manual, --reason
};

int RunSet(Session& s, const SetArgs& a) {
  if (a.rollout) {
    // The write staged as a rollout: the same request as `rollout start -f FILE`.
    RolloutStartOptions start = a.rollout_options;
    start.files = {a.file};
    start.expected_scope = a.scope;
    start.dry_run = a.dry_run;
    start.confirm = a.confirm;
    start.allow_large_change = a.allow_large_change;
    return RunRolloutStart(s, start);
  }
  auto text = ReadInput(a.file, DecodeOptions{}.max_bytes);
  if (!text.ok()) return s.out.Fail(text.status());
  SetLayerArgs args{a.scope,   std::move(text).value(), std::nullopt, a.dry_run,
                    a.confirm, a.allow_unknown_node,    a.force,      a.allow_large_change};
  if (a.expect_revision >= 0) args.expected_revision = a.expect_revision;
  auto result = s.client.SetLayer(args);
  if (!result.ok()) return s.out.Fail(result.status());
  return PrintWriteResult(a.scope, *result, s.out);
}

struct DeleteArgs {
  std::string scope;
  std::int64_t expect_revision = -1;
  bool dry_run = false;
  bool confirm = false;
  bool force = false;
  bool allow_large_change = false;
};

int RunList(Session& s) {
  auto layers = s.client.ListLayers();
  if (!layers.ok()) return s.out.Fail(layers.status());
  if (s.out.json()) {
    Json out = Json::array();
    for (const auto& l : *layers) out.push_back(api::ToJson(l));
    std::cout << Json{{"layers", out}}.dump() << "\n";
    return kExitOk;
  }
  const std::int64_t now = NowUnixMs();
  Table t({"SCOPE", "REVISION", "UPDATED", "AUTHOR"});
  for (const auto& l : *layers) {
    t.Row({l.scope, std::to_string(l.revision), RelativeTime(l.updated_at_ms, now), l.author});
  }
  t.Print(std::cout, s.out);
  return kExitOk;
}

struct DiffArgs {
  std::string scope;
  std::string file;
};

std::string Short(const Json& j) {
  std::string text = j.dump();
  return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

int RunDiff(Session& s, const DiffArgs& a) {
  auto text = ReadInput(a.file, DecodeOptions{}.max_bytes);
  if (!text.ok()) return s.out.Fail(text.status());
  const Json proposed = Json::parse(*text, nullptr, false);
  if (proposed.is_discarded()) {
    return s.out.Fail(Status(StatusCode::kInvalid, a.file + " is not JSON",
                             {{"", DiagCode::kParseError, "not a JSON document"}}));
  }
  // One request (one audit entry): the server's dry run — validation against
  // every affected chain, the effective change, the nodes that would refuse
  // it — answers the layer it would replace too.
  auto check = s.client.SetLayer({a.scope, *text, std::nullopt, /*dry_run=*/true, false});
  if (!check.ok()) return s.out.Fail(check.status());
  const std::int64_t current_revision = check->current_revision;
  const Json current =
      current_revision > 0 ? DocumentJson(check->current_document) : Json::object();
  const auto changes = DiffJson(current, proposed);
  const bool ok = check->diagnostics.empty() && check->blocked_nodes.empty();
  if (s.out.json()) {
    // The server's dry run (a write result, "currentRevision" and
    // "currentDocument" included), with the structural changes beside it;
    // "before" / "after" are absent where the value is.
    Json out = api::ToJson(*check);
    out["scope"] = a.scope;
    out["changes"] = Json::array();
    for (const auto& c : changes) {
      Json change = {{"op", c.op == '+'   ? "add"
                            : c.op == '-' ? "remove"
                                          : "change"},
                     {"path", c.path}};
      if (c.op != '+') change["before"] = c.before;
      if (c.op != '-') change["after"] = c.after;
      out["changes"].push_back(std::move(change));
    }
    std::cout << out.dump() << "\n";
    return ok ? kExitOk : kExitInvalid;
  }
  std::cout << "--- " << a.scope
            << (current_revision > 0 ? " (revision " + std::to_string(current_revision) + ")"
                                     : " (no layer yet)")
            << "\n+++ " << a.file << "\n";
  if (changes.empty()) std::cout << "(no differences)\n";
  for (const auto& c : changes) {
    if (c.op == '+') {
      std::cout << s.out.Paint("+ " + c.path + ": " + Short(c.after), Colour::kGreen) << "\n";
    } else if (c.op == '-') {
      std::cout << s.out.Paint("- " + c.path + ": " + Short(c.before), Colour::kRed) << "\n";
    } else {
      std::cout << s.out.Paint("~ " + c.path + ": " + Short(c.before) + " -> " + Short(c.after),
                               Colour::kYellow)
                << "\n";
    }
  }
  std::cout << "\n";
  PrintWriteResult(a.scope, *check, s.out);
  return ok ? kExitOk : kExitInvalid;
}

struct HistoryArgs {
  std::string scope;
  std::int64_t before = 0;  // 0 = from the newest
  std::int64_t limit = 0;   // 0 = the server's default
};

int RunHistory(Session& s, const HistoryArgs& a) {
  HistoryQuery query;
  if (a.before != 0) query.before = a.before;
  if (a.limit != 0) query.limit = a.limit;
  auto page = s.client.History(a.scope, query);
  if (!page.ok()) return s.out.Fail(page.status());
  if (s.out.json()) {
    std::cout << api::ToJson(*page).dump() << "\n";
    return kExitOk;
  }
  const std::int64_t now = NowUnixMs();
  Table t({"REVISION", "WHEN", "AUTHOR", "CHANGE"});
  for (const auto& r : page->revisions) {
    t.Row({std::to_string(r.revision), RelativeTime(r.created_at_ms, now), r.author,
           r.deleted ? Table::Cell("deleted", Colour::kRed) : Table::Cell("written")});
  }
  t.Print(std::cout, s.out);
  if (page->next_before != 0) {
    std::cout << s.out.Paint("older revisions: omnirctl config history --scope " + a.scope +
                                 " --before " + std::to_string(page->next_before) +
                                 (a.limit != 0 ? " --limit " + std::to_string(a.limit) : ""),
                             Colour::kDim)
              << "\n";
  }
  return kExitOk;
}

int RunEffective(Session& s, const std::string& chain) {
  auto view = s.client.Effective(SplitCommaList(chain));
  if (!view.ok()) return s.out.Fail(view.status());
  if (s.out.json()) {
    std::cout << api::ToJson(*view).dump() << "\n";
  } else {
    const Json spec = DocumentJson(view->spec_json);
    std::cout << (spec.is_string() ? view->spec_json : spec.dump(2)) << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddConfigCommands(CLI::App& app, Cli& cli) {
  CLI::App* config = app.add_subcommand("config", "Work with config documents and layers");
  config->require_subcommand(1);
  AddValidateCommand(*config, cli);

  auto get = std::make_shared<GetArgs>();
  CLI::App* cmd = config->add_subcommand(
      "get", "Print the layer of a scope (-o json adds revision, author, time)");
  cmd->add_option("--scope", get->scope, "global, region:R, cell:C, cluster:K or node:ID")
      ->required()
      ->check(ScopeValidator());
  cmd->add_option("--revision", get->revision, "The layer as it was at this store revision")
      ->check(CLI::PositiveNumber);
  cmd->callback([&cli, get] { cli.RunWithServer([&](Session& s) { return RunGet(s, *get); }); });

  auto set = std::make_shared<SetArgs>();
  cmd = config->add_subcommand("set", "Write the layer of a scope (CAS, validated, audited)");
  cmd->add_option("--scope", set->scope, "Scope to write")->required()->check(ScopeValidator());
  cmd->add_option("-f,--file", set->file, "ConfigLayer JSON ('-' reads stdin)")->required();
  cmd->add_option("--expect-revision", set->expect_revision,
                  "CAS: fail with exit 4 unless the scope is at this revision (0 = must not exist)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--dry-run", set->dry_run,
                "Validate, show the change and blocking nodes; write nothing");
  cmd->add_flag("--confirm", set->confirm, "Allow destructive changes");
  CLI::Option* unknown_node =
      cmd->add_flag("--allow-unknown-node", set->allow_unknown_node,
                    "For a node:<id> scope: stage the layer before the node has been seen (it is "
                    "checked when the node joins and shows as render_failed if bad)");
  CLI::Option* force =
      cmd->add_flag("--force", set->force,
                    "Write even where a rollout holds the chain (audited as forced past it)");
  cmd->add_flag("--allow-large-change", set->allow_large_change,
                "Write a change whose diff is over the server's --max-change-entries (audited)");
  CLI::Option* rollout = cmd->add_flag(
      "--rollout", set->rollout,
      "Stage the write as a rollout (as `rollout start -f FILE`): canary %, then scopes, then "
      "the rest; prints the rollout");
  rollout->excludes(unknown_node)->excludes(force)->excludes("--expect-revision");
  AddRolloutStartFlags(*cmd, set->rollout_options);
  for (const char* flag : {"--canary", "--shadow-first", "--bake", "--manual", "--reason"}) {
    cmd->get_option(flag)->needs(rollout);
  }
  cmd->callback([&cli, set] { cli.RunWithServer([&](Session& s) { return RunSet(s, *set); }); });

  auto del = std::make_shared<DeleteArgs>();
  cmd = config->add_subcommand("delete", "Remove the layer of a scope (CAS, guarded)");
  cmd->add_option("--scope", del->scope, "Scope to remove")->required()->check(ScopeValidator());
  cmd->add_option("--expect-revision", del->expect_revision, "CAS: the scope's current revision")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--dry-run", del->dry_run, "Show what the removal would do; write nothing");
  cmd->add_flag("--confirm", del->confirm, "Allow destructive changes");
  cmd->add_flag("--force", del->force,
                "Delete even where a rollout holds the chain (audited as forced past it)");
  cmd->add_flag("--allow-large-change", del->allow_large_change,
                "Delete even when the diff is over the server's --max-change-entries (audited)");
  cmd->callback([&cli, del] {
    cli.RunWithServer([&](Session& s) {
      DeleteLayerArgs args{del->scope,   std::nullopt, del->dry_run,
                           del->confirm, del->force,   del->allow_large_change};
      if (del->expect_revision >= 0) args.expected_revision = del->expect_revision;
      auto r = s.client.DeleteLayer(args);
      if (!r.ok()) return s.out.Fail(r.status());
      return PrintWriteResult(del->scope, *r, s.out);
    });
  });

  cmd = config->add_subcommand("list", "List the scopes that have a layer, with their revision");
  cmd->callback([&cli] { cli.RunWithServer(RunList); });

  auto diff = std::make_shared<DiffArgs>();
  cmd = config->add_subcommand(
      "diff", "Show what writing FILE to a scope would change (server-side dry run)");
  cmd->add_option("--scope", diff->scope, "Scope to compare with")
      ->required()
      ->check(ScopeValidator());
  cmd->add_option("-f,--file", diff->file, "Proposed ConfigLayer JSON ('-' reads stdin)")
      ->required();
  cmd->callback([&cli, diff] { cli.RunWithServer([&](Session& s) { return RunDiff(s, *diff); }); });

  auto history = std::make_shared<HistoryArgs>();
  cmd = config->add_subcommand(
      "history", "List the revisions of a scope, newest first, one page (100) at a time");
  cmd->add_option("--scope", history->scope, "Scope")->required()->check(ScopeValidator());
  cmd->add_option("--before", history->before,
                  "Only revisions older than this one (the next page: the revision the previous "
                  "page says)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--limit", history->limit, "Revisions per page, 1 to 1000 (default 100)")
      ->check(CLI::Range(std::int64_t{1}, api::kHistoryMaxLimit));
  cmd->callback(
      [&cli, history] { cli.RunWithServer([&](Session& s) { return RunHistory(s, *history); }); });

  auto chain = std::make_shared<std::string>();
  cmd = config->add_subcommand("effective", "Print the merged spec of a scope chain");
  cmd->add_option("--scope-chain", *chain, "e.g. global,region:us-east,cell:use1-a")
      ->required()
      ->check(CLI::Validator(
          [](std::string& s) {
            auto parsed = ParseScopeChain(s);
            return parsed.ok() ? std::string() : parsed.status().message();
          },
          "CHAIN"));
  cmd->callback(
      [&cli, chain] { cli.RunWithServer([&](Session& s) { return RunEffective(s, *chain); }); });

  AddRevertCommand(*config, cli);
}

}  // namespace omnirelay::cli
