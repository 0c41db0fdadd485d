// The store poll: the repair of a change event this replica missed.
//
// Replicas of a cell learn of each other's commits from the bus. A bus can
// lose an event (the Redis or Kafka server was down when it was published);
// the store cannot. Every `interval` the poll reads the store's head
// revision; a head this replica has neither committed nor heard of on the bus
// by the next tick is handed to its node feed as a local change event (the
// scopes of the missed revisions), so the nodes it holds get the change
// within two intervals (2 s by default). Every `token_every` ticks it also
// reads the tokens, and a revocation it did not hear of (still unheard at the
// next tick) closes the node streams opened with that token, as the bus event
// would have: within token_every + 1 intervals (6 s by default).
//
// Runs where replicas can share a store: a Postgres store or a shared bus
// (a SQLite store with the in-process bus is one process, which publishes
// every commit it makes).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

struct StorePollOptions {
  std::chrono::milliseconds interval{1000};
  int token_every = 5;           // tokens are read every this many ticks
  bool manual_for_test = false;  // no thread: the test calls Tick()
};

class StorePoll {
 public:
  StorePoll(Store& store, Bus& bus, MetricsRegistry& metrics, StorePollOptions options);
  ~StorePoll();
  StorePoll(const StorePoll&) = delete;
  StorePoll& operator=(const StorePoll&) = delete;

  // One poll: what the thread does every interval.
  void Tick();

 private:
  void Run();
  void RepairRevisions(std::int64_t head);
  void RepairRevocations();
  void Heard(const ChangeEvent& event);

  Store& store_;
  Bus& bus_;
  const StorePollOptions options_;
  Counter& repaired_revisions_;
  Counter& repaired_revocations_;
  Counter& failures_;
  int subscription_ = 0;
  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  // The newest revision this replica has heard of (its own commits and the
  // bus's events); -1 until the store has been read once.
  std::int64_t heard_ GUARDED_BY(mu_) = -1;
  // A head the last tick found ahead of heard_: repaired at this tick unless
  // its event has arrived since (an event may trail its commit by a moment).
  std::int64_t pending_ GUARDED_BY(mu_) = 0;
  std::set<std::string> revoked_ GUARDED_BY(mu_);  // token ids known revoked
  std::set<std::string> pending_revoked_ GUARDED_BY(mu_);
  bool tokens_read_ GUARDED_BY(mu_) = false;
  long ticks_ GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace omnirelay::cp
