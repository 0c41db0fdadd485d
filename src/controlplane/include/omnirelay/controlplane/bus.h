// Change events after each commit (DESIGN.md §4 Bus): {revision, scopes,
// hashes}. Every replica consumes them and wakes the node streams it holds.
// The one adapter today is in-process (bus_inproc.cc, the default); Redis
// Streams and Kafka adapters are planned (the scale-out issue).
//
// Thread safety: Publish and Subscribe may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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

class Bus {
 public:
  using Handler = std::function<void(const ChangeEvent&)>;
  virtual ~Bus() = default;
  virtual Status Publish(const ChangeEvent& event) = 0;
  // Handlers run on a bus-owned thread, in publish order; they should hand
  // heavy work elsewhere. Subscribing returns an id for Unsubscribe.
  virtual int Subscribe(Handler handler) = 0;
  virtual void Unsubscribe(int id) = 0;
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

// "inproc" (the default) or a redis:// url (above); anything else is refused
// with a clear error.
Result<std::unique_ptr<Bus>> OpenBus(std::string_view url);

}  // namespace omnirelay::cp
