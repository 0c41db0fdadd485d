#include "omnirelay/config/digest.h"

#include <openssl/evp.h>

#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define OMNI_BASE64_AVX2 1
#endif

namespace omnirelay {
namespace {

// Fetched once: EVP_sha256() would do an implicit provider fetch on every call.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

constexpr char kHexDigits[] = "0123456789abcdef";

// ---------------------------------------------------------------------------
// Base64 encoding.

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The two characters of every 12-bit value: half the lookups of one per character.
struct EncodePairs {
  char pair[4096][2];
};

constexpr EncodePairs MakeEncodePairs() {
  EncodePairs t{};
  for (std::size_t v = 0; v < 4096; ++v) {
    t.pair[v][0] = kAlphabet[v >> 6];
    t.pair[v][1] = kAlphabet[v & 63];
  }
  return t;
}

constexpr EncodePairs kEncodePairs = MakeEncodePairs();

// ---------------------------------------------------------------------------
// Base64 decoding, scalar: one table per position in a quantum maps a
// character to its 6 bits already shifted into place in the 3 output bytes
// (little-endian in a uint32), so a quantum is four loads and three ORs.
// Characters outside the alphabet map to a value with bits 24+ set.

constexpr std::uint32_t kBad = 0x01FFFFFF;

struct DecodeTables {
  std::uint32_t d[4][256];
};

constexpr DecodeTables MakeDecodeTables() {
  DecodeTables t{};
  for (auto& table : t.d) {
    for (auto& v : table) v = kBad;
  }
  for (std::uint32_t v = 0; v < 64; ++v) {
    const auto c = static_cast<unsigned char>(kAlphabet[v]);
    t.d[0][c] = v << 2;
    t.d[1][c] = (v >> 4) | ((v & 0x0F) << 12);
    t.d[2][c] = ((v >> 2) << 8) | ((v & 0x03) << 22);
    t.d[3][c] = v << 16;
  }
  return t;
}

constexpr DecodeTables kDecode = MakeDecodeTables();

inline std::uint32_t DecodeQuantum(const unsigned char* in) {
  return kDecode.d[0][in[0]] | kDecode.d[1][in[1]] | kDecode.d[2][in[2]] | kDecode.d[3][in[3]];
}

Status BadCharacter(std::string_view text, std::size_t quantum_start) {
  std::size_t at = quantum_start;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto c = static_cast<unsigned char>(text[quantum_start + i]);
    if (kDecode.d[i][c] == kBad) {
      at = quantum_start + i;
      break;
    }
  }
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(text[at]));
  return Status(StatusCode::kInvalidArgument, std::string("invalid base64: character ") + byte +
                                                  " at offset " + std::to_string(at));
}

#ifdef OMNI_BASE64_AVX2

// AVX2 decoding of 32 characters into 24 bytes (the nibble-lookup scheme of
// Muła and Lemire, "Faster Base64 Encoding and Decoding Using AVX2
// Instructions", 2018). Decodes whole 32-character blocks while both the input
// and the 32-byte stores fit; returns the number of characters consumed (a
// multiple of 32). Stops early at a block holding a character outside the
// alphabet, leaving it to the scalar loop to locate.
__attribute__((target("avx2"))) std::size_t DecodeBlocksAvx2(const unsigned char* in,
                                                             std::size_t in_len, unsigned char* out,
                                                             std::size_t out_room) {
  // Bit sets for "which high nibbles are valid with this low nibble": a
  // character is valid iff (lut_lo[low] & lut_hi[high]) == 0.
  const __m256i lut_lo =
      _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B,
                       0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                       0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
  const __m256i lut_hi =
      _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10,
                       0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10,
                       0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  // Offset to add per high nibble ('/' gets its own slot, index 1).
  const __m256i lut_roll =
      _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4, -65,
                       -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i mask_2f = _mm256_set1_epi8(0x2f);
  const __m256i pack_shuffle =
      _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4, 10,
                       9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i pack_lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1);
  const __m256i merge_pairs = _mm256_set1_epi32(0x01400140);
  const __m256i merge_quads = _mm256_set1_epi32(0x00011000);

  std::size_t consumed = 0;
  while (in_len - consumed >= 32 && out_room >= 32) {
    __m256i str = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + consumed));
    const __m256i hi_nibbles = _mm256_and_si256(_mm256_srli_epi32(str, 4), mask_2f);
    const __m256i lo_nibbles = _mm256_and_si256(str, mask_2f);
    const __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nibbles);
    const __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nibbles);
    if (!_mm256_testz_si256(lo, hi)) break;
    const __m256i eq_2f = _mm256_cmpeq_epi8(str, mask_2f);
    const __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nibbles));
    str = _mm256_add_epi8(str, roll);  // now 6-bit values
    // Merge 4 x 6 bits into 24 bits per 32-bit word, then pack 3 bytes each.
    const __m256i pairs = _mm256_maddubs_epi16(str, merge_pairs);
    __m256i words = _mm256_madd_epi16(pairs, merge_quads);
    words = _mm256_shuffle_epi8(words, pack_shuffle);
    words = _mm256_permutevar8x32_epi32(words, pack_lanes);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), words);
    consumed += 32;
    out += 24;
    out_room -= 24;
  }
  return consumed;
}

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}

#endif  // OMNI_BASE64_AVX2

// Decodes the quanta of `body` (a multiple of 4 characters, no padding) into
// `out`, which has room for body.size() / 4 * 3 bytes plus at least one more
// (the final quantum's output follows), so each quantum may store 4 bytes.
Status DecodeBody(std::string_view body, unsigned char* out, std::size_t out_room) {
  const auto* in = reinterpret_cast<const unsigned char*>(body.data());
  const std::size_t n = body.size();
  std::size_t i = 0;
#ifdef OMNI_BASE64_AVX2
  if (n >= 64 && HaveAvx2()) {
    i = DecodeBlocksAvx2(in, n, out, out_room);
    out += i / 4 * 3;
  }
#else
  (void)out_room;
#endif
  for (; i < n; i += 4) {
    const std::uint32_t x = DecodeQuantum(in + i);
    if (x >> 24) return BadCharacter(body, i);
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out, &x, 4);
    } else {
      out[0] = static_cast<unsigned char>(x);
      out[1] = static_cast<unsigned char>(x >> 8);
      out[2] = static_cast<unsigned char>(x >> 16);
    }
    out += 3;
  }
  return Status::Ok();
}

std::size_t PaddingOf(std::string_view text) {
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') {
    pad = 1;
    if (text.size() >= 2 && text[text.size() - 2] == '=') pad = 2;
  }
  return pad;
}

Status NonCanonical(std::size_t offset) {
  return Status(StatusCode::kInvalidArgument,
                "invalid base64: non-zero unused bits before the padding at offset " +
                    std::to_string(offset));
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const EVP_MD* md = Sha256Md();
  if (md == nullptr || EVP_Digest(bytes.data(), bytes.size(), digest, &len, md, nullptr) != 1 ||
      len != 32) {
    // Only a broken libcrypto gets here. Returning a constant would give
    // different contents the same id, so stop instead.
    std::fputs("omnirelay: SHA-256 is unavailable in libcrypto\n", stderr);
    std::abort();
  }
  std::string hex(2 * len, '\0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHexDigits[digest[i] >> 4];
    hex[2 * i + 1] = kHexDigits[digest[i] & 0x0F];
  }
  return hex;
}

std::string ContentId(std::string_view bytes) {
  return "sha256:" + Sha256Hex(bytes);
}

std::string Base64Encode(std::string_view bytes) {
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::string out((n + 2) / 3 * 4, '\0');
  char* o = out.data();
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v =
        (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    std::memcpy(o, kEncodePairs.pair[v >> 12], 2);
    std::memcpy(o + 2, kEncodePairs.pair[v & 0xFFF], 2);
    o += 4;
  }
  if (n - i == 1) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16;
    std::memcpy(o, kEncodePairs.pair[v >> 12], 2);
    o[2] = '=';
    o[3] = '=';
  } else if (n - i == 2) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    std::memcpy(o, kEncodePairs.pair[v >> 12], 2);
    o[2] = kAlphabet[(v >> 6) & 63];
    o[3] = '=';
  }
  return out;
}

std::size_t Base64DecodedSize(std::string_view text) {
  if (text.size() % 4 != 0) return text.size() / 4 * 3;
  return text.size() / 4 * 3 - PaddingOf(text);
}

Status Base64DecodeAppend(std::string_view text, std::string& out) {
  const std::size_t n = text.size();
  if (n % 4 != 0) {
    return Status(StatusCode::kInvalidArgument,
                  "invalid base64: length " + std::to_string(n) + " is not a multiple of 4");
  }
  if (n == 0) return Status::Ok();
  const std::size_t pad = PaddingOf(text);
  const std::size_t old_size = out.size();
  const std::size_t decoded = n / 4 * 3 - pad;
  out.resize(old_size + decoded);
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + old_size);

  const std::string_view body = text.substr(0, n - 4);
  Status body_status = DecodeBody(body, dst, decoded);
  if (!body_status.ok()) {
    out.resize(old_size);
    return body_status;
  }

  // The final quantum, the only one that may carry padding.
  const auto* last = reinterpret_cast<const unsigned char*>(text.data() + n - 4);
  unsigned char* tail = dst + body.size() / 4 * 3;
  const std::size_t last_at = n - 4;
  std::uint32_t x = 0;
  Status tail_status;
  if (pad == 0) {
    x = DecodeQuantum(last);
    if (x >> 24) tail_status = BadCharacter(text, last_at);
  } else if (pad == 1) {
    x = kDecode.d[0][last[0]] | kDecode.d[1][last[1]] | kDecode.d[2][last[2]];
    if (x >> 24) {
      tail_status = BadCharacter(text, last_at);
    } else if (x & 0xFF0000) {
      tail_status = NonCanonical(last_at + 2);
    }
  } else {
    x = kDecode.d[0][last[0]] | kDecode.d[1][last[1]];
    if (x >> 24) {
      tail_status = BadCharacter(text, last_at);
    } else if (x & 0xFF00) {
      tail_status = NonCanonical(last_at + 1);
    }
  }
  if (!tail_status.ok()) {
    out.resize(old_size);
    return tail_status;
  }
  for (std::size_t i = 0; i < 3 - pad; ++i) tail[i] = static_cast<unsigned char>(x >> (8 * i));
  return Status::Ok();
}

Result<std::string> Base64Decode(std::string_view text) {
  std::string out;
  out.reserve(Base64DecodedSize(text));
  Status s = Base64DecodeAppend(text, out);
  if (!s.ok()) return s;
  return out;
}

}  // namespace omnirelay
