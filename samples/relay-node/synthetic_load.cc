#include "synthetic_load.h"

#include <httplib.h>

#include <chrono>

namespace omnirelay::relay_node {

SyntheticLoad::~SyntheticLoad() {
  Stop();
}

void SyntheticLoad::Start(int port, std::string route, double rps) {
  if (rps <= 0 || sender_.joinable()) return;
  sender_ = std::thread([this, port, route = std::move(route), rps] { Run(port, route, rps); });
}

void SyntheticLoad::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
    cv_.NotifyAll();
  }
  if (sender_.joinable()) sender_.join();
}

void SyntheticLoad::Run(int port, const std::string& route, double rps) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_connection_timeout(1);
  client.set_read_timeout(2);
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / rps));
  auto next = std::chrono::steady_clock::now();
  for (std::uint64_t n = 0;; ++n) {
    // The answer does not matter here: the node records it.
    (void)client.Get("/route?route=" + httplib::detail::encode_query_param(route) +
                     "&key=synthetic-" + std::to_string(n));
    next += period;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // fell behind (a slow answer): no burst to catch up
    MutexLock lock(mu_);
    while (!stopping_) {
      if (!cv_.WaitUntil(mu_, next)) break;
    }
    if (stopping_) return;
  }
}

}  // namespace omnirelay::relay_node
