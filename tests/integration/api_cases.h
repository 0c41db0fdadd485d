// Table-driven API cases, written once against ApiClient and run through
// every face (rest_api_test.cc, grpc_api_test.cc).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api_harness.h"

namespace omnirelay::cp::testing {

// One row of a table: a call, the status it must get, and what else to check.
struct Case {
  const char* what;
  Call call;
  StatusCode want;
  std::string want_error_code;  // checked when not empty
  std::function<void(const Reply&)> check;
};

// Runs each case with `token`, tracing its `what`.
void Run(ApiClient& client, const std::string& token, const std::vector<Case>& cases);

// The audit entries written after entry `after_id` (the recorder flushed first).
std::vector<AuditEntry> AuditSince(Stack& stack, std::int64_t after_id);
// The id of the newest audit entry (0: none).
std::int64_t LastAuditId(Stack& stack);

// The behaviour table: writes, CAS, validation errors with pointers,
// guardrails, dry runs, reads, tokens. Uses GoogleTest expectations.
void RunBehaviourCases(Stack& stack, ApiClient& client);

// The layer context read (GET /v1/layers/{scope}/context): chains placed by
// the topology and by a node's record, the specs seen and inherited, the
// refusals of a scope nothing places; one audit entry per call.
void RunLayerContextCases(Stack& stack, ApiClient& client);

// config revert (a past revision's content as a new revision, a delete
// reverted, foreign and unknown revisions refused) and the freeze switch
// (plain writes, deletes and their dry runs refused with `frozen` naming
// who and why, reverts let through, idempotent, shown in status), audited.
// api_cases_freeze.cc.
void RunRevertAndFreezeCases(Stack& stack, ApiClient& client);

// Rollouts (api_cases_rollouts.cc): a dry run commits nothing; a start
// answers the rollout GET then answers; list; a second rollout and a plain
// write on the held chain are refused rollout_in_progress; pause, resume,
// promote, rollback (committed by the driver as a new revision); unknown ids
// not_found; a read token reads but may not act; audited.
void RunRolloutCases(Stack& stack, ApiClient& client);

// Guardrails (api_cases_guardrails.cc): change_too_large on writes and
// rollouts and their dry runs, allowLargeChange audited; force past a
// rollout's hold, audited; a rollout's dry run naming the nodes that would
// refuse it (blockedNodes with what each misses), its start refused.
void RunGuardrailCases(Stack& stack, ApiClient& client);

// Forgetting a node (DELETE /v1/nodes/{id}, gRPC ForgetNode;
// api_cases_nodes.cc): an offline node leaves the list, a connected one is a
// conflict, an unknown one not_found; each attempt audited once.
void RunNodeForgetCases(Stack& stack, ApiClient& client);

// Rotated artefacts (api_cases_artefacts.cc): private keys refused with
// private_key_material at their pointer (write, dry run, validate), never
// stored or audited; a layer with artefacts refused while a targeted node
// lacks the "artefacts" feature, written for one that has it.
void RunArtefactCases(Stack& stack, ApiClient& client);

// Every operation x every token scope: allowed or permission_denied, and
// unauthenticated without a token; each refusal is audited.
void RunAuthzMatrix(Stack& stack, ApiClient& client);

}  // namespace omnirelay::cp::testing
