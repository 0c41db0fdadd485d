// Fuzz target: what the control plane's REST face does with request bodies
// and path values before anything reaches the store:
//   PUT  /v1/layers/{scope}  ParseScope(scope), then ParseLayer(body)
//                            (ControlPlaneService::PutLayer's first steps);
//   POST /v1/validate        ValidateDocuments({body});
//   GET  /v1/effective?chain=, /v1/nodes/{id}/snapshot?chain=  ParseScopeChain.
//   POST /v1/tokens          api::ParseCreateTokenRequest(body);
//   PUT  /v1/freeze          api::ParseSetFreezeRequest(body);
//   POST /v1/layers/{scope}/revert  api::ParseRevertRequest(body).
// Whatever the input, each returns a value or an error; none crashes, throws
// or hangs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "omnirelay/api/json.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/scope.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace omnirelay;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  DecodeOptions options;
  options.max_bytes = 1 << 20;

  Result<ParsedLayer> layer = ParseLayer(text, options);
  // A layer that parses names a scope the write path parses too.
  if (layer.ok()) (void)ParseScope(layer->metadata.scope);
  (void)ValidateDocuments({{"request", std::string(text)}}, options);
  (void)ParseScope(text);
  (void)ParseScopeChain(text);
  (void)api::ParseCreateTokenRequest(text);
  (void)api::ParseSetFreezeRequest(text);
  (void)api::ParseRevertRequest(text);
  return 0;
}
