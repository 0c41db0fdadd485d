// The Redis Streams bus (bus.h, bus_redis.cc) against a real redis-server
// this test starts on a loopback port (append-only file on, so a restart
// keeps the stream), one server per test.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bus_events.h"
#include "omnirelay/controlplane/bus.h"
#include "redis_server.h"

namespace omnirelay::cp {
namespace {

using namespace std::chrono_literals;
using testing::Event;
using testing::FreePort;
using testing::RedisServer;
using testing::Seen;

std::unique_ptr<Bus> Open(const RedisServer& server, const std::string& stream,
                          const std::string& query = "") {
  auto bus = OpenBus("redis://127.0.0.1:" + std::to_string(server.port()) + "/" + stream + query);
  EXPECT_TRUE(bus.ok()) << bus.status().ToString();
  return bus.ok() ? std::move(bus).value() : nullptr;
}

TEST(RedisBusUrlTest, ParsesAndRefusesClearly) {
  auto o = ParseRedisBusUrl("redis://:s3cret@cache.local:6380/omni-events?maxlen=500");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->host, "cache.local");
  EXPECT_EQ(o->port, 6380);
  EXPECT_EQ(o->password, "s3cret");
  EXPECT_EQ(o->stream, "omni-events");
  EXPECT_EQ(o->max_length, 500);
  EXPECT_EQ(ParseRedisBusUrl("redis://127.0.0.1:6379/s")->max_length, 10'000);
  for (const char* bad : {"redis://:s3cret@host:6379", "redis://:s3cret@host/stream",
                          "redis://:s3cret@host:99999/stream", "redis://:s3cret@host:1/s?x=1",
                          "redis://:s3cret@host:1/s?maxlen=0"}) {
    auto refused = ParseRedisBusUrl(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(refused.status().message().find("s3cret"), std::string::npos) << bad;
  }
}

TEST(RedisBusTest, UnreachableServerIsRefusedAtOpen) {
  auto bus = OpenBus("redis://127.0.0.1:" + std::to_string(FreePort()) + "/events");
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(bus.status().message().find("127.0.0.1"), std::string::npos) << bus.status().message();
}

// Two replicas a and b on one stream, each recording what its handlers get.
class TwoReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a = Open(server, "events");
    b = Open(server, "events");
    ASSERT_TRUE(a && b);
    a->Subscribe([this](const ChangeEvent& e) { seen_a.Add(e); });
    b->Subscribe([this](const ChangeEvent& e) { seen_b.Add(e); });
  }

  RedisServer server;
  Seen seen_a, seen_b;  // before the buses: their reader threads end first
  std::unique_ptr<Bus> a, b;
};

// Each replica hands its own events to its handlers once and everyone
// else's as it reads them, with every field intact.
TEST_F(TwoReplicasTest, ReplicasSeeEachOthersEventsOnce) {
  ASSERT_TRUE(a->Publish(Event(7)).ok());
  ASSERT_TRUE(a->Publish(Event(8)).ok());
  ASSERT_TRUE(b->Publish(Event(9)).ok());
  // A last event from each side: in stream order it comes after any echo of
  // one's own, so once it arrived nothing earlier can still come.
  ASSERT_TRUE(b->Publish(Event(10)).ok());
  ASSERT_TRUE(a->Publish(Event(11)).ok());
  ASSERT_TRUE(seen_a.WaitFor(5));
  ASSERT_TRUE(seen_b.WaitFor(5));
  auto sorted = [](std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(seen_a.revisions()), (std::vector<std::int64_t>{7, 8, 9, 10, 11}));
  EXPECT_EQ(sorted(seen_b.revisions()), (std::vector<std::int64_t>{7, 8, 9, 10, 11}));
  // Another replica's events keep their order and every field.
  std::vector<ChangeEvent> from_a;
  for (const auto& e : seen_b.events()) {
    if (e.revision == 7 || e.revision == 8) from_a.push_back(e);
  }
  ASSERT_EQ(from_a.size(), 2u);
  EXPECT_EQ(from_a[0].revision, 7);
  EXPECT_EQ(from_a[1].scopes, Event(8).scopes);
  EXPECT_EQ(from_a[1].hashes, Event(8).hashes);
  EXPECT_EQ(from_a[1].revoked_tokens, std::vector<std::string>{"tok-1"});
}

// The server restarted: publishes fail (kUnavailable) while it is down but
// the publisher's own handlers still get them; once it is back, a reader that
// was cut off resumes after the last entry it handed on and loses nothing
// appended since.
TEST_F(TwoReplicasTest, ServerRestartedReaderResumesWithoutLoss) {
  ASSERT_TRUE(a->Publish(Event(1)).ok());
  ASSERT_TRUE(seen_b.WaitFor(1));

  server.Stop();
  const Status down = a->Publish(Event(2));
  EXPECT_EQ(down.code(), StatusCode::kUnavailable) << down.ToString();
  ASSERT_TRUE(seen_a.WaitFor(2));  // its own handlers got it regardless
  server.Start();                  // the append-only file brings event 1 back

  // Appended as soon as the publisher reconnects, maybe before the reader does.
  Status published;
  for (int i = 0; i < 100; ++i) {
    published = a->Publish(Event(3));
    if (published.ok()) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(published.ok()) << published.ToString();
  ASSERT_TRUE(a->Publish(Event(4)).ok());
  ASSERT_TRUE(seen_b.WaitFor(3));
  // Event 2 was never in the stream (the repair is the feed's timed refresh);
  // 3 and 4 arrive once each, in order, and 1 is not handed on again (4 is
  // the stream's last entry: nothing can follow it).
  EXPECT_EQ(seen_b.revisions(), (std::vector<std::int64_t>{1, 3, 4}));
}

// A stream whose server came back empty (no persistence) is read from its
// start, so a reader positioned past it misses nothing new.
TEST(RedisBusTest, StreamRecreatedBelowTheReaderIsReadFromItsStart) {
  RedisServer server;
  auto a = Open(server, "events");
  auto b = Open(server, "events");
  ASSERT_TRUE(a && b);
  Seen seen_b;
  b->Subscribe([&](const ChangeEvent& e) { seen_b.Add(e); });
  ASSERT_TRUE(a->Publish(Event(1)).ok());
  ASSERT_TRUE(seen_b.WaitFor(1));
  // The same server, the stream deleted and written again from a low id.
  ASSERT_EQ(server.Integer({"DEL", "events"}), 1);
  ASSERT_GT(server.Integer({"CLIENT", "KILL", "TYPE", "normal"}), 0);  // every reader reconnects
  redisContext* c = redisConnect("127.0.0.1", server.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  auto* r = static_cast<redisReply*>(redisCommand(
      c, "XADD events 1-1 origin other event {\"revision\":5,\"scopes\":[\"global\"]}"));
  ASSERT_TRUE(r != nullptr && r->type == REDIS_REPLY_STRING);
  freeReplyObject(r);
  redisFree(c);
  ASSERT_TRUE(seen_b.WaitFor(2));
  EXPECT_EQ(seen_b.revisions(), (std::vector<std::int64_t>{1, 5}));
}

// XADD trims the stream to about maxlen entries.
TEST(RedisBusTest, StreamLengthIsBounded) {
  RedisServer server;
  auto a = Open(server, "events", "?maxlen=10");
  ASSERT_TRUE(a);
  for (int i = 1; i <= 400; ++i) ASSERT_TRUE(a->Publish(Event(i)).ok());
  const long long length = server.Integer({"XLEN", "events"});
  EXPECT_GT(length, 0);
  EXPECT_LE(length, 110);  // "~": trimmed by whole nodes of 100 entries
}

}  // namespace
}  // namespace omnirelay::cp
