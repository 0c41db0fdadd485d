// What the streamed-node load generators (bench_fanout, bench_rollout_waves)
// share: the real `controlplane` daemon started as a child on a fresh data
// dir and free loopback ports, a fleet of simulated nodes — one gRPC
// channel (one TCP connection) and one NodeFeed stream each, verifying every
// Notify as a node must and ACKing it — and small helpers (a bare HTTP/1.0
// client for the REST face, /proc readings, percentiles).
//
// Thread rules: a Node's callbacks run on gRPC's threads and only touch the
// Fleet's atomics and locks; everything else is called from the load
// program's main thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/v1/node_feed.grpc.pb.h"

namespace omnirelay::bench {

using SteadyClock = std::chrono::steady_clock;

// Prints "<program>: why" and exits 1.
[[noreturn]] void Die(const std::string& why);

std::string ReadFile(const std::string& path);
// The p-quantile (0..1) by nearest rank; 0 for no samples.
double Percentile(std::vector<double> v, double p);
long RssKiB(pid_t pid);
// CPU seconds (user + system) used so far by `pid`.
double CpuSeconds(pid_t pid);
std::int64_t NowNs();

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};
// One request on a fresh loopback connection (HTTP/1.0: the server closes
// after the answer). `token` empty: no Authorization header.
HttpReply Http(int port, const std::string& method, const std::string& path,
               const std::string& token = "", const std::string& body = "");
// The value of an unlabelled sample such as "omnirelay_cp_fanout_seconds_sum".
double Sample(const std::string& metrics, const std::string& name);

// The daemon as a child process; its destructor stops it and removes the dir.
class DaemonChild {
 public:
  // Starts `binary` and waits until its gRPC port answers (30 s).
  // `extra_args` are appended (e.g. --store, --bus); `key_from`: another
  // replica of the same cell, whose signing key and trusted keys are copied
  // into this one's data dir before it starts (and whose admin token it uses
  // when it writes none of its own).
  DaemonChild(const std::string& binary, const std::string& sqlite_sync,
              const std::vector<std::string>& extra_args = {},
              const DaemonChild* key_from = nullptr);
  ~DaemonChild();
  DaemonChild(const DaemonChild&) = delete;
  DaemonChild& operator=(const DaemonChild&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  const std::string& target() const { return target_; }  // gRPC, host:port
  int http_port() const { return http_port_; }
  const std::string& admin_token() const { return admin_; }
  const TrustedKeySet& keys() const { return keys_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  std::string target_;
  int http_port_ = 0;
  std::string admin_;
  TrustedKeySet keys_;
  std::shared_ptr<grpc::Channel> channel_;
};

// The sample global layer (samples/layers/00-global.json) with
// dispatcher.maxConcurrentRequests = 1000 + round, its topology extended to
// place every region and cell of `chains` (the control plane refuses a node
// chain it does not place).
std::string GlobalLayer(int round, const std::vector<std::string>& chains);
// `count` scope chains: "global", then one per region, then cells of them.
std::vector<std::string> BenchChains(int count);
// Writes GlobalLayer(round, chains) through the daemon's ConfigService; the
// revision (dies on a refusal).
std::int64_t WriteGlobal(const DaemonChild& daemon, int round,
                         const std::vector<std::string>& chains);

// What every node reports into: the newest version each verified, and when.
struct Fleet {
  // `distinct`: --verify distinct (bench_fanout.cc explains the two modes).
  Fleet(int n, TrustedKeySet k, bool distinct)
      : keys(std::move(k)),
        verify_distinct(distinct),
        version(n),
        received_at_ns(n),
        verified_at_ns(n) {}

  // The payload of `envelope` when its signature verifies; nullopt otherwise.
  std::optional<std::string> Verify(const std::string& envelope);
  void Verified(int i, std::int64_t v);
  // Waits until `total` notifies were verified (or `timeout`).
  bool WaitTotal(std::int64_t total, std::chrono::seconds timeout);
  // Waits until every node of `indexes` verified a version >= `version`.
  bool WaitVersion(const std::vector<int>& indexes, std::int64_t version,
                   std::chrono::seconds timeout);

  const TrustedKeySet keys;
  const bool verify_distinct;
  // --verify distinct: the envelopes verified for real (one per chain and
  // version, the newest few), each with its payload.
  std::mutex verified_mu;
  std::deque<std::pair<std::string, std::string>> verified;  // GUARDED_BY(verified_mu)
  std::atomic<std::int64_t> verify_ns_total{0};
  std::atomic<std::int64_t> verify_count{0};
  // --verify distinct: time nodes waited for verified_mu (one node's real
  // verification holds it: nodes of other envelopes wait too, which a real
  // fleet, each node on its own machine, does not).
  std::atomic<std::int64_t> verify_wait_ns_total{0};

  std::vector<std::atomic<std::int64_t>> version;
  std::vector<std::atomic<std::int64_t>> received_at_ns;  // the Notify arrived
  std::vector<std::atomic<std::int64_t>> verified_at_ns;  // ... and verified (then ACKed)
  std::atomic<std::int64_t> verified_total{0};
  std::atomic<int> failures{0};
  std::atomic<int> ended{0};
  std::mutex mu;
  std::condition_variable cv;
};

// One node: a channel of its own, one bidi stream, callback API (no thread).
// Node id "bench-<index>"; it ACKs every Notify it verified.
class Node final : public grpc::ClientBidiReactor<controlplane::v1::NodeMessage,
                                                  controlplane::v1::ServerMessage> {
 public:
  Node(Fleet& fleet, int index, const std::string& target, const std::string& token,
       const std::string& chain, bool bdp_probe);

  void Start();
  void Cancel() { ctx_.TryCancel(); }
  // The stream ended (OnDone ran); with the status code it ended with.
  bool done() const { return done_.load(); }
  grpc::StatusCode end_code() const { return end_code_.load(); }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status&) override;

 private:
  void Handle(const controlplane::v1::Notify& n);

  Fleet& fleet_;
  const int index_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<controlplane::v1::NodeFeed::Stub> stub_;
  grpc::ClientContext ctx_;
  controlplane::v1::NodeMessage hello_;
  controlplane::v1::ServerMessage in_;
  std::mutex mu_;
  bool writing_ = false;                                      // GUARDED_BY(mu_)
  controlplane::v1::NodeMessage out_;                         // GUARDED_BY(mu_)
  std::optional<controlplane::v1::NodeMessage> pending_ack_;  // GUARDED_BY(mu_)
  std::atomic<bool> done_{false};
  std::atomic<grpc::StatusCode> end_code_{grpc::StatusCode::OK};
};

// Starts one Node per entry of `chains` (node i on chains[i]), `batch` at a
// time, each batch waiting for its nodes' first snapshot (60 s); dies if
// they do not get it.
std::vector<std::unique_ptr<Node>> ConnectFleet(Fleet& fleet, const DaemonChild& daemon,
                                                const std::vector<std::string>& chains, int batch,
                                                bool bdp_probe);
// The same over several replicas: node i streams from daemons[i % size].
std::vector<std::unique_ptr<Node>> ConnectFleet(Fleet& fleet,
                                                const std::vector<const DaemonChild*>& daemons,
                                                const std::vector<std::string>& chains, int batch,
                                                bool bdp_probe);
// Cancels every stream and waits (30 s) for them to end; leaks the nodes
// that gRPC still references rather than freeing them under it.
void DisconnectFleet(Fleet& fleet, std::vector<std::unique_ptr<Node>>& nodes);

}  // namespace omnirelay::bench
