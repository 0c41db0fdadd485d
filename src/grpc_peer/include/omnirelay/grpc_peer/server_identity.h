// The server's identity, checked by a gRPC client before a call leaves.
//  1. The returned call credentials run before each call's first bytes are
//     sent: they read the server certificate of the connection the call is
//     on (already verified against the CA and the server name) and refuse
//     the call unless its SPIFFE ID passes `expected` (peer_identity.h). A
//     refused call sends nothing — neither its metadata (the bearer token)
//     nor its messages — and ends UNAUTHENTICATED with the policy's
//     `peer_not_allowed: ...` message, expected and seen IDs named.
//  2. They add no metadata of their own; combine them with TLS channel
//     credentials (grpc::CompositeChannelCredentials). Call credentials are
//     not used on a plaintext channel.
//
// Thread safety: the credentials may be shared by any number of channels.
#pragma once

#include <memory>

#include "omnirelay/config/peer_identity.h"

namespace grpc {
class CallCredentials;
}

namespace omnirelay {

std::shared_ptr<grpc::CallCredentials> ServerIdentityCheck(PeerIdentityPolicy expected);

}  // namespace omnirelay
