// AppliedSnapshot: one verified snapshot as a node applied it (decoded
// document, exact signed bytes, envelope, content id), plus the state each
// listener derived from it (config_listener.h).
//
// The state listeners derive travels inside the snapshot, so a reader that got
// a snapshot from ConfigHost::Current() finds that snapshot's routing tables
// and caches right there: derived state is tagged by generation by
// construction and can never be read against another snapshot.
//
// Thread safety: immutable once a ConfigHost publishes it; any number of
// threads may read one at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "omnirelay/config/model.h"

namespace omnirelay::relay {

class ConfigHost;

// A typed handle to the state one listener attaches to each snapshot
// (ConfigHost::AddStateListener returns it).
template <typename T>
class StateSlot {
 public:
  StateSlot() = default;  // attached to nothing: AppliedSnapshot::state() gives null
  std::size_t index() const { return index_; }

 private:
  friend class ConfigHost;
  explicit StateSlot(std::size_t index) : index_(index) {}
  std::size_t index_ = std::numeric_limits<std::size_t>::max();
};

class AppliedSnapshot {
  struct Private {
    explicit Private() = default;
  };

 public:
  // The parts verification produces; ConfigHost assembles snapshots from them.
  struct Parts {
    Snapshot snapshot;     // decoded and validated
    std::string payload;   // the exact signed bytes
    std::string envelope;  // the DSSE envelope JSON as received
    std::string hash;      // "sha256:<hex>" of payload
    std::string key_id;    // the key whose signature verified
  };

  AppliedSnapshot(Private, Parts parts, std::uint64_t generation)
      : parts_(std::move(parts)), generation_(generation) {}

  const Snapshot& snapshot() const { return parts_.snapshot; }
  const Spec& spec() const { return parts_.snapshot.spec; }
  std::int64_t version() const { return parts_.snapshot.metadata.version; }
  std::int64_t expires_at_ms() const { return parts_.snapshot.metadata.expires_at * 1000; }
  // The publishing host's swap counter: 1 for its first snapshot, +1 per swap.
  std::uint64_t generation() const { return generation_; }
  const std::string& hash() const { return parts_.hash; }
  const std::string& payload() const { return parts_.payload; }
  const std::string& envelope() const { return parts_.envelope; }
  const std::string& key_id() const { return parts_.key_id; }

  // The state the slot's listener prepared for this snapshot; null when the
  // listener attached none or was added after this snapshot was replaced.
  template <typename T>
  const T* state(StateSlot<T> slot) const {
    return static_cast<const T*>(state(slot.index()));
  }
  const void* state(std::size_t slot_index) const {
    return slot_index < states_.size() ? states_[slot_index].get() : nullptr;
  }

 private:
  friend class ConfigHost;

  Parts parts_;
  std::uint64_t generation_;
  // One per listener, by slot index; filled before publication, then frozen.
  std::vector<std::shared_ptr<const void>> states_;
};

}  // namespace omnirelay::relay
