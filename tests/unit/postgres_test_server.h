// The Postgres server the postgres-labelled tests run against, and a fresh
// database per test on it.
//
// The server is started by the ctest fixture (tests/CMakeLists.txt:
// postgres_server_start runs scripts/pg-server.sh start STATE_DIR) and
// found through OMNI_TEST_PG_STATE, the state dir whose `url` file holds
// "postgresql://postgres@127.0.0.1:<port>". Run by hand, start one first:
//   scripts/pg-server.sh start /tmp/pg && OMNI_TEST_PG_STATE=/tmp/pg <binary>
// There is no silent skip: without a server, the tests fail saying so.
//
// Thread safety: the functions may be called from any thread.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace omnirelay::cp::pg_test {

// The url of the server in `state_dir` ("" and a failed expectation if none).
inline std::string ServerUrl(const std::string& state_dir) {
  std::ifstream in(state_dir + "/url");
  std::string url;
  std::getline(in, url);
  EXPECT_FALSE(url.empty()) << "no Postgres server url in " << state_dir
                            << "/url; start one with scripts/pg-server.sh start " << state_dir;
  return url;
}

// The url of the fixture's server.
inline std::string FixtureServerUrl() {
  const char* state = std::getenv("OMNI_TEST_PG_STATE");
  if (state == nullptr || *state == '\0') {
    ADD_FAILURE() << "OMNI_TEST_PG_STATE is not set: run through ctest (the postgres fixture "
                     "starts the server) or set it to a dir started by scripts/pg-server.sh";
    return "";
  }
  return ServerUrl(state);
}

// A database name made of `dir`'s last component: mkdtemp makes it unique
// on this machine, and the same dir names the same database again.
inline std::string DatabaseFor(const std::string& dir) {
  const std::string base = dir.substr(dir.find_last_of('/') + 1);
  std::string name = "omni_";
  for (char c : base) name += (std::isalnum(static_cast<unsigned char>(c)) != 0) ? c : '_';
  return name;
}

// The databases created by this process, dropped by DropCreatedDatabases.
struct Created {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> databases;  // (server url, name)
};
inline Created& CreatedDatabases() {
  static Created created;
  return created;
}

// Creates database `name` on the server at `server_url` unless it exists;
// the url of the database. Throws on a connection failure.
inline std::string EnsureDatabase(const std::string& server_url, const std::string& name) {
  pqxx::connection admin(server_url + "/postgres");
  pqxx::nontransaction txn(admin);
  if (txn.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", name).empty()) {
    txn.exec0("CREATE DATABASE " + txn.quote_name(name));
    std::lock_guard<std::mutex> lock(CreatedDatabases().mu);
    CreatedDatabases().databases.emplace_back(server_url, name);
  }
  return server_url + "/" + name;
}

// Drops every database this process created (their sessions are ended).
inline void DropCreatedDatabases() {
  std::vector<std::pair<std::string, std::string>> databases;
  {
    std::lock_guard<std::mutex> lock(CreatedDatabases().mu);
    databases.swap(CreatedDatabases().databases);
  }
  for (const auto& [server, name] : databases) {
    try {
      pqxx::connection admin(server + "/postgres");
      pqxx::nontransaction txn(admin);
      txn.exec0("DROP DATABASE IF EXISTS " + txn.quote_name(name) + " WITH (FORCE)");
    } catch (const std::exception&) {
      // The server is gone (a test stopped it); its data dir goes with it.
    }
  }
}

// Ends every other session of the database at `url` (as a server restart
// would for its clients) and waits until they are gone (at most 10 s):
// true when they are. Each query runs in its own transaction: within one,
// pg_stat_activity would keep showing what it showed first.
inline bool TerminateOtherSessions(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::nontransaction txn(conn);
  const std::string others =
      " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
  txn.exec("SELECT pg_terminate_backend(pid)" + others);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (txn.exec1("SELECT count(*)" + others)[0].as<int>() > 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace omnirelay::cp::pg_test
