// Fuzz target: what the JWKS URL source (oidc_source.h) reads from text it
// does not control: a Cache-Control header (CacheControlMaxAgeMs) and an
// --oidc-jwks URL (JwksUrlSource's checks; no fetch is made). Whatever the
// input, each returns a value or an error status; a max-age is never below
// -1, and an accepted plain-http URL names a loopback host.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "omnirelay/controlplane/oidc_source.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (omnirelay::cp::CacheControlMaxAgeMs(text) < -1) std::abort();
  omnirelay::cp::JwksUrlOptions options;
  options.url = std::string(text);
  auto source = omnirelay::cp::JwksUrlSource(options);
  if (source.ok() && options.url.rfind("http://", 0) == 0) {
    // localhost, an IPv6 literal, or 127.x in digits and dots: never a
    // name that merely starts like a loopback address.
    const std::string rest = options.url.substr(7);
    std::string host = rest.substr(0, rest.find_first_of(":/"));
    for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool loopback =
        host == "localhost" || rest.front() == '[' ||
        (host.rfind("127.", 0) == 0 && host.find_first_not_of("0123456789.") == std::string::npos);
    if (!loopback) std::abort();
  }
  return 0;
}
