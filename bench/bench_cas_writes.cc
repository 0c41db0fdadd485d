// CAS write throughput through the REST API on SQLite (synchronous=FULL), or
// on the store named by --store (a Postgres url): an in-process control plane
// (real store, real REST face on a loopback port) and W writer threads, each
// doing read-modify-write with If-Match on its own scope for a fixed time.
// Each writer keeps one HTTP connection (--connections per-write: a new one
// for every write, as this program did before 2026-12-06). Prints one JSON
// object per writer count.
//
// --client raw (the default since 2026-12-07): each writer speaks HTTP/1.1
// on its socket itself, a request in one send and the answer read by its
// Content-Length, as a lean client (curl, Go's net/http, pgbench's libpq
// loop) does. --client httplib: cpp-httplib, which sends a request's headers
// and body apart and polls the socket before each read and write: on this
// 2-core machine its writers took about a sixth of the process's CPU,
// competing with the control plane they measure.
//   bench_cas_writes [--seconds S] [--writers 1,4,8] [--store postgres://...]
//                    [--connections kept|per-write] [--client raw|httplib]
// (bench/pg_cas_vs_pgbench.sh runs it next to pgbench on one server.)
// Loopback only; stops by itself.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/raw_client.h"
#include "inproc_control_plane.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/rest_face.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"

using namespace omnirelay;
using namespace omnirelay::cp;

namespace {

// The sample global layer, read and parsed once.
const nlohmann::json& SampleLayer() {
  static const nlohmann::json doc = [] {
    std::ifstream in(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
  }();
  return doc;
}

// The sample layer for `scope`, with one field changed per write.
std::string Layer(nlohmann::json& doc, const std::string& scope, int timeout_ms) {
  doc["metadata"]["scope"] = scope;
  doc["spec"]["clusters"]["billing-v1"]["timeoutMs"] = timeout_ms;
  return doc.dump();
}

std::string Layer(const std::string& scope, int timeout_ms) {
  nlohmann::json doc = SampleLayer();
  return Layer(doc, scope, timeout_ms);
}

// A status and body; status -1: the connection failed.
struct Reply {
  int status = -1;
  std::string body;
};

// A writer's HTTP client (--client).
class Client {
 public:
  virtual ~Client() = default;
  virtual Reply Call(const char* method, const std::string& path, const std::string& token,
                     const std::string& if_match, const std::string& body) = 0;
};

class HttplibClient final : public Client {
 public:
  HttplibClient(int port, bool keep_alive) : client_("127.0.0.1", port) {
    // As pgbench keeps one connection per client; without it every write
    // also pays a TCP connect and close.
    client_.set_keep_alive(keep_alive);
    // cpp-httplib writes a request's headers and body apart: with Nagle on,
    // a kept connection waits out the server's delayed ACK (~40 ms).
    client_.set_tcp_nodelay(true);
  }
  Reply Call(const char* method, const std::string& path, const std::string& token,
             const std::string& if_match, const std::string& body) override {
    httplib::Headers h = {{"Authorization", "Bearer " + token}};
    if (!if_match.empty()) h.emplace("If-Match", if_match);
    auto res = std::string(method) == "PUT" ? client_.Put(path, h, body, "application/json")
                                            : client_.Get(path, h);
    if (!res) return {};
    return {res->status, res->body};
  }

 private:
  httplib::Client client_;
};

// HTTP/1.1 by hand on one socket (tests/http/raw_client.h): a request in
// one send, the answer read to its Content-Length (the control plane's
// answers always carry one).
class RawClient final : public Client {
 public:
  RawClient(int port, bool keep_alive) : port_(port), keep_alive_(keep_alive) {}
  ~RawClient() override { Close(); }

  Reply Call(const char* method, const std::string& path, const std::string& token,
             const std::string& if_match, const std::string& body) override {
    std::string request = std::string(method) + " " + path +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\n";
    if (!if_match.empty()) request += "If-Match: " + if_match + "\r\n";
    if (!keep_alive_) request += "Connection: close\r\n";
    if (std::string(method) != "GET") {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += "\r\n" + body;
    // A kept connection the server closed meanwhile fails before anything
    // is read: once, the request goes again on a fresh one.
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool fresh = fd_ < 0;
      if (fresh && (fd_ = http::testing::Connect(port_)) < 0) return {};
      if (http::testing::SendAll(fd_, request)) {
        auto reply = http::testing::ReadResponse(fd_, carry_, std::chrono::seconds(30));
        if (reply) {
          if (!keep_alive_) Close();
          return {reply->status, std::move(reply->body)};
        }
      }
      const bool read_any = !carry_.empty();
      Close();
      if (fresh || read_any) break;
    }
    return {};
  }

 private:
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    carry_.clear();
  }

  const int port_;
  const bool keep_alive_;
  int fd_ = -1;
  std::string carry_;  // bytes read past the last answer
};

nlohmann::json Run(ControlPlaneService& service, int port, int writers, double seconds,
                   const std::string& store_kind, bool keep_alive, bool raw) {
  // A name names one live token: one per round and process (a store given
  // with --store may hold an earlier run's).
  static std::atomic<int> tokens{0};
  const std::string name = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(tokens++);
  auto created =
      service.CreateToken(Principal{"bench", "admin", {"admin"}}, name, {"config:write"}, 0);
  if (!created.ok()) {
    std::fprintf(stderr, "bench_cas_writes: token %s: %s\n", name.c_str(),
                 created.status().message().c_str());
    std::exit(1);
  }
  const std::string token = created->secret;
  std::atomic<long> writes{0}, conflicts{0}, errors{0};
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  std::vector<std::thread> threads;
  static std::atomic<int> round{0};
  const int this_round = round++;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::unique_ptr<Client> client;
      if (raw) {
        client = std::make_unique<RawClient>(port, keep_alive);
      } else {
        client = std::make_unique<HttplibClient>(port, keep_alive);
      }
      nlohmann::json doc = SampleLayer();
      const std::string scope =
          "cluster:bench-" + std::to_string(this_round) + "-" + std::to_string(w);
      const std::string path = "/v1/layers/" + scope;
      std::int64_t revision = 0;  // 0: must not exist yet
      int n = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        const Reply res = client->Call("PUT", path, token, "\"" + std::to_string(revision) + "\"",
                                       Layer(doc, scope, 100 + (n++ % 900)));
        if (res.status < 0) {
          ++errors;
          return;
        }
        if (res.status == 200) {
          revision = nlohmann::json::parse(res.body)["revision"].get<std::int64_t>();
          ++writes;
        } else if (res.status == 409) {
          ++conflicts;
          const Reply get = client->Call("GET", path, token, "", "");
          if (get.status == 200) {
            revision = nlohmann::json::parse(get.body)["revision"].get<std::int64_t>();
          }
        } else {
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return {{"benchmark", "cas_writes_rest_" + store_kind},
          {"writers", writers},
          {"connections", keep_alive ? "kept" : "per-write"},
          {"client", raw ? "raw" : "httplib"},
          {"seconds", seconds},
          {"writes", writes.load()},
          {"writes_per_second", static_cast<double>(writes.load()) / seconds},
          {"conflicts", conflicts.load()},
          {"errors", errors.load()}};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  std::vector<int> writer_counts = {1, 4, 8};
  std::string store_url;
  bool keep_alive = true;
  bool raw = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds") {
      seconds = std::atof(argv[i + 1]);
    } else if (flag == "--writers") {
      writer_counts.clear();
      for (const std::string& item : SplitCommaList(argv[i + 1]))
        writer_counts.push_back(std::stoi(item));
    } else if (flag == "--store") {
      store_url = argv[i + 1];
    } else if (flag == "--connections" &&
               (std::string(argv[i + 1]) == "kept" || std::string(argv[i + 1]) == "per-write")) {
      keep_alive = std::string(argv[i + 1]) == "kept";
    } else if (flag == "--client" &&
               (std::string(argv[i + 1]) == "raw" || std::string(argv[i + 1]) == "httplib")) {
      raw = std::string(argv[i + 1]) == "raw";
    } else {
      std::fprintf(stderr,
                   "usage: bench_cas_writes [--seconds S] [--writers 1,4,8] [--store URL] "
                   "[--connections kept|per-write] [--client raw|httplib]\n");
      return 2;
    }
  }
  {
    bench::InprocControlPlane cp(/*synchronous_full=*/true, store_url);
    const std::string store_kind = store_url.empty() ? "sqlite_full" : "postgres";
    ControlPlaneService& service = cp.service;
    RestFaceOptions options;
    options.listen = "127.0.0.1:0";
    auto face = std::move(
        StartRestFace(options, service, cp.auth, cp.metrics, [] { return true; }).value());
    {
      // The global layer places every writer's cluster scope (DESIGN.md §3.1).
      nlohmann::json global = nlohmann::json::parse(Layer("global", 500));
      const int most = *std::max_element(writer_counts.begin(), writer_counts.end());
      for (std::size_t r = 0; r < writer_counts.size(); ++r) {
        for (int w = 0; w < most; ++w) {
          global["spec"]["topology"]["placements"]
                ["bench-" + std::to_string(r) + "-" + std::to_string(w)] = {{"cell", "use1-a"}};
        }
      }
      auto put = service.PutLayer(cp.admin, "global", global.dump(), std::nullopt, false, false);
      if (!put.ok()) {
        std::fprintf(stderr, "global layer: %s\n", put.status().ToString().c_str());
        return 1;
      }
    }
    nlohmann::json results = nlohmann::json::array();
    for (int writers : writer_counts)
      results.push_back(Run(service, face->port(), writers, seconds, store_kind, keep_alive, raw));
    for (const auto& result : results) std::printf("%s\n", result.dump().c_str());
    face->Shutdown();
  }
  return 0;
}
