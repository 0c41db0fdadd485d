// SyntheticLoad: the node sends itself /route requests on loopback, so a demo
// of the rollout gates needs no load generator. Each request goes through
// the node's own HTTP face like any other (and so is recorded as an outcome
// of the version that routed it). Keys vary ("synthetic-<n>") so weighted
// routes spread over their clusters.
//
// Thread safety: Start, Stop and the destructor one at a time (any thread;
// relay-node stops it from its signal waiter); one sender thread inside.
// Stop ends it promptly, after the request in flight (timeouts 1 s connect,
// 2 s read).
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "omnirelay/config/mutex.h"

namespace omnirelay::relay_node {

class SyntheticLoad {
 public:
  SyntheticLoad() = default;
  ~SyntheticLoad();
  SyntheticLoad(const SyntheticLoad&) = delete;
  SyntheticLoad& operator=(const SyntheticLoad&) = delete;

  // About `rps` requests per second of GET /route?route=<route>&key=... to
  // 127.0.0.1:<port>, until Stop(). rps <= 0: nothing.
  void Start(int port, std::string route, double rps);
  void Stop();

 private:
  void Run(int port, const std::string& route, double rps);

  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread sender_;
};

}  // namespace omnirelay::relay_node
