// Tokens: issuing, authenticating, scopes and their implications.
#include "omnirelay/controlplane/auth.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace omnirelay::cp {
namespace {

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/omnirelay-auth-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    SqliteOptions o;
    o.path = dir_ + "/state.db";
    o.synchronous_full = false;
    store_ = std::move(OpenSqliteStore(o).value());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  IssuedToken Issue(const std::string& name, std::vector<std::string> scopes,
                    std::int64_t ttl = 0) {
    auto t = auth().Issue(name, scopes, ttl, AuditEntry{});
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : IssuedToken{};
  }
  Authenticator auth() { return Authenticator(*store_, clock_); }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
};

// An issued token authenticates to its principal; the store holds only its hash.
TEST_F(AuthTest, IssuedTokenAuthenticates) {
  IssuedToken t = Issue("ci", {"config:read"});
  ASSERT_EQ(t.secret.rfind("omr_" + t.record.id + "_", 0), 0u);
  auto p = auth().Authenticate(t.secret);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->name, "ci");
  EXPECT_EQ(p->token_id, t.record.id);
  auto stored = store_->ListTokens();
  ASSERT_TRUE(stored.ok());
  for (const auto& r : *stored) EXPECT_EQ(r.secret_hash.find(t.secret), std::string::npos);
}

// Missing, malformed and unknown tokens are unauthenticated.
TEST_F(AuthTest, BadTokensAreUnauthenticated) {
  EXPECT_EQ(auth().Authenticate("").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth().Authenticate("hunter2").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth().Authenticate("omr_000000000000_00").status().code(),
            StatusCode::kUnauthenticated);
}

// A token past its TTL is refused (time from the injected clock).
TEST_F(AuthTest, ExpiredTokenIsRefused) {
  IssuedToken t = Issue("short", {"config:read"}, 60);
  EXPECT_TRUE(auth().Authenticate(t.secret).ok());
  clock_.AdvanceMs(61'000);
  EXPECT_EQ(auth().Authenticate(t.secret).status().code(), StatusCode::kUnauthenticated);
}

// A revoked token is refused at once.
TEST_F(AuthTest, RevokedTokenIsRefused) {
  IssuedToken t = Issue("gone", {"admin"});
  ASSERT_TRUE(store_->RevokeToken(t.record.id, clock_.NowUnixMs(), AuditEntry{}).ok());
  EXPECT_EQ(auth().Authenticate(t.secret).status().code(), StatusCode::kUnauthenticated);
}

// admin implies every scope; config:write implies config:read and nothing else.
TEST_F(AuthTest, ScopeImplications) {
  Principal admin{"a", "admin", {"admin"}};
  Principal writer{"w", "w", {"config:write"}};
  Principal reader{"r", "r", {"config:read"}};
  for (auto s : {kScopeConfigRead, kScopeConfigWrite, kScopeAuditRead, kScopeRolloutWrite}) {
    EXPECT_TRUE(admin.Has(s));
  }
  EXPECT_TRUE(writer.Has(kScopeConfigRead));
  EXPECT_FALSE(writer.Has(kScopeAuditRead));
  EXPECT_FALSE(reader.Has(kScopeConfigWrite));
  EXPECT_EQ(Require(reader, kScopeConfigWrite).code(), StatusCode::kPermissionDenied);
}

// Node tokens carry only "node" and are bound to node:<id>.
TEST_F(AuthTest, NodeTokensAreBoundToOneNode) {
  IssuedToken t = Issue("node:relay-1", {"node"});
  auto p = auth().Authenticate(t.secret);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->node_id(), "relay-1");
  EXPECT_FALSE(auth().Issue("relay-1", {"node"}, 0, AuditEntry{}).ok());
  EXPECT_FALSE(auth().Issue("node:relay-1", {"node", "admin"}, 0, AuditEntry{}).ok());
  // Finding 7: a node:<id> name cannot carry other scopes.
  EXPECT_FALSE(auth().Issue("node:foo", {"config:write"}, 0, AuditEntry{}).ok());
  EXPECT_EQ(Principal({"x", "node:relay-1", {"config:read"}}).node_id(), "");
}

// Unknown scopes, no scopes and negative TTLs are invalid arguments.
TEST_F(AuthTest, InvalidIssueRequests) {
  EXPECT_EQ(auth().Issue("x", {"root"}, 0, AuditEntry{}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(auth().Issue("x", {}, 0, AuditEntry{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(auth().Issue("x", {"admin"}, -1, AuditEntry{}).status().code(),
            StatusCode::kInvalidArgument);
}

// BearerToken extracts the token from an Authorization header.
TEST(BearerTokenTest, ParsesHeader) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("Basic abc"), "");
  EXPECT_EQ(BearerToken("Bearer "), "");
  EXPECT_EQ(BearerToken(""), "");
}

}  // namespace
}  // namespace omnirelay::cp
