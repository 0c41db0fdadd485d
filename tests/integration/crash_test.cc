// Durability under kill -9: the real daemon process takes concurrent writes
// through REST and is killed without warning; every write it acknowledged
// must be in the store afterwards, and revisions must stay gap-free.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "api_harness.h"
#include "daemon_process.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp::testing {
namespace {

// Acknowledged writes survive kill -9, revisions are gap-free, and the daemon restarts.
TEST(CrashTest, AcknowledgedWritesSurviveKill9) {
  char tmpl[] = "/tmp/omnirelay-crash-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::set<std::int64_t> acknowledged;
  {
    DaemonProcess daemon(dir);
    ASSERT_TRUE(daemon.Start());
    const std::string token = daemon.admin_token();
    ASSERT_FALSE(token.empty());

    {
      // The global layer places the writers' cluster scopes (DESIGN.md §3.1).
      httplib::Client client("127.0.0.1", daemon.http_port());
      const std::string global = LayerDoc("global", [](nlohmann::json& spec) {
        for (int w = 0; w < 4; ++w) {
          spec["topology"]["placements"]["writer-" + std::to_string(w)] = {{"cell", "use1-a"}};
        }
      });
      auto res = client.Put("/v1/layers/global", {{"Authorization", "Bearer " + token}}, global,
                            "application/json");
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << res->body;
      acknowledged.insert(nlohmann::json::parse(res->body)["revision"].get<std::int64_t>());
    }

    std::mutex mu;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        httplib::Client client("127.0.0.1", daemon.http_port());
        const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
        const std::string scope = "cluster:writer-" + std::to_string(w);
        const std::string doc = LayerDoc(scope);
        while (!stop) {
          auto res = client.Put("/v1/layers/" + scope, auth, doc, "application/json");
          if (!res) return;  // the daemon is gone
          if (res->status != 200) continue;
          const auto body = nlohmann::json::parse(res->body, nullptr, false);
          if (body.is_discarded()) continue;
          std::lock_guard lock(mu);
          acknowledged.insert(body["revision"].get<std::int64_t>());
        }
      });
    }
    // Let writes flow, then kill the daemon in the middle of them.
    while (true) {
      {
        std::lock_guard lock(mu);
        if (acknowledged.size() >= 200) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    daemon.Kill9();
    stop = true;
    for (auto& t : writers) t.join();
  }
  ASSERT_GE(acknowledged.size(), 200u);

  // The store, opened directly, holds every acknowledged revision, gap-free.
  {
    SqliteOptions options;
    options.path = dir + "/state.db";
    auto store = OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto revisions = (*store)->RevisionsSince(0, 1'000'000);
    ASSERT_TRUE(revisions.ok());
    std::set<std::int64_t> present;
    std::int64_t expect = 1;
    for (const auto& r : *revisions) {
      EXPECT_EQ(r.revision, expect++) << "revisions must be gap-free";
      present.insert(r.revision);
    }
    for (std::int64_t rev : acknowledged) {
      EXPECT_TRUE(present.contains(rev)) << "acknowledged revision " << rev << " was lost";
    }
  }

  // And the daemon comes back on the same data dir.
  DaemonProcess again(dir);
  ASSERT_TRUE(again.Start());
  EXPECT_EQ(again.Stop(), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace omnirelay::cp::testing
