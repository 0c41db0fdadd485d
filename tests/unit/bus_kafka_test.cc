// The Kafka bus (bus.h, bus_kafka.cc) against a real broker: the ctest
// fixture `kafka` (scripts/kafka-server.sh, Apache Kafka 0.9.0.1) for most
// tests, each on a topic of its own; a broker of their own for the tests that
// stop and restart it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bus_events.h"
#include "omnirelay/controlplane/bus.h"
#include "run_script.h"

namespace omnirelay::cp {
namespace {

using namespace std::chrono_literals;
using testing::Event;
using testing::Seen;
using testing_support::RunScript;

// What this old broker needs from librdkafka 2.x.
const std::vector<std::string> kOldBroker = {"api.version.request=false",
                                             "broker.version.fallback=0.9.0.1"};

// A broker of the test's own (scripts/kafka-server.sh): Stop/Start keep its
// data and port.
class Broker {
 public:
  Broker() {
    char tmpl[] = "/tmp/omni-kafka-test-XXXXXX";
    state_ = ::mkdtemp(tmpl);
    Start();
  }
  ~Broker() { RunScript(Script("destroy")); }
  void Start() { brokers_ = RunScript(Script("start")); }
  void Stop() { RunScript(Script("stop")); }
  const std::string& brokers() const { return brokers_; }

 private:
  std::string Script(const char* verb) const {
    // stdout is the brokers alone; the script's complaints go to the test's stderr.
    return std::string(OMNI_KAFKA_SERVER_SCRIPT) + " " + verb + " " + state_;
  }
  std::string state_;
  std::string brokers_;
};

// The fixture's broker (started by ctest before this binary runs).
std::string SharedBrokers() {
  std::ifstream in(std::string(OMNI_KAFKA_TEST_STATE) + "/brokers");
  std::string brokers;
  std::getline(in, brokers);
  EXPECT_FALSE(brokers.empty()) << "no " << OMNI_KAFKA_TEST_STATE
                                << "/brokers: is the ctest fixture `kafka` running?";
  return brokers;
}

std::string FreshTopic() {
  std::random_device rd;
  return "omni-test-" + std::to_string(rd()) + "-" + std::to_string(rd());
}

std::unique_ptr<Bus> Open(const std::string& brokers, const std::string& topic,
                          std::vector<std::string> extra = {},
                          std::function<void()> on_undelivered = {}) {
  BusOpenOptions o = {kOldBroker, std::move(on_undelivered)};
  o.properties.insert(o.properties.end(), extra.begin(), extra.end());
  auto bus = OpenBus("kafka://" + brokers + "/" + topic, o);
  EXPECT_TRUE(bus.ok()) << bus.status().ToString();
  return bus.ok() ? std::move(bus).value() : nullptr;
}

TEST(KafkaBusUrlTest, ParsesAndRefusesClearly) {
  auto o = ParseKafkaBusUrl("kafka://k1.local:9092,k2.local:9093/omni-events",
                            {"security.protocol=SASL_SSL", "sasl.password=hunter2=x"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->brokers, "k1.local:9092,k2.local:9093");
  EXPECT_EQ(o->topic, "omni-events");
  ASSERT_EQ(o->properties.size(), 2u);
  EXPECT_EQ(o->properties[1].first, "sasl.password");
  EXPECT_EQ(o->properties[1].second, "hunter2=x");  // only the first '=' splits
  for (const char* bad :
       {"kafka://u:hunter2@k1:9092/t", "kafka://k1:9092", "kafka://k1/t", "kafka://k1:99999/t",
        "kafka://k1:9092,/t", "kafka://k1:9092/a b", "kafka://k1:9092/"}) {
    auto refused = ParseKafkaBusUrl(bad, {});
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(refused.status().message().find("hunter2"), std::string::npos) << bad;
  }
  for (const char* bad : {"bootstrap.servers=x:1", "group.id=g", "=x", "novalue"}) {
    auto refused = ParseKafkaBusUrl("kafka://k1:9092/t", {bad});
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  // --bus-opt belongs to kafka:// alone.
  EXPECT_EQ(OpenBus("inproc", {{"linger.ms=1"}, {}}).status().code(), StatusCode::kInvalidArgument);
}

TEST(KafkaBusTest, UnknownPropertyIsRefusedAtOpen) {
  BusOpenOptions o = {kOldBroker, {}};
  o.properties.push_back("no.such.property=1");
  auto bus = OpenBus("kafka://" + SharedBrokers() + "/" + FreshTopic(), o);
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bus.status().message().find("no.such.property"), std::string::npos)
      << bus.status().message();
}

// Nothing listens: refused (after the bounded wait for the topic), naming the brokers.
TEST(KafkaBusTest, UnreachableBrokersAreRefusedAtOpen) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  const std::string brokers = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto bus = OpenBus("kafka://" + brokers + "/events", {kOldBroker, {}});
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(bus.status().message().find(brokers), std::string::npos) << bus.status().message();
}

// Each replica hands its own events to its handlers once and everyone
// else's as it consumes them, in order and with every field intact.
TEST(KafkaBusTest, ReplicasSeeEachOthersEventsOnce) {
  const std::string brokers = SharedBrokers();
  const std::string topic = FreshTopic();
  Seen seen_a, seen_b;  // before the buses: their threads end first
  auto a = Open(brokers, topic);
  auto b = Open(brokers, topic);
  ASSERT_TRUE(a && b);
  a->Subscribe([&](const ChangeEvent& e) { seen_a.Add(e); });
  b->Subscribe([&](const ChangeEvent& e) { seen_b.Add(e); });
  ASSERT_TRUE(a->Publish(Event(7)).ok());
  ASSERT_TRUE(a->Publish(Event(8)).ok());
  ASSERT_TRUE(b->Publish(Event(9)).ok());
  // A last event from each side after the others: once each replica has the
  // other's last one, anything earlier has arrived (one partition: the topic
  // is auto-created with the broker's default of one).
  ASSERT_TRUE(b->Publish(Event(10)).ok());
  ASSERT_TRUE(a->Publish(Event(11)).ok());
  ASSERT_TRUE(seen_a.WaitFor(5));
  ASSERT_TRUE(seen_b.WaitFor(5));
  std::this_thread::sleep_for(300ms);  // an echo of one's own would come now
  auto sorted = [](std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(seen_a.revisions()), (std::vector<std::int64_t>{7, 8, 9, 10, 11}));
  EXPECT_EQ(sorted(seen_b.revisions()), (std::vector<std::int64_t>{7, 8, 9, 10, 11}));
  std::vector<ChangeEvent> from_a;
  for (const auto& e : seen_b.events()) {
    if (e.revision == 7 || e.revision == 8 || e.revision == 11) from_a.push_back(e);
  }
  ASSERT_EQ(from_a.size(), 3u);
  EXPECT_EQ(from_a[0].revision, 7);
  EXPECT_EQ(from_a[1].revision, 8);
  EXPECT_EQ(from_a[2].revision, 11);
  EXPECT_EQ(from_a[1].scopes, Event(8).scopes);
  EXPECT_EQ(from_a[1].hashes, Event(8).hashes);
  EXPECT_EQ(from_a[1].revoked_tokens, std::vector<std::string>{"tok-1"});
}

// A replica that joins later starts at the end: it is not handed the
// topic's history (the store holds the state; events are only wake-ups).
TEST(KafkaBusTest, ALateReplicaStartsAtTheEnd) {
  const std::string brokers = SharedBrokers();
  const std::string topic = FreshTopic();
  auto a = Open(brokers, topic);
  ASSERT_TRUE(a);
  Seen seen_witness;
  auto witness = Open(brokers, topic);
  ASSERT_TRUE(witness);
  witness->Subscribe([&](const ChangeEvent& e) { seen_witness.Add(e); });
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(a->Publish(Event(i)).ok());
  ASSERT_TRUE(seen_witness.WaitFor(3));  // 1-3 are in the topic
  Seen seen_late;
  auto late = Open(brokers, topic);
  ASSERT_TRUE(late);
  late->Subscribe([&](const ChangeEvent& e) { seen_late.Add(e); });
  ASSERT_TRUE(a->Publish(Event(4)).ok());
  ASSERT_TRUE(seen_late.WaitFor(1));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(seen_late.revisions(), (std::vector<std::int64_t>{4}));
}

// The broker restarted: events published while it was down wait in the
// producer's queue (within message.timeout.ms) and the publisher's own
// handlers get them at once; the consumer reconnects and resumes from its
// position — nothing is lost and nothing handed on twice.
TEST(KafkaBusRestartTest, BrokerRestartedConsumerResumesWithoutLoss) {
  Broker broker;
  const std::string topic = FreshTopic();
  Seen seen_a, seen_b;
  auto a = Open(broker.brokers(), topic, {"message.timeout.ms=60000"});
  auto b = Open(broker.brokers(), topic);
  ASSERT_TRUE(a && b);
  a->Subscribe([&](const ChangeEvent& e) { seen_a.Add(e); });
  b->Subscribe([&](const ChangeEvent& e) { seen_b.Add(e); });
  ASSERT_TRUE(a->Publish(Event(1)).ok());
  ASSERT_TRUE(seen_b.WaitFor(1));

  broker.Stop();
  ASSERT_TRUE(a->Publish(Event(2)).ok());  // queued, not refused
  ASSERT_TRUE(seen_a.WaitFor(2));          // its own handlers got it regardless
  broker.Start();
  ASSERT_TRUE(a->Publish(Event(3)).ok());
  ASSERT_TRUE(seen_b.WaitFor(3, 60s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(seen_b.revisions(), (std::vector<std::int64_t>{1, 2, 3}));
}

// An event the brokers do not take within message.timeout.ms is counted
// through on_undelivered; Publish itself never waits for Kafka.
TEST(KafkaBusRestartTest, UndeliveredEventsAreCounted) {
  Broker broker;
  std::atomic<int> undelivered{0};
  auto a = Open(broker.brokers(), FreshTopic(), {"message.timeout.ms=1000"},
                [&] { undelivered.fetch_add(1); });
  ASSERT_TRUE(a);
  broker.Stop();
  const auto before = std::chrono::steady_clock::now();
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(a->Publish(Event(i)).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - before, 500ms);
  for (int i = 0; i < 200 && undelivered.load() < 3; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(undelivered.load(), 3);
}

}  // namespace
}  // namespace omnirelay::cp
