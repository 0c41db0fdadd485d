// Relays against a control plane that serves TLS and requires client
// certificates (mTLS): the node stream and the https pull both work with the
// CA and a client certificate; without the client certificate, or trusting
// another CA, a relay never becomes ready; bad TLS options fail Start().
// Peer identity: a relay expecting another SPIFFE ID of the control plane
// refuses it (stream and pull); a daemon expecting relay SPIFFE IDs refuses
// a relay without one until the relay's certificate files are replaced,
// which it picks up without a restart (a broken replacement is counted and
// the last good files kept).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "omnirelay/controlplane/daemon.h"
#include "relay_fleet.h"
#include "test_pki.h"

namespace omnirelay::relay::testing {
namespace {

namespace fs = std::filesystem;
using cp::testing::Pki;
using cp::testing::ReadAll;

constexpr const char* kControlPlaneId = "spiffe://test.example/controlplane";
constexpr const char* kRelayId = "spiffe://test.example/relay/edge-1";

class RelayTlsTest : public ::testing::Test {
 protected:
  // The client SPIFFE IDs the daemon admits (none: any client of the CA).
  virtual std::vector<std::string> ClientIds() const { return {}; }

  void SetUp() override {
    ASSERT_TRUE(pki_.ok()) << "openssl could not make the test certificates";
    ASSERT_TRUE(pki_.AddLeaf("cp", "ca", kControlPlaneId, /*server=*/true));
    ASSERT_TRUE(pki_.AddLeaf("relay", "ca", kRelayId));
    dir_ = fs::temp_directory_path() / ("omni-relay-tls-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    cp::DaemonOptions o;
    o.grpc_listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    o.data_dir = (dir_ / "cp").string();
    o.sqlite_synchronous_full = false;
    o.tls.cert_file = pki_.path("cp.crt");
    o.tls.key_file = pki_.path("cp.key");
    o.tls.client_ca_file = pki_.path("ca.crt");
    o.tls.client_spiffe_ids = ClientIds();
    auto d = cp::Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    admin_ = ReadAll(daemon_->admin_token_path());
    admin_.erase(admin_.find_last_not_of("\r\n") + 1);
    auto keys = TrustedKeySet::Load(daemon_->trusted_keys_path());
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::move(keys).value();

    // Admin calls over HTTPS with the client certificate.
    auto res = Https().Put("/v1/layers/global", Auth(),
                           ReadAll(OMNI_SAMPLES_DIR "/layers/00-global.json"), "application/json");
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
  }
  void TearDown() override {
    fleet_.clear();
    if (daemon_) daemon_->Shutdown();
    daemon_.reset();
    fs::remove_all(dir_);
  }

  // Admin calls present the relay's certificate, which every daemon here admits.
  httplib::Client Https() {
    httplib::Client c("https://127.0.0.1:" + std::to_string(daemon_->http_port()),
                      pki_.path("relay.crt"), pki_.path("relay.key"));
    c.set_ca_cert_path(pki_.path("ca.crt").c_str());
    c.enable_server_certificate_verification(true);
    c.set_connection_timeout(5);
    return c;
  }
  httplib::Headers Auth() const { return {{"Authorization", "Bearer " + admin_}}; }

  std::string NodeToken(const std::string& id) {
    auto res =
        Https().Post("/v1/tokens", Auth(), "{\"name\":\"node:" + id + "\",\"scopes\":[\"node\"]}",
                     "application/json");
    EXPECT_TRUE(res && res->status == 201) << (res ? res->body : "no answer");
    return res ? Json::parse(res->body)["token"].get<std::string>() : "";
  }

  Relay& AddRelay(const std::string& id, RelayConfig config) {
    fleet_.push_back(
        std::make_unique<Relay>(id, NodeToken(id), dir_.string(), keys_, metrics_, config));
    fleet_.back()->StartWatcher();
    return *fleet_.back();
  }

  WatcherTls Tls(bool client_cert, const std::string& ca = "ca") const {
    WatcherTls t;
    t.ca_file = pki_.path(ca + ".crt");
    if (client_cert) {
      t.cert_file = pki_.path("client.crt");
      t.key_file = pki_.path("client.key");
    }
    return t;
  }
  std::string grpc() const { return "127.0.0.1:" + std::to_string(daemon_->grpc_port()); }
  std::string http() const { return "127.0.0.1:" + std::to_string(daemon_->http_port()); }

  Pki pki_;
  fs::path dir_;
  std::unique_ptr<cp::Daemon> daemon_;
  std::string admin_;
  TrustedKeySet keys_;
  MetricsRegistry metrics_;
  std::vector<std::unique_ptr<Relay>> fleet_;
};

TEST_F(RelayTlsTest, StreamAndHttpsPullWorkWithTheCaAndAClientCertificate) {
  RelayConfig stream;
  stream.grpc_endpoints = {grpc()};
  stream.tls = Tls(/*client_cert=*/true);
  Relay& by_stream = AddRelay("tls-stream", stream);

  RelayConfig pull;  // no gRPC endpoint: the https pull is all it has
  pull.http_endpoints = {http()};
  pull.tls = Tls(/*client_cert=*/true);
  Relay& by_pull = AddRelay("tls-pull", pull);

  EXPECT_TRUE(Eventually([&] { return by_stream.version() == 1; })) << by_stream.version();
  EXPECT_TRUE(Eventually([&] { return by_pull.version() == 1; })) << by_pull.version();
  // The watcher's stats are updated just after the host applies: wait for them too.
  EXPECT_TRUE(Eventually([&] { return by_stream.watcher()->stats().stream_connected; }));
  EXPECT_TRUE(Eventually([&] { return by_pull.watcher()->stats().pulls_applied >= 1; }));
}

TEST_F(RelayTlsTest, WithoutAClientCertificateOrWithAnotherCaNothingIsApplied) {
  RelayConfig no_cert;
  no_cert.grpc_endpoints = {grpc()};
  no_cert.http_endpoints = {http()};
  no_cert.tls = Tls(/*client_cert=*/false);
  Relay& anonymous = AddRelay("tls-anon", no_cert);

  RelayConfig wrong_ca = no_cert;
  wrong_ca.tls = Tls(/*client_cert=*/true, "rogue-ca");
  Relay& misled = AddRelay("tls-rogue", wrong_ca);

  EXPECT_TRUE(Eventually([&] {
    return anonymous.watcher()->stats().streams_failed >= 2 &&
           misled.watcher()->stats().streams_failed >= 2;
  })) << "the handshakes should fail and be retried";
  EXPECT_EQ(anonymous.version(), 0);
  EXPECT_EQ(misled.version(), 0);
  EXPECT_FALSE(anonymous.host().ready());
  EXPECT_EQ(anonymous.watcher()->stats().pulls_applied, 0u);
}

TEST_F(RelayTlsTest, BadTlsOptionsFailStart) {
  ConfigHostOptions host_options;
  host_options.trusted_keys = keys_;
  host_options.node_id = "tls-bad";
  ConfigHost host(std::move(host_options), SystemClock::Instance(), metrics_);
  auto start = [&](WatcherTls tls) {
    WatcherOptions o;
    o.node_id = "tls-bad";
    o.scope_chain = {"global"};
    o.grpc_endpoints = {grpc()};
    o.tls = std::move(tls);
    Watcher w(o, host, SystemClock::Instance(), metrics_);
    Status s = w.Start();
    w.Stop();
    return s;
  };
  WatcherTls t = Tls(true);
  t.key_file.clear();
  EXPECT_EQ(start(t).code(), StatusCode::kInvalidArgument);  // certificate without key
  t = Tls(true);
  t.ca_file.clear();
  EXPECT_EQ(start(t).code(), StatusCode::kInvalidArgument);  // client cert without a CA
  t = Tls(false);
  t.ca_file = pki_.path("missing.crt");
  Status missing = start(t);
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.message().find("missing.crt"), std::string::npos) << missing.ToString();
  EXPECT_TRUE(start(Tls(true)).ok());
}

// The control plane's certificate carries kControlPlaneId: a relay that
// expects it connects; one that expects another ID refuses the stream and
// the pull, saying which ID it expected and which it got.
TEST_F(RelayTlsTest, ARelayChecksTheControlPlanesSpiffeId) {
  RelayConfig right;
  right.grpc_endpoints = {grpc()};
  right.tls = Tls(/*client_cert=*/true);
  right.tls.server_spiffe_ids = {kControlPlaneId};
  Relay& trusting = AddRelay("id-right", right);
  RelayConfig right_pull;
  right_pull.http_endpoints = {http()};
  right_pull.tls = right.tls;
  Relay& trusting_pull = AddRelay("id-right-pull", right_pull);

  RelayConfig wrong;
  wrong.grpc_endpoints = {grpc()};
  wrong.http_endpoints = {http()};
  wrong.tls = Tls(/*client_cert=*/true);
  wrong.tls.server_spiffe_ids = {"spiffe://test.example/elsewhere/*"};
  Relay& refusing = AddRelay("id-wrong", wrong);

  EXPECT_TRUE(Eventually([&] { return trusting.version() == 1; })) << trusting.version();
  EXPECT_TRUE(Eventually([&] { return trusting_pull.version() == 1; }));
  EXPECT_TRUE(Eventually([&] {
    const WatcherStats st = refusing.watcher()->stats();
    return st.streams_failed >= 2 && st.pulls_failed >= 1;
  })) << "the stream and the pull should both be refused, and retried";
  const WatcherStats st = refusing.watcher()->stats();
  EXPECT_EQ(refusing.version(), 0);
  EXPECT_EQ(st.pulls_applied, 0u);
  for (const std::string& why : {st.last_stream_end, st.last_pull_error}) {
    EXPECT_NE(why.find("peer_not_allowed"), std::string::npos) << why;
    EXPECT_NE(why.find(kControlPlaneId), std::string::npos) << why;
    EXPECT_NE(why.find("spiffe://test.example/elsewhere/*"), std::string::npos) << why;
  }
}

// A daemon that admits relay SPIFFE IDs only.
class RelayIdentityTest : public RelayTlsTest {
 protected:
  std::vector<std::string> ClientIds() const override { return {"spiffe://test.example/relay/*"}; }
};

// The daemon refuses a relay whose certificate has no SPIFFE ID; the relay's
// certificate files replaced on disk (first by a broken pair, kept out and
// counted, then by a certificate with the right ID) are used by its next
// connection, without a restart.
TEST_F(RelayIdentityTest, ARelaysReplacedClientCertificateIsUsedWithoutARestart) {
  const fs::path certs = dir_ / "relay-certs";
  fs::create_directories(certs);
  const auto install = [&](const std::string& name) {
    fs::copy_file(pki_.path(name + ".crt"), certs / "me.crt", fs::copy_options::overwrite_existing);
    fs::copy_file(pki_.path(name + ".key"), certs / "me.key", fs::copy_options::overwrite_existing);
  };
  install("client");  // from the CA, but without a SPIFFE ID
  RelayConfig config;
  config.grpc_endpoints = {grpc()};
  config.http_endpoints = {http()};
  config.tls.ca_file = pki_.path("ca.crt");
  config.tls.cert_file = (certs / "me.crt").string();
  config.tls.key_file = (certs / "me.key").string();
  Relay& relay = AddRelay("edge-1", config);
  ASSERT_TRUE(Eventually([&] {
    const WatcherStats st = relay.watcher()->stats();
    return st.streams_failed >= 1 && st.pulls_failed >= 1;
  }));
  const WatcherStats refused = relay.watcher()->stats();
  EXPECT_EQ(relay.version(), 0);
  EXPECT_NE(refused.last_stream_end.find("peer_not_allowed"), std::string::npos)
      << refused.last_stream_end;
  EXPECT_NE(refused.last_pull_error.find("403"), std::string::npos) << refused.last_pull_error;

  // A key that is not the certificate's: not used, counted.
  fs::copy_file(pki_.path("relay.crt"), certs / "me.crt", fs::copy_options::overwrite_existing);
  const std::string failures = "omnirelay_relay_tls_reload_failures_total{node=\"edge-1\"}";
  const auto metric = [&] {
    const std::string text = metrics_.RenderPrometheus();
    const std::size_t at = text.find("\n" + failures + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + failures.size() + 2));
  };
  EXPECT_TRUE(Eventually([&] { return metric() >= 1; })) << metrics_.RenderPrometheus();
  EXPECT_EQ(relay.version(), 0);

  install("relay");  // the right SPIFFE ID
  EXPECT_TRUE(Eventually([&] { return relay.version() == 1; }))
      << relay.watcher()->stats().last_stream_end;
}

}  // namespace
}  // namespace omnirelay::relay::testing
