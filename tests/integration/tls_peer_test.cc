// Peer identity and certificate hot reload on both faces of the real daemon
// (in-process), certificates made with the openssl CLI: the mTLS matrix
// (right SPIFFE ID, wrong one, none, expired, another CA) over gRPC and
// REST, with and without --tls-client-spiffe-id; and the server's
// certificate replaced on disk while the daemon runs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "eventually.h"
#include "omnirelay/controlplane/daemon.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"
#include "test_pki.h"

namespace omnirelay::cp {
namespace {

namespace fs = std::filesystem;
namespace v1 = controlplane::v1;
using test_support::Eventually;
using testing::Pki;
using testing::ReadAll;

constexpr const char* kRelayId = "spiffe://test.example/relay/eu-1";
constexpr const char* kOperatorId = "spiffe://test.example/operator/alice";

struct GrpcReply {
  grpc::StatusCode code;
  std::string message;
};

class PeerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki_.ok()) << "openssl could not make the test certificates";
    ASSERT_TRUE(pki_.AddLeaf("relay", "ca", kRelayId));
    ASSERT_TRUE(pki_.AddLeaf("operator", "ca", kOperatorId));
    ASSERT_TRUE(pki_.AddExpiredLeaf("expired", "ca", kRelayId));
    ASSERT_TRUE(pki_.AddLeaf("rogue-relay", "rogue-ca", kRelayId));
    data_dir_ = fs::temp_directory_path() / ("omni-peer-data-" + std::to_string(::getpid()));
    certs_ = data_dir_.string() + "-certs";
    fs::remove_all(data_dir_);
    fs::remove_all(certs_);
    fs::create_directories(certs_);
  }
  void TearDown() override {
    if (daemon_) daemon_->Shutdown();
    daemon_.reset();
    fs::remove_all(data_dir_);
    fs::remove_all(certs_);
  }

  // The daemon serving `pki_`'s server certificate from copies in certs_.
  void Start(bool mutual, std::vector<std::string> spiffe_ids) {
    Install(pki_);
    DaemonOptions o;
    o.grpc_listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    o.data_dir = data_dir_.string();
    o.sqlite_synchronous_full = false;
    o.tls.cert_file = (certs_ / "server.crt").string();
    o.tls.key_file = (certs_ / "server.key").string();
    if (mutual) o.tls.client_ca_file = pki_.path("ca.crt");
    o.tls.client_spiffe_ids = std::move(spiffe_ids);
    o.tls.reload_interval = std::chrono::milliseconds(100);
    auto d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    token_ = ReadAll(daemon_->admin_token_path());
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) token_.pop_back();
  }
  void Install(const Pki& from) {
    fs::copy_file(from.path("server.crt"), certs_ / "server.crt",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(from.path("server.key"), certs_ / "server.key",
                  fs::copy_options::overwrite_existing);
  }

  // GetStatus over gRPC trusting `ca` of `pki`, presenting `client` (if any).
  GrpcReply Grpc(const std::string& client, const Pki* pki = nullptr) {
    const Pki& p = pki ? *pki : pki_;
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = p.pem("ca.crt");
    if (!client.empty()) {
      o.pem_private_key = pki_.pem(client + ".key");
      o.pem_cert_chain = pki_.pem(client + ".crt");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a new connection every time
    auto stub = v1::ConfigService::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(daemon_->grpc_port()), grpc::SslCredentials(o), args));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::StatusResponse reply;
    grpc::Status s = stub->GetStatus(&ctx, v1::GetStatusRequest(), &reply);
    return {s.error_code(), s.error_message()};
  }
  // GET `path` over HTTPS trusting `pki`'s CA, presenting `client` (if any):
  // the HTTP status and body, or -1 when no response came.
  std::pair<int, std::string> Rest(const std::string& client, const Pki* pki = nullptr,
                                   const std::string& path = "/v1/status") {
    const Pki& p = pki ? *pki : pki_;
    std::unique_ptr<httplib::SSLClient> cli;
    if (client.empty()) {
      cli = std::make_unique<httplib::SSLClient>("127.0.0.1", daemon_->http_port());
    } else {
      cli = std::make_unique<httplib::SSLClient>("127.0.0.1", daemon_->http_port(),
                                                 pki_.path(client + ".crt"),
                                                 pki_.path(client + ".key"));
    }
    cli->set_ca_cert_path(p.path("ca.crt").c_str());
    cli->enable_server_certificate_verification(true);
    cli->set_connection_timeout(5);
    auto res = cli->Get(path.c_str(), {{"Authorization", "Bearer " + token_}});
    return res ? std::pair{res->status, res->body} : std::pair{-1, std::string()};
  }
  // A metric's value on /metrics (read as `relay`, trusting `pki`), or -1.
  double Metric(const std::string& series, const Pki* pki = nullptr) {
    const std::string body = Rest("relay", pki, "/metrics").second;
    const std::size_t at = body.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(body.substr(at + series.size() + 2));
  }

  Pki pki_;
  fs::path data_dir_;
  fs::path certs_;
  std::unique_ptr<Daemon> daemon_;
  std::string token_;
};

// The mTLS matrix over gRPC with a SPIFFE pattern: only the right ID from
// the client CA, unexpired, gets through; the refusal names both IDs.
TEST_F(PeerTlsTest, GrpcAdmitsOnlyAMatchingSpiffeId) {
  Start(/*mutual=*/true, {"spiffe://test.example/relay/*"});
  EXPECT_EQ(Grpc("relay").code, grpc::StatusCode::OK);
  const GrpcReply wrong = Grpc("operator");
  EXPECT_EQ(wrong.code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(wrong.message.find("peer_not_allowed"), std::string::npos) << wrong.message;
  EXPECT_NE(wrong.message.find(kOperatorId), std::string::npos) << wrong.message;
  EXPECT_NE(wrong.message.find("spiffe://test.example/relay/*"), std::string::npos)
      << wrong.message;
  const GrpcReply none = Grpc("client");  // from the CA, no URI SAN
  EXPECT_EQ(none.code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(none.message.find("no SPIFFE ID"), std::string::npos) << none.message;
  EXPECT_EQ(Grpc("expired").code, grpc::StatusCode::UNAVAILABLE);      // handshake refused
  EXPECT_EQ(Grpc("rogue-relay").code, grpc::StatusCode::UNAVAILABLE);  // another CA
  EXPECT_EQ(Grpc("").code, grpc::StatusCode::UNAVAILABLE);             // no certificate
  EXPECT_EQ(Metric("omnirelay_cp_peer_refusals_total{face=\"grpc\"}"), 2);
}

// The same matrix over REST: 403 permission_denied for a wrong or missing
// ID, no response at all for a certificate the handshake refuses.
TEST_F(PeerTlsTest, RestAdmitsOnlyAMatchingSpiffeId) {
  Start(/*mutual=*/true, {"spiffe://test.example/relay/*"});
  EXPECT_EQ(Rest("relay").first, 200);
  const auto wrong = Rest("operator");
  EXPECT_EQ(wrong.first, 403);
  EXPECT_NE(wrong.second.find("\"permission_denied\""), std::string::npos) << wrong.second;
  EXPECT_NE(wrong.second.find(kOperatorId), std::string::npos) << wrong.second;
  EXPECT_EQ(Rest("client").first, 403);
  EXPECT_EQ(Rest("expired").first, -1);
  EXPECT_EQ(Rest("rogue-relay").first, -1);
  EXPECT_EQ(Rest("").first, -1);
  EXPECT_EQ(Metric("omnirelay_cp_peer_refusals_total{face=\"rest\"}"), 2);
}

// An exact pattern admits that ID and no other under the same prefix.
TEST_F(PeerTlsTest, AnExactPatternAdmitsThatIdOnly) {
  Start(/*mutual=*/true, {kOperatorId});
  EXPECT_EQ(Grpc("operator").code, grpc::StatusCode::OK);
  EXPECT_EQ(Grpc("relay").code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Rest("operator").first, 200);
  EXPECT_EQ(Rest("relay").first, 403);
}

// Without a pattern every valid client certificate of the CA is admitted
// (with or without an ID); expired ones and other CAs still are not.
TEST_F(PeerTlsTest, WithoutPatternsAnyValidClientIsAdmitted) {
  Start(/*mutual=*/true, {});
  for (const char* client : {"relay", "operator", "client"}) {
    EXPECT_EQ(Grpc(client).code, grpc::StatusCode::OK) << client;
    EXPECT_EQ(Rest(client).first, 200) << client;
  }
  EXPECT_EQ(Grpc("expired").code, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Rest("expired").first, -1);
  EXPECT_EQ(Grpc("rogue-relay").code, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Rest("rogue-relay").first, -1);
}

// Patterns need mTLS, and must be SPIFFE IDs: clear start errors.
TEST_F(PeerTlsTest, BadPatternFlagsFailTheStart) {
  DaemonOptions o;
  o.grpc_listen = "127.0.0.1:0";
  o.http_listen = "127.0.0.1:0";
  o.data_dir = data_dir_.string();
  o.tls.cert_file = pki_.path("server.crt");
  o.tls.key_file = pki_.path("server.key");
  o.tls.client_spiffe_ids = {kRelayId};
  auto no_ca = Daemon::Start(o);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.status().message().find("needs --tls-client-ca"), std::string::npos)
      << no_ca.status().ToString();
  o.tls.client_ca_file = pki_.path("ca.crt");
  o.tls.client_spiffe_ids = {"spiffe://test.example/relay*"};
  auto bad = Daemon::Start(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--tls-client-spiffe-id"), std::string::npos)
      << bad.status().ToString();
}

// Hot reload: a new server certificate written over the files is served to
// new connections on both faces without a restart; a broken replacement
// leaves the one in force and is counted.
TEST_F(PeerTlsTest, ChangedCertificateFilesAreServedWithoutARestart) {
  Pki next;
  ASSERT_TRUE(next.ok());
  Start(/*mutual=*/false, {});
  EXPECT_EQ(Grpc("").code, grpc::StatusCode::OK);
  EXPECT_EQ(Rest("").first, 200);
  EXPECT_EQ(Grpc("", &next).code, grpc::StatusCode::UNAVAILABLE);

  // A key that is not the certificate's: refused, the old pair stays.
  fs::copy_file(next.path("server.crt"), certs_ / "server.crt",
                fs::copy_options::overwrite_existing);
  ASSERT_TRUE(Eventually([&] { return Metric("omnirelay_cp_tls_reload_failures_total") >= 1; }))
      << "the mismatched pair was not noticed";
  EXPECT_EQ(Grpc("").code, grpc::StatusCode::OK);
  EXPECT_EQ(Rest("").first, 200);
  EXPECT_EQ(Metric("omnirelay_cp_tls_reloads_total"), 0);

  Install(next);
  ASSERT_TRUE(Eventually([&] { return Grpc("", &next).code == grpc::StatusCode::OK; }))
      << "gRPC never served the new certificate";
  EXPECT_EQ(Rest("", &next).first, 200);
  EXPECT_EQ(Grpc("").code, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Rest("").first, -1);
  EXPECT_EQ(Metric("omnirelay_cp_tls_reloads_total", &next), 1);
}

}  // namespace
}  // namespace omnirelay::cp
