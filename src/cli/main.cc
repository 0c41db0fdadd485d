// omnirctl: the OmniRelay operators' CLI.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <string>
#include <vector>

#include "cli.h"
#include "exit_codes.h"
#include "omnirelay/config/version.h"

namespace {

// Edit distance, for "did you mean".
std::size_t Distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// `word` is not a subcommand of `parent`: say so, with the closest name and
// the list, instead of CLI11's "A subcommand is required". "" when it is one.
std::string UnknownSubcommand(CLI::App& parent, const std::string& word, const std::string& what) {
  if (word.empty() || word[0] == '-') return "";
  if (!parent.get_subcommands([&](CLI::App* s) { return s->get_name() == word; }).empty()) {
    return "";
  }
  std::string names, closest;
  std::size_t best = 3;  // suggest only within two edits
  for (const CLI::App* s : parent.get_subcommands([](CLI::App*) { return true; })) {
    names += (names.empty() ? "" : ", ") + s->get_name();
    if (const std::size_t d = Distance(word, s->get_name()); d < best) {
      best = d;
      closest = s->get_name();
    }
  }
  return "unknown " + what + " \"" + word + "\"" +
         (closest.empty() ? "" : " (did you mean \"" + closest + "\"?)") + "; commands: " + names;
}

}  // namespace

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
  AddLoginCommand(app, cli);
  AddKeysCommands(app, cli);
  // Commands run from their callbacks, after every flag is parsed.
  app.parse_complete_callback([&cli] { cli.Prepare(); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string message = e.what();
    // "omnirctl frobnicate", "omnirctl config sett": CLI11 only says a
    // subcommand is required.
    if (!args.empty()) {
      if (std::string unknown = UnknownSubcommand(app, args[0], "command"); !unknown.empty()) {
        message = unknown;
      } else if (args.size() > 1) {
        auto found = app.get_subcommands([&](CLI::App* s) { return s->get_name() == args[0]; });
        if (!found.empty() && !found[0]->get_subcommands([](CLI::App*) { return true; }).empty()) {
          if (std::string nested = UnknownSubcommand(*found[0], args[1], args[0] + " command");
              !nested.empty()) {
            message = nested;
          }
        }
      }
    }
    return cli.ParseFailure(message, args);
  }
  return cli.exit_code();
}
