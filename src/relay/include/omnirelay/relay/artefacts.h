// Artefacts: the rotated artefacts of the snapshot in force (spec.security,
// feature "artefacts": CA bundles, leaf certificates, JWKS, ext_authz
// endpoints) for the host service, and the capabilities they guard.
//
//   auto artefacts = Artefacts::Attach(host, options, clock, &metrics);  // at start
//   (*artefacts)->AddChangeListener([](const ArtefactSet& set, const auto& changed) {...});
//   if (Status s = (*artefacts)->Check("jwt:idp"); !s.ok()) refuse(s);  // per request
//
// Rules (tests/unit/relay_artefacts_test.cc names them):
//   1. Capabilities. Each artefact guards one capability: caBundles.<n> ->
//      "ca:<n>", certificates.<identity> -> "mtls:<identity>", jwks.<n> ->
//      "jwt:<n>", extAuthz.<n> -> "ext_authz:<n>".
//   2. Check(capability) is OK while the artefact's notAfter has not passed
//      on the clock (now <= notAfter). After it, the capability fails closed:
//      kUnavailable, message "artefact_expired: ...". Nothing else is refused:
//      routing (Router) and every other capability go on serving.
//      A capability the snapshot has no artefact for is kNotFound
//      ("no_artefact: ..."); before any snapshot, or while the host withholds
//      an expired snapshot (on_expiry fail_closed), kUnavailable
//      ("not_ready: ..."); a malformed name kInvalidArgument. Check reads the
//      snapshot lock-free and writes nothing shared: request-path safe.
//   3. A new snapshot replaces the set; a renewed artefact (later notAfter)
//      ends the refusal at once. Change listeners run after each apply whose
//      artefacts differ from the previous set (content or notAfter), with the
//      capabilities that changed, appeared or went; on the applying thread,
//      with the host's apply lock held (config_listener.h: never call Apply
//      or AddListener from one). A listener added while a set is in force is
//      not called for it: read Current().
//   4. Certificate source, per identity (ArtefactOptions::certificate_sources):
//      kChannel (the default for an identity not listed) takes
//      certificates.<identity> from the snapshot; kFiles takes it from files
//      (e.g. mounted by Istio SDS) and ignores a channel one — it is left out
//      of the set, logged and counted
//      (omnirelay_relay_artefact_certificates_ignored_total{identity}), and
//      Check("mtls:<identity>") is OK: the file provider owns its rotation.
//      Never both: ValidateCertificateSources refuses a kChannel source that
//      names files and a kFiles one without both files.
//   5. CheckExpiry() (off the request path: a timer, or a health probe)
//      counts each artefact that expired in force once
//      (omnirelay_relay_artefact_expirations_total{capability}), sets
//      omnirelay_relay_artefact_expired{capability} (1 failing closed, 0 not),
//      logs it, and says when the next notAfter falls. FailingClosed() lists
//      the capabilities failing closed now, for health reports.
//   Each metric carries node="<id>" first when given a node id.
//
// Private keys never travel in snapshots (the control plane refuses them:
// private_key_material); the key of a channel certificate is the workload's own.
//
// Thread safety: every method may be called from any thread. The host must
// outlive the Artefacts; the Artefacts may be destroyed before the host.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/model.h"
#include "omnirelay/config/status.h"

namespace omnirelay::relay {

class ConfigHost;

// Where a workload identity's certificate comes from (rule 4).
struct CertificateSource {
  enum class Kind { kChannel, kFiles };
  Kind kind = Kind::kChannel;
  std::string cert_file;  // kFiles only
  std::string key_file;   // kFiles only
};

// "IDENTITY=channel" or "IDENTITY=files:CERT,KEY" (relay-node's
// --certificate-source) -> {identity, source}; kInvalidArgument otherwise.
Result<std::pair<std::string, CertificateSource>> ParseCertificateSource(std::string_view text);
// Rule 4's "never both"; names the identity at fault.
Status ValidateCertificateSources(
    const std::map<std::string, CertificateSource, std::less<>>& sources);

struct ArtefactOptions {
  // By identity; an identity not listed is kChannel.
  std::map<std::string, CertificateSource, std::less<>> certificate_sources;
  std::string node_id;                          // the metrics' node label; "" none
  std::function<void(const std::string&)> log;  // rule 4 and 5 events; null: silent
};

// One guarded capability of a set (rule 1).
struct GuardedCapability {
  std::string capability;  // "jwt:idp"
  std::string artefact;    // its pointer in the spec: "/spec/security/jwks/idp"
  std::int64_t not_after_ms = 0;
};

// The artefacts of one snapshot. Immutable.
class ArtefactSet {
 public:
  ArtefactSet(std::int64_t version, Security security, std::vector<std::string> files_identities);

  std::int64_t version() const { return version_; }  // the snapshot's
  // Lookups by name; null when the snapshot has none (or, for certificate(),
  // when the identity's certificates come from files).
  const CaBundle* ca_bundle(std::string_view name) const;
  const LeafCertificate* certificate(std::string_view identity) const;
  const JwkSet* jwks(std::string_view name) const;
  const ExtAuthz* ext_authz(std::string_view name) const;
  // All of them (without certificates of kFiles identities).
  const Security& security() const { return security_; }
  // Sorted by capability name.
  const std::vector<GuardedCapability>& capabilities() const { return capabilities_; }
  const GuardedCapability* Find(std::string_view capability) const;
  // Identities whose certificate comes from files (sorted).
  const std::vector<std::string>& files_identities() const { return files_identities_; }

 private:
  std::int64_t version_;
  Security security_;
  std::vector<GuardedCapability> capabilities_;
  std::vector<std::string> files_identities_;
};

struct CapabilityFailure {
  std::string capability;
  std::string reason;  // "artefact_expired"
  std::string artefact;
  std::int64_t not_after_ms = 0;
};

struct ArtefactExpiryCheck {
  std::vector<std::string> newly_expired;  // capabilities this call found expired first
  // Wall ms until the next notAfter passes; -1 when none is ahead.
  std::int64_t next_expiry_in_ms = -1;
};

class Artefacts {
 public:
  using ChangeListener =
      std::function<void(const ArtefactSet& now, const std::vector<std::string>& changed)>;

  // Registers the artefact listener on `host` (kInvalidArgument for bad
  // certificate sources). `clock` (and `metrics`, when not null) must
  // outlive the host.
  static Result<std::unique_ptr<Artefacts>> Attach(ConfigHost& host, ArtefactOptions options,
                                                   const Clock& clock, MetricsRegistry* metrics);
  ~Artefacts();
  Artefacts(const Artefacts&) = delete;
  Artefacts& operator=(const Artefacts&) = delete;

  // The set of the snapshot in force; null before any (or while withheld).
  std::shared_ptr<const ArtefactSet> Current() const;
  // Rule 2.
  Status Check(std::string_view capability) const;
  // Rule 5: failing closed now, by capability name.
  std::vector<CapabilityFailure> FailingClosed() const;
  ArtefactExpiryCheck CheckExpiry();
  // Rule 3; returns an id for RemoveChangeListener.
  std::uint64_t AddChangeListener(ChangeListener listener);
  void RemoveChangeListener(std::uint64_t id);
  CertificateSource::Kind SourceOf(std::string_view identity) const;

 private:
  struct Shared;
  class Listener;
  Artefacts(ConfigHost& host, std::size_t slot, std::shared_ptr<Shared> shared);

  ConfigHost& host_;
  const std::size_t slot_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace omnirelay::relay
