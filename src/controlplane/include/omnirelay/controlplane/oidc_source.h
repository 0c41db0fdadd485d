// The OIDC JWKS fetched from a URL (security.md, "Operator identity
// (OIDC)"): the JwksSource (oidc.h) behind `--oidc-jwks https://...`.
//
//  1. https:// to any host, verified against `ca_file` (PEM) or, without
//     one, the system trust store; http:// only to a loopback host
//     (localhost, 127.0.0.0/8, ::1), refused otherwise (kInvalidArgument).
//  2. One GET, no redirects followed, no compression asked for; anything
//     but 200, a body over kMaxJwksBytes, a connect or a read over
//     `timeout_ms`, or a body not received within it is a failed fetch
//     (kUnavailable, the message says which).
//  3. Freshness: the response's Cache-Control max-age, clamped into
//     [min_fresh_ms, max_fresh_ms]; min_fresh_ms without one (and for
//     no-cache or no-store).
//
// Thread safety: Fetch is called by one thread at a time (IdTokenVerifier
// does so); the other functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/oidc.h"

namespace omnirelay::cp {

struct JwksUrlOptions {
  std::string url;      // https://host[:port]/path (http:// for a loopback host)
  std::string ca_file;  // PEM CA bundle; empty: the system trust store
  std::int64_t timeout_ms = 5'000;
  std::int64_t min_fresh_ms = 60'000;      // 1 min
  std::int64_t max_fresh_ms = 86'400'000;  // 24 h
};

// True when `location` names a URL (http:// or https://) rather than a file.
bool IsJwksUrl(std::string_view location);

// The source; kInvalidArgument for a URL rule 1 refuses, a CA file that
// cannot be read, or bounds that do not make sense.
Result<std::unique_ptr<JwksSource>> JwksUrlSource(JwksUrlOptions options);

// A Cache-Control header's max-age in milliseconds: 0 for no-cache or
// no-store, -1 when it says nothing of freshness or cannot be read.
std::int64_t CacheControlMaxAgeMs(std::string_view header);

}  // namespace omnirelay::cp
