// The event-driven server behind omnirelay/http/server.h: one
// single-threaded Asio io_context per I/O thread (a Loop), an accept loop of
// its own, one Session per connection (plain or TLS) living on one Loop for
// its whole life, handlers on that Loop's thread when nothing else lives
// there or, otherwise, on an asio::thread_pool. See the header for the
// contract.
#include "omnirelay/http/server.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <regex>
#include <thread>

#include "message_internal.h"
#include "omnirelay/config/mutex.h"
#include "tls_context.h"

namespace omnirelay::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// How long a closing connection may take to drain what the client still
// sends (so the client reads our last response rather than a reset).
constexpr std::chrono::seconds kLingerTimeout{1};
// Connections past max_connections that are still answered 503; beyond this
// many more, an accepted connection is closed at once.
constexpr std::size_t kRejectSlots = 1024;

// One thread running one io_context (concurrency hint 1: Asio's one-thread
// fast paths, no other thread to wake; its locks stay on, as the accept loop
// and the workers post into it).
struct Loop {
  std::atomic<int> connections{0};  // sessions living here
  std::atomic<bool> busy{false};    // a handler runs on this thread now
  net::io_context ioc{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
};

struct RouteEntry {
  std::string method;
  std::regex pattern;
  Handler handler;
  RouteOptions options;
};

}  // namespace

class ServerImpl {
 public:
  explicit ServerImpl(ServerOptions o) : options(std::move(o)) {
    if (!options.render_error) options.render_error = DefaultErrorRenderer;
  }

  ServerOptions options;
  std::vector<RouteEntry> routes;  // fixed once Start() ran
  std::atomic<std::size_t> open{0};
  std::atomic<bool> stopping{false};
  std::atomic<int> inline_handlers{0};  // handlers running on loop threads now
  int port = -1;

  Mutex mu;
  CondVar streams_done;
  int streams GUARDED_BY(mu) = 0;
  std::shared_ptr<ssl::context> tls GUARDED_BY(mu);
  bool started GUARDED_BY(mu) = false;
  bool shut_down GUARDED_BY(mu) = false;

  // Declared after the fields above: destroying a loop's io_context destroys
  // its sessions, whose destructors touch `open` and `streams`.
  std::vector<std::unique_ptr<Loop>> loops;  // connections live on these
  // Destroyed before `loops`: its pending accept holds a socket of one of them.
  std::unique_ptr<Loop> accept_loop;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;
  std::unique_ptr<net::thread_pool> workers;

  // Where a new connection goes: the loop with the fewest connections among
  // those not running a handler (there is always one: at most
  // `worker_threads` of the `io_threads + worker_threads` loops run one).
  Loop& Pick() {
    Loop* best = nullptr;
    for (const auto& loop : loops) {
      if (loop->busy.load()) continue;
      if (best == nullptr || loop->connections.load() < best->connections.load()) best = loop.get();
    }
    if (best != nullptr) return *best;
    best = loops.front().get();
    for (const auto& loop : loops) {
      if (loop->connections.load() < best->connections.load()) best = loop.get();
    }
    return *best;
  }

  // Claims one of the `worker_threads` slots for a handler on a loop thread.
  bool TryRunInline() {
    int busy = inline_handlers.load();
    const int slots = std::max(1, options.worker_threads);
    while (busy < slots) {
      if (inline_handlers.compare_exchange_weak(busy, busy + 1)) return true;
    }
    return false;
  }

  // The accept loop, then the connection loops.
  std::vector<Loop*> AllLoops() {
    std::vector<Loop*> all{accept_loop.get()};
    for (const auto& loop : loops) all.push_back(loop.get());
    return all;
  }

  Status Start();
  void Accept();
  void OnAccept(const error_code& ec, tcp::socket socket, Loop& target);
  void Shutdown();

  const RouteEntry* Find(Request& req) const {
    for (const RouteEntry& r : routes) {
      if (r.method != req.method) continue;
      std::smatch m;
      if (!std::regex_match(req.path, m, r.pattern)) continue;
      req.matches.clear();
      for (const auto& group : m) req.matches.push_back(group.str());
      return &r;
    }
    return nullptr;
  }
  void StreamStarted() {
    MutexLock lock(mu);
    ++streams;
  }
  void StreamEnded() {
    MutexLock lock(mu);
    --streams;
    streams_done.NotifyAll();
  }
};

namespace {

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
    ReadRequest();
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

Status ServerImpl::Start() {
  auto address = SplitHostPort(options.listen);
  if (!address.ok()) return address.status();
  std::shared_ptr<ssl::context> context;
  if (options.tls.enabled()) {
    auto made = MakeTlsContext(options.tls);
    if (!made.ok()) return made.status();
    context = std::move(made).value();
  }
  accept_loop = std::make_unique<Loop>();
  const int threads = std::max(1, options.io_threads) + std::max(1, options.worker_threads);
  for (int i = 0; i < threads; ++i) loops.push_back(std::make_unique<Loop>());
  error_code ec;
  tcp::resolver resolver(accept_loop->ioc);
  auto endpoints = resolver.resolve(address->first, std::to_string(address->second),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot resolve the listen host of " + options.listen + ": " + ec.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor.emplace(accept_loop->ioc);
  acceptor->open(endpoint.protocol(), ec);
  // SO_REUSEADDR only (a restart may bind over TIME_WAIT); never SO_REUSEPORT,
  // which would let a second server share the port silently.
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor.reset();
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + options.listen + ": " + ec.message());
  }
  port = acceptor->local_endpoint().port();
  {
    MutexLock lock(mu);
    tls = std::move(context);
    started = true;
  }
  accept_retry.emplace(accept_loop->ioc);
  workers = std::make_unique<net::thread_pool>(std::max(1, options.worker_threads));
  Accept();
  for (Loop* loop : AllLoops()) {
    loop->work.emplace(loop->ioc.get_executor());
    loop->thread = std::thread([loop] { loop->ioc.run(); });
  }
  return Status::Ok();
}

void ServerImpl::Accept() {
  // The next connection is accepted straight onto the loop that looks best
  // now (no descriptor moves between loops on the common path).
  Loop& target = Pick();
  acceptor->async_accept(target.ioc, [this, &target](const error_code& ec, tcp::socket s) {
    OnAccept(ec, std::move(s), target);
  });
}

void ServerImpl::OnAccept(const error_code& ec, tcp::socket socket, Loop& target) {
  if (stopping.load() || !acceptor->is_open()) return;
  if (ec) {
    // Out of descriptors (or a transient error): pause instead of spinning.
    accept_retry->expires_after(std::chrono::milliseconds(50));
    accept_retry->async_wait([this](const error_code&) {
      if (!stopping.load()) Accept();
    });
    return;
  }
  const std::size_t now_open = open.fetch_add(1) + 1;
  if (options.connections_open) options.connections_open->Add(1);
  const bool reject = now_open > options.limits.max_connections;
  if (now_open > options.limits.max_connections + kRejectSlots) {
    open.fetch_sub(1);
    if (options.connections_open) options.connections_open->Add(-1);
    if (options.connections_refused) options.connections_refused->Inc();
    error_code ignored;
    socket.close(ignored);
    return Accept();
  }
  error_code nodelay_ec;
  socket.set_option(tcp::no_delay(true), nodelay_ec);
  std::shared_ptr<ssl::context> context;
  {
    MutexLock lock(mu);
    context = tls;
  }
  // The connection lives on one loop for the rest of its life: the one it
  // was accepted onto, unless a handler took that loop since (then the best
  // loop now, the descriptor moved over).
  Loop* loop = &target;
  if (target.busy.load()) {
    Loop& now = Pick();
    error_code moved_ec;
    if (&now != &target) {
      const auto handle = socket.release(moved_ec);
      if (moved_ec) {
        open.fetch_sub(1);
        if (options.connections_open) options.connections_open->Add(-1);
        return Accept();
      }
      socket = tcp::socket(now.ioc, acceptor->local_endpoint().protocol(), handle);
      loop = &now;
    }
  }
  loop->connections.fetch_add(1);
  net::post(loop->ioc, [this, loop, reject, context = std::move(context),
                        socket = std::move(socket)]() mutable {
    if (context) {
      std::make_shared<TlsSession>(*this, *loop, std::move(socket), std::move(context), reject)
          ->Begin();
    } else {
      std::make_shared<PlainSession>(*this, *loop, std::move(socket), nullptr, reject)->Begin();
    }
  });
  Accept();
}

void ServerImpl::Shutdown() {
  {
    MutexLock lock(mu);
    if (shut_down || !started) {
      shut_down = true;
      return;
    }
    shut_down = true;
  }
  stopping.store(true);
  net::post(accept_loop->ioc, [this] {
    error_code ignored;
    acceptor->close(ignored);
    accept_retry->cancel();
  });
  {
    // Streams notice `stopping` at their next tick and end with their last
    // chunk; give them a moment.
    MutexLock lock(mu);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (streams > 0) {
      if (!streams_done.WaitUntil(mu, deadline)) break;
    }
  }
  for (Loop* loop : AllLoops()) {
    loop->work.reset();
    loop->ioc.stop();
  }
  for (Loop* loop : AllLoops()) {
    if (loop->thread.joinable()) loop->thread.join();
  }
  // Handlers still running post into the stopped io_contexts; harmless.
  workers->join();
  // The accept loop first: a pending accept holds the socket it would accept
  // into, which belongs to a connection loop. Then the remaining sessions,
  // closing their sockets.
  acceptor.reset();
  accept_retry.reset();
  accept_loop.reset();
  loops.clear();
}

Server::Server(ServerOptions options) : impl_(std::make_unique<ServerImpl>(std::move(options))) {}

Server::~Server() {
  Shutdown();
}

void Server::Route(std::string_view method, std::string_view pattern, Handler handler,
                   RouteOptions options) {
  impl_->routes.push_back(RouteEntry{std::string(method), std::regex(std::string(pattern)),
                                     std::move(handler), options});
}

Status Server::Start() {
  return impl_->Start();
}

int Server::port() const {
  return impl_->port;
}

Status Server::ReloadTls(const TlsConfig& tls) {
  auto made = MakeTlsContext(tls);
  if (!made.ok()) return made.status();
  MutexLock lock(impl_->mu);
  if (!impl_->tls) {
    return Status(StatusCode::kInvalidArgument, "this server was started without TLS");
  }
  impl_->tls = std::move(made).value();
  return Status::Ok();
}

void Server::Shutdown() {
  impl_->Shutdown();
}

std::size_t Server::open_connections() const {
  return impl_->open.load();
}

}  // namespace omnirelay::http
