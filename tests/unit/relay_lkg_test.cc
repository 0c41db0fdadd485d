// Last-known-good: the applied envelope and the highest applied version are
// kept on disk and re-verified at start, so a node restarted without a control
// plane becomes ready, and a replayed older envelope is refused.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "lkg_store.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using testing::kFakeNowUnixS;
using testing::SnapshotDoc;
using testing::TempDir;
using testing::TestSigner;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteAll(const std::filesystem::path& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

class RelayLkgTest : public ::testing::Test {
 protected:
  // A node process: a host over the shared LKG path (a "restart" is a new one).
  std::unique_ptr<ConfigHost> StartNode(OnExpiry on_expiry = OnExpiry::kKeepServing) {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    options.on_expiry = on_expiry;
    options.lkg_path = lkg_path_.string();
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
  TempDir dir_;
  std::filesystem::path lkg_path_ = dir_.path() / "lkg" / "snapshot.dsse.json";
};

// After an apply the envelope and the state file are on disk.
TEST_F(RelayLkgTest, ApplyWritesEnvelopeAndState) {
  auto node = StartNode();
  const std::string envelope = signer_.Sign(SnapshotDoc(12));
  auto outcome = node->Apply(envelope);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(ReadAll(lkg_path_), envelope);
  auto state = LkgStore::ParseState(ReadAll(lkg_path_.string() + ".state"));
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->highest_version, 12);
  EXPECT_EQ(state->hash, outcome->snapshot->hash());
}

// A restarted node loads its last-known-good and is ready without a control plane.
TEST_F(RelayLkgTest, RestartBecomesReadyFromLastKnownGood) {
  std::string hash;
  {
    auto node = StartNode();
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(3))).ok());
    auto outcome = node->Apply(signer_.Sign(SnapshotDoc(4)));
    ASSERT_TRUE(outcome.ok());
    hash = outcome->snapshot->hash();
  }
  auto restarted = StartNode();
  EXPECT_FALSE(restarted->ready());
  auto loaded = restarted->LoadLastKnownGood();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(restarted->ready());
  EXPECT_EQ(restarted->Current()->version(), 4);
  EXPECT_EQ(restarted->Current()->hash(), hash);
}

// Finding 7: a config restored from last-known-good is as stale as it is
// old (counted from its createdAt), not fresh because the process restarted.
TEST_F(RelayLkgTest, StalenessAfterARestartCountsFromCreatedAt) {
  {
    auto node = StartNode();
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(4))).ok());  // createdAt = now
  }
  clock_.AdvanceMs(20 * 60 * 1000);  // 20 minutes later (it expires after an hour)
  auto restarted = StartNode();
  ASSERT_TRUE(restarted->LoadLastKnownGood().ok());
  EXPECT_EQ(restarted->health().staleness_ms, 20 * 60 * 1000);
  restarted->MarkFresh();  // the control plane confirms it
  EXPECT_EQ(restarted->health().staleness_ms, 0);
}

// An older envelope placed at the LKG path is refused after a restart as a rollback.
TEST_F(RelayLkgTest, ReplayedOlderEnvelopeIsRefused) {
  const std::string old_envelope = signer_.Sign(SnapshotDoc(3));
  {
    auto node = StartNode();
    ASSERT_TRUE(node->Apply(old_envelope).ok());
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(4))).ok());
  }
  WriteAll(lkg_path_, old_envelope);
  auto restarted = StartNode();
  auto loaded = restarted->LoadLastKnownGood();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kRollback) << loaded.status().ToString();
  EXPECT_FALSE(restarted->ready());
  EXPECT_EQ(Refusals("rollback"), 1u);
}

// The recorded highest version is a floor for live applies too, even when the LKG was refused.
TEST_F(RelayLkgTest, RecordedHighestVersionBoundsLiveApplies) {
  const std::string old_envelope = signer_.Sign(SnapshotDoc(3));
  {
    auto node = StartNode();
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(9))).ok());
  }
  WriteAll(lkg_path_, old_envelope);
  auto restarted = StartNode();
  ASSERT_FALSE(restarted->LoadLastKnownGood().ok());
  auto outcome = restarted->Apply(old_envelope);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kRollback);
  EXPECT_TRUE(restarted->Apply(signer_.Sign(SnapshotDoc(9))).ok());
}

// A garbage LKG file is refused cleanly: not ready, counted, no crash.
TEST_F(RelayLkgTest, CorruptedEnvelopeIsRefused) {
  {
    auto node = StartNode();
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(5))).ok());
  }
  WriteAll(lkg_path_, "\x01\x02 not an envelope {{{");
  auto restarted = StartNode();
  auto loaded = restarted->LoadLastKnownGood();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument) << loaded.status().ToString();
  EXPECT_FALSE(restarted->ready());
  EXPECT_EQ(restarted->health().last_error.code(), StatusCode::kInvalidArgument);
}

// A truncated LKG file (a torn copy) is refused cleanly.
TEST_F(RelayLkgTest, TruncatedEnvelopeIsRefused) {
  {
    auto node = StartNode();
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(5))).ok());
  }
  const std::string whole = ReadAll(lkg_path_);
  WriteAll(lkg_path_, whole.substr(0, whole.size() / 2));
  auto restarted = StartNode();
  auto loaded = restarted->LoadLastKnownGood();
  ASSERT_FALSE(loaded.ok());
  EXPECT_FALSE(restarted->ready());
}

// A corrupt state file refuses the LKG: without the floor a replay cannot be detected.
TEST_F(RelayLkgTest, CorruptedStateFileIsRefused) {
  {
    auto node = StartNode();
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(5))).ok());
  }
  WriteAll(lkg_path_.string() + ".state", "{\"highestVersion\": \"five\"}");
  auto restarted = StartNode();
  auto loaded = restarted->LoadLastKnownGood();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalid);
  EXPECT_FALSE(restarted->ready());
}

// An LKG envelope that expired while the node was down is refused under
// on_expiry fail_closed (keep_serving: relay_expiry_test.cc).
TEST_F(RelayLkgTest, ExpiredEnvelopeIsRefusedWhenFailingClosed) {
  {
    auto node = StartNode();
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(5, kFakeNowUnixS + 600))).ok());
  }
  clock_.AdvanceMs(3600 * 1000);
  auto restarted = StartNode(OnExpiry::kFailClosed);
  auto loaded = restarted->LoadLastKnownGood();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kExpired);
}

// No LKG on disk (first start) is kNotFound and not counted as a refusal.
TEST_F(RelayLkgTest, NothingSavedIsNotFound) {
  auto node = StartNode();
  auto loaded = node->LoadLastKnownGood();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(node->health().last_error.ok());
}

// An envelope without a state file (seeded by hand) is accepted on its own checks.
TEST_F(RelayLkgTest, EnvelopeWithoutStateFileIsAccepted) {
  std::filesystem::create_directories(lkg_path_.parent_path());
  WriteAll(lkg_path_, signer_.Sign(SnapshotDoc(6)));
  auto node = StartNode();
  auto loaded = node->LoadLastKnownGood();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(node->Current()->version(), 6);
}

// A failure to write the LKG does not fail the apply; it is reported in health.
TEST_F(RelayLkgTest, WriteFailureDoesNotFailApply) {
  WriteAll(dir_.path() / "file", "x");
  ConfigHostOptions options;
  options.trusted_keys = signer_.keys();
  options.lkg_path = (dir_.path() / "file" / "snapshot.json").string();  // under a file
  ConfigHost node(std::move(options), clock_, metrics_);
  ASSERT_TRUE(node.Apply(signer_.Sign(SnapshotDoc(2))).ok());
  EXPECT_TRUE(node.ready());
  EXPECT_EQ(node.health().last_lkg_error.code(), StatusCode::kIoError);
  EXPECT_EQ(metrics_.counter("omnirelay_relay_lkg_write_failures_total", "").value(), 1u);
}

// A re-signed snapshot replaces the saved envelope (its later expiry is what a restart needs).
TEST_F(RelayLkgTest, ResigningUpdatesLastKnownGood) {
  auto node = StartNode();
  ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(5))).ok());
  const std::string resigned = signer_.Sign(SnapshotDoc(5, kFakeNowUnixS + 7200));
  ASSERT_TRUE(node->Apply(resigned).ok());
  EXPECT_EQ(ReadAll(lkg_path_), resigned);
}

// The state file format round-trips and rejects what it does not define.
TEST(RelayLkgStateTest, StateFormat) {
  const LkgState state{42, "sha256:ab"};
  auto parsed = LkgStore::ParseState(LkgStore::FormatState(state));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->highest_version, 42);
  EXPECT_EQ(parsed->hash, "sha256:ab");
  EXPECT_FALSE(LkgStore::ParseState("").ok());
  EXPECT_FALSE(LkgStore::ParseState("[]").ok());
  EXPECT_FALSE(LkgStore::ParseState(R"({"highestVersion": -1})").ok());
  EXPECT_FALSE(LkgStore::ParseState(R"({"highestVersion": 1, "extra": true})").ok());
  EXPECT_FALSE(LkgStore::ParseState(R"({"hash": "sha256:ab"})").ok());
}

}  // namespace
}  // namespace omnirelay::relay
