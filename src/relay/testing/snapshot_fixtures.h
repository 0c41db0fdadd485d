// Signed snapshot fixtures for the relay tests and benchmarks (not for
// production code): a valid Snapshot document to vary, a signer with its
// trusted key set, and a temporary directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "omnirelay/config/signing.h"

namespace omnirelay::relay::testing {

using Json = nlohmann::json;

// FakeClock's default wall time, in unix seconds.
inline constexpr std::int64_t kFakeNowUnixS = 1'800'000'000;

// A valid Snapshot document with the spec of DESIGN.md §3.1: route "billing"
// splits 90/10 over billing-v1/billing-v2 and mirrors 5% to billing-dr
// (requiredFeatures ["shadowing"]); billing-v1 fails over to billing-dr, which
// fails over to billing-eu; route "auth" sends everything to auth-v1.
// createdAt is an hour before `expires_at_unix_s`.
Json SnapshotDoc(std::int64_t version, std::int64_t expires_at_unix_s = kFakeNowUnixS + 3600);

// An Ed25519 signing key (fresh from the CSPRNG) and a trusted set holding it.
class TestSigner {
 public:
  TestSigner();

  const SigningKey& key() const { return key_; }
  const TrustedKeySet& keys() const { return keys_; }
  // The DSSE envelope of `payload` / of doc.dump().
  std::string SignBytes(std::string_view payload) const;
  std::string Sign(const Json& doc) const { return SignBytes(doc.dump()); }

 private:
  SigningKey key_;
  TrustedKeySet keys_;
};

// A fresh directory under the system temp dir, removed with its content.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace omnirelay::relay::testing
