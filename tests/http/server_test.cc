// omni_http's contract (omnirelay/http/server.h), rule by rule, over real
// loopback sockets: timeouts, limits, keep-alive, TLS/mTLS and its reload,
// streaming, and an exclusive port.
#include "omnirelay/http/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <memory>
#include <thread>

#include "eventually.h"
#include "integration/test_pki.h"
#include "raw_client.h"

namespace omnirelay::http {
namespace {

using namespace std::chrono_literals;
using cp::testing::Pki;
using test_support::Eventually;
using testing::Connect;
using testing::Get;
using testing::SendAll;
using testing::WaitClosed;

// Closes a raw socket at the end of a scope.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  operator int() const { return fd; }
};

class ServerTest : public ::testing::Test {
 protected:
  // Starts a server with `options` and the default routes: /healthz on the
  // I/O thread, /echo echoing the body, /slow taking 1 s on a worker.
  void Start(ServerOptions options = {}) {
    server_ = std::make_unique<Server>(std::move(options));
    server_->Route("GET", "/healthz",
                   [](const Request&, Response& res) { res.set_content("ok", "text/plain"); },
                   {.on_io_thread = true});
    server_->Route("POST", "/echo", [](const Request& req, Response& res) {
      res.set_content(req.body, "text/plain");
    });
    server_->Route("GET", "/items/([^/]+)", [](const Request& req, Response& res) {
      res.set_content(req.matches[1] + "|" + req.get_param_value("q"), "text/plain");
    });
    server_->Route("GET", "/slow", [](const Request&, Response& res) {
      // Stands in for a handler blocked on the store.
      std::this_thread::sleep_for(1s);
      res.set_content("slow", "text/plain");
    });
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  int port() const { return server_->port(); }

  std::unique_ptr<Server> server_;
};

// Rule 3, keep-alive: one connection answers several requests in turn.
TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Start();
  Fd fd(Connect(port()));
  for (int i = 0; i < 3; ++i) {
    auto r = Get(fd, "/healthz");
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
}

// Routes: captures and decoded query parameters reach the handler; no match is 404 JSON.
TEST_F(ServerTest, RoutesCaptureAndDecodeAndUnknownPathsAre404Json) {
  Start();
  Fd fd(Connect(port()));
  auto r = Get(fd, "/items/region%3Aeu?q=a+b%2Fc");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "region:eu|a b/c");
  auto missing = Get(fd, "/nowhere");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("\"code\":\"not_found\""), std::string::npos) << missing->body;
}

// Rule 3: an idle keep-alive connection is closed after idle_timeout.
TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions o;
  o.limits.idle_timeout = 200ms;
  Start(o);
  Fd fd(Connect(port()));
  ASSERT_TRUE(Get(fd, "/healthz"));
  EXPECT_TRUE(WaitClosed(fd, 3s));
}

// Rule 3: a request head that never completes is cut off after header_timeout (and counted).
TEST_F(ServerTest, HalfSentHeadIsClosedAfterTheHeaderTimeout) {
  Counter timed_out;
  ServerOptions o;
  o.limits.header_timeout = 200ms;
  o.connections_timed_out = &timed_out;
  Start(o);
  Fd fd(Connect(port()));
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(WaitClosed(fd, 3s));
  Fd silent(Connect(port()));  // sends nothing at all
  EXPECT_TRUE(WaitClosed(silent, 3s));
  EXPECT_TRUE(Eventually([&] { return timed_out.value() == 2; }, 5s)) << timed_out.value();
}

// Rule 3: a body that stops arriving is cut off after body_timeout.
TEST_F(ServerTest, HalfSentBodyIsClosedAfterTheBodyTimeout) {
  ServerOptions o;
  o.limits.body_timeout = 200ms;
  Start(o);
  Fd fd(Connect(port()));
  ASSERT_TRUE(SendAll(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
  EXPECT_TRUE(WaitClosed(fd, 3s));
}

// Rule 4: past max_connections a new connection gets 503 JSON and is closed.
TEST_F(ServerTest, ConnectionLimitAnswers503Json) {
  Gauge open;
  Counter refused;
  ServerOptions o;
  o.limits.max_connections = 2;
  o.connections_open = &open;
  o.connections_refused = &refused;
  Start(o);
  Fd a(Connect(port())), b(Connect(port()));
  ASSERT_TRUE(Eventually([&] { return server_->open_connections() == 2; }, 5s));
  Fd c(Connect(port()));
  auto r = Get(c, "/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("\"code\":\"unavailable\""), std::string::npos) << r->body;
  EXPECT_TRUE(WaitClosed(c, 3s));
  EXPECT_EQ(refused.value(), 1u);
  EXPECT_TRUE(Eventually([&] { return open.value() == 2; }, 5s)) << open.value();
  // The connections within the limit are still served.
  auto ok = Get(a, "/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  server_.reset();  // before `open` and `refused`: its sessions count into them until destroyed
}

// A client that sends "Expect: 100-continue" is told to go on, then answered.
TEST_F(ServerTest, ExpectContinueIsAnswered) {
  Start();
  Fd fd(Connect(port()));
  ASSERT_TRUE(SendAll(
      fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto go = testing::ReadSome(fd, 5s);
  ASSERT_TRUE(go);
  EXPECT_EQ(go->rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << *go;
  ASSERT_TRUE(SendAll(fd, "hello"));
  std::string carry =
      go->substr(std::min(go->size(), std::string("HTTP/1.1 100 Continue\r\n\r\n").size()));
  auto r = testing::ReadResponse(fd, carry, 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");
}

// Rule 4: a body over max_body_bytes is refused with 413 JSON before it is read.
TEST_F(ServerTest, OversizedBodyIs413) {
  ServerOptions o;
  o.limits.max_body_bytes = 1024;
  Start(o);
  Fd fd(Connect(port()));
  ASSERT_TRUE(SendAll(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"));
  std::string carry;
  auto r = testing::ReadResponse(fd, carry, 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("\"code\":\"too_large\""), std::string::npos) << r->body;
}

// Rule 4: a request head over max_header_bytes is refused with 431.
TEST_F(ServerTest, OversizedHeadIs431) {
  ServerOptions o;
  o.limits.max_header_bytes = 1024;
  Start(o);
  Fd fd(Connect(port()));
  auto r = Get(fd, "/healthz", "X-Big: " + std::string(4000, 'a') + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
}

// Rule 2: a handler blocked on a worker does not delay an I/O-thread route.
TEST_F(ServerTest, SlowHandlerDoesNotDelayHealthz) {
  ServerOptions o;
  o.worker_threads = 1;
  Start(o);
  Fd slow(Connect(port()));
  ASSERT_TRUE(SendAll(slow, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  Fd probe(Connect(port()));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = Get(probe, "/healthz");
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(took, 500ms);
}

// A stream that emits "tick N\n" a few times, then ends; counts its lifetime.
class Ticker final : public BodyStream {
 public:
  Ticker(int count, std::shared_ptr<std::atomic<int>> alive) : left_(count), alive_(alive) {
    ++*alive_;
  }
  ~Ticker() override { --*alive_; }
  Chunk Next() override {
    Chunk c;
    if (left_ < 0) return c;  // endless
    c.data = "tick " + std::to_string(left_) + "\n";
    c.done = --left_ == 0;
    return c;
  }

 private:
  int left_;
  std::shared_ptr<std::atomic<int>> alive_;
};

// Rule 5: chunks arrive while other requests are served, then the stream ends.
TEST_F(ServerTest, StreamDeliversChunksWhileOtherRequestsAreServed) {
  auto alive = std::make_shared<std::atomic<int>>(0);
  ServerOptions o;
  o.worker_threads = 1;
  server_ = std::make_unique<Server>(o);
  server_->Route("GET", "/stream", [alive](const Request&, Response& res) {
    res.set_stream(std::make_unique<Ticker>(5, alive), "text/plain", 50ms);
  });
  server_->Route("GET", "/healthz",
                 [](const Request&, Response& res) { res.set_content("ok", "text/plain"); });
  ASSERT_TRUE(server_->Start().ok());
  Fd s(Connect(port()));
  ASSERT_TRUE(SendAll(s, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  while (got.find("tick 5") == std::string::npos) {
    auto more = testing::ReadSome(s, 5s);
    ASSERT_TRUE(more && !more->empty());
    got += *more;
  }
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos);
  // The stream is open and holds no worker: a worker route still answers.
  Fd other(Connect(port()));
  auto r = Get(other, "/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  while (got.find("0\r\n\r\n") == std::string::npos) {
    auto more = testing::ReadSome(s, 5s);
    ASSERT_TRUE(more && !more->empty()) << got;
    got += *more;
  }
  EXPECT_NE(got.find("tick 1"), std::string::npos);
  EXPECT_TRUE(WaitClosed(s, 3s));
  EXPECT_TRUE(Eventually([&] { return alive->load() == 0; }, 5s));
}

// Rule 5: an endless stream ends when its client goes away.
TEST_F(ServerTest, StreamEndsWhenTheClientGoesAway) {
  auto alive = std::make_shared<std::atomic<int>>(0);
  server_ = std::make_unique<Server>(ServerOptions{});
  server_->Route("GET", "/stream", [alive](const Request&, Response& res) {
    res.set_stream(std::make_unique<Ticker>(-1, alive), "text/plain", 20ms);
  });
  ASSERT_TRUE(server_->Start().ok());
  {
    Fd s(Connect(port()));
    ASSERT_TRUE(SendAll(s, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(testing::ReadSome(s, 5s));
    EXPECT_EQ(alive->load(), 1);
  }
  EXPECT_TRUE(Eventually([&] { return alive->load() == 0; }, 5s));
  EXPECT_TRUE(Eventually([&] { return server_->open_connections() == 0; }, 5s));
}

// Rule 5: Shutdown ends an open stream with its last chunk.
TEST_F(ServerTest, ShutdownEndsOpenStreams) {
  auto alive = std::make_shared<std::atomic<int>>(0);
  server_ = std::make_unique<Server>(ServerOptions{});
  server_->Route("GET", "/stream", [alive](const Request&, Response& res) {
    res.set_stream(std::make_unique<Ticker>(-1, alive), "text/plain", 20ms);
  });
  ASSERT_TRUE(server_->Start().ok());
  Fd s(Connect(port()));
  ASSERT_TRUE(SendAll(s, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(testing::ReadSome(s, 5s));
  std::thread reader([&] {
    std::string got;
    while (auto more = testing::ReadSome(s, 5s)) {
      if (more->empty()) break;
      got += *more;
    }
    EXPECT_NE(got.find("0\r\n\r\n"), std::string::npos);
  });
  server_->Shutdown();
  reader.join();
  EXPECT_EQ(alive->load(), 0);
}

// Rule 7: a port in use is an error at Start.
TEST_F(ServerTest, PortInUseIsAnError) {
  Start();
  ServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port());
  Server second(o);
  Status s = second.Start();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
}

// --- TLS ---------------------------------------------------------------------

TlsConfig TlsFrom(const Pki& pki, bool mutual) {
  TlsConfig t;
  t.cert_pem = pki.pem("server.crt");
  t.key_pem = pki.pem("server.key");
  if (mutual) t.client_ca_pem = pki.pem("ca.crt");
  return t;
}

// GET /healthz over HTTPS trusting `pki`'s CA, optionally with its client certificate; -1: no
// answer.
int HttpsStatus(int port, const Pki& pki, bool with_client_cert) {
  std::unique_ptr<httplib::SSLClient> cli =
      with_client_cert ? std::make_unique<httplib::SSLClient>(
                             "127.0.0.1", port, pki.path("client.crt"), pki.path("client.key"))
                       : std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  cli->set_ca_cert_path(pki.path("ca.crt").c_str());
  cli->enable_server_certificate_verification(true);
  cli->set_connection_timeout(5);
  cli->set_read_timeout(5);
  auto res = cli->Get("/healthz");
  return res ? res->status : -1;
}

// Rule 6: TLS is served to a client trusting the CA; plaintext gets no 200.
TEST_F(ServerTest, TlsServesAndRefusesPlaintext) {
  Pki pki;
  ASSERT_TRUE(pki.ok());
  ServerOptions o;
  o.tls = TlsFrom(pki, false);
  Start(o);
  EXPECT_EQ(HttpsStatus(port(), pki, false), 200);
  Fd fd(Connect(port()));
  auto plain = Get(fd, "/healthz", "", 2s);
  EXPECT_TRUE(!plain || plain->status != 200);
}

// Rule 6: with a client CA, a client certificate from it is required.
TEST_F(ServerTest, MutualTlsRequiresAClientCertificate) {
  Pki pki;
  ASSERT_TRUE(pki.ok());
  ServerOptions o;
  o.tls = TlsFrom(pki, true);
  Start(o);
  EXPECT_EQ(HttpsStatus(port(), pki, true), 200);
  EXPECT_EQ(HttpsStatus(port(), pki, false), -1);
}

// Rule 6: ReloadTls swaps the certificate for new connections; bad material is refused.
TEST_F(ServerTest, ReloadTlsServesTheNewCertificateToNewConnections) {
  Pki before, after;
  ASSERT_TRUE(before.ok() && after.ok());
  ServerOptions o;
  o.tls = TlsFrom(before, false);
  Start(o);
  EXPECT_EQ(HttpsStatus(port(), before, false), 200);
  EXPECT_EQ(HttpsStatus(port(), after, false), -1);
  TlsConfig broken = TlsFrom(after, false);
  broken.key_pem = before.pem("server.key");  // not the certificate's key
  EXPECT_EQ(server_->ReloadTls(broken).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpsStatus(port(), before, false), 200);
  ASSERT_TRUE(server_->ReloadTls(TlsFrom(after, false)).ok());
  EXPECT_EQ(HttpsStatus(port(), after, false), 200);
  EXPECT_EQ(HttpsStatus(port(), before, false), -1);
}

// Rule 6: check_peer sees the client's certificate (DER) after the
// handshake; a refusal is one 403 permission_denied carrying its reason,
// and no handler runs.
TEST_F(ServerTest, CheckPeerRefusesWith403BeforeAnyHandler) {
  Pki pki;
  ASSERT_TRUE(pki.ok());
  ServerOptions o;
  o.tls = TlsFrom(pki, true);
  std::atomic<int> checked{0};
  std::atomic<bool> refuse{true};
  o.check_peer = [&](std::string_view der) {
    ++checked;
    EXPECT_GT(der.size(), 100u);     // a whole certificate
    EXPECT_EQ(der.front(), '\x30');  // DER: a SEQUENCE
    return refuse.load() ? std::string("not this one") : std::string();
  };
  std::atomic<int> handled{0};
  server_ = std::make_unique<Server>(std::move(o));
  server_->Route("GET", "/v1/x", [&](const Request&, Response& res) {
    ++handled;
    res.set_content("{}", "application/json");
  });
  ASSERT_TRUE(server_->Start().ok());
  httplib::SSLClient cli("127.0.0.1", server_->port(), pki.path("client.crt"),
                         pki.path("client.key"));
  cli.set_ca_cert_path(pki.path("ca.crt").c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(5);
  auto refused = cli.Get("/v1/x");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("\"permission_denied\""), std::string::npos) << refused->body;
  EXPECT_NE(refused->body.find("not this one"), std::string::npos) << refused->body;
  EXPECT_EQ(handled.load(), 0);
  refuse = false;
  auto admitted = cli.Get("/v1/x");
  ASSERT_TRUE(admitted);
  EXPECT_EQ(admitted->status, 200);
  EXPECT_EQ(handled.load(), 1);
  EXPECT_EQ(checked.load(), 2);
}

}  // namespace
}  // namespace omnirelay::http
