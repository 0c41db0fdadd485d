// IConfigListener: a component that derives state from each snapshot, in two
// phases (DESIGN.md §5).
//
//   1. Prepare(candidate): build the new state off to the side, change nothing
//      visible; return it, or an error that refuses the whole snapshot.
//   2. Every listener prepared OK: the snapshot (carrying every listener's
//      state) is swapped in, then Commit(applied) is called on each, in
//      registration order.
//      Some listener failed: nothing is swapped; each listener that had
//      prepared gets Abort(candidate) (reverse order), and the apply is
//      NACKed with the first error.
//
// A listener sees strictly increasing versions and never a refused snapshot.
// A re-signing of the applied version (same spec, later expiry; see
// snapshot_verifier.h) is swapped in without calling listeners: their states
// are carried over to it, so a state must own its data and not point into
// the candidate's strings.
//
// Thread safety: a host calls its listeners from the thread applying a
// snapshot, one apply at a time, with its apply lock held: a listener may read
// ConfigHost::Current() but must not call Apply or AddListener (deadlock).
#pragma once

#include <memory>
#include <string_view>

#include "omnirelay/config/status.h"
#include "omnirelay/relay/applied_snapshot.h"

namespace omnirelay::relay {

class IConfigListener {
 public:
  virtual ~IConfigListener() = default;

  // For messages: "routing", "dispatcher-limits"...
  virtual std::string_view name() const = 0;
  // Builds this listener's state for `candidate` (null: nothing to attach),
  // or the reason to refuse it. Idempotent: may run again on the same content.
  virtual Result<std::shared_ptr<const void>> Prepare(const AppliedSnapshot& candidate) = 0;
  // `applied` is now current and carries what Prepare returned.
  virtual void Commit(const AppliedSnapshot& applied) = 0;
  // `candidate` was refused after this listener prepared it.
  virtual void Abort(const AppliedSnapshot& candidate) = 0;
};

// The common case: a listener whose whole job is a typed, immutable state
// per snapshot, read back with AppliedSnapshot::state(slot).
template <typename T>
class ConfigListener : public IConfigListener {
 public:
  virtual Result<std::shared_ptr<const T>> PrepareState(const AppliedSnapshot& candidate) = 0;

  Result<std::shared_ptr<const void>> Prepare(const AppliedSnapshot& candidate) final {
    Result<std::shared_ptr<const T>> state = PrepareState(candidate);
    if (!state.ok()) return state.status();
    return std::shared_ptr<const void>(std::move(state).value());
  }
  void Commit(const AppliedSnapshot&) override {}
  void Abort(const AppliedSnapshot&) override {}
};

}  // namespace omnirelay::relay
