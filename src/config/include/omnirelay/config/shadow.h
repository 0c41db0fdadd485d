// Deterministic shadow sampling: the same request key always gets the same
// decision, and over many keys the shadowed fraction matches the percent
// (tests/property/shadow_property_test.cc checks 4 standard deviations over
// 100k keys). Percent has two decimals, so decisions work in basis points
// (hundredths of a percent, 0..10000).
//
// The hash is fixed (FNV-1a 64 mixed by the SplitMix64 finaliser): every node
// and every build makes the same decision for the same key, which is what lets
// operators reason about which requests were mirrored.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace omnirelay {

inline constexpr std::uint32_t kShadowBasisPointsMax = 10000;

// A stable 64-bit hash of (salt, key). The salt (e.g. the route name) makes
// different routes sample independently.
std::uint64_t ShadowHash(std::string_view key, std::string_view salt = {});

// The key's bucket in [0, 10000).
std::uint32_t ShadowBucket(std::string_view key, std::string_view salt = {});

// True when a request with `key` is mirrored at `basis_points` (0 never, 10000 always).
bool ShouldShadow(std::string_view key, std::uint32_t basis_points, std::string_view salt = {});

}  // namespace omnirelay
