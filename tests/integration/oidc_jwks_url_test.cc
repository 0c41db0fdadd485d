// The OIDC JWKS from a URL (oidc_source.h, security.md "Operator identity
// (OIDC)") against a server nobody here wrote: Python's http.server wrapped
// in ssl (tests/support/jwks_server.py), started and stopped by the tests,
// with a CA made by the openssl CLI (test_pki.h). The verifier's clock is a
// FakeClock where the tests move time; the fetches are real.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli_harness.h"
#include "daemon_process.h"
#include "eventually.h"
#include "jwt_signer.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/controlplane/oidc.h"
#include "omnirelay/controlplane/oidc_source.h"
#include "test_pki.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;
using omnirelay::testing::JwksOf;
using omnirelay::testing::JwtSigner;
using test_support::Eventually;

constexpr const char* kIssuer = "https://idp.example.com";

std::int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json Claims() {
  return {{"iss", kIssuer},    {"aud", "omnirelay"}, {"sub", "alice"},
          {"groups", {"ops"}}, {"iat", NowS() - 5},  {"exp", NowS() + 600}};
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  std::filesystem::rename(path + ".tmp", path);  // the server never sees half a file
}

// tests/support/jwks_server.py on a loopback port: HTTPS with the Pki's
// server certificate, or plain HTTP with `tls` false.
class JwksServer {
 public:
  JwksServer(std::string root, const testing::Pki& pki, int max_age, bool tls = true)
      : root_(std::move(root)), pki_(pki), max_age_(max_age), tls_(tls) {
    port_ = testing::FreeLoopbackPort();
    Start();
  }
  ~JwksServer() { Stop(); }

  void Start() {
    std::vector<std::string> args = {
        "python3",   OMNI_JWKS_SERVER,        "--port", std::to_string(port_), "--root", root_,
        "--max-age", std::to_string(max_age_)};
    if (tls_) {
      args.insert(args.end(),
                  {"--cert", pki_.path("server.crt"), "--key", pki_.path("server.key")});
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("python3", argv.data());
      ::_exit(127);
    }
    ASSERT_TRUE(
        Eventually([&] { return testing::AcceptsConnections(port_); }, std::chrono::seconds(10)))
        << "jwks_server.py did not listen on " << port_;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
           "/jwks.json";
  }
  // GETs the server answered so far.
  int requests() const {
    std::ifstream in(root_ + "/requests.log");
    int n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }

 private:
  std::string root_;
  const testing::Pki& pki_;
  int max_age_;
  bool tls_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The value of one rendered sample ("name{labels}"), -1 when absent.
double Sample(const MetricsRegistry& metrics, const std::string& series) {
  const std::string text = metrics.RenderPrometheus();
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class JwksUrlTest : public ::testing::Test {
 protected:
  static const JwtSigner& Key1() {
    static const JwtSigner key("RS256", "idp-1");
    return key;
  }
  static const JwtSigner& Key2() {
    static const JwtSigner key("ES256", "idp-2");
    return key;
  }

  void SetUp() override {
    ASSERT_TRUE(pki_.ok());
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = ::testing::TempDir() + "jwks-url-" + info->name() + "-" + std::to_string(::getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    WriteText(root_ + "/jwks.json", JwksOf({&Key1()}));
  }
  void TearDown() override {
    server_.reset();
    if (!HasFailure()) std::filesystem::remove_all(root_);
  }

  void Serve(int max_age = 300) { server_ = std::make_unique<JwksServer>(root_, pki_, max_age); }

  JwksUrlOptions UrlOptions() const {
    JwksUrlOptions u;
    u.url = server_->url();
    u.ca_file = pki_.path("ca.crt");
    u.timeout_ms = 3'000;
    return u;
  }

  // A verifier of the served JWKS; fetch events land in events_.
  std::unique_ptr<IdTokenVerifier> Verifier(JwksUrlOptions url, OidcOptions o = {}) {
    o.policy.issuer = kIssuer;
    o.policy.audience = "omnirelay";
    o.keys_required_at_start = false;
    o.on_fetch = [this](const JwksFetchEvent& e) {
      std::lock_guard<std::mutex> lock(events_mu_);
      events_.push_back(e);
    };
    auto source = JwksUrlSource(std::move(url));
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    if (!source.ok()) return nullptr;
    auto v = IdTokenVerifier::Create(std::move(o), std::move(source).value(), clock_, &metrics_);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? std::move(v).value() : nullptr;
  }
  JwksFetchEvent LastEvent() {
    std::lock_guard<std::mutex> lock(events_mu_);
    return events_.empty() ? JwksFetchEvent{} : events_.back();
  }

  testing::Pki pki_;
  std::string root_;
  std::unique_ptr<JwksServer> server_;
  FakeClock clock_{NowS() * 1000};
  MetricsRegistry metrics_;
  std::mutex events_mu_;
  std::vector<JwksFetchEvent> events_;
};

// A token signed by a key of the URL's JWKS is accepted, and counted.
TEST_F(JwksUrlTest, KeyFromTheUrlVerifiesALogin) {
  Serve();
  auto v = Verifier(UrlOptions());
  ASSERT_NE(v, nullptr);
  auto claims = v->Verify(Key1().Sign(Claims()));
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(server_->requests(), 1);
  EXPECT_EQ(Sample(metrics_, R"(omnirelay_cp_oidc_logins_total{result="accepted"})"), 1);
  EXPECT_EQ(Sample(metrics_, R"(omnirelay_cp_oidc_jwks_fetches_total{result="ok"})"), 1);
  EXPECT_GE(Sample(metrics_, "omnirelay_cp_oidc_jwks_age_seconds"), 0);
  EXPECT_EQ(IdTokenRefusalReason(v->Verify(Key2().Sign(Claims())).status()), "unknown_kid");
  EXPECT_EQ(Sample(metrics_, R"(omnirelay_cp_oidc_logins_total{result="unknown_kid"})"), 1);
}

// The IdP rotates its keys (the served file replaced): a token naming the
// new kid is accepted after the fetch that kid forces.
TEST_F(JwksUrlTest, RotatedKeyIsFetchedForItsKid) {
  Serve();
  auto v = Verifier(UrlOptions());
  ASSERT_NE(v, nullptr);
  ASSERT_TRUE(v->Verify(Key1().Sign(Claims())).ok());
  WriteText(root_ + "/jwks.json", JwksOf({&Key2()}));
  auto claims = v->Verify(Key2().Sign(Claims()));
  EXPECT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(server_->requests(), 2);
  EXPECT_TRUE(LastEvent().changed);
  EXPECT_EQ(IdTokenRefusalReason(v->Verify(Key1().Sign(Claims())).status()), "unknown_kid")
      << "the rotated-out key no longer verifies";
}

// A set past its max-age is fetched again; when the IdP cannot be reached
// the last good set keeps verifying, and the failure is counted.
TEST_F(JwksUrlTest, UnreachableIdpKeepsTheLastGoodSet) {
  Serve(/*max_age=*/120);
  auto v = Verifier(UrlOptions());
  ASSERT_NE(v, nullptr);
  ASSERT_TRUE(v->Verify(Key1().Sign(Claims())).ok());
  server_->Stop();
  clock_.AdvanceMs(121'000);  // due again
  auto claims = v->Verify(Key1().Sign(Claims()));
  EXPECT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(Sample(metrics_, R"(omnirelay_cp_oidc_jwks_fetches_total{result="failed"})"), 1);
  const JwksFetchEvent failed = LastEvent();
  EXPECT_FALSE(failed.status.ok());
  EXPECT_EQ(failed.keys, 1u);
  EXPECT_EQ(failed.failures_in_a_row, 1);
  EXPECT_GE(failed.set_age_ms, 121'000);
  EXPECT_NE(failed.status.message().find(server_->url()), std::string::npos)
      << failed.status.message();
  EXPECT_GE(Sample(metrics_, "omnirelay_cp_oidc_jwks_age_seconds"), 121);
  // Retried at the retry pace, not at every login.
  EXPECT_TRUE(v->Verify(Key1().Sign(Claims())).ok());
  EXPECT_EQ(Sample(metrics_, R"(omnirelay_cp_oidc_jwks_fetches_total{result="failed"})"), 1);
}

// A burst of tokens naming unknown kids, from several threads, forces one
// fetch per interval, not one per token.
TEST_F(JwksUrlTest, UnknownKidBurstIsRateLimited) {
  Serve();
  OidcOptions o;
  o.forced_fetch_every_ms = 10'000;
  auto v = Verifier(UrlOptions(), o);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(server_->requests(), 1);
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::string kid = "stranger-" + std::to_string(t * 10 + i);
        auto r = v->Verify(Key1().Sign(Claims(), {{"kid", kid}}));
        if (IdTokenRefusalReason(r.status()) == "unknown_kid") ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(refused.load(), 40);
  EXPECT_EQ(server_->requests(), 2) << "one forced fetch for the whole burst";
  clock_.AdvanceMs(10'000);
  EXPECT_FALSE(v->Verify(Key1().Sign(Claims(), {{"kid", "stranger-x"}})).ok());
  EXPECT_FALSE(v->Verify(Key1().Sign(Claims(), {{"kid", "stranger-y"}})).ok());
  EXPECT_EQ(server_->requests(), 3) << "one more after the interval";
}

// A certificate that does not chain to --oidc-jwks-ca fails the fetch with
// a message that says so; with no set yet, ID tokens are `unavailable`.
TEST_F(JwksUrlTest, WrongCaFailsTheFetchClearly) {
  Serve();
  JwksUrlOptions u = UrlOptions();
  u.ca_file = pki_.path("rogue-ca.crt");
  auto v = Verifier(u);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(server_->requests(), 0) << "the handshake fails before a request";
  const JwksFetchEvent failed = LastEvent();
  EXPECT_EQ(failed.keys, 0u);
  const std::string& why = failed.status.message();
  EXPECT_NE(why.find("SSL server verification failed"), std::string::npos) << why;
  EXPECT_NE(why.find("rogue-ca.crt"), std::string::npos) << why;
  auto r = v->Verify(Key1().Sign(Claims()));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_EQ(r.status().message().rfind("unavailable: no key set from https://", 0), 0u)
      << r.status().message();
  EXPECT_EQ(Sample(metrics_, R"(omnirelay_cp_oidc_logins_total{result="unavailable"})"), 1);
  EXPECT_EQ(Sample(metrics_, "omnirelay_cp_oidc_jwks_age_seconds"), -1);
}

// With the refresher thread a set is fetched again when its max-age (at
// least the floor) runs out, without any login asking.
TEST_F(JwksUrlTest, BackgroundRefreshFollowsMaxAge) {
  Serve(/*max_age=*/60);
  JwksUrlOptions u = UrlOptions();
  u.min_fresh_ms = 1'000;
  OidcOptions o;
  o.background_refresh = true;
  auto v = Verifier(u, o);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(server_->requests(), 1);
  clock_.AdvanceMs(59'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
  EXPECT_EQ(server_->requests(), 1) << "not due before max-age";
  clock_.AdvanceMs(1'000);
  EXPECT_TRUE(Eventually([&] { return server_->requests() == 2; }, std::chrono::seconds(5)));
}

// Freshness is the response's max-age within the floor and the ceiling.
TEST_F(JwksUrlTest, MaxAgeIsClamped) {
  Serve(/*max_age=*/300);
  auto fresh = [&](std::int64_t min_ms, std::int64_t max_ms) {
    JwksUrlOptions u = UrlOptions();
    u.min_fresh_ms = min_ms;
    u.max_fresh_ms = max_ms;
    auto doc = JwksUrlSource(u).value()->Fetch();
    EXPECT_TRUE(doc.ok()) << doc.status().ToString();
    return doc.ok() ? doc->fresh_for_ms : -1;
  };
  EXPECT_EQ(fresh(60'000, 86'400'000), 300'000);
  EXPECT_EQ(fresh(60'000, 120'000), 120'000);
  EXPECT_EQ(fresh(600'000, 86'400'000), 600'000);
}

// Cache-Control directives as the fetch reads them.
TEST(JwksCacheControlTest, MaxAge) {
  EXPECT_EQ(CacheControlMaxAgeMs("max-age=300"), 300'000);
  EXPECT_EQ(CacheControlMaxAgeMs("public, Max-Age=\"60\", must-revalidate"), 60'000);
  EXPECT_EQ(CacheControlMaxAgeMs("no-store"), 0);
  EXPECT_EQ(CacheControlMaxAgeMs("public, no-cache"), 0);
  EXPECT_EQ(CacheControlMaxAgeMs(""), -1);
  EXPECT_EQ(CacheControlMaxAgeMs("max-age=soon"), -1);
  EXPECT_EQ(CacheControlMaxAgeMs("max-age=-5"), -1);
}

// http:// is for a loopback IdP only; the URL's shape is checked at start.
TEST(JwksUrlRulesTest, PlainHttpOnlyToLoopback) {
  for (const char* bad :
       {"http://idp.example.com/jwks", "http://10.0.0.7:8080/jwks", "http://[fe80::1]/jwks",
        "http://127.evil.example/jwks", "http://localhost.evil.example/jwks",
        "http://127.0.0.1.nip.io/jwks", "ftp://idp/jwks", "https://user@idp/jwks", "https:///jwks",
        "https://idp:99999/jwks"}) {
    JwksUrlOptions u;
    u.url = bad;
    auto s = JwksUrlSource(u);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  JwksUrlOptions u;
  u.url = "http://idp.example.com/jwks";
  EXPECT_NE(JwksUrlSource(u).status().message().find("loopback"), std::string::npos);
  // A NUL would end the host where the resolver reads it (found by the fuzzer),
  // and control bytes or spaces belong in no URL.
  using namespace std::string_literals;
  for (const std::string& bad :
       {"http://127.0.0.1\0.evil.example/jwks"s,
        "http://127.0.0.1\x1f"
        "080/jwks"s,
        "https://idp/jw ks"s, "https://idp/jwks\r\nX: y"s, "https://idp\x7f/jwks"s}) {
    u.url = bad;
    auto s = JwksUrlSource(u);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("control character"), std::string::npos);
  }
  for (const char* good : {"http://127.0.0.1:8080/jwks", "http://localhost/jwks",
                           "http://127.1.2.3/", "http://[::1]:9000/jwks", "https://idp.example.com",
                           "https://[2001:db8::1]:8443/realms/ops/certs"}) {
    u.url = good;
    EXPECT_TRUE(JwksUrlSource(u).ok()) << good;
  }
}

// A plain-HTTP IdP on loopback works (a local test IdP or a sidecar).
TEST_F(JwksUrlTest, LoopbackHttpFetches) {
  server_ = std::make_unique<JwksServer>(root_, pki_, 300, /*tls=*/false);
  JwksUrlOptions u = UrlOptions();
  u.ca_file.clear();
  auto v = Verifier(u);
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(v->Verify(Key1().Sign(Claims())).ok());
}

// The daemon: http:// to another host stops the start (exit 2, the reason
// on stderr).
TEST(JwksUrlDaemonTest, PlainHttpToAnotherHostStopsTheStart) {
  const std::string dir = ::testing::TempDir() + "jwks-url-start-" + std::to_string(::getpid());
  cli::testing::CliResult r = cli::testing::RunBinary(
      OMNI_CONTROLPLANE_BIN,
      {"--data-dir", dir, "--http-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
       "--oidc-issuer", kIssuer, "--oidc-audience", "omnirelay", "--oidc-jwks",
       "http://idp.example.com/jwks.json", "--oidc-group-scopes", "ops=admin"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("loopback"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

// The daemon fetches the JWKS from the URL, logs in an ID token signed by
// one of its keys, and shows the figures on /metrics.
TEST_F(JwksUrlTest, DaemonLogsInWithKeysFromTheUrl) {
  Serve();
  testing::DaemonProcess daemon(root_ + "/data");
  ASSERT_TRUE(daemon.StartWithArgs(
      {"--oidc-issuer", kIssuer, "--oidc-audience", "omnirelay", "--oidc-jwks", server_->url(),
       "--oidc-jwks-ca", pki_.path("ca.crt"), "--oidc-group-scopes", "ops=config:read"},
      /*tls=*/false));
  httplib::Client http("127.0.0.1", daemon.http_port());
  auto login = http.Post("/v1/login", {{"Authorization", "Bearer " + Key1().Sign(Claims())}}, "",
                         "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 201) << login->body;
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("omnirelay_cp_oidc_logins_total{result=\"accepted\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("omnirelay_cp_oidc_jwks_fetches_total{result=\"ok\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("omnirelay_cp_oidc_jwks_age_seconds"), std::string::npos);
}

// The daemon starts while the IdP cannot be reached; ID tokens are then
// refused 503 `unavailable` (not 401), until the keys arrive.
TEST_F(JwksUrlTest, DaemonStartsWhileTheIdpIsDown) {
  Serve();
  const std::string url = server_->url();
  server_->Stop();
  testing::DaemonProcess daemon(root_ + "/data");
  ASSERT_TRUE(daemon.StartWithArgs(
      {"--oidc-issuer", kIssuer, "--oidc-audience", "omnirelay", "--oidc-jwks", url,
       "--oidc-jwks-ca", pki_.path("ca.crt"), "--oidc-group-scopes", "ops=config:read"},
      /*tls=*/false));
  httplib::Client http("127.0.0.1", daemon.http_port());
  const httplib::Headers bearer = {{"Authorization", "Bearer " + Key1().Sign(Claims())}};
  auto down = http.Get("/v1/layers", bearer);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 503) << down->body;
  EXPECT_NE(down->body.find("unavailable"), std::string::npos) << down->body;
  server_->Start();
  EXPECT_TRUE(Eventually(
      [&] {
        auto r = http.Get("/v1/layers", bearer);
        return r && r->status == 200;
      },
      std::chrono::seconds(15)))
      << "the keys arrive at the retry pace";
}

}  // namespace
}  // namespace omnirelay::cp
