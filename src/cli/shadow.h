// `shadow enable|disable` as a function of the ControlClient interface, so
// that its read-modify-write (CAS, retried on conflict) can be tested with a
// fake client.
//
// Thread safety: reentrant; one ControlClient per call.
#pragma once

#include <string>

#include "client.h"
#include "output.h"

namespace omnirelay::cli {

// How many times a shadow edit is tried when other writers keep moving the
// layer on (CAS conflicts) before it gives up with exit 4.
inline constexpr int kShadowMaxAttempts = 5;

struct ShadowArgs {
  std::string service;
  std::string scope = "global";
  std::string cluster;  // enable: default = the route's current shadow cluster
  std::string route;    // only this route of the service; "" = all of them
  double percent = 0;   // enable: 0.01..100
  bool dry_run = false;
  bool confirm = false;
};

// Edits routes.<name>.shadow of the service's routes in the layer of
// args.scope and writes it back naming the revision read; prints the outcome
// on stdout (errors on stderr) and returns the exit code.
int RunShadow(ControlClient& client, const Output& out, const ShadowArgs& args, bool enable);

}  // namespace omnirelay::cli
