// Internal to omni_http: target decoding and the default error body.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "omnirelay/http/server.h"

namespace omnirelay::http {

// %XX sequences decoded ('+' as a space in query strings); nullopt when a
// sequence is malformed.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);
// Fills req.path and req.params from a request target; false when it is not
// an origin-form target ("/path?query") or cannot be decoded.
bool ParseTarget(std::string_view target, Request& req);
// {"code": ..., "message": ...}
void DefaultErrorRenderer(int status, std::string_view code, std::string_view message,
                          Response& out);
std::string JsonEscape(std::string_view text);

}  // namespace omnirelay::http
