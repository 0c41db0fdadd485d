// omnirctl over TLS and mTLS: a CA, a server certificate for 127.0.0.1 /
// localhost and a client certificate are made with the openssl CLI; the
// daemon serves with --tls-cert/--tls-key/--tls-client-ca.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "cli_harness.h"

namespace omnirelay::cli::testing {
namespace {

class CliTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
    dir_ = ::testing::TempDir() + "omnirctl-tls-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
           std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::string script =
        "set -e; cd '" + dir_ +
        "'\n"
        "k='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
        "openssl req -x509 $k -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca\n"
        "openssl req $k -keyout server.key -out server.csr -subj /CN=localhost\n"
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext\n"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out server.pem -days 2 -extfile server.ext\n"
        "openssl req $k -keyout client.key -out client.csr -subj /CN=omnirctl\n"
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out client.pem -days 2 -extfile client.ext\n";
    WriteFile(dir_ + "/gen.sh", script, 0700);
    ASSERT_EQ(std::system(("sh '" + dir_ + "/gen.sh' >'" + dir_ + "/gen.log' 2>&1").c_str()), 0)
        << ReadFile(dir_ + "/gen.log");
  }
  void TearDown() override {
    daemon_.reset();
    if (!HasFailure() && !dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void StartDaemon(bool mutual) {
    daemon_ = std::make_unique<cp::testing::DaemonProcess>(dir_ + "/data");
    std::vector<std::string> args = {"--tls-cert=" + dir_ + "/server.pem",
                                     "--tls-key=" + dir_ + "/server.key"};
    if (mutual) args.push_back("--tls-client-ca=" + dir_ + "/ca.pem");
    ASSERT_TRUE(daemon_->StartWithArgs(args, /*tls=*/true)) << "the TLS daemon did not start";
  }

  CliResult Run(std::vector<std::string> args) {
    args.insert(args.begin(),
                {"--server", daemon_->grpc_address(), "--token-file", dir_ + "/data/admin.token"});
    return RunCli(args);
  }

  std::string dir_;
  std::unique_ptr<cp::testing::DaemonProcess> daemon_;
};

// TLS: --ca verifies the server; without it the connection fails (exit 6).
TEST_F(CliTlsTest, ServerTls) {
  StartDaemon(/*mutual=*/false);
  CliResult ok = Run({"--ca", dir_ + "/ca.pem", "status", "-o", "json"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.Json()["headRevision"], 0);
  CliResult plain = Run({"status"});
  EXPECT_EQ(plain.exit_code, 6) << plain.err;
  // A CA that did not sign the server certificate: refused.
  CliResult wrong_ca = Run({"--ca", dir_ + "/client.pem", "status"});
  EXPECT_EQ(wrong_ca.exit_code, 6) << wrong_ca.err;
}

// mTLS: the client certificate is required and accepted.
TEST_F(CliTlsTest, MutualTls) {
  StartDaemon(/*mutual=*/true);
  CliResult ok =
      Run({"--ca", dir_ + "/ca.pem", "--cert", dir_ + "/client.pem", "--key", dir_ + "/client.key",
           "config", "set", "--scope", "global", "-f", Sample("layers/00-global.json")});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  CliResult no_cert = Run({"--ca", dir_ + "/ca.pem", "status"});
  EXPECT_EQ(no_cert.exit_code, 6) << no_cert.err;
  // --tls-server-name picks the name checked in the server certificate.
  CliResult by_name = Run({"--ca", dir_ + "/ca.pem", "--cert", dir_ + "/client.pem", "--key",
                           dir_ + "/client.key", "--tls-server-name", "localhost", "status"});
  EXPECT_EQ(by_name.exit_code, 0) << by_name.err;
  CliResult wrong_name = Run({"--ca", dir_ + "/ca.pem", "--cert", dir_ + "/client.pem", "--key",
                              dir_ + "/client.key", "--tls-server-name", "elsewhere", "status"});
  EXPECT_EQ(wrong_name.exit_code, 6) << wrong_name.err;
  CliResult missing = Run({"--ca", dir_ + "/nope.pem", "status"});
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
}

}  // namespace
}  // namespace omnirelay::cli::testing
