// Fuzz target: VerifyEnvelope over arbitrary bytes. Whatever the input, it
// returns a payload or an error status; it never crashes, hangs or reads out
// of bounds. The trusted set holds one key derived from a fixed seed (and one
// revoked key), so the checked-in corpus holds envelopes that really verify
// and the fuzzer can reach the signature checks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "omnirelay/config/signing.h"

namespace {

// Ed25519 seeds: bytes 0x00..0x1f sign the corpus; 0x20..0x3f is a revoked key.
std::string FuzzSeed(unsigned char first) {
  std::string seed(32, '\0');
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<char>(first + i);
  return seed;
}

omnirelay::TrustedKeySet MakeTrustedKeys() {
  using omnirelay::SigningKey;
  omnirelay::TrustedKeySet keys;
  omnirelay::Result<SigningKey> good = SigningKey::FromSeed(FuzzSeed(0x00));
  omnirelay::Result<SigningKey> revoked = SigningKey::FromSeed(FuzzSeed(0x20));
  if (!good.ok() || !revoked.ok() || !keys.Add(good->public_key_raw()).ok() ||
      !keys.Add(revoked->public_key_raw()).ok() || !keys.Revoke(revoked->key_id()).ok()) {
    std::abort();  // the fixture itself is broken: fuzzing would be meaningless
  }
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const omnirelay::TrustedKeySet keys = MakeTrustedKeys();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  omnirelay::Result<omnirelay::VerifiedPayload> verified = omnirelay::VerifyEnvelope(
      text, keys, omnirelay::kSnapshotPayloadType, /*max_envelope_bytes=*/1 << 20);
  if (verified.ok() && verified->key_id.empty()) std::abort();  // a success names its key
  return 0;
}
