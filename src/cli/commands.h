// Registration of omnirctl's subcommands on a CLI11 app.
#pragma once

namespace CLI {
class App;
}

namespace omnirelay::cli {

// Adds `config validate` under `config`. On run, stores the exit code in *exit_code.
void AddValidateCommand(CLI::App& config, int* exit_code);

}  // namespace omnirelay::cli
