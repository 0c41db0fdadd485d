// What every omnirctl command shares: the global flags, how they resolve
// (flag > environment > context file > default) into connection settings,
// the output printer and the exit code.
//
// Thread safety: used from main's thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client.h"
#include "omnirelay/api/duration.h"
#include "omnirelay/config/rfc3339.h"
#include "output.h"

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace omnirelay::cli {

// The global flags as parsed; empty = not given.
struct GlobalFlags {
  std::string server;
  std::string token;
  std::string token_file;
  std::string output = "table";
  std::string timeout;
  std::string ca, cert, key, tls_server_name;
  std::vector<std::string> tls_server_spiffe_ids;
  std::string context;
};

// What a server command runs with.
struct Session {
  ControlClient& client;
  Output& out;
};

class Cli {
 public:
  // Adds the global flags to `app`.
  void AddGlobalFlags(CLI::App& app);

  const GlobalFlags& flags() const { return flags_; }
  Output& out() { return *out_; }
  int exit_code() const { return exit_code_; }
  void set_exit_code(int code) { exit_code_ = code; }

  // Builds the Output for the parsed -o flag; call before running commands.
  void Prepare();

  // True when a server is configured: --server, OMNIRCTL_SERVER, --context
  // or a current context in the contexts file. `config validate` runs
  // offline otherwise.
  bool ServerConfigured();

  // Resolves the settings, builds a client and runs `body` with it; stores
  // the exit code `body` returns, or the code of the error that prevented
  // the run (printed on stderr).
  void RunWithServer(const std::function<int(Session&)>& body);

  // As RunWithServer, with `bearer` as the token instead of the one the flags,
  // environment or context name (which is not read: it may not exist yet).
  void RunWithBearer(const std::string& bearer, const std::function<int(Session&)>& body);

  // The selected context's tokenFile ("" when there is no context or it has none).
  Result<std::string> ContextTokenFile();

  // Sets the exit code for a usage error found after parsing and prints it.
  void UsageError(const std::string& message);

  // A command line the parser refused: printed like every other error
  // (`error: invalid_argument: ...`, or JSON when argv asks for -o json);
  // returns the usage exit code.
  int ParseFailure(const std::string& message, const std::vector<std::string>& args);

  // The connection settings after flag > environment > context > default;
  // without `read_token`, no token is looked for.
  Result<ConnectionSettings> ResolveSettings(bool read_token = true);

 private:
  void Run(const ConnectionSettings& settings, const std::function<int(Session&)>& body);

  GlobalFlags flags_;
  std::unique_ptr<Output> out_;
  int exit_code_ = 0;
};

// `--scope` values are checked before any call, as usage errors.
CLI::Validator ScopeValidator();

// A secret kept in a file (a token, an ID token): at most `max_bytes`,
// surrounding whitespace trimmed. kIoError "cannot read <what> <path>
// (<code>)", kInvalidArgument "<what> <path> is empty".
Result<std::string> ReadSecretFile(const std::string& path, std::size_t max_bytes,
                                   const std::string& what);

// `rollout start`'s flags (rollout_commands.cc); `config set --rollout`
// fills them too and runs the same start.
struct RolloutStartOptions {
  std::vector<std::string> files;
  std::vector<std::string> deletes;
  double canary = -1;        // < 0: not given
  double shadow_first = -1;  // < 0: not given
  std::string bake;
  bool manual = false;
  std::string policy_file;
  std::string reason;
  bool dry_run = false;
  bool confirm = false;
  bool allow_large_change = false;
  // `config set --scope S --rollout`: each file's metadata.scope must be S.
  std::string expected_scope;
};
// Starts the rollout and prints it as `rollout start` does; the exit code.
int RunRolloutStart(Session& s, const RolloutStartOptions& options);
// --canary, --bake, --manual, --reason on `cmd`, into `options`.
void AddRolloutStartFlags(CLI::App& cmd, RolloutStartOptions& options);

// Registration of the command groups (one file each).
void AddConfigCommands(CLI::App& app, Cli& cli);
void AddValidateCommand(CLI::App& config, Cli& cli);
void AddRolloutCommands(CLI::App& app, Cli& cli);
void AddRevertCommand(CLI::App& config, Cli& cli);    // config revert (freeze_commands.cc)
void AddFreezeCommands(CLI::App& rollout, Cli& cli);  // rollout freeze|unfreeze
void AddShadowCommands(CLI::App& app, Cli& cli);
void AddOpsCommands(CLI::App& app, Cli& cli);  // audit, status, nodes
void AddTokenCommands(CLI::App& app, Cli& cli);
void AddLoginCommand(CLI::App& app, Cli& cli);  // login --id-token (login_command.cc)
void AddKeysCommands(CLI::App& app, Cli& cli);  // keys generate|list|rotate|revoke

}  // namespace omnirelay::cli
