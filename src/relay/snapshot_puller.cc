#include "snapshot_puller.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "omnirelay/api/status_mapping.h"

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

// A client for one request to `endpoint` (https with `tls` enabled).
std::unique_ptr<httplib::Client> MakeClient(const std::string& endpoint, const WatcherTls& tls,
                                            std::int64_t timeout_ms) {
  std::unique_ptr<httplib::Client> client =
      tls.enabled()
          ? std::make_unique<httplib::Client>("https://" + endpoint, tls.cert_file, tls.key_file)
          : std::make_unique<httplib::Client>("http://" + endpoint);
  if (tls.enabled()) {
    client->set_ca_cert_path(tls.ca_file.c_str());
    client->enable_server_certificate_verification(true);
  }
  const auto seconds = static_cast<time_t>(timeout_ms / 1000);
  const auto micros = static_cast<time_t>((timeout_ms % 1000) * 1000);
  client->set_connection_timeout(std::min<time_t>(seconds, 2), seconds >= 2 ? 0 : micros);
  client->set_read_timeout(seconds, micros);
  client->set_write_timeout(seconds, micros);
  client->set_keep_alive(false);
  return client;
}

}  // namespace

SnapshotPuller::SnapshotPuller(std::string node_id, std::string scope_chain_csv, std::string token,
                               std::int64_t timeout_ms, WatcherTls tls)
    : node_id_(std::move(node_id)),
      chain_(std::move(scope_chain_csv)),
      token_(std::move(token)),
      timeout_ms_(timeout_ms),
      tls_(std::move(tls)) {}

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
    std::unique_ptr<httplib::Client> client = MakeClient(endpoint, tls_, timeout_ms_);
    httplib::Result res = client->Get(path, {{"Authorization", "Bearer " + token_}});
    if (!res) {
      last = Status(StatusCode::kUnavailable,
                    "GET " + endpoint + path + ": " + httplib::to_string(res.error()));
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
    const nlohmann::json body = nlohmann::json::parse(res->body, nullptr, false);
    if (!body.is_object() || !body.contains("keySets") || !body["keySets"].is_array()) {
      return Status(StatusCode::kInvalidArgument,
                    "GET " + endpoint + path + ": not a key-set list (no \"keySets\" array)");
    }
    std::vector<std::string> envelopes;
    for (const auto& entry : body["keySets"]) {
      if (!entry.is_object() || !entry.contains("envelope") || !entry["envelope"].is_string()) {
        return Status(StatusCode::kInvalidArgument,
                      "GET " + endpoint + path + ": a key set without an \"envelope\" string");
      }
      envelopes.push_back(entry["envelope"].get<std::string>());
    }
    return envelopes;
  }
  return last;
}

Result<PullReply> SnapshotPuller::PullFrom(const std::string& endpoint,
                                           const std::string& current_hash) {
  std::unique_ptr<httplib::Client> made = MakeClient(endpoint, tls_, timeout_ms_);
  httplib::Client& client = *made;
  httplib::Headers headers = {{"Authorization", "Bearer " + token_}};
  if (!current_hash.empty()) headers.emplace("If-None-Match", "\"" + current_hash + "\"");
  const std::string path =
      "/v1/nodes/" + QueryEscape(node_id_) + "/snapshot?chain=" + QueryEscape(chain_);
  httplib::Result res = client.Get(path, headers);
  if (!res) {
    return Status(StatusCode::kUnavailable,
                  "GET " + endpoint + path + ": " + httplib::to_string(res.error()));
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
