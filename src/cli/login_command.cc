// `omnirctl login --id-token FILE`: exchanges an OIDC ID token (from the
// operator's identity provider) for a short-lived control-plane token of
// that identity and its mapped scopes (docs/knowledge-base/security.md,
// "Operator identity (OIDC)"), and writes it (0600) where later commands
// read it: --token-out FILE, else the current context's tokenFile. Neither
// token is printed or logged.
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

constexpr std::size_t kMaxIdTokenFileBytes = 16 * 1024;

struct LoginArgs {
  std::string id_token_file;
  std::string token_out;
  std::string ttl;
};

int RunLogin(Session& s, std::int64_t ttl_seconds, const std::string& out) {
  auto issued = s.client.Login(ttl_seconds);
  if (!issued.ok()) return s.out.Fail(issued.status());
  if (Status w = WriteFileAtomically(out, issued->secret + "\n", 0600); !w.ok()) {
    s.out.Fail(w);
    std::cerr << "token " << issued->token.id
              << " was issued but not saved; it expires by itself, or revoke it with: omnirctl "
                 "token revoke "
              << issued->token.id << "\n";
    return kExitError;
  }
  if (s.out.json()) {
    nlohmann::json j = api::ToJson(issued->token);
    j["tokenFile"] = out;
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  std::cout << "logged in as " << issued->token.name << " (" << Join(issued->token.scopes)
            << ") until " << FormatRfc3339Ms(issued->token.expires_at_ms) << "; token "
            << issued->token.id << " written to " << out << " (mode 0600)\n";
  return kExitOk;
}

}  // namespace

void AddLoginCommand(CLI::App& app, Cli& cli) {
  auto args = std::make_shared<LoginArgs>();
  CLI::App* cmd = app.add_subcommand(
      "login", "Exchange an OIDC ID token for a short-lived token and save it for later commands");
  cmd->footer(
      "The control plane verifies the ID token (--oidc-issuer) and issues a token of its\n"
      "identity (oidc:<issuer host>/<sub>) with the scopes its groups map to, for at most 1h\n"
      "and never past the ID token's expiry; a new login replaces that identity's previous\n"
      "one. The token goes to --token-out, else to the current context's tokenFile.");
  cmd->add_option("--id-token", args->id_token_file,
                  "File holding the ID token (a JWT from the identity provider)")
      ->required();
  cmd->add_option("--token-out", args->token_out,
                  "Write the token here (0600) (default: the context's tokenFile)");
  cmd->add_option("--ttl", args->ttl, "Lifetime, at most 1h (default 1h)");
  cmd->callback([&cli, args] {
    std::int64_t ttl_seconds = 0;
    if (!args->ttl.empty()) {
      auto ms = api::ParseDurationMs(args->ttl);
      if (!ms.ok() || *ms < 1000)
        return cli.UsageError("--ttl \"" + args->ttl + "\" is not a duration of at least 1s");
      ttl_seconds = *ms / 1000;
    }
    std::string out = args->token_out;
    if (out.empty()) {
      auto context_file = cli.ContextTokenFile();
      if (!context_file.ok()) {
        cli.set_exit_code(cli.out().Fail(context_file.status()));
        return;
      }
      out = *context_file;
    }
    if (out.empty()) {
      return cli.UsageError(
          "no --token-out and no context with a tokenFile: say where the token goes");
    }
    auto id_token = ReadSecretFile(args->id_token_file, kMaxIdTokenFileBytes, "the ID token file");
    if (!id_token.ok()) {
      cli.set_exit_code(cli.out().Fail(id_token.status()));
      return;
    }
    cli.RunWithBearer(*id_token, [&](Session& s) { return RunLogin(s, ttl_seconds, out); });
  });
}

}  // namespace omnirelay::cli
