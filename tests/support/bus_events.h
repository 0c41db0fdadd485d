// What the shared-bus tests (Redis, Kafka) record and publish: one
// replica's handler log and a change event with every field set.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/bus.h"

namespace omnirelay::cp::testing {

// What one replica's handler saw.
class Seen {
 public:
  void Add(const ChangeEvent& e) {
    MutexLock lock(mu_);
    events_.push_back(e);
  }
  std::vector<ChangeEvent> events() const {
    MutexLock lock(mu_);
    return events_;
  }
  std::vector<std::int64_t> revisions() const {
    std::vector<std::int64_t> out;
    for (const auto& e : events()) out.push_back(e.revision);
    return out;
  }
  bool WaitFor(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (events().size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  mutable Mutex mu_;
  std::vector<ChangeEvent> events_ GUARDED_BY(mu_);
};

inline ChangeEvent Event(std::int64_t revision) {
  ChangeEvent e;
  e.revision = revision;
  e.scopes = {"global", "region:eu-west"};
  e.hashes = {"sha256:aa", ""};
  e.revoked_tokens =
      revision % 2 == 0 ? std::vector<std::string>{"tok-1"} : std::vector<std::string>{};
  return e;
}

}  // namespace omnirelay::cp::testing
