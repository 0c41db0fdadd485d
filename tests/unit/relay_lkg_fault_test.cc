// Last-known-good writes that fail (disk full, no permission, a failed
// rename): the apply still succeeds and the host serves the new snapshot; the
// failure is reported in health; the files on disk stay those of the previous
// successful write, whole and loadable, with no temporary file left behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fault_file_system.h"
#include "lkg_store.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using omnirelay::test_support::FaultInjectingFileSystem;
using omnirelay::test_support::FsOp;
using testing::SnapshotDoc;
using testing::TempDir;
using testing::TestSigner;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> FileNames(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class RelayLkgFaultTest : public ::testing::Test {
 protected:
  std::unique_ptr<ConfigHost> StartNode(FileSystem& fs) {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    options.lkg_path = lkg_path_.string();
    options.file_system = &fs;
    return std::make_unique<ConfigHost>(std::move(options), clock_, metrics_);
  }

  // Applies version 1 (saved), makes `op` fail with `err`, applies version 2,
  // and checks what the host and the disk then hold.
  void ExpectPreviousLkgSurvives(FsOp op, int err) {
    auto node = StartNode(fs_);
    const std::string first = signer_.Sign(SnapshotDoc(1));
    ASSERT_TRUE(node->Apply(first).ok());
    const std::string first_state = ReadAll(lkg_path_.string() + ".state");
    ASSERT_FALSE(first_state.empty());

    fs_.Fail(op, err);
    auto second = node->Apply(signer_.Sign(SnapshotDoc(2)));
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_GT(fs_.injected(), 0);
    // The host serves what it applied.
    EXPECT_EQ(node->Current()->version(), 2);
    // The failure is reported, with the errno's text.
    const Status lkg_error = node->health().last_lkg_error;
    EXPECT_EQ(lkg_error.code(), StatusCode::kIoError);
    EXPECT_NE(lkg_error.message().find(std::strerror(err)), std::string::npos)
        << lkg_error.message();
    EXPECT_EQ(metrics_.counter("omnirelay_relay_lkg_write_failures_total", "").value(), 1u);
    // The previous files are intact and nothing else is in the directory.
    EXPECT_EQ(ReadAll(lkg_path_), first);
    EXPECT_EQ(ReadAll(lkg_path_.string() + ".state"), first_state);
    EXPECT_EQ(FileNames(lkg_path_.parent_path()),
              (std::vector<std::string>{"snapshot.dsse.json", "snapshot.dsse.json.state"}));

    // A restart loads the previous snapshot.
    fs_.Clear();
    auto restarted = StartNode(fs_);
    auto loaded = restarted->LoadLastKnownGood();
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ(restarted->Current()->version(), 1);
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  TestSigner signer_;
  TempDir dir_;
  FaultInjectingFileSystem fs_;
  std::filesystem::path lkg_path_ = dir_.path() / "lkg" / "snapshot.dsse.json";
};

// A disk that fills up mid-write (ENOSPC) leaves the previous LKG in place.
TEST_F(RelayLkgFaultTest, DiskFullKeepsPreviousLastKnownGood) {
  ExpectPreviousLkgSurvives(FsOp::kAppend, ENOSPC);
}

// A directory that refuses new files (EACCES) leaves the previous LKG in place.
TEST_F(RelayLkgFaultTest, PermissionDeniedKeepsPreviousLastKnownGood) {
  ExpectPreviousLkgSurvives(FsOp::kCreateTemp, EACCES);
}

// A failed rename removes the temporary file and leaves the previous LKG in place.
TEST_F(RelayLkgFaultTest, FailedRenameKeepsPreviousLastKnownGood) {
  ExpectPreviousLkgSurvives(FsOp::kRename, EIO);
}

// A failed fsync is a failed write: the temporary file is never renamed into place.
TEST_F(RelayLkgFaultTest, FailedSyncKeepsPreviousLastKnownGood) {
  ExpectPreviousLkgSurvives(FsOp::kSync, EIO);
}

// After a failed write, the next apply is saved again.
TEST_F(RelayLkgFaultTest, NextApplyAfterTheFaultIsSaved) {
  auto node = StartNode(fs_);
  fs_.Fail(FsOp::kRename, EIO);
  ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(1))).ok());
  EXPECT_FALSE(std::filesystem::exists(lkg_path_));
  fs_.Clear();
  const std::string second = signer_.Sign(SnapshotDoc(2));
  ASSERT_TRUE(node->Apply(second).ok());
  EXPECT_EQ(ReadAll(lkg_path_), second);
}

// An unreadable LKG file at start is refused with the I/O error, not taken as absent.
TEST_F(RelayLkgFaultTest, UnreadableLastKnownGoodIsAnError) {
  {
    auto node = StartNode(fs_);
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(3))).ok());
  }
  fs_.Fail(FsOp::kReadFile, EACCES, ".state");
  auto restarted = StartNode(fs_);
  auto loaded = restarted->LoadLastKnownGood();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kIoError);
  EXPECT_FALSE(restarted->ready());
}

}  // namespace
}  // namespace omnirelay::relay
