// The in-process change bus.
#include "omnirelay/controlplane/bus.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "omnirelay/config/mutex.h"

namespace omnirelay::cp {
namespace {

class Collector {
 public:
  void Add(const ChangeEvent& e) {
    MutexLock lock(mu_);
    revisions_.push_back(e.revision);
    cv_.NotifyAll();
  }
  // Waits up to 5 s for `n` events.
  bool WaitFor(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    MutexLock lock(mu_);
    while (revisions_.size() < n) {
      if (!cv_.WaitUntil(mu_, deadline)) return revisions_.size() >= n;
    }
    return true;
  }
  std::vector<std::int64_t> revisions() {
    MutexLock lock(mu_);
    return revisions_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::vector<std::int64_t> revisions_ GUARDED_BY(mu_);
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
  const std::vector<std::int64_t> got_a = a.revisions(), got_b = b.revisions();
  for (std::int64_t r = 1; r <= 100; ++r) {
    EXPECT_EQ(got_a[r - 1], r);
    EXPECT_EQ(got_b[r - 1], r);
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
  EXPECT_EQ(dropped.revisions().size(), 1u);
}

// inproc and redis:// (bus_redis_test.cc) are available; other URLs explain
// themselves.
TEST(InprocBusTest, OpenBusUrls) {
  EXPECT_TRUE(OpenBus("inproc").ok());
  EXPECT_EQ(OpenBus("redis://127.0.0.1:6379").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenBus("carrier-pigeon").status().code(), StatusCode::kInvalidArgument);
  // Refusals never quote credentials in the url.
  for (const char* url : {"kafka://u:hunter2@b/t", "amqp://u:hunter2@b", "redis://:hunter2@b/s",
                          "redis//:hunter2@b:1/s"}) {
    const Status s = OpenBus(url).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << url;
    EXPECT_EQ(s.message().find("hunter2"), std::string::npos) << s.message();
  }
  // A Redis server that cannot be reached (port 1: nothing listens there).
  const Status down = OpenBus("redis://:hunter2@127.0.0.1:1/s").status();
  EXPECT_EQ(down.code(), StatusCode::kUnavailable) << down.ToString();
  EXPECT_EQ(down.message().find("hunter2"), std::string::npos) << down.message();
}

}  // namespace
}  // namespace omnirelay::cp
