// RFC 3339 in its own file: formatting milliseconds (the API's times) and
// the round trip through the one parser. (Parsing rules: decode_test.cc.)
#include "omnirelay/config/rfc3339.h"

#include <gtest/gtest.h>

namespace omnirelay {
namespace {

// Milliseconds are dropped, not rounded.
TEST(Rfc3339MsTest, DropsMilliseconds) {
  EXPECT_EQ(FormatRfc3339Ms(1795764709999), "2026-11-27T07:31:49Z");
  EXPECT_EQ(FormatRfc3339Ms(1795764709000), "2026-11-27T07:31:49Z");
}

// Before the epoch, the second is the one the instant falls in.
TEST(Rfc3339MsTest, FloorsBeforeTheEpoch) {
  EXPECT_EQ(FormatRfc3339Ms(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339Ms(-1000), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339Ms(0), "1970-01-01T00:00:00Z");
}

// What FormatRfc3339Ms prints parses back to the same whole second.
TEST(Rfc3339MsTest, RoundTripsWholeSeconds) {
  for (std::int64_t ms : {0LL, 86'400'000LL, 1795764709000LL, 4102444799000LL}) {
    auto back = ParseRfc3339(FormatRfc3339Ms(ms));
    ASSERT_TRUE(back.ok()) << ms;
    EXPECT_EQ(*back * 1000, ms);
  }
}

// Years outside 0000-9999 are clamped, so the text is always RFC 3339.
TEST(Rfc3339MsTest, ClampsYears) {
  EXPECT_EQ(FormatRfc3339(253402300800), "9999-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(-62167219201), "0000-01-01T00:00:00Z");
}

}  // namespace
}  // namespace omnirelay
