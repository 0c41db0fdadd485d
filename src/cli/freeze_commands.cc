// `omnirctl config revert` and `omnirctl rollout freeze|unfreeze`: what an
// operator reaches for in an incident. A revert commits a past revision's
// content as a new revision; the freeze refuses plain writes and new
// rollouts (exit 4, `frozen`) until lifted, and lets reverts through.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "documents.h"
#include "exit_codes.h"
#include "omnirelay/api/json.h"

namespace omnirelay::cli {
namespace {

struct RevertArgs {
  std::string scope;
  std::int64_t to_revision = 0;
  std::string reason;
  std::int64_t expect_revision = -1;
  bool dry_run = false;
  bool confirm = false;
};

int RunRevert(Session& s, const RevertArgs& a) {
  RevertLayerArgs args{a.scope, a.to_revision, a.reason, std::nullopt, a.dry_run, a.confirm};
  if (a.expect_revision >= 0) args.expected_revision = a.expect_revision;
  auto result = s.client.RevertLayer(args);
  if (!result.ok()) return s.out.Fail(result.status());
  if (!s.out.json() && !result->dry_run) {
    std::cout << a.scope << ": content of revision " << a.to_revision << " restored\n";
  }
  return PrintWriteResult(a.scope, *result, s.out);
}

// "frozen by ops since 2026-...Z: why" / "not frozen".
void PrintFreeze(const FreezeState& f, const Output& out) {
  if (!f.frozen) {
    std::cout << out.Paint("not frozen", Colour::kGreen)
              << ": layer writes and rollouts are accepted\n";
    return;
  }
  std::cout << out.Paint("frozen", Colour::kRed) << " by " << f.by << " since "
            << FormatRfc3339Ms(f.since_ms) << ": " << f.reason << "\n"
            << "plain layer writes, deletes and new rollouts are refused (exit 4, frozen); "
               "`omnirctl config revert` still works; lift it with `omnirctl rollout unfreeze`\n";
}

int RunSetFreeze(Session& s, bool frozen, const std::string& reason) {
  auto state = s.client.SetFreeze(frozen, reason);
  if (!state.ok()) return s.out.Fail(state.status());
  if (s.out.json()) {
    std::cout << api::ToJson(*state).dump() << "\n";
  } else {
    PrintFreeze(*state, s.out);
  }
  return kExitOk;
}

}  // namespace

void AddRevertCommand(CLI::App& config, Cli& cli) {
  auto args = std::make_shared<RevertArgs>();
  CLI::App* cmd = config.add_subcommand(
      "revert",
      "Commit the content a past revision of a scope had as a new revision (validated like "
      "`config set`; allowed while frozen)");
  cmd->add_option("--scope", args->scope, "Scope to revert")->required()->check(ScopeValidator());
  cmd->add_option("--to-revision", args->to_revision,
                  "A revision of the scope (`config history` lists them); if it deleted the "
                  "layer, the revert deletes it")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--reason", args->reason, "Why (recorded in the audit log)");
  cmd->add_option("--expect-revision", args->expect_revision,
                  "CAS: fail with exit 4 unless the scope is at this revision (0 = must not exist)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--dry-run", args->dry_run,
                "Validate, show the change and blocking nodes; write nothing");
  cmd->add_flag("--confirm", args->confirm, "Allow destructive changes");
  cmd->callback(
      [&cli, args] { cli.RunWithServer([&](Session& s) { return RunRevert(s, *args); }); });
}

void AddFreezeCommands(CLI::App& rollout, Cli& cli) {
  auto reason = std::make_shared<std::string>();
  CLI::App* cmd = rollout.add_subcommand(
      "freeze",
      "Refuse plain layer writes, deletes and new rollouts until unfrozen (incidents; "
      "`config revert` still works). Freezing again updates the reason");
  cmd->add_option("--reason", *reason, "Why (shown to everyone refused, and audited)")->required();
  cmd->callback([&cli, reason] {
    cli.RunWithServer([&](Session& s) { return RunSetFreeze(s, true, *reason); });
  });

  cmd = rollout.add_subcommand("unfreeze", "Accept layer writes and rollouts again");
  cmd->callback(
      [&cli] { cli.RunWithServer([](Session& s) { return RunSetFreeze(s, false, ""); }); });
}

}  // namespace omnirelay::cli
