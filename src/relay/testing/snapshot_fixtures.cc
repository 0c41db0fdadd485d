#include "snapshot_fixtures.h"

#include <cstdlib>
#include <iostream>
#include <system_error>

#include "omnirelay/config/decode.h"

namespace omnirelay::relay::testing {
namespace {

[[noreturn]] void Die(const Status& status) {
  std::cerr << "snapshot fixture: " << status.ToString() << "\n";
  std::abort();
}

SigningKey GenerateKey() {
  Result<SigningKey> key = SigningKey::Generate();
  if (!key.ok()) Die(key.status());
  return std::move(key).value();
}

}  // namespace

Json SnapshotDoc(std::int64_t version, std::int64_t expires_at_unix_s) {
  Json doc = Json::parse(R"({
    "apiVersion": "omnirelay.config/v1",
    "kind": "Snapshot",
    "metadata": {"author": "test", "requiredFeatures": ["shadowing"],
                 "scopeChain": ["global", "region:us-east", "cell:use1-a"]},
    "spec": {
      "clusters": {
        "billing-v1": {"service": "billing", "region": "us-east", "cell": "use1-a",
                       "failover": ["billing-dr"], "timeoutMs": 500},
        "billing-v2": {"service": "billing", "region": "us-east", "cell": "use1-a"},
        "billing-dr": {"service": "billing", "region": "eu-west", "cell": "euw1-a",
                       "failover": ["billing-eu"]},
        "billing-eu": {"service": "billing", "region": "eu-west", "cell": "euw1-a"},
        "auth-v1":    {"service": "auth", "region": "us-east", "cell": "use1-a"}
      },
      "routes": {
        "billing": {"service": "billing", "procedure": "*",
                    "weights": {"billing-v1": 90, "billing-v2": 10},
                    "shadow": {"cluster": "billing-dr", "percent": 5}},
        "auth":    {"service": "auth", "weights": {"auth-v1": 100}}
      },
      "dispatcher": {"maxConcurrentRequests": 1000},
      "topology": {
        "regions": {"us-east": {"cells": ["use1-a"]}, "eu-west": {"cells": ["euw1-a"]}},
        "bridges": {"use1-euw1": {"cells": ["use1-a", "euw1-a"], "exportServices": ["auth"],
                                  "denyServices": [], "quotaRps": 1000}}
      },
      "security": {"jwksUri": "https://idp.example/jwks.json"}
    }
  })");
  doc["metadata"]["version"] = version;
  doc["metadata"]["createdAt"] = FormatRfc3339(expires_at_unix_s - 3600);
  doc["metadata"]["expiresAt"] = FormatRfc3339(expires_at_unix_s);
  return doc;
}

TestSigner::TestSigner() : key_(GenerateKey()) {
  if (Status added = keys_.Add(key_.public_key_raw()); !added.ok()) Die(added);
}

std::string TestSigner::SignBytes(std::string_view payload) const {
  Result<std::string> envelope = SignEnvelope(key_, kSnapshotPayloadType, payload);
  if (!envelope.ok()) Die(envelope.status());
  return std::move(envelope).value();
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "omni-relay-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) Die(Status(StatusCode::kIoError, "mkdtemp failed"));
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace omnirelay::relay::testing
