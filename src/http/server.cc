// The event-driven server behind omnirelay/http/server.h: one
// single-threaded Asio io_context per I/O thread (a Loop), an accept loop of
// its own, one Session per connection (plain or TLS) living on one Loop for
// its whole life, handlers on that Loop's thread when nothing else lives
// there or, otherwise, on an asio::thread_pool. See the header for the
// contract.
#include "omnirelay/http/server.h"

#include "server_impl.h"
#include "tls_context.h"

namespace omnirelay::http {

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
    StartSession(*this, *loop, std::move(socket), std::move(context), reject);
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
