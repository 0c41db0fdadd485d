// The service's write path around PlanWrite: what it publishes after a
// commit, how it reports a bus that refuses, and the one size limit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {
namespace {

// A bus that records what it is given and refuses it while `fail` is set.
class FakeBus final : public Bus {
 public:
  Status Publish(const ChangeEvent& event) override {
    MutexLock lock(mu_);
    events_.push_back(event);
    if (fail_) return Status(StatusCode::kUnavailable, "bus down");
    return Status::Ok();
  }
  int Subscribe(Handler) override { return 1; }
  void Unsubscribe(int) override {}

  void set_fail(bool fail) {
    MutexLock lock(mu_);
    fail_ = fail;
  }
  std::vector<ChangeEvent> events() {
    MutexLock lock(mu_);
    return events_;
  }

 private:
  Mutex mu_;
  std::vector<ChangeEvent> events_ GUARDED_BY(mu_);
  bool fail_ GUARDED_BY(mu_) = false;
};

class ServiceWriteTest : public ::testing::Test {
 protected:
  ServiceWriteTest() {
    char tmpl[] = "/tmp/omnirelay-write-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    key_ = std::make_unique<SigningKey>(std::move(SigningKey::Generate().value()));
    EXPECT_TRUE(trusted_.Add(key_->public_key_raw()).ok());
    SqliteOptions so;
    so.path = dir_ + "/state.db";
    so.synchronous_full = false;
    store_ = std::move(OpenSqliteStore(so).value());
    auth_ = std::make_unique<Authenticator>(*store_, clock_);
    renderer_ = std::make_unique<SnapshotRenderer>(*store_, *key_, clock_, metrics_);
    service_ = std::make_unique<ControlPlaneService>(*store_, bus_, *auth_, *renderer_, trusted_,
                                                     clock_, metrics_);
  }
  ~ServiceWriteTest() override {
    service_.reset();
    renderer_.reset();
    auth_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static std::string GlobalLayer() {
    std::ifstream in(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::uint64_t PublishFailures() {
    return metrics_.counter("omnirelay_cp_bus_publish_failures_total", "").value();
  }

  const Principal admin_{"bootstrap", "admin", {"admin"}};
  std::string dir_;
  FakeClock clock_{1'800'000'000'000};
  MetricsRegistry metrics_;
  std::unique_ptr<SigningKey> key_;
  TrustedKeySet trusted_;
  std::unique_ptr<Store> store_;
  FakeBus bus_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<SnapshotRenderer> renderer_;
  std::unique_ptr<ControlPlaneService> service_;
};

// A committed write publishes its revision, its scope and the content id of
// the layer document it wrote; a deletion publishes "" for the scope.
TEST_F(ServiceWriteTest, ChangeEventCarriesLayerHashes) {
  const std::string doc = GlobalLayer();
  auto put = service_->PutLayer(admin_, "global", doc, std::nullopt, false, false);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto del = service_->DeleteLayer(admin_, "global", put->revision, false, true);
  ASSERT_TRUE(del.ok()) << del.status().ToString();

  auto events = bus_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].revision, put->revision);
  EXPECT_EQ(events[0].scopes, std::vector<std::string>{"global"});
  EXPECT_EQ(events[0].hashes, std::vector<std::string>{ContentId(doc)});
  EXPECT_EQ(events[1].revision, del->revision);
  EXPECT_EQ(events[1].hashes, std::vector<std::string>{""});
}

// A dry run commits nothing and publishes nothing.
TEST_F(ServiceWriteTest, DryRunPublishesNothing) {
  auto put = service_->PutLayer(admin_, "global", GlobalLayer(), std::nullopt, true, false);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_TRUE(bus_.events().empty());
}

// A bus that refuses an event is counted; the committed write still succeeds.
TEST_F(ServiceWriteTest, FailedPublishIsCounted) {
  bus_.set_fail(true);
  EXPECT_EQ(PublishFailures(), 0u);
  auto put = service_->PutLayer(admin_, "global", GlobalLayer(), std::nullopt, false, false);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_GT(put->revision, 0);
  EXPECT_EQ(PublishFailures(), 1u);
  EXPECT_NE(metrics_.RenderPrometheus().find("omnirelay_cp_bus_publish_failures_total 1"),
            std::string::npos);
  bus_.set_fail(false);
  auto again = service_->PutLayer(admin_, "global", GlobalLayer(), put->revision, false, false);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(PublishFailures(), 1u);
}

// A token revocation whose event the bus refuses is counted too.
TEST_F(ServiceWriteTest, FailedRevocationPublishIsCounted) {
  auto issued = service_->CreateToken(admin_, "ci", {"config:read"}, 0);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  bus_.set_fail(true);
  EXPECT_TRUE(service_->RevokeToken(admin_, issued->record.id).ok());
  EXPECT_EQ(PublishFailures(), 1u);
}

// One size limit: a layer just over kDefaultMaxDocumentBytes is refused by
// the service (too_large) with the very diagnostic offline validation gives.
TEST_F(ServiceWriteTest, LayerJustOverTheLimitRefusedLikeOffline) {
  std::string doc = GlobalLayer();
  doc.append(kDefaultMaxDocumentBytes + 1 - doc.size(), ' ');
  auto put = service_->PutLayer(admin_, "global", doc, std::nullopt, false, false);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), StatusCode::kTooLarge);

  DocumentSetReport offline = ValidateDocuments({{"layer.json", doc}});
  ASSERT_EQ(offline.errors.size(), 1u);
  EXPECT_EQ(offline.errors[0].diagnostic.code, DiagCode::kParseError);
  ASSERT_EQ(put.status().diagnostics().size(), 1u);
  EXPECT_EQ(put.status().diagnostics()[0], offline.errors[0].diagnostic);
  EXPECT_TRUE(bus_.events().empty());
}

// A layer at the limit passes both, the same way.
TEST_F(ServiceWriteTest, LayerAtTheLimitAcceptedLikeOffline) {
  std::string doc = GlobalLayer();
  doc.append(kDefaultMaxDocumentBytes - doc.size(), ' ');
  EXPECT_TRUE(ValidateDocuments({{"layer.json", doc}}).valid());
  auto put = service_->PutLayer(admin_, "global", doc, std::nullopt, true, false);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_TRUE(put->diagnostics.empty());
}

}  // namespace
}  // namespace omnirelay::cp
