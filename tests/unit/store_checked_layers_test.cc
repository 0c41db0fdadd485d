// LayerWrite::checked_layers (store.h): a write is applied only while every
// layer it was validated with is still its scope's current one. Part of the
// Store contract suite: runs on every adapter.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using namespace store_contract;  // NOLINT: the suite's own fixture and builders

LayerWrite Checked(LayerWrite w, std::vector<LayerWrite::CheckedLayer> checked) {
  w.checked_layers = std::move(checked);
  return w;
}

// Checked layers that are all current (a revision, or none for a scope
// without a layer) let the write through; the written scope may be one.
TEST_P(StoreContractTest, AWriteWhoseCheckedLayersAreCurrentIsApplied) {
  MustWrite(Put("global", "{}", std::nullopt));
  MustWrite(Put("region:eu", "{}", std::nullopt));
  EXPECT_EQ(MustWrite(Checked(Put("region:eu", "{\"v\":2}", std::nullopt),
                              {{"global", 1}, {"region:eu", 2}, {"cell:eu-1", 0}})),
            3);
  EXPECT_EQ(MustWrite(Checked(Delete("region:eu", 3), {{"global", 1}, {"region:eu", 3}})), 4);
}

// A checked layer that moved (rewritten, deleted, or created where none
// was) refuses the write with kConflict naming it, and nothing is written:
// no revision, no audit entry, the layer as it was.
TEST_P(StoreContractTest, AWriteWhoseCheckedLayerMovedConflictsAndWritesNothing) {
  MustWrite(Put("global", "{}", std::nullopt));            // 1
  MustWrite(Put("region:eu", "{\"v\":1}", std::nullopt));  // 2
  MustWrite(Put("global", "{\"g\":2}", std::nullopt));     // 3
  const std::size_t audit_before = AllAudit().size();
  struct Case {
    std::vector<LayerWrite::CheckedLayer> checked;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"region:eu", 2}, {"global", 1}},
       "scope \"global\" is at revision 3, but the write was validated with revision 1 there; "
       "validate it again"},
      {{{"cell:eu-1", 0}, {"region:zz", 0}, {"region:eu", 0}},
       "scope \"region:eu\" is at revision 2, but the write was validated with no layer there; "
       "validate it again"},
      {{{"region:gone", 7}},
       "scope \"region:gone\" has no layer now, but the write was validated with revision 7 "
       "there; validate it again"},
  };
  for (const Case& c : cases) {
    Result<std::int64_t> r =
        store_->WriteLayer(Checked(Put("region:eu", "{\"v\":9}", std::nullopt), c.checked));
    EXPECT_EQ(r.status().code(), StatusCode::kConflict) << r.status().ToString();
    EXPECT_EQ(r.status().message(), c.message);
  }
  // The CAS is told before a checked layer.
  Result<std::int64_t> cas = store_->WriteLayer(
      Checked(Put("region:eu", "{\"v\":9}", 1), {{"global", 1}, {"region:eu", 2}}));
  EXPECT_EQ(cas.status().message(), "scope \"region:eu\" is at revision 2, not 1");
  EXPECT_EQ(Head(), 3);
  EXPECT_EQ(AllAudit().size(), audit_before);
  Result<LayerRecord> layer = store_->GetLayer("region:eu");
  ASSERT_TRUE(layer.ok());
  EXPECT_EQ(layer->document, "{\"v\":1}");
  // The next write, checked right, takes the next revision.
  EXPECT_EQ(MustWrite(Checked(Put("region:eu", "{\"v\":3}", 2), {{"global", 3}})), 4);
}

// In a change set (WriteLayers) each write's checked layers are read after
// the set's earlier writes: one that checked a layer an earlier member
// rewrote fails the whole set.
TEST_P(StoreContractTest, AChangeSetMemberCheckedAgainstAnEarlierMemberConflicts) {
  MustWrite(Put("global", "{}", std::nullopt));
  Result<std::vector<std::int64_t>> set =
      store_->WriteLayers({Put("global", "{\"g\":1}", 1),
                           Checked(Put("region:eu", "{}", std::nullopt), {{"global", 1}})},
                          nullptr, std::nullopt);
  EXPECT_EQ(set.status().code(), StatusCode::kConflict) << set.status().ToString();
  EXPECT_EQ(Head(), 1);
}

}  // namespace
}  // namespace omnirelay::cp
