// `omnirctl token create|list|revoke` (admin): bearer tokens. A secret is
// printed once, by `token create` (or written to --secret-file, 0600), and
// never logged.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "exit_codes.h"
#include "omnirelay/api/json.h"
#include "omnirelay/config/files.h"

namespace omnirelay::cli {
namespace {

using Json = nlohmann::json;

const std::vector<std::string> kTokenScopes = {"config:read", "config:write", "rollout:write",
                                               "audit:read",  "node",         "admin"};

struct CreateArgs {
  std::string name;
  std::vector<std::string> scopes;
  std::string ttl;
  std::string secret_file;
  bool dry_run = false;
};

int RunCreate(Session& s, const CreateArgs& a) {
  std::int64_t ttl_seconds = 0;
  if (!a.ttl.empty()) {
    auto ms = api::ParseDurationMs(a.ttl);
    if (!ms.ok())
      return s.out.Fail(Status(StatusCode::kInvalidArgument, "--ttl: " + ms.status().message()));
    ttl_seconds = *ms / 1000;
  }
  const std::string name =
      a.name.empty() ? "omnirctl-" + std::to_string(NowUnixMs() / 1000) : a.name;
  if (a.dry_run) {
    // Checks that this token may manage tokens, without creating one.
    auto tokens = s.client.ListTokens();
    if (!tokens.ok()) return s.out.Fail(tokens.status());
    if (s.out.json()) {
      std::cout << Json{{"dryRun", true},
                        {"name", name},
                        {"scopes", a.scopes},
                        {"ttlSeconds", ttl_seconds}}
                       .dump()
                << "\n";
    } else {
      std::cout << "dry run: would create token \"" << name << "\" with scopes " << Join(a.scopes)
                << (ttl_seconds > 0 ? ", expiring in " + a.ttl : ", without expiry") << "\n";
    }
    return kExitOk;
  }
  auto issued = s.client.CreateToken(name, a.scopes, ttl_seconds);
  if (!issued.ok()) return s.out.Fail(issued.status());
  if (!a.secret_file.empty()) {
    if (Status w = WriteFileAtomically(a.secret_file, issued->secret + "\n", 0600); !w.ok()) {
      s.out.Fail(w);
      // The token exists but its secret is lost: say so, and how to clean up.
      std::cerr << "token " << issued->token.id
                << " was created; revoke it with: omnirctl token revoke " << issued->token.id
                << "\n";
      return kExitError;
    }
  }
  if (s.out.json()) {
    // POST /v1/tokens: the token's fields and its secret as "token"; with
    // --secret-file, where the secret went instead.
    Json out = api::ToJson(issued->token);
    if (a.secret_file.empty()) {
      out = api::ToJson(*issued);
    } else {
      out["secretFile"] = a.secret_file;
    }
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  const std::int64_t now = NowUnixMs();
  std::cout << "id:       " << issued->token.id << "\n"
            << "name:     " << issued->token.name << "\n"
            << "scopes:   " << Join(issued->token.scopes) << "\n"
            << "expires:  "
            << (issued->token.expires_at_ms == 0
                    ? std::string("never")
                    : RelativeTime(issued->token.expires_at_ms, now) + " (" +
                          FormatRfc3339Ms(issued->token.expires_at_ms) + ")")
            << "\n";
  if (a.secret_file.empty()) {
    std::cout << "secret:   " << s.out.Paint(issued->secret, Colour::kBold) << "\n"
              << s.out.Paint("This secret is shown once; store it now.", Colour::kYellow) << "\n";
  } else {
    std::cout << "secret:   written to " << a.secret_file << " (mode 0600)\n";
  }
  return kExitOk;
}

int RunList(Session& s) {
  auto tokens = s.client.ListTokens();
  if (!tokens.ok()) return s.out.Fail(tokens.status());
  if (s.out.json()) {
    Json out = Json::array();
    for (const auto& t : *tokens) out.push_back(api::ToJson(t));
    std::cout << Json{{"tokens", out}}.dump() << "\n";
    return kExitOk;
  }
  const std::int64_t now = NowUnixMs();
  Table t({"ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "STATE"});
  for (const auto& tok : *tokens) {
    Table::Cell state("active", Colour::kGreen);
    if (tok.revoked_at_ms != 0) {
      state = Table::Cell("revoked " + RelativeTime(tok.revoked_at_ms, now), Colour::kRed);
    } else if (tok.expires_at_ms != 0 && tok.expires_at_ms <= now) {
      state = Table::Cell("expired", Colour::kYellow);
    }
    t.Row({tok.id, tok.name, Join(tok.scopes), RelativeTime(tok.created_at_ms, now),
           tok.expires_at_ms == 0 ? "never" : RelativeTime(tok.expires_at_ms, now), state});
  }
  t.Print(std::cout, s.out);
  return kExitOk;
}

int RunRevoke(Session& s, const std::string& name_or_id, bool dry_run) {
  // The server resolves the name and checks the state, for a dry run too:
  // an already revoked token is a conflict (exit 4) either way.
  auto token = s.client.RevokeToken(name_or_id, dry_run);
  if (!token.ok()) return s.out.Fail(token.status());
  if (s.out.json()) {
    // DELETE /v1/tokens/{id or name}: the token as revoked.
    Json out = api::ToJson(*token);
    if (dry_run) out["dryRun"] = true;
    std::cout << out.dump() << "\n";
  } else {
    std::cout << (dry_run ? "dry run: would revoke token " : "token ") << token->id << " ("
              << token->name << ")" << (dry_run ? "" : " revoked") << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddTokenCommands(CLI::App& app, Cli& cli) {
  CLI::App* token = app.add_subcommand("token", "Bearer tokens (admin)");
  token->require_subcommand(1);

  auto create = std::make_shared<CreateArgs>();
  CLI::App* cmd = token->add_subcommand("create", "Issue a token; its secret is shown once");
  cmd->add_option("--scopes", create->scopes, "Comma-separated: " + Join(kTokenScopes, ", "))
      ->required()
      ->delimiter(',')
      ->check(CLI::IsMember(kTokenScopes));
  cmd->add_option(
      "--name", create->name,
      "Name, e.g. ci-deployer, or node:<id> for a node token (default omnirctl-<time>)");
  cmd->add_option("--ttl", create->ttl, "Lifetime, e.g. 24h, 30d (default: no expiry)");
  cmd->add_option("--secret-file", create->secret_file,
                  "Write the secret to this file (0600) instead of printing it");
  cmd->add_flag("--dry-run", create->dry_run, "Check the request and permission; create nothing");
  cmd->callback(
      [&cli, create] { cli.RunWithServer([&](Session& s) { return RunCreate(s, *create); }); });

  cmd = token->add_subcommand("list", "List tokens (never their secrets)");
  cmd->callback([&cli] { cli.RunWithServer(RunList); });

  auto id = std::make_shared<std::string>();
  auto dry_run = std::make_shared<bool>(false);
  cmd = token->add_subcommand(
      "revoke", "Revoke a token by id or name (an already revoked one is a conflict, exit 4)");
  cmd->add_option("token", *id, "Token id or name (see token list)")->required();
  cmd->add_flag("--dry-run", *dry_run, "Show the token that would be revoked; revoke nothing");
  cmd->callback([&cli, id, dry_run] {
    cli.RunWithServer([&](Session& s) { return RunRevoke(s, *id, *dry_run); });
  });
}

}  // namespace omnirelay::cli
