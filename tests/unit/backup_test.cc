// Backup and restore of a SQLite store (backup.h) while it is being written:
// the copy of a large store reports its progress, the writer never waits
// for it, and what is restored is one committed state — the manifest's head.
#include "backup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "eventually.h"
#include "omnirelay/config/signing.h"
#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using store_contract::Put;
using store_contract::TempDir;

// A data dir as a daemon leaves it: state.db (open here as `store`), the key
// and the trusted keys.
struct DataDir {
  TempDir dir;
  std::unique_ptr<Store> store;

  DataDir() {
    auto key = SigningKey::Generate();
    EXPECT_TRUE(key.ok());
    EXPECT_TRUE(key->SavePem(dir.path() + "/signing-key.pem").ok());
    TrustedKeySet trusted;
    EXPECT_TRUE(trusted.Add(key->public_key_raw()).ok());
    EXPECT_TRUE(trusted.Save(dir.path() + "/trusted-keys.json").ok());
    auto opened = OpenSqliteStore({.path = dir.path() + "/state.db", .synchronous_full = false});
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (opened.ok()) store = std::move(*opened);
  }
};

TEST(BackupTest, ALargeStoreIsCopiedWhileItIsWritten) {
  DataDir data;
  ASSERT_TRUE(data.store);
  // About 48 MiB of rendered snapshots: a copy of many steps.
  const std::string body(128 * 1024, 'x');
  for (int i = 0; i < 384; ++i) {
    SnapshotRecord s;
    s.hash = "sha256:" + std::to_string(i);
    s.snapshot = body;
    s.scope_chain = "global";
    s.version = i;
    ASSERT_TRUE(data.store->PutSnapshot(s).ok());
  }
  std::mutex mu;
  std::map<std::int64_t, std::string> written;  // revision -> document
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<long> worst_ms{0};
  std::thread writer([&] {
    std::int64_t revision = 0;
    for (int n = 0; !stop.load(); ++n) {
      const std::string doc = "{\"n\":" + std::to_string(n) + "}";
      const auto start = std::chrono::steady_clock::now();
      Result<std::int64_t> r = data.store->WriteLayer(Put("global", doc, revision));
      const long ms = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count());
      worst_ms.store(std::max(worst_ms.load(), ms));
      if (!r.ok()) {
        failures.fetch_add(1);
        continue;
      }
      revision = *r;
      std::lock_guard<std::mutex> lock(mu);
      written[revision] = doc;
    }
  });
  ASSERT_TRUE(test_support::Eventually([&] {  // the writer is under way
    std::lock_guard<std::mutex> lock(mu);
    return written.size() >= 3;
  }));

  TempDir out;
  BackupOptions options;
  options.data_dir = data.dir.path();
  options.out_dir = out.path() + "/backup";
  int steps = 0;
  std::size_t writes_before = 0, writes_during = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    writes_before = written.size();
  }
  options.progress = [&](std::int64_t done, std::int64_t total) {
    ++steps;
    EXPECT_LE(done, total);
  };
  const auto started = std::chrono::steady_clock::now();
  Result<BackupManifest> manifest = BackupSqlite(options);
  const long backup_ms = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - started)
                                               .count());
  {
    std::lock_guard<std::mutex> lock(mu);
    writes_during = written.size() - writes_before;
  }
  stop.store(true);
  writer.join();
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_GT(steps, 5);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(writes_during, 0u) << "no write completed during a " << backup_ms << " ms backup";
  std::printf("backup of %lld bytes in %ld ms, %d steps; %zu writes meanwhile, slowest %ld ms\n",
              static_cast<long long>(manifest->state_bytes), backup_ms, steps, writes_during,
              worst_ms.load());
  EXPECT_EQ(manifest->counts.at("snapshots"), 384);

  // Restored, it is the state at the manifest's head: the writer's document
  // of that revision, nothing later.
  const std::string restored = out.path() + "/restored";
  Result<BackupManifest> back = RestoreBackup(options.out_dir, restored);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  auto store = OpenSqliteStore({.path = restored + "/state.db", .synchronous_full = false});
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->HeadRevision(), manifest->head_revision);
  Result<LayerRecord> layer = (*store)->GetLayer("global");
  ASSERT_TRUE(layer.ok());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(layer->revision, manifest->head_revision);
  EXPECT_EQ(layer->document, written[manifest->head_revision]);
}

// A manifest that does not describe its state.db is refused, and the target
// stays untouched.
TEST(BackupTest, RestoreRefusesAManifestThatDoesNotMatch) {
  DataDir data;
  ASSERT_TRUE(data.store);
  ASSERT_TRUE(data.store->WriteLayer(Put("global", "{}", 0)).ok());
  TempDir out;
  BackupOptions options;
  options.data_dir = data.dir.path();
  options.out_dir = out.path() + "/backup";
  auto manifest = BackupSqlite(options);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  BackupManifest lying = *manifest;
  lying.head_revision = 7;
  std::filesystem::remove(options.out_dir + "/manifest.json");
  ASSERT_TRUE(WriteFileAtomically(RealFileSystem(), options.out_dir + "/manifest.json",
                                  ManifestToJson(lying), 0600)
                  .ok());
  Result<BackupManifest> back = RestoreBackup(options.out_dir, out.path() + "/restored");
  EXPECT_EQ(back.status().code(), StatusCode::kInvalid) << back.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(out.path() + "/restored"));
}

}  // namespace
}  // namespace omnirelay::cp
