// SloRecorder under contention (run it under the tsan preset): threads record
// outcomes across a version swap while another thread takes windows; every
// outcome is in exactly one taken window — the sums match what was recorded,
// and every window is self-consistent (errors <= requests, histogram total =
// requests).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/relay/slo_recorder.h"

namespace omnirelay::relay {
namespace {

TEST(SloRecorderConcurrencyTest, TakesWhileRecordingLoseAndDoubleNothing) {
  SloRecorder recorder(SystemClock::Instance());
  constexpr int kThreads = 6;
  constexpr int kPerThread = 40'000;
  std::atomic<int> running{kThreads};
  // The swap waits for one take, so a take always overlaps recording (on a
  // loaded machine the threads could otherwise finish before the first).
  std::atomic<bool> taken{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Halfway through, "the swap": the thread's requests move to v2.
        if (i == kPerThread / 2) {
          while (!taken.load()) std::this_thread::yield();
        }
        const std::int64_t version = i < kPerThread / 2 ? 1 : 2;
        recorder.Record(version, (i + t) % 4 == 0, static_cast<double>(i % 700));
      }
      running.fetch_sub(1);
    });
  }
  std::uint64_t requests[3] = {0, 0, 0};
  std::uint64_t errors = 0;
  std::uint64_t takes = 0;
  auto take = [&] {
    for (const SloReport& r : recorder.TakeWindow()) {
      ASSERT_TRUE(r.config_version == 1 || r.config_version == 2) << r.config_version;
      ASSERT_LE(r.window.errors, r.window.requests);
      ASSERT_EQ(r.window.latency.Total(), r.window.requests);
      requests[r.config_version] += r.window.requests;
      errors += r.window.errors;
    }
    ++takes;
    taken.store(true);
  };
  do {
    take();
  } while (running.load() > 0);
  for (auto& t : threads) t.join();
  take();
  EXPECT_EQ(requests[1], std::uint64_t{kThreads} * kPerThread / 2);
  EXPECT_EQ(requests[2], std::uint64_t{kThreads} * kPerThread / 2);
  EXPECT_EQ(errors, std::uint64_t{kThreads} * kPerThread / 4);
  EXPECT_EQ(recorder.dropped(), 0u);
  EXPECT_GT(takes, 1u);
}

}  // namespace
}  // namespace omnirelay::relay
