#include "node_state.h"

#include <string>

#include "api_json.h"

namespace omnirelay::cp {

api::Node NodeView(const NodeRecord& record, std::int64_t chain_version, std::int64_t now_ms,
                   const NodeStateOptions& options) {
  api::Node n = ToApi(record);
  const std::string& code = record.last_error_code;
  if (!record.connected) {
    // A chain that did not render when the node was last seen has no
    // version to assign it: claiming one would show drift nobody can fix.
    if (code != "render_failed" && chain_version > n.assigned_version) {
      n.assigned_version = chain_version;
      n.assigned_hash.clear();  // not rendered for it yet
    }
    n.state = code == "superseded" ? "superseded" : "offline";
    return n;
  }
  if (code == "render_failed") {
    n.state = "render_failed";
    return n;
  }
  const bool behind = n.applied_version != n.assigned_version || n.applied_hash != n.assigned_hash;
  if (behind) {
    const bool refused = !code.empty();
    const bool recent = now_ms - record.assigned_at_ms < options.updating_grace.count();
    n.state = !refused && recent ? "updating" : "drifted";
    return n;
  }
  if (n.assigned_version > 0 && record.assigned_expires_at_ms > 0 &&
      now_ms >= record.assigned_expires_at_ms) {
    n.state = "stale";
    return n;
  }
  n.state = "current";
  return n;
}

}  // namespace omnirelay::cp
