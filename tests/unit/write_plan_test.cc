// PlanWrite: the pure planning step of a layer write (write_plan.h), tested
// without a store: the chains, layers and fleet are handed in.
#include "write_plan.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/document_set.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;

std::string Layer(const std::string& scope, Json spec, std::vector<std::string> features = {}) {
  return Json{{"apiVersion", "omnirelay.config/v1"},
              {"kind", "ConfigLayer"},
              {"metadata", {{"scope", scope}, {"author", "test"}, {"features", features}}},
              {"spec", std::move(spec)}}
      .dump();
}

// Service "a" served by cluster a-v1 (and more clusters when asked).
Json BaseSpec() {
  return Json{{"clusters", {{"a-v1", {{"service", "a"}}}, {"a-v2", {{"service", "a"}}}}},
              {"routes", {{"a", {{"service", "a"}, {"weights", {{"a-v1", 100}}}}}}}};
}

std::vector<Scope> Chain(const std::string& text) {
  return ParseScopeChain(text).value();
}

Scope ScopeOf(const std::string& text) {
  return ParseScope(text).value();
}

bool HasCode(const std::vector<Diagnostic>& diags, DiagCode code) {
  for (const auto& d : diags) {
    if (d.code == code) return true;
  }
  return false;
}

// A valid write is planned ok over every chain given, each with its new effective spec.
// Rule 3, placements checked once: a chain whose deeper layers leave the
// topology alone renders without the global layer's placements (the chain
// [global] validates them) — and a deeper layer that does touch regions is
// validated with them, so a placement it strands is caught there.
Json PlacedSpec() {
  Json spec = BaseSpec();
  spec["topology"]["regions"]["r1"]["cells"] = Json::array({"c1", "c2"});
  spec["topology"]["placements"]["k1"]["cell"] = "c2";
  return spec;
}

TEST(WritePlanTest, PlacementsAreValidatedOnceAndWhereADeeperLayerTouchesThem) {
  // A global write with a placement in an unknown cell: the [global] chain says so.
  Json bad = PlacedSpec();
  bad["topology"]["placements"]["k2"]["cell"] = "c9";
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", bad);
  in.SetCurrentLayer("global", Layer("global", PlacedSpec()));
  in.SetCurrentLayer("cluster:k1",
                     Layer("cluster:k1", Json{{"dispatcher", {{"maxConcurrentRequests", 5}}}}));
  in.chains = {Chain("global"), Chain("global,region:r1,cell:c2,cluster:k1")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(HasCode(plan->chains[0].diagnostics, DiagCode::kUnknownCell));
  EXPECT_TRUE(plan->chains[1].diagnostics.empty());  // lean: placements left to [global]
  EXPECT_FALSE(Json::parse(plan->chains[1].spec_json)["topology"].contains("placements"));

  // A cell layer that redefines region r1 without c2 strands placement k1:
  // its chain keeps the placements and fails.
  WritePlanInput cell;
  cell.scope = ScopeOf("cell:c1");
  Json shrink;
  shrink["topology"]["regions"]["r1"]["cells"] = Json::array({"c1"});
  cell.document = Layer("cell:c1", shrink);
  cell.SetCurrentLayer("global", Layer("global", PlacedSpec()));
  cell.chains = {Chain("global,region:r1,cell:c1")};
  auto stranded = PlanWrite(cell);
  ASSERT_TRUE(stranded.ok()) << stranded.status().ToString();
  EXPECT_TRUE(HasCode(stranded->chains[0].diagnostics, DiagCode::kUnknownCell))
      << stranded->chains[0].diagnostics.size();
}

TEST(WritePlanTest, ValidWritePlansEveryChain) {
  Json spec = BaseSpec();
  spec["routes"]["a"]["weights"] = {{"a-v1", 50}, {"a-v2", 50}};
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", spec);
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.SetCurrentLayer("region:r1", Layer("region:r1", Json::object()));
  in.chains = {Chain("global"), Chain("global,region:r1")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(plan->ok());
  ASSERT_EQ(plan->chains.size(), 2u);
  EXPECT_EQ(plan->chains[0].chain, "global");
  EXPECT_EQ(plan->chains[1].chain, "global,region:r1");
  for (const auto& chain : plan->chains) {
    EXPECT_TRUE(chain.diagnostics.empty());
    EXPECT_EQ(Json::parse(chain.spec_json)["routes"]["a"]["weights"]["a-v2"], 50);
  }
}

// A write that breaks only one of several chains is refused, naming that chain.
TEST(WritePlanTest, InvalidInOneChainNamesTheChain) {
  // region:r2 routes to a-v2; the global write removes a-v2.
  Json region = {{"routes", {{"a", {{"weights", {{"a-v1", 0}, {"a-v2", 100}}}}}}}};
  Json spec = BaseSpec();
  spec["clusters"].erase("a-v2");
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", spec);
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.SetCurrentLayer("region:r2", Layer("region:r2", region));
  in.chains = {Chain("global"), Chain("global,region:r2")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_FALSE(plan->ok());
  EXPECT_TRUE(plan->chains[0].diagnostics.empty());
  EXPECT_EQ(plan->chains[1].chain, "global,region:r2");
  ASSERT_FALSE(plan->chains[1].diagnostics.empty());
  EXPECT_EQ(plan->chains[1].diagnostics[0].code, DiagCode::kDanglingCluster);
  // The plan's list names the chain each problem was found in.
  ASSERT_EQ(plan->diagnostics.size(), plan->chains[1].diagnostics.size());
  EXPECT_EQ(plan->diagnostics[0].path, plan->chains[1].diagnostics[0].path);
  EXPECT_EQ(plan->diagnostics[0].message,
            plan->chains[1].diagnostics[0].message + " (chain global,region:r2)");
  EXPECT_EQ(FirstFailingChain(*plan), &plan->chains[1]);
}

// The same problem found in several chains is reported once in the plan's list.
TEST(WritePlanTest, SameProblemInTwoChainsReportedOnce) {
  Json spec = BaseSpec();
  spec["routes"]["a"]["weights"] = {{"a-v1", 100}, {"missing", 0}};
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", spec);
  in.chains = {Chain("global"), Chain("global,region:r1")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->chains[0].diagnostics.size(), 1u);
  EXPECT_EQ(plan->chains[1].diagnostics.size(), 1u);
  EXPECT_EQ(plan->diagnostics.size(), 1u);
  EXPECT_EQ(plan->diff_summary, "not computed: the result does not validate");
}

// Rule 4b: a chain a deeper layer already broke does not hold a write
// above it that leaves it no worse; a new problem there, or a write to the
// broken layer itself that does not fix it, is refused.
TEST(WritePlanTest, ChainAlreadyFailingBelowTheWriteDoesNotRefuseIt) {
  // region:r1 routes to a cluster nobody defines; route b uses a-v2.
  const Json broken = {{"routes",
                        {{"a", {{"weights", {{"ghost", 100}, {"a-v1", 0}}}}},
                         {"b", {{"service", "a"}, {"weights", {{"a-v2", 100}}}}}}}};
  auto input = [&](const std::string& scope, Json spec) {
    WritePlanInput in;
    in.scope = ScopeOf(scope);
    in.document = Layer(scope, std::move(spec));
    in.SetCurrentLayer("global", Layer("global", BaseSpec()));
    in.SetCurrentLayer("region:r1", Layer("region:r1", broken));
    in.chains = {Chain("global"), Chain("global,region:r1")};
    return in;
  };
  Json timeout = BaseSpec();
  timeout["clusters"]["a-v1"]["timeoutMs"] = 250;
  auto plan = PlanWrite(input("global", timeout));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(plan->ok()) << plan->diagnostics[0].message;
  EXPECT_TRUE(plan->chains[1].diagnostics.empty());
  ASSERT_FALSE(plan->chains[1].already_failing.empty());
  EXPECT_EQ(plan->chains[1].already_failing[0].code, DiagCode::kDanglingCluster);
  EXPECT_EQ(plan->already_failing_chains, 1u);
  EXPECT_NE(plan->diff_summary.find("1 chain(s) failed to render before this write and still do"),
            std::string::npos)
      << plan->diff_summary;
  EXPECT_NE(plan->diff_summary.find("(chain global,region:r1)"), std::string::npos)
      << plan->diff_summary;
  EXPECT_EQ(FirstFailingChain(*plan), nullptr);

  // Dropping a-v2 adds a problem to that chain (route b): refused.
  Json drop = BaseSpec();
  drop["clusters"].erase("a-v2");
  auto worse = PlanWrite(input("global", drop));
  ASSERT_TRUE(worse.ok());
  EXPECT_FALSE(worse->ok());
  EXPECT_EQ(FirstFailingChain(*worse), &worse->chains[1]);

  // The broken layer itself, rewritten still broken: refused.
  Json still = broken;
  still["routes"]["b"]["weights"]["a-v2"] = 90;
  still["routes"]["b"]["weights"]["a-v1"] = 10;
  auto own = PlanWrite(input("region:r1", still));
  ASSERT_TRUE(own.ok());
  EXPECT_FALSE(own->ok());
  EXPECT_TRUE(HasCode(own->diagnostics, DiagCode::kDanglingCluster));
}

WritePlanInput RemoveRoutedCluster(bool confirm) {
  // a-v1 takes all the traffic today; the write moves it to a-v2 and drops a-v1.
  Json spec = BaseSpec();
  spec["clusters"].erase("a-v1");
  spec["routes"]["a"]["weights"] = {{"a-v2", 100}};
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", spec);
  in.confirm = confirm;
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.chains = {Chain("global")};
  return in;
}

// Removing a cluster that receives traffic is destructive_change without confirm.
TEST(WritePlanTest, DestructiveWithoutConfirmIsRefused) {
  auto plan = PlanWrite(RemoveRoutedCluster(/*confirm=*/false));
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->ok());
  EXPECT_TRUE(HasCode(plan->diagnostics, DiagCode::kDestructiveChange));
  EXPECT_EQ(plan->diagnostics[0].path, "/spec/clusters/a-v1");
}

// With confirm, the same change is planned ok, the finding still listed on its chain.
TEST(WritePlanTest, DestructiveWithConfirmIsAllowed) {
  auto plan = PlanWrite(RemoveRoutedCluster(/*confirm=*/true));
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->ok());
  EXPECT_TRUE(HasCode(plan->chains[0].destructive, DiagCode::kDestructiveChange));
}

// A node profile on a checked chain that lacks a feature the new config needs is
// blocked; a profile on a chain not given is not looked at.
TEST(WritePlanTest, CapabilityGapBlocksProfile) {
  Json spec = BaseSpec();
  spec["routes"]["a"]["shadow"] = {{"cluster", "a-v2"}, {"percent", 5}};
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", spec, {"shadowing"});
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.chains = {Chain("global")};
  in.profiles = {{"global", "omnirelay.config/v1", {}, 3},
                 {"global", "omnirelay.config/v1", {"shadowing"}, 2},
                 {"global,region:r9", "omnirelay.config/v1", {}, 1}};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_FALSE(plan->ok());
  EXPECT_TRUE(plan->diagnostics.empty());
  ASSERT_EQ(plan->blocked.size(), 1u);
  EXPECT_EQ(plan->blocked[0].chain, "global");
  EXPECT_EQ(plan->blocked[0].profile.nodes, 3);
  EXPECT_NE(plan->blocked[0].reason.find("shadowing"), std::string::npos);
  EXPECT_EQ(plan->blocked[0].missing, std::vector<std::string>{"shadowing"});
}

// Deleting a layer plans the chains without it: the region's override disappears.
TEST(WritePlanTest, DeletionDropsTheLayer) {
  Json region = {{"routes", {{"a", {{"weights", {{"a-v1", 0}, {"a-v2", 100}}}}}}}};
  WritePlanInput in;
  in.scope = ScopeOf("region:r1");
  in.document = std::nullopt;
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.SetCurrentLayer("region:r1", Layer("region:r1", region));
  in.chains = {Chain("global,region:r1")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_TRUE(plan->ok());
  const Json after = Json::parse(plan->chains[0].spec_json);
  EXPECT_EQ(after["routes"]["a"]["weights"], (Json{{"a-v1", 100}}));
  EXPECT_EQ(plan->diff_summary, "routes +0 -0 ~1 (~a)");
}

// Deleting a layer that a deeper chain depends on is refused like any write.
TEST(WritePlanTest, DeletionThatBreaksAChainIsRefused) {
  Json region = {{"clusters", {{"b-v1", {{"service", "a"}}}}}};
  Json node = {{"routes", {{"a", {{"weights", {{"a-v1", 0}, {"b-v1", 100}}}}}}}};
  WritePlanInput in;
  in.scope = ScopeOf("region:r1");
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.SetCurrentLayer("region:r1", Layer("region:r1", region));
  in.SetCurrentLayer("node:n1", Layer("node:n1", node));
  in.chains = {Chain("global,region:r1"), Chain("global,region:r1,node:n1")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->chains[0].diagnostics.empty());
  EXPECT_TRUE(HasCode(plan->chains[1].diagnostics, DiagCode::kDanglingCluster));
}

// The diff summary is that of the first chain, naming what changed.
TEST(WritePlanTest, DiffSummaryNamesTheChanges) {
  Json spec = BaseSpec();
  spec["clusters"]["a-v3"] = {{"service", "a"}};
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", spec);
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.chains = {Chain("global")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->diff_summary.rfind("clusters +1 -0 ~0 (+a-v3)", 0), 0u) << plan->diff_summary;
}

// Rule 8: a diff over max_change_entries named entries is change_too_large
// at /spec (count and limit in the message) unless allowed; allowed, the plan
// is ok and says it was large; at the limit it is not large.
TEST(WritePlanTest, ChangeOverTheEntryLimitIsTooLarge) {
  Json spec = BaseSpec();
  for (int i = 0; i < 3; ++i) spec["clusters"]["b-" + std::to_string(i)] = {{"service", "b"}};
  spec["routes"]["a"]["weights"] = {{"a-v1", 50}, {"a-v2", 50}};  // 3 added + 1 changed
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", spec);
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.chains = {Chain("global")};
  in.max_change_entries = 3;
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_FALSE(plan->ok());
  EXPECT_EQ(plan->changed_entries, 4u);
  EXPECT_TRUE(plan->large_change);
  ASSERT_EQ(plan->diagnostics.size(), 1u);
  EXPECT_EQ(plan->diagnostics[0].code, DiagCode::kChangeTooLarge);
  EXPECT_EQ(plan->diagnostics[0].path, "/spec");
  EXPECT_NE(plan->diagnostics[0].message.find("touches 4 named entries"), std::string::npos)
      << plan->diagnostics[0].message;
  EXPECT_NE(plan->diagnostics[0].message.find("limit of 3"), std::string::npos);

  in.allow_large_change = true;
  plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->ok());
  EXPECT_TRUE(plan->large_change);

  in.allow_large_change = false;
  in.max_change_entries = 4;
  plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->ok());
  EXPECT_FALSE(plan->large_change);

  in.max_change_entries = 0;  // no limit
  plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->ok());
  EXPECT_FALSE(plan->large_change);
}

// Rewriting the same content plans "no changes".
TEST(WritePlanTest, SameContentIsNoChange) {
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", BaseSpec());
  in.SetCurrentLayer("global", Layer("global", BaseSpec()));
  in.chains = {Chain("global")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->diff_summary, "no changes");
}

// A document for another scope than the one written is refused before any chain.
TEST(WritePlanTest, ScopeMismatchIsRefused) {
  WritePlanInput in;
  in.scope = ScopeOf("region:r1");
  in.document = Layer("global", BaseSpec());
  in.chains = {Chain("global,region:r1")};
  auto plan = PlanWrite(in);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalid);
  ASSERT_EQ(plan.status().diagnostics().size(), 1u);
  EXPECT_EQ(plan.status().diagnostics()[0].code, DiagCode::kInvalidScope);
}

// A layer over the one document size limit is too_large, carrying exactly the
// parse_error diagnostic offline validation reports for it.
TEST(WritePlanTest, OversizedLayerRefusedLikeOfflineValidation) {
  Json spec = BaseSpec();
  spec["security"]["jwksUri"] = "https://idp.example/";
  std::string document = Layer("global", spec);
  document.append(kDefaultMaxDocumentBytes + 1 - document.size(), ' ');
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = document;
  in.chains = {Chain("global")};
  auto plan = PlanWrite(in);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kTooLarge);

  DocumentSetReport offline = ValidateDocuments({{"layer.json", document}});
  ASSERT_EQ(offline.errors.size(), 1u);
  ASSERT_EQ(plan.status().diagnostics().size(), 1u);
  EXPECT_EQ(plan.status().diagnostics()[0], offline.errors[0].diagnostic);
  EXPECT_EQ(offline.errors[0].diagnostic.code, DiagCode::kParseError);
}

// A layer exactly at the limit is not refused for its size.
TEST(WritePlanTest, LayerAtTheLimitIsAccepted) {
  std::string document = Layer("global", BaseSpec());
  document.append(kDefaultMaxDocumentBytes - document.size(), ' ');
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = document;
  in.chains = {Chain("global")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(plan->ok());
}

// The memo is memoisation only: a run of writes planned with one memo plans
// exactly as without it, and a write's "before" render is the previous
// write's "after" (one render per write, not two).
TEST(WritePlanMemoTest, PlansAreTheSameAndEachWriteRendersOnce) {
  PlanMemo memo;
  std::string stored_region;  // the region layer as the previous write left it
  std::int64_t revision = 1;
  for (int i = 0; i < 6; ++i) {
    Json region = {{"routes", {{"a", {{"weights", {{"a-v1", 100 - i}, {"a-v2", i}}}}}}}};
    if (i == 4) region["routes"]["a"]["weights"]["a-v9"] = 1;  // invalid: a-v9 is not a cluster
    auto input = [&](PlanMemo* m) {
      WritePlanInput in;
      in.scope = ScopeOf("region:r1");
      in.document = Layer("region:r1", region);
      in.memo = m;
      if (m != nullptr) {
        in.current_layers["global"] = m->Stored("global", 1, Layer("global", BaseSpec()));
        if (!stored_region.empty())
          in.current_layers["region:r1"] = m->Stored("region:r1", revision, stored_region);
      } else {
        in.SetCurrentLayer("global", Layer("global", BaseSpec()));
        if (!stored_region.empty()) in.SetCurrentLayer("region:r1", stored_region);
      }
      in.chains = {Chain("global,region:r1"), Chain("global,region:r1,node:n1")};
      return in;
    };
    const auto before = memo.counts();
    auto with = PlanWrite(input(&memo));
    auto without = PlanWrite(input(nullptr));
    ASSERT_TRUE(with.ok() && without.ok());
    ASSERT_EQ(with->chains.size(), without->chains.size());
    for (std::size_t c = 0; c < with->chains.size(); ++c) {
      EXPECT_EQ(with->chains[c].spec_json, without->chains[c].spec_json);
      EXPECT_EQ(with->chains[c].diagnostics, without->chains[c].diagnostics);
    }
    EXPECT_EQ(with->diagnostics, without->diagnostics);
    EXPECT_EQ(with->diff_summary, without->diff_summary);
    const auto after = memo.counts();
    if (i == 4) {
      EXPECT_FALSE(with->ok());  // refused: the region layer stays as it was
      continue;
    }
    if (i > 0) {
      // Both chains share one layer set: one lookup for "after" (a miss,
      // rendered), one for "before" (the previous write's "after": a hit).
      EXPECT_EQ(after.render_hits - before.render_hits, 1u) << "write " << i;
      EXPECT_EQ(after.render_misses - before.render_misses, 1u) << "write " << i;
    }
    stored_region = *input(nullptr).document;
    ++revision;
  }
  EXPECT_EQ(memo.counts().layers, 2u);  // global and region:r1, each at its latest revision
}

// A failed render is not kept (its messages name the chain it failed in);
// the renders kept stay within the byte budget, oldest dropped first.
TEST(WritePlanMemoTest, KeepsOnlySuccessfulRendersWithinItsBudget) {
  PlanMemo memo(/*max_layers=*/16, /*max_render_bytes=*/2000);
  for (int i = 0; i < 20; ++i) {
    Json spec = BaseSpec();
    spec["clusters"]["c" + std::to_string(i)] = {{"service", "a"}};
    WritePlanInput in;
    in.scope = ScopeOf("global");
    in.document = Layer("global", spec);
    in.memo = &memo;
    in.chains = {Chain("global")};
    ASSERT_TRUE(PlanWrite(in).ok());
    EXPECT_LE(memo.counts().render_bytes, 2000u);
  }
  const auto kept = memo.counts();
  EXPECT_GT(kept.renders, 0u);
  EXPECT_LT(kept.renders, 20u);

  Json bad = BaseSpec();
  bad["routes"]["a"]["weights"]["nowhere"] = 1;
  WritePlanInput in;
  in.scope = ScopeOf("global");
  in.document = Layer("global", bad);
  in.memo = &memo;
  in.chains = {Chain("global")};
  auto plan = PlanWrite(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->ok());
  EXPECT_EQ(memo.counts().renders, kept.renders);
}

// A dry run's plan (keep_renders false) uses what the memo has but adds
// nothing to it: its layers are never stored, so its renders are nobody's
// "before", and a large dry run must not evict those that are.
TEST(WritePlanMemoTest, DryRunsReadTheMemoButKeepNothing) {
  PlanMemo memo;
  auto input = [&](int weight, bool keep) {
    WritePlanInput in;
    in.scope = ScopeOf("region:r1");
    in.document = Layer("region:r1", {{"routes", {{"a", {{"weights", {{"a-v1", weight}}}}}}}});
    in.memo = &memo;
    in.keep_renders = keep;
    in.current_layers["global"] = memo.Stored("global", 1, Layer("global", BaseSpec()));
    in.chains = {Chain("global,region:r1")};
    return in;
  };
  ASSERT_TRUE(PlanWrite(input(100, /*keep=*/true)).ok());
  const auto kept = memo.counts();
  ASSERT_GE(kept.renders, 1u);
  // Another content, dry: rendered (a miss) and not kept.
  ASSERT_TRUE(PlanWrite(input(90, /*keep=*/false)).ok());
  const auto dry = memo.counts();
  EXPECT_EQ(dry.renders, kept.renders);
  EXPECT_EQ(dry.render_misses, kept.render_misses + 1);
  // The kept content, dry: everything found in the memo, nothing added.
  ASSERT_TRUE(PlanWrite(input(100, /*keep=*/false)).ok());
  EXPECT_EQ(memo.counts().render_misses, dry.render_misses);
  EXPECT_GT(memo.counts().render_hits, dry.render_hits);
  EXPECT_EQ(memo.counts().renders, kept.renders);
}

}  // namespace
}  // namespace omnirelay::cp
