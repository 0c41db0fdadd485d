// NodeWorkers (node_workers.h): tasks run on the pool, a fan-out's slices
// queued together start together, nothing runs after Stop.
#include "node_workers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

namespace omnirelay::cp {
namespace {

// SubmitAll queues every slice and wakes the workers: with two workers,
// two slices that each wait for the other run at once (a slice left
// unqueued, or a worker left asleep, fails it after 10 s). What SubmitAll
// adds over two Submits (no preemption of the submitter between them) is
// not something a test can provoke reliably.
TEST(NodeWorkersTest, SlicesSubmittedTogetherRunSideBySide) {
  NodeWorkers workers(2);
  // Both workers asleep, waiting for work: each slice must wake one.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::atomic<int> arrived{0};
  std::atomic<int> together{0};
  auto slice = [&] {
    arrived.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (arrived.load() < 2 && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    if (arrived.load() == 2) together.fetch_add(1);
  };
  std::vector<std::function<void()>> tasks = {slice, slice};
  ASSERT_TRUE(workers.SubmitAll(std::move(tasks)));
  workers.Stop();  // runs what is queued, then joins
  EXPECT_EQ(arrived.load(), 2);
  EXPECT_EQ(together.load(), 2);
}

// A pool of 0 threads runs the slices on the caller, in order; a stopped
// pool drops them and says so.
TEST(NodeWorkersTest, InlinePoolRunsSlicesInOrderAndAStoppedOneRefuses) {
  NodeWorkers inline_pool(0);
  std::vector<int> order;
  std::vector<std::function<void()>> tasks = {[&] { order.push_back(1); },
                                              [&] { order.push_back(2); }};
  ASSERT_TRUE(inline_pool.SubmitAll(std::move(tasks)));
  EXPECT_EQ(order, (std::vector<int>{1, 2}));

  NodeWorkers pool(1);
  pool.Stop();
  bool ran = false;
  std::vector<std::function<void()>> late = {[&] { ran = true; }};
  EXPECT_FALSE(pool.SubmitAll(std::move(late)));
  EXPECT_FALSE(pool.Submit([&] { ran = true; }));
  EXPECT_FALSE(ran);
}

// A fan-out's slices: one per worker at most, none under the minimum, and
// together they cover every item once, in order.
TEST(NodeWorkersTest, SlicesCoverEveryItemOnce) {
  NodeWorkers two(2);
  EXPECT_EQ(two.SliceCount(0, 64), 0u);
  EXPECT_EQ(two.SliceCount(1, 64), 1u);
  EXPECT_EQ(two.SliceCount(64, 64), 1u);
  EXPECT_EQ(two.SliceCount(65, 64), 2u);
  EXPECT_EQ(two.SliceCount(5000, 64), 2u);
  two.Stop();

  NodeWorkers inline_pool(0);
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  ASSERT_TRUE(inline_pool.SubmitSlices(
      10, 3, [&](std::size_t begin, std::size_t end) { ranges.emplace_back(begin, end); }));
  EXPECT_EQ(ranges, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 3}, {3, 6}, {6, 10}}));
}

}  // namespace
}  // namespace omnirelay::cp
