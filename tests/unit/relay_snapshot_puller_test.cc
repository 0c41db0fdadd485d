// The pull fallback's reading of refusals: the control plane's own answer
// about this node is final, an endpoint's trouble moves on to the next one.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "snapshot_puller.h"

namespace omnirelay::relay::internal {
namespace {

TEST(RefusalCodeTest, TheControlPlanesOwnRefusalIsFinal) {
  EXPECT_EQ(RefusalCode(409, R"({"code":"scope_mismatch","message":"no such chain"})"),
            StatusCode::kScopeMismatch);
  EXPECT_EQ(RefusalCode(409, R"({"code":"superseded","message":"a newer instance"})"),
            StatusCode::kSuperseded);
  EXPECT_EQ(RefusalCode(400, R"({"code":"invalid","message":"x"})"), StatusCode::kInvalid);
  EXPECT_EQ(RefusalCode(403, "forbidden"), StatusCode::kPermissionDenied);
  EXPECT_EQ(RefusalCode(404, "<html>not here</html>"), StatusCode::kNotFound);
}

TEST(RefusalCodeTest, AnEndpointsTroubleIsUnavailable) {
  EXPECT_EQ(RefusalCode(409, "<html>conflict at the proxy</html>"), StatusCode::kUnavailable);
  EXPECT_EQ(RefusalCode(429, R"({"code":"unavailable"})"), StatusCode::kUnavailable);
  EXPECT_EQ(RefusalCode(408, R"({"code":"invalid"})"), StatusCode::kUnavailable);
  EXPECT_EQ(RefusalCode(502, R"({"code":"invalid"})"), StatusCode::kUnavailable);
  EXPECT_EQ(RefusalCode(503, R"({"code":"unavailable","message":"not ready"})"),
            StatusCode::kUnavailable);
  EXPECT_EQ(RefusalCode(409, R"({"code":"no_such_code"})"), StatusCode::kUnavailable);
}

// A loopback HTTP server answering every snapshot pull with one fixed reply.
class FixedServer {
 public:
  FixedServer(int status, std::string body) {
    server_.Get(R"(/v1/nodes/.*)",
                [this, status, body](const httplib::Request&, httplib::Response& res) {
                  ++hits_;
                  res.status = status;
                  res.set_content(body, "application/json");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FixedServer() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  int hits() const { return hits_.load(); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::atomic<int> hits_{0};
  std::thread thread_;
};

TEST(SnapshotPullerTest, AChainRefusalIsFinalAndTheNextEndpointIsNotAsked) {
  FixedServer refusing(409, R"({"code":"scope_mismatch","message":"the chain skips a level"})");
  FixedServer other(404, R"({"code":"not_found","message":"never asked"})");
  SnapshotPuller puller("edge-1", "global,node:edge-1", "token", 2000);
  puller.AddEndpoints({refusing.endpoint(), other.endpoint()});
  auto reply = puller.Pull("");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kScopeMismatch) << reply.status().ToString();
  EXPECT_EQ(refusing.hits(), 1);
  EXPECT_EQ(other.hits(), 0);
}

TEST(SnapshotPullerTest, AProxysConflictPageMovesOnToTheNextEndpoint) {
  FixedServer proxy(409, "<html>conflict</html>");
  FixedServer control_plane(403, R"({"code":"permission_denied","message":"not this node"})");
  SnapshotPuller puller("edge-1", "global,node:edge-1", "token", 2000);
  puller.AddEndpoints({proxy.endpoint(), control_plane.endpoint()});
  auto reply = puller.Pull("");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kPermissionDenied) << reply.status().ToString();
  EXPECT_EQ(proxy.hits(), 1);
  EXPECT_EQ(control_plane.hits(), 1);
}

}  // namespace
}  // namespace omnirelay::relay::internal
