// A loopback TCP proxy for the relay integration tests: sits between relays
// and the control plane's gRPC port so a test can cut every stream (and
// refuse new ones) while the daemon itself keeps running.
//
// Thread safety: every method from any thread; one internal poll thread.
#pragma once

#include <atomic>
#include <thread>
#include <vector>

namespace omnirelay::relay::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // Blocked: every open connection is closed now, new ones at once after accept.
  void SetBlocked(bool blocked);
  int open_connections() const;

 private:
  struct Pair {
    int client = -1;
    int server = -1;
  };
  void Loop();
  void ClosePair(Pair& pair);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> blocked_{false};
  std::atomic<bool> cut_{false};
  std::vector<Pair> pairs_;   // the loop thread's alone
  std::atomic<int> open_{0};  // pairs_.size(), published by the loop thread
  std::thread thread_;
};

}  // namespace omnirelay::relay::testing
