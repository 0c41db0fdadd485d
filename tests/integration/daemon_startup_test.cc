// Startup hygiene and exclusivity of the daemon (issue "Fleet truth",
// findings 4 and 5): addresses checked before anything is made, a failed
// start leaves a new data dir as it found it, one daemon per data dir,
// gRPC's own log lines kept from the operator, --version everywhere.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "daemon_process.h"

namespace omnirelay::cli::testing {
namespace {

namespace fs = std::filesystem;
using cp::testing::DaemonProcess;

class DaemonStartupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/omnirelay-startup-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The daemon's state files present in `dir` (ignoring the lock file).
  static std::vector<std::string> StateIn(const std::string& dir) {
    std::vector<std::string> out;
    if (!fs::exists(dir)) return out;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name != "controlplane.lock") out.push_back(name);
    }
    return out;
  }

  CliResult Daemon(const std::vector<std::string>& args) {
    return RunBinary(OMNI_CONTROLPLANE_BIN, args);
  }

  std::string dir_;
};

// A listening socket on 127.0.0.1 (any port), held for the test.
class Occupied {
 public:
  Occupied() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0 && ::listen(fd_, 4) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~Occupied() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(DaemonStartupTest, VersionOnEveryBinary) {
  for (const char* binary : {OMNI_CONTROLPLANE_BIN, OMNIRCTL_BIN, OMNI_RELAY_NODE_BIN}) {
    CliResult r = RunBinary(binary, {"--version"});
    EXPECT_EQ(r.exit_code, 0) << binary << ": " << r.err;
    EXPECT_NE(r.out.find(" 0.1.0 (commit "), std::string::npos) << binary << ": " << r.out;
    EXPECT_NE(r.out.find(" build)"), std::string::npos) << r.out;
  }
}

// `--grpc-listen 27443` (no host) is a usage error, and nothing is created.
TEST_F(DaemonStartupTest, ListenWithoutAHostIsAUsageErrorAndCreatesNothing) {
  const std::string data = dir_ + "/data";
  CliResult r = Daemon({"--data-dir", data, "--grpc-listen", "27443"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--grpc-listen \"27443\" is not host:port"), std::string::npos) << r.err;
  EXPECT_EQ(StateIn(data), std::vector<std::string>{});
  r = Daemon({"--data-dir", data, "--grpc-listen", "127.0.0.1:0", "--http-listen", "localhost"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(StateIn(data), std::vector<std::string>{});
}

// A port in use: exit 1 naming it, no gRPC-internal trace lines, and the new
// data dir left without a signing key, admin token or database.
TEST_F(DaemonStartupTest, FailedBindLeavesANewDataDirEmpty) {
  const std::string data = dir_ + "/data";
  Occupied grpc_port;
  CliResult r = Daemon(
      {"--data-dir", data, "--grpc-listen", grpc_port.address(), "--http-listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(grpc_port.address()), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("chttp2"), std::string::npos) << r.err;
  EXPECT_EQ(StateIn(data), std::vector<std::string>{});

  Occupied http_port;
  r = Daemon(
      {"--data-dir", data, "--grpc-listen", "127.0.0.1:0", "--http-listen", http_port.address()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(StateIn(data), std::vector<std::string>{});
}

// One daemon per data dir: a second exits 1 naming the holder; the first
// keeps serving; once it is gone the data dir is usable again.
TEST_F(DaemonStartupTest, SecondDaemonOnTheSameDataDirExitsOne) {
  DaemonProcess first(dir_);
  ASSERT_TRUE(first.Start());
  CliResult second =
      Daemon({"--data-dir", dir_, "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("is in use by another controlplane (pid "), std::string::npos)
      << second.err;
  const std::string token = first.admin_token();
  EXPECT_FALSE(token.empty());
  CliResult status =
      RunCli({"--server", first.grpc_address(), "status"}, {{"OMNIRCTL_TOKEN", token}});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(first.Stop(), 0);
  DaemonProcess again(dir_);
  EXPECT_TRUE(again.Start());
  EXPECT_EQ(again.admin_token(), token);  // the same state, not a new one
}

}  // namespace
}  // namespace omnirelay::cli::testing
