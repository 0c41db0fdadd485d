// The Store contract suite's fixture (store.h), shared by the files that
// add to the suite: the adapter factories every test runs against, a temp
// dir, and record builders. Named namespace (not anonymous), so that every
// file's TEST_P(StoreContractTest, ...) uses the one fixture type.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp::store_contract {

// A fresh directory under /tmp, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "omni-store-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct AdapterFactory {
  std::string name;
  // Opens the store kept in `dir`; the same dir reopens the same data when
  // `durable`. `full_sync` asks for the strongest durability setting.
  std::function<Result<std::unique_ptr<Store>>(const std::string& dir, bool full_sync)> open;
  bool durable = true;
};

// Test names and failure messages show the adapter's name.
inline void PrintTo(const AdapterFactory& factory, std::ostream* os) {
  *os << factory.name;
}

// The adapters the suite runs against in this test binary: SQLite's in the
// unit tests (store_contract_sqlite.cc), Postgres in the postgres-labelled
// tests (store_contract_postgres.cc).
const std::vector<AdapterFactory>& Adapters();

inline LayerWrite Put(std::string scope, std::string document,
                      std::optional<std::int64_t> expected) {
  LayerWrite w;
  w.scope = std::move(scope);
  w.document = std::move(document);
  w.expected_revision = expected;
  w.author = "alice";
  w.now_ms = 1000;
  w.audit.time_ms = 1000;
  w.audit.principal = "alice";
  w.audit.token_id = "tok-1";
  w.audit.action = "layer.put";
  w.audit.scope = w.scope;
  w.audit.outcome = "ok";
  w.audit.summary = "1 field changed";
  return w;
}

inline LayerWrite Delete(std::string scope, std::optional<std::int64_t> expected) {
  LayerWrite w = Put(std::move(scope), "", expected);
  w.document.reset();
  w.audit.action = "layer.delete";
  return w;
}

inline AuditEntry Audit(std::string action, std::int64_t time_ms) {
  AuditEntry a;
  a.time_ms = time_ms;
  a.principal = "admin";
  a.token_id = "tok-admin";
  a.action = std::move(action);
  a.outcome = "ok";
  return a;
}

// Appends `n` entries all timed `time_ms`, 1,000 per transaction.
inline void AppendAuditAt(Store& store, int n, std::int64_t time_ms) {
  for (int done = 0; done < n; done += 1000) {
    std::vector<AuditEntry> chunk(std::min(1000, n - done), Audit("layer.get", time_ms));
    ASSERT_TRUE(store.AppendAudit(chunk).ok());
  }
}

inline TokenRecord Token(std::string id, std::string secret_hash, std::int64_t created_at_ms) {
  TokenRecord t;
  t.id = std::move(id);
  t.secret_hash = std::move(secret_hash);
  t.name = "ci-" + t.id;
  t.scopes = {"config:read", "config:write"};
  t.created_at_ms = created_at_ms;
  t.expires_at_ms = created_at_ms + 3600000;
  return t;
}

class StoreContractTest : public ::testing::TestWithParam<AdapterFactory> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "cannot create a temp dir";
    Open();
  }

  void Open(bool full_sync = false) {
    store_.reset();
    Result<std::unique_ptr<Store>> opened = GetParam().open(dir_.path(), full_sync);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }

  // Writes and asserts success; returns the revision.
  // Two current layers (global at 2, zone:b at 5) and a deleted one.
  void WriteTwoCurrentLayersAndADeletedOne() {
    MustWrite(Put("zone:b", "{}", std::nullopt));          // 1
    MustWrite(Put("global", "{}", std::nullopt));          // 2
    MustWrite(Put("region:us-east", "{}", std::nullopt));  // 3
    MustWrite(Delete("region:us-east", std::nullopt));     // 4
    MustWrite(Put("zone:b", "{\"v\":2}", std::nullopt));   // 5
  }

  static void ExpectTheTwoCurrentLayers(const Result<std::vector<LayerRecord>>& layers) {
    ASSERT_TRUE(layers.ok()) << layers.status().ToString();
    ASSERT_EQ(layers->size(), 2u);
    EXPECT_EQ((*layers)[0].scope, "global");
    EXPECT_EQ((*layers)[0].revision, 2);
    EXPECT_EQ((*layers)[1].scope, "zone:b");
    EXPECT_EQ((*layers)[1].revision, 5);
    EXPECT_EQ((*layers)[1].document, "{\"v\":2}");
  }

  std::int64_t MustWrite(const LayerWrite& w) {
    Result<std::int64_t> r = store_->WriteLayer(w);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : -1;
  }

  std::vector<AuditEntry> AllAudit() {
    Result<std::vector<AuditEntry>> entries = store_->QueryAudit(0, 0, 10000);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    return entries.ok() ? *entries : std::vector<AuditEntry>{};
  }

  std::int64_t Head() {
    Result<std::int64_t> head = store_->HeadRevision();
    EXPECT_TRUE(head.ok()) << head.status().ToString();
    return head.ok() ? *head : -1;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace omnirelay::cp::store_contract
