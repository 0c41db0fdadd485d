// Eventually: polls a predicate until it holds or a timeout passes, for state
// another thread or process updates asynchronously (counters, coalesced
// status writes, a child process's answers). The one polling wait of the tests.
#pragma once

#include <chrono>
#include <thread>

namespace omnirelay::test_support {

template <typename Pred>
bool Eventually(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(20),
                std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace omnirelay::test_support
