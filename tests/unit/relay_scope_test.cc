// The scope check (DESIGN.md §3.3, scope_mismatch): a node that knows its own
// scope chain refuses a snapshot rendered for another chain, keeping what it has.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using testing::Json;
using testing::SnapshotDoc;
using testing::TestSigner;

const std::vector<std::string> kOwnChain = {"global", "region:us-east", "cell:use1-a"};

class RelayScopeTest : public ::testing::Test {
 protected:
  std::unique_ptr<ConfigHost> MakeHost(std::vector<std::string> chain) {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    options.verify.scope_chain = std::move(chain);
    return std::make_unique<ConfigHost>(std::move(options), clock_, metrics_);
  }
  std::uint64_t Refusals(std::string_view reason) {
    return metrics_
        .counter("omnirelay_relay_snapshot_refusals_total", "",
                 "reason=\"" + std::string(reason) + "\"")
        .value();
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  TestSigner signer_;
};

// A snapshot of the node's own chain is accepted.
TEST_F(RelayScopeTest, OwnChainIsAccepted) {
  auto host = MakeHost(kOwnChain);
  auto outcome = host->Apply(signer_.Sign(SnapshotDoc(1)));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(host->ready());
}

// A snapshot rendered for another region is refused as scope_mismatch, counted,
// and the applied snapshot stays in force.
TEST_F(RelayScopeTest, OtherChainIsScopeMismatch) {
  auto host = MakeHost(kOwnChain);
  ASSERT_TRUE(host->Apply(signer_.Sign(SnapshotDoc(1))).ok());
  Json doc = SnapshotDoc(2);
  doc["metadata"]["scopeChain"] = {"global", "region:eu-west"};
  auto outcome = host->Apply(signer_.Sign(doc));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kScopeMismatch);
  EXPECT_EQ(outcome.status().code_name(), "scope_mismatch");
  EXPECT_EQ(Refusals("scope_mismatch"), 1u);
  EXPECT_EQ(host->Current()->version(), 1);
}

// A prefix of the node's chain (a snapshot missing its cell layer) is refused too.
TEST_F(RelayScopeTest, ShorterChainIsScopeMismatch) {
  auto host = MakeHost(kOwnChain);
  Json doc = SnapshotDoc(1);
  doc["metadata"]["scopeChain"] = {"global", "region:us-east"};
  auto outcome = host->Apply(signer_.Sign(doc));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kScopeMismatch);
  EXPECT_FALSE(host->ready());
}

// Without a configured chain the check is off (library users that do not know it).
TEST_F(RelayScopeTest, NoConfiguredChainSkipsTheCheck) {
  auto host = MakeHost({});
  Json doc = SnapshotDoc(1);
  doc["metadata"]["scopeChain"] = {"global", "region:eu-west"};
  EXPECT_TRUE(host->Apply(signer_.Sign(doc)).ok());
}

// The scope check runs after the signature check: a forged snapshot for
// another chain is bad_signature, not scope_mismatch.
TEST_F(RelayScopeTest, SignatureIsCheckedBeforeScope) {
  auto host = MakeHost(kOwnChain);
  TestSigner stranger;
  Json doc = SnapshotDoc(1);
  doc["metadata"]["scopeChain"] = {"global"};
  auto outcome = host->Apply(stranger.Sign(doc));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kUnknownKey);
}

// The reason has its stable wire name.
TEST(StatusCodeName, ScopeMismatch) {
  EXPECT_EQ(status_code_name(StatusCode::kScopeMismatch), "scope_mismatch");
}

}  // namespace
}  // namespace omnirelay::relay
