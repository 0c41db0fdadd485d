#include "snapshot_puller.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "omnirelay/api/status_mapping.h"
#include "omnirelay/http/server.h"

namespace omnirelay::relay::internal {
namespace {

std::string Unquote(std::string value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  return value;
}

// Percent-encodes what may not stand in a query value as is.
std::string QueryEscape(const std::string& text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The server-certificate check of one https pull: the chain verified
// against the relay's CA alone (not the system store httplib would add),
// then the server SPIFFE IDs; `refusal` says why a handshake was refused.
struct ServerCheck {
  X509_STORE* store = nullptr;  // owned
  const PeerIdentityPolicy* ids = nullptr;
  std::string refusal;
  ~ServerCheck() { X509_STORE_free(store); }
};

// OpenSSL's certificate verification, replaced for this client's context.
int VerifyServer(X509_STORE_CTX* ctx, void* arg) {
  auto* check = static_cast<ServerCheck*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(ctx);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> own(X509_STORE_CTX_new(),
                                                                      &X509_STORE_CTX_free);
  if (!own ||
      X509_STORE_CTX_init(own.get(), check->store, leaf, X509_STORE_CTX_get0_untrusted(ctx)) != 1) {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_OUT_OF_MEM);
    return 0;
  }
  X509_STORE_CTX_set_default(own.get(), "ssl_server");
  if (X509_verify_cert(own.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(own.get());
    check->refusal =
        std::string("server certificate not verified: ") + X509_verify_cert_error_string(error);
    X509_STORE_CTX_set_error(ctx, error);
    return 0;
  }
  if (check->ids->enabled()) {
    auto id = SpiffeIdOf(*leaf);
    const Status verdict =
        id.ok() ? check->ids->Check(*id) : check->ids->Check(std::nullopt, id.status().message());
    if (!verdict.ok()) {
      check->refusal = "server identity: " + verdict.message();
      X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
      return 0;
    }
  }
  X509_STORE_CTX_set_error(ctx, X509_V_OK);
  return 1;
}

// An https client for `endpoint` with `material`, its server check in `check`.
Result<std::unique_ptr<httplib::ClientImpl>> HttpsClient(const std::string& endpoint,
                                                         const ClientTlsMaterial& material,
                                                         const PeerIdentityPolicy& ids,
                                                         ServerCheck& check) {
  auto host_port = http::SplitHostPort(endpoint);
  if (!host_port.ok()) return Status(StatusCode::kUnavailable, host_port.status().message());
  using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
  using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
  const auto bio = [](const std::string& pem) {
    return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  };
  check.ids = &ids;
  check.store = X509_STORE_new();
  BioPtr ca = bio(material.ca_pem);
  while (X509* cert = PEM_read_bio_X509(ca.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(check.store, cert);
    X509_free(cert);
  }
  ERR_clear_error();
  std::unique_ptr<httplib::SSLClient> client;
  if (material.cert_pem.empty()) {
    client = std::make_unique<httplib::SSLClient>(host_port->first, host_port->second);
  } else {
    BioPtr cert_bio = bio(material.cert_pem);
    BioPtr key_bio = bio(material.key_pem);
    X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr), &X509_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
    ERR_clear_error();
    if (!cert || !key)
      return Status(StatusCode::kUnavailable, "the TLS client key pair is unusable");
    client = std::make_unique<httplib::SSLClient>(host_port->first, host_port->second, cert.get(),
                                                  key.get());
  }
  client->enable_server_certificate_verification(true);
  SSL_CTX_set_cert_verify_callback(client->ssl_context(), &VerifyServer, &check);
  return std::unique_ptr<httplib::ClientImpl>(std::move(client));
}

// A client for one request to `endpoint`: https with `tls` (its files read
// now; `check` holds the server check and must outlive the client).
Result<std::unique_ptr<httplib::ClientImpl>> MakeClient(const std::string& endpoint,
                                                        const std::shared_ptr<ClientTls>& tls,
                                                        std::int64_t timeout_ms,
                                                        ServerCheck& check) {
  std::unique_ptr<httplib::ClientImpl> made;
  if (tls) {
    auto material = tls->Load();
    if (!material.ok()) return Status(StatusCode::kUnavailable, material.status().message());
    auto tls_client = HttpsClient(endpoint, **material, tls->server_ids(), check);
    if (!tls_client.ok()) return tls_client.status();
    made = std::move(tls_client).value();
  } else {
    auto host_port = http::SplitHostPort(endpoint);
    if (!host_port.ok()) return Status(StatusCode::kUnavailable, host_port.status().message());
    made = std::make_unique<httplib::ClientImpl>(host_port->first, host_port->second);
  }
  const auto seconds = static_cast<time_t>(timeout_ms / 1000);
  const auto micros = static_cast<time_t>((timeout_ms % 1000) * 1000);
  made->set_connection_timeout(std::min<time_t>(seconds, 2), seconds >= 2 ? 0 : micros);
  made->set_read_timeout(seconds, micros);
  made->set_write_timeout(seconds, micros);
  made->set_keep_alive(false);
  return made;
}

// GET with the answer's body capped at `limit` bytes (a larger one is cut
// off, `over` set, and the result is an error): a misbehaving endpoint never
// makes the node hold an unbounded answer. The body lands in res->body.
httplib::Result GetCapped(httplib::ClientImpl& client, const std::string& path,
                          const httplib::Headers& headers, std::size_t limit, bool& over) {
  std::string body;
  over = false;
  httplib::Result res = client.Get(path, headers, [&](const char* data, std::size_t n) {
    if (body.size() + n > limit) {
      over = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (res) res->body = std::move(body);
  return res;
}

// Why a GET got no answer: the server check's refusal, a body over the cap,
// or cpp-httplib's error.
std::string NoAnswer(const httplib::Result& res, const ServerCheck& check, bool over,
                     std::size_t limit) {
  if (!check.refusal.empty()) return check.refusal;
  if (over) return "the answer is larger than " + std::to_string(limit) + " bytes";
  return httplib::to_string(res.error());
}

}  // namespace

SnapshotPuller::SnapshotPuller(std::string node_id, std::string scope_chain_csv, std::string token,
                               std::int64_t timeout_ms, std::shared_ptr<ClientTls> tls,
                               std::int64_t max_snapshot_bytes)
    : node_id_(std::move(node_id)),
      chain_(std::move(scope_chain_csv)),
      token_(std::move(token)),
      timeout_ms_(timeout_ms),
      tls_(std::move(tls)),
      max_snapshot_bytes_(max_snapshot_bytes > 0 ? static_cast<std::size_t>(max_snapshot_bytes)
                                                 : std::numeric_limits<std::size_t>::max()) {}

void SnapshotPuller::AddEndpoints(const std::vector<std::string>& endpoints) {
  for (const std::string& e : endpoints) {
    if (!e.empty() && std::find(endpoints_.begin(), endpoints_.end(), e) == endpoints_.end()) {
      endpoints_.push_back(e);
    }
  }
}

StatusCode RefusalCode(int http_status, const std::string& body) {
  if (http_status < 400 || http_status >= 500 || http_status == 408 || http_status == 429) {
    return StatusCode::kUnavailable;
  }
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("code") && parsed["code"].is_string()) {
    const auto code = ParseStatusCodeName(parsed["code"].get<std::string>());
    if (code && *code != StatusCode::kOk) return *code;
  }
  const bool about_node =
      http_status == 400 || http_status == 401 || http_status == 403 || http_status == 404;
  return about_node ? api::StatusCodeForHttp(http_status) : StatusCode::kUnavailable;
}

Result<PullReply> SnapshotPuller::Pull(const std::string& current_hash) {
  if (endpoints_.empty()) return Status(StatusCode::kUnavailable, "no control-plane HTTP endpoint");
  Status last(StatusCode::kUnavailable, "no control-plane HTTP endpoint answered");
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const std::size_t index = next_ % endpoints_.size();
    Result<PullReply> reply = PullFrom(endpoints_[index], current_hash);
    if (reply.ok() || reply.status().code() != StatusCode::kUnavailable) return reply;
    last = reply.status();
    next_ = index + 1;  // this one failed: start with the next one from now on
  }
  return last;
}

Result<std::vector<std::string>> SnapshotPuller::FetchKeySets(std::int64_t after_version) {
  if (endpoints_.empty()) return Status(StatusCode::kUnavailable, "no control-plane HTTP endpoint");
  Status last(StatusCode::kUnavailable, "no control-plane HTTP endpoint answered");
  const std::string path = "/v1/keysets?after=" + std::to_string(after_version);
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const std::string& endpoint = endpoints_[(next_ + tried) % endpoints_.size()];
    ServerCheck check;
    auto client = MakeClient(endpoint, tls_, timeout_ms_, check);
    if (!client.ok()) {
      last = client.status();
      continue;
    }
    bool over = false;
    httplib::Result res = GetCapped(**client, path, {{"Authorization", "Bearer " + token_}},
                                    kMaxKeySetListBytes, over);
    if (!res) {
      last = Status(StatusCode::kUnavailable, "GET " + endpoint + path + ": " +
                                                  NoAnswer(res, check, over, kMaxKeySetListBytes));
      continue;
    }
    if (res->status != 200) {
      Status refused(RefusalCode(res->status, res->body), "GET " + endpoint + path + ": HTTP " +
                                                              std::to_string(res->status) + " " +
                                                              res->body.substr(0, 512));
      if (refused.code() != StatusCode::kUnavailable) return refused;
      last = refused;
      continue;
    }
    // An answer that is not a key-set list (a proxy's page, a truncated body)
    // is that endpoint's trouble: the next one is tried, as for a 5xx.
    const nlohmann::json body = nlohmann::json::parse(res->body, nullptr, false);
    if (!body.is_object() || !body.contains("keySets") || !body["keySets"].is_array()) {
      last = Status(StatusCode::kUnavailable,
                    "GET " + endpoint + path + ": not a key-set list (no \"keySets\" array)");
      continue;
    }
    std::vector<std::string> envelopes;
    bool well_formed = true;
    for (const auto& entry : body["keySets"]) {
      if (!entry.is_object() || !entry.contains("envelope") || !entry["envelope"].is_string()) {
        well_formed = false;
        break;
      }
      envelopes.push_back(entry["envelope"].get<std::string>());
    }
    if (!well_formed) {
      last = Status(StatusCode::kUnavailable,
                    "GET " + endpoint + path + ": a key set without an \"envelope\" string");
      continue;
    }
    return envelopes;
  }
  return last;
}

Result<PullReply> SnapshotPuller::PullFrom(const std::string& endpoint,
                                           const std::string& current_hash) {
  ServerCheck check;
  auto made = MakeClient(endpoint, tls_, timeout_ms_, check);
  if (!made.ok()) return made.status();
  httplib::ClientImpl& client = **made;
  httplib::Headers headers = {{"Authorization", "Bearer " + token_}};
  if (!current_hash.empty()) headers.emplace("If-None-Match", "\"" + current_hash + "\"");
  const std::string path =
      "/v1/nodes/" + QueryEscape(node_id_) + "/snapshot?chain=" + QueryEscape(chain_);
  bool over = false;
  httplib::Result res = GetCapped(client, path, headers, max_snapshot_bytes_, over);
  if (!res) {
    return Status(StatusCode::kUnavailable, "GET " + endpoint + path + ": " +
                                                NoAnswer(res, check, over, max_snapshot_bytes_));
  }
  PullReply out;
  out.endpoint = endpoint;
  out.hash = Unquote(res->get_header_value("ETag"));
  if (res->status == 304) {
    out.kind = PullReply::Kind::kNotModified;
    return out;
  }
  if (res->status != 200) {
    return Status(RefusalCode(res->status, res->body), "GET " + endpoint + path + ": HTTP " +
                                                           std::to_string(res->status) + " " +
                                                           res->body.substr(0, 512));
  }
  out.kind = PullReply::Kind::kSnapshot;
  out.envelope = std::move(res->body);
  return out;
}

}  // namespace omnirelay::relay::internal
