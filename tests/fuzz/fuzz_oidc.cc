// Fuzz target: the OIDC parsers (oidc.h) over arbitrary bytes: JwkSet::Parse,
// and VerifyIdToken against a set holding one Ed25519 key (RFC 8037 A.2's,
// kid "fuzz") and the policy below. Whatever the input, each returns a value
// or an error status; it never crashes, hangs or reads out of bounds. The
// checked-in corpus holds tokens that really verify with that key (signed
// with RFC 8037's private key), so the fuzzer reaches the claim checks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "omnirelay/controlplane/oidc.h"

namespace {

constexpr std::string_view kJwks = R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"fuzz",)"
                                   R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";

std::shared_ptr<const omnirelay::cp::JwkSet> MakeKeys() {
  auto keys = omnirelay::cp::JwkSet::Parse(kJwks);
  if (!keys.ok()) std::abort();  // the fixture itself is broken
  return *keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::shared_ptr<const omnirelay::cp::JwkSet> keys = MakeKeys();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)omnirelay::cp::JwkSet::Parse(text);
  omnirelay::cp::IdTokenPolicy policy;
  policy.issuer = "https://idp.fuzz";
  policy.audience = "omnirelay";
  (void)omnirelay::cp::VerifyIdToken(text, *keys, policy, 1'800'000'000'000);
  return 0;
}
