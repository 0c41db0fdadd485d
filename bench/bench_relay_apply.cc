// Apply latency of a 1 MiB snapshot inside a relay node, end to end: verify
// the DSSE envelope (Ed25519), content id, decode, validate, prepare the
// routing table, swap (and free the replaced snapshot). Each iteration applies
// a new version to a long-lived host; p50/p99 per apply are reported as
// counters (milliseconds).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_fixtures.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/router.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

constexpr std::size_t kSnapshotBytes = 1 << 20;
constexpr int kVersions = 16;

// kVersions envelopes of the 1 MiB snapshot with versions 1..kVersions.
struct ApplyFixture {
  ApplyFixture() {
    nlohmann::json doc = nlohmann::json::parse(bench::MakeSnapshotJson(kSnapshotBytes));
    for (int v = 1; v <= kVersions; ++v) {
      doc["metadata"]["version"] = v;
      const std::string payload = doc.dump();
      payload_bytes = payload.size();
      envelopes.push_back(signer.SignBytes(payload));
    }
    // Inside the fixture's validity window (createdAt 2026-11-27, expiresAt 2026-12-27).
    now_unix_ms = *ParseRfc3339("2026-12-01T00:00:00Z") * 1000;
  }

  testing::TestSigner signer;
  std::vector<std::string> envelopes;
  std::size_t payload_bytes = 0;
  std::int64_t now_unix_ms = 0;
};

const ApplyFixture& Fixture() {
  static const ApplyFixture* fixture = new ApplyFixture();
  return *fixture;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

void RunApply(benchmark::State& state, bool with_router, bool with_lkg) {
  const ApplyFixture& f = Fixture();
  FakeClock clock(f.now_unix_ms);
  MetricsRegistry metrics;
  std::unique_ptr<testing::TempDir> dir;
  if (with_lkg) dir = std::make_unique<testing::TempDir>();
  auto new_host = [&] {
    ConfigHostOptions options;
    options.trusted_keys = f.signer.keys();
    if (dir) options.lkg_path = (dir->path() / "lkg.json").string();
    auto host = std::make_unique<ConfigHost>(std::move(options), clock, metrics);
    if (with_router && !Router::Attach(*host).ok()) std::abort();
    return host;
  };
  std::unique_ptr<ConfigHost> host = new_host();
  std::vector<double> millis;
  int next = 0;
  for (auto _ : state) {
    if (next == kVersions) {  // versions used up: a fresh host, off the clock
      state.PauseTiming();
      host = new_host();
      next = 0;
      state.ResumeTiming();
    }
    const auto start = std::chrono::steady_clock::now();
    auto outcome = host->Apply(f.envelopes[static_cast<std::size_t>(next++)]);
    millis.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    if (!outcome.ok() || outcome->kind != ApplyKind::kApplied) {
      state.SkipWithError(outcome.ok() ? "not applied" : outcome.status().ToString().c_str());
      return;
    }
  }
  state.counters["p50_ms"] = Percentile(millis, 0.5);
  state.counters["p99_ms"] = Percentile(millis, 0.99);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(f.payload_bytes));
}

// The full apply with the routing listener attached (the production shape).
void BM_ApplySnapshot_1MiB(benchmark::State& state) {
  RunApply(state, /*with_router=*/true, /*with_lkg=*/false);
}
BENCHMARK(BM_ApplySnapshot_1MiB)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Without listeners: verification, decode, validation and swap only.
void BM_ApplySnapshot_1MiB_NoListeners(benchmark::State& state) {
  RunApply(state, /*with_router=*/false, /*with_lkg=*/false);
}
BENCHMARK(BM_ApplySnapshot_1MiB_NoListeners)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Plus the last-known-good writes (two atomic file replacements with fsync).
void BM_ApplySnapshot_1MiB_WithLkg(benchmark::State& state) {
  RunApply(state, /*with_router=*/true, /*with_lkg=*/true);
}
BENCHMARK(BM_ApplySnapshot_1MiB_WithLkg)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace omnirelay::relay
