#include "store_poll.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <vector>

#include "omnirelay/config/digest.h"

namespace omnirelay::cp {

namespace {
constexpr std::size_t kPage = 500;  // revisions read per query while repairing
}  // namespace

StorePoll::StorePoll(Store& store, Bus& bus, MetricsRegistry& metrics, StorePollOptions options)
    : store_(store),
      bus_(bus),
      options_(options),
      repaired_revisions_(metrics.counter(
          "omnirelay_cp_store_poll_repaired_revisions_total",
          "Revisions committed by another replica whose bus event never reached this one; the "
          "store poll woke the node streams for them")),
      repaired_revocations_(metrics.counter(
          "omnirelay_cp_store_poll_repaired_revocations_total",
          "Token revocations whose bus event never reached this replica; the store poll closed "
          "their node streams")),
      failures_(metrics.counter("omnirelay_cp_store_poll_failures_total",
                                "Store polls that could not read the store")) {
  subscription_ = bus_.Subscribe([this](const ChangeEvent& e) { Heard(e); });
  Tick();  // the starting point: the head and the revoked tokens as they are now
  if (!options_.manual_for_test) thread_ = std::thread([this] { Run(); });
}

StorePoll::~StorePoll() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  bus_.Unsubscribe(subscription_);
}

void StorePoll::Run() {
  MutexLock lock(mu_);
  while (!stopping_) {
    const auto next = std::chrono::steady_clock::now() + options_.interval;
    while (!stopping_ && cv_.WaitUntil(mu_, next)) {
    }
    if (stopping_) return;
    lock.Unlock();
    Tick();
    lock.Lock();
  }
}

void StorePoll::Heard(const ChangeEvent& event) {
  MutexLock lock(mu_);
  heard_ = std::max(heard_, event.revision);
  for (const auto& id : event.revoked_tokens) revoked_.insert(id);
}

void StorePoll::Tick() {
  bool read_tokens = false;
  {
    MutexLock lock(mu_);
    // Unheard revocations are confirmed at the very next tick.
    read_tokens = !tokens_read_ || !pending_revoked_.empty() ||
                  ++ticks_ % std::max(1, options_.token_every) == 0;
  }
  Result<std::int64_t> head = store_.HeadRevision();
  if (!head.ok()) {
    failures_.Inc();  // the store's outage is reported by /readyz and the requests
    return;
  }
  RepairRevisions(*head);
  if (read_tokens) RepairRevocations();
}

void StorePoll::RepairRevisions(std::int64_t head) {
  std::int64_t from = 0;
  {
    MutexLock lock(mu_);
    if (heard_ < 0) {  // the first read: where this replica starts
      heard_ = head;
      return;
    }
    if (head <= heard_) {
      pending_ = 0;
      return;
    }
    // Ahead, but its event may still be on its way: repaired at the next
    // tick if still unheard.
    if (pending_ == 0 || heard_ >= pending_) {
      pending_ = head;
      return;
    }
    from = heard_;
  }
  // scope -> the content id of its newest layer ("" when deleted)
  std::map<std::string, std::string> scopes;
  std::int64_t newest = from;
  long repaired = 0;
  while (newest < head) {
    Result<std::vector<RevisionRecord>> page = store_.RevisionsSince(newest, kPage);
    if (!page.ok()) {
      failures_.Inc();
      return;  // tried again at the next tick
    }
    if (page->empty()) break;
    for (const RevisionRecord& r : *page) {
      scopes[r.scope] = r.deleted ? "" : ContentId(r.document);
      newest = std::max(newest, r.revision);
      ++repaired;
    }
  }
  ChangeEvent event;
  event.revision = newest;
  for (auto& [scope, hash] : scopes) {
    event.scopes.push_back(scope);
    event.hashes.push_back(std::move(hash));
  }
  {
    MutexLock lock(mu_);
    pending_ = 0;
  }
  repaired_revisions_.Inc(static_cast<std::uint64_t>(repaired));
  spdlog::warn(
      "store poll: revisions {}..{} ({} scope(s)) were committed by another replica and their "
      "bus event never arrived; waking this replica's node streams for them",
      from + 1, newest, event.scopes.size());
  bus_.DeliverLocally(event);  // Heard() moves heard_ to `newest`
}

void StorePoll::RepairRevocations() {
  Result<std::vector<TokenRecord>> tokens = store_.ListTokens();
  if (!tokens.ok()) {
    failures_.Inc();
    return;
  }
  std::set<std::string> revoked_now;
  for (const TokenRecord& t : *tokens) {
    if (t.revoked_at_ms != 0) revoked_now.insert(t.id);
  }
  ChangeEvent event;
  {
    MutexLock lock(mu_);
    if (!tokens_read_) {  // the first read: what was revoked before this replica started
      tokens_read_ = true;
      revoked_ = std::move(revoked_now);
      return;
    }
    // Unheard revocations wait one read, like revisions, for their event.
    std::set<std::string> unheard;
    for (const auto& id : revoked_now) {
      if (revoked_.count(id) == 0) unheard.insert(id);
    }
    for (const auto& id : unheard) {
      if (pending_revoked_.count(id) != 0) event.revoked_tokens.push_back(id);
    }
    pending_revoked_ = std::move(unheard);
    for (const auto& id : event.revoked_tokens) pending_revoked_.erase(id);
  }
  if (event.revoked_tokens.empty()) return;
  repaired_revocations_.Inc(event.revoked_tokens.size());
  spdlog::warn(
      "store poll: {} token revocation(s) made on another replica never arrived on the bus; "
      "closing the node streams opened with them",
      event.revoked_tokens.size());
  bus_.DeliverLocally(event);  // Heard() adds them to revoked_
}

}  // namespace omnirelay::cp
