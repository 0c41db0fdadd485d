// Request/Response helpers and target decoding: plain string work, no Boost.
#include <strings.h>

#include <charconv>

#include "message_internal.h"
#include "omnirelay/http/server.h"

namespace omnirelay::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool Request::has_param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return true;
  }
  return false;
}

std::string Request::get_param_value(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

bool Request::has_header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (SameName(k, name)) return true;
  }
  return false;
}

std::string Request::get_header_value(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (SameName(k, name)) return v;
  }
  return {};
}

void Response::set_header(std::string_view name, std::string_view value) {
  for (auto& [k, v] : headers) {
    if (SameName(k, name)) {
      v = std::string(value);
      return;
    }
  }
  headers.emplace_back(std::string(name), std::string(value));
}

void Response::set_content(std::string content, std::string_view content_type) {
  body = std::move(content);
  set_header("Content-Type", content_type);
}

void Response::set_stream(std::unique_ptr<BodyStream> body_stream, std::string_view content_type,
                          std::chrono::milliseconds interval) {
  stream = std::move(body_stream);
  stream_interval = interval;
  set_header("Content-Type", content_type);
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool ParseTarget(std::string_view target, Request& req) {
  const auto q = target.find('?');
  auto path = PercentDecode(target.substr(0, q), /*plus_is_space=*/false);
  if (!path || path->empty() || path->front() != '/') return false;
  req.path = std::move(*path);
  if (q == std::string_view::npos) return true;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto key = PercentDecode(part.substr(0, eq), true);
    auto value = PercentDecode(
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true);
    if (!key || !value) return false;
    req.params.emplace_back(std::move(*key), std::move(*value));
  }
  return true;
}

void DefaultErrorRenderer(int status, std::string_view code, std::string_view message,
                          Response& out) {
  out.status = status;
  std::string body =
      "{\"code\":\"" + JsonEscape(code) + "\",\"message\":\"" + JsonEscape(message) + "\"}\n";
  out.set_content(std::move(body), "application/json");
}

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[(c >> 4) & 0xf]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

Result<std::pair<std::string, int>> SplitHostPort(std::string_view listen) {
  const auto colon = listen.rfind(':');
  const auto bad = [&] {
    return Status(StatusCode::kInvalidArgument,
                  "listen address \"" + std::string(listen) + "\" is not host:port");
  };
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string host(listen.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view digits = listen.substr(colon + 1);
  int port = -1;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || port < 0 || port > 65535) {
    return bad();
  }
  return std::make_pair(std::move(host), port);
}

}  // namespace omnirelay::http
