// omnirctl: the OmniRelay operators' CLI.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "exit_codes.h"
#include "omnirelay/config/version.h"

int main(int argc, char** argv) {
  using namespace omnirelay::cli;
  CLI::App app{
      "omnirctl - operate the OmniRelay runtime-config control plane.\n"
      "Exit codes: 0 ok, 1 error, 2 usage, 3 validation failed, 4 CAS conflict,\n"
      "5 unauthenticated/permission denied, 6 server unreachable."};
  app.name("omnirctl");
  app.require_subcommand(1);
  app.set_version_flag("--version", omnirelay::VersionText("omnirctl"));
  // Global flags may come after the subcommand: `omnirctl status -o json`.
  app.fallthrough();

  Cli cli;
  cli.AddGlobalFlags(app);
  AddConfigCommands(app, cli);
  AddRolloutCommands(app, cli);
  AddShadowCommands(app, cli);
  AddOpsCommands(app, cli);
  AddTokenCommands(app, cli);
  // Commands run from their callbacks, after every flag is parsed.
  app.parse_complete_callback([&cli] { cli.Prepare(); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string message = e.what();
    // "omnirctl frobnicate": CLI11 only says a subcommand is required.
    if (!args.empty() && !args[0].empty() && args[0][0] != '-' &&
        app.get_subcommands([&](CLI::App* sub) { return sub->get_name() == args[0]; }).empty()) {
      std::string names;
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      message = "unknown command \"" + args[0] + "\" (commands: " + names + ")";
    }
    return cli.ParseFailure(message, args);
  }
  return cli.exit_code();
}
