#include "tls_context.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace omnirelay::http {
namespace {

namespace ssl = boost::asio::ssl;

Status Refused(const std::string& what, const boost::system::error_code& ec) {
  return Status(StatusCode::kInvalidArgument, "TLS: " + what + " (" + ec.message() + ")");
}

// The client CA names sent in the CertificateRequest, so a client holding
// several certificates can pick the right one.
bool AddClientCaNames(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add_client_CA(ctx, cert) == 1) ++added;
    X509_free(cert);
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  BIO_free(bio);
  return added > 0;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeTlsContext(const TlsConfig& tls) {
  if (tls.cert_pem.empty() || tls.key_pem.empty()) {
    return Status(StatusCode::kInvalidArgument, "TLS: a certificate needs its private key");
  }
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (ec) return Refused("cannot set the protocol options", ec);
  ctx->use_certificate_chain(boost::asio::buffer(tls.cert_pem), ec);
  if (ec) return Refused("the server certificate is not a usable PEM chain", ec);
  ctx->use_private_key(boost::asio::buffer(tls.key_pem), ssl::context::pem, ec);
  if (ec) return Refused("the private key is not a usable PEM key", ec);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return Status(StatusCode::kInvalidArgument,
                  "TLS: the private key does not belong to the server certificate");
  }
  if (!tls.client_ca_pem.empty()) {
    ctx->add_certificate_authority(boost::asio::buffer(tls.client_ca_pem), ec);
    if (ec) return Refused("the client CA is not a usable PEM bundle", ec);
    if (!AddClientCaNames(ctx->native_handle(), tls.client_ca_pem)) {
      return Status(StatusCode::kInvalidArgument, "TLS: the client CA holds no certificate");
    }
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return Refused("cannot require client certificates", ec);
    // Session resumption with client certificates needs a context id.
    static constexpr unsigned char kSessionContext[] = "omnirelay-http";
    SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext,
                                   sizeof kSessionContext - 1);
  }
  return ctx;
}

}  // namespace omnirelay::http
