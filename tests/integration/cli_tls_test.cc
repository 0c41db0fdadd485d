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
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,URI:spiffe://test.example/cp\\n' "
        "> server.ext\n"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out server.pem -days 2 -extfile server.ext\n"
        "openssl req $k -keyout client.key -out client.csr -subj /CN=omnirctl\n"
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out client.pem -days 2 -extfile client.ext\n"
        "openssl req $k -keyout alice.key -out alice.csr -subj /CN=alice\n"
        "printf 'extendedKeyUsage=clientAuth\\nsubjectAltName=URI:spiffe://test.example/ops/alice"
        "\\n' > alice.ext\n"
        "openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out alice.pem -days 2 -extfile alice.ext\n";
    WriteFile(dir_ + "/gen.sh", script, 0700);
    ASSERT_EQ(std::system(("sh '" + dir_ + "/gen.sh' >'" + dir_ + "/gen.log' 2>&1").c_str()), 0)
        << ReadFile(dir_ + "/gen.log");
  }
  void TearDown() override {
    daemon_.reset();
    if (!HasFailure() && !dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void StartDaemon(bool mutual, std::vector<std::string> args = {}) {
    daemon_ = std::make_unique<cp::testing::DaemonProcess>(dir_ + "/data");
    args.push_back("--tls-cert=" + dir_ + "/server.pem");
    args.push_back("--tls-key=" + dir_ + "/server.key");
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

// --tls-server-spiffe-id: the server certificate's SPIFFE ID must match,
// or nothing is sent and the command is denied (exit 5), naming both IDs.
TEST_F(CliTlsTest, ServerSpiffeId) {
  StartDaemon(/*mutual=*/false);
  const std::string ca = dir_ + "/ca.pem";
  CliResult exact =
      Run({"--ca", ca, "--tls-server-spiffe-id", "spiffe://test.example/cp", "status"});
  EXPECT_EQ(exact.exit_code, 0) << exact.err;
  CliResult prefix =
      Run({"--ca", ca, "--tls-server-spiffe-id", "spiffe://test.example/*", "status"});
  EXPECT_EQ(prefix.exit_code, 0) << prefix.err;
  CliResult wrong =
      Run({"--ca", ca, "--tls-server-spiffe-id", "spiffe://test.example/other", "status"});
  EXPECT_EQ(wrong.exit_code, 5) << wrong.err;
  EXPECT_NE(wrong.err.find("peer_not_allowed"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("\"spiffe://test.example/cp\""), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("spiffe://test.example/other"), std::string::npos) << wrong.err;
  CliResult bad = Run({"--ca", ca, "--tls-server-spiffe-id", "spiffe://Bad/x", "status"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  CliResult plaintext = Run({"--tls-server-spiffe-id", "spiffe://test.example/cp", "status"});
  EXPECT_EQ(plaintext.exit_code, 2) << plaintext.err;
}

// The daemon's --tls-client-spiffe-id through the real binaries: a client
// certificate with an allowed ID is served, one without is denied (exit 5).
TEST_F(CliTlsTest, DaemonChecksClientSpiffeIds) {
  StartDaemon(/*mutual=*/true, {"--tls-client-spiffe-id=spiffe://test.example/ops/*"});
  const std::string ca = dir_ + "/ca.pem";
  CliResult alice =
      Run({"--ca", ca, "--cert", dir_ + "/alice.pem", "--key", dir_ + "/alice.key", "status"});
  EXPECT_EQ(alice.exit_code, 0) << alice.err;
  CliResult anonymous =
      Run({"--ca", ca, "--cert", dir_ + "/client.pem", "--key", dir_ + "/client.key", "status"});
  EXPECT_EQ(anonymous.exit_code, 5) << anonymous.err;
  EXPECT_NE(anonymous.err.find("peer_not_allowed"), std::string::npos) << anonymous.err;
}

}  // namespace
}  // namespace omnirelay::cli::testing
