// What the shared buses (Redis Streams, Kafka) put on the wire for a change
// event, and the random name a replica tags its own events with so that it
// does not hand them to its handlers twice. Internal to the bus adapters.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "omnirelay/controlplane/bus.h"

namespace omnirelay::cp::bus_codec {

// {"revision":N,"scopes":[...],"hashes":[...],"revokedTokens":[...]}
std::string EventToJson(const ChangeEvent& event);
// nullopt for text that is not such an object.
std::optional<ChangeEvent> EventFromJson(std::string_view text);
// 16 hex digits from the OS's random source.
std::string RandomOrigin();

}  // namespace omnirelay::cp::bus_codec
