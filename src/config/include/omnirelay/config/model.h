// The typed document model (DESIGN.md §3.1). Plain values: build them with
// DecodeLayer/DecodeSnapshot (decode.h), check them with Validate (validate.h).
//
// Named things (clusters, routes, regions, bridges) are maps keyed by name in
// JSON; here they are vectors of Named<T> in document order, so decoding stays
// allocation-light and the hot paths that need lookups build their own index.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace omnirelay {

inline constexpr std::string_view kApiVersion = "omnirelay.config/v1";
inline constexpr std::string_view kKindLayer = "ConfigLayer";
inline constexpr std::string_view kKindSnapshot = "Snapshot";

// Features a document may enable (metadata.features / requiredFeatures).
// "shadowing" gates routes.*.shadow; "artefacts" gates the rotated
// artefacts of spec.security (caBundles, certificates, jwks, extAuthz): a
// snapshot carrying them requires the feature, so a node that does not
// advertise it is never sent one (the control plane refuses the publish).
inline constexpr std::string_view kFeatureShadowing = "shadowing";
inline constexpr std::string_view kFeatureArtefacts = "artefacts";

// Features a node may advertise (its hello's `features`) for fields added to
// the snapshot format after v1 (DESIGN.md §3.3, Compatibility): a snapshot
// carries such a field only to a node that advertised the feature, and a
// reader without it refuses the field as unknown_field, as a build older than
// the field does. Not document features: no layer enables them.
// "rolloutInfo" defines metadata.rollout.
inline constexpr std::string_view kFeatureRolloutInfo = "rolloutInfo";

template <typename T>
struct Named {
  std::string name;
  T value;
  friend bool operator==(const Named&, const Named&) = default;
};

struct Cluster {
  std::string service;
  std::string region;                 // "" when absent
  std::string cell;                   // "" when absent
  std::vector<std::string> failover;  // cluster names, in order of preference
  std::optional<std::int64_t> timeout_ms;
  friend bool operator==(const Cluster&, const Cluster&) = default;
};

// Shadow (mirror) a percent of a route's requests to another cluster.
struct Shadow {
  std::string cluster;
  // Percent in hundredths: 0..10000 (the document allows two decimals: 12.34% -> 1234).
  std::uint32_t basis_points = 0;
  friend bool operator==(const Shadow&, const Shadow&) = default;
};

struct RouteWeight {
  std::string cluster;
  std::int64_t weight = 0;
  friend bool operator==(const RouteWeight&, const RouteWeight&) = default;
};

struct Route {
  std::string service;
  std::string procedure = "*";
  std::vector<RouteWeight> weights;
  std::optional<Shadow> shadow;  // feature-gated: "shadowing"
  friend bool operator==(const Route&, const Route&) = default;
};

struct Dispatcher {
  std::optional<std::int64_t> max_concurrent_requests;
  friend bool operator==(const Dispatcher&, const Dispatcher&) = default;
};

struct Region {
  std::vector<std::string> cells;
  friend bool operator==(const Region&, const Region&) = default;
};

struct Bridge {
  std::vector<std::string> cells;
  std::vector<std::string> export_services;
  std::vector<std::string> deny_services;
  std::int64_t quota_rps = 0;
  friend bool operator==(const Bridge&, const Bridge&) = default;
};

// Where a deployment cluster (the `cluster:` scope, not a routing cluster)
// sits: its cell (DESIGN.md §3.1).
struct Placement {
  std::string cell;
  friend bool operator==(const Placement&, const Placement&) = default;
};

struct Topology {
  std::vector<Named<Region>> regions;
  std::vector<Named<Bridge>> bridges;
  std::vector<Named<Placement>> placements;  // keyed by cluster-scope name
  friend bool operator==(const Topology&, const Topology&) = default;
};

// Rotated artefacts (feature "artefacts"): public material only, each with
// its own notAfter (unix seconds; RFC 3339 UTC in JSON), after which a node
// refuses the capability it guards. Private keys are refused at decode
// (private_key_material): any config:read token can read a layer.
struct CaBundle {
  std::string pem;  // one or more CERTIFICATE blocks
  std::int64_t not_after = 0;
  friend bool operator==(const CaBundle&, const CaBundle&) = default;
};

// A workload identity's leaf certificate and its chain (leaf first); the
// private key stays with the workload.
struct LeafCertificate {
  std::string chain_pem;
  std::int64_t not_after = 0;
  friend bool operator==(const LeafCertificate&, const LeafCertificate&) = default;
};

// A JWKS document's public keys, each kept as canonical JSON text (sorted
// keys), so a verifier reads them with its own JWK code.
struct JwkSet {
  std::vector<std::string> keys;
  std::int64_t not_after = 0;
  friend bool operator==(const JwkSet&, const JwkSet&) = default;
};

// An external-authorization service: "https://host[:port][/path]" or "host:port".
struct ExtAuthz {
  std::string endpoint;
  std::int64_t not_after = 0;
  friend bool operator==(const ExtAuthz&, const ExtAuthz&) = default;
};

struct Security {
  std::string jwks_uri;                              // "" when absent
  std::vector<Named<CaBundle>> ca_bundles;           // feature-gated: "artefacts"
  std::vector<Named<LeafCertificate>> certificates;  // by identity; feature-gated
  std::vector<Named<JwkSet>> jwks;                   // feature-gated
  std::vector<Named<ExtAuthz>> ext_authz;            // feature-gated
  friend bool operator==(const Security&, const Security&) = default;
};

struct Spec {
  std::vector<Named<Cluster>> clusters;
  std::vector<Named<Route>> routes;
  Dispatcher dispatcher;
  Topology topology;
  Security security;
  friend bool operator==(const Spec&, const Spec&) = default;
};

struct LayerMetadata {
  std::string scope;
  std::string author;
  std::vector<std::string> features;
  friend bool operator==(const LayerMetadata&, const LayerMetadata&) = default;
};

struct ConfigLayer {
  LayerMetadata metadata;
  Spec spec;
  friend bool operator==(const ConfigLayer&, const ConfigLayer&) = default;
};

// Which rollout wave assigned a node this snapshot (metadata.rollout; only
// for a node advertising kFeatureRolloutInfo).
struct SnapshotRollout {
  std::string id;         // the rollout's id, e.g. "ro-3f9c0a1b2d"
  std::int64_t wave = 0;  // 1-based, as `omnirctl rollout status` numbers waves
  friend bool operator==(const SnapshotRollout&, const SnapshotRollout&) = default;
};

struct SnapshotMetadata {
  std::int64_t version = 0;
  std::vector<std::string> scope_chain;
  std::int64_t created_at = 0;  // unix seconds (RFC 3339 UTC in JSON)
  std::int64_t expires_at = 0;  // unix seconds (RFC 3339 UTC in JSON)
  std::string author;
  std::vector<std::string> required_features;
  std::optional<SnapshotRollout> rollout;  // feature-gated: "rolloutInfo"
  friend bool operator==(const SnapshotMetadata&, const SnapshotMetadata&) = default;
};

struct Snapshot {
  SnapshotMetadata metadata;
  Spec spec;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

}  // namespace omnirelay
