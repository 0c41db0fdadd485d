#include "bench_fixtures.h"

#include <nlohmann/json.hpp>

namespace omnirelay::bench {
namespace {

using Json = nlohmann::json;

constexpr int kRegions = 4;
constexpr int kCellsPerRegion = 3;

std::string RegionName(int r) {
  return "region-" + std::to_string(r);
}
std::string CellName(int r, int c) {
  return "cell-" + std::to_string(r) + "-" + std::to_string(c);
}

// Cluster i serves service i/2, so each service has two clusters; the even
// one fails over to the odd one.
Json SpecJson(std::size_t clusters, std::size_t routes) {
  Json spec;
  for (int r = 0; r < kRegions; ++r) {
    Json cells = Json::array();
    for (int c = 0; c < kCellsPerRegion; ++c) cells.push_back(CellName(r, c));
    spec["topology"]["regions"][RegionName(r)] = {{"cells", cells}};
  }
  for (std::size_t i = 0; i < clusters; ++i) {
    const int r = static_cast<int>(i % kRegions), c = static_cast<int>(i % kCellsPerRegion);
    Json cluster = {{"service", "svc-" + std::to_string(i / 2)},
                    {"region", RegionName(r)},
                    {"cell", CellName(r, c)},
                    {"timeoutMs", 250 + static_cast<int>(i % 500)}};
    if (i % 2 == 0 && i + 1 < clusters) {
      cluster["failover"] = Json::array({"cluster-" + std::to_string(i + 1)});
    }
    spec["clusters"]["cluster-" + std::to_string(i)] = std::move(cluster);
  }
  const std::size_t services = clusters / 2;
  for (std::size_t i = 0; i < routes; ++i) {
    const std::size_t s = i % services;
    Json route = {
        {"service", "svc-" + std::to_string(s)},
        {"procedure", "pkg.Service" + std::to_string(s) + "/Method" + std::to_string(i)},
        {"weights",
         {{"cluster-" + std::to_string(2 * s), 90}, {"cluster-" + std::to_string(2 * s + 1), 10}}}};
    spec["routes"]["route-" + std::to_string(i)] = std::move(route);
  }
  spec["dispatcher"] = {{"maxConcurrentRequests", 5000}};
  spec["topology"]["bridges"]["bridge-0"] = {{"cells", {CellName(0, 0), CellName(1, 0)}},
                                             {"exportServices", {"svc-0"}},
                                             {"quotaRps", 1000}};
  return spec;
}

std::string SnapshotJson(std::size_t clusters, std::size_t routes) {
  Json doc = {{"apiVersion", "omnirelay.config/v1"},
              {"kind", "Snapshot"},
              {"metadata",
               {{"version", 1234},
                {"scopeChain", {"global", "region:region-0"}},
                {"createdAt", "2026-11-27T00:00:00Z"},
                {"expiresAt", "2026-12-27T00:00:00Z"},
                {"author", "bench"},
                {"requiredFeatures", Json::array()}}},
              {"spec", SpecJson(clusters, routes)}};
  return doc.dump();
}

}  // namespace

std::string MakeSnapshotJson(std::size_t target_bytes) {
  // Size one probe, then scale: entries cost a roughly constant number of bytes.
  const std::size_t probe = SnapshotJson(200, 1000).size();
  const std::size_t n = std::max<std::size_t>(1, target_bytes * 1000 / probe);
  return SnapshotJson(std::max<std::size_t>(2, n / 5), n);
}

Spec MakeSpec(std::size_t clusters, std::size_t routes) {
  Spec spec;
  for (int r = 0; r < kRegions; ++r) {
    Region region;
    for (int c = 0; c < kCellsPerRegion; ++c) region.cells.push_back(CellName(r, c));
    spec.topology.regions.push_back({RegionName(r), region});
  }
  spec.clusters.reserve(clusters);
  for (std::size_t i = 0; i < clusters; ++i) {
    const int r = static_cast<int>(i % kRegions), c = static_cast<int>(i % kCellsPerRegion);
    Cluster cl;
    cl.service = "svc-" + std::to_string(i / 2);
    cl.region = RegionName(r);
    cl.cell = CellName(r, c);
    if (i % 2 == 0 && i + 1 < clusters) cl.failover.push_back("cluster-" + std::to_string(i + 1));
    spec.clusters.push_back({"cluster-" + std::to_string(i), std::move(cl)});
  }
  const std::size_t services = clusters / 2;
  spec.routes.reserve(routes);
  for (std::size_t i = 0; i < routes; ++i) {
    const std::size_t s = i % services;
    Route route;
    route.service = "svc-" + std::to_string(s);
    route.weights = {{"cluster-" + std::to_string(2 * s), 90},
                     {"cluster-" + std::to_string(2 * s + 1), 10}};
    if (i % 10 == 0) {  // every tenth route mirrors 5% to its weightless second cluster
      route.weights[0].weight = 100;
      route.weights[1].weight = 0;
      route.shadow = Shadow{"cluster-" + std::to_string(2 * s + 1), 500};
    }
    spec.routes.push_back({"route-" + std::to_string(i), std::move(route)});
  }
  return spec;
}

}  // namespace omnirelay::bench
