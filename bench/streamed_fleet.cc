#include "streamed_fleet.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "omnirelay/config/digest.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"

namespace omnirelay::bench {
namespace {

namespace v1 = controlplane::v1;
using Json = nlohmann::json;

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

}  // namespace

void Die(const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, why.c_str());
  std::exit(1);
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

long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

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

std::int64_t NowNs() {
  return SteadyClock::now().time_since_epoch().count();
}

HttpReply Http(int port, const std::string& method, const std::string& path,
               const std::string& token, const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  HttpReply reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    req += "\r\n" + body;
    std::size_t sent = 0;
    while (sent < req.size()) {
      const ssize_t n = ::write(fd, req.data() + sent, req.size() - sent);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
      out.append(buf, static_cast<std::size_t>(n));
    if (out.rfind("HTTP/1.", 0) == 0 && out.size() > 12) reply.status = std::atoi(out.c_str() + 9);
    if (const auto head_end = out.find("\r\n\r\n"); head_end != std::string::npos) {
      reply.body = out.substr(head_end + 4);
    }
  }
  ::close(fd);
  return reply;
}

double Sample(const std::string& metrics, const std::string& name) {
  const std::string key = "\n" + name + " ";
  auto at = metrics.find(key);
  return at == std::string::npos ? 0 : std::strtod(metrics.c_str() + at + key.size(), nullptr);
}

DaemonChild::DaemonChild(const std::string& binary, const std::string& sqlite_sync,
                         const std::vector<std::string>& extra_args, const DaemonChild* key_from) {
  char tmpl[] = "/tmp/bench-fleet-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  if (key_from != nullptr) {
    for (const char* file : {"/signing-key.pem", "/trusted-keys.json"}) {
      std::filesystem::copy_file(key_from->dir() + file, dir_ + file);
    }
  }
  const int grpc_port = FreePort();
  http_port_ = FreePort();
  target_ = "127.0.0.1:" + std::to_string(grpc_port);
  pid_ = ::fork();
  if (pid_ < 0) Die("fork");
  if (pid_ == 0) {
    const std::string h = "127.0.0.1:" + std::to_string(http_port_);
    std::vector<std::string> args = {binary,  "--data-dir",    dir_,       "--grpc-listen",
                                     target_, "--http-listen", h,          "--log-level",
                                     "warn",  "--sqlite-sync", sqlite_sync};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    std::perror("exec controlplane");
    std::_Exit(127);
  }
  // Ready when the gRPC port answers; then the admin token and keys exist.
  channel_ = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    ::kill(pid_, SIGKILL);
    Die("the daemon did not start");
  }
  admin_ = std::filesystem::exists(dir_ + "/admin.token") || key_from == nullptr
               ? ReadFile(dir_ + "/admin.token")
               : key_from->admin_token();
  admin_.erase(admin_.find_last_not_of("\n ") + 1);
  auto keys = TrustedKeySet::Load(dir_ + "/trusted-keys.json");
  if (admin_.empty() || !keys.ok()) Die("no admin token or trusted keys in " + dir_);
  keys_ = std::move(keys).value();
}

DaemonChild::~DaemonChild() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  std::filesystem::remove_all(dir_);
}

std::string GlobalLayer(int round, const std::vector<std::string>& chains) {
  Json doc = Json::parse(ReadFile(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json"));
  doc["spec"]["dispatcher"]["maxConcurrentRequests"] = 1000 + round;
  Json& regions = doc["spec"]["topology"]["regions"];
  for (const std::string& chain : chains) {
    std::string region;
    for (const std::string& scope : SplitCommaList(chain)) {
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

std::optional<std::string> Fleet::Verify(const std::string& envelope) {
  std::unique_lock lock(verified_mu, std::defer_lock);
  if (verify_distinct) {
    const auto waited = SteadyClock::now();
    lock.lock();  // nodes with the same bytes wait for the one verification
    verify_wait_ns_total += (SteadyClock::now() - waited).count();
    for (const auto& [bytes, payload] : verified) {
      if (bytes == envelope) return payload;  // the same bytes, compared in full
    }
  }
  const auto t0 = SteadyClock::now();
  auto v = VerifyEnvelope(envelope, keys, kSnapshotPayloadType);
  verify_ns_total += (SteadyClock::now() - t0).count();
  ++verify_count;
  if (!v.ok()) return std::nullopt;
  if (verify_distinct) {
    verified.emplace_front(envelope, v->payload);
    if (verified.size() > 32) verified.pop_back();
  }
  return std::move(v->payload);
}

void Fleet::Verified(int i, std::int64_t v) {
  verified_at_ns[i] = NowNs();
  version[i] = v;
  if (++verified_total % 64 == 0) cv.notify_all();
}

bool Fleet::WaitTotal(std::int64_t total, std::chrono::seconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::unique_lock lock(mu);
  while (verified_total.load() < total) {
    if (cv.wait_until(lock,
                      std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(2))) ==
            std::cv_status::timeout &&
        SteadyClock::now() > deadline) {
      return false;
    }
  }
  return true;
}

bool Fleet::WaitVersion(const std::vector<int>& indexes, std::int64_t v,
                        std::chrono::seconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::size_t next = 0;  // the nodes before it are there
  std::unique_lock lock(mu);
  for (;;) {
    while (next < indexes.size() && version[indexes[next]].load() >= v) ++next;
    if (next == indexes.size()) return true;
    if (SteadyClock::now() > deadline) return false;
    cv.wait_for(lock, std::chrono::milliseconds(1));
  }
}

Node::Node(Fleet& fleet, int index, const std::string& target, const std::string& token,
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
  for (const std::string& scope : SplitCommaList(chain)) hello->add_scope_chain(scope);
  hello->set_api_version("omnirelay.config/v1");
  hello->add_features("shadowing");
}

void Node::Start() {
  stub_->async()->Stream(&ctx_, this);
  writing_ = true;
  StartWrite(&hello_);
  StartRead(&in_);
  StartCall();
}

void Node::OnReadDone(bool ok) {
  if (!ok) return;
  if (in_.has_notify()) Handle(in_.notify());
  StartRead(&in_);
}

void Node::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  writing_ = false;
  if (ok && pending_ack_) {
    out_ = std::move(*pending_ack_);
    pending_ack_.reset();
    writing_ = true;
    StartWrite(&out_);
  }
}

void Node::OnDone(const grpc::Status& status) {
  end_code_ = status.error_code();
  done_ = true;
  fleet_.ended++;
  fleet_.cv.notify_all();
}

void Node::Handle(const v1::Notify& n) {
  fleet_.received_at_ns[index_] = NowNs();
  // What a node does before applying: verify the exact bytes, then the hash.
  const std::optional<std::string> payload = fleet_.Verify(n.envelope());
  if (!payload || ContentId(*payload) != n.hash() ||
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

std::vector<std::string> BenchChains(int count) {
  const std::vector<std::string> regions = {"us-east", "eu-west", "ap-south", "sa-east"};
  std::vector<std::string> chains;
  for (int c = 0; c < count; ++c) {
    chains.push_back(
        c == 0 ? "global"
               : "global,region:" + regions[static_cast<std::size_t>(c - 1) % regions.size()] +
                     (c > static_cast<int>(regions.size()) ? ",cell:c" + std::to_string(c) : ""));
  }
  return chains;
}

std::int64_t WriteGlobal(const DaemonChild& daemon, int round,
                         const std::vector<std::string>& chains) {
  auto config = v1::ConfigService::NewStub(daemon.channel());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + daemon.admin_token());
  v1::SetLayerRequest req;
  req.set_scope("global");
  req.set_document(GlobalLayer(round, chains));
  v1::WriteResult result;
  grpc::Status s = config->SetLayer(&ctx, req, &result);
  if (!s.ok()) Die("SetLayer: " + s.error_message());
  return result.revision();
}

std::vector<std::unique_ptr<Node>> ConnectFleet(Fleet& fleet, const DaemonChild& daemon,
                                                const std::vector<std::string>& chains, int batch,
                                                bool bdp_probe) {
  return ConnectFleet(fleet, std::vector<const DaemonChild*>{&daemon}, chains, batch, bdp_probe);
}

std::vector<std::unique_ptr<Node>> ConnectFleet(Fleet& fleet,
                                                const std::vector<const DaemonChild*>& daemons,
                                                const std::vector<std::string>& chains, int batch,
                                                bool bdp_probe) {
  std::vector<std::unique_ptr<Node>> nodes;
  const int n = static_cast<int>(chains.size());
  for (int i = 0; i < n; ++i) {
    const DaemonChild& daemon = *daemons[static_cast<std::size_t>(i) % daemons.size()];
    nodes.push_back(std::make_unique<Node>(fleet, i, daemon.target(), daemon.admin_token(),
                                           chains[static_cast<std::size_t>(i)], bdp_probe));
    nodes.back()->Start();
    if ((i + 1) % batch == 0 || i + 1 == n) {
      if (!fleet.WaitTotal(i + 1, std::chrono::seconds(60))) {
        Die("only " + std::to_string(fleet.verified_total.load()) + " of " + std::to_string(i + 1) +
            " nodes got their first snapshot");
      }
    }
  }
  return nodes;
}

void DisconnectFleet(Fleet& fleet, std::vector<std::unique_ptr<Node>>& nodes) {
  for (auto& n : nodes) n->Cancel();
  {
    std::unique_lock lock(fleet.mu);
    fleet.cv.wait_for(lock, std::chrono::seconds(30),
                      [&] { return fleet.ended == static_cast<int>(nodes.size()); });
  }
  if (fleet.ended != static_cast<int>(nodes.size())) {
    for (auto& n : nodes) (void)n.release();  // still referenced by gRPC: leak, not free
  }
}

}  // namespace omnirelay::bench
