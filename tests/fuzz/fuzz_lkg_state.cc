// Fuzz target: the relay's last-known-good state file parser
// (LkgStore::ParseState, what a node reads at start from <lkg>.state).
// Whatever the input, it returns a state or kInvalid; it never crashes or
// hangs. A state it accepts survives FormatState -> ParseState unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lkg_store.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using omnirelay::relay::LkgStore;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  omnirelay::Result<omnirelay::relay::LkgState> state = LkgStore::ParseState(text);
  if (!state.ok()) {
    if (state.status().code() != omnirelay::StatusCode::kInvalid) std::abort();
    return 0;
  }
  auto again = LkgStore::ParseState(LkgStore::FormatState(*state));
  if (!again.ok() || again->highest_version != state->highest_version ||
      again->hash != state->hash) {
    std::abort();  // the file form is lossy
  }
  return 0;
}
