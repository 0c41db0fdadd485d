#include "omnirelay/config/merge.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/test_documents.h"

namespace omnirelay {
namespace {

using testdocs::One;
using testdocs::Problems;

// MergePatch's canonical result, or the error's ToString() to fail visibly.
std::string Merged(std::string_view target, std::string_view patch) {
  auto r = MergePatch(target, patch);
  return r.ok() ? *r : "error: " + r.status().ToString();
}

std::string Specs(const std::vector<std::string>& specs) {
  auto r = MergeSpecs(specs);
  return r.ok() ? *r : "error: " + r.status().ToString();
}

// ---- RFC 7386 Appendix A, one case per row ----------------------------------

struct RfcCase {
  const char* name;
  const char* target;
  const char* patch;
  const char* result;  // canonical: keys sorted, no whitespace
};

std::string RfcCaseName(const ::testing::TestParamInfo<RfcCase>& param) {
  return param.param.name;
}

class Rfc7386AppendixTest : public ::testing::TestWithParam<RfcCase> {};

// Each example of RFC 7386 Appendix A gives the RFC's result (in canonical form).
TEST_P(Rfc7386AppendixTest, MatchesTheRfc) {
  EXPECT_EQ(Merged(GetParam().target, GetParam().patch), GetParam().result);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc7386, Rfc7386AppendixTest,
    ::testing::Values(
        RfcCase{"ReplaceMember", R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
        RfcCase{"AddMember", R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
        RfcCase{"NullDeletes", R"({"a":"b"})", R"({"a":null})", R"({})"},
        RfcCase{"NullDeletesOnlyThatMember", R"({"a":"b","b":"c"})", R"({"a":null})",
                R"({"b":"c"})"},
        RfcCase{"ScalarReplacesArray", R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
        RfcCase{"ArrayReplacesScalar", R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
        RfcCase{"NestedMergeAndDelete", R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})",
                R"({"a":{"b":"d"}})"},
        RfcCase{"ArrayReplacedWhole", R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
        RfcCase{"ArrayTargetAndPatch", R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
        RfcCase{"ArrayPatchReplacesObject", R"({"a":"b"})", R"(["c"])", R"(["c"])"},
        RfcCase{"NullPatchReplacesAll", R"({"a":"foo"})", "null", "null"},
        RfcCase{"StringPatchReplacesAll", R"({"a":"foo"})", R"("bar")", R"("bar")"},
        RfcCase{"TargetNullMemberKept", R"({"e":null})", R"({"a":1})", R"({"a":1,"e":null})"},
        RfcCase{"ObjectPatchOnArrayTarget", R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
        RfcCase{"NestedNullOnMissingPath", R"({})", R"({"a":{"bb":{"ccc":null}}})",
                R"({"a":{"bb":{}}})"}),
    RfcCaseName);

// The worked example of RFC 7386 §3 (title, author, tags, phoneNumber).
TEST(MergePatchTest, Rfc7386Section3Example) {
  const std::string target = R"({
    "title": "Goodbye!",
    "author": {"givenName": "John", "familyName": "Doe"},
    "tags": ["example", "sample"],
    "content": "This will be unchanged"
  })";
  const std::string patch = R"({
    "title": "Hello!",
    "phoneNumber": "+01-555-1234",
    "author": {"familyName": null},
    "tags": ["example"]
  })";
  EXPECT_EQ(Merged(target, patch),
            R"({"author":{"givenName":"John"},"content":"This will be unchanged",)"
            R"("phoneNumber":"+01-555-1234","tags":["example"],"title":"Hello!"})");
}

// ---- behaviour the layers rely on ---------------------------------------------

// A null deletes a named entry deep in a spec and leaves its siblings.
TEST(MergePatchTest, NullDeletesNestedEntry) {
  EXPECT_EQ(Merged(R"({"routes":{"billing":{"weights":{"v1":90,"v2":10}}}})",
                   R"({"routes":{"billing":{"weights":{"v1":null,"eu":100}}}})"),
            R"({"routes":{"billing":{"weights":{"eu":100,"v2":10}}}})");
}

// Deleting a member that does not exist is a no-op.
TEST(MergePatchTest, NullOnMissingMemberIsNoOp) {
  EXPECT_EQ(Merged(R"({"a":1})", R"({"b":null})"), R"({"a":1})");
}

// Arrays are replaced whole, never merged element by element.
TEST(MergePatchTest, ArraysReplacedWhole) {
  EXPECT_EQ(Merged(R"({"cells":["use1-a","use1-b","use1-c"]})", R"({"cells":["euw1-a"]})"),
            R"({"cells":["euw1-a"]})");
}

// null inside an array is a value, not a deletion.
TEST(MergePatchTest, NullInsideArrayKept) {
  EXPECT_EQ(Merged(R"({})", R"({"a":[null,1]})"), R"({"a":[null,1]})");
}

// A non-object patch replaces the target entirely.
TEST(MergePatchTest, NonObjectPatchReplaces) {
  EXPECT_EQ(Merged(R"({"a":{"b":1}})", "42"), "42");
  EXPECT_EQ(Merged(R"({"a":{"b":1}})", R"({"a":true})"), R"({"a":true})");
}

// An object patch onto a non-object target starts from an empty object.
TEST(MergePatchTest, ObjectPatchOnScalarTarget) {
  EXPECT_EQ(Merged(R"({"a":5})", R"({"a":{"b":1,"c":null}})"), R"({"a":{"b":1}})");
}

// An empty patch leaves the target as it was (canonicalised).
TEST(MergePatchTest, EmptyPatchIsIdentity) {
  EXPECT_EQ(Merged(R"({ "b": [1, 2], "a": {"z": 1, "y": null} })", "{}"),
            R"({"a":{"y":null,"z":1},"b":[1,2]})");
}

// ---- canonical output -----------------------------------------------------------

// Canonical output sorts object keys at every level and has no whitespace.
TEST(CanonicalJsonTest, SortedKeysNoWhitespace) {
  auto r = CanonicalJson("{ \"b\" : 1 ,\n \"a\" : { \"d\" : [ 1 , 2 ] , \"c\" : \"x y\" } }");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, R"({"a":{"c":"x y","d":[1,2]},"b":1})");
}

// The canonical form is a fixed point.
TEST(CanonicalJsonTest, Idempotent) {
  const std::string once = *CanonicalJson(R"({"z":[{"b":2,"a":1}],"y":-0.5,"x":"\u00e9"})");
  EXPECT_EQ(*CanonicalJson(once), once);
}

// Array order is kept: only object keys are sorted.
TEST(CanonicalJsonTest, ArrayOrderKept) {
  EXPECT_EQ(*CanonicalJson(R"(["b","a",3,1])"), R"(["b","a",3,1])");
}

// Non-ASCII text stays UTF-8; needless escapes are dropped.
TEST(CanonicalJsonTest, UnicodeAndEscapes) {
  EXPECT_EQ(*CanonicalJson(R"({"a":"caf\u00e9 \/ \"q\""})"), "{\"a\":\"caf\xc3\xa9 / \\\"q\\\"\"}");
}

// Two documents that differ only in key order and spacing are byte-identical.
TEST(CanonicalJsonTest, EqualContentEqualBytes) {
  EXPECT_EQ(*CanonicalJson(R"({"a":1,"b":{"c":2,"d":3}})"),
            *CanonicalJson(" { \"b\" : { \"d\":3, \"c\":2 }, \"a\":1 } "));
}

// MergePatch output is canonical too.
TEST(MergePatchTest, OutputIsCanonical) {
  EXPECT_EQ(Merged(R"({ "z": 1 })", R"({ "m": { "b": 2, "a": 1 } })"),
            R"({"m":{"a":1,"b":2},"z":1})");
}

// ---- MergeSpecs -------------------------------------------------------------------

// Layers are applied in order: the later layer wins.
TEST(MergeSpecsTest, LaterWins) {
  EXPECT_EQ(Specs({R"({"a":1,"b":1})", R"({"a":2})"}), R"({"a":2,"b":1})");
}

// Order matters: swapping the layers swaps the winner.
TEST(MergeSpecsTest, OrderMatters) {
  EXPECT_EQ(Specs({R"({"a":1})", R"({"a":2})"}), R"({"a":2})");
  EXPECT_EQ(Specs({R"({"a":2})", R"({"a":1})"}), R"({"a":1})");
}

// A later layer's null deletes what an earlier layer defined.
TEST(MergeSpecsTest, LaterNullDeletes) {
  EXPECT_EQ(Specs({R"({"clusters":{"a":{"service":"s"},"b":{"service":"s"}}})",
                   R"({"clusters":{"a":null}})"}),
            R"({"clusters":{"b":{"service":"s"}}})");
}

// The result never holds null members, not even from the first layer.
TEST(MergeSpecsTest, NoNullMembers) {
  EXPECT_EQ(Specs({R"({"a":null,"b":{"c":null,"d":1}})"}), R"({"b":{"d":1}})");
}

// No layers merge to the empty object.
TEST(MergeSpecsTest, NoLayersIsEmptyObject) {
  EXPECT_EQ(Specs({}), "{}");
}

// MergeSpecs({g, r}) == MergePatch(MergePatch({}, g), r).
TEST(MergeSpecsTest, EqualsChainedMergePatch) {
  const std::string g = R"({"routes":{"r":{"weights":{"a":100}}},"x":[1]})";
  const std::string r = R"({"routes":{"r":{"weights":{"a":null,"b":100}}},"x":null})";
  EXPECT_EQ(Specs({g, r}), Merged(Merged("{}", g), r));
}

// ---- errors -------------------------------------------------------------------------

// An invalid JSON target is a kInvalid error with a parse_error diagnostic.
TEST(MergeErrorTest, InvalidTarget) {
  auto r = MergePatch("{", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(Problems(r), One("parse_error", ""));
}

// An invalid JSON patch is an error.
TEST(MergeErrorTest, InvalidPatch) {
  auto r = MergePatch("{}", "{\"a\":}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
}

// Inputs go through the strict parser: a duplicate key is an error.
TEST(MergeErrorTest, DuplicateKey) {
  auto r = MergePatch("{}", R"({"a":{"b":1,"b":2}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Problems(r), One("parse_error", "/a/b"));
}

// One invalid layer fails MergeSpecs.
TEST(MergeErrorTest, MergeSpecsInvalidLayer) {
  EXPECT_FALSE(MergeSpecs({"{}", "not json", "{}"}).ok());
}

// Invalid UTF-8 in a layer fails MergeSpecs.
TEST(MergeErrorTest, InvalidUtf8) {
  EXPECT_FALSE(MergeSpecs({"{\"a\":\"\xff\"}"}).ok());
}

// The size limit of DecodeOptions applies to merge inputs.
TEST(MergeErrorTest, SizeLimit) {
  DecodeOptions options;
  options.max_bytes = 8;
  EXPECT_FALSE(MergePatch("{}", R"({"abcdefgh":1})", options).ok());
  EXPECT_FALSE(CanonicalJson(R"({"abcdefgh":1})", options).ok());
}

// The depth limit of DecodeOptions applies to merge inputs.
TEST(MergeErrorTest, DepthLimit) {
  DecodeOptions options;
  options.max_depth = 2;
  EXPECT_TRUE(MergePatch("{}", R"({"a":{}})", options).ok());
  EXPECT_FALSE(MergePatch("{}", R"({"a":{"b":{}}})", options).ok());
}

// CanonicalJson of invalid text is an error.
TEST(MergeErrorTest, CanonicalInvalid) {
  EXPECT_EQ(CanonicalJson("").status().code(), StatusCode::kInvalid);
}

}  // namespace
}  // namespace omnirelay
