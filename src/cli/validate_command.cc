// `omnirctl config validate -f FILE [-f FILE...] [-o text|json]`: offline
// validation with the same library the control plane and the nodes run.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "exit_codes.h"
#include "omnirelay/config/document_set.h"

namespace omnirelay::cli {
namespace {

struct ValidateArgs {
  std::vector<std::string> files;
  std::string output = "text";
};

// Reads at most limit + 1 bytes so that an oversize input is reported by the
// decoder (parse_error) without reading all of it.
Result<std::string> ReadInput(const std::string& name, std::size_t limit) {
  std::FILE* f = name == "-" ? stdin : std::fopen(name.c_str(), "rb");
  if (f == nullptr) {
    return Status(StatusCode::kIoError, "cannot read " + name + ": " + std::strerror(errno));
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(
      f, name == "-" ? [](std::FILE*) { return 0; } : &std::fclose);
  std::string out;
  char buf[1 << 16];
  while (out.size() <= limit) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    out.append(buf, n);
    if (n < sizeof buf) break;
  }
  if (std::ferror(f)) {
    return Status(StatusCode::kIoError, "cannot read " + name + ": " + std::strerror(errno));
  }
  return out;
}

std::string ShownPath(const std::string& pointer) {
  return pointer.empty() ? "(root)" : pointer;
}

int Run(const ValidateArgs& args) {
  const bool json = args.output == "json";
  const DecodeOptions options;
  std::vector<DocumentInput> inputs;
  for (const auto& file : args.files) {
    auto text = ReadInput(file, options.max_bytes);
    if (!text.ok()) {
      if (json) {
        std::cerr << nlohmann::json{{"error",
                                     {{"code", std::string(text.status().code_name())},
                                      {"message", text.status().message()}}}}
                         .dump()
                  << "\n";
      } else {
        std::cerr << "omnirctl: " << text.status().message() << "\n";
      }
      return kExitError;
    }
    inputs.push_back({file, std::move(text).value()});
  }

  const DocumentSetReport report = ValidateDocuments(inputs, options);
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

}  // namespace

void AddValidateCommand(CLI::App& config, int* exit_code) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* cmd = config.add_subcommand(
      "validate",
      "Validate config documents offline (schema + graph).\n"
      "Several -f files are merged in the order given as scope layers (least to most\n"
      "specific), and the merged result is validated. A Snapshot is validated alone.\n"
      "Exit: 0 valid, 3 invalid, 2 usage, 1 I/O error.");
  cmd->add_option("-f,--file", args->files, "Document to validate ('-' reads stdin); repeatable")
      ->required();
  cmd->add_option("-o,--output", args->output, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([args, exit_code] { *exit_code = Run(*args); });
}

}  // namespace omnirelay::cli
