// The control plane's API as values: what the service layer returns, what
// the REST and gRPC faces carry, and what omnirctl prints. One set of types,
// one JSON codec (json.h) — the REST field names of
// docs/knowledge-base/controlplane.md are their vocabulary.
//
// "None" is a zero or empty field here (0 for a time, a version or a
// revision that names nothing, "" for a text); the codec leaves such a field
// out of the JSON rather than printing 0 or "".
//
// Times are unix milliseconds. Thread safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "omnirelay/config/diagnostic.h"

namespace omnirelay::api {

// One scope that has a layer (GET /v1/layers).
struct LayerSummary {
  std::string scope;
  std::int64_t revision = 0;
  std::int64_t updated_at_ms = 0;
  std::string author;
};

// A layer with its document (GET /v1/layers/{scope}).
struct Layer {
  std::string scope;
  std::int64_t revision = 0;  // the revision that wrote this version of the layer
  std::string document;       // the ConfigLayer JSON as accepted
  std::int64_t updated_at_ms = 0;
  std::string author;
};

// One entry of a scope's history: a put or a delete.
struct Revision {
  std::int64_t revision = 0;
  std::string scope;
  bool deleted = false;  // JSON "action": "put" | "delete"
  std::string author;
  std::int64_t created_at_ms = 0;
};

// One page of a scope's history (GET /v1/layers/{scope}/history?before=&limit=):
// revisions newest first, older than `before` when a page was asked for.
inline constexpr std::int64_t kHistoryDefaultLimit = 100;
inline constexpr std::int64_t kHistoryMaxLimit = 1000;

struct HistoryQuery {
  std::optional<std::int64_t> before;  // only revisions below this one; absent = from the newest
  std::optional<std::int64_t> limit;   // 1..kHistoryMaxLimit; absent = kHistoryDefaultLimit
};

struct HistoryPage {
  std::string scope;
  std::vector<Revision> revisions;  // newest first
  // The `before` that asks for the next (older) page; 0 on the last page
  // (JSON "nextBefore", absent then).
  std::int64_t next_before = 0;
};

// A node blocked by capability gating: it lacks what the new snapshot needs.
struct BlockedNode {
  std::string node_id;
  std::string scope_chain;
  std::string reason;  // CapabilityGap::ToString()
  // What it lacks: the features, and "apiVersion <v>" when it does not
  // speak the snapshot's apiVersion (JSON "missing").
  std::vector<std::string> missing;

  friend bool operator==(const BlockedNode&, const BlockedNode&) = default;
};

// The outcome of a layer write or its dry run.
struct WriteResult {
  bool dry_run = false;
  std::int64_t revision = 0;            // the new revision (0 for a dry run)
  std::vector<Diagnostic> diagnostics;  // JSON "errors": validation problems
  std::string diff_summary;             // JSON "diff": against the current effective config
  std::vector<BlockedNode> blocked_nodes;
  std::vector<std::string> chains_checked;  // scope chains validated
  // A dry run's: the layer the write would replace (JSON "currentRevision",
  // "currentDocument"), so a caller can diff against it without a read of
  // its own; 0 and "" when the scope has no layer, and for a real write.
  std::int64_t current_revision = 0;
  std::string current_document;

  bool valid() const { return diagnostics.empty(); }
};

// What the control plane knows of one node (GET /v1/nodes).
struct Node {
  std::string node_id;
  std::string scope_chain;  // "global,region:us-east,..."
  std::string api_version;
  std::vector<std::string> features;
  std::int64_t assigned_version = 0;  // what the control plane last notified
  std::string assigned_hash;
  std::int64_t applied_version = 0;  // what the node last ACKed
  std::string applied_hash;
  std::int64_t discovery_generation = 0;
  std::string last_error;   // "code: message" of the last problem, "" after an ACK
  std::string health_json;  // the node's reported figures (a JSON object), "" or "{}" when none
  bool connected = false;
  std::int64_t last_seen_ms = 0;
  std::string state;            // one of kNodeStates (node_state.h in the daemon decides)
  std::string last_error_code;  // the code of last_error, e.g. "render_failed"
  std::string last_error_path;  // its JSON Pointer, when it has one

  // Applied version is not the assigned one.
  bool drift() const { return applied_version != assigned_version; }
};

// The states of a node, in the order they are listed (DESIGN.md §4 Drift):
// current: runs what it is assigned; updating: assigned a newer snapshot
// moments ago; drifted: still not running it (or refused it); render_failed:
// its chain does not render; stale: the snapshot it runs has expired;
// offline: not connected; superseded: not connected since another instance
// with its node id took over.
inline constexpr const char* kNodeStates[] = {"current", "updating", "drifted",   "render_failed",
                                              "stale",   "offline",  "superseded"};

// The freeze switch (GET /v1/freeze), for incidents: while it is on, plain
// layer writes and deletes, and new rollouts, are refused with `frozen`;
// `config revert` still passes. Durable (the store), audited.
struct FreezeState {
  bool frozen = false;
  std::string reason;         // why; "" (absent) when not frozen
  std::string by;             // the principal that froze it
  std::int64_t since_ms = 0;  // when (JSON "since", RFC 3339)
};

// The body of PUT /v1/freeze: {"frozen": bool, "reason"?}.
struct SetFreezeRequest {
  bool frozen = false;
  std::string reason;
};

// The body of POST /v1/layers/{scope}/revert: {"toRevision": N, "reason"?}.
struct RevertRequest {
  std::int64_t to_revision = 0;
  std::string reason;
};

// An active rollout as GET /v1/status lists it: {"id", "version", "state",
// "currentWave", "waveCount"}.
struct RolloutBrief {
  std::string id;
  std::int64_t version = 0;
  std::string state;
  std::int64_t current_wave = 0;  // the wave it is at (0 = the first), as a rollout's
  std::int64_t wave_count = 0;
};

// GET /v1/status.
struct StatusSummary {
  std::int64_t head_revision = 0;
  std::int64_t nodes_total = 0;
  std::int64_t nodes_connected = 0;
  std::int64_t nodes_drifted = 0;  // applied version != assigned version
  // (applied version, nodes), by version.
  std::vector<std::pair<std::int64_t, std::int64_t>> nodes_by_applied_version;
  // (state, nodes) for every state of kNodeStates, in that order.
  std::vector<std::pair<std::string, std::int64_t>> nodes_by_state;
  FreezeState freeze;  // JSON "freeze": present only while frozen
  // The active rollouts, newest first (JSON "rollouts", always present).
  std::vector<RolloutBrief> rollouts;
  // Every scope with a layer, as GET /v1/layers lists them (JSON "layers",
  // always present): `omnirctl status` needs no second read.
  std::vector<LayerSummary> layers;
};

// One audit log entry (GET /v1/audit).
struct AuditEntry {
  std::int64_t id = 0;       // assigned by the store, increasing
  std::int64_t time_ms = 0;  // unix milliseconds
  std::string principal;     // token name, e.g. "admin" or "node:relay-1"
  std::string token_id;
  std::string action;         // e.g. "layer.put", "layer.get", "token.create"
  std::string scope;          // the scope acted on, "" when none
  std::int64_t revision = 0;  // the revision written or read, 0 when none
  std::string outcome;        // "ok" or a status code name such as "conflict"
  std::string summary;        // diff summary or other short text; never documents or secrets
};

// GET /v1/audit/verify: the audit chain walked (docs/knowledge-base/security.md).
// JSON {"ok", "entries", "beforeChain", "head"?: {"id", "hash"},
// "firstBreak"?: {"id", "reason"}}.
struct AuditChainReport {
  bool ok = true;                 // no break
  std::int64_t entries = 0;       // entries walked
  std::int64_t before_chain = 0;  // written before the store had the chain
  std::int64_t head_id = 0;       // the newest entry (0: none)
  std::string head_hash;          // its hash ("" without one)
  std::int64_t break_id = 0;      // the first entry that does not verify (0: none)
  std::string break_reason;
  // Retention's anchor: the newest entry pruned (0: none was), whose hash
  // the first remaining entry extends.
  std::int64_t anchor_id = 0;
  std::string anchor_hash;
};

// The audit actions that change something: layer writes, deletes and
// reverts, token creation (a login's too) and revocation, rollout starts
// and steering, the freeze switch — whatever their
// outcome (a refused write is still a write attempt). Reads, dry runs
// ("layer.put.dry_run") and node hellos are not writes. GET
// /v1/audit?writesOnly=true (omnirctl audit tail --writes-only) keeps these.
inline constexpr std::array<std::string_view, 11> kWriteActions = {
    "layer.put",   "layer.delete", "layer.revert",  "token.create",
    "token.login", "token.revoke", "rollout.start", "rollout.action",
    "freeze.set",  "freeze.clear", "keyset.publish"};

inline bool IsWriteAction(std::string_view action) {
  for (std::string_view write : kWriteActions) {
    if (action == write) return true;
  }
  return false;
}

// Which audit entries a query returns; every field set narrows it (exact
// matches; "" and false = any).
struct AuditFilter {
  std::string scope;         // JSON/REST "scope": e.g. "region:eu-west"
  std::string principal;     // "principal": the token name, e.g. "admin", "node:relay-1"
  std::string action;        // "action": e.g. "layer.put"
  bool writes_only = false;  // "writesOnly": only kWriteActions
};

// A bearer token as listed: never its secret (GET /v1/tokens).
struct Token {
  std::string id;    // public id, shown in lists and audit
  std::string name;  // principal name
  std::vector<std::string> scopes;
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0;  // 0 = never
  std::int64_t revoked_at_ms = 0;  // 0 = active
};

// A token just created, with its secret: shown once (POST /v1/tokens; the
// secret is the JSON field "token").
struct IssuedToken {
  Token token;
  std::string secret;
};

// The body of POST /v1/tokens: {"name", "scopes": [...], "ttlSeconds"?}.
struct CreateTokenRequest {
  std::string name;
  std::vector<std::string> scopes;
  std::int64_t ttl_seconds = 0;  // 0 = never expires
};

// The merged spec of a scope chain (GET /v1/effective).
struct EffectiveView {
  std::int64_t version = 0;
  std::string spec_json;
  std::vector<std::string> features;
};

// What a read-modify-write of one layer needs, in one read (GET
// /v1/layers/{scope}/context): the scope's chain as the server places it
// (DESIGN.md §3.1: global; the topology's chain of a region, cell or
// cluster scope; a node's chain as it said when it connected), the scope's
// own layer, and the merged spec of the chain with and without that layer.
struct LayerContext {
  std::string scope;
  std::string scope_chain;          // "global,region:eu-west,...", ending with `scope`
  std::optional<Layer> layer;       // absent (JSON: left out) when the scope has no layer
  std::string effective_spec_json;  // the chain's merged spec; "{}" when no layer is on it
  std::string inherited_spec_json;  // the same without the scope's own layer ("{}" for global)
};

}  // namespace omnirelay::api
