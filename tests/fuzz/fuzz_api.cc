// Fuzz target: the API vocabulary's parsers over arbitrary bytes — the
// duration grammar, RFC 3339 times, code names, and the JSON codec's
// readers. Whatever the input, each returns a value or an error; what a
// reader accepts prints back and reads again to the same JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "omnirelay/api/duration.h"
#include "omnirelay/api/json.h"
#include "omnirelay/api/status_mapping.h"
#include "omnirelay/config/rfc3339.h"

namespace {

template <typename T>
void ReadBack(const nlohmann::json& j) {
  T value;
  if (!omnirelay::api::FromJson(j, &value).ok()) return;
  const nlohmann::json printed = omnirelay::api::ToJson(value);
  T again;
  if (!omnirelay::api::FromJson(printed, &again).ok() || omnirelay::api::ToJson(again) != printed) {
    std::abort();  // the codec does not read what it writes
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace omnirelay;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)api::ParseDurationMs(text);
  (void)ParseRfc3339(text);
  (void)ParseStatusCodeName(text);
  (void)ParseDiagCodeName(text);
  (void)api::StatusCodeForGrpc(api::GrpcCode::kInvalidArgument, text);

  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  ReadBack<api::LayerSummary>(j);
  ReadBack<api::Layer>(j);
  ReadBack<api::Revision>(j);
  ReadBack<api::WriteResult>(j);
  ReadBack<api::Node>(j);
  ReadBack<api::StatusSummary>(j);
  ReadBack<api::AuditEntry>(j);
  ReadBack<api::IssuedToken>(j);
  ReadBack<api::EffectiveView>(j);
  ReadBack<api::LayerContext>(j);
  ReadBack<api::FreezeState>(j);
  return 0;
}
