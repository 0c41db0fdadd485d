// Fuzz target: key-set documents (omnirelay/config/key_set.h). The input is
// either a payload (ParseKeySetPayload) or an envelope offered as the
// successor of a fixed trusted version 1 (VerifyNextKeySet) and as a set
// given by configuration (VerifyKeySetSelf). Whatever the input: a result or
// an error, never a crash or a hang; a payload it accepts survives a round
// trip through its canonical form; an accepted successor is version 2.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "omnirelay/config/key_set.h"

namespace {

// The trusted version 1: root key seeded with 'a' bytes, one online key
// seeded with '1' bytes (the corpus's version 2 envelope is signed by that root).
const omnirelay::KeySet& TrustedV1() {
  static const omnirelay::KeySet set = [] {
    omnirelay::KeySet s;
    s.version = 1;
    s.created_at = "2026-12-06T18:00:00Z";
    auto root = omnirelay::SigningKey::FromSeed(std::string(32, 'a'));
    auto online = omnirelay::SigningKey::FromSeed(std::string(32, '1'));
    if (!root.ok() || !online.ok()) std::abort();
    (void)s.root_keys.Add(root->public_key_raw());
    (void)s.online_keys.Add(online->public_key_raw());
    return s;
  }();
  return set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  omnirelay::Result<omnirelay::KeySet> parsed = omnirelay::ParseKeySetPayload(text);
  if (parsed.ok()) {
    const std::string canonical = omnirelay::KeySetPayload(*parsed);
    omnirelay::Result<omnirelay::KeySet> again = omnirelay::ParseKeySetPayload(canonical);
    if (!again.ok() || omnirelay::KeySetPayload(*again) != canonical) std::abort();
  }
  omnirelay::Result<omnirelay::SignedKeySet> next = omnirelay::VerifyNextKeySet(TrustedV1(), text);
  if (next.ok() && next->set.version != 2) std::abort();
  (void)omnirelay::VerifyKeySetSelf(text);
  return 0;
}
