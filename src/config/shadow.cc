#include "omnirelay/config/shadow.h"

namespace omnirelay {
namespace {

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t Fnv1a(std::uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

// SplitMix64's finaliser: spreads FNV's weak low bits over the whole word.
std::uint64_t Mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t ShadowHash(std::string_view key, std::string_view salt) {
  std::uint64_t h = Fnv1a(kFnvOffset, salt);
  h ^= 0xff;  // separator: ("ab","c") and ("a","bc") hash differently
  h *= kFnvPrime;
  return Mix(Fnv1a(h, key));
}

std::uint32_t ShadowBucket(std::string_view key, std::string_view salt) {
  return static_cast<std::uint32_t>(ShadowHash(key, salt) % kShadowBasisPointsMax);
}

bool ShouldShadow(std::string_view key, std::uint32_t basis_points, std::string_view salt) {
  if (basis_points == 0) return false;
  if (basis_points >= kShadowBasisPointsMax) return true;
  return ShadowBucket(key, salt) < basis_points;
}

}  // namespace omnirelay
