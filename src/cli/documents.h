// Documents on the client side: reading them from files or stdin, the
// structural diff `config diff` shows, and the report of a (dry-run) write
// that every mutating command prints.
//
// Thread safety: reentrant.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client.h"
#include "output.h"

namespace omnirelay::cli {

// Reads a file ('-' = stdin) of at most limit + 1 bytes, so that an oversize
// input is reported by the decoder without reading all of it.
Result<std::string> ReadInput(const std::string& name, std::size_t limit);

// One difference between two JSON documents, located by a JSON Pointer.
// Objects are compared member by member; arrays and scalars as values.
struct JsonChange {
  char op;  // '+' added, '-' removed, '~' changed
  std::string path;
  nlohmann::json before, after;  // null where absent
};
std::vector<JsonChange> DiffJson(const nlohmann::json& before, const nlohmann::json& after);

// Prints the outcome of SetLayer (dry run or write) for `scope` and returns
// the exit code: 0, or 3 when a dry run found problems or blocking nodes.
// -o json prints the write result as REST answers it, with `extra` merged in.
int PrintWriteResult(const std::string& scope, const WriteResult& result, const Output& out,
                     nlohmann::json extra = nlohmann::json::object());

}  // namespace omnirelay::cli
