// The Store contract for the fleet's chains (store.h ListNodeChains), run
// against every adapter of the contract suite (store_contract.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using namespace store_contract;  // NOLINT: the suite's own fixture and builders

// ListNodeChains gives every node's id and chain, ordered by id, as ListNodes has them.
TEST_P(StoreContractTest, ListNodeChainsOrdersById) {
  for (const char* id : {"relay-2", "relay-1", "relay-3"}) {
    NodeRecord n;
    n.node_id = id;
    n.scope_chain = std::string("global,node:") + id;
    n.health_json = "{}";
    ASSERT_TRUE(store_->UpsertNode(n).ok());
  }
  Result<std::vector<NodeChain>> chains = store_->ListNodeChains();
  ASSERT_TRUE(chains.ok()) << chains.status().ToString();
  EXPECT_EQ(*chains, (std::vector<NodeChain>{{"relay-1", "global,node:relay-1"},
                                             {"relay-2", "global,node:relay-2"},
                                             {"relay-3", "global,node:relay-3"}}));
}

// With no node known, the list is empty (not an error).
TEST_P(StoreContractTest, ListNodeChainsOfNoNodesIsEmpty) {
  Result<std::vector<NodeChain>> chains = store_->ListNodeChains();
  ASSERT_TRUE(chains.ok()) << chains.status().ToString();
  EXPECT_TRUE(chains->empty());
}

}  // namespace
}  // namespace omnirelay::cp
