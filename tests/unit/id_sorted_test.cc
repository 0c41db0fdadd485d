// IdSorted<T> (src/controlplane/id_sorted.h): the rollout engine's per-node
// tables — assignments, reports and assigned hashes — by node id.
#include "id_sorted.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "rollout_gates.h"
#include "rollout_state.h"

namespace omnirelay::cp {
namespace {

// The assignments read as the map they replaced: by id, in id order, a
// missing id inserted where it sorts, equal when the entries are.
TEST(IdSortedTest, ReadsAndInsertsInIdOrder) {
  NodeAssignments nodes;
  nodes.Set("b", NodeAssignment{0, 1, 1});
  nodes.Set("d", NodeAssignment{1, 1, 2});
  nodes.Set("a", NodeAssignment{1, 3, 3});  // out of order: placed by search
  nodes["c"].assigned_version = 7;
  nodes.Set("b", NodeAssignment{2, 1, 5});  // replaces
  std::vector<std::string> ids;
  for (const auto& [id, a] : nodes) ids.push_back(id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(nodes.at("b").assigned_version, 5);
  EXPECT_EQ(nodes.find("c")->second.assigned_version, 7);
  EXPECT_EQ(nodes.find("e"), nodes.end());
  EXPECT_TRUE(nodes.contains("d"));
  EXPECT_EQ(nodes.count("z"), 0u);
  EXPECT_THROW(nodes.at("z"), std::out_of_range);
  EXPECT_EQ(nodes.LowerBound(nodes.find("b"), "bb")->first, "c");
  // emplace keeps a held id's value, as std::map::emplace does.
  const auto [held, fresh] = nodes.emplace("c", NodeAssignment{0, 0, 9});
  EXPECT_FALSE(fresh);
  EXPECT_EQ(held->second.assigned_version, 7);
  NodeAssignments copy = nodes;
  EXPECT_EQ(copy, nodes);
  copy["c"].assigned_version = 8;
  EXPECT_NE(copy, nodes);
}

// Set replaces a held value with the one given, whatever the value's type
// (a string moved from once would be empty), and inserts where the id sorts.
TEST(IdSortedTest, SetReplacesAHeldValueWithTheOneGiven) {
  AssignedHashes hashes;
  hashes.Set("b", "sha256:one");
  hashes.Set("b", "sha256:two");  // the last id: replaced, not appended
  hashes.Set("c", "sha256:three");
  hashes.Set("b", "sha256:four");  // not the last id: found by search
  hashes.Set("a", "sha256:five");  // inserted before the rest
  EXPECT_EQ(hashes.at("b"), "sha256:four");
  EXPECT_EQ(hashes.at("c"), "sha256:three");
  EXPECT_EQ(hashes.at("a"), "sha256:five");
  EXPECT_EQ(hashes.size(), 3u);
}

// A gallop from any entry to any id not below it finds what a search from
// the top does.
TEST(IdSortedTest, LowerBoundFromAnyEntryMatchesASearchFromTheTop) {
  NodeAssignments many;
  for (int i = 100; i < 300; i += 3) many.Set("n" + std::to_string(i), NodeAssignment{});
  for (auto from = many.begin(); from != many.end(); ++from) {
    for (int i = 90; i < 310; ++i) {
      const std::string id = "n" + std::to_string(i);
      if (id < from->first) continue;
      const auto want =
          std::lower_bound(many.begin(), many.end(), id,
                           [](const auto& e, const std::string& v) { return e.first < v; });
      ASSERT_EQ(many.LowerBound(from, id), want) << from->first << " " << id;
    }
  }
}

// Contract 4: a walk answers as find does for ids in any order — ascending
// (the engine's), descending, repeated, shuffled, absent.
TEST(IdSortedTest, AWalkFindsWhatFindDoesInAnyOrder) {
  std::vector<IdSorted<int>::value_type> entries;
  for (int i = 0; i < 500; i += 2) entries.emplace_back("node-" + std::to_string(i), i);
  const auto table = IdSorted<int>::FromEntries(entries);
  std::vector<std::string> probes;
  for (int i = -3; i < 503; ++i) probes.push_back("node-" + std::to_string(i));
  std::sort(probes.begin(), probes.end());
  const auto check = [&](const std::vector<std::string>& ids, const char* order) {
    IdSorted<int>::Walk walk(table);
    for (const std::string& id : ids) {
      const auto it = table.find(id);
      const int* found = walk.Find(id);
      ASSERT_EQ(found == nullptr, it == table.end()) << order << ": " << id;
      if (found != nullptr) {
        ASSERT_EQ(*found, it->second) << order << ": " << id;
      }
    }
  };
  check(probes, "ascending");
  std::vector<std::string> reversed(probes.rbegin(), probes.rend());
  check(reversed, "descending");
  std::vector<std::string> twice;
  for (const std::string& id : probes) twice.insert(twice.end(), {id, id});
  check(twice, "repeated");
  std::vector<std::string> shuffled = probes;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  check(shuffled, "shuffled");
  const IdSorted<int> none;
  IdSorted<int>::Walk empty_walk(none);
  EXPECT_EQ(empty_walk.Find("node-0"), nullptr);
}

// FromEntries sorts and keeps the first of two entries with one id; Merge
// interleaves a sorted batch with what is held.
TEST(IdSortedTest, FromEntriesSortsAndMergeInterleaves) {
  auto table = IdSorted<std::string>::FromEntries({{"c", "c1"}, {"a", "a1"}, {"c", "c2"}});
  std::vector<std::string> values;
  for (const auto& [id, v] : table) values.push_back(v);
  EXPECT_EQ(values, (std::vector<std::string>{"a1", "c1"}));
  table.Merge({{"b", "b1"}, {"d", "d1"}});
  table.Merge({{"e", "e1"}});  // all after: appended
  values.clear();
  for (const auto& [id, v] : table) values.push_back(id + "=" + v);
  EXPECT_EQ(values, (std::vector<std::string>{"a=a1", "b=b1", "c=c1", "d=d1", "e=e1"}));
}

}  // namespace
}  // namespace omnirelay::cp
