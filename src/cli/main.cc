// omnirctl: the OmniRelay operators' CLI.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "exit_codes.h"

int main(int argc, char** argv) {
  using namespace omnirelay::cli;
  CLI::App app{
      "omnirctl - operate the OmniRelay runtime-config control plane.\n"
      "Exit codes: 0 ok, 1 error, 2 usage, 3 validation failed, 4 CAS conflict,\n"
      "5 unauthenticated/permission denied, 6 server unreachable."};
  app.name("omnirctl");
  app.require_subcommand(1);
  app.set_version_flag("--version", "omnirctl 0.1.0");

  int exit_code = kExitOk;
  CLI::App* config = app.add_subcommand("config", "Work with config documents and layers");
  config->require_subcommand(1);
  AddValidateCommand(*config, &exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return exit_code;
}
