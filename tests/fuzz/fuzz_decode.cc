// Fuzz target: every decoding path of omni_config over arbitrary bytes.
// Whatever the input, decoding returns a value or diagnostics; it never
// crashes, hangs, or recurses without bound.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/merge.h"
#include "omnirelay/config/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace omnirelay;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  DecodeOptions options;
  options.max_bytes = 1 << 20;

  // The operator-facing path: kind detection, layer or snapshot decode, merge, validate.
  (void)ValidateDocuments({{"fuzz", std::string(text)}}, options);
  // The node-facing path.
  (void)DecodeAndValidateSnapshot(text, options);
  // A bare spec with the gated features on, and the input as a merge patch.
  (void)DecodeSpec(text, {"shadowing", "artefacts"}, options);
  (void)MergePatch(R"({"clusters":{"a":{"service":"s"}}})", text, options);
  return 0;
}
