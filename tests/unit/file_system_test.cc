// WriteFileAtomically over a file system that fails: whatever step fails
// (creating the temporary file, writing it, syncing, renaming), the previous
// file is left whole, no temporary file is left beside it, and the Status
// names the file and the cause.
#include "omnirelay/config/file_system.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fault_file_system.h"
#include "omnirelay/config/signing.h"

namespace omnirelay {
namespace {

using test_support::FaultInjectingFileSystem;
using test_support::FsOp;

class FileSystemTest : public ::testing::Test {
 protected:
  FileSystemTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "omni-fs-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  ~FileSystemTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::vector<std::string> FileNames() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Writes "old", makes `op` fail with `err`, writes "new": the write fails
  // with a message naming the cause, and "old" is all there is.
  void ExpectOldFileSurvives(FsOp op, int err) {
    const std::string path = Path("data.json");
    ASSERT_TRUE(WriteFileAtomically(fs_, path, "old contents", 0644).ok());
    fs_.Fail(op, err);
    const Status written = WriteFileAtomically(fs_, path, std::string(4096, 'n'), 0644);
    EXPECT_EQ(written.code(), StatusCode::kIoError);
    EXPECT_NE(written.message().find(std::strerror(err)), std::string::npos) << written.message();
    EXPECT_NE(written.message().find("data.json"), std::string::npos) << written.message();
    EXPECT_EQ(ReadAll(path), "old contents");
    EXPECT_EQ(FileNames(), std::vector<std::string>{"data.json"});
  }

  std::filesystem::path dir_;
  FaultInjectingFileSystem fs_;
};

// The real file system replaces the file, with the requested mode.
TEST_F(FileSystemTest, WriteReplacesTheFileWithItsMode) {
  const std::string path = Path("key.pem");
  ASSERT_TRUE(WriteFileAtomically(RealFileSystem(), path, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(RealFileSystem(), path, "two", 0600).ok());
  EXPECT_EQ(ReadAll(path), "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(FileNames(), std::vector<std::string>{"key.pem"});
}

// A full disk mid-write (ENOSPC) leaves the previous file and no torn temporary file.
TEST_F(FileSystemTest, DiskFullKeepsPreviousFile) {
  ExpectOldFileSurvives(FsOp::kAppend, ENOSPC);
}

// A directory that refuses new files (EACCES) leaves the previous file.
TEST_F(FileSystemTest, PermissionDeniedKeepsPreviousFile) {
  ExpectOldFileSurvives(FsOp::kCreateTemp, EACCES);
}

// A failed fsync is a failed write: nothing is renamed into place.
TEST_F(FileSystemTest, FailedSyncKeepsPreviousFile) {
  ExpectOldFileSurvives(FsOp::kSync, EIO);
}

// A failed rename leaves the previous file and removes the temporary one.
TEST_F(FileSystemTest, FailedRenameKeepsPreviousFile) {
  ExpectOldFileSurvives(FsOp::kRename, EXDEV);
}

// A directory fsync failure after the rename does not undo a durable write.
TEST_F(FileSystemTest, DirectorySyncFailureIsNotAWriteFailure) {
  fs_.Fail(FsOp::kSyncDirectory, EIO);
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("f"), "new", 0644).ok());
  EXPECT_EQ(ReadAll(Path("f")), "new");
}

// A trusted-keys file whose save fails stays the previous set, still loadable.
TEST_F(FileSystemTest, FailedTrustedKeysSaveKeepsPreviousSet) {
  const std::string path = Path("trusted-keys.json");
  auto public_key = [](char fill) {
    return SigningKey::FromSeed(std::string(32, fill)).value().public_key_raw();
  };
  TrustedKeySet set;
  ASSERT_TRUE(set.Add(public_key('a')).ok());
  ASSERT_TRUE(set.Save(path, fs_).ok());
  ASSERT_TRUE(set.Add(public_key('b')).ok());
  fs_.Fail(FsOp::kRename, EIO, "trusted-keys.json");
  EXPECT_EQ(set.Save(path, fs_).code(), StatusCode::kIoError);
  fs_.Clear();
  Result<TrustedKeySet> loaded = TrustedKeySet::Load(path, fs_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->keys().size(), 1u);
  EXPECT_EQ(FileNames(), std::vector<std::string>{"trusted-keys.json"});
}

// A read failure is reported with its cause, not taken as an empty file.
TEST_F(FileSystemTest, ReadFailureIsAnError) {
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("f"), "x", 0644).ok());
  fs_.Fail(FsOp::kReadFile, EACCES);
  Result<std::string> read = fs_.ReadFile(Path("f"), 100);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace omnirelay
