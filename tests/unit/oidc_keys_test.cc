// IdTokenVerifier's fetch policy (oidc.h) over a fake JwksSource and a
// FakeClock: no keys at start, a fetch in flight that logins do not wait
// for, the rate limit on unknown kids, the retry pace after failures.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "eventually.h"
#include "jwt_signer.h"
#include "omnirelay/controlplane/oidc.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;
using omnirelay::testing::JwksOf;
using omnirelay::testing::JwtSigner;

constexpr std::int64_t kNowS = 1'800'000'000;

const JwtSigner& Key(int n) {
  static const JwtSigner one("EdDSA", "k1"), two("EdDSA", "k2");
  return n == 1 ? one : two;
}

std::string Token(int key) {
  return Key(key).Sign({{"iss", "https://idp"},
                        {"aud", "omnirelay"},
                        {"sub", "alice"},
                        {"iat", kNowS},
                        {"exp", kNowS + 600}});
}

// A provider whose answer the test sets; a fetch may be held at a gate.
class FakeSource final : public JwksSource {
 public:
  Result<JwksDocument> Fetch() override {
    std::shared_future<void> gate;
    Result<JwksDocument> answer = Status(StatusCode::kUnavailable, "down");
    {
      MutexLock lock(mu_);
      ++fetches_;
      gate = gate_;
      if (!text_.empty()) answer = JwksDocument{text_, 60'000};
    }
    if (gate.valid()) {
      entered_.set_value();
      gate.wait();
    }
    return answer;
  }
  const std::string& where() const override { return where_; }

  void Serve(std::string text) {
    MutexLock lock(mu_);
    text_ = std::move(text);
  }
  // The next fetch waits at the gate until Release; the returned future is
  // ready once it is there.
  std::future<void> Hold() {
    MutexLock lock(mu_);
    entered_ = std::promise<void>();
    release_ = std::promise<void>();
    gate_ = release_.get_future().share();
    return entered_.get_future();
  }
  void Release() {
    {
      MutexLock lock(mu_);
      gate_ = {};
    }
    release_.set_value();
  }
  int fetches() {
    MutexLock lock(mu_);
    return fetches_;
  }

 private:
  const std::string where_ = "fake";
  Mutex mu_;
  std::string text_ GUARDED_BY(mu_);
  int fetches_ GUARDED_BY(mu_) = 0;
  std::shared_future<void> gate_ GUARDED_BY(mu_);
  std::promise<void> entered_, release_;  // set up by Hold before the fetch
};

class OidcKeysTest : public ::testing::Test {
 protected:
  std::unique_ptr<IdTokenVerifier> Make(OidcOptions o = {}) {
    o.policy.issuer = "https://idp";
    o.policy.audience = "omnirelay";
    o.keys_required_at_start = false;
    auto owned = std::make_unique<FakeSource>();
    source_ = owned.get();
    if (!serve_.empty()) source_->Serve(serve_);
    auto v = IdTokenVerifier::Create(std::move(o), std::move(owned), clock_);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return std::move(v).value();
  }

  std::string serve_;
  FakeSource* source_ = nullptr;
  FakeClock clock_{kNowS * 1000};
};

// Without a set ID tokens are kUnavailable (not a refusal of the token);
// once the provider answers, at the retry pace, they verify.
TEST_F(OidcKeysTest, NoSetYetIsUnavailableUntilAFetchBringsOne) {
  OidcOptions o;
  o.retry_first_ms = 1'000;
  o.retry_max_ms = 8'000;
  auto v = Make(o);
  auto r = v->Verify(Token(1));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "unavailable: no key set from fake yet (last fetch: down)");
  EXPECT_EQ(source_->fetches(), 1) << "not due again before the retry time";
  source_->Serve(JwksOf({&Key(1)}));
  clock_.AdvanceMs(1'000);
  EXPECT_TRUE(v->Verify(Token(1)).ok());
  EXPECT_EQ(source_->fetches(), 2);
}

// Failures in a row wait twice as long each time, up to retry_max_ms.
TEST_F(OidcKeysTest, RetriesBackOff) {
  OidcOptions o;
  o.retry_first_ms = 1'000;
  o.retry_max_ms = 4'000;
  auto v = Make(o);  // failure 1: next after 1 s
  for (std::int64_t wait : {1'000, 2'000, 4'000, 4'000}) {
    const int before = source_->fetches();
    clock_.AdvanceMs(wait - 1);
    (void)v->Verify(Token(1));
    EXPECT_EQ(source_->fetches(), before) << "early by 1 ms, wait " << wait;
    clock_.AdvanceMs(1);
    (void)v->Verify(Token(1));
    EXPECT_EQ(source_->fetches(), before + 1) << "due, wait " << wait;
  }
}

// While a forced fetch is in flight, logins with a known kid go on with
// the set in force; the login that forced it gets the new set.
TEST_F(OidcKeysTest, LoginsDoNotWaitForAFetchInFlight) {
  serve_ = JwksOf({&Key(1)});
  auto v = Make();
  source_->Serve(JwksOf({&Key(1), &Key(2)}));  // the provider adds k2
  std::future<void> held = source_->Hold();
  auto rotated = std::async(std::launch::async, [&] { return v->Verify(Token(2)); });
  held.wait();  // the forced fetch is in flight now
  EXPECT_TRUE(v->Verify(Token(1)).ok()) << "not held up by the fetch";
  source_->Release();
  auto r = rotated.get();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(source_->fetches(), 2);
}

// Unknown kids force at most one fetch per forced_fetch_every_ms.
TEST_F(OidcKeysTest, UnknownKidFetchesAreRateLimited) {
  serve_ = JwksOf({&Key(1)});
  OidcOptions o;
  o.forced_fetch_every_ms = 5'000;
  auto v = Make(o);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(v->Verify(Token(2)).ok());
  EXPECT_EQ(source_->fetches(), 2);
  clock_.AdvanceMs(4'999);
  EXPECT_FALSE(v->Verify(Token(2)).ok());
  EXPECT_EQ(source_->fetches(), 2);
  clock_.AdvanceMs(1);
  source_->Serve(JwksOf({&Key(1), &Key(2)}));
  EXPECT_TRUE(v->Verify(Token(2)).ok());
  EXPECT_EQ(source_->fetches(), 3);
}

// With background_refresh a thread of the verifier fetches when the set is
// due (fresh_for_ms after the last fetch); logins meanwhile use the set in
// force and never fetch for it.
TEST_F(OidcKeysTest, BackgroundRefreshFetchesWhenDue) {
  serve_ = JwksOf({&Key(1)});
  OidcOptions o;
  o.background_refresh = true;
  auto v = Make(o);
  EXPECT_EQ(source_->fetches(), 1);
  clock_.AdvanceMs(59'999);
  EXPECT_TRUE(v->Verify(Token(1)).ok());
  EXPECT_EQ(source_->fetches(), 1);
  source_->Serve(JwksOf({&Key(2)}));
  clock_.AdvanceMs(1);
  EXPECT_TRUE(test_support::Eventually([&] { return source_->fetches() == 2; }));
  EXPECT_TRUE(test_support::Eventually([&] { return v->Verify(Token(2)).ok(); }));
  EXPECT_EQ(source_->fetches(), 2);
}

}  // namespace
}  // namespace omnirelay::cp
