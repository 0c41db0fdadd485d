// Where scopes sit (DESIGN.md §3.1). The topology of the global layer places
// every cell in a region (topology.regions.<r>.cells) and every cluster scope
// in a cell (topology.placements.<k>.cell), so the chain of any region, cell
// or cluster scope is known without a node:
//
//   global, region:<r>, cell:<c>, cluster:<k>
//
// A node's chain is global, then a top-down prefix of those levels (it may
// stop early, never skip a level it passes), then node:<id>. A chain that
// skips a level or disagrees with the topology is refused with
// scope_mismatch; a region, cell or cluster scope the topology does not place
// is unknown_scope.
//
// Only the global layer's topology places scopes: what lower layers say
// about topology shapes their merged config, not where scopes sit.
//
// Thread safety: immutable after construction; share freely.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/model.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/status.h"

namespace omnirelay {

class ScopeMap {
 public:
  ScopeMap() = default;  // places nothing: only `global` and node chains on it
  explicit ScopeMap(const Topology& topology);

  // Before any global layer exists there is no topology to disagree with: a
  // node chain is checked for its shape only (global first, no level
  // skipped, node:<id> last), and every scope counts as placed. Used for
  // node chains (hello, pull) and for what a first global write strands —
  // never to place a write.
  static ScopeMap Unrestricted();
  bool unrestricted() const { return unrestricted_; }

  // From the global layer document as stored (a ConfigLayer). "" (no global
  // layer) places nothing. kInvalid with the layer's diagnostics when it does
  // not decode.
  static Result<ScopeMap> FromGlobalLayer(std::string_view document);

  // True for global, and for a region, cell or cluster scope the topology
  // places (through every level above it). False for node scopes.
  bool Places(const Scope& scope) const;

  // The top-down chain of a global, region, cell or cluster scope; kInvalid
  // with one unknown_scope diagnostic (at /metadata/scope) naming the
  // missing placement otherwise.
  Result<std::vector<Scope>> ChainOf(const Scope& scope) const;

  // Every chain the topology forms that contains `scope` (global, region,
  // cell or cluster): the scope's own chain, then the chain of each scope
  // placed below it, parents before children, in name order. Empty for a
  // scope the topology does not place, and for node scopes.
  std::vector<std::vector<Scope>> ChainsThrough(const Scope& scope) const;

  // A node's chain: global, a gap-free top-down prefix the topology agrees
  // with, then optionally node:<node_id> (a chain without it gets no node
  // layer). kScopeMismatch saying what disagrees otherwise.
  Status CheckNodeChain(const std::vector<Scope>& chain, std::string_view node_id) const;

  // The scopes the topology places, as "region:r", "cell:c", "cluster:k".
  std::vector<std::string> PlacedScopes() const;

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> region_cells_;
  std::map<std::string, std::string, std::less<>> cell_region_;
  std::map<std::string, std::vector<std::string>, std::less<>> cell_clusters_;
  std::map<std::string, std::string, std::less<>> cluster_cell_;
  bool unrestricted_ = false;
};

}  // namespace omnirelay
