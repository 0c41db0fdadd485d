#include "omnirelay/grpc_peer/server_identity.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>

#include <string>

namespace omnirelay {
namespace {

class ServerIdentityPlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit ServerIdentityPlugin(PeerIdentityPolicy expected) : expected_(std::move(expected)) {}

  // Cheap (one certificate parsed): run inline, not on gRPC's blocking pool.
  bool IsBlocking() const override { return false; }

  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext& channel,
                           std::multimap<grpc::string, grpc::string>*) override {
    std::string pem;
    for (const grpc::string_ref& value :
         channel.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
      pem.assign(value.data(), value.size());
      break;
    }
    const Status verdict = pem.empty()
                               ? expected_.Check(std::nullopt, "no certificate (not a TLS channel)")
                               : expected_.CheckCertificatePem(pem);
    if (verdict.ok()) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "server identity: " + verdict.message());
  }

 private:
  const PeerIdentityPolicy expected_;
};

}  // namespace

std::shared_ptr<grpc::CallCredentials> ServerIdentityCheck(PeerIdentityPolicy expected) {
  return grpc::MetadataCredentialsFromPlugin(
      std::make_unique<ServerIdentityPlugin>(std::move(expected)));
}

}  // namespace omnirelay
