// CAS write throughput through the REST API on SQLite (synchronous=FULL), or
// on the store named by --store (a Postgres url): an in-process control plane
// (real store, real REST face on a loopback port) and W writer threads, each
// doing read-modify-write with If-Match on its own scope for a fixed time.
// Each writer keeps one HTTP connection (--connections per-write: a new one
// for every write, as this program did before 2026-12-06). Prints one JSON
// object per writer count.
//   bench_cas_writes [--seconds S] [--writers 1,4,8] [--store postgres://...]
//                    [--connections kept|per-write]
// (bench/pg_cas_vs_pgbench.sh runs it next to pgbench on one server.)
// Loopback only; stops by itself.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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

nlohmann::json Run(ControlPlaneService& service, int port, int writers, double seconds,
                   const std::string& store_kind, bool keep_alive) {
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
      httplib::Client client("127.0.0.1", port);
      // One connection per writer, as pgbench keeps one per client; without
      // it every write also pays a TCP connect and close.
      client.set_keep_alive(keep_alive);
      // cpp-httplib writes a request's headers and body apart: with Nagle
      // on, a kept connection waits out the server's delayed ACK (~40 ms).
      client.set_tcp_nodelay(true);
      nlohmann::json doc = SampleLayer();
      const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
      const std::string scope =
          "cluster:bench-" + std::to_string(this_round) + "-" + std::to_string(w);
      std::int64_t revision = 0;  // 0: must not exist yet
      int n = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        httplib::Headers h = auth;
        h.emplace("If-Match", "\"" + std::to_string(revision) + "\"");
        auto res = client.Put("/v1/layers/" + scope, h, Layer(doc, scope, 100 + (n++ % 900)),
                              "application/json");
        if (!res) {
          ++errors;
          return;
        }
        if (res->status == 200) {
          revision = nlohmann::json::parse(res->body)["revision"].get<std::int64_t>();
          ++writes;
        } else if (res->status == 409) {
          ++conflicts;
          auto get = client.Get("/v1/layers/" + scope, auth);
          if (get && get->status == 200) {
            revision = nlohmann::json::parse(get->body)["revision"].get<std::int64_t>();
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
    } else {
      std::fprintf(stderr,
                   "usage: bench_cas_writes [--seconds S] [--writers 1,4,8] [--store URL] "
                   "[--connections kept|per-write]\n");
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
      results.push_back(Run(service, face->port(), writers, seconds, store_kind, keep_alive));
    for (const auto& result : results) std::printf("%s\n", result.dump().c_str());
    face->Shutdown();
  }
  return 0;
}
