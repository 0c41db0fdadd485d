// The pull fallback's reading of refusals: the control plane's own answer
// about this node is final, an endpoint's trouble moves on to the next one;
// answers are size-capped, and a key-set fetch reads the list or moves on.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <string>

#include "loopback_http_server.h"
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

// A loopback HTTP server answering every snapshot pull and key-set fetch with
// one fixed reply.
class FixedServer {
 public:
  FixedServer(int status, std::string body)
      : http_([this, status, body](httplib::Server& server) {
          server.Get(R"(/v1/(nodes/.*|keysets))",
                     [this, status, body](const httplib::Request&, httplib::Response& res) {
                       ++hits_;
                       res.status = status;
                       res.set_content(body, "application/json");
                     });
        }) {}
  std::string endpoint() const { return http_.endpoint(); }
  int hits() const { return hits_.load(); }

 private:
  std::atomic<int> hits_{0};  // before http_: handlers may run until it is gone
  test_support::LoopbackHttpServer http_;
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

// An answer over the cap is not held whole: it counts as no answer, and the
// next endpoint is asked.
TEST(SnapshotPullerTest, AnAnswerOverTheCapMovesOnToTheNextEndpoint) {
  FixedServer huge(200, std::string(5000, 'x'));
  FixedServer small(200, "an envelope");
  SnapshotPuller puller("edge-1", "global,node:edge-1", "token", 2000, nullptr, 1000);
  puller.AddEndpoints({huge.endpoint()});
  auto alone = puller.Pull("");
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(alone.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(alone.status().message().find("larger than 1000 bytes"), std::string::npos)
      << alone.status().ToString();
  puller.AddEndpoints({small.endpoint()});
  auto reply = puller.Pull("");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->envelope, "an envelope");
  EXPECT_EQ(reply->endpoint, small.endpoint());
}

// gRPC's "no limit" (-1, or 0) caps nothing.
TEST(SnapshotPullerTest, ANonPositiveLimitCapsNothing) {
  FixedServer big(200, std::string(5000, 'x'));
  for (const std::int64_t limit : {std::int64_t{-1}, std::int64_t{0}}) {
    SnapshotPuller puller("edge-1", "global,node:edge-1", "token", 2000, nullptr, limit);
    puller.AddEndpoints({big.endpoint()});
    auto reply = puller.Pull("");
    ASSERT_TRUE(reply.ok()) << limit << ": " << reply.status().ToString();
    EXPECT_EQ(reply->envelope.size(), 5000u);
  }
}

TEST(SnapshotPullerTest, KeySetsComeFromTheFirstEndpointThatAnswersAList) {
  FixedServer proxy(200, "<html>a captive portal</html>");
  FixedServer malformed(200, R"({"keySets":[{"version":2}]})");
  FixedServer control_plane(
      200, R"({"latestVersion":3,"keySets":[{"envelope":"e2"},{"envelope":"e3"}]})");
  SnapshotPuller puller("edge-1", "global,node:edge-1", "token", 2000);
  puller.AddEndpoints({proxy.endpoint(), malformed.endpoint(), control_plane.endpoint()});
  auto sets = puller.FetchKeySets(1);
  ASSERT_TRUE(sets.ok()) << sets.status().ToString();
  EXPECT_EQ(*sets, (std::vector<std::string>{"e2", "e3"}));
  EXPECT_EQ(proxy.hits(), 1);
  EXPECT_EQ(malformed.hits(), 1);

  SnapshotPuller only_bad("edge-1", "global,node:edge-1", "token", 2000);
  only_bad.AddEndpoints({proxy.endpoint(), malformed.endpoint()});
  auto none = only_bad.FetchKeySets(1);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(none.status().message().find("envelope"), std::string::npos)
      << none.status().ToString();
}

TEST(SnapshotPullerTest, AKeySetListOverItsCapIsRefused) {
  FixedServer huge(200, std::string(kMaxKeySetListBytes + 1, ' '));
  SnapshotPuller puller("edge-1", "global,node:edge-1", "token", 5000);
  puller.AddEndpoints({huge.endpoint()});
  auto sets = puller.FetchKeySets(0);
  ASSERT_FALSE(sets.ok());
  EXPECT_EQ(sets.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(sets.status().message().find("larger than"), std::string::npos)
      << sets.status().ToString();
}

}  // namespace
}  // namespace omnirelay::relay::internal
