// LoopbackHttpServer: a cpp-httplib server on 127.0.0.1 (any free port),
// serving on its own thread from construction to destruction — the stand-in
// for a control plane's REST face (the snapshot pull) in the relay tests.
// Routes are added by `routes` before it listens. Users link cpp-httplib.
//
// Thread safety: handlers run on the server's threads; endpoint() from any.
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace omnirelay::test_support {

class LoopbackHttpServer {
 public:
  explicit LoopbackHttpServer(const std::function<void(httplib::Server&)>& routes) {
    routes(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LoopbackHttpServer() {
    server_.stop();
    thread_.join();
  }
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace omnirelay::test_support
