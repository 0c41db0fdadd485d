// The in-process change bus.
#include "omnirelay/controlplane/bus.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

namespace omnirelay::cp {
namespace {

struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::int64_t> revisions;
  void Add(const ChangeEvent& e) {
    std::lock_guard lock(mu);
    revisions.push_back(e.revision);
    cv.notify_all();
  }
  bool WaitFor(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return revisions.size() >= n; });
  }
};

// Every subscriber gets every event, in publish order.
TEST(InprocBusTest, DeliversInOrderToEverySubscriber) {
  auto bus = MakeInprocBus();
  Collector a, b;
  bus->Subscribe([&](const ChangeEvent& e) { a.Add(e); });
  bus->Subscribe([&](const ChangeEvent& e) { b.Add(e); });
  for (std::int64_t r = 1; r <= 100; ++r) ASSERT_TRUE(bus->Publish({r, {"global"}, {}, {}}).ok());
  ASSERT_TRUE(a.WaitFor(100));
  ASSERT_TRUE(b.WaitFor(100));
  for (std::int64_t r = 1; r <= 100; ++r) {
    EXPECT_EQ(a.revisions[r - 1], r);
    EXPECT_EQ(b.revisions[r - 1], r);
  }
}

// An unsubscribed handler gets nothing more.
TEST(InprocBusTest, UnsubscribeStopsDelivery) {
  auto bus = MakeInprocBus();
  Collector kept, dropped;
  bus->Subscribe([&](const ChangeEvent& e) { kept.Add(e); });
  const int id = bus->Subscribe([&](const ChangeEvent& e) { dropped.Add(e); });
  ASSERT_TRUE(bus->Publish({1, {}, {}, {}}).ok());
  ASSERT_TRUE(kept.WaitFor(1));
  ASSERT_TRUE(dropped.WaitFor(1));
  bus->Unsubscribe(id);
  ASSERT_TRUE(bus->Publish({2, {}, {}, {}}).ok());
  ASSERT_TRUE(kept.WaitFor(2));
  std::lock_guard lock(dropped.mu);
  EXPECT_EQ(dropped.revisions.size(), 1u);
}

// Only inproc is available; other URLs explain themselves.
TEST(InprocBusTest, OpenBusUrls) {
  EXPECT_TRUE(OpenBus("inproc").ok());
  EXPECT_EQ(OpenBus("redis://127.0.0.1:6379").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenBus("carrier-pigeon").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace omnirelay::cp
