// Where a consumer's MeshKit endpoints come from: the gRPC feed
// (GrpcFeedClient: proto/meshkit/v1/discovery.proto) or a JSON file
// (FileSource: development and tests). Both keep an EndpointTable on a
// thread of their own and publish each new EndpointSet; Current() reads the
// newest without a lock while nothing new was published, for request paths.
//
//   meshkit::GrpcFeedOptions o;
//   o.target = "127.0.0.1:7600";
//   o.selector.services = {"billing"};
//   auto feed = meshkit::GrpcFeedClient::Start(o);
//   ...
//   if (auto set = feed->Current()) route with set->Find("billing", "billing-v1")
//
// Thread safety: every method may be called from any thread; listeners run
// on the source's thread, one at a time, in generation order.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/status.h"
#include "omnirelay/meshkit/endpoints.h"

namespace omnirelay::meshkit {

// Told each newly published set.
using Listener = std::function<void(const std::shared_ptr<const EndpointSet>&)>;

// What a feed has done so far.
struct FeedStats {
  bool connected = false;        // a stream is open (gRPC); the file was read (file)
  std::uint64_t generation = 0;  // of Current()
  std::string feed_id;           // of Current()
  std::uint64_t snapshots = 0;   // snapshots applied
  std::uint64_t deltas = 0;      // deltas applied
  std::uint64_t gaps = 0;        // deltas that did not apply to what was held
  std::uint64_t resets = 0;      // snapshots of another feed instance or an older generation
  std::uint64_t refused = 0;     // malformed messages / file contents (nothing applied)
  std::uint64_t reconnects = 0;  // streams opened after the first
  Status last_error;             // the newest failure (OK when none yet)
};

namespace internal {
// One thread's cache of the set of the source it read last (most processes
// have one feed): its uid, the publication it holds, and the set.
struct SourceCache {
  std::uint64_t uid = 0;
  std::uint64_t published = 0;
  std::shared_ptr<const EndpointSet> set;
};
inline thread_local SourceCache tls_source_cache;
}  // namespace internal

class EndpointSource {
 public:
  virtual ~EndpointSource() = default;
  EndpointSource(const EndpointSource&) = delete;
  EndpointSource& operator=(const EndpointSource&) = delete;

  // The newest endpoint set; null until the first one. The request path:
  // while nothing new was published since this thread's last call, one
  // atomic load and no lock (each thread keeps the set it read, like
  // relay::ConfigHost::Current()); after a publication, one short lock. The
  // reference stays valid until this thread's next Current() on any source
  // (generation() and stats() leave it alone); copy the shared_ptr to keep
  // the set, and the Endpoint pointers a join returns, longer.
  const std::shared_ptr<const EndpointSet>& Current() const {
    internal::SourceCache& cache = internal::tls_source_cache;
    if (cache.uid == uid_ && cache.published == published_.load(std::memory_order_acquire))
        [[likely]] {
      return cache.set;
    }
    return CurrentSlow();
  }
  // The newest set's generation (0: none yet). Reads under the lock, not
  // through this thread's cache, so a reference Current() returned stays
  // what it was.
  std::uint64_t generation() const EXCLUDES(set_mu_);
  FeedStats stats() const EXCLUDES(stats_mu_);

 protected:
  explicit EndpointSource(Listener listener);
  // Publishes `set` (the table's newest) and tells the listener.
  void Publish(const std::shared_ptr<const EndpointSet>& set) EXCLUDES(set_mu_);
  template <typename Fn>
  void UpdateStats(Fn&& fn) EXCLUDES(stats_mu_) {
    MutexLock lock(stats_mu_);
    fn(stats_);
  }

 private:
  const std::shared_ptr<const EndpointSet>& CurrentSlow() const EXCLUDES(set_mu_);

  const Listener listener_;
  const std::uint64_t uid_;                  // process-unique, never 0
  std::atomic<std::uint64_t> published_{0};  // publications so far
  mutable Mutex set_mu_;
  std::shared_ptr<const EndpointSet> current_ GUARDED_BY(set_mu_);
  mutable Mutex stats_mu_;
  FeedStats stats_ GUARDED_BY(stats_mu_);
};

// A JSON file of endpoints, read again whenever its content changes:
//   {"endpoints": [{"memberId": "billing-1", "address": "10.0.0.7", "port": 8080,
//                   "service": "billing", "cluster": "billing-v1", "cell": "use1-a",
//                   "region": "us-east", "zone": "a", "health": "healthy",
//                   "weight": 1}],
//    "bridges": [{"name": "use1-euw1", "cells": ["use1-a", "euw1-a"], "state": "up",
//                 "detail": "..."}]}
// (health: healthy | unhealthy | draining | unknown; weight and zone optional;
// bridges optional, state: up | down | flapping | unknown, detail optional).
// Every change is a new generation (1, 2, ...) of the feed
// "file:<path>@<host>/<pid>" (an instance of this process's own: another
// process reading the same file counts its own generations). A
// file that does not parse or check is refused with a JSON Pointer to what
// is wrong and the set before it stays.
struct FileSourceOptions {
  std::string path;
  std::chrono::milliseconds poll_interval{250};
  Limits limits;
  Listener on_change;
};

class FileSource final : public EndpointSource {
 public:
  // Reads the file once: an error when it cannot be read or is refused.
  static Result<std::unique_ptr<FileSource>> Start(FileSourceOptions options);
  ~FileSource() override;  // stops polling

  // Reads the file now (what the poll does): OK when it was applied or had
  // not changed.
  Status Reload() EXCLUDES(mu_);

 private:
  explicit FileSource(FileSourceOptions options);
  void Poll() EXCLUDES(mu_);

  const FileSourceOptions options_;
  const std::string feed_id_;
  Mutex mu_;  // one Reload at a time
  EndpointTable table_ GUARDED_BY(mu_);
  std::string last_content_ GUARDED_BY(mu_);
  bool read_once_ GUARDED_BY(mu_) = false;
  Mutex stop_mu_;
  CondVar stop_cv_;
  bool stop_ GUARDED_BY(stop_mu_) = false;
  std::thread thread_;
};

// The Discovery.Watch stream: bootstraps, applies deltas, resumes from the
// generation it holds after a disconnect, watches again from a snapshot
// after a gap, reconnects with exponential backoff and jitter.
struct GrpcFeedOptions {
  std::string target;  // host:port
  // PEM: TLS to the feed, verified against this CA bundle; empty: plaintext
  // (loopback, development). Read at Start (kIoError when it cannot be) and
  // again for every stream, so a renewed bundle is used from the next one.
  std::string ca_file;
  std::string client_id;
  struct Selector {
    std::vector<std::string> services, clusters, cells, regions;
  } selector;
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{10'000};
  std::size_t max_message_bytes = 64 << 20;  // one snapshot must fit
  Limits limits;
  Listener on_change;
};

class GrpcFeedClient final : public EndpointSource {
 public:
  // Starts watching on a thread of its own; it does not wait for the first
  // snapshot (Current() stays null until then).
  static Result<std::unique_ptr<GrpcFeedClient>> Start(GrpcFeedOptions options);
  ~GrpcFeedClient() override;  // Stop()
  // Ends the stream and the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit GrpcFeedClient(GrpcFeedOptions options);
  std::unique_ptr<Impl> impl_;
};

// What a `--meshkit WHERE` flag means (samples/relay-node, controlplane): an
// existing file is a FileSource, polled; anything else must be host:port of
// a Discovery feed (GrpcFeedClient, plaintext unless `ca_file`).
// kInvalidArgument when WHERE is neither, or is a file and `ca_file` is
// set; a file is read once before this returns (its errors are returned), a
// feed is not waited for.
struct EndpointSourceOptions {
  std::string where;
  std::string client_id;  // the feed's logs
  std::string ca_file;
  Listener on_change;
};
Result<std::unique_ptr<EndpointSource>> StartEndpointSource(EndpointSourceOptions options);

}  // namespace omnirelay::meshkit
