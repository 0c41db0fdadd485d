#include "omnirelay/config/scope.h"

#include <array>
#include <utility>

namespace omnirelay {
namespace {

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

constexpr std::array<std::pair<std::string_view, ScopeLevel>, 4> kPrefixes = {{
    {"region", ScopeLevel::kRegion},
    {"cell", ScopeLevel::kCell},
    {"cluster", ScopeLevel::kCluster},
    {"node", ScopeLevel::kNode},
}};

}  // namespace

std::string_view ScopeLevelName(ScopeLevel level) {
  switch (level) {
    case ScopeLevel::kGlobal:
      return "global";
    case ScopeLevel::kRegion:
      return "region";
    case ScopeLevel::kCell:
      return "cell";
    case ScopeLevel::kCluster:
      return "cluster";
    case ScopeLevel::kNode:
      return "node";
  }
  return "global";
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!IsLowerAlnum(name.front()) || !IsLowerAlnum(name.back())) return false;
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 253) return false;
  if (!IsLowerAlnum(id.front()) || !IsLowerAlnum(id.back())) return false;
  for (char c : id) {
    if (!IsLowerAlnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

std::string Scope::ToString() const {
  if (level == ScopeLevel::kGlobal) return "global";
  std::string out(ScopeLevelName(level));
  out.push_back(':');
  out += name;
  return out;
}

Result<Scope> ParseScope(std::string_view text) {
  if (text == "global") return Scope{ScopeLevel::kGlobal, ""};
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument,
                  "scope \"" + std::string(text) +
                      "\" is not one of global, region:<r>, cell:<c>, cluster:<k>, node:<id>");
  }
  const std::string_view prefix = text.substr(0, colon);
  const std::string_view name = text.substr(colon + 1);
  for (const auto& [word, level] : kPrefixes) {
    if (prefix != word) continue;
    const bool ok = level == ScopeLevel::kNode ? IsValidNodeId(name) : IsValidName(name);
    if (!ok) {
      return Status(StatusCode::kInvalidArgument,
                    "scope \"" + std::string(text) + "\": \"" + std::string(name) +
                        "\" is not a valid " + std::string(word) +
                        (level == ScopeLevel::kNode ? " id" : " name"));
    }
    return Scope{level, std::string(name)};
  }
  return Status(
      StatusCode::kInvalidArgument,
      "scope \"" + std::string(text) + "\" has unknown level \"" + std::string(prefix) + "\"");
}

Status CheckScopeChain(const std::vector<Scope>& chain) {
  if (chain.empty()) return Status(StatusCode::kInvalidArgument, "scope chain is empty");
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (static_cast<int>(chain[i].level) <= static_cast<int>(chain[i - 1].level)) {
      return Status(StatusCode::kInvalidArgument,
                    "scope chain must go from least to most specific "
                    "(global < region < cell < cluster < node): \"" +
                        chain[i].ToString() + "\" cannot follow \"" + chain[i - 1].ToString() +
                        "\"");
    }
  }
  return Status::Ok();
}

std::vector<std::string> SplitCommaList(std::string_view text) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    items.emplace_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

Result<std::vector<std::string>> SplitNonEmptyCommaList(std::string_view text,
                                                        std::string_view what) {
  std::vector<std::string> items = SplitCommaList(text);
  for (const std::string& item : items) {
    if (item.empty()) {
      return Status(StatusCode::kInvalidArgument,
                    std::string(what) + " \"" + std::string(text) + "\" has an empty item");
    }
  }
  return items;
}

Result<std::vector<Scope>> ParseScopeChain(std::string_view text) {
  std::vector<Scope> chain;
  for (const std::string& item : SplitCommaList(text)) {
    OMNI_ASSIGN_OR_RETURN(Scope scope, ParseScope(item));
    chain.push_back(std::move(scope));
  }
  OMNI_RETURN_IF_ERROR(CheckScopeChain(chain));
  return chain;
}

std::string ScopeChainToString(const std::vector<Scope>& chain) {
  std::string out;
  for (const auto& s : chain) {
    if (!out.empty()) out.push_back(',');
    out += s.ToString();
  }
  return out;
}

}  // namespace omnirelay
