// Small builders of valid config documents for the omni_config unit tests,
// and helpers that render diagnostics as "code path" strings, so a failing
// expectation prints exactly what was reported.
//
// Every builder returns a document that decodes and validates as it is; a
// test breaks exactly one thing and checks the one diagnostic that follows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/diagnostic.h"
#include "omnirelay/config/model.h"
#include "omnirelay/config/status.h"

namespace omnirelay::testdocs {

using Json = nlohmann::json;

// The spec of DESIGN.md §3.1: every section present, valid once "shadowing"
// is enabled (routes.billing has a shadow).
inline Json ValidSpecJson() {
  return Json::parse(R"({
    "clusters": {
      "billing-v1": {"service": "billing", "region": "us-east", "cell": "use1-a",
                     "failover": ["billing-dr"], "timeoutMs": 500},
      "billing-v2": {"service": "billing", "region": "us-east", "cell": "use1-a"},
      "billing-dr": {"service": "billing", "region": "eu-west", "cell": "euw1-a"},
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
  })");
}

// A cluster of `service`; the other fields default to absent.
inline Cluster MakeCluster(std::string service, std::string region = "", std::string cell = "",
                           std::vector<std::string> failover = {},
                           std::optional<std::int64_t> timeout_ms = std::nullopt) {
  Cluster c;
  c.service = std::move(service);
  c.region = std::move(region);
  c.cell = std::move(cell);
  c.failover = std::move(failover);
  c.timeout_ms = timeout_ms;
  return c;
}

// A route of `service` for every procedure ("*").
inline Route MakeRoute(std::string service, std::vector<RouteWeight> weights,
                       std::optional<Shadow> shadow = std::nullopt) {
  Route r;
  r.service = std::move(service);
  r.weights = std::move(weights);
  r.shadow = std::move(shadow);
  return r;
}

// ValidSpecJson() as the typed model. Named entries are in the order that
// ValidSpecJson().dump() lists them (nlohmann sorts keys), so
// DecodeSpec(ValidSpecJson().dump(), {"shadowing"}) == ValidSpec().
inline Spec ValidSpec() {
  Spec s;
  s.clusters = {
      {"auth-v1", MakeCluster("auth", "us-east", "use1-a")},
      {"billing-dr", MakeCluster("billing", "eu-west", "euw1-a")},
      {"billing-v1", MakeCluster("billing", "us-east", "use1-a", {"billing-dr"}, 500)},
      {"billing-v2", MakeCluster("billing", "us-east", "use1-a")},
  };
  s.routes = {
      {"auth", MakeRoute("auth", {{"auth-v1", 100}})},
      {"billing",
       MakeRoute("billing", {{"billing-v1", 90}, {"billing-v2", 10}}, Shadow{"billing-dr", 500})},
  };
  s.dispatcher.max_concurrent_requests = 1000;
  s.topology.regions = {{"eu-west", Region{{"euw1-a"}}}, {"us-east", Region{{"use1-a"}}}};
  s.topology.bridges = {{"use1-euw1",
                         {.cells = {"use1-a", "euw1-a"},
                          .export_services = {"auth"},
                          .deny_services = {},
                          .quota_rps = 1000}}};
  s.security.jwks_uri = "https://idp.example/jwks.json";
  return s;
}

// A ConfigLayer document at `scope` with `spec`; features only when non-empty.
inline Json LayerDoc(std::string_view scope = "global", Json spec = Json::object(),
                     const std::vector<std::string>& features = {}) {
  Json doc = Json::object();
  doc["apiVersion"] = std::string(kApiVersion);
  doc["kind"] = std::string(kKindLayer);
  doc["metadata"] = Json::object();
  doc["metadata"]["scope"] = std::string(scope);
  doc["metadata"]["author"] = "ops";
  if (!features.empty()) doc["metadata"]["features"] = features;
  doc["spec"] = std::move(spec);
  return doc;
}

// JSON text of the smallest valid layer: a scope and an empty spec.
inline std::string MinimalLayerJson(std::string_view scope = "global") {
  return LayerDoc(scope).dump();
}

// A global layer carrying ValidSpecJson() with "shadowing" enabled.
inline Json ValidLayerDoc() {
  return LayerDoc("global", ValidSpecJson(), {"shadowing"});
}
inline std::string ValidLayerJson() {
  return ValidLayerDoc().dump();
}

// A Snapshot document of `spec` requiring `required_features`.
inline Json SnapshotDoc(Json spec = ValidSpecJson(),
                        const std::vector<std::string>& required_features = {"shadowing"}) {
  Json doc = Json::object();
  doc["apiVersion"] = std::string(kApiVersion);
  doc["kind"] = std::string(kKindSnapshot);
  doc["metadata"] = Json::parse(R"({
    "version": 42,
    "scopeChain": ["global", "region:us-east", "cell:use1-a", "node:n-1"],
    "createdAt": "2026-11-27T07:31:49Z",
    "expiresAt": "2026-11-28T07:31:49Z",
    "author": "controlplane"
  })");
  doc["metadata"]["requiredFeatures"] = required_features;
  doc["spec"] = std::move(spec);
  return doc;
}

// JSON text of a valid Snapshot of ValidSpecJson().
inline std::string ValidSnapshotJson() {
  return SnapshotDoc().dump();
}

// "code path" of each diagnostic, in the order reported.
inline std::vector<std::string> Problems(const std::vector<Diagnostic>& diags) {
  std::vector<std::string> out;
  for (const auto& d : diags) out.push_back(std::string(diag_code_name(d.code)) + " " + d.path);
  return out;
}
inline std::vector<std::string> Problems(const Status& status) {
  return Problems(status.diagnostics());
}
template <typename T>
std::vector<std::string> Problems(const Result<T>& result) {
  return Problems(result.status());
}

// The one-element list Problems() returns for a single diagnostic.
inline std::vector<std::string> One(std::string_view code, std::string_view path) {
  return {std::string(code) + " " + std::string(path)};
}

// The value of the entry called `name`; throws when there is none.
template <typename T>
T& Entry(std::vector<Named<T>>& entries, std::string_view name) {
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const Named<T>& n) { return n.name == name; });
  if (it == entries.end()) throw std::out_of_range("no entry " + std::string(name));
  return it->value;
}

// Removes the entry called `name`, if any.
template <typename T>
void Erase(std::vector<Named<T>>& entries, std::string_view name) {
  std::erase_if(entries, [&](const Named<T>& n) { return n.name == name; });
}

}  // namespace omnirelay::testdocs
