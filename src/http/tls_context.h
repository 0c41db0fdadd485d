// Internal to omni_http: an OpenSSL server context from PEM material.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "omnirelay/config/status.h"
#include "omnirelay/http/server.h"

namespace omnirelay::http {

// TLS 1.2+ with the certificate chain and key of `tls`; with a client CA,
// client certificates are required and verified against it. kInvalidArgument
// when the material is unusable (names what is wrong).
Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsContext(const TlsConfig& tls);

}  // namespace omnirelay::http
