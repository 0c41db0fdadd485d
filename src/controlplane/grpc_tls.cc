#include "grpc_tls.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpcpp/security/server_credentials.h>
#include <spdlog/spdlog.h>

#include <string>

namespace omnirelay::cp {
namespace {

// What gRPC's C core holds on to: the material source, the material last
// handed to the handshaker, and the refusal counter. Freed by the auth
// processor's destroy hook, when gRPC drops the credentials.
struct CredentialsState {
  std::shared_ptr<TlsState> tls;
  Counter* peer_refusals = nullptr;
  Mutex mu;
  std::shared_ptr<const TlsMaterial> served GUARDED_BY(mu);
};

// Rule 1: called by gRPC at every server handshake.
grpc_ssl_certificate_config_reload_status FetchConfig(void* user_data,
                                                      grpc_ssl_server_certificate_config** config) {
  auto* state = static_cast<CredentialsState*>(user_data);
  std::shared_ptr<const TlsMaterial> now = state->tls->Current();
  {
    MutexLock lock(state->mu);
    if (now == state->served) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
    state->served = now;
  }
  grpc_ssl_pem_key_cert_pair pair{now->key_pem.c_str(), now->cert_pem.c_str()};
  // gRPC asserts the roots are set even when no client certificate is asked
  // for; without a client CA they are never used, so the server's own chain
  // stands in. The config copies the strings.
  const std::string& roots = now->client_ca_pem.empty() ? now->cert_pem : now->client_ca_pem;
  *config = grpc_ssl_server_certificate_config_create(roots.c_str(), &pair, 1);
  return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

// The leaf certificate (PEM) of the call's peer, or "" when it sent none.
std::string PeerCertificatePem(const grpc_auth_context* context) {
  grpc_auth_property_iterator it =
      grpc_auth_context_find_properties_by_name(context, GRPC_X509_PEM_CERT_PROPERTY_NAME);
  const grpc_auth_property* property = grpc_auth_property_iterator_next(&it);
  return property ? std::string(property->value, property->value_length) : std::string();
}

// Rule 2: called by gRPC for every call, before the service sees it.
void CheckPeer(void* raw, grpc_auth_context* context, const grpc_metadata*, std::size_t,
               grpc_process_auth_metadata_done_cb done, void* user_data) {
  auto* state = static_cast<CredentialsState*>(raw);
  const std::shared_ptr<const TlsMaterial> tls = state->tls->Current();  // held while used
  const PeerIdentityPolicy& policy = tls->client_ids;
  Status verdict =
      policy.enabled() ? policy.CheckCertificatePem(PeerCertificatePem(context)) : Status::Ok();
  if (verdict.ok()) {
    done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
    return;
  }
  state->peer_refusals->Inc();
  spdlog::warn("gRPC: call refused: {}", verdict.message());
  done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_PERMISSION_DENIED, verdict.message().c_str());
}

void DestroyState(void* raw) {
  delete static_cast<CredentialsState*>(raw);
}

// grpc::ServerCredentials around C-core credentials made with a certificate
// config fetcher (the C++ API has no such option).
class FetchingServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit FetchingServerCredentials(grpc_server_credentials* creds) : creds_(creds) {}
  ~FetchingServerCredentials() override { grpc_server_credentials_release(creds_); }

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    // Not used: the processor is set in C (CheckPeer) when the credentials are made.
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }

  grpc_server_credentials* creds_;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(std::shared_ptr<TlsState> tls,
                                                               Counter& peer_refusals) {
  if (!tls) return grpc::InsecureServerCredentials();
  const bool mutual = tls->Current()->files.mutual();
  auto* state = new CredentialsState;
  state->tls = std::move(tls);
  state->peer_refusals = &peer_refusals;
  grpc_ssl_server_credentials_options* options =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(
          mutual ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          &FetchConfig, state);
  grpc_server_credentials* creds = grpc_ssl_server_credentials_create_with_options(options);
  grpc_server_credentials_set_auth_metadata_processor(
      creds, grpc_auth_metadata_processor{&CheckPeer, &DestroyState, state});
  return std::make_shared<FetchingServerCredentials>(creds);
}

}  // namespace omnirelay::cp
