// `omnirctl config validate -f FILE [-f FILE...] [--remote | --scope S] [--offline]`.
//
// Offline unless --remote or --scope asks for the server (a configured
// server or context does not change that, so a CI script behaves the same
// everywhere): the same library the control plane and the nodes run; several
// files are merged in order as layers. --remote: one document, validated by
// the server alone. --scope S: one document as a dry-run write of S (the
// document against the current layers, the nodes' chains and their
// capabilities). --offline keeps --scope local: it then only checks that the
// last file is for S.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "documents.h"
#include "exit_codes.h"
#include "omnirelay/api/json.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/scope.h"

namespace omnirelay::cli {
namespace {

struct ValidateArgs {
  std::vector<std::string> files;
  std::string scope;
  bool offline = false;
  bool remote = false;
};

// The scope a document names in metadata.scope ("" when it names none).
std::string DocumentScope(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("metadata") || !doc["metadata"].is_object()) return {};
  const auto& scope = doc["metadata"].value("scope", nlohmann::json());
  return scope.is_string() ? scope.get<std::string>() : std::string();
}

std::string ShownPath(const std::string& pointer) {
  return pointer.empty() ? "(root)" : pointer;
}

int RunOffline(const ValidateArgs& args, const Output& out) {
  const bool json = out.json();
  const DecodeOptions options;
  std::vector<DocumentInput> inputs;
  for (const auto& file : args.files) {
    auto text = ReadInput(file, options.max_bytes);
    if (!text.ok()) return out.Fail(text.status());
    inputs.push_back({file, std::move(text).value()});
  }

  DocumentSetReport report = ValidateDocuments(inputs, options);
  // --scope offline: the most specific document must be for that scope.
  if (!args.scope.empty()) {
    const std::string named = DocumentScope(inputs.back().text);
    if (named != args.scope) {
      report.errors.push_back(
          {inputs.back().source,
           {"/metadata/scope", DiagCode::kInvalidScope,
            "document is for scope \"" + named + "\", not \"" + args.scope + "\""}});
    }
  }
  if (json) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : report.errors) {
      errors.push_back({{"path", e.diagnostic.path},
                        {"code", std::string(diag_code_name(e.diagnostic.code))},
                        {"message", e.diagnostic.message},
                        {"file", e.source}});
    }
    std::cout << nlohmann::json{{"valid", report.valid()}, {"errors", std::move(errors)}}.dump()
              << "\n";
  } else if (report.valid()) {
    std::string names;
    for (const auto& in : inputs) names += (names.empty() ? "" : " + ") + in.source;
    std::cout << names << ": valid\n";
  } else {
    for (const auto& e : report.errors) {
      std::cout << e.source << ": " << ShownPath(e.diagnostic.path) << ": "
                << diag_code_name(e.diagnostic.code) << ": " << e.diagnostic.message << "\n";
    }
  }
  return report.valid() ? kExitOk : kExitInvalid;
}

int RunOnServer(Session& s, const ValidateArgs& args) {
  auto text = ReadInput(args.files.front(), DecodeOptions{}.max_bytes);
  if (!text.ok()) return s.out.Fail(text.status());
  if (!args.scope.empty()) {
    auto result = s.client.SetLayer({args.scope, *text, std::nullopt, /*dry_run=*/true, false});
    if (!result.ok()) return s.out.Fail(result.status());
    return PrintWriteResult(args.scope, *result, s.out);
  }
  auto diagnostics = s.client.Validate(*text);
  if (!diagnostics.ok()) return s.out.Fail(diagnostics.status());
  const std::string& file = args.files.front();
  if (s.out.json()) {
    nlohmann::json errors = api::ToJson(*diagnostics);
    for (auto& e : errors) e["file"] = file;
    std::cout << nlohmann::json{{"valid", diagnostics->empty()}, {"errors", errors}}.dump() << "\n";
  } else if (diagnostics->empty()) {
    std::cout << file << ": valid (checked by the server)\n";
  } else {
    for (const auto& d : *diagnostics) {
      std::cout << file << ": " << ShownPath(d.path) << ": " << diag_code_name(d.code) << ": "
                << d.message << "\n";
    }
  }
  return diagnostics->empty() ? kExitOk : kExitInvalid;
}

}  // namespace

void AddValidateCommand(CLI::App& config, Cli& cli) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* cmd = config.add_subcommand(
      "validate", "Validate documents offline, or on the server with --remote or --scope");
  cmd->footer(
      "Offline by default, whatever server or context is configured, so a CI script behaves\n"
      "the same everywhere: several -f files are merged in the order given as scope layers\n"
      "(least to most specific; when the first is the global layer, its topology must place\n"
      "the others) and the result is validated; a Snapshot is validated alone.\n"
      "--remote: one file, validated by the server. --scope S: one file, as a dry-run write\n"
      "of S on the server (current layers, every chain S sits in, nodes' capabilities);\n"
      "with --offline, --scope only checks that the last file is for S.\n"
      "Exit: 0 valid, 3 invalid, 2 usage, 1 I/O error, 5 denied, 6 unreachable.");
  cmd->add_option("-f,--file", args->files, "Document to validate ('-' reads stdin); repeatable")
      ->required();
  CLI::Option* scope = cmd->add_option("--scope", args->scope, "Scope the document is meant for")
                           ->check(CLI::Validator(
                               [](std::string& s) {
                                 auto parsed = ParseScope(s);
                                 return parsed.ok() ? std::string() : parsed.status().message();
                               },
                               "SCOPE"));
  cmd->add_flag("--remote", args->remote, "Validate the one -f on the server, alone")
      ->excludes(scope);
  cmd->add_flag("--offline", args->offline, "Validate locally (the default), even with --scope")
      ->excludes("--remote");
  cmd->callback([&cli, args] {
    const bool on_server = args->remote || !args->scope.empty();
    if (args->offline || !on_server) {
      cli.set_exit_code(RunOffline(*args, cli.out()));
      return;
    }
    if (args->files.size() != 1) {
      cli.UsageError(
          "server-side validation (--remote, --scope) takes one -f; without them several "
          "layers are merged offline");
      return;
    }
    cli.RunWithServer([&](Session& s) { return RunOnServer(s, *args); });
  });
}

}  // namespace omnirelay::cli
