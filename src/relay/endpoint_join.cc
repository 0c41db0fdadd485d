#include "omnirelay/relay/endpoint_join.h"

#include <string>

namespace omnirelay::relay {
namespace {

// The key's hash mixed again (SplitMix64's step and finaliser), so the
// member chosen does not follow from the cluster the same hash chose.
std::uint64_t MemberHash(std::uint64_t key_hash) {
  std::uint64_t z = key_hash + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

const meshkit::Endpoint* MemberFor(const meshkit::EndpointSet& endpoints, std::string_view service,
                                   std::string_view cluster, std::uint64_t hash) {
  const meshkit::ClusterEndpoints* members = endpoints.Find(service, cluster);
  return members == nullptr ? nullptr : members->Pick(hash);
}

}  // namespace

Result<EndpointChoice> JoinEndpoints(const RouteDecision& decision,
                                     const meshkit::EndpointSet& endpoints) {
  const std::uint64_t hash = MemberHash(decision.key_hash);
  EndpointChoice choice;
  for (std::size_t i = 0; i < decision.failover.size(); ++i) {
    const std::string_view service = i < decision.failover_services.size()
                                         ? std::string_view(decision.failover_services[i])
                                         : std::string_view();
    const meshkit::Endpoint* member = MemberFor(endpoints, service, decision.failover[i], hash);
    if (member == nullptr) continue;
    choice.cluster = decision.failover[i];
    choice.failover_index = i;
    choice.endpoint = member;
    break;
  }
  if (choice.endpoint == nullptr) {
    std::string tried;
    for (const std::string& cluster : decision.failover) {
      tried += (tried.empty() ? "" : ", ") + cluster;
    }
    return Status(StatusCode::kUnavailable,
                  "no healthy endpoint in the failover order of cluster \"" +
                      std::string(decision.cluster) + "\" (" + tried +
                      ") at discovery generation " + std::to_string(endpoints.generation()));
  }
  if (!decision.shadow_cluster.empty()) {
    choice.shadow = MemberFor(endpoints, decision.shadow_service, decision.shadow_cluster, hash);
    if (choice.shadow != nullptr) choice.shadow_cluster = decision.shadow_cluster;
  }
  CountRouted(decision, choice.failover_index, choice.shadow != nullptr);
  return choice;
}

}  // namespace omnirelay::relay
