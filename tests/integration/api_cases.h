// Table-driven API cases, written once against ApiClient and run through
// every face (rest_api_test.cc, grpc_api_test.cc).
#pragma once

#include "api_harness.h"

namespace omnirelay::cp::testing {

// The behaviour table: writes, CAS, validation errors with pointers,
// guardrails, dry runs, reads, tokens. Uses GoogleTest expectations.
void RunBehaviourCases(Stack& stack, ApiClient& client);

// Every operation x every token scope: allowed or permission_denied, and
// unauthenticated without a token; each refusal is audited.
void RunAuthzMatrix(Stack& stack, ApiClient& client);

}  // namespace omnirelay::cp::testing
