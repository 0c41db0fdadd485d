#include "rollout_shadow.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace omnirelay::cp {
namespace {

// Keeps the old document's key order, so its history reads as a small change.
using Json = nlohmann::ordered_json;

const Json* Member(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const Json* Path(const Json& doc, const char* a, const char* b) {
  const Json* first = Member(doc, a);
  return first == nullptr ? nullptr : Member(*first, b);
}

double WeightOf(const Json* weights, const std::string& cluster) {
  if (weights == nullptr) return 0;
  const Json* w = Member(*weights, cluster.c_str());
  return w != nullptr && w->is_number() ? w->get<double>() : 0;
}

// Contract 1: the cluster the route's weight moves to, or "".
std::string Replacement(const Json& old_route, const Json& new_route) {
  const Json* before = Member(old_route, "weights");
  const Json* after = Member(new_route, "weights");
  if (after == nullptr || !after->is_object()) return "";
  std::string best;
  double best_weight = 0;
  for (const auto& [cluster, weight] : after->items()) {
    if (!weight.is_number() || weight.get<double>() <= 0) continue;
    if (WeightOf(before, cluster) > 0) continue;
    const double w = weight.get<double>();
    if (best.empty() || w > best_weight || (w == best_weight && cluster < best)) {
      best = cluster;
      best_weight = w;
    }
  }
  return best;
}

Result<Json> ParseObject(const std::string& text, const std::string& scope) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status(StatusCode::kInvalidArgument,
                  "shadow-first: the layer of " + scope + " is not a JSON object");
  }
  return doc;
}

}  // namespace

Result<std::vector<ShadowLayer>> ShadowFirstLayers(const std::vector<ShadowInput>& inputs,
                                                   double percent) {
  std::vector<ShadowLayer> out;
  for (const ShadowInput& in : inputs) {
    if (!in.before || !in.after) continue;
    OMNI_ASSIGN_OR_RETURN(Json before, ParseObject(*in.before, in.scope));
    OMNI_ASSIGN_OR_RETURN(const Json after, ParseObject(*in.after, in.scope));
    const Json* new_routes = Path(after, "spec", "routes");
    const Json* old_routes = Path(before, "spec", "routes");
    if (new_routes == nullptr || old_routes == nullptr || !new_routes->is_object()) continue;
    ShadowLayer layer{in.scope, "", {}};
    Json shadowed = before;
    for (const auto& [name, route] : new_routes->items()) {
      const Json* old_route = Member(*old_routes, name.c_str());
      if (old_route == nullptr || !old_route->is_object()) continue;
      const std::string target = Replacement(*old_route, route);
      if (target.empty()) continue;
      shadowed["spec"]["routes"][name]["shadow"] = Json{{"cluster", target}, {"percent", percent}};
      layer.mirrored.push_back(name + " -> " + target);
    }
    if (layer.mirrored.empty()) continue;
    // Contract 2: the clusters the new document adds, so the targets exist.
    if (const Json* added = Path(after, "spec", "clusters"); added && added->is_object()) {
      const Json* had = Path(before, "spec", "clusters");
      for (const auto& [name, cluster] : added->items()) {
        if (had != nullptr && Member(*had, name.c_str()) != nullptr) continue;
        shadowed["spec"]["clusters"][name] = cluster;
      }
    }
    Json& features = shadowed["metadata"]["features"];
    if (!features.is_array()) features = Json::array();
    if (std::find(features.begin(), features.end(), "shadowing") == features.end()) {
      features.push_back("shadowing");
    }
    layer.document = shadowed.dump();
    out.push_back(std::move(layer));
  }
  return out;
}

}  // namespace omnirelay::cp
