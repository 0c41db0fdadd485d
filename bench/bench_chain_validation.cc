// Chain validation cost of a write (issue "Fleet truth", DESIGN.md §3.1): an
// in-process service on SQLite with a global layer whose topology places
// R regions x C cells x K cluster scopes (1,000 cluster scopes by default),
// a small layer on every cluster scope, and N nodes spread evenly over the
// cluster chains (10,000 nodes on 1,000 distinct chains). Times dry-run
// writes (the planning a real write does, minus the commit) of the global
// layer — checked against every chain the topology forms and every node
// chain — and of one region layer. Prints one JSON object per write kind.
//   bench_chain_validation [--iterations N] [--nodes N]
// Target: global write p99 <= 250 ms at 10,000 nodes on 1,000 chains.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inproc_control_plane.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"

using namespace omnirelay;
using namespace omnirelay::cp;
using Json = nlohmann::json;

namespace {

constexpr int kRegions = 10, kCells = 10, kClusters = 10;  // per region, per cell

std::string Name(const char* prefix, int a, int b = -1, int c = -1) {
  std::string out = prefix + std::to_string(a);
  if (b >= 0) out += "-" + std::to_string(b);
  if (c >= 0) out += "-" + std::to_string(c);
  return out;
}

std::string LayerDoc(const std::string& scope, Json spec) {
  return Json{{"apiVersion", "omnirelay.config/v1"},
              {"kind", "ConfigLayer"},
              {"metadata", {{"scope", scope}, {"author", "bench"}}},
              {"spec", std::move(spec)}}
      .dump();
}

// The global layer: the topology, and per region one routing cluster and one
// route, so every chain renders a real spec.
std::string GlobalDoc(int max_requests) {
  Json spec;
  for (int r = 0; r < kRegions; ++r) {
    const std::string region = Name("r", r);
    Json cells = Json::array();
    for (int c = 0; c < kCells; ++c) {
      const std::string cell = Name("c", r, c);
      cells.push_back(cell);
      for (int k = 0; k < kClusters; ++k) {
        spec["topology"]["placements"][Name("k", r, c, k)] = {{"cell", cell}};
      }
    }
    spec["topology"]["regions"][region] = {{"cells", cells}};
    spec["clusters"][Name("svc", r)] = {
        {"service", Name("svc", r)}, {"region", region}, {"cell", Name("c", r, 0)}};
    spec["routes"][Name("route", r)] = {{"service", Name("svc", r)},
                                        {"weights", {{Name("svc", r), 100}}}};
  }
  spec["dispatcher"]["maxConcurrentRequests"] = max_requests;
  return LayerDoc("global", spec);
}

struct Figures {
  double p50_ms, p99_ms, max_ms;
  std::size_t chains;
};

template <typename Write>
Figures Time(int iterations, Write write) {
  std::vector<double> ms;
  std::size_t chains = 0;
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    chains = write(i);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1,
                       static_cast<std::size_t>(q * static_cast<double>(ms.size())))];
  };
  return {at(0.5), at(0.99), ms.back(), chains};
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 30, nodes = 10'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--nodes") == 0) nodes = std::atoi(argv[i + 1]);
  }
  {
    bench::InprocControlPlane cp(/*synchronous_full=*/false);
    ControlPlaneService& service = cp.service;
    Store& store = *cp.store;
    const Principal& admin = cp.admin;

    auto must = [&](const Result<WriteOutcome>& r, const char* what) {
      if (!r.ok()) {
        std::fprintf(stderr, "%s: %s\n", what, r.status().ToString().c_str());
        std::exit(1);
      }
    };
    must(service.PutLayer(admin, "global", GlobalDoc(1000), std::nullopt, false, false), "global");
    std::vector<std::string> chains;
    for (int r = 0; r < kRegions; ++r) {
      for (int c = 0; c < kCells; ++c) {
        for (int k = 0; k < kClusters; ++k) {
          const std::string cluster = "cluster:" + Name("k", r, c, k);
          must(service.PutLayer(
                   admin, cluster,
                   LayerDoc(cluster, {{"dispatcher", {{"maxConcurrentRequests", 100 + k}}}}),
                   std::nullopt, false, false),
               "cluster layer");
          chains.push_back("global,region:" + Name("r", r) + ",cell:" + Name("c", r, c) + "," +
                           cluster);
        }
      }
    }
    std::vector<NodeRecord> records;
    for (int n = 0; n < nodes; ++n) {
      NodeRecord node;
      node.node_id = "node-" + std::to_string(n);
      node.scope_chain = chains[static_cast<std::size_t>(n) % chains.size()];
      node.api_version = "omnirelay.config/v1";
      node.health_json = "{}";
      records.push_back(std::move(node));
    }
    if (Status s = store.UpsertNodes(records); !s.ok()) {
      std::fprintf(stderr, "nodes: %s\n", s.ToString().c_str());
      return 1;
    }

    const Figures global = Time(iterations, [&](int i) {
      auto r = service.PutLayer(admin, "global", GlobalDoc(2000 + i), std::nullopt, true, false);
      must(r, "global dry run");
      if (!r->diagnostics.empty()) {
        std::fprintf(stderr, "global dry run: %s\n", r->diagnostics[0].message.c_str());
        std::exit(1);
      }
      return r->chains_checked.size();
    });
    const Figures region = Time(iterations, [&](int i) {
      auto r = service.PutLayer(
          admin, "region:r3",
          LayerDoc("region:r3", {{"dispatcher", {{"maxConcurrentRequests", 500 + i}}}}),
          std::nullopt, true, false);
      must(r, "region dry run");
      return r->chains_checked.size();
    });
    for (const auto& [kind, f] : {std::pair{"global", global}, std::pair{"region", region}}) {
      std::printf("%s\n", Json{{"benchmark", std::string("chain_validation_") + kind},
                               {"nodes", nodes},
                               {"distinct_node_chains",
                                std::min<std::size_t>(records.size(), chains.size())},
                               {"chains_checked", f.chains},
                               {"iterations", iterations},
                               {"p50_ms", f.p50_ms},
                               {"p99_ms", f.p99_ms},
                               {"max_ms", f.max_ms},
                               {"target_p99_ms", std::string(kind) == "global" ? 250 : 0}}
                              .dump()
                              .c_str());
    }
  }
  return 0;
}
