#include "omnirelay/config/rfc3339.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace omnirelay {

Result<std::int64_t> ParseRfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z (UTC only: snapshots are machine-written).
  // Second 60 is refused: unix time, which the model stores, has no leap seconds.
  auto digits = [&](std::size_t pos, std::size_t n, int* out) {
    if (pos + n > text.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  int year, month, day, hour, minute, second;
  const bool shape = text.size() >= 20 && digits(0, 4, &year) && text[4] == '-' &&
                     digits(5, 2, &month) && text[7] == '-' && digits(8, 2, &day) &&
                     (text[10] == 'T' || text[10] == 't') && digits(11, 2, &hour) &&
                     text[13] == ':' && digits(14, 2, &minute) && text[16] == ':' &&
                     digits(17, 2, &second);
  std::size_t pos = 19;
  if (shape && pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) pos = text.size() + 1;  // "." with no digits
  }
  if (!shape || pos + 1 != text.size() || (text[pos] != 'Z' && text[pos] != 'z') || month < 1 ||
      month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return Status(
        StatusCode::kInvalidArgument,
        "\"" + std::string(text) + "\" is not an RFC 3339 UTC time like 2026-01-31T12:00:00Z");
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::int64_t t = timegm(&tm);
  if (tm.tm_mday != day) {  // timegm normalised an impossible date such as Feb 30
    return Status(StatusCode::kInvalidArgument, "\"" + std::string(text) + "\" is not a real date");
  }
  return t;
}

std::string FormatRfc3339(std::int64_t unix_seconds) {
  // RFC 3339 has four-digit years: clamp to 0000-01-01 .. 9999-12-31T23:59:59.
  constexpr std::int64_t kMin = -62167219200, kMax = 253402300799;
  const std::time_t t = static_cast<std::time_t>(std::clamp(unix_seconds, kMin, kMax));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string FormatRfc3339Ms(std::int64_t unix_ms) {
  // Floor division, so that -1 ms is the second before the epoch.
  const std::int64_t seconds = unix_ms / 1000 - (unix_ms % 1000 < 0 ? 1 : 0);
  return FormatRfc3339(seconds);
}

}  // namespace omnirelay
