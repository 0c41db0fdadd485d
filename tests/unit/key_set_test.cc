// Key sets (omnirelay/config/key_set.h): the TUF-style chain of whom nodes
// trust, each rule refused on its own.
#include "omnirelay/config/key_set.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "omnirelay/config/digest.h"

namespace omnirelay {
namespace {

SigningKey Key(char fill) {
  return std::move(SigningKey::FromSeed(std::string(32, fill))).value();
}

TrustedKeySet SetOf(std::initializer_list<const SigningKey*> keys) {
  TrustedKeySet set;
  for (const SigningKey* k : keys) EXPECT_TRUE(set.Add(k->public_key_raw()).ok());
  return set;
}

class KeySetTest : public ::testing::Test {
 protected:
  SigningKey root_a = Key('a'), root_b = Key('b'), root_c = Key('c');
  SigningKey online_1 = Key('1'), online_2 = Key('2'), online_3 = Key('3'), online_4 = Key('4');

  KeySet Make(std::int64_t version, std::initializer_list<const SigningKey*> roots, int threshold,
              std::initializer_list<const SigningKey*> online) {
    KeySet set;
    set.version = version;
    set.created_at = "2026-12-06T18:00:00Z";
    set.threshold = threshold;
    set.root_keys = SetOf(roots);
    set.online_keys = SetOf(online);
    return set;
  }
  std::string Sign(const KeySet& set, std::vector<const SigningKey*> by) {
    Result<std::string> env = SignKeySet(set, by);
    EXPECT_TRUE(env.ok()) << env.status().message();
    return env.ok() ? *env : std::string();
  }
  KeySet V1() { return Make(1, {&root_a}, 1, {&online_1}); }
};

TEST_F(KeySetTest, PayloadRoundTripsCanonically) {
  KeySet set = Make(3, {&root_a, &root_b}, 2, {&online_1, &online_2});
  ASSERT_TRUE(set.online_keys.Revoke(online_1.key_id()).ok());
  const std::string payload = KeySetPayload(set);
  Result<KeySet> back = ParseKeySetPayload(payload);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->version, 3);
  EXPECT_EQ(back->threshold, 2);
  EXPECT_EQ(back->root_keys.keys().size(), 2u);
  ASSERT_NE(back->online_keys.Find(online_1.key_id()), nullptr);
  EXPECT_TRUE(back->online_keys.Find(online_1.key_id())->revoked);
  EXPECT_EQ(KeySetPayload(*back), payload);
}

TEST_F(KeySetTest, PayloadRefusalsNameTheField) {
  const std::string good = KeySetPayload(V1());
  struct Case {
    std::string from, to, path;
  };
  const std::vector<Case> cases = {
      {"\"version\":1", "\"version\":0", "/version"},
      {"\"version\":1", "\"version\":\"1\"", "/version"},
      {"\"threshold\":1", "\"threshold\":2", "/threshold"},
      {"\"threshold\":1", "\"threshold\":0", "/threshold"},
      {"\"kind\":\"KeySet\"", "\"kind\":\"Other\"", "/kind"},
      {"\"createdAt\":\"2026-12-06T18:00:00Z\"", "\"createdAt\":\"yesterday\"", "/createdAt"},
      {"\"threshold\":1,", "\"threshold\":1,\"extra\":1,", "/extra"},
      {"\"apiVersion\":\"omnirelay.keys/v1\",", "", "/apiVersion"},
  };
  for (const Case& c : cases) {
    std::string text = good;
    const auto at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    Result<KeySet> parsed = ParseKeySetPayload(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalid);
    ASSERT_FALSE(parsed.status().diagnostics().empty());
    EXPECT_EQ(parsed.status().diagnostics()[0].path, c.path) << parsed.status().message();
  }
}

TEST_F(KeySetTest, OneKeyCannotHoldBothRoles) {
  Result<KeySet> parsed = ParseKeySetPayload(KeySetPayload(Make(1, {&root_a}, 1, {&root_a})));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().diagnostics()[0].path, "/rootKeys/0/keyId");
}

TEST_F(KeySetTest, SelfSignedFirstSetIsAccepted) {
  Result<SignedKeySet> v1 = VerifyKeySetSelf(Sign(V1(), {&root_a}));
  ASSERT_TRUE(v1.ok()) << v1.status().message();
  EXPECT_EQ(v1->set.version, 1);
  EXPECT_NE(v1->set.online_keys.Find(online_1.key_id()), nullptr);
}

TEST_F(KeySetTest, FirstSetSignedByAnotherKeyIsRefused) {
  Result<SignedKeySet> v1 = VerifyKeySetSelf(Sign(V1(), {&root_b}));
  ASSERT_FALSE(v1.ok());
  EXPECT_EQ(v1.status().code(), StatusCode::kUnknownKey) << v1.status().message();
}

TEST_F(KeySetTest, RotationChainIsAccepted) {
  const KeySet v1 = V1();
  KeySet v2 = Make(2, {&root_a}, 1, {&online_1, &online_2});
  KeySet v3 = Make(3, {&root_a}, 1, {&online_1, &online_2});
  ASSERT_TRUE(v3.online_keys.Revoke(online_1.key_id()).ok());
  Result<SignedKeySet> at = VerifyNextKeySet(v1, Sign(v2, {&root_a}));
  ASSERT_TRUE(at.ok()) << at.status().message();
  at = VerifyNextKeySet(at->set, Sign(v3, {&root_a}));
  ASSERT_TRUE(at.ok()) << at.status().message();
  // Rule 5: after v3 the old online key is refused at once.
  Result<std::string> snapshot = SignEnvelope(online_1, kSnapshotPayloadType, "{}");
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(VerifyEnvelope(*snapshot, at->set.online_keys, kSnapshotPayloadType).status().code(),
            StatusCode::kRevokedKey);
  snapshot = SignEnvelope(online_2, kSnapshotPayloadType, "{}");
  EXPECT_TRUE(VerifyEnvelope(*snapshot, at->set.online_keys, kSnapshotPayloadType).ok());
}

TEST_F(KeySetTest, SkippedAndReplayedVersionsAreRefused) {
  const KeySet v2 = Make(2, {&root_a}, 1, {&online_2});
  Result<SignedKeySet> skip =
      VerifyNextKeySet(V1(), Sign(Make(3, {&root_a}, 1, {&online_3}), {&root_a}));
  ASSERT_FALSE(skip.ok());
  EXPECT_EQ(skip.status().code(), StatusCode::kConflict) << skip.status().message();
  EXPECT_NE(skip.status().message().find("versions 2..2"), std::string::npos);
  Result<SignedKeySet> replay = VerifyNextKeySet(v2, Sign(V1(), {&root_a}));
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), StatusCode::kRollback);
  Result<SignedKeySet> same = VerifyNextKeySet(v2, Sign(v2, {&root_a}));
  EXPECT_EQ(same.status().code(), StatusCode::kRollback);
}

TEST_F(KeySetTest, WrongSignerIsRefused) {
  const KeySet v2 = Make(2, {&root_a}, 1, {&online_2});
  Result<SignedKeySet> next = VerifyNextKeySet(V1(), Sign(v2, {&root_b}));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), StatusCode::kUnknownKey) << next.status().message();
}

TEST_F(KeySetTest, LeakedOnlineKeyCannotPublishAKeySet) {
  // The attacker holds online_1 and names it (or a key of theirs) a root.
  const KeySet forged = Make(2, {&online_4}, 1, {&online_4});
  Result<SignedKeySet> next =
      VerifyNextKeySet(V1(), Sign(Make(2, {&root_c}, 1, {&online_4}), {&online_1, &root_c}));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), StatusCode::kUnknownKey) << next.status().message();
  // Signed by the leaked online key alone: no trusted root signed.
  Result<SignedKeySet> alone =
      VerifyNextKeySet(V1(), Sign(Make(2, {&root_c}, 1, {&online_4}), {&online_1}));
  EXPECT_EQ(alone.status().code(), StatusCode::kUnknownKey) << alone.status().message();
  // A set naming the leaked key a root as well is refused before any signature.
  EXPECT_EQ(VerifyNextKeySet(V1(), Sign(forged, {&online_1, &online_4})).status().code(),
            StatusCode::kInvalid);
}

TEST_F(KeySetTest, BelowThresholdIsRefusedAndAtThresholdAccepted) {
  const KeySet v1 = Make(1, {&root_a, &root_b, &root_c}, 2, {&online_1});
  const KeySet v2 = Make(2, {&root_a, &root_b, &root_c}, 2, {&online_2});
  Result<SignedKeySet> one = VerifyNextKeySet(v1, Sign(v2, {&root_a}));
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.status().message().find("signed by 1 of the 3 root keys"), std::string::npos)
      << one.status().message();
  // The same key twice counts once.
  EXPECT_FALSE(VerifyNextKeySet(v1, Sign(v2, {&root_a, &root_a})).ok());
  EXPECT_TRUE(VerifyNextKeySet(v1, Sign(v2, {&root_a, &root_c})).ok());
  EXPECT_FALSE(VerifyKeySetSelf(Sign(v1, {&root_b})).ok());
  EXPECT_TRUE(VerifyKeySetSelf(Sign(v1, {&root_b, &root_c})).ok());
}

TEST_F(KeySetTest, BadSignatureFromAListedRootIsNamed) {
  const KeySet v2 = Make(2, {&root_a}, 1, {&online_2});
  std::string env = Sign(v2, {&root_a});
  // Flip one character of the base64 signature.
  const auto sig = env.find("\"sig\":\"") + 7;
  env[sig] = env[sig] == 'A' ? 'B' : 'A';
  Result<SignedKeySet> next = VerifyNextKeySet(V1(), env);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), StatusCode::kBadSignature) << next.status().message();
}

TEST_F(KeySetTest, RootRotationNeedsOldAndNewRoots) {
  // v2 hands trust from root_a to root_b: both must sign.
  const KeySet v2 = Make(2, {&root_b}, 1, {&online_1});
  EXPECT_FALSE(VerifyNextKeySet(V1(), Sign(v2, {&root_a})).ok());
  EXPECT_FALSE(VerifyNextKeySet(V1(), Sign(v2, {&root_b})).ok());
  Result<SignedKeySet> ok = VerifyNextKeySet(V1(), Sign(v2, {&root_a, &root_b}));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  // From then on root_a alone is nobody.
  const KeySet v3 = Make(3, {&root_b}, 1, {&online_2});
  EXPECT_FALSE(VerifyNextKeySet(ok->set, Sign(v3, {&root_a})).ok());
  EXPECT_TRUE(VerifyNextKeySet(ok->set, Sign(v3, {&root_b})).ok());
}

TEST_F(KeySetTest, RevocationIsForGood) {
  KeySet v2 = Make(2, {&root_a}, 1, {&online_1, &online_2});
  ASSERT_TRUE(v2.online_keys.Revoke(online_1.key_id()).ok());
  const KeySet unrevoked = Make(3, {&root_a}, 1, {&online_1, &online_2});
  const KeySet dropped = Make(3, {&root_a}, 1, {&online_2});
  Result<SignedKeySet> a = VerifyNextKeySet(v2, Sign(unrevoked, {&root_a}));
  EXPECT_EQ(a.status().code(), StatusCode::kRevokedKey);
  EXPECT_NE(a.status().message().find("un-revokes"), std::string::npos);
  Result<SignedKeySet> b = VerifyNextKeySet(v2, Sign(dropped, {&root_a}));
  EXPECT_EQ(b.status().code(), StatusCode::kRevokedKey);
  EXPECT_NE(b.status().message().find("drops"), std::string::npos);
}

TEST_F(KeySetTest, NodeThatMissedThreeRotationsCatchesUp) {
  Result<SignedKeySet> v1 = VerifyKeySetSelf(Sign(V1(), {&root_a}));
  ASSERT_TRUE(v1.ok());
  std::vector<std::string> chain;
  const SigningKey* online[] = {&online_1, &online_2, &online_3, &online_4};
  for (int v = 2; v <= 4; ++v) {
    KeySet set = Make(v, {&root_a}, 1, {});
    for (int k = 0; k < v; ++k) ASSERT_TRUE(set.online_keys.Add(online[k]->public_key_raw()).ok());
    for (int k = 0; k < v - 1; ++k) ASSERT_TRUE(set.online_keys.Revoke(online[k]->key_id()).ok());
    chain.push_back(Sign(set, {&root_a}));
  }
  Result<SignedKeySet> caught_up = VerifyKeySetChain(*v1, chain);
  ASSERT_TRUE(caught_up.ok()) << caught_up.status().message();
  EXPECT_EQ(caught_up->set.version, 4);
  EXPECT_EQ(caught_up->envelope, chain.back());
  // Jumping straight to the last is refused, and a chain with a hole stops there.
  EXPECT_EQ(VerifyNextKeySet(v1->set, chain.back()).status().code(), StatusCode::kConflict);
  EXPECT_FALSE(VerifyKeySetChain(*v1, {chain[0], chain[2]}).ok());
}

TEST_F(KeySetTest, LooksLikeKeySetEnvelope) {
  EXPECT_TRUE(LooksLikeKeySetEnvelope(Sign(V1(), {&root_a})));
  EXPECT_FALSE(LooksLikeKeySetEnvelope(SetOf({&online_1}).ToJson()));
}

TEST_F(KeySetTest, SnapshotEnvelopeIsNotAKeySet) {
  Result<std::string> snapshot = SignEnvelope(root_a, kSnapshotPayloadType, KeySetPayload(V1()));
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(VerifyKeySetSelf(*snapshot).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace omnirelay
