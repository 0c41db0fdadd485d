#include "omnirelay/api/duration.h"

#include <charconv>
#include <limits>
#include <string>

namespace omnirelay::api {

Result<std::int64_t> ParseDurationMs(std::string_view text) {
  const Status bad(
      StatusCode::kInvalidArgument,
      "\"" + std::string(text) + "\" is not a duration like 500ms, 30s, 15m, 2h or 7d");
  std::int64_t n = 0;
  const char* const end = text.data() + text.size();
  auto [unit_begin, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || unit_begin == text.data() || text.front() == '-') return bad;
  const std::string_view unit(unit_begin, static_cast<std::size_t>(end - unit_begin));
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else if (unit == "d") {
    scale = 86'400'000;
  } else {
    return bad;
  }
  if (n > std::numeric_limits<std::int64_t>::max() / scale) return bad;
  return n * scale;
}

}  // namespace omnirelay::api
