// The daemon's data-dir writes (signing key, trusted-keys.json, admin token)
// when the file system fails: Start fails with a Status naming the file and
// the cause, the file that was there is left whole, and no temporary file is
// left in the data dir.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fault_file_system.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/daemon.h"
#include "snapshot_fixtures.h"

namespace omnirelay::cp {
namespace {

using relay::testing::TempDir;
using relay::testing::TestSigner;
using test_support::FaultInjectingFileSystem;
using test_support::FsOp;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class DaemonDataDirTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Daemon>> Start(FileSystem* files) {
    DaemonOptions options;
    options.data_dir = data_dir_.string();
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.sqlite_synchronous_full = false;
    options.file_system = files;
    return Daemon::Start(options);
  }

  bool HasTemporaryFiles() const {
    for (const auto& entry : std::filesystem::directory_iterator(data_dir_)) {
      if (entry.path().filename().string().find(".tmp.") != std::string::npos) return true;
    }
    return false;
  }

  // A data dir from an earlier run whose trusted-keys.json lists only another
  // key, so the next start must rewrite it. Returns the file's contents.
  std::string SeedForeignTrustedKeys() {
    {
      auto daemon = Start(nullptr);
      EXPECT_TRUE(daemon.ok()) << daemon.status().ToString();
    }
    const std::string foreign = signer_.keys().ToJson();
    std::ofstream(data_dir_ / "trusted-keys.json", std::ios::trunc) << foreign;
    return foreign;
  }

  TestSigner signer_;
  TempDir dir_;
  std::filesystem::path data_dir_ = dir_.path() / "data";
  FaultInjectingFileSystem files_;
};

// A failed rename of trusted-keys.json fails the start and keeps the old file.
TEST_F(DaemonDataDirTest, FailedTrustedKeysRenameKeepsPreviousFile) {
  const std::string previous = SeedForeignTrustedKeys();
  files_.Fail(FsOp::kRename, EIO, "trusted-keys.json");
  auto daemon = Start(&files_);
  ASSERT_FALSE(daemon.ok());
  EXPECT_EQ(daemon.status().code(), StatusCode::kIoError);
  EXPECT_NE(daemon.status().message().find("trusted-keys.json"), std::string::npos)
      << daemon.status().message();
  EXPECT_NE(daemon.status().message().find(std::strerror(EIO)), std::string::npos);
  EXPECT_EQ(ReadAll(data_dir_ / "trusted-keys.json"), previous);
  EXPECT_FALSE(HasTemporaryFiles());
}

// A full disk while writing trusted-keys.json fails the start and keeps the old file.
TEST_F(DaemonDataDirTest, DiskFullTrustedKeysWriteKeepsPreviousFile) {
  const std::string previous = SeedForeignTrustedKeys();
  files_.Fail(FsOp::kAppend, ENOSPC, "trusted-keys.json");
  auto daemon = Start(&files_);
  ASSERT_FALSE(daemon.ok());
  EXPECT_NE(daemon.status().message().find(std::strerror(ENOSPC)), std::string::npos)
      << daemon.status().message();
  EXPECT_EQ(ReadAll(data_dir_ / "trusted-keys.json"), previous);
  EXPECT_FALSE(HasTemporaryFiles());
}

// A first start that cannot create the signing key fails before anything else is written.
TEST_F(DaemonDataDirTest, UnwritableSigningKeyFailsFirstStart) {
  files_.Fail(FsOp::kCreateTemp, EACCES, "signing-key.pem");
  auto daemon = Start(&files_);
  ASSERT_FALSE(daemon.ok());
  EXPECT_EQ(daemon.status().code(), StatusCode::kIoError);
  EXPECT_NE(daemon.status().message().find(std::strerror(EACCES)), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(data_dir_ / "signing-key.pem"));
  EXPECT_FALSE(std::filesystem::exists(data_dir_ / "trusted-keys.json"));
  EXPECT_FALSE(HasTemporaryFiles());
}

// A data dir that refuses writes is reported at start, by the write probe.
TEST_F(DaemonDataDirTest, UnwritableDataDirFailsStart) {
  files_.Fail(FsOp::kCreateTemp, EACCES);
  auto daemon = Start(&files_);
  ASSERT_FALSE(daemon.ok());
  EXPECT_NE(daemon.status().message().find("is not writable"), std::string::npos)
      << daemon.status().message();
}

// A failed first start on the data dir's own state.db, its path spelt
// another way, still leaves the new data dir empty: nothing outside it
// refers to its key or admin token.
TEST_F(DaemonDataDirTest, FailedStartOnOwnStoreSpeltAnotherWayLeavesNothing) {
  TempDir other;
  DaemonOptions holder;
  holder.data_dir = (other.path() / "data").string();
  holder.grpc_listen = "127.0.0.1:0";
  holder.http_listen = "127.0.0.1:0";
  holder.sqlite_synchronous_full = false;
  auto held = Daemon::Start(holder);  // holds a gRPC port
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  DaemonOptions options;
  options.data_dir = data_dir_.string();
  options.store_url = "sqlite://" + (data_dir_ / ".." / "data" / "state.db").string();
  options.grpc_listen = "127.0.0.1:" + std::to_string((*held)->grpc_port());
  options.http_listen = "127.0.0.1:0";
  options.sqlite_synchronous_full = false;
  auto daemon = Daemon::Start(options);
  ASSERT_FALSE(daemon.ok());
  for (const char* name : {"signing-key.pem", "trusted-keys.json", "admin.token", "state.db"}) {
    EXPECT_FALSE(std::filesystem::exists(data_dir_ / name)) << name;
  }
}

}  // namespace
}  // namespace omnirelay::cp
