// The SQLite adapters of the Store contract suite (store_contract.h).
#include <string>
#include <vector>

#include "store_contract.h"

namespace omnirelay::cp::store_contract {

const std::vector<AdapterFactory>& Adapters() {
  static const std::vector<AdapterFactory> kAdapters = {
      {"SqliteFile",
       [](const std::string& dir, bool full_sync) {
         return OpenSqliteStore({.path = dir + "/state.db", .synchronous_full = full_sync});
       },
       true},
      {"SqliteMemory",
       [](const std::string&, bool full_sync) {
         return OpenSqliteStore({.path = ":memory:", .synchronous_full = full_sync});
       },
       false},
  };
  return kAdapters;
}

}  // namespace omnirelay::cp::store_contract
