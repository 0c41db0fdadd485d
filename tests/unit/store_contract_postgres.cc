// The Postgres adapter of the Store contract suite (store_contract.h): each
// test opens a database of its own on the fixture's server, dropped when
// the test ends.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "postgres_test_server.h"
#include "store_contract.h"

namespace omnirelay::cp::store_contract {

const std::vector<AdapterFactory>& Adapters() {
  static const std::vector<AdapterFactory> kAdapters = {
      {"Postgres",
       [](const std::string& dir, bool) -> Result<std::unique_ptr<Store>> {
         // Postgres decides durability itself (synchronous_commit): full_sync
         // has nothing to choose.
         const std::string server = pg_test::FixtureServerUrl();
         if (server.empty()) return Status(StatusCode::kUnavailable, "no test server");
         try {
           return OpenPostgresStore(
               {.url = pg_test::EnsureDatabase(server, pg_test::DatabaseFor(dir))});
         } catch (const std::exception& e) {
           return Status(StatusCode::kUnavailable,
                         std::string("cannot create the test database: ") + e.what());
         }
       },
       true},
  };
  return kAdapters;
}

namespace {

// Drops each test's databases once the test (and its stores) are gone.
class DropDatabasesAfterEachTest : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo&) override { pg_test::DropCreatedDatabases(); }
};

const bool kRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new DropDatabasesAfterEachTest);
  return true;
}();

}  // namespace
}  // namespace omnirelay::cp::store_contract
