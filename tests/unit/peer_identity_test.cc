// peer_identity.h, rule by rule: SPIFFE IDs from certificates (made with
// the openssl CLI), ID syntax, exact and /* patterns, and the policy's
// refusals.
#include "omnirelay/config/peer_identity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace omnirelay {
namespace {

namespace fs = std::filesystem;

// A self-signed certificate whose subjectAltName is `san` ("" = none), as PEM.
std::string CertificateWith(const std::string& san) {
  const fs::path dir = fs::temp_directory_path() / ("omni-spiffe-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string ext = san.empty() ? "" : " -addext 'subjectAltName=" + san + "'";
  const std::string cmd = "cd " + dir.string() +
                          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                          "-nodes -days 1 -subj /CN=t -keyout k.pem -out c.pem" +
                          ext + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) return "";
  std::ifstream in(dir / "c.pem");
  std::stringstream out;
  out << in.rdbuf();
  fs::remove_all(dir);
  return out.str();
}

// Rule 1: the single spiffe URI SAN is the ID; none, or several URIs, are not one.
TEST(PeerIdentityTest, TheIdIsTheOneSpiffeUriSan) {
  auto one = SpiffeIdOfPem(CertificateWith("URI:spiffe://td.example/relay/a,DNS:relay.local"));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->value_or(""), "spiffe://td.example/relay/a");
  auto none = SpiffeIdOfPem(CertificateWith("DNS:relay.local"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto no_san = SpiffeIdOfPem(CertificateWith(""));
  ASSERT_TRUE(no_san.ok());
  EXPECT_FALSE(no_san->has_value());
  auto other_scheme = SpiffeIdOfPem(CertificateWith("URI:https://relay.example/"));
  ASSERT_TRUE(other_scheme.ok());
  EXPECT_FALSE(other_scheme->has_value());
  auto two = SpiffeIdOfPem(CertificateWith("URI:spiffe://td/a,URI:spiffe://td/b"));
  EXPECT_EQ(two.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SpiffeIdOfPem("not a certificate").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SpiffeIdOfDer("\x30\x03junk").status().code(), StatusCode::kInvalidArgument);
}

// Rule 2: the ID grammar.
TEST(PeerIdentityTest, IdSyntax) {
  EXPECT_TRUE(IsSpiffeId("spiffe://td.example"));
  EXPECT_TRUE(IsSpiffeId("spiffe://td.example/relay/eu-1_a.b"));
  EXPECT_FALSE(IsSpiffeId("spiffe://"));
  EXPECT_FALSE(IsSpiffeId("spiffe:///relay"));
  EXPECT_FALSE(IsSpiffeId("https://td/relay"));
  EXPECT_FALSE(IsSpiffeId("spiffe://TD/relay"));      // upper-case trust domain
  EXPECT_FALSE(IsSpiffeId("spiffe://td:443/relay"));  // port
  EXPECT_FALSE(IsSpiffeId("spiffe://td/relay/"));     // empty segment
  EXPECT_FALSE(IsSpiffeId("spiffe://td/a//b"));       // empty segment
  EXPECT_FALSE(IsSpiffeId("spiffe://td/a/../b"));     // dot segment
  EXPECT_FALSE(IsSpiffeId("spiffe://td/a?x=1"));      // query
  EXPECT_FALSE(IsSpiffeId("spiffe://td/a#f"));        // fragment
}

// Rule 3: exact patterns match themselves; /* matches one or more segments below.
TEST(PeerIdentityTest, ExactAndPrefixPatterns) {
  auto exact = SpiffePattern::Parse("spiffe://td/relay/eu-1");
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(exact->Matches("spiffe://td/relay/eu-1"));
  EXPECT_FALSE(exact->Matches("spiffe://td/relay/eu-10"));
  EXPECT_FALSE(exact->Matches("spiffe://td/relay/eu-1/x"));
  auto prefix = SpiffePattern::Parse("spiffe://td/relay/*");
  ASSERT_TRUE(prefix.ok());
  EXPECT_TRUE(prefix->Matches("spiffe://td/relay/eu-1"));
  EXPECT_TRUE(prefix->Matches("spiffe://td/relay/eu/1"));
  EXPECT_FALSE(prefix->Matches("spiffe://td/relay"));
  EXPECT_FALSE(prefix->Matches("spiffe://td/relayx/a"));
  EXPECT_FALSE(prefix->Matches("spiffe://other/relay/a"));
  auto domain = SpiffePattern::Parse("spiffe://td/*");
  ASSERT_TRUE(domain.ok());
  EXPECT_TRUE(domain->Matches("spiffe://td/anything"));
  EXPECT_FALSE(domain->Matches("spiffe://td"));
  for (const char* bad :
       {"spiffe://td/relay*", "spiffe://td/*/x", "spiffe://*/a", "*", "", "spiffe://td/re*lay"}) {
    EXPECT_EQ(SpiffePattern::Parse(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// Rule 4: no patterns allow all; otherwise one match admits, and a refusal
// says what was seen and what was expected.
TEST(PeerIdentityTest, PolicyRefusalsNameSeenAndExpected) {
  EXPECT_TRUE(PeerIdentityPolicy().Check(std::nullopt).ok());
  auto policy = PeerIdentityPolicy::Parse({"spiffe://td/relay/*", "spiffe://td/ops"}, "--flag");
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(policy->enabled());
  EXPECT_TRUE(policy->Check(std::string("spiffe://td/ops")).ok());
  EXPECT_TRUE(policy->Check(std::string("spiffe://td/relay/x")).ok());
  const Status wrong = policy->Check(std::string("spiffe://td/other"));
  EXPECT_EQ(wrong.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(wrong.message().rfind("peer_not_allowed: ", 0), 0u) << wrong.message();
  EXPECT_NE(wrong.message().find("\"spiffe://td/other\""), std::string::npos);
  EXPECT_NE(wrong.message().find("spiffe://td/relay/*, spiffe://td/ops"), std::string::npos);
  const Status none = policy->CheckCertificatePem(CertificateWith("DNS:x"));
  EXPECT_EQ(none.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(none.message().find("no SPIFFE ID"), std::string::npos) << none.message();
  EXPECT_TRUE(policy->CheckCertificatePem(CertificateWith("URI:spiffe://td/relay/a")).ok());
  auto bad = PeerIdentityPolicy::Parse({"spiffe://td/ok", "nope"}, "--flag");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("--flag: ", 0), 0u) << bad.status().message();
}

}  // namespace
}  // namespace omnirelay
