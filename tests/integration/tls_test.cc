// TLS and mTLS on both faces of the real daemon (in-process): certificates
// made with the openssl CLI into a temp dir; a client without the CA, or
// without a client certificate under mTLS, is refused before any RPC runs;
// wrong flag combinations fail the start with a clear message.
#include "omnirelay/controlplane/tls.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "omnirelay/controlplane/daemon.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"
#include "test_pki.h"

namespace omnirelay::cp {
namespace {

namespace fs = std::filesystem;
namespace v1 = controlplane::v1;
using testing::Pki;
using testing::ReadAll;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki_.ok()) << "openssl could not make the test certificates";
    data_dir_ = fs::temp_directory_path() / ("omni-tls-data-" + std::to_string(::getpid()));
    fs::remove_all(data_dir_);
  }
  void TearDown() override {
    if (daemon_) daemon_->Shutdown();
    daemon_.reset();
    fs::remove_all(data_dir_);
  }

  Result<std::unique_ptr<Daemon>> StartDaemon(bool mutual) {
    DaemonOptions o;
    o.grpc_listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    o.data_dir = data_dir_.string();
    o.sqlite_synchronous_full = false;
    o.tls.cert_file = pki_.path("server.crt");
    o.tls.key_file = pki_.path("server.key");
    if (mutual) o.tls.client_ca_file = pki_.path("ca.crt");
    return Daemon::Start(o);
  }
  void Start(bool mutual) {
    auto d = StartDaemon(mutual);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    token_ = ReadAll(daemon_->admin_token_path());
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) token_.pop_back();
  }

  // GetStatus over a channel with `creds`; the gRPC status code.
  grpc::StatusCode Status(const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = v1::ConfigService::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(daemon_->grpc_port()), creds, args));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::StatusResponse reply;
    return stub->GetStatus(&ctx, v1::GetStatusRequest(), &reply).error_code();
  }
  std::shared_ptr<grpc::ChannelCredentials> Ssl(const std::string& ca, const std::string& client) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = pki_.pem(ca + ".crt");
    if (!client.empty()) {
      o.pem_private_key = pki_.pem(client + ".key");
      o.pem_cert_chain = pki_.pem(client + ".crt");
    }
    return grpc::SslCredentials(o);
  }
  // GET /v1/status over HTTPS; the HTTP status, or -1 when no response came.
  int RestStatus(const std::string& client) {
    std::unique_ptr<httplib::SSLClient> cli;
    if (client.empty()) {
      cli = std::make_unique<httplib::SSLClient>("127.0.0.1", daemon_->http_port());
    } else {
      cli = std::make_unique<httplib::SSLClient>("127.0.0.1", daemon_->http_port(),
                                                 pki_.path(client + ".crt"),
                                                 pki_.path(client + ".key"));
    }
    cli->set_ca_cert_path(pki_.path("ca.crt").c_str());
    cli->enable_server_certificate_verification(true);
    cli->set_connection_timeout(5);
    auto res = cli->Get("/v1/status", {{"Authorization", "Bearer " + token_}});
    return res ? res->status : -1;
  }

  Pki pki_;
  fs::path data_dir_;
  std::unique_ptr<Daemon> daemon_;
  std::string token_;
};

TEST_F(TlsTest, TlsServesBothFacesAndRefusesPlaintextAndUnknownCa) {
  Start(/*mutual=*/false);
  EXPECT_EQ(Status(Ssl("ca", "")), grpc::StatusCode::OK);
  EXPECT_EQ(Status(Ssl("rogue-ca", "")), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Status(grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(RestStatus(""), 200);
  httplib::Client plain("127.0.0.1", daemon_->http_port());
  plain.set_connection_timeout(5);
  auto res = plain.Get("/healthz");
  EXPECT_TRUE(!res || res->status != 200) << "plaintext HTTP must not be served";
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  Start(/*mutual=*/true);
  EXPECT_EQ(Status(Ssl("ca", "client")), grpc::StatusCode::OK);
  EXPECT_EQ(Status(Ssl("ca", "")), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Status(Ssl("ca", "rogue-client")), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(RestStatus("client"), 200);
  EXPECT_EQ(RestStatus(""), -1);
  EXPECT_EQ(RestStatus("rogue-client"), -1);
}

TEST_F(TlsTest, TheBearerTokenIsStillRequiredOverMutualTls) {
  Start(/*mutual=*/true);
  token_ = "omr_nope_nope";
  EXPECT_EQ(Status(Ssl("ca", "client")), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(RestStatus("client"), 401);
}

TEST(TlsOptionsTest, WrongCombinationsAndFilesAreClearErrors) {
  Pki pki;
  ASSERT_TRUE(pki.ok());
  TlsOptions o;
  EXPECT_TRUE(LoadTls(o).ok());  // plaintext
  o.cert_file = pki.path("server.crt");
  EXPECT_EQ(LoadTls(o).status().code(), StatusCode::kInvalidArgument);  // no key
  o = {};
  o.client_ca_file = pki.path("ca.crt");
  EXPECT_EQ(LoadTls(o).status().code(), StatusCode::kInvalidArgument);  // CA without cert
  o.cert_file = pki.path("server.crt");
  o.key_file = pki.path("server.key");
  auto ok = LoadTls(o);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_NE(ok->cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  o.key_file = pki.path("missing.key");
  EXPECT_EQ(LoadTls(o).status().code(), StatusCode::kIoError);
  o.key_file = pki.path("server.ext");  // exists, not PEM
  EXPECT_EQ(LoadTls(o).status().code(), StatusCode::kInvalid);
  o.key_file = pki.path("server.key");
  o.cert_file = pki.path("server.key");  // PEM, but not a certificate
  EXPECT_EQ(LoadTls(o).status().code(), StatusCode::kInvalid);
  o.cert_file = pki.path("server.crt");
  o.key_file = pki.path("client.key");  // a key, but not this certificate's
  auto mismatch = LoadTls(o);
  EXPECT_EQ(mismatch.status().code(), StatusCode::kInvalid);
  EXPECT_NE(mismatch.status().message().find("not an unencrypted private key of the"),
            std::string::npos)
      << mismatch.status().ToString();
}

TEST_F(TlsTest, AKeyThatDoesNotMatchTheCertificateFailsTheStart) {
  DaemonOptions o;
  o.grpc_listen = "127.0.0.1:0";
  o.http_listen = "127.0.0.1:0";
  o.data_dir = data_dir_.string();
  o.tls.cert_file = pki_.path("server.crt");
  o.tls.key_file = pki_.path("client.key");
  auto d = Daemon::Start(o);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("TLS"), std::string::npos) << d.status().ToString();
  EXPECT_FALSE(fs::exists(data_dir_)) << "checked before the data dir is made";
}

// GET /healthz over HTTPS trusting only `pki`'s CA; the status, or -1 when refused.
int HealthzTrusting(int port, const Pki& pki) {
  httplib::SSLClient cli("127.0.0.1", port);
  cli.set_ca_cert_path(pki.path("ca.crt").c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(5);
  auto res = cli.Get("/healthz");
  return res ? res->status : -1;
}

// ReloadTls (SIGHUP): new REST connections get the certificate now in the
// files; files that do not load leave the current certificate in use.
TEST_F(TlsTest, ReloadTlsServesTheNewCertificateOverRest) {
  Pki next;
  ASSERT_TRUE(next.ok());
  const fs::path certs = data_dir_.string() + "-certs";
  fs::remove_all(certs);
  fs::create_directories(certs);
  const auto install = [&](const Pki& from) {
    fs::copy_file(from.path("server.crt"), certs / "server.crt",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(from.path("server.key"), certs / "server.key",
                  fs::copy_options::overwrite_existing);
  };
  install(pki_);
  DaemonOptions o;
  o.grpc_listen = "127.0.0.1:0";
  o.http_listen = "127.0.0.1:0";
  o.data_dir = data_dir_.string();
  o.sqlite_synchronous_full = false;
  o.tls.cert_file = (certs / "server.crt").string();
  o.tls.key_file = (certs / "server.key").string();
  auto d = Daemon::Start(o);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  daemon_ = std::move(d).value();
  const int port = daemon_->http_port();
  EXPECT_EQ(HealthzTrusting(port, pki_), 200);
  EXPECT_EQ(HealthzTrusting(port, next), -1);

  std::ofstream(certs / "server.key") << "not a key\n";
  EXPECT_FALSE(daemon_->ReloadTls().ok());
  EXPECT_EQ(HealthzTrusting(port, pki_), 200);

  install(next);
  ASSERT_TRUE(daemon_->ReloadTls().ok());
  EXPECT_EQ(HealthzTrusting(port, next), 200);
  EXPECT_EQ(HealthzTrusting(port, pki_), -1);
  fs::remove_all(certs);
}

}  // namespace
}  // namespace omnirelay::cp
