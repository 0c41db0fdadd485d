// IdSorted<T>: values by node id in one vector kept sorted by id — the
// rollout engine's per-node tables (assignments, reports, assigned hashes).
// The engine walks its members in id order, so a table filled in that order
// is appended to without a search, and read in that order (Walk) costs one
// or two comparisons per id over contiguous memory: no hashing, no node
// allocation per entry, no pointer chasing (BM_PlanAndTick in
// bench/bench_rollout_plan.cc measures it over 10,000 nodes).
//
// Contract:
//  1. Entries are (id, value) pairs with unique ids, in ascending id order;
//     `for (auto& [id, v] : table)` and `it->second` read as with std::map.
//     An id must not be changed through an iterator (the order is the index).
//  2. find/at/count/contains: a binary search. at throws std::out_of_range.
//  3. operator[], Set and emplace append when the id sorts after every id
//     held, else insert where it sorts (moving the entries after it: build
//     out of order with FromEntries or Merge instead).
//  4. Walk finds ids in any order; in ascending order each search starts
//     where the last one ended (galloping), otherwise from the top.
//
// Thread safety: a value; const members may be called concurrently.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace omnirelay::cp {

template <typename T>
class IdSorted {
 public:
  using value_type = std::pair<std::string, T>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  IdSorted() = default;

  // Entries in any order; of two with the same id the first is kept.
  static IdSorted FromEntries(std::vector<value_type> entries) {
    std::stable_sort(entries.begin(), entries.end(), ById);
    entries.erase(
        std::unique(entries.begin(), entries.end(),
                    [](const value_type& a, const value_type& b) { return a.first == b.first; }),
        entries.end());
    IdSorted out;
    out.entries_ = std::move(entries);
    return out;
  }

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void reserve(std::size_t n) { entries_.reserve(n); }
  void clear() { entries_.clear(); }

  iterator find(std::string_view id) { return Found(entries_, id); }
  const_iterator find(std::string_view id) const { return Found(entries_, id); }
  bool contains(std::string_view id) const { return find(id) != end(); }
  std::size_t count(std::string_view id) const { return contains(id) ? 1 : 0; }
  T& at(std::string_view id) { return Held(entries_, id); }
  const T& at(std::string_view id) const { return Held(entries_, id); }

  T& operator[](std::string_view id) { return emplace(std::string(id), T{}).first->second; }
  // Sets the id's value, replacing one held.
  void Set(std::string id, T value) {
    const auto [it, held] = Slot(id);
    if (held) {
      it->second = std::move(value);
    } else {
      entries_.emplace(it, std::move(id), std::move(value));
    }
  }
  // As std::map::emplace: the entry, and whether it was inserted (a held id keeps its value).
  std::pair<iterator, bool> emplace(std::string id, T value) {
    const auto [it, held] = Slot(id);
    if (held) return {it, false};
    return {entries_.emplace(it, std::move(id), std::move(value)), true};
  }

  // The first entry whose id is not below `id`, searching from `from` on
  // (everything before `from` must be below `id`): galloping, so a walk over
  // ids in ascending order costs one short search each.
  iterator LowerBound(iterator from, std::string_view id) { return Gallop(from, entries_, id); }
  const_iterator LowerBound(const_iterator from, std::string_view id) const {
    return Gallop(from, entries_, id);
  }

  // Adds `more` (sorted by id, ids unique and none held): one merge.
  void Merge(std::vector<value_type> more) {
    if (more.empty()) return;
    assert(std::adjacent_find(more.begin(), more.end(),
                              [](const value_type& a, const value_type& b) {
                                return !(a.first < b.first);
                              }) == more.end() &&
           "IdSorted::Merge: ids not sorted and unique");
    if (entries_.empty() || entries_.back().first < more.front().first) {
      entries_.insert(entries_.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
      return;
    }
    std::vector<value_type> merged;
    merged.reserve(entries_.size() + more.size());
    std::merge(std::make_move_iterator(entries_.begin()), std::make_move_iterator(entries_.end()),
               std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()),
               std::back_inserter(merged), ById);
    entries_ = std::move(merged);
  }

  // Contract 4: reads of many ids, cheapest in ascending order.
  class Walk {
   public:
    explicit Walk(const IdSorted& table) : table_(&table), at_(table.begin()) {}
    explicit Walk(const IdSorted&&) = delete;  // it keeps a pointer to the table
    // The id's value, or nullptr.
    const T* Find(std::string_view id) {
      // Everything before at_ is below the last id searched; restart when
      // this one is not above the entry before at_.
      if (at_ != table_->begin() && !(std::prev(at_)->first < id)) at_ = table_->begin();
      at_ = table_->LowerBound(at_, id);
      return at_ != table_->end() && at_->first == id ? &at_->second : nullptr;
    }

   private:
    const IdSorted* table_;
    const_iterator at_;
  };

  friend bool operator==(const IdSorted&, const IdSorted&) = default;

 private:
  static bool IdBelow(const value_type& entry, std::string_view id) { return entry.first < id; }
  static bool ById(const value_type& a, const value_type& b) { return a.first < b.first; }

  template <typename It, typename Vec>
  static It Gallop(It from, Vec& entries, std::string_view id) {
    // Probe 1, 2, 4, ... entries ahead, then a binary search of the last
    // step: one comparison for a dense walk, a few for a sparse one.
    const It end = entries.end();
    if (from == end || !IdBelow(*from, id)) return from;
    std::ptrdiff_t step = 1;
    It low = from;  // below id
    while (end - low > step && IdBelow(*(low + step), id)) {
      low += step;
      step *= 2;
    }
    const It high = end - low > step ? low + step + 1 : end;
    return std::lower_bound(low + 1, high, id, IdBelow);
  }

  // Where `id` is held, or would be inserted (contract 3: the end, without a
  // search, when it sorts after every id held), and whether it is held.
  std::pair<iterator, bool> Slot(std::string_view id) {
    if (entries_.empty() || entries_.back().first < id) return {entries_.end(), false};
    const auto it = std::lower_bound(entries_.begin(), entries_.end(), id, IdBelow);
    return {it, it->first == id};  // not the end: the last id is not below `id`
  }

  template <typename Vec>
  static auto Found(Vec& entries, std::string_view id) {
    const auto it = std::lower_bound(entries.begin(), entries.end(), id, IdBelow);
    return it != entries.end() && it->first == id ? it : entries.end();
  }
  template <typename Vec>
  static auto& Held(Vec& entries, std::string_view id) {
    const auto it = Found(entries, id);
    if (it == entries.end()) throw std::out_of_range("no entry for node " + std::string(id));
    return it->second;
  }

  std::vector<value_type> entries_;  // sorted by id, ids unique
};

}  // namespace omnirelay::cp
