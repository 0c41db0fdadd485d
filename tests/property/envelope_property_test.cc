// Properties of signed envelopes: an envelope verifies to its exact payload,
// and no single-byte change anywhere in its text is accepted.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

#include "omnirelay/config/signing.h"

namespace omnirelay {
namespace {

constexpr std::size_t kMaxPayloadBytes = 2048;
constexpr int kMutationCases = 30;
constexpr std::string_view kBase64Chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

const SigningKey& Key() {
  static const SigningKey key = std::move(SigningKey::FromSeed(std::string(32, '\x42'))).value();
  return key;
}

const TrustedKeySet& Keys() {
  static const TrustedKeySet keys = [] {
    TrustedKeySet set;
    (void)set.Add(Key().public_key_raw());
    return set;
  }();
  return keys;
}

// Replacement bytes for one position: two arbitrary bytes and one from the
// base64 alphabet (so many changes reach signature verification instead of
// failing in the parser), each different from the original.
std::array<char, 3> Replacements(char original, std::mt19937_64& rng) {
  std::array<char, 3> out{};
  for (std::size_t k = 0; k < out.size(); ++k) {
    char c;
    do {
      c = k == 2 ? kBase64Chars[rng() % kBase64Chars.size()] : static_cast<char>(rng());
    } while (c == original);
    out[k] = c;
  }
  return out;
}

// A signed envelope over any payload verifies and returns exactly that payload.
RC_GTEST_PROP(EnvelopeProperty, SignedEnvelopeVerifiesToExactPayload, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(0, kMaxPayloadBytes + 1);
  const auto payload = *rc::gen::container<std::string>(size, rc::gen::arbitrary<char>());
  Result<std::string> env = SignEnvelope(Key(), kSnapshotPayloadType, payload);
  RC_ASSERT(env.ok());
  Result<VerifiedPayload> verified = VerifyEnvelope(*env, Keys(), kSnapshotPayloadType);
  RC_ASSERT(verified.ok());
  RC_ASSERT(verified->payload == payload);
  RC_ASSERT(verified->key_id == Key().key_id());
}

// Runs a property like RC_GTEST_PROP does, but for at most `max_cases` cases
// (RC_PARAMS can lower it further; its seed and other settings apply).
template <typename Testable>
void CheckAtMost(int max_cases, Testable&& testable) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.maxSuccess = std::min(params.maxSuccess, max_cases);
  const auto result = rc::detail::checkTestable(std::forward<Testable>(testable), metadata, params);
  if (!result.template is<rc::detail::SuccessResult>()) {
    std::ostringstream message;
    rc::detail::printResultMessage(result, message);
    FAIL() << message.str();
  }
}

// Every single-byte change of a signed envelope's text, at every position, is
// rejected. A case costs ~1500 Ed25519 verifications (~0.1 ms each), so this
// property runs 30 cases rather than RC_GTEST_PROP's 100, to stay in a few seconds.
void EverySingleByteChangeIsRejected() {
  const auto size = *rc::gen::inRange<std::size_t>(0, kMaxPayloadBytes + 1);
  const auto payload = *rc::gen::container<std::string>(size, rc::gen::arbitrary<char>());
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  Result<std::string> env = SignEnvelope(Key(), kSnapshotPayloadType, payload);
  RC_ASSERT(env.ok());
  Result<VerifiedPayload> original = VerifyEnvelope(*env, Keys(), kSnapshotPayloadType);
  RC_ASSERT(original.ok());
  RC_ASSERT(original->payload == payload);

  std::mt19937_64 rng(seed);
  std::string mutated = *env;
  for (std::size_t pos = 0; pos < mutated.size(); ++pos) {
    const char before = mutated[pos];
    for (char replacement : Replacements(before, rng)) {
      mutated[pos] = replacement;
      if (VerifyEnvelope(mutated, Keys(), kSnapshotPayloadType).ok()) {
        RC_FAIL("changing byte " + std::to_string(pos) + " to " +
                std::to_string(static_cast<unsigned char>(replacement)) + " was accepted");
      }
    }
    mutated[pos] = before;
  }
}

TEST(EnvelopeProperty, EverySingleByteChangeIsRejected) {
  CheckAtMost(kMutationCases, &EverySingleByteChangeIsRejected);
}

}  // namespace
}  // namespace omnirelay
