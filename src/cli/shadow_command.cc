// `omnirctl shadow enable|disable --service SVC [--scope S]`: mirror a
// percent of a service's route traffic to another cluster (routes.*.shadow,
// gated by the "shadowing" feature; DESIGN.md §3.1).
//
// A read-modify-write of one layer: read its context in one call (the layer
// with its revision, and the specs the scope sees and inherits through the
// chain the server places it in), edit the routes of the service, write the
// layer back naming that revision (CAS). When another writer got there
// first the server says conflict; the edit is then redone on a fresh read,
// a bounded number of times.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "cli.h"
#include "documents.h"
#include "exit_codes.h"
#include "omnirelay/config/model.h"
#include "omnirelay/config/scope.h"
#include "shadow.h"

namespace omnirelay::cli {
namespace {

using Json = nlohmann::json;

// The routes of `spec` (a spec JSON object) that serve `service`.
std::vector<std::string> RoutesOf(const Json& spec, const std::string& service) {
  std::vector<std::string> out;
  if (!spec.is_object() || !spec.contains("routes") || !spec["routes"].is_object()) return out;
  for (const auto& [name, route] : spec["routes"].items()) {
    if (route.is_object() && route.value("service", Json()) == service) out.push_back(name);
  }
  return out;
}

const Json* ShadowOf(const Json& spec, const std::string& route) {
  if (!spec.is_object() || !spec.contains("routes")) return nullptr;
  const Json& routes = spec["routes"];
  if (!routes.is_object() || !routes.contains(route)) return nullptr;
  const Json& r = routes[route];
  if (!r.is_object() || !r.contains("shadow") || r["shadow"].is_null()) return nullptr;
  return &r["shadow"];
}

// A percent as the document writes it: an integer when whole, else two decimals.
Json PercentJson(double p) {
  const double rounded = std::round(p * 100) / 100;
  if (rounded == std::floor(rounded)) return static_cast<std::int64_t>(rounded);
  return rounded;
}

// A spec the server sent (a JSON object text); an empty object when it is not one.
Json SpecOf(const std::string& text) {
  Json spec = Json::parse(text, nullptr, false);
  return spec.is_object() ? spec : Json::object();
}

struct Edit {
  Json document;
  std::optional<std::int64_t> expected_revision;
  std::vector<std::string> routes;  // the routes edited
  bool changed = false;
};

// Reads the layer's context (one read) and applies the edit to a copy.
Result<Edit> PrepareEdit(ControlClient& client, const ShadowArgs& a, bool enable) {
  auto context = client.GetLayerContext(a.scope);
  if (!context.ok()) return context.status();
  Edit edit;
  if (context->layer) {
    edit.document = Json::parse(context->layer->document, nullptr, false);
    if (!edit.document.is_object()) {
      return Status(StatusCode::kInternal, "the layer of " + a.scope + " is not a JSON object");
    }
    edit.expected_revision = context->layer->revision;
  } else {
    edit.document = {{"apiVersion", std::string(kApiVersion)},
                     {"kind", std::string(kKindLayer)},
                     {"metadata", {{"scope", a.scope}}},
                     {"spec", Json::object()}};
    edit.expected_revision = 0;  // the scope must still not exist when written
  }
  const Json seen = SpecOf(context->effective_spec_json);
  const Json below = SpecOf(context->inherited_spec_json);

  std::vector<std::string> routes = RoutesOf(seen, a.service);
  if (!a.route.empty()) {
    if (std::find(routes.begin(), routes.end(), a.route) == routes.end()) {
      return Status(StatusCode::kNotFound, "route \"" + a.route + "\" of service \"" + a.service +
                                               "\" is not in the config of " + a.scope);
    }
    routes = {a.route};
  }
  if (routes.empty()) {
    return Status(StatusCode::kNotFound,
                  "no route serves \"" + a.service + "\" in the config of " + a.scope);
  }
  edit.routes = routes;

  const Json before = edit.document;
  Json& spec = edit.document["spec"];
  if (!spec.is_object()) spec = Json::object();
  Json& layer_routes = spec["routes"];
  if (!layer_routes.is_object()) layer_routes = Json::object();
  for (const auto& name : routes) {
    Json& route = layer_routes[name];
    if (!route.is_object()) route = Json::object();
    if (enable) {
      std::string cluster = a.cluster;
      if (cluster.empty()) {
        if (const Json* current = ShadowOf(seen, name); current && current->contains("cluster")) {
          cluster = (*current)["cluster"].get<std::string>();
        }
      }
      if (cluster.empty()) {
        return Status(StatusCode::kInvalidArgument,
                      "--cluster is required: route \"" + name + "\" has no shadow cluster yet");
      }
      route["shadow"] = {{"cluster", cluster}, {"percent", PercentJson(a.percent)}};
    } else {
      route.erase("shadow");
      // A shadow inherited from a less specific layer is deleted by a null.
      if (ShadowOf(below, name) != nullptr) route["shadow"] = nullptr;
      if (route.empty()) layer_routes.erase(name);
    }
  }
  if (layer_routes.empty()) spec.erase("routes");
  if (enable) {
    Json& metadata = edit.document["metadata"];
    Json& features = metadata["features"];
    if (!features.is_array()) features = Json::array();
    if (std::find(features.begin(), features.end(), Json(kFeatureShadowing)) == features.end()) {
      features.push_back(std::string(kFeatureShadowing));
    }
  }
  edit.changed = edit.document != before;
  return edit;
}

}  // namespace

int RunShadow(ControlClient& client, const Output& out, const ShadowArgs& a, bool enable) {
  for (int attempt = 1;; ++attempt) {
    auto edit = PrepareEdit(client, a, enable);
    if (!edit.ok()) return out.Fail(edit.status());
    std::string routes;
    for (const auto& r : edit->routes) routes += (routes.empty() ? "" : ", ") + r;
    if (!edit->changed) {
      if (out.json()) {
        std::cout << Json{{"scope", a.scope}, {"routes", edit->routes}, {"changed", false}}.dump()
                  << "\n";
      } else {
        std::cout << "shadow of " << a.service << " (" << routes << ") in " << a.scope
                  << " is already as asked: nothing to write\n";
      }
      return kExitOk;
    }
    auto result = client.SetLayer(
        {a.scope, edit->document.dump(), edit->expected_revision, a.dry_run, a.confirm});
    if (!result.ok()) {
      if (result.status().code() == StatusCode::kConflict && attempt < kShadowMaxAttempts) {
        if (!out.json()) {
          std::cerr << "conflict: " << a.scope << " changed while editing; retrying ("
                    << attempt + 1 << "/" << kShadowMaxAttempts << ")\n";
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));  // back off
        continue;
      }
      return out.Fail(result.status());
    }
    if (!out.json()) {
      std::cout << (a.dry_run ? "would " : "") << (enable ? "enable" : "disable")
                << " the shadow of " << a.service << " on route(s) " << routes << "\n";
    }
    return PrintWriteResult(
        a.scope, *result, out,
        Json{{"routes", edit->routes}, {"changed", true}, {"attempts", attempt}});
  }
}

namespace {

void AddScopeOptions(CLI::App& cmd, ShadowArgs& a) {
  cmd.add_option("--service", a.service, "Service whose routes to change")->required();
  cmd.add_option("--scope", a.scope,
                 "Layer to edit: any scope the server places (global, region:, cell:, "
                 "cluster:, or node: of a node that has connected)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& s) {
            auto parsed = ParseScope(s);
            return parsed.ok() ? std::string() : parsed.status().message();
          },
          "SCOPE"));
  cmd.add_option("--route", a.route, "Only this route of the service (default: all of them)");
  cmd.add_flag("--dry-run", a.dry_run,
               "Validate, show the change and blocking nodes; write nothing");
  cmd.add_flag("--confirm", a.confirm, "Allow destructive changes");
}

}  // namespace

void AddShadowCommands(CLI::App& app, Cli& cli) {
  CLI::App* shadow = app.add_subcommand(
      "shadow", "Mirror a percent of a service's traffic to another cluster (CAS edit of a layer)");
  shadow->require_subcommand(1);

  auto on = std::make_shared<ShadowArgs>();
  CLI::App* cmd = shadow->add_subcommand("enable", "Shadow PERCENT of the service's requests");
  AddScopeOptions(*cmd, *on);
  cmd->add_option("--percent", on->percent,
                  "Percent of requests to mirror: 0.01 to 100, at most two decimals")
      ->required()
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            char* end = nullptr;
            const double p = std::strtod(text.c_str(), &end);
            if (end == text.c_str() || *end != '\0') return "not a number: " + text;
            if (!(p >= 0.01 && p <= 100)) return "must be between 0.01 and 100, got " + text;
            // The document model holds at most two decimals: refuse, never round.
            if (std::abs(p * 100 - std::round(p * 100)) > 1e-6) {
              return "takes at most two decimals (e.g. 12.5), got " + text;
            }
            return {};
          },
          "PERCENT"));
  cmd->add_option("--cluster", on->cluster,
                  "Cluster receiving the mirrored requests (default: the route's current one)");
  cmd->callback([&cli, on] {
    cli.RunWithServer([&](Session& s) { return RunShadow(s.client, s.out, *on, true); });
  });

  auto off = std::make_shared<ShadowArgs>();
  cmd = shadow->add_subcommand("disable", "Stop shadowing the service's requests");
  AddScopeOptions(*cmd, *off);
  cmd->callback([&cli, off] {
    cli.RunWithServer([&](Session& s) { return RunShadow(s.client, s.out, *off, false); });
  });
}

}  // namespace omnirelay::cli
