// bench_fanout: the node feed's fan-out against the real `controlplane`
// daemon (issue 3, bench/): one daemon, N node streams from this separate
// load process on loopback, one channel — hence one TCP connection — per node.
//
//   bench_fanout [--nodes N] [--rounds R] [--chains C] [--daemon PATH]
//                [--sqlite-sync full|normal] [--client-bdp-probe on|off]
//                [--verify every|distinct]
//
// The daemon runs as a child on a fresh data dir and free ports. After the N
// nodes have said hello and applied the first snapshot, each round writes the
// global layer through the gRPC ConfigService and measures, from the write's
// acknowledgement, when each node has received the Notify and verified the
// envelope as a node must (Ed25519 by a trusted key over the exact bytes,
// ContentId(payload) == hash, version inside).
//
// --verify: where the Ed25519 verification runs. On a real fleet every node
// verifies on its own CPU, in parallel with the others; here N simulated
// nodes share this machine's two cores with the daemon, so N verifications
// (~0.1 ms each here) run back to back and delay the nodes queued behind
// them. `every` (default) does it anyway, per node. `distinct` models the
// fleet: the first node to receive a given envelope verifies it for real;
// every other node compares its received bytes with those verified bytes in
// full and still checks hash and version itself; the one-node verify cost is
// printed beside the figures. Prints, as text and one JSON
// line: per-node latency p50/p99/max over all rounds, the all-nodes time
// p50/p99 over rounds, and the daemon's RSS growth per idle node stream.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/digest.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"
#include "omnirelay/controlplane/v1/node_feed.grpc.pb.h"

namespace {

namespace v1 = omnirelay::controlplane::v1;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

struct Options {
  int nodes = 1000;
  int rounds = 20;
  int chains = 4;
  int connect_batch = 500;
  std::string daemon = OMNI_CONTROLPLANE_BIN;
  std::string sqlite_sync = "full";
  bool client_bdp_probe = false;
  bool verify_distinct = false;
};

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "bench_fanout: %s\n", why.c_str());
  std::exit(1);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("bind");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// GET /metrics from the daemon's REST port (HTTP/1.0, no client library needed).
std::string ScrapeMetrics(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// The value of an unlabelled sample such as "omnirelay_cp_fanout_seconds_sum".
double Sample(const std::string& metrics, const std::string& name) {
  const std::string key = "\n" + name + " ";
  auto at = metrics.find(key);
  return at == std::string::npos ? 0 : std::strtod(metrics.c_str() + at + key.size(), nullptr);
}

// CPU seconds (user + system) used so far by `pid`.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i >= 14) ticks += std::stod(f);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// What every node reports into: the newest version each verified, and when.
struct Fleet {
  Fleet(int n, omnirelay::TrustedKeySet k, bool distinct)
      : keys(std::move(k)),
        verify_distinct(distinct),
        version(n),
        received_at_ns(n),
        verified_at_ns(n) {}
  const omnirelay::TrustedKeySet keys;
  const bool verify_distinct;
  // --verify distinct: the envelopes verified for real (one per chain and
  // version, the newest few), each with its payload.
  std::mutex verified_mu;
  std::deque<std::pair<std::string, std::string>> verified;  // GUARDED_BY(verified_mu)
  std::atomic<std::int64_t> verify_ns_total{0};
  std::atomic<std::int64_t> verify_count{0};

  // The payload of `envelope` when its signature verifies; nullopt otherwise.
  std::optional<std::string> Verify(const std::string& envelope) {
    std::unique_lock lock(verified_mu, std::defer_lock);
    if (verify_distinct) {
      lock.lock();  // nodes with the same bytes wait for the one verification
      for (const auto& [bytes, payload] : verified) {
        if (bytes == envelope) return payload;  // the same bytes, compared in full
      }
    }
    const auto t0 = Clock::now();
    auto v = omnirelay::VerifyEnvelope(envelope, keys, omnirelay::kSnapshotPayloadType);
    verify_ns_total += (Clock::now() - t0).count();
    ++verify_count;
    if (!v.ok()) return std::nullopt;
    if (verify_distinct) {
      verified.emplace_front(envelope, v->payload);
      if (verified.size() > 32) verified.pop_back();
    }
    return std::move(v->payload);
  }
  std::vector<std::atomic<std::int64_t>> version;
  std::vector<std::atomic<std::int64_t>> received_at_ns;  // the Notify arrived
  std::vector<std::atomic<std::int64_t>> verified_at_ns;  // ... and verified
  std::atomic<std::int64_t> verified_total{0};
  std::atomic<int> failures{0};
  std::atomic<int> ended{0};
  std::mutex mu;
  std::condition_variable cv;

  void Verified(int i, std::int64_t v) {
    verified_at_ns[i] = Clock::now().time_since_epoch().count();
    version[i] = v;
    if (++verified_total % 64 == 0) cv.notify_all();
  }
  // Waits until `total` notifies were verified (or `timeout`).
  bool WaitTotal(std::int64_t total, std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mu);
    while (verified_total.load() < total) {
      if (cv.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(2))) ==
              std::cv_status::timeout &&
          Clock::now() > deadline) {
        return false;
      }
    }
    return true;
  }
};

// One node: a channel of its own, one bidi stream, callback API (no thread).
class Node final : public grpc::ClientBidiReactor<v1::NodeMessage, v1::ServerMessage> {
 public:
  Node(Fleet& fleet, int index, const std::string& target, const std::string& token,
       const std::string& chain, bool bdp_probe)
      : fleet_(fleet), index_(index) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own TCP connection
    // As a relay node should configure its control-plane channel: small
    // messages need no bandwidth-delay probing, whose pings cost both sides CPU.
    if (!bdp_probe) args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    stub_ = v1::NodeFeed::NewStub(channel_);
    ctx_.AddMetadata("authorization", "Bearer " + token);
    v1::Hello* hello = hello_.mutable_hello();
    hello->set_node_id("bench-" + std::to_string(index));
    for (const std::string& scope : omnirelay::SplitCommaList(chain)) hello->add_scope_chain(scope);
    hello->set_api_version("omnirelay.config/v1");
    hello->add_features("shadowing");
  }

  void Start() {
    stub_->async()->Stream(&ctx_, this);
    writing_ = true;
    StartWrite(&hello_);
    StartRead(&in_);
    StartCall();
  }
  void Cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (in_.has_notify()) Handle(in_.notify());
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (ok && pending_ack_) {
      out_ = std::move(*pending_ack_);
      pending_ack_.reset();
      writing_ = true;
      StartWrite(&out_);
    }
  }

  void OnDone(const grpc::Status&) override {
    fleet_.ended++;
    fleet_.cv.notify_all();
  }

 private:
  void Handle(const v1::Notify& n) {
    fleet_.received_at_ns[index_] = Clock::now().time_since_epoch().count();
    // What a node does before applying: verify the exact bytes, then the hash.
    const std::optional<std::string> payload = fleet_.Verify(n.envelope());
    if (!payload || omnirelay::ContentId(*payload) != n.hash() ||
        payload->find("\"version\":" + std::to_string(n.version())) == std::string::npos) {
      fleet_.failures++;
      return;
    }
    fleet_.Verified(index_, n.version());
    v1::NodeMessage ack;
    ack.mutable_ack()->set_version(n.version());
    ack.mutable_ack()->set_hash(n.hash());
    std::lock_guard lock(mu_);
    if (writing_) {
      pending_ack_ = std::move(ack);
    } else {
      out_ = std::move(ack);
      writing_ = true;
      StartWrite(&out_);
    }
  }

  Fleet& fleet_;
  const int index_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::NodeFeed::Stub> stub_;
  grpc::ClientContext ctx_;
  v1::NodeMessage hello_;
  v1::ServerMessage in_;
  std::mutex mu_;
  bool writing_ = false;                        // GUARDED_BY(mu_)
  v1::NodeMessage out_;                         // GUARDED_BY(mu_)
  std::optional<v1::NodeMessage> pending_ack_;  // GUARDED_BY(mu_)
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--nodes") {
      o.nodes = std::stoi(next());
    } else if (a == "--rounds") {
      o.rounds = std::stoi(next());
    } else if (a == "--chains") {
      o.chains = std::stoi(next());
    } else if (a == "--connect-batch") {
      o.connect_batch = std::stoi(next());
    } else if (a == "--daemon") {
      o.daemon = next();
    } else if (a == "--sqlite-sync") {
      o.sqlite_sync = next();
    } else if (a == "--client-bdp-probe") {
      o.client_bdp_probe = next() == "on";
    } else if (a == "--verify") {
      const std::string v = next();
      if (v != "every" && v != "distinct") Die("--verify takes every or distinct");
      o.verify_distinct = v == "distinct";
    } else {
      Die("unknown flag " + a +
          " (flags: --nodes --rounds --chains --connect-batch --daemon --sqlite-sync "
          "--client-bdp-probe on|off --verify every|distinct)");
    }
  }
  if (o.nodes < 1 || o.rounds < 1 || o.chains < 1) Die("--nodes, --rounds, --chains must be >= 1");
  return o;
}

pid_t StartDaemon(const Options& o, const std::string& dir, int grpc_port, int http_port) {
  pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    const std::string g = "127.0.0.1:" + std::to_string(grpc_port);
    const std::string h = "127.0.0.1:" + std::to_string(http_port);
    ::execl(o.daemon.c_str(), o.daemon.c_str(), "--data-dir", dir.c_str(), "--grpc-listen",
            g.c_str(), "--http-listen", h.c_str(), "--log-level", "warn", "--sqlite-sync",
            o.sqlite_sync.c_str(), static_cast<char*>(nullptr));
    std::perror("exec controlplane");
    std::_Exit(127);
  }
  return pid;
}

// The sample global layer, its topology extended to place every region and
// cell of `chains` (the control plane refuses a node chain it does not place).
std::string GlobalLayer(int round, const std::vector<std::string>& chains) {
  Json doc = Json::parse(ReadFile(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json"));
  doc["spec"]["dispatcher"]["maxConcurrentRequests"] = 1000 + round;
  Json& regions = doc["spec"]["topology"]["regions"];
  for (const std::string& chain : chains) {
    std::string region;
    for (const std::string& scope : omnirelay::SplitCommaList(chain)) {
      if (scope.rfind("region:", 0) == 0) {
        region = scope.substr(7);
        if (!regions.contains(region)) regions[region] = {{"cells", Json::array()}};
      } else if (scope.rfind("cell:", 0) == 0 && !region.empty()) {
        Json& cells = regions[region]["cells"];
        const std::string cell = scope.substr(5);
        if (std::find(cells.begin(), cells.end(), cell) == cells.end()) cells.push_back(cell);
      }
    }
  }
  return doc.dump();
}

std::int64_t Write(v1::ConfigService::Stub& config, const std::string& admin, int round,
                   const std::vector<std::string>& chains) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + admin);
  v1::SetLayerRequest req;
  req.set_scope("global");
  req.set_document(GlobalLayer(round, chains));
  v1::WriteResult result;
  grpc::Status s = config.SetLayer(&ctx, req, &result);
  if (!s.ok()) Die("SetLayer: " + s.error_message());
  return result.revision();
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  // As the daemon does (grpc_face.cc): Debian's absl leaves deadlock detection on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  char tmpl[] = "/tmp/bench-fanout-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const int grpc_port = FreePort(), http_port = FreePort();
  const pid_t daemon = StartDaemon(o, dir, grpc_port, http_port);
  const std::string target = "127.0.0.1:" + std::to_string(grpc_port);

  // Ready when the admin token exists and the gRPC port answers.
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    ::kill(daemon, SIGKILL);
    Die("the daemon did not start");
  }
  std::string admin = ReadFile(dir + "/admin.token");
  admin.erase(admin.find_last_not_of("\n ") + 1);
  auto keys = omnirelay::TrustedKeySet::Load(dir + "/trusted-keys.json");
  if (admin.empty() || !keys.ok()) Die("no admin token or trusted keys in " + dir);
  auto config = v1::ConfigService::NewStub(channel);

  const std::vector<std::string> regions = {"us-east", "eu-west", "ap-south", "sa-east"};
  std::vector<std::string> chains;
  for (int c = 0; c < o.chains; ++c) {
    chains.push_back(
        c == 0 ? "global"
               : "global,region:" + regions[static_cast<std::size_t>(c - 1) % regions.size()] +
                     (c > static_cast<int>(regions.size()) ? ",cell:c" + std::to_string(c) : ""));
  }

  Write(*config, admin, 0, chains);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss_before = RssKiB(daemon);

  Fleet fleet(o.nodes, std::move(keys).value(), o.verify_distinct);
  std::vector<std::unique_ptr<Node>> nodes;
  const auto connect_start = Clock::now();
  for (int i = 0; i < o.nodes; ++i) {
    nodes.push_back(std::make_unique<Node>(fleet, i, target, admin,
                                           chains[static_cast<std::size_t>(i % o.chains)],
                                           o.client_bdp_probe));
    nodes.back()->Start();
    if ((i + 1) % o.connect_batch == 0 || i + 1 == o.nodes) {
      if (!fleet.WaitTotal(i + 1, std::chrono::seconds(60))) {
        Die("only " + std::to_string(fleet.verified_total.load()) + " of " + std::to_string(i + 1) +
            " nodes got their first snapshot");
      }
    }
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - connect_start).count();
  // Idle: let coalesced status writes and allocator churn settle before measuring.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long rss_idle = RssKiB(daemon);

  std::vector<double> per_node_ms, all_nodes_ms, received_ms;
  per_node_ms.reserve(static_cast<std::size_t>(o.nodes) * o.rounds);
  int incomplete = 0;
  const double daemon_cpu0 = CpuSeconds(daemon), self_cpu0 = CpuSeconds(::getpid());
  double round_wall = 0;
  for (int r = 1; r <= o.rounds; ++r) {
    const auto round_start = Clock::now();
    const std::int64_t before = fleet.verified_total.load();
    const std::int64_t revision = Write(*config, admin, r, chains);
    const std::int64_t acked_ns = Clock::now().time_since_epoch().count();
    if (!fleet.WaitTotal(before + o.nodes, std::chrono::seconds(60))) ++incomplete;
    double worst = 0;
    for (int i = 0; i < o.nodes; ++i) {
      if (fleet.version[i].load() < revision) continue;
      // A node may verify before the write's response reaches the client: 0.
      const double ms = std::max<double>(0, (fleet.verified_at_ns[i].load() - acked_ns) / 1e6);
      per_node_ms.push_back(ms);
      received_ms.push_back(std::max<double>(0, (fleet.received_at_ns[i].load() - acked_ns) / 1e6));
      worst = std::max(worst, ms);
    }
    all_nodes_ms.push_back(worst);
    round_wall += std::chrono::duration<double>(Clock::now() - round_start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }

  std::printf(
      "CPU per round (incl. the 300 ms pause after it): daemon %.0f ms, load process %.0f ms; "
      "round wall %.0f ms\n",
      1000 * (CpuSeconds(daemon) - daemon_cpu0) / o.rounds,
      1000 * (CpuSeconds(::getpid()) - self_cpu0) / o.rounds, 1000 * round_wall / o.rounds);
  const std::string metrics = ScrapeMetrics(http_port);
  auto mean_ms = [&](const std::string& h) {
    const double count = Sample(metrics, h + "_count");
    return count > 0 ? 1000 * Sample(metrics, h + "_sum") / count : 0.0;
  };
  std::printf(
      "daemon: fan-out (event -> last write started) mean %.1f ms over %.0f; render mean %.1f ms\n",
      mean_ms("omnirelay_cp_fanout_seconds"), Sample(metrics, "omnirelay_cp_fanout_seconds_count"),
      mean_ms("omnirelay_cp_render_seconds"));
  std::printf("daemon: %.0f node status records written for %.0f ACKs (coalesced)\n",
              Sample(metrics, "omnirelay_cp_node_status_writes_total"),
              Sample(metrics, "omnirelay_cp_node_acks_total"));

  for (auto& n : nodes) n->Cancel();
  {
    std::unique_lock lock(fleet.mu);
    fleet.cv.wait_for(lock, std::chrono::seconds(30), [&] { return fleet.ended == o.nodes; });
  }
  if (fleet.ended != o.nodes) {
    for (auto& n : nodes) (void)n.release();  // still referenced by gRPC: leak, not free
  }
  ::kill(daemon, SIGTERM);
  int status = 0;
  ::waitpid(daemon, &status, 0);
  std::filesystem::remove_all(dir);

  const double per_stream_kib =
      static_cast<double>(rss_idle - rss_before) / static_cast<double>(o.nodes);
  std::printf(
      "nodes=%d chains=%d rounds=%d sqlite-sync=%s client-bdp-probe=%s\n"
      "  connect+first snapshot: %.2f s\n"
      "  per-node latency (write ack -> received): p50 %.1f ms  p99 %.1f ms\n"
      "  per-node latency (write ack -> verified): p50 %.1f ms  p99 %.1f ms  max %.1f ms\n"
      "  all nodes verified:                     p50 %.1f ms  p99 %.1f ms\n"
      "  daemon RSS: %ld KiB before streams, %ld KiB with %d idle streams -> %.1f KiB/stream\n"
      "  verification failures: %d, incomplete rounds: %d\n",
      o.nodes, o.chains, o.rounds, o.sqlite_sync.c_str(), o.client_bdp_probe ? "on" : "off",
      connect_s, Percentile(received_ms, 0.50), Percentile(received_ms, 0.99),
      Percentile(per_node_ms, 0.50), Percentile(per_node_ms, 0.99), Percentile(per_node_ms, 1.0),
      Percentile(all_nodes_ms, 0.50), Percentile(all_nodes_ms, 0.99), rss_before, rss_idle, o.nodes,
      per_stream_kib, fleet.failures.load(), incomplete);
  const double verify_us = fleet.verify_count > 0
                               ? static_cast<double>(fleet.verify_ns_total) / 1e3 /
                                     static_cast<double>(fleet.verify_count)
                               : 0.0;
  std::printf("  verify (%s): %lld real Ed25519 verifications, %.0f us each on average\n",
              o.verify_distinct ? "distinct" : "every",
              static_cast<long long>(fleet.verify_count.load()), verify_us);
  Json summary = {{"nodes", o.nodes},
                  {"chains", o.chains},
                  {"rounds", o.rounds},
                  {"per_node_p50_ms", Percentile(per_node_ms, 0.50)},
                  {"per_node_p99_ms", Percentile(per_node_ms, 0.99)},
                  {"all_nodes_p50_ms", Percentile(all_nodes_ms, 0.50)},
                  {"all_nodes_p99_ms", Percentile(all_nodes_ms, 0.99)},
                  {"rss_per_idle_stream_kib", per_stream_kib},
                  {"verification_failures", fleet.failures.load()},
                  {"incomplete_rounds", incomplete},
                  {"verify", o.verify_distinct ? "distinct" : "every"},
                  {"verifications", fleet.verify_count.load()},
                  {"verify_mean_us", verify_us}};
  std::printf("%s\n", summary.dump().c_str());
  return fleet.failures.load() == 0 && incomplete == 0 ? 0 : 1;
}
