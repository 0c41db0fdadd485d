// Breakdown of snapshot signature checking on a node: the whole verification
// of a 1 MiB payload, and its parts (base64, SHA-256 for the ETag), plus signing.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "omnirelay/config/digest.h"
#include "omnirelay/config/signing.h"

namespace omnirelay {
namespace {

constexpr std::size_t kPayloadBytes = 1 << 20;

// A snapshot-like JSON text of exactly kPayloadBytes bytes.
std::string MakePayload() {
  std::string text =
      R"({"apiVersion":"omnirelay.config/v1","kind":"Snapshot","spec":{"clusters":{)";
  for (int i = 0; text.size() < kPayloadBytes; ++i) {
    const std::string n = std::to_string(i);
    text += "\"api-" + n + R"(":{"service":"api-)" + n + R"(","region":"eu-west-)" +
            std::to_string(i % 3) + R"(","failover":["api-)" + std::to_string(i + 1) +
            R"("],"timeoutMs":250},)";
  }
  text.resize(kPayloadBytes - 4);
  text += "\"}}}";
  return text;
}

const std::string& Payload() {
  static const std::string payload = MakePayload();
  return payload;
}

const SigningKey& Key() {
  static const SigningKey key = [] {
    Result<SigningKey> k = SigningKey::FromSeed(std::string(32, '\x07'));
    if (!k.ok()) std::abort();
    return std::move(k).value();
  }();
  return key;
}

// Verifies an envelope of `payload` once per iteration.
void VerifyLoop(benchmark::State& state, const std::string& payload) {
  TrustedKeySet keys;
  if (!keys.Add(Key().public_key_raw()).ok()) std::abort();
  Result<std::string> envelope = SignEnvelope(Key(), kSnapshotPayloadType, payload);
  if (!envelope.ok()) {
    state.SkipWithError(envelope.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    Result<VerifiedPayload> verified = VerifyEnvelope(*envelope, keys, kSnapshotPayloadType);
    if (!verified.ok()) {
      state.SkipWithError(verified.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(verified->payload.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
  state.counters["envelope_bytes"] = static_cast<double>(envelope->size());
}

void BM_VerifyEnvelope_1MiB(benchmark::State& state) {
  VerifyLoop(state, Payload());
}
BENCHMARK(BM_VerifyEnvelope_1MiB)->Unit(benchmark::kMillisecond);

// A small snapshot (a few KiB, like the samples): the fixed per-verification
// cost every node pays on every notify, dominated by the Ed25519 check.
void BM_VerifyEnvelope_2KiB(benchmark::State& state) {
  static const std::string small = Payload().substr(0, 2048);
  VerifyLoop(state, small);
}
BENCHMARK(BM_VerifyEnvelope_2KiB)->Unit(benchmark::kMicrosecond)->Threads(1)->Threads(2);

void BM_SignEnvelope_1MiB(benchmark::State& state) {
  for (auto _ : state) {
    Result<std::string> envelope = SignEnvelope(Key(), kSnapshotPayloadType, Payload());
    if (!envelope.ok()) {
      state.SkipWithError(envelope.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(envelope->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * Payload().size()));
}
BENCHMARK(BM_SignEnvelope_1MiB)->Unit(benchmark::kMillisecond);

void BM_Sha256_1MiB(benchmark::State& state) {
  for (auto _ : state) {
    std::string hex = Sha256Hex(Payload());
    benchmark::DoNotOptimize(hex.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * Payload().size()));
}
BENCHMARK(BM_Sha256_1MiB)->Unit(benchmark::kMicrosecond);

// Decodes into a reused buffer, as VerifyEnvelope does after the PAE header.
void BM_Base64Decode_1MiB(benchmark::State& state) {
  const std::string text = Base64Encode(Payload());
  std::string out;
  out.reserve(Base64DecodedSize(text));
  for (auto _ : state) {
    out.clear();
    if (!Base64DecodeAppend(text, out).ok()) {
      state.SkipWithError("decode failed");
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Base64Decode_1MiB)->Unit(benchmark::kMicrosecond);

// Base64Decode allocating its result each time.
void BM_Base64DecodeAlloc_1MiB(benchmark::State& state) {
  const std::string text = Base64Encode(Payload());
  for (auto _ : state) {
    Result<std::string> out = Base64Decode(text);
    benchmark::DoNotOptimize(out->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Base64DecodeAlloc_1MiB)->Unit(benchmark::kMicrosecond);

void BM_Base64Encode_1MiB(benchmark::State& state) {
  for (auto _ : state) {
    std::string text = Base64Encode(Payload());
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * Payload().size()));
}
BENCHMARK(BM_Base64Encode_1MiB)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace omnirelay
