#include "decode_primitives.h"

#include <algorithm>
#include <cmath>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/scope.h"

namespace omnirelay::internal {
namespace {

using simdjson::dom::element_type;

constexpr std::size_t kMaxFreeTextBytes = 256;

std::string InvalidNameMessage(std::string_view name) {
  return "\"" + std::string(name) +
         "\" is not a valid name (lowercase DNS label: 1-63 characters of a-z, 0-9 and '-')";
}

}  // namespace

Decoder::PathGuard::PathGuard(Decoder& d, std::string_view token) : d_(d), mark_(d.path_.size()) {
  AppendPointerToken(d.path_, token);
}

void Decoder::Error(DiagCode code, std::string message) {
  diags_.push_back(Diagnostic{path_, code, std::move(message)});
}

void Decoder::TypeMismatch(element el, std::string_view expected) {
  Error(DiagCode::kTypeMismatch,
        "expected " + std::string(expected) + ", got " + std::string(JsonTypeName(el.type())));
}

bool Decoder::AsObject(element el, simdjson::dom::object* out) {
  if (el.type() != element_type::OBJECT) {
    TypeMismatch(el, "object");
    return false;
  }
  *out = ObjectOf(el);
  return true;
}

bool Decoder::AsString(element el, std::string* out) {
  if (el.type() != element_type::STRING) {
    TypeMismatch(el, "string");
    return false;
  }
  *out = std::string(el.get_string().value_unsafe());
  return true;
}

bool Decoder::AsInt(element el, std::int64_t* out) {
  if (el.type() == element_type::INT64) {
    *out = el.get_int64().value_unsafe();
    return true;
  }
  if (el.type() == element_type::UINT64) {
    Error(DiagCode::kOutOfRange, "integer does not fit in 64 bits");
    return false;
  }
  TypeMismatch(el, "integer");
  return false;
}

bool Decoder::IntInRange(element el, std::int64_t lo, std::int64_t hi, std::int64_t* out) {
  if (!AsInt(el, out)) return false;
  if (*out < lo || *out > hi) {
    Error(DiagCode::kOutOfRange, "must be between " + std::to_string(lo) + " and " +
                                     std::to_string(hi) + ", got " + std::to_string(*out));
    return false;
  }
  return true;
}

bool Decoder::CheckName(std::string_view name) {
  if (IsValidName(name)) return true;
  Error(DiagCode::kInvalidName, InvalidNameMessage(name));
  return false;
}

bool Decoder::AsName(element el, std::string* out) {
  return AsString(el, out) && CheckName(*out);
}

bool Decoder::FreeText(element el, std::string* out) {
  if (!AsString(el, out)) return false;
  if (out->size() > kMaxFreeTextBytes) {
    Error(DiagCode::kOutOfRange, "longer than " + std::to_string(kMaxFreeTextBytes) + " bytes");
    return false;
  }
  return true;
}

bool Decoder::Timestamp(element el, std::int64_t* out) {
  std::string s;
  if (!AsString(el, &s)) return false;
  auto t = ParseRfc3339(s);
  if (!t.ok()) {
    Error(DiagCode::kOutOfRange, t.status().message());
    return false;
  }
  *out = *t;
  return true;
}

void Decoder::NameList(element el, std::vector<std::string>* out) {
  Items(el, [&](element item) {
    std::string name;
    if (AsName(item, &name)) out->push_back(std::move(name));
  });
}

void Decoder::FeatureList(element el, std::vector<std::string>* out) {
  Items(el, [&](element item) {
    std::string feature;
    if (!AsString(item, &feature)) return;
    if (!IsKnownFeature(feature)) {
      Error(DiagCode::kUnknownFeature, "unknown feature \"" + feature + "\"");
      return;
    }
    out->push_back(std::move(feature));
  });
}

void Decoder::DecodePercent(element el, std::uint32_t* basis_points) {
  double p;
  if (el.type() == element_type::INT64) {
    p = static_cast<double>(el.get_int64().value_unsafe());
  } else if (el.type() == element_type::DOUBLE) {
    p = el.get_double().value_unsafe();
  } else if (el.type() == element_type::UINT64) {
    Error(DiagCode::kOutOfRange, "percent must be between 0 and 100");
    return;
  } else {
    TypeMismatch(el, "number");
    return;
  }
  if (!(p >= 0.0 && p <= 100.0)) {
    Error(DiagCode::kOutOfRange, "percent must be between 0 and 100");
    return;
  }
  const double scaled = p * 100.0;
  const double rounded = std::round(scaled);
  if (std::fabs(scaled - rounded) > 1e-9) {
    Error(DiagCode::kOutOfRange, "percent allows at most two decimals");
    return;
  }
  *basis_points = static_cast<std::uint32_t>(rounded);
}

bool Decoder::FeatureEnabled(std::string_view feature) const {
  return std::find(features_.begin(), features_.end(), feature) != features_.end();
}

bool Decoder::ReaderHas(std::string_view feature) const {
  return std::find(reader_features_.begin(), reader_features_.end(), feature) !=
         reader_features_.end();
}

}  // namespace omnirelay::internal
