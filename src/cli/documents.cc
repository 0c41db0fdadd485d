#include "documents.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>

#include "exit_codes.h"
#include "omnirelay/api/json.h"

namespace omnirelay::cli {

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

namespace {

void Diff(const nlohmann::json& a, const nlohmann::json& b, const std::string& path,
          std::vector<JsonChange>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      auto it = b.find(key);
      if (it == b.end()) {
        out.push_back({'-', JoinPointer(path, key), value, nullptr});
      } else {
        Diff(value, *it, JoinPointer(path, key), out);
      }
    }
    for (const auto& [key, value] : b.items()) {
      if (!a.contains(key)) out.push_back({'+', JoinPointer(path, key), nullptr, value});
    }
    return;
  }
  if (a != b) out.push_back({'~', path, a, b});
}

}  // namespace

std::vector<JsonChange> DiffJson(const nlohmann::json& before, const nlohmann::json& after) {
  std::vector<JsonChange> out;
  Diff(before, after, "", out);
  return out;
}

int PrintWriteResult(const std::string& scope, const WriteResult& r, const Output& out,
                     nlohmann::json extra) {
  const bool ok = r.diagnostics.empty() && r.blocked_nodes.empty();
  const int code = r.dry_run && !ok ? kExitInvalid : kExitOk;
  if (out.json()) {
    nlohmann::json j = api::ToJson(r);
    j.update(extra);
    std::cout << j.dump() << "\n";
    return code;
  }
  if (r.dry_run) {
    std::cout << out.Paint("dry run", Colour::kBold) << ": nothing written to " << scope << "\n";
  } else {
    std::cout << scope << ": written as "
              << out.Paint("revision " + std::to_string(r.revision), Colour::kGreen) << "\n";
  }
  if (r.diagnostics.empty()) {
    std::cout << "validation:      " << out.Paint("ok", Colour::kGreen) << "\n";
  } else {
    const std::size_t n = r.diagnostics.size();
    std::cout << "validation:      "
              << out.Paint("invalid (" + std::to_string(n) + (n == 1 ? " problem)" : " problems)"),
                           Colour::kRed)
              << "\n";
    for (const auto& d : r.diagnostics) {
      std::cout << "  " << (d.path.empty() ? "(root)" : d.path) << ": " << diag_code_name(d.code)
                << ": " << d.message << "\n";
    }
  }
  std::cout << "changes:         " << r.diff_summary << "\n";
  std::string chains;
  for (const auto& c : r.chains_checked) chains += (chains.empty() ? "" : "; ") + c;
  std::cout << "chains checked:  " << (chains.empty() ? "-" : chains) << "\n";
  if (r.blocked_nodes.empty()) {
    std::cout << "blocked nodes:   none\n";
  } else {
    std::cout << "blocked nodes:   "
              << out.Paint(std::to_string(r.blocked_nodes.size()), Colour::kRed) << "\n";
    Table t({"NODE", "SCOPE CHAIN", "REASON"});
    for (const auto& b : r.blocked_nodes) t.Row({b.node_id, b.scope_chain, b.reason});
    t.Print(std::cout, out);
  }
  return code;
}

}  // namespace omnirelay::cli
