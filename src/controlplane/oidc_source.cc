// JwksUrlSource (oidc_source.h): the JWKS over HTTPS with cpp-httplib and
// OpenSSL; the rule numbers are oidc_source.h's.
#include "omnirelay/controlplane/oidc_source.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <fstream>

#include "omnirelay/http/server.h"

namespace omnirelay::cp {
namespace {

constexpr std::string_view kHttps = "https://";
constexpr std::string_view kHttp = "http://";

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// localhost, or an address literal in 127.0.0.0/8 or ::1 (a name such as
// 127.example.com is not loopback, whatever it starts with).
bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// cpp-httplib names its errors by their enum; the log says what happened.
std::string Describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "no connection within the timeout";
    case httplib::Error::Read:
      return "the answer could not be read (closed, or over the timeout)";
    case httplib::Error::Write:
      return "the request could not be sent";
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "the CA certificates could not be loaded";
    case httplib::Error::SSLServerVerification:
      return "SSL server verification failed: the server certificate is not trusted";
    default:
      return httplib::to_string(error);
  }
}

struct ParsedUrl {
  bool tls = true;
  std::string host;
  int port = 443;
  std::string path;
};

Result<ParsedUrl> ParseUrl(const std::string& url) {
  // A control byte, a space or a NUL has no place in a URL; a NUL would also
  // cut the host short where the C resolver reads it (127.0.0.1\0evil). The
  // message shows such bytes as '?' so they never reach a log raw.
  std::string shown = url;
  bool control = false;
  for (char& c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) c = '?', control = true;
  }
  const auto refuse = [&](const std::string& why) {
    return Status(StatusCode::kInvalidArgument, "--oidc-jwks " + shown + ": " + why);
  };
  if (control) return refuse("a control character or space in the URL");
  ParsedUrl out;
  std::string_view rest = url;
  if (rest.rfind(kHttps, 0) == 0) {
    rest.remove_prefix(kHttps.size());
  } else if (rest.rfind(kHttp, 0) == 0) {
    rest.remove_prefix(kHttp.size());
    out.tls = false;
    out.port = 80;
  } else {
    return refuse("not an http:// or https:// URL");
  }
  const auto slash = rest.find('/');
  std::string authority(rest.substr(0, slash));
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty() || authority.find('@') != std::string::npos) {
    return refuse("write https://host[:port]/path (no user info)");
  }
  if (authority.back() == ']' || authority.find(':') == std::string::npos) {
    authority += ":" + std::to_string(out.port);
  }
  auto host_port = http::SplitHostPort(authority);
  if (!host_port.ok() || host_port->first.empty() || host_port->second == 0) {
    return refuse("write https://host[:port]/path");
  }
  out.host = host_port->first;
  out.port = host_port->second;
  if (out.path.find('#') != std::string::npos) return refuse("a bad path");
  if (!out.tls && !IsLoopbackHost(Lower(out.host))) {
    return refuse(
        "http:// is only for a loopback host (localhost, 127.0.0.0/8, ::1); keys fetched in "
        "clear from elsewhere could be anyone's: use https://");
  }
  return out;
}

class UrlSource final : public JwksSource {
 public:
  UrlSource(JwksUrlOptions options, ParsedUrl url)
      : options_(std::move(options)), url_(std::move(url)) {}

  const std::string& where() const override { return options_.url; }

  Result<JwksDocument> Fetch() override {
    std::unique_ptr<httplib::ClientImpl> client;
    httplib::SSLClient* tls = nullptr;
    if (url_.tls) {
      auto made = std::make_unique<httplib::SSLClient>(url_.host, url_.port);
      tls = made.get();
      if (!options_.ca_file.empty()) made->set_ca_cert_path(options_.ca_file.c_str());
      made->enable_server_certificate_verification(true);
      client = std::move(made);
    } else {
      client = std::make_unique<httplib::ClientImpl>(url_.host, url_.port);
    }
    const auto seconds = static_cast<time_t>(options_.timeout_ms / 1000);
    const auto micros = static_cast<time_t>((options_.timeout_ms % 1000) * 1000);
    client->set_connection_timeout(seconds, micros);
    client->set_read_timeout(seconds, micros);
    client->set_write_timeout(seconds, micros);
    client->set_keep_alive(false);
    client->set_follow_location(false);

    // Rule 2: the whole fetch within the timeout, the body within the limit.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.timeout_ms);
    std::string body, over;
    int status = 0;
    std::string cache_control;
    httplib::Result res = client->Get(
        url_.path, {{"Accept", "application/json"}, {"Accept-Encoding", "identity"}},
        [&](const httplib::Response& response) {
          status = response.status;
          cache_control = response.get_header_value("Cache-Control");
          return status == 200;
        },
        [&](const char* data, std::size_t size) {
          if (body.size() + size > kMaxJwksBytes) {
            over = "the JWKS is over " + std::to_string(kMaxJwksBytes) + " bytes";
            return false;
          }
          if (std::chrono::steady_clock::now() > deadline) {
            over = "the fetch took over " + std::to_string(options_.timeout_ms) + " ms";
            return false;
          }
          body.append(data, size);
          return true;
        });
    const std::string what = "GET " + options_.url + ": ";
    if (!over.empty()) return Status(StatusCode::kUnavailable, what + over);
    if (status != 0 && status != 200) {
      return Status(StatusCode::kUnavailable, what + "HTTP " + std::to_string(status));
    }
    if (!res) {
      std::string why = Describe(res.error());
      if (res.error() == httplib::Error::SSLServerVerification && tls != nullptr) {
        why += std::string(" (") + X509_verify_cert_error_string(tls->get_openssl_verify_result()) +
               "; trusted: " +
               (options_.ca_file.empty() ? "the system trust store" : options_.ca_file) + ")";
      }
      return Status(StatusCode::kUnavailable, what + why);
    }
    const std::int64_t max_age = CacheControlMaxAgeMs(cache_control);
    const std::int64_t fresh = max_age < 0 ? options_.min_fresh_ms : max_age;
    return JwksDocument{std::move(body),
                        std::clamp(fresh, options_.min_fresh_ms, options_.max_fresh_ms)};
  }

 private:
  const JwksUrlOptions options_;
  const ParsedUrl url_;
};

}  // namespace

bool IsJwksUrl(std::string_view location) {
  return location.rfind(kHttps, 0) == 0 || location.rfind(kHttp, 0) == 0;
}

Result<std::unique_ptr<JwksSource>> JwksUrlSource(JwksUrlOptions options) {
  OMNI_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(options.url));
  if (!options.ca_file.empty() && !std::ifstream(options.ca_file).good()) {
    return Status(StatusCode::kInvalidArgument,
                  "--oidc-jwks-ca " + options.ca_file + ": cannot be read");
  }
  if (!options.ca_file.empty() && !url.tls) {
    return Status(StatusCode::kInvalidArgument, "--oidc-jwks-ca needs an https:// --oidc-jwks");
  }
  if (options.timeout_ms < 1 || options.min_fresh_ms < 1 ||
      options.max_fresh_ms < options.min_fresh_ms) {
    return Status(StatusCode::kInvalidArgument,
                  "--oidc-jwks: the timeout and cache bounds must be positive, with the cache "
                  "floor at most its ceiling");
  }
  return std::unique_ptr<JwksSource>(new UrlSource(std::move(options), std::move(url)));
}

std::int64_t CacheControlMaxAgeMs(std::string_view header) {
  std::int64_t max_age = -1;
  while (!header.empty()) {
    const auto comma = header.find(',');
    const std::string directive = Lower(Trim(header.substr(0, comma)));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (directive == "no-store" || directive == "no-cache") return 0;
    constexpr std::string_view kMaxAge = "max-age=";
    if (directive.rfind(kMaxAge, 0) != 0) continue;
    std::string_view value = std::string_view(directive).substr(kMaxAge.size());
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    std::int64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || ptr != value.data() + value.size() || seconds < 0) return -1;
    max_age = std::min<std::int64_t>(seconds, 10 * 365 * 86'400) * 1000;
  }
  return max_age;
}

}  // namespace omnirelay::cp
