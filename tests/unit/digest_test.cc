#include "omnirelay/config/digest.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace omnirelay {
namespace {

std::string RandomBytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

bool InAlphabet(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// SHA-256 of the empty string matches FIPS 180-2.
TEST(Sha256HexTest, EmptyInput) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// SHA-256 of "abc" matches FIPS 180-2 example 1.
TEST(Sha256HexTest, Abc) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// SHA-256 of the two-block message matches FIPS 180-2 example 2.
TEST(Sha256HexTest, TwoBlockMessage) {
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// SHA-256 of one million 'a' matches FIPS 180-2 example 3.
TEST(Sha256HexTest, MillionA) {
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Digests cover every byte, including NULs.
TEST(Sha256HexTest, EmbeddedNulMatters) {
  EXPECT_NE(Sha256Hex(std::string("a\0b", 3)), Sha256Hex(std::string("a\0c", 3)));
  EXPECT_NE(Sha256Hex(std::string("a\0", 2)), Sha256Hex("a"));
}

// A content id is "sha256:" followed by the lowercase hex digest.
TEST(ContentIdTest, PrefixedHexDigest) {
  EXPECT_EQ(ContentId("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Encoding matches the RFC 4648 §10 test vectors.
TEST(Base64Test, EncodeRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

// Decoding matches the RFC 4648 §10 test vectors.
TEST(Base64Test, DecodeRfc4648Vectors) {
  for (const char* plain : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    Result<std::string> decoded = Base64Decode(Base64Encode(plain));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, plain);
  }
  EXPECT_EQ(*Base64Decode("Zm9vYmFy"), "foobar");
}

// The standard alphabet uses '+' and '/' for 62 and 63.
TEST(Base64Test, StandardAlphabetHighValues) {
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(*Base64Decode("+/8="), "\xfb\xff");
}

// Every byte value survives a round trip.
TEST(Base64Test, RoundTripAllByteValues) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  Result<std::string> decoded = Base64Decode(Base64Encode(all));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, all);
}

// Random inputs of every length up to 700 bytes (scalar and vector paths) round trip.
TEST(Base64Test, RoundTripEveryLengthUpTo700) {
  for (std::size_t n = 0; n <= 700; ++n) {
    const std::string bytes = RandomBytes(n, n);
    const std::string text = Base64Encode(bytes);
    ASSERT_EQ(text.size(), (n + 2) / 3 * 4);
    ASSERT_EQ(Base64DecodedSize(text), n);
    Result<std::string> decoded = Base64Decode(text);
    ASSERT_TRUE(decoded.ok()) << "n=" << n << " " << decoded.status().ToString();
    ASSERT_EQ(*decoded, bytes) << "n=" << n;
  }
}

// A 1 MiB random input round trips.
TEST(Base64Test, RoundTripOneMebibyte) {
  const std::string bytes = RandomBytes(1 << 20, 7);
  Result<std::string> decoded = Base64Decode(Base64Encode(bytes));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, bytes);
}

// A length that is not a multiple of 4 is rejected (padding is required).
TEST(Base64Test, RejectsUnpaddedLength) {
  for (const char* text : {"Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg"}) {
    Result<std::string> decoded = Base64Decode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  }
}

// Every byte outside the alphabet is rejected at any position, in long
// (vectorised) and short inputs alike, and the message names the offset.
TEST(Base64Test, RejectsEveryNonAlphabetByteAtEveryPosition) {
  const std::string good = Base64Encode(RandomBytes(150, 3));  // 200 chars, no padding
  ASSERT_EQ(good.size(), 200u);
  for (int c = 0; c < 256; ++c) {
    if (InAlphabet(static_cast<unsigned char>(c))) continue;
    for (std::size_t pos = 0; pos < good.size(); ++pos) {
      if (c == '=' && pos >= good.size() - 2) continue;  // that is padding, tested elsewhere
      std::string bad = good;
      bad[pos] = static_cast<char>(c);
      Result<std::string> decoded = Base64Decode(bad);
      ASSERT_FALSE(decoded.ok()) << "byte " << c << " at " << pos;
      ASSERT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
      ASSERT_NE(decoded.status().message().find("offset " + std::to_string(pos)), std::string::npos)
          << decoded.status().message();
    }
  }
}

// Whitespace and line breaks (MIME style) are rejected.
TEST(Base64Test, RejectsWhitespace) {
  EXPECT_FALSE(Base64Decode("Zm9v Zm9v").ok());
  EXPECT_FALSE(Base64Decode("Zm9v\nZm9v").ok());
  EXPECT_FALSE(Base64Decode("Zm9vZm9v\n").ok());
  EXPECT_FALSE(Base64Decode(" Zm9vZm9").ok());
}

// The URL-safe alphabet ('-', '_') is not accepted.
TEST(Base64Test, RejectsUrlSafeAlphabet) {
  EXPECT_FALSE(Base64Decode("-_8=").ok());
  EXPECT_FALSE(Base64Decode("Zm9-").ok());
}

// '=' is only accepted as the last one or two characters.
TEST(Base64Test, RejectsMisplacedPadding) {
  for (const char* text : {"Zg==Zg==", "Zm8=Zm9v", "=Zm9", "Z===", "====", "Zm=v", "Z=8="}) {
    Result<std::string> decoded = Base64Decode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

// Non-zero unused bits before the padding are rejected, so every byte string
// has exactly one accepted encoding.
TEST(Base64Test, RejectsNonCanonicalTrailingBits) {
  EXPECT_TRUE(Base64Decode("Zg==").ok());
  EXPECT_TRUE(Base64Decode("Zm8=").ok());
  for (const char* text : {"Zh==", "Zv==", "Zm9=", "Zm/=", "Zm9vYh==", "Zm9vYmF="}) {
    Result<std::string> decoded = Base64Decode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_NE(decoded.status().message().find("unused bits"), std::string::npos);
  }
}

// Decoding appends after what the buffer already holds.
TEST(Base64Test, DecodeAppendKeepsPrefix) {
  std::string out = "header:";
  ASSERT_TRUE(Base64DecodeAppend("Zm9vYmFy", out).ok());
  EXPECT_EQ(out, "header:foobar");
}

// A failed append leaves the buffer as it was.
TEST(Base64Test, DecodeAppendRestoresOnError) {
  std::string out = "header:";
  std::string text = Base64Encode(RandomBytes(300, 5));
  text[250] = '*';
  EXPECT_FALSE(Base64DecodeAppend(text, out).ok());
  EXPECT_EQ(out, "header:");
  EXPECT_FALSE(Base64DecodeAppend("Zh==", out).ok());
  EXPECT_EQ(out, "header:");
}

// Appending into a buffer reserved to the exact size does not reallocate.
TEST(Base64Test, DecodeAppendFitsExactReservation) {
  const std::string text = Base64Encode(RandomBytes(4096, 9));
  std::string out = "prefix";
  out.reserve(out.size() + Base64DecodedSize(text));
  const char* before = out.data();
  ASSERT_TRUE(Base64DecodeAppend(text, out).ok());
  EXPECT_EQ(out.data(), before);
  EXPECT_EQ(out.size(), 6u + 4096u);
}

}  // namespace
}  // namespace omnirelay
