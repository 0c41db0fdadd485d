// omni_http: a small event-driven HTTP/1.1 server (Boost.Beast on Asio,
// OpenSSL for TLS; Boost stays inside the .cc files). What it promises:
//
//  1. I/O runs on `io_threads + worker_threads` event loops (a thread and a
//     single-threaded io_context each) plus one loop that only accepts,
//     however many connections are open: an idle, half-open or slow client
//     costs a socket and a few hundred bytes, never a thread. A connection
//     lives on one loop for its whole life (no locks, no cross-thread
//     wake-ups on its path).
//  2. A handler that may block (a store call) delays no other connection's
//     I/O: it runs on its connection's loop thread (no hand-off, no thread
//     switch) only while that connection is the loop's only one and fewer
//     than `worker_threads` handlers run that way; otherwise it is queued to
//     a pool of `worker_threads`. At most 2 x `worker_threads` handlers run
//     at once. A new connection goes to the loop with the fewest connections
//     among those not running a handler (at most `worker_threads` of the
//     loops do, so there always is one); the one exception, a connection
//     accepted in the very instant its loop's only other connection starts a
//     handler, waits for that handler. A route registered with
//     `on_io_thread` (health probes) always runs on its connection's loop.
//  3. Every wait has a deadline: the request head must arrive within
//     header_timeout of its first byte (or of the accept), the body within
//     body_timeout, and an idle keep-alive connection is closed after
//     idle_timeout. A connection past its deadline is closed.
//  4. Past max_connections an accepted connection is answered `503` with the
//     JSON error body and closed, never left waiting. A head over
//     max_header_bytes is answered `431`, a body over max_body_bytes `413`.
//  5. A response may stream: the server asks its BodyStream for the next
//     chunk on the worker pool every poll interval, driven by a timer, and
//     writes it chunked; no thread is held between chunks. A stream ends when
//     it says so, when the client goes away, or at Shutdown().
//  6. TLS when a certificate is given; a client CA makes client certificates
//     required and verified (mTLS). ReloadTls() swaps the certificate for
//     connections accepted afterwards; open ones keep theirs. With
//     `check_peer` set, a connection whose verified client certificate it
//     refuses is answered one `403` (code `permission_denied`, the reason as
//     the message) right after the handshake and closed; no handler runs.
//  7. The listen port is exclusive (no SO_REUSEPORT): a port in use is an
//     error from Start().
//
// Thread safety: Server's methods may be called from any thread; Shutdown()
// (also run by the destructor) waits for the loops and the workers.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/status.h"

namespace omnirelay::http {

struct Request {
  std::string method;                                        // "GET", "PUT", ...
  std::string target;                                        // as sent: path and query
  std::string path;                                          // percent-decoded path
  std::vector<std::pair<std::string, std::string>> params;   // decoded query, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  std::string body;
  // [0] the whole path, [1..] the route pattern's capture groups.
  std::vector<std::string> matches;

  bool has_param(std::string_view name) const;
  std::string get_param_value(std::string_view name) const;  // first value, "" if absent
  bool has_header(std::string_view name) const;              // names case-insensitive
  std::string get_header_value(std::string_view name) const;
};

// A body produced piece by piece (audit follow). Next() runs on a worker
// thread, never concurrently for one stream: first right after the handler
// returns, then `interval` after the previous chunk was written.
class BodyStream {
 public:
  struct Chunk {
    std::string data;   // may be empty (nothing new yet)
    bool done = false;  // the last call: the response ends after `data`
  };
  virtual ~BodyStream() = default;
  virtual Chunk Next() = 0;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::unique_ptr<BodyStream> stream;  // set: a chunked, streamed body
  std::chrono::milliseconds stream_interval{250};

  void set_header(std::string_view name, std::string_view value);
  void set_content(std::string content, std::string_view content_type);
  // Streams `stream` chunked as `content_type`, polling every `interval`.
  void set_stream(std::unique_ptr<BodyStream> body, std::string_view content_type,
                  std::chrono::milliseconds interval);
};

using Handler = std::function<void(const Request&, Response&)>;

// Renders the server's own refusals (404, 413, 431, 503, 400) from an HTTP
// status, an error code ("not_found", "too_large", "unavailable", ...) and a
// message. The default writes {"code": ..., "message": ...}.
using ErrorRenderer =
    std::function<void(int status, std::string_view code, std::string_view message, Response& out)>;

struct TlsConfig {
  std::string cert_pem;       // server certificate chain; empty = plaintext
  std::string key_pem;        // its private key
  std::string client_ca_pem;  // non-empty: require and verify client certificates
  bool enabled() const { return !cert_pem.empty(); }
};

struct Limits {
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_connections = 10'000;
  std::size_t max_header_bytes = 16u << 10;
  std::size_t max_body_bytes = 16u << 20;
};

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  Limits limits;
  TlsConfig tls;
  int io_threads = 1;          // event loops beyond those `worker_threads` may take
  int worker_threads = 4;      // handlers on the pool; as many more on their loops
  ErrorRenderer render_error;  // empty: the default shape
  // Called after every response is written (counters); on an I/O thread.
  std::function<void(const Request&, int status)> on_response;
  // Connection figures, when given (owned by a MetricsRegistry that outlives
  // the server): open now, refused at the limit, closed by a read timeout.
  Gauge* connections_open = nullptr;
  Counter* connections_refused = nullptr;
  Counter* connections_timed_out = nullptr;
  // mTLS only: called on the I/O thread after each handshake with the
  // client's leaf certificate (DER); a non-empty result is why it is refused.
  std::function<std::string(std::string_view peer_der)> check_peer;
};

struct RouteOptions {
  bool on_io_thread = false;  // only for handlers that never block
};

class ServerImpl;

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes, before Start(). `pattern` is an ECMAScript regex matched against
  // the whole decoded path; the first route that matches method and path
  // wins. No match: 404.
  void Route(std::string_view method, std::string_view pattern, Handler handler,
             RouteOptions options = {});

  // Binds and starts serving. kInvalidArgument for a bad address or TLS
  // material, kUnavailable when the address cannot be bound (in use).
  Status Start();
  int port() const;
  // New TLS material for connections accepted from now on; the old material
  // stays in use when the new one is refused (kInvalidArgument).
  Status ReloadTls(const TlsConfig& tls);
  // Stops accepting, ends streams, closes connections, joins the threads.
  void Shutdown();

  // Connections open now (accepted and not yet closed).
  std::size_t open_connections() const;

 private:
  std::unique_ptr<ServerImpl> impl_;
};

// "host:port" -> (host, port); kInvalidArgument otherwise.
Result<std::pair<std::string, int>> SplitHostPort(std::string_view listen);

}  // namespace omnirelay::http
