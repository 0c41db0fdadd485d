#include "decode_spec.h"

#include "decode_artefacts.h"

namespace omnirelay::internal {
namespace {

constexpr std::int64_t kMaxTimeoutMs = 3'600'000;
constexpr std::int64_t kMaxConcurrentRequests = 10'000'000;
constexpr std::size_t kMaxJwksUriBytes = 2048;

// Reads a map of named entries with `decode_entry`, keeping the entries that decode cleanly.
template <typename Entry>
void ReadNamedEntries(Decoder& d, element el, bool (*decode_entry)(Decoder&, element, Entry&),
                      std::vector<Named<Entry>>& out) {
  d.NamedMap(el, [&](std::string_view name, element value) {
    Entry entry;
    if (decode_entry(d, value, entry)) out.push_back({std::string(name), std::move(entry)});
  });
}

// ---- clusters

constexpr FieldRule<Cluster> kClusterRules[] = {
    {"service", [](Decoder& d, element v, Cluster& c) { d.AsName(v, &c.service); }, true},
    {"region", [](Decoder& d, element v, Cluster& c) { d.AsName(v, &c.region); }},
    {"cell", [](Decoder& d, element v, Cluster& c) { d.AsName(v, &c.cell); }},
    {"failover", [](Decoder& d, element v, Cluster& c) { d.NameList(v, &c.failover); }},
    {"timeoutMs",
     [](Decoder& d, element v, Cluster& c) {
       std::int64_t ms;
       if (d.IntInRange(v, 1, kMaxTimeoutMs, &ms)) c.timeout_ms = ms;
     }},
};

bool DecodeCluster(Decoder& d, element el, Cluster& c) {
  return DecodeObject<Cluster>(d, el, "cluster", kClusterRules, c);
}

// ---- routes

constexpr FieldRule<Shadow> kShadowRules[] = {
    {"cluster", [](Decoder& d, element v, Shadow& s) { d.AsName(v, &s.cluster); }, true},
    {"percent", [](Decoder& d, element v, Shadow& s) { d.DecodePercent(v, &s.basis_points); },
     true},
};

constexpr FieldRule<Route> kRouteRules[] = {
    {"service", [](Decoder& d, element v, Route& r) { d.AsName(v, &r.service); }, true},
    {"procedure",
     [](Decoder& d, element v, Route& r) {
       if (d.FreeText(v, &r.procedure) && r.procedure.empty()) {
         d.Error(DiagCode::kOutOfRange, "procedure must not be empty (use \"*\" for all)");
       }
     }},
    {"weights",
     [](Decoder& d, element v, Route& r) {
       d.NamedMap(v, [&](std::string_view name, element weight) {
         std::int64_t w;
         if (d.IntInRange(weight, 0, 100, &w)) r.weights.push_back({std::string(name), w});
       });
     },
     true},
    {"shadow",
     [](Decoder& d, element v, Route& r) {
       Shadow s;
       if (DecodeObject<Shadow>(d, v, "shadow", kShadowRules, s)) r.shadow = std::move(s);
     },
     false, kFeatureShadowing},
};

bool DecodeRoute(Decoder& d, element el, Route& r) {
  return DecodeObject<Route>(d, el, "route", kRouteRules, r);
}

// ---- dispatcher, security

constexpr FieldRule<Dispatcher> kDispatcherRules[] = {
    {"maxConcurrentRequests",
     [](Decoder& d, element v, Dispatcher& out) {
       std::int64_t n;
       if (d.IntInRange(v, 1, kMaxConcurrentRequests, &n)) out.max_concurrent_requests = n;
     }},
};

constexpr FieldRule<Security> kSecurityRules[] = {
    {"jwksUri",
     [](Decoder& d, element v, Security& s) {
       if (d.AsString(v, &s.jwks_uri) &&
           (s.jwks_uri.rfind("https://", 0) != 0 || s.jwks_uri.size() <= 8 ||
            s.jwks_uri.size() > kMaxJwksUriBytes)) {
         d.Error(DiagCode::kOutOfRange, "jwksUri must be an https:// URL of at most 2048 bytes");
       }
     }},
    // Rotated artefacts (decode_artefacts.h), only where "artefacts" is enabled.
    {"caBundles", [](Decoder& d, element v, Security& s) { DecodeCaBundles(d, v, s.ca_bundles); },
     false, kFeatureArtefacts},
    {"certificates",
     [](Decoder& d, element v, Security& s) { DecodeCertificates(d, v, s.certificates); }, false,
     kFeatureArtefacts},
    {"jwks", [](Decoder& d, element v, Security& s) { DecodeJwkSets(d, v, s.jwks); }, false,
     kFeatureArtefacts},
    {"extAuthz", [](Decoder& d, element v, Security& s) { DecodeExtAuthz(d, v, s.ext_authz); },
     false, kFeatureArtefacts},
};

// ---- topology

constexpr FieldRule<Region> kRegionRules[] = {
    {"cells", [](Decoder& d, element v, Region& r) { d.NameList(v, &r.cells); }, true},
};

bool DecodeRegion(Decoder& d, element el, Region& r) {
  return DecodeObject<Region>(d, el, "region", kRegionRules, r);
}

constexpr FieldRule<Bridge> kBridgeRules[] = {
    {"cells", [](Decoder& d, element v, Bridge& b) { d.NameList(v, &b.cells); }, true},
    {"exportServices", [](Decoder& d, element v, Bridge& b) { d.NameList(v, &b.export_services); }},
    {"denyServices", [](Decoder& d, element v, Bridge& b) { d.NameList(v, &b.deny_services); }},
    {"quotaRps", [](Decoder& d, element v, Bridge& b) { d.AsInt(v, &b.quota_rps); }, true},
};

bool DecodeBridge(Decoder& d, element el, Bridge& b) {
  return DecodeObject<Bridge>(d, el, "bridge", kBridgeRules, b);
}

constexpr FieldRule<Placement> kPlacementRules[] = {
    {"cell", [](Decoder& d, element v, Placement& p) { d.AsName(v, &p.cell); }, true},
};

bool DecodePlacement(Decoder& d, element el, Placement& p) {
  return DecodeObject<Placement>(d, el, "placement", kPlacementRules, p);
}

constexpr FieldRule<Topology> kTopologyRules[] = {
    {"regions",
     [](Decoder& d, element v, Topology& t) { ReadNamedEntries(d, v, DecodeRegion, t.regions); }},
    {"bridges",
     [](Decoder& d, element v, Topology& t) { ReadNamedEntries(d, v, DecodeBridge, t.bridges); }},
    {"placements", [](Decoder& d, element v,
                      Topology& t) { ReadNamedEntries(d, v, DecodePlacement, t.placements); }},
};

// ---- spec

constexpr FieldRule<Spec> kSpecRules[] = {
    {"clusters",
     [](Decoder& d, element v, Spec& s) { ReadNamedEntries(d, v, DecodeCluster, s.clusters); }},
    {"routes",
     [](Decoder& d, element v, Spec& s) { ReadNamedEntries(d, v, DecodeRoute, s.routes); }},
    {"dispatcher",
     [](Decoder& d, element v, Spec& s) {
       DecodeObject<Dispatcher>(d, v, "dispatcher", kDispatcherRules, s.dispatcher);
     }},
    {"topology",
     [](Decoder& d, element v, Spec& s) {
       DecodeObject<Topology>(d, v, "topology", kTopologyRules, s.topology);
     }},
    {"security",
     [](Decoder& d, element v, Spec& s) {
       DecodeObject<Security>(d, v, "security", kSecurityRules, s.security);
     }},
};

}  // namespace

void DecodeSpecObject(Decoder& d, element el, Spec& spec) {
  DecodeObject<Spec>(d, el, "spec", kSpecRules, spec);
}

}  // namespace omnirelay::internal
