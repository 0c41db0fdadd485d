// One connection of omni_http (plain or TLS): reading requests within
// their deadlines, running handlers (on its loop or the worker pool), writing
// responses and streamed bodies, closing. See omnirelay/http/server.h.
#include "server_impl.h"

namespace omnirelay::http {
namespace {

// How long a closing connection may take to drain what the client still
// sends (so the client reads our last response rather than a reset).
constexpr std::chrono::seconds kLingerTimeout{1};

template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(ServerImpl& server, Loop& loop, tcp::socket socket, std::shared_ptr<ssl::context> tls,
          bool reject)
      : server_(server),
        loop_(loop),
        tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket))),
        stream_timer_(stream_.get_executor()),
        reject_(reject) {}

  ~Session() {
    loop_.connections.fetch_sub(1);
    server_.open.fetch_sub(1);
    if (server_.options.connections_open) server_.options.connections_open->Add(-1);
  }

  void Begin() {
    Lowest().expires_after(server_.options.limits.header_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](const error_code& ec) {
                                if (ec) return self->Close();
                                self->AfterHandshake();
                              });
    } else {
      AfterHandshake();
    }
  }

 private:
  Stream MakeStream(tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(beast::tcp_stream(std::move(socket)), *tls_);
    } else {
      return Stream(std::move(socket));
    }
  }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  const Limits& limits() const { return server_.options.limits; }

  void AfterHandshake() {
    if (reject_) {
      if (server_.options.connections_refused) server_.options.connections_refused->Inc();
      keep_alive_ = false;
      return SendError(503, "unavailable", "the server is at its connection limit; retry later");
    }
    if constexpr (kTls) {
      if (std::string why = PeerRefusal(); !why.empty()) {
        keep_alive_ = false;
        return SendError(403, "permission_denied", why);
      }
    }
    ReadRequest();
  }

  // Why check_peer refuses this connection's client certificate ("" = admitted).
  std::string PeerRefusal() {
    if (!server_.options.check_peer) return "";
    X509* peer = SSL_get1_peer_certificate(stream_.native_handle());
    if (peer == nullptr) return "";  // no client certificate: mTLS off for this context
    unsigned char* der = nullptr;
    const int length = i2d_X509(peer, &der);
    X509_free(peer);
    if (length <= 0) return "the client certificate cannot be encoded";
    std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
    return server_.options.check_peer(bytes);
  }

  // Idle until a first byte (idle_timeout, or header_timeout on a fresh
  // connection), then the rest of the head within header_timeout.
  void ReadRequest() {
    client_closes_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits().max_header_bytes));
    parser_->body_limit(limits().max_body_bytes);
    request_ = std::make_shared<Request>();
    if (first_ || buffer_.size() > 0) {
      // A pipelined head (bytes already buffered) gets its own header
      // deadline; a fresh connection's was set when it was accepted.
      if (!first_) Lowest().expires_after(limits().header_timeout);
      first_ = false;
      return ReadHeader();
    }
    Lowest().expires_after(limits().idle_timeout);
    stream_.async_read_some(buffer_.prepare(1024),
                            [self = this->shared_from_this()](const error_code& ec, std::size_t n) {
                              if (ec) return self->Closed(ec);
                              self->buffer_.commit(n);
                              self->Lowest().expires_after(self->limits().header_timeout);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](const error_code& ec, std::size_t) {
                               self->OnHeader(ec);
                             });
  }

  void OnHeader(const error_code& ec) {
    keep_alive_ = false;
    if (ec == bhttp::error::header_limit) {
      return SendError(431, "too_large", "the request head is larger than the server accepts");
    }
    if (ec == bhttp::error::body_limit) return TooLarge();
    if (ec) {
      if (ec == beast::error::timeout || ec == net::error::eof ||
          ec == bhttp::error::end_of_stream || ec == net::error::connection_reset ||
          ec == net::error::operation_aborted) {
        return Closed(ec);
      }
      return SendError(400, "invalid_argument", "malformed HTTP request");
    }
    const auto length = parser_->content_length();
    if (length && *length > limits().max_body_bytes) return TooLarge();
    if (parser_->is_done()) return Dispatch();
    Lowest().expires_after(limits().body_timeout);
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      // The client waits for a go-ahead before it sends the body.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(
          stream_, net::buffer(kContinue.data(), kContinue.size()),
          [self = this->shared_from_this()](const error_code& write_ec, std::size_t) {
            if (write_ec) return self->Close();
            self->ReadBody();
          });
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](const error_code& read_ec, std::size_t) {
                        if (read_ec == bhttp::error::body_limit) return self->TooLarge();
                        if (read_ec) return self->Closed(read_ec);
                        self->Dispatch();
                      });
  }

  void TooLarge() {
    keep_alive_ = false;
    SendError(413, "too_large", "the request body is larger than the server accepts");
  }

  void Dispatch() {
    Lowest().expires_never();
    auto& msg = parser_->get();
    Request& req = *request_;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& field : msg) {
      req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive();
    client_closes_ = !keep_alive_;
    if (!ParseTarget(req.target, req)) {
      keep_alive_ = false;
      return SendError(400, "invalid_argument", "the request target cannot be decoded");
    }
    const RouteEntry* route = server_.Find(req);
    if (route == nullptr) return SendError(404, "not_found", "no such route");
    if (route->options.on_io_thread) {
      auto res = std::make_shared<Response>();
      Run(*route, req, *res);
      return Write(std::move(res));
    }
    // Alone on this loop, a handler that blocks delays no other connection:
    // run it here (no thread switch) while a worker slot is free.
    if (loop_.connections.load() == 1 && server_.TryRunInline()) {
      loop_.busy.store(true);
      auto res = std::make_shared<Response>();
      Run(*route, req, *res);
      loop_.busy.store(false);
      server_.inline_handlers.fetch_sub(1);
      return Write(std::move(res));
    }
    net::post(*server_.workers, [self = this->shared_from_this(), route] {
      auto res = std::make_shared<Response>();
      Run(*route, *self->request_, *res);
      net::post(self->stream_.get_executor(), [self, res] { self->Write(res); });
    });
  }

  static void Run(const RouteEntry& route, const Request& req, Response& res) {
    try {
      route.handler(req, res);
    } catch (const std::exception& e) {
      res = Response();
      res.status = 500;
      res.set_content("{\"code\":\"internal\",\"message\":\"" + JsonEscape(e.what()) + "\"}\n",
                      "application/json");
    }
  }

  void SendError(int status, std::string_view code, std::string_view message) {
    auto res = std::make_shared<Response>();
    server_.options.render_error(status, code, message, *res);
    res->status = status;
    Write(std::move(res));
  }

  void Write(std::shared_ptr<Response> res) {
    if (server_.stopping.load()) keep_alive_ = false;
    if (res->stream) return StartStream(std::move(res));
    auto out = std::make_shared<bhttp::response<bhttp::string_body>>();
    out->version(11);
    out->result(static_cast<unsigned>(res->status));
    for (const auto& [name, value] : res->headers) out->insert(name, value);
    out->keep_alive(keep_alive_);
    const bool no_body = res->status == 204 || res->status == 304 || res->status < 200;
    if (!no_body) {
      out->body() = std::move(res->body);
      out->prepare_payload();
    }
    status_ = res->status;
    Lowest().expires_after(limits().idle_timeout);
    bhttp::async_write(stream_, *out,
                       [self = this->shared_from_this(), out](const error_code& ec, std::size_t) {
                         self->Responded();
                         if (ec) return self->Close();
                         if (self->keep_alive_ && !out->need_eof()) return self->ReadRequest();
                         // The client asked to close after a request read
                         // whole, and sent nothing more: nothing to drain.
                         if (!kTls && self->client_closes_ && self->buffer_.size() == 0) {
                           return self->Lowest().close();
                         }
                         self->Linger();
                       });
  }

  void Responded() {
    if (server_.options.on_response && request_) server_.options.on_response(*request_, status_);
  }

  // --- streamed bodies -----------------------------------------------------

  void StartStream(std::shared_ptr<Response> res) {
    body_ = std::move(res->stream);
    interval_ = res->stream_interval;
    status_ = res->status;
    server_.StreamStarted();
    streaming_ = true;
    std::string head = "HTTP/1.1 " + std::to_string(res->status) + " " +
                       std::string(bhttp::obsolete_reason(
                           bhttp::int_to_status(static_cast<unsigned>(res->status)))) +
                       "\r\n";
    for (const auto& [name, value] : res->headers) head += name + ": " + value + "\r\n";
    head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    pending_ = std::move(head);
    // A read that completes only when the client closes (or sends more than
    // we want): how a stream learns that its reader went away.
    Lowest().expires_never();
    WatchPeer();
    WriteChunk(/*done=*/false);
  }

  void WatchPeer() {
    stream_.async_read_some(buffer_.prepare(256),
                            [self = this->shared_from_this()](const error_code& ec, std::size_t) {
                              if (!ec) return self->WatchPeer();  // extra bytes: ignored
                              self->peer_gone_ = true;
                              self->stream_timer_.cancel();
                            });
  }

  void PollStream() {
    if (peer_gone_ || server_.stopping.load()) return EndStream(/*graceful=*/!peer_gone_);
    net::post(*server_.workers, [self = this->shared_from_this()] {
      auto chunk = std::make_shared<BodyStream::Chunk>(self->body_->Next());
      net::post(self->stream_.get_executor(), [self, chunk] { self->OnChunk(*chunk); });
    });
  }

  void OnChunk(const BodyStream::Chunk& chunk) {
    if (peer_gone_) return EndStream(false);
    if (!chunk.data.empty()) pending_ += Frame(chunk.data);
    if (pending_.empty() && !chunk.done) return Wait();
    WriteChunk(chunk.done);
  }

  static std::string Frame(std::string_view data) {
    char size[32];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string out(size, static_cast<std::size_t>(n));
    out.append(data);
    out += "\r\n";
    return out;
  }

  void WriteChunk(bool done) {
    if (done) pending_ += "0\r\n\r\n";
    writing_ = std::make_shared<std::string>(std::move(pending_));
    pending_.clear();
    Lowest().expires_after(limits().idle_timeout);
    net::async_write(stream_, net::buffer(*writing_),
                     [self = this->shared_from_this(), done](const error_code& ec, std::size_t) {
                       if (ec) return self->EndStream(false);
                       if (done) return self->EndStream(false);
                       self->Wait();
                     });
  }

  void Wait() {
    stream_timer_.expires_after(interval_);
    stream_timer_.async_wait(
        [self = this->shared_from_this()](const error_code&) { self->PollStream(); });
  }

  // graceful: the last chunk still has to be written.
  void EndStream(bool graceful) {
    if (graceful) return WriteChunk(/*done=*/true);
    if (!streaming_) return;
    streaming_ = false;
    Responded();
    server_.StreamEnded();
    body_.reset();
    Close();
  }

  // --- closing ----------------------------------------------------------------

  // Stop sending, then read (and drop) what the client still sends for a
  // moment, so it sees our response rather than a reset.
  void Linger() {
    if constexpr (kTls) {
      Lowest().expires_after(kLingerTimeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](const error_code&) { self->Close(); });
    } else {
      error_code ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Lowest().expires_after(kLingerTimeout);
      Drain();
    }
  }

  void Drain() {
    Lowest().async_read_some(buffer_.prepare(4096),
                             [self = this->shared_from_this()](const error_code& ec, std::size_t) {
                               self->buffer_.clear();
                               if (ec) return self->Close();
                               self->Drain();
                             });
  }

  // A read ended by `ec`: counts a timeout, then closes.
  void Closed(const error_code& ec) {
    if (ec == beast::error::timeout && server_.options.connections_timed_out) {
      server_.options.connections_timed_out->Inc();
    }
    Close();
  }

  void Close() {
    error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  ServerImpl& server_;
  Loop& loop_;
  std::shared_ptr<ssl::context> tls_;  // keeps the context this connection uses
  Stream stream_;
  net::steady_timer stream_timer_;
  const bool reject_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Request> request_;
  bool first_ = true;
  bool keep_alive_ = false;
  bool client_closes_ = false;  // the last request whole, with "Connection: close"
  int status_ = 0;
  // Streaming state (its loop thread only).
  std::unique_ptr<BodyStream> body_;
  std::chrono::milliseconds interval_{250};
  std::string pending_;
  std::shared_ptr<std::string> writing_;
  bool streaming_ = false;
  bool peer_gone_ = false;
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

void StartSession(ServerImpl& server, Loop& loop, tcp::socket socket,
                  std::shared_ptr<ssl::context> tls, bool reject) {
  if (tls) {
    std::make_shared<TlsSession>(server, loop, std::move(socket), std::move(tls), reject)->Begin();
  } else {
    std::make_shared<PlainSession>(server, loop, std::move(socket), nullptr, reject)->Begin();
  }
}

}  // namespace omnirelay::http
