// OIDC ID tokens (oidc.h): each rule of VerifyIdToken, the JWKS parser, the
// group-to-scope map and the verifier's JWKS file refresh.
#include "omnirelay/controlplane/oidc.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <filesystem>
#include <fstream>

#include "jwt_signer.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;
using omnirelay::testing::Base64Url;
using omnirelay::testing::JwksOf;
using omnirelay::testing::JwtSigner;

constexpr std::int64_t kNow = 1'800'000'000'000;  // ms
constexpr std::int64_t kNowS = kNow / 1000;

IdTokenPolicy Policy() {
  IdTokenPolicy p;
  p.issuer = "https://idp.example.com/realms/ops";
  p.audience = "omnirelay";
  p.clock_skew_ms = 60'000;
  return p;
}

Json Claims() {
  return {{"iss", "https://idp.example.com/realms/ops"},
          {"aud", "omnirelay"},
          {"sub", "alice"},
          {"email", "alice@example.com"},
          {"groups", {"ops", "readers"}},
          {"iat", kNowS - 10},
          {"exp", kNowS + 3600}};
}

// One key per alg for the whole suite (RSA key generation is slow).
const JwtSigner& Signer(const std::string& alg) {
  static const JwtSigner rsa("RS256", "rsa-1"), ec("ES256", "ec-1"), ed("EdDSA", "ed-1");
  return alg == "RS256" ? rsa : alg == "ES256" ? ec : ed;
}

class OidcTest : public ::testing::Test {
 protected:
  OidcTest() : rsa_(Signer("RS256")), ec_(Signer("ES256")), ed_(Signer("EdDSA")) {
    keys_ = JwkSet::Parse(JwksOf({&rsa_, &ec_, &ed_})).value();
  }
  Result<IdTokenClaims> Verify(const std::string& token, std::int64_t now = kNow) {
    return VerifyIdToken(token, *keys_, Policy(), now);
  }
  static std::string Reason(const Result<IdTokenClaims>& r) {
    return std::string(IdTokenRefusalReason(r.status()));
  }

  const JwtSigner &rsa_, &ec_, &ed_;
  std::shared_ptr<const JwkSet> keys_;
};

// Rule 5: a token signed by each allowed alg verifies, and its claims come out.
TEST_F(OidcTest, EachAllowedAlgVerifies) {
  for (const JwtSigner* s : {&rsa_, &ec_, &ed_}) {
    auto claims = Verify(s->Sign(Claims()));
    ASSERT_TRUE(claims.ok()) << s->alg() << ": " << claims.status().ToString();
    EXPECT_EQ(claims->subject, "alice");
    EXPECT_EQ(claims->alg, s->alg());
    EXPECT_EQ(claims->kid, s->kid());
    EXPECT_EQ(claims->email, "alice@example.com");
    EXPECT_EQ(claims->groups, (std::vector<std::string>{"ops", "readers"}));
    EXPECT_EQ(claims->expires_at_ms, (kNowS + 3600) * 1000);
  }
}

// Rule 5: changed claims under the old signature are bad_signature, for every alg.
TEST_F(OidcTest, TamperedClaimsAreBadSignature) {
  for (const JwtSigner* s : {&rsa_, &ec_, &ed_}) {
    const std::string token = s->Sign(Claims());
    Json evil = Claims();
    evil["sub"] = "mallory";
    const auto dot1 = token.find('.'), dot2 = token.rfind('.');
    const std::string forged =
        token.substr(0, dot1) + "." + Base64Url(evil.dump()) + token.substr(dot2);
    EXPECT_EQ(Reason(Verify(forged)), "bad_signature") << s->alg();
  }
}

// Rule 5: a valid signature by another key of the same type is bad_signature.
TEST_F(OidcTest, SignatureByAnotherKeyIsRefused) {
  JwtSigner other("ES256", "ec-1");
  EXPECT_EQ(Reason(Verify(other.Sign(Claims()))), "bad_signature");
}

// Rule 7: past exp + skew is expired; within the skew it still passes.
TEST_F(OidcTest, ExpiredIsRefusedBeyondSkew) {
  Json c = Claims();
  c["exp"] = kNowS - 30;
  EXPECT_TRUE(Verify(rsa_.Sign(c)).ok());
  c["exp"] = kNowS - 61;
  EXPECT_EQ(Reason(Verify(rsa_.Sign(c))), "expired");
}

// Rule 7: nbf or iat in the future beyond the skew is not_yet_valid.
TEST_F(OidcTest, NotYetValidIsRefused) {
  Json c = Claims();
  c["nbf"] = kNowS + 30;
  EXPECT_TRUE(Verify(ed_.Sign(c)).ok());
  c["nbf"] = kNowS + 120;
  EXPECT_EQ(Reason(Verify(ed_.Sign(c))), "not_yet_valid");
  c = Claims();
  c["iat"] = kNowS + 3000;
  EXPECT_EQ(Reason(Verify(ed_.Sign(c))), "not_yet_valid");
}

// Rule 7: exp is required.
TEST_F(OidcTest, MissingExpIsRefused) {
  Json c = Claims();
  c.erase("exp");
  EXPECT_EQ(Reason(Verify(ec_.Sign(c))), "missing_claim");
}

// Rule 6: another audience or issuer is refused; an aud array holding ours passes.
TEST_F(OidcTest, WrongAudienceOrIssuerIsRefused) {
  Json c = Claims();
  c["aud"] = "someone-else";
  EXPECT_EQ(Reason(Verify(rsa_.Sign(c))), "wrong_audience");
  c["aud"] = Json::array({"someone-else", "omnirelay"});
  EXPECT_TRUE(Verify(rsa_.Sign(c)).ok());
  c.erase("aud");
  EXPECT_EQ(Reason(Verify(rsa_.Sign(c))), "wrong_audience");
  c = Claims();
  c["iss"] = "https://idp.example.com/realms/ops/";
  EXPECT_EQ(Reason(Verify(rsa_.Sign(c))), "wrong_issuer");
}

// Rule 3: a kid the set lacks is unknown_kid; without a kid one fitting key is used.
TEST_F(OidcTest, UnknownKidIsRefused) {
  EXPECT_EQ(Reason(Verify(rsa_.Sign(Claims(), {{"kid", "rsa-2"}}))), "unknown_kid");
  EXPECT_TRUE(Verify(rsa_.Sign(Claims(), {{"kid", nullptr}})).ok());
  JwtSigner rsa2("RS256", "rsa-2");
  auto two_rsa = JwkSet::Parse(JwksOf({&rsa_, &rsa2})).value();
  auto r = VerifyIdToken(rsa_.Sign(Claims(), {{"kid", nullptr}}), *two_rsa, Policy(), kNow);
  EXPECT_EQ(Reason(r), "unknown_kid");
}

// Rule 2: alg none is refused, with or without a signature.
TEST_F(OidcTest, AlgNoneIsRefused) {
  const std::string unsigned_part =
      Base64Url(Json{{"alg", "none"}, {"kid", "rsa-1"}}.dump()) + "." + Base64Url(Claims().dump());
  EXPECT_EQ(Reason(Verify(unsigned_part + ".")), "malformed");  // no signature part
  EXPECT_EQ(Reason(Verify(unsigned_part + "." + Base64Url("x"))), "alg_not_allowed");
  EXPECT_EQ(Reason(Verify(rsa_.Sign(Claims(), {{"alg", "none"}}))), "alg_not_allowed");
  EXPECT_EQ(Reason(Verify(rsa_.Sign(Claims(), {{"alg", "NONE"}}))), "alg_not_allowed");
}

// Rule 2: HS256 "signed" with the RSA key's public modulus (algorithm
// confusion) never reaches a MAC.
TEST_F(OidcTest, HmacWithPublicKeyIsRefused) {
  const std::string secret = rsa_.Jwk()["n"].get<std::string>();
  const std::string signed_part =
      Base64Url(Json{{"alg", "HS256"}, {"kid", "rsa-1"}}.dump()) + "." + Base64Url(Claims().dump());
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &len);
  const std::string token =
      signed_part + "." + Base64Url(std::string(reinterpret_cast<char*>(mac), len));
  EXPECT_EQ(Reason(Verify(token)), "alg_not_allowed");
}

// Rule 4: an allowed alg naming a key of another type, or a key whose own alg differs.
TEST_F(OidcTest, AlgKeyMismatchIsRefused) {
  // ES256 header pointing at the RSA key, signed by the EC key.
  EXPECT_EQ(Reason(Verify(ec_.Sign(Claims(), {{"kid", "rsa-1"}}))), "key_mismatch");
  EXPECT_EQ(Reason(Verify(ed_.Sign(Claims(), {{"kid", "ec-1"}}))), "key_mismatch");
  Json jwk = ec_.Jwk();
  jwk["alg"] = "ES384";
  auto pinned = JwkSet::Parse(Json{{"keys", {jwk}}}.dump()).value();
  EXPECT_EQ(Reason(VerifyIdToken(ec_.Sign(Claims()), *pinned, Policy(), kNow)), "key_mismatch");
}

// Rule 1: padding, standard base64, extra parts, duplicate keys and size are malformed.
TEST_F(OidcTest, MalformedShapesAreRefused) {
  const std::string good = ed_.Sign(Claims());
  EXPECT_EQ(Reason(Verify(good + "=")), "malformed");
  EXPECT_EQ(Reason(Verify(good + ".x")), "malformed");
  EXPECT_EQ(Reason(Verify("a.b")), "malformed");
  EXPECT_EQ(Reason(Verify("")), "malformed");
  std::string plus = good;
  plus[good.rfind('.') + 1] = '+';
  EXPECT_EQ(Reason(Verify(plus)), "malformed");
  EXPECT_EQ(Reason(Verify(std::string(kMaxIdTokenBytes + 1, 'a'))), "malformed");
  // A duplicate "sub" in the signed claims (a parser differential) is refused.
  const std::string dup = R"({"sub":"alice","sub":"root","iss":"x"})";
  const std::string header = Base64Url(Json{{"alg", "EdDSA"}, {"kid", "ed-1"}}.dump());
  const std::string signed_part = header + "." + Base64Url(dup);
  EXPECT_EQ(Reason(Verify(signed_part + "." + Base64Url(ed_.SignBytes(signed_part)))), "malformed");
}

// Rule 8: sub is required and printable.
TEST_F(OidcTest, SubjectIsRequired) {
  Json c = Claims();
  c.erase("sub");
  EXPECT_EQ(Reason(Verify(rsa_.Sign(c))), "missing_claim");
  c["sub"] = "a b";
  EXPECT_EQ(Reason(Verify(rsa_.Sign(c))), "malformed");
}

// A refusal never quotes the token.
TEST_F(OidcTest, RefusalsDoNotQuoteTheToken) {
  Json c = Claims();
  c["exp"] = kNowS - 600;
  const std::string token = rsa_.Sign(c);
  auto r = Verify(token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message().find(token.substr(0, 20)), std::string::npos);
}

// JWKS: other key types and encryption keys are skipped; duplicates, short
// RSA keys, points off the curve and empty sets are refused.
TEST_F(OidcTest, JwksParsing) {
  Json enc = rsa_.Jwk();
  enc["use"] = "enc";
  enc["kid"] = "enc-1";
  Json oct = {{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}};
  auto set = JwkSet::Parse(Json{{"keys", {ed_.Jwk(), enc, oct}}}.dump());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ((*set)->kids(), std::vector<std::string>{"ed-1"});

  EXPECT_FALSE(JwkSet::Parse(Json{{"keys", {ed_.Jwk(), ed_.Jwk()}}}.dump()).ok());
  EXPECT_FALSE(JwkSet::Parse(Json{{"keys", {oct}}}.dump()).ok());
  EXPECT_FALSE(JwkSet::Parse(R"({"keys": {}})").ok());
  EXPECT_FALSE(JwkSet::Parse("[]").ok());
  Json short_rsa = rsa_.Jwk();
  short_rsa["n"] = Base64Url(std::string(128, '\x81'));
  EXPECT_FALSE(JwkSet::Parse(Json{{"keys", {short_rsa}}}.dump()).ok());
  Json off_curve = ec_.Jwk();
  off_curve["y"] = Base64Url(std::string(32, '\x01'));
  EXPECT_FALSE(JwkSet::Parse(Json{{"keys", {off_curve}}}.dump()).ok());
  Json padded = ed_.Jwk();
  padded["x"] = padded["x"].get<std::string>() + "=";
  EXPECT_FALSE(JwkSet::Parse(Json{{"keys", {padded}}}.dump()).ok());
}

// Groups map to the union of their scopes; node and unknown scopes are refused.
TEST(OidcScopesTest, GroupScopes) {
  auto map = ParseGroupScopes({"admins=admin,ops=config:read+config:write", "auditors=audit:read"});
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ(ScopesOfGroups(*map, {"ops", "auditors", "nobody"}),
            (std::vector<std::string>{"audit:read", "config:read", "config:write"}));
  EXPECT_TRUE(ScopesOfGroups(*map, {"nobody"}).empty());
  EXPECT_FALSE(ParseGroupScopes({"relays=node"}).ok());
  EXPECT_FALSE(ParseGroupScopes({"ops=config:delete"}).ok());
  EXPECT_FALSE(ParseGroupScopes({"ops"}).ok());
  EXPECT_FALSE(ParseGroupScopes({"=admin"}).ok());
}

// The principal is oidc:<issuer host>/<sub>.
TEST(OidcScopesTest, PrincipalName) {
  IdTokenClaims c;
  c.issuer = "https://idp.example.com:8443/realms/ops";
  c.subject = "alice";
  EXPECT_EQ(OidcPrincipalName(c), "oidc:idp.example.com:8443/alice");
}

// The verifier re-reads the JWKS file for an unknown kid (a rotated key),
// and keeps the last good set when the file turns bad.
TEST_F(OidcTest, VerifierReloadsTheJwksFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("oidc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "jwks.json").string();
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  write(JwksOf({&rsa_}));
  FakeClock clock(kNow);
  OidcOptions o;
  o.policy = Policy();
  auto v = IdTokenVerifier::Create(o, JwksFileSource(path, RealFileSystem()), clock);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE((*v)->Verify(rsa_.Sign(Claims())).ok());
  EXPECT_EQ(IdTokenRefusalReason((*v)->Verify(ec_.Sign(Claims())).status()), "unknown_kid");

  write(JwksOf({&rsa_, &ec_}));  // the provider rotates in a key
  clock.AdvanceMs(1'000);
  EXPECT_TRUE((*v)->Verify(ec_.Sign(Claims())).ok());

  write("{ not json");
  clock.AdvanceMs(10'000);
  EXPECT_TRUE((*v)->Verify(ec_.Sign(Claims())).ok()) << "the last good set stays";
  std::filesystem::remove_all(dir);

  EXPECT_EQ(IdTokenVerifier::Create(
                o, JwksFileSource((dir / "missing.json").string(), RealFileSystem()), clock)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

// The fuzz corpus's valid tokens verify with the fuzz target's key, so fuzzing
// reaches the claim checks (tests/fuzz/fuzz_oidc.cc).
TEST(OidcFuzzCorpusTest, ValidSeedsVerify) {
  auto keys = JwkSet::Parse(R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"fuzz",)"
                            R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})");
  ASSERT_TRUE(keys.ok());
  IdTokenPolicy policy;
  policy.issuer = "https://idp.fuzz";
  policy.audience = "omnirelay";
  for (const char* name : {"valid.jwt", "valid-no-kid.jwt"}) {
    std::ifstream in(std::string(OMNI_FUZZ_CORPUS_DIR) + "/oidc/" + name);
    const std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto claims = VerifyIdToken(token, **keys, policy, kNow);
    EXPECT_TRUE(claims.ok()) << name << ": " << claims.status().ToString();
  }
}

}  // namespace
}  // namespace omnirelay::cp
