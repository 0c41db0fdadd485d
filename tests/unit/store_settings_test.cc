// The Store contract for settings (store.h GetSetting / PutSetting), run
// against every adapter of the contract suite (store_contract.h).
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using namespace store_contract;  // NOLINT: the suite's own fixture and builders

AuditEntry SettingAudit(const std::string& action) {
  AuditEntry a = Audit(action, 2000);
  a.summary = "frozen: incident 7";
  return a;
}

// A key never set is kNotFound.
TEST_P(StoreContractTest, UnsetSettingIsNotFound) {
  auto got = store_->GetSetting("freeze");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
}

// A put is read back whole, with its time; a second put replaces it.
TEST_P(StoreContractTest, PutSettingIsReadBackAndReplaced) {
  ASSERT_TRUE(store_->PutSetting("freeze", "{\"a\":1}", 10, SettingAudit("freeze.set")).ok());
  ASSERT_TRUE(store_->PutSetting("freeze", "{\"a\":2}", 20, SettingAudit("freeze.set")).ok());
  auto got = store_->GetSetting("freeze");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->key, "freeze");
  EXPECT_EQ(got->value, "{\"a\":2}");
  EXPECT_EQ(got->updated_at_ms, 20);
  EXPECT_FALSE(store_->GetSetting("other").ok());
}

// Removing a setting makes it kNotFound; removing one that is not set is OK.
TEST_P(StoreContractTest, RemovedSettingIsNotFoundAndRemovingTwiceIsOk) {
  ASSERT_TRUE(store_->PutSetting("freeze", "{}", 10, SettingAudit("freeze.set")).ok());
  ASSERT_TRUE(store_->PutSetting("freeze", std::nullopt, 20, SettingAudit("freeze.clear")).ok());
  EXPECT_EQ(store_->GetSetting("freeze").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->PutSetting("freeze", std::nullopt, 30, SettingAudit("freeze.clear")).ok());
}

// Each setting change commits its audit entry with it; settings use no revision.
TEST_P(StoreContractTest, SettingChangesCarryTheirAuditAndNoRevision) {
  ASSERT_TRUE(store_->PutSetting("freeze", "{}", 10, SettingAudit("freeze.set")).ok());
  ASSERT_TRUE(store_->PutSetting("freeze", std::nullopt, 20, SettingAudit("freeze.clear")).ok());
  auto entries = AllAudit();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].action, "freeze.set");
  EXPECT_EQ(entries[0].summary, "frozen: incident 7");
  EXPECT_EQ(entries[1].action, "freeze.clear");
  EXPECT_EQ(Head(), 0);
}

// A setting without a key is refused and writes nothing, audit included.
TEST_P(StoreContractTest, SettingNeedsAKey) {
  EXPECT_EQ(store_->PutSetting("", "{}", 10, SettingAudit("freeze.set")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(AllAudit().empty());
}

// A layer write with refused_by_setting is refused (kFrozen, the stored value
// as its message) while that setting exists, writing nothing, audit
// included; alone, in a change set, and not once the setting is removed.
TEST_P(StoreContractTest, ASettingRefusesTheWritesThatNameIt) {
  ASSERT_TRUE(
      store_->PutSetting("freeze", "{\"why\":\"incident 7\"}", 10, SettingAudit("freeze.set"))
          .ok());
  LayerWrite guarded = Put("global", "{}", std::nullopt);
  guarded.refused_by_setting = "freeze";
  auto refused = store_->WriteLayer(guarded);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFrozen);
  EXPECT_EQ(refused.status().message(), "{\"why\":\"incident 7\"}");
  auto in_a_set = store_->WriteLayers({Put("region:eu", "{}", std::nullopt), guarded}, nullptr);
  EXPECT_EQ(in_a_set.status().code(), StatusCode::kFrozen);
  EXPECT_EQ(Head(), 0);
  EXPECT_EQ(AllAudit().size(), 1u);  // the freeze's own entry

  LayerWrite other = guarded;
  other.refused_by_setting = "another-setting";
  EXPECT_TRUE(store_->WriteLayer(other).ok());  // a revert names none
  ASSERT_TRUE(store_->PutSetting("freeze", std::nullopt, 20, SettingAudit("freeze.clear")).ok());
  guarded.expected_revision.reset();
  auto written = store_->WriteLayer(guarded);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, 2);
}

// A setting survives closing and reopening the store.
TEST_P(StoreContractTest, SettingSurvivesReopen) {
  if (!GetParam().durable) GTEST_SKIP() << "in-memory adapter";
  ASSERT_TRUE(store_->PutSetting("freeze", "{\"why\":\"x\"}", 10, SettingAudit("freeze.set")).ok());
  Open();
  auto got = store_->GetSetting("freeze");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->value, "{\"why\":\"x\"}");
}

}  // namespace
}  // namespace omnirelay::cp
