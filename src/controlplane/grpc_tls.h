// Server credentials of the gRPC face over a TlsState (tls.h):
//  1. Each new connection's handshake uses the TLS material in force then
//     (gRPC's certificate-config fetcher asks at every handshake; the answer
//     is "unchanged" unless the TlsState was replaced). Open connections
//     keep the material they were accepted with.
//  2. With client SPIFFE patterns (TlsMaterial::client_ids) every call is
//     checked against the connection's client certificate before it reaches
//     a service: a refused one ends PERMISSION_DENIED with the
//     `peer_not_allowed: ...` message, is logged and counted in
//     `peer_refusals`.
//
// Thread safety: the credentials are used by gRPC's threads; `tls` and
// `peer_refusals` must outlive the server they are given to.
#pragma once

#include <memory>

#include "omnirelay/config/metrics.h"
#include "omnirelay/controlplane/tls.h"

namespace grpc {
class ServerCredentials;
}

namespace omnirelay::cp {

// `tls` null: plaintext.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(std::shared_ptr<TlsState> tls,
                                                               Counter& peer_refusals);

}  // namespace omnirelay::cp
