// Fuzz target: the trusted-keys.json parser (TrustedKeySet::FromJson, what
// TrustedKeySet::Load runs on the file's bytes). Whatever the input, it
// returns a key set or an error; it never crashes or hangs. A set it accepts
// survives a round trip through its own file form unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "omnirelay/config/signing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using omnirelay::TrustedKeySet;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  omnirelay::Result<TrustedKeySet> set = TrustedKeySet::FromJson(text);
  if (!set.ok()) return 0;
  omnirelay::Result<TrustedKeySet> again = TrustedKeySet::FromJson(set->ToJson());
  if (!again.ok() || again->ToJson() != set->ToJson()) std::abort();  // the file form is lossy
  return 0;
}
