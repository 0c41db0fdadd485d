// The one duration grammar: <digits><unit>, unit ms, s, m, h or d.
#include "omnirelay/api/duration.h"

#include <gtest/gtest.h>

namespace omnirelay::api {
namespace {

// Each unit scales to milliseconds.
TEST(DurationTest, EachUnit) {
  EXPECT_EQ(*ParseDurationMs("500ms"), 500);
  EXPECT_EQ(*ParseDurationMs("30s"), 30'000);
  EXPECT_EQ(*ParseDurationMs("15m"), 900'000);
  EXPECT_EQ(*ParseDurationMs("2h"), 7'200'000);
  EXPECT_EQ(*ParseDurationMs("7d"), 604'800'000);
  EXPECT_EQ(*ParseDurationMs("0s"), 0);
}

// A number without a unit, an unknown unit, a sign, a fraction, spaces or
// nothing at all are refused.
TEST(DurationTest, RefusesWhatIsNotADuration) {
  for (const char* text : {"", "30", "s", "soon", "5w", "1.5h", "-1s", "+1s", " 1s", "1s ", "1 s",
                           "1S", "1sec", "ms"}) {
    auto d = ParseDurationMs(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

// The error names the text and the grammar, the same wherever it is read.
TEST(DurationTest, ErrorNamesTheGrammar) {
  EXPECT_EQ(ParseDurationMs("soon").status().message(),
            "\"soon\" is not a duration like 500ms, 30s, 15m, 2h or 7d");
}

// A duration too long for int64 milliseconds is refused, not wrapped.
TEST(DurationTest, RefusesOverflow) {
  EXPECT_FALSE(ParseDurationMs("9223372036854775807d").ok());
  EXPECT_FALSE(ParseDurationMs("99999999999999999999ms").ok());
  EXPECT_EQ(*ParseDurationMs("9223372036854775807ms"), 9223372036854775807);
}

}  // namespace
}  // namespace omnirelay::api
