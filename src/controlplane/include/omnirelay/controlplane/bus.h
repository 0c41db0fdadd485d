// Change events after each commit (DESIGN.md §4 Bus): {revision, scopes,
// hashes}. Every replica consumes them and wakes the node streams it holds.
// Adapters: in-process (bus_inproc.cc, the default, one replica), Redis
// Streams (bus_redis.cc) and Kafka (bus_kafka.cc), shared by a cell's replicas.
//
// Thread safety: Publish and Subscribe may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "omnirelay/config/status.h"

namespace omnirelay::cp {

struct ChangeEvent {
  std::int64_t revision = 0;
  std::vector<std::string> scopes;  // the scopes whose layers changed
  // One per entry of `scopes`, in the same order: the content id
  // ("sha256:<hex>", digest.h ContentId) of the layer document the commit
  // wrote for that scope, or "" when it deleted the layer. (Snapshots are
  // rendered per chain after the commit, so their hashes are not known here;
  // a consumer compares these to skip a layer it has already seen.)
  std::vector<std::string> hashes;
  // Tokens revoked by this commit: every replica ends the node streams that
  // were opened with them.
  std::vector<std::string> revoked_tokens;
};

// The help text of omnirelay_cp_bus_publish_failures_total, counted by the
// service (a publish refused at once) and by the daemon (an event a shared bus
// took but could not deliver).
inline constexpr const char* kBusPublishFailuresHelp =
    "Change events other replicas may have missed: refused by the bus, or not delivered in time";

class Bus {
 public:
  using Handler = std::function<void(const ChangeEvent&)>;
  virtual ~Bus() = default;
  virtual Status Publish(const ChangeEvent& event) = 0;
  // Handlers run on a bus-owned thread, in publish order; they should hand
  // heavy work elsewhere. Subscribing returns an id for Unsubscribe.
  virtual int Subscribe(Handler handler) = 0;
  virtual void Unsubscribe(int id) = 0;
  // Hands `event` to this process's handlers only, never to other replicas:
  // the store poll's repair of an event this replica missed (store_poll.h).
  // A bus of one process publishes it.
  virtual void DeliverLocally(const ChangeEvent& event) { (void)Publish(event); }
};

// The embedded default: one process, one dispatcher thread.
std::unique_ptr<Bus> MakeInprocBus();

// The Redis Streams bus (bus_redis.cc): the replicas of a cell share one
// stream; each hands its own events to its handlers at once and everyone
// else's as it reads them.
struct RedisBusOptions {
  std::string host;
  int port = 6379;
  std::string password;  // AUTH when set; never logged or echoed
  std::string stream;
  // XADD MAXLEN ~ this: the stream keeps about the newest this many events.
  long long max_length = 10'000;
};
// redis://[:password@]host:port/stream[?maxlen=N]
Result<RedisBusOptions> ParseRedisBusUrl(std::string_view url);
// Connects (refused at once when the server cannot be reached or refuses
// AUTH) and starts reading the stream from its current end.
Result<std::unique_ptr<Bus>> OpenRedisBus(const RedisBusOptions& options);

// The Kafka bus (bus_kafka.cc): the replicas of a cell share one topic; each
// produces its events (keyed by its origin, so one replica's events keep their
// order) and consumes every partition from the end it found at start.
struct KafkaBusOptions {
  std::string brokers;  // host:port[,host:port...]
  std::string topic;
  // librdkafka properties (--bus-opt key=value), applied over the bus's
  // defaults; values are never logged or echoed (they may be credentials).
  std::vector<std::pair<std::string, std::string>> properties;
  // Called (on a bus thread) for each event the brokers did not take in time.
  std::function<void()> on_undelivered;
};
// kafka://host:port[,host:port...]/topic, plus "key=value" properties.
Result<KafkaBusOptions> ParseKafkaBusUrl(std::string_view url,
                                         const std::vector<std::string>& properties);
// Checks every property, reads the topic's partitions (creating the topic
// where the brokers auto-create; up to 10 s) and their current ends: refused
// when the brokers cannot be reached or a property is wrong.
Result<std::unique_ptr<Bus>> OpenKafkaBus(const KafkaBusOptions& options);

struct BusOpenOptions {
  std::vector<std::string> properties;   // --bus-opt key=value (kafka:// only)
  std::function<void()> on_undelivered;  // kafka:// only (above)
};
// "inproc" (the default), a redis:// or a kafka:// url (above); anything else
// is refused with a clear error.
Result<std::unique_ptr<Bus>> OpenBus(std::string_view url, const BusOpenOptions& options = {});

}  // namespace omnirelay::cp
