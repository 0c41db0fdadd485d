#include "omnirelay/config/rollout_policy.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

namespace omnirelay {
namespace {

using Json = nlohmann::json;

// Reads one block, collecting every problem (contract 2).
class PolicyReader {
 public:
  explicit PolicyReader(std::string base) : base_(std::move(base)) {}

  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }

  void Add(const std::string& pointer, DiagCode code, std::string message) {
    diagnostics_.push_back({pointer, code, std::move(message)});
  }

  std::string At(std::string_view key) const { return JoinPointer(base_, key); }

  // A number in [lo, hi]; integers only when `integer`.
  void Number(const Json& j, const std::string& pointer, double lo, double hi, bool integer,
              double* out) {
    if (!j.is_number() || (integer && !j.is_number_integer())) {
      Add(pointer, DiagCode::kTypeMismatch, integer ? "must be an integer" : "must be a number");
      return;
    }
    const double v = j.get<double>();
    if (!std::isfinite(v) || v < lo || v > hi) {
      Add(pointer, DiagCode::kOutOfRange,
          "must be between " + Json(lo).dump() + " and " + Json(hi).dump());
      return;
    }
    *out = v;
  }

  void Integer(const Json& j, const std::string& pointer, std::int64_t lo, std::int64_t* out) {
    double v = static_cast<double>(*out);
    Number(j, pointer, static_cast<double>(lo), 9.0e15, true, &v);
    *out = static_cast<std::int64_t>(v);
  }

  void Scopes(const Json& j, const std::string& pointer, std::vector<Scope>* out) {
    if (!j.is_array()) {
      Add(pointer, DiagCode::kTypeMismatch, "must be an array of scope strings");
      return;
    }
    if (j.empty()) {
      Add(pointer, DiagCode::kOutOfRange, "must name at least one scope");
      return;
    }
    out->clear();
    for (std::size_t i = 0; i < j.size(); ++i) {
      const std::string item = JoinPointer(pointer, std::to_string(i));
      if (!j[i].is_string()) {
        Add(item, DiagCode::kTypeMismatch, "must be a scope string");
        continue;
      }
      auto scope = ParseScope(j[i].get<std::string>());
      if (!scope.ok()) {
        Add(item, DiagCode::kInvalidScope, scope.status().message());
        continue;
      }
      out->push_back(*std::move(scope));
    }
  }

 private:
  std::string base_;
  std::vector<Diagnostic> diagnostics_;
};

void ReadSlo(PolicyReader& r, const Json& slo, const std::string& pointer, RolloutPolicy& p) {
  if (!slo.is_object()) {
    r.Add(pointer, DiagCode::kTypeMismatch, "must be an object");
    return;
  }
  for (const auto& [key, value] : slo.items()) {
    const std::string at = JoinPointer(pointer, key);
    if (key == "maxErrorRateDelta") {
      r.Number(value, at, 0, 1, false, &p.max_error_rate_delta);
    } else if (key == "maxP99Ratio") {
      r.Number(value, at, 1, 1000, false, &p.max_p99_ratio);
    } else if (key == "minRequests") {
      r.Integer(value, at, 0, &p.min_requests);
    } else {
      r.Add(at, DiagCode::kUnknownField, "unknown field \"" + key + "\"");
    }
  }
}

void ReadWaves(PolicyReader& r, const Json& waves, const std::string& pointer, RolloutPolicy& p) {
  if (!waves.is_array()) {
    r.Add(pointer, DiagCode::kTypeMismatch, "must be an array of {\"scopes\": [...]}");
    return;
  }
  p.scope_waves.clear();
  for (std::size_t i = 0; i < waves.size(); ++i) {
    const std::string at = JoinPointer(pointer, std::to_string(i));
    const Json& w = waves[i];
    if (!w.is_object()) {
      r.Add(at, DiagCode::kTypeMismatch, "must be an object");
      continue;
    }
    std::vector<Scope> scopes;
    bool has_scopes = false;
    for (const auto& [key, value] : w.items()) {
      if (key == "scopes") {
        has_scopes = true;
        r.Scopes(value, JoinPointer(at, key), &scopes);
      } else {
        r.Add(JoinPointer(at, key), DiagCode::kUnknownField, "unknown field \"" + key + "\"");
      }
    }
    if (!has_scopes) r.Add(at, DiagCode::kMissingField, "a wave needs \"scopes\"");
    p.scope_waves.push_back(std::move(scopes));
  }
}

Json ScopesJson(const std::vector<Scope>& scopes) {
  Json out = Json::array();
  for (const auto& s : scopes) out.push_back(s.ToString());
  return out;
}

}  // namespace

Result<RolloutPolicy> ParseRolloutPolicy(std::string_view json, std::string_view base) {
  PolicyReader r{std::string(base)};
  const Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  RolloutPolicy p;
  if (j.is_discarded()) {
    r.Add(std::string(base), DiagCode::kParseError, "the rollout block is not JSON");
  } else if (!j.is_object()) {
    r.Add(std::string(base), DiagCode::kTypeMismatch, "the rollout block must be an object");
  } else {
    for (const auto& [key, value] : j.items()) {
      const std::string at = r.At(key);
      if (key == "targetScopes") {
        r.Scopes(value, at, &p.target_scopes);
      } else if (key == "canaryPercent") {
        r.Number(value, at, 0, 100, false, &p.canary_percent);
      } else if (key == "shadowFirstPercent") {
        r.Number(value, at, 0, 100, false, &p.shadow_first_percent);
      } else if (key == "waves") {
        ReadWaves(r, value, at, p);
      } else if (key == "promotion") {
        if (value == "auto") {
          p.promotion = Promotion::kAuto;
        } else if (value == "manual") {
          p.promotion = Promotion::kManual;
        } else {
          r.Add(at, value.is_string() ? DiagCode::kOutOfRange : DiagCode::kTypeMismatch,
                "must be \"auto\" or \"manual\"");
        }
      } else if (key == "bakeMs") {
        r.Integer(value, at, 0, &p.bake_ms);
      } else if (key == "minAckRatio") {
        r.Number(value, at, 0, 1, false, &p.min_ack_ratio);
      } else if (key == "ackDeadlineMs") {
        r.Integer(value, at, 1, &p.ack_deadline_ms);
      } else if (key == "offlineGraceMs") {
        r.Integer(value, at, 0, &p.offline_grace_ms);
      } else if (key == "maxNackRatio") {
        r.Number(value, at, 0, 1, false, &p.max_nack_ratio);
      } else if (key == "slo") {
        ReadSlo(r, value, at, p);
      } else if (key == "maxDiscoveryGenerationSkew") {
        r.Integer(value, at, 0, &p.max_discovery_generation_skew);
      } else if (key == "maxDiscoveryLagMs") {
        r.Integer(value, at, 0, &p.max_discovery_lag_ms);
      } else if (key == "minClusterHealthyRatio") {
        r.Number(value, at, 0, 1, false, &p.min_cluster_healthy_ratio);
      } else {
        r.Add(at, DiagCode::kUnknownField, "unknown field \"" + key + "\"");
      }
    }
  }
  if (!r.diagnostics().empty()) {
    std::string message = "invalid rollout policy: " + r.diagnostics().front().message;
    return Status(StatusCode::kInvalid, std::move(message), std::move(r.diagnostics()));
  }
  return p;
}

std::string RolloutPolicyToJson(const RolloutPolicy& p) {
  Json waves = Json::array();
  for (const auto& w : p.scope_waves) waves.push_back(Json{{"scopes", ScopesJson(w)}});
  Json j = {
      {"targetScopes", ScopesJson(p.target_scopes)},
      {"canaryPercent", p.canary_percent},
      {"shadowFirstPercent", p.shadow_first_percent},
      {"waves", std::move(waves)},
      {"promotion", p.promotion == Promotion::kManual ? "manual" : "auto"},
      {"bakeMs", p.bake_ms},
      {"minAckRatio", p.min_ack_ratio},
      {"ackDeadlineMs", p.ack_deadline_ms},
      {"offlineGraceMs", p.offline_grace_ms},
      {"maxNackRatio", p.max_nack_ratio},
      {"slo",
       {{"maxErrorRateDelta", p.max_error_rate_delta},
        {"maxP99Ratio", p.max_p99_ratio},
        {"minRequests", p.min_requests}}},
      {"maxDiscoveryGenerationSkew", p.max_discovery_generation_skew},
  };
  const RolloutPolicy defaults;
  if (p.max_discovery_lag_ms != defaults.max_discovery_lag_ms) {
    j["maxDiscoveryLagMs"] = p.max_discovery_lag_ms;
  }
  if (p.min_cluster_healthy_ratio != defaults.min_cluster_healthy_ratio) {
    j["minClusterHealthyRatio"] = p.min_cluster_healthy_ratio;
  }
  return j.dump();
}

}  // namespace omnirelay
