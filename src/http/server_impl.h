// omni_http's internals shared by server.cc (the loops, accepting, shutdown)
// and session.cc (one connection): the server's state and its loops. Boost
// stays in src/http; nothing outside this library includes this header.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <optional>
#include <regex>
#include <thread>
#include <utility>

#include "message_internal.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/http/server.h"

namespace omnirelay::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

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
    auto rank = [](const Loop& l) {
      return std::pair(l.busy.load(), l.connections.load());  // idle first, then fewest
    };
    Loop* best = loops.front().get();
    for (const auto& loop : loops) {
      if (rank(*loop) < rank(*best)) best = loop.get();
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

// Starts serving an accepted connection; on `loop`'s thread.
void StartSession(ServerImpl& server, Loop& loop, tcp::socket socket,
                  std::shared_ptr<ssl::context> tls, bool reject);

}  // namespace omnirelay::http
