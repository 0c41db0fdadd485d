// Internal: the cursor every document decoder walks the DOM with (decode.h).
//
// A Decoder keeps the JSON Pointer of the value being read and collects
// diagnostics; its primitives read one value each (a string, a name, an
// integer in range, a list of names...) and report what is wrong with it at
// that pointer. Objects are read by table (DecodeObject): one FieldRule per
// field — its name, its reader, whether it is required, the feature that
// gates it — so every object reports unknown, gated and missing fields alike.
//
// Includes simdjson: keep this header out of the public include tree.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "json_strict.h"
#include "omnirelay/config/diagnostic.h"

namespace omnirelay::internal {

using simdjson::dom::element;

class Decoder {
 public:
  Decoder(std::string prefix, std::vector<std::string> features)
      : path_(std::move(prefix)), features_(std::move(features)) {}

  std::vector<Diagnostic> TakeDiagnostics() { return std::move(diags_); }
  bool failed() const { return !diags_.empty(); }
  std::size_t diagnostic_count() const { return diags_.size(); }

  // Reports a problem at the current pointer.
  void Error(DiagCode code, std::string message);

  // Extends the current pointer by one token for its lifetime.
  class PathGuard {
   public:
    PathGuard(Decoder& d, std::string_view token);
    PathGuard(Decoder& d, std::size_t index) : PathGuard(d, std::to_string(index)) {}
    ~PathGuard() { d_.path_.resize(mark_); }
    PathGuard(const PathGuard&) = delete;
    PathGuard& operator=(const PathGuard&) = delete;

   private:
    Decoder& d_;
    std::size_t mark_;
  };

  // Each reader returns true when the value was what it wanted (and stores it).
  void TypeMismatch(element el, std::string_view expected);
  bool AsObject(element el, simdjson::dom::object* out);
  bool AsString(element el, std::string* out);
  bool AsInt(element el, std::int64_t* out);
  bool IntInRange(element el, std::int64_t lo, std::int64_t hi, std::int64_t* out);
  bool AsName(element el, std::string* out);      // a DNS-label name (scope.h IsValidName)
  bool FreeText(element el, std::string* out);    // a string of bounded length
  bool Timestamp(element el, std::int64_t* out);  // RFC 3339 UTC, as unix seconds
  void NameList(element el, std::vector<std::string>* out);
  void FeatureList(element el, std::vector<std::string>* out);  // known features only
  void DecodePercent(element el, std::uint32_t* basis_points);  // 0-100, two decimals

  // An array: calls fn(item) for each item with the pointer at its index;
  // false (type_mismatch reported) when `el` is not an array.
  template <typename Fn>
  bool Items(element el, Fn&& fn) {
    if (el.type() != simdjson::dom::element_type::ARRAY) {
      TypeMismatch(el, "array");
      return false;
    }
    std::size_t i = 0;
    for (element item : ArrayOf(el)) {
      PathGuard g(*this, i++);
      fn(item);
    }
    return true;
  }

  // A map whose keys are names: checks each key, then calls fn(name, value)
  // with the pointer at that key.
  template <typename Fn>
  void NamedMap(element el, Fn&& fn) {
    simdjson::dom::object obj;
    if (!AsObject(el, &obj)) return;
    for (auto field : obj) {
      PathGuard g(*this, field.key);
      if (!CheckName(field.key)) continue;
      fn(field.key, field.value);
    }
  }

  bool FeatureEnabled(std::string_view feature) const;
  void SetFeatures(std::vector<std::string> features) { features_ = std::move(features); }
  // What the reader (the node decoding) supports, for fields gated by a node
  // feature (FieldRule::reader_feature); none until set.
  bool ReaderHas(std::string_view feature) const;
  void SetReaderFeatures(std::vector<std::string> features) {
    reader_features_ = std::move(features);
  }

 private:
  bool CheckName(std::string_view name);

  std::vector<Diagnostic> diags_;
  std::string path_;
  std::vector<std::string> features_;
  std::vector<std::string> reader_features_;
};

// One field of an object read by table: `read` runs with the pointer at the
// field. A field whose `feature` is not enabled is refused as unknown_field
// (it does not exist for that document). A field whose `reader_feature` the
// reader lacks is refused exactly as an unknown field: a reader without the
// feature is, for that field, a build older than it (DESIGN.md §3.3).
template <typename Target>
struct FieldRule {
  std::string_view name;
  void (*read)(Decoder& d, element value, Target& out);
  bool required = false;
  std::string_view feature = {};
  std::string_view reader_feature = {};
};

// Reads the object `el` into `out` by `rules`, in document order. Reports a
// non-object (type_mismatch), a field no rule names (unknown_field "in
// <what>"), a gated field whose feature is off, and each required field that
// is absent (missing_field, in rule order). True when nothing was reported.
template <typename Target>
bool DecodeObject(Decoder& d, element el, std::string_view what,
                  std::type_identity_t<std::span<const FieldRule<Target>>> rules, Target& out) {
  simdjson::dom::object obj;
  if (!d.AsObject(el, &obj)) return false;
  const std::size_t before = d.diagnostic_count();
  std::vector<bool> seen(rules.size(), false);
  for (auto field : obj) {
    Decoder::PathGuard g(d, field.key);
    std::size_t i = 0;
    while (i < rules.size() && rules[i].name != field.key) ++i;
    if (i < rules.size() && !rules[i].reader_feature.empty() &&
        !d.ReaderHas(rules[i].reader_feature)) {
      i = rules.size();  // as if this build did not know it
    }
    if (i == rules.size()) {
      d.Error(DiagCode::kUnknownField,
              "unknown field \"" + std::string(field.key) + "\" in " + std::string(what));
      continue;
    }
    seen[i] = true;
    if (!rules[i].feature.empty() && !d.FeatureEnabled(rules[i].feature)) {
      d.Error(DiagCode::kUnknownField, "field \"" + std::string(field.key) + "\" needs feature \"" +
                                           std::string(rules[i].feature) +
                                           "\" enabled in metadata.features");
      continue;
    }
    rules[i].read(d, field.value, out);
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (!rules[i].required || seen[i]) continue;
    Decoder::PathGuard g(d, rules[i].name);
    d.Error(DiagCode::kMissingField,
            "required field \"" + std::string(rules[i].name) + "\" is missing");
  }
  return d.diagnostic_count() == before;
}

}  // namespace omnirelay::internal
