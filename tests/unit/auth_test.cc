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

// A token read from the store is used again for kTokenCacheMs; a revocation
// this process learns of (Forget) counts at once, one it does not hear of
// (another replica's, its bus event lost) once that time has passed.
TEST_F(AuthTest, TokenReadsAreCachedBrieflyAndForgetEndsThem) {
  Authenticator a(*store_, clock_);
  IssuedToken t = Issue("cached", {"config:read"});
  ASSERT_TRUE(a.Authenticate(t.secret).ok());
  ASSERT_TRUE(store_->RevokeToken(t.record.id, clock_.NowUnixMs(), AuditEntry{}).ok());
  EXPECT_TRUE(a.Authenticate(t.secret).ok());  // not heard of yet
  a.Forget({t.record.id});
  EXPECT_EQ(a.Authenticate(t.secret).status().code(), StatusCode::kUnauthenticated);

  IssuedToken u = Issue("cached-unheard", {"config:read"});
  ASSERT_TRUE(a.Authenticate(u.secret).ok());
  ASSERT_TRUE(store_->RevokeToken(u.record.id, clock_.NowUnixMs(), AuditEntry{}).ok());
  clock_.AdvanceMs(kTokenCacheMs - 1);
  EXPECT_TRUE(a.Authenticate(u.secret).ok());
  clock_.AdvanceMs(1);
  EXPECT_EQ(a.Authenticate(u.secret).status().code(), StatusCode::kUnauthenticated);

  // A cached token still expires on time; an unknown one is never cached.
  IssuedToken v = Issue("cached-short", {"config:read"}, 1);
  ASSERT_TRUE(a.Authenticate(v.secret).ok());
  clock_.AdvanceMs(1000);
  EXPECT_EQ(a.Authenticate(v.secret).status().code(), StatusCode::kUnauthenticated);
}

// A read that a Forget overlapped is not kept: its record may predate the
// revocation, which would otherwise be undone for a second.
TEST(TokenCacheTest, AReadOverlappedByAForgetIsNotKept) {
  TokenCache cache;
  TokenRecord record;
  record.id = "tok-1";
  const std::uint64_t started = cache.forgets();
  cache.Forget({"tok-1"});  // the revocation lands while the store is read
  cache.Keep("hash-1", record, 1000, started);
  EXPECT_FALSE(cache.Fresh("hash-1", 1000));
  cache.Keep("hash-1", record, 1000, cache.forgets());
  ASSERT_TRUE(cache.Fresh("hash-1", 1000 + kTokenCacheMs - 1));
  EXPECT_FALSE(cache.Fresh("hash-1", 1000 + kTokenCacheMs));
  EXPECT_FALSE(cache.Fresh("hash-1", 999));  // a clock that went back reads again
  cache.Forget({"tok-other"});
  EXPECT_TRUE(cache.Fresh("hash-1", 1000));
  cache.Forget({"tok-1"});
  EXPECT_FALSE(cache.Fresh("hash-1", 1000));
}

// The cache holds at most kMaxCachedTokens records.
TEST(TokenCacheTest, ItIsBounded) {
  TokenCache cache;
  TokenRecord record;
  for (std::size_t i = 0; i <= TokenCache::kMaxCachedTokens; ++i) {
    record.id = "tok-" + std::to_string(i);
    cache.Keep("hash-" + std::to_string(i), record, 1000, cache.forgets());
  }
  EXPECT_FALSE(cache.Fresh("hash-0", 1000));  // started again when full
  EXPECT_TRUE(cache.Fresh("hash-" + std::to_string(TokenCache::kMaxCachedTokens), 1000));
}

// A login that replaces the previous one refuses it at once through the same
// Authenticator (its cache forgets the replaced token).
TEST_F(AuthTest, NewLoginForgetsTheReplacedTokenAtOnce) {
  Authenticator a(*store_, clock_);
  const Principal who{
      "", "oidc:idp.example.com/alice", {"config:read"}, clock_.NowUnixMs() + 3600 * 1000, true};
  auto first = a.Login(who, 0, AuditEntry{});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(a.Authenticate(first->secret).ok());
  ASSERT_TRUE(a.Login(who, 0, AuditEntry{}).ok());
  EXPECT_EQ(a.Authenticate(first->secret).status().code(), StatusCode::kUnauthenticated);
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

// An OIDC identity as Authenticate gives it (id_token set), expiring at `exp_ms`.
Principal OidcPrincipal(std::int64_t exp_ms) {
  Principal p{"idt-0123456789ab", "oidc:idp.example.com/alice", {"config:read"}, exp_ms};
  p.id_token = true;
  return p;
}

// Login issues a token of the identity's name and scopes for at most an hour.
TEST_F(AuthTest, LoginIssuesAnHourAtMost) {
  const std::int64_t now = clock_.NowUnixMs();
  auto t = auth().Login(OidcPrincipal(now + 10 * 3600 * 1000), 0, AuditEntry{});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->record.name, "oidc:idp.example.com/alice");
  EXPECT_EQ(t->record.scopes, std::vector<std::string>{"config:read"});
  EXPECT_EQ(t->record.expires_at_ms, now + kLoginTokenMaxTtlSeconds * 1000);
  auto p = auth().Authenticate(t->secret);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->name, "oidc:idp.example.com/alice");
  EXPECT_FALSE(p->id_token);
}

// A login token never outlives the ID token it was exchanged for.
TEST_F(AuthTest, LoginStopsAtTheIdTokensExpiry) {
  const std::int64_t now = clock_.NowUnixMs();
  auto t = auth().Login(OidcPrincipal(now + 120'000), 3600, AuditEntry{});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->record.expires_at_ms, now + 120'000);
  EXPECT_EQ(auth().Login(OidcPrincipal(now), 0, AuditEntry{}).status().code(),
            StatusCode::kUnauthenticated);
}

// A new login of the same identity revokes its previous login token.
TEST_F(AuthTest, NewLoginReplacesThePrevious) {
  const Principal who = OidcPrincipal(clock_.NowUnixMs() + 3600 * 1000);
  auto first = auth().Login(who, 0, AuditEntry{});
  auto second = auth().Login(who, 0, AuditEntry{});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(auth().Authenticate(first->secret).status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(auth().Authenticate(second->secret).ok());
}

// Only an ID token's holder logs in; only Login names a token oidc:...
TEST_F(AuthTest, LoginNeedsAnIdToken) {
  Principal stored = OidcPrincipal(0);
  stored.id_token = false;
  EXPECT_EQ(auth().Login(stored, 0, AuditEntry{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckTokenName("oidc:idp.example.com", false).code(), StatusCode::kInvalid);
  EXPECT_FALSE(auth().Issue("oidc:idp.example.com", {"admin"}, 0, AuditEntry{}).ok());
}

// Without --oidc-issuer a JWT-shaped bearer is refused, saying why.
TEST_F(AuthTest, IdTokenWithoutOidcIsRefused) {
  auto p = auth().Authenticate("eyJhbGciOiJFZERTQSJ9.e30.c2ln");
  EXPECT_EQ(p.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(p.status().message().find("--oidc-issuer"), std::string::npos);
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
