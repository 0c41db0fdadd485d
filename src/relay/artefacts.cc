#include "omnirelay/relay/artefacts.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/rfc3339.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/relay/config_host.h"
#include "relay_metrics.h"

namespace omnirelay::relay {
namespace {

constexpr std::string_view kExpiredGauge = "omnirelay_relay_artefact_expired";
constexpr std::string_view kExpiredGaugeHelp =
    "1 while the capability an artefact guards fails closed (its notAfter passed), else 0.";
constexpr std::string_view kExpirations = "omnirelay_relay_artefact_expirations_total";
constexpr std::string_view kExpirationsHelp =
    "Artefacts that expired in force (once each), by the capability they guard.";
constexpr std::string_view kIgnored = "omnirelay_relay_artefact_certificates_ignored_total";
constexpr std::string_view kIgnoredHelp =
    "Snapshots that carried a certificate for an identity whose certificates come from files "
    "(ignored: never both).";

constexpr std::string_view kSecurityPointer = "/spec/security/";

template <typename T>
const T* FindNamed(const std::vector<Named<T>>& entries, std::string_view name) {
  for (const auto& e : entries) {
    if (e.name == name) return &e.value;
  }
  return nullptr;
}

// Whether the artefact behind `capability` is the same in both sets (rule 3).
bool SameArtefact(const ArtefactSet& a, const ArtefactSet& b, std::string_view capability) {
  const std::size_t colon = capability.find(':');
  const std::string_view kind = capability.substr(0, colon);
  const std::string_view name = capability.substr(colon + 1);
  auto same = [](const auto* x, const auto* y) {
    return x != nullptr && y != nullptr ? *x == *y : x == y;
  };
  if (kind == "ca") return same(a.ca_bundle(name), b.ca_bundle(name));
  if (kind == "mtls") return same(a.certificate(name), b.certificate(name));
  if (kind == "jwt") return same(a.jwks(name), b.jwks(name));
  return same(a.ext_authz(name), b.ext_authz(name));
}

// The capabilities whose artefact changed, appeared or went between two sets.
std::vector<std::string> Changed(const ArtefactSet* before, const ArtefactSet& after) {
  std::vector<std::string> names;
  for (const GuardedCapability& c : after.capabilities()) names.push_back(c.capability);
  if (before != nullptr) {
    for (const GuardedCapability& c : before->capabilities()) names.push_back(c.capability);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<std::string> changed;
  for (const std::string& name : names) {
    if (before == nullptr || !SameArtefact(*before, after, name)) changed.push_back(name);
  }
  return changed;
}

std::string ExpiredMessage(const GuardedCapability& c) {
  return "artefact_expired: capability " + c.capability + " fails closed: its artefact " +
         c.artefact + " passed its notAfter " + FormatRfc3339Ms(c.not_after_ms) +
         " without a renewal";
}

}  // namespace

// ---- certificate sources (rule 4)

Result<std::pair<std::string, CertificateSource>> ParseCertificateSource(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status(StatusCode::kInvalidArgument,
                  "certificate source \"" + std::string(text) + "\": " + why +
                      " (IDENTITY=channel or IDENTITY=files:CERT,KEY)");
  };
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) return bad("no '='");
  std::string identity(text.substr(0, eq));
  if (!IsValidName(identity)) return bad("the identity is not a DNS-label name");
  const std::string_view source = text.substr(eq + 1);
  CertificateSource out;
  if (source == "channel") return std::pair{std::move(identity), out};
  constexpr std::string_view kFiles = "files:";
  if (source.substr(0, kFiles.size()) != kFiles) {
    return bad(source.substr(0, 8) == "channel:"
                   ? "a channel certificate takes no files: never both"
                   : "the source is neither channel nor files:CERT,KEY");
  }
  const std::string_view files = source.substr(kFiles.size());
  const std::size_t comma = files.find(',');
  if (comma == std::string_view::npos) return bad("files: needs CERT,KEY");
  out.kind = CertificateSource::Kind::kFiles;
  out.cert_file = std::string(files.substr(0, comma));
  out.key_file = std::string(files.substr(comma + 1));
  if (out.cert_file.empty() || out.key_file.empty()) return bad("files: needs CERT,KEY");
  return std::pair{std::move(identity), std::move(out)};
}

Status ValidateCertificateSources(
    const std::map<std::string, CertificateSource, std::less<>>& sources) {
  for (const auto& [identity, source] : sources) {
    const std::string who = "certificate source of identity \"" + identity + "\": ";
    if (!IsValidName(identity)) {
      return Status(StatusCode::kInvalidArgument, who + "not a DNS-label name");
    }
    if (source.kind == CertificateSource::Kind::kChannel) {
      if (!source.cert_file.empty() || !source.key_file.empty()) {
        return Status(StatusCode::kInvalidArgument,
                      who + "channel certificates take no files: never both");
      }
      continue;
    }
    for (const std::string* file : {&source.cert_file, &source.key_file}) {
      if (file->empty()) return Status(StatusCode::kInvalidArgument, who + "files needs CERT,KEY");
      if (!std::ifstream(*file)) {
        return Status(StatusCode::kInvalidArgument, who + "cannot read " + *file);
      }
    }
  }
  return Status::Ok();
}

// ---- ArtefactSet

ArtefactSet::ArtefactSet(std::int64_t version, Security security,
                         std::vector<std::string> files_identities)
    : version_(version), security_(std::move(security)) {
  std::sort(files_identities.begin(), files_identities.end());
  files_identities_ = std::move(files_identities);
  std::erase_if(security_.certificates, [&](const Named<LeafCertificate>& c) {
    return std::binary_search(files_identities_.begin(), files_identities_.end(), c.name);
  });
  auto add = [&](std::string_view kind, std::string_view field, const auto& entries) {
    for (const auto& e : entries) {
      capabilities_.push_back({std::string(kind) + ":" + e.name,
                               std::string(kSecurityPointer) + std::string(field) + "/" + e.name,
                               e.value.not_after * 1000});
    }
  };
  add("ca", "caBundles", security_.ca_bundles);
  add("mtls", "certificates", security_.certificates);
  add("jwt", "jwks", security_.jwks);
  add("ext_authz", "extAuthz", security_.ext_authz);
  std::sort(capabilities_.begin(), capabilities_.end(),
            [](const auto& a, const auto& b) { return a.capability < b.capability; });
}

const CaBundle* ArtefactSet::ca_bundle(std::string_view name) const {
  return FindNamed(security_.ca_bundles, name);
}
const LeafCertificate* ArtefactSet::certificate(std::string_view identity) const {
  return FindNamed(security_.certificates, identity);
}
const JwkSet* ArtefactSet::jwks(std::string_view name) const {
  return FindNamed(security_.jwks, name);
}
const ExtAuthz* ArtefactSet::ext_authz(std::string_view name) const {
  return FindNamed(security_.ext_authz, name);
}

const GuardedCapability* ArtefactSet::Find(std::string_view capability) const {
  auto it = std::lower_bound(
      capabilities_.begin(), capabilities_.end(), capability,
      [](const GuardedCapability& c, std::string_view name) { return c.capability < name; });
  return it != capabilities_.end() && it->capability == capability ? &*it : nullptr;
}

// ---- Artefacts

struct Artefacts::Shared {
  Shared(ArtefactOptions o, const Clock& c, MetricsRegistry* m)
      : options(std::move(o)), clock(c), metrics(m) {}

  const ArtefactOptions options;
  const Clock& clock;
  MetricsRegistry* const metrics;

  Mutex mu;
  std::shared_ptr<const ArtefactSet> committed GUARDED_BY(mu);
  std::map<std::uint64_t, ChangeListener> listeners GUARDED_BY(mu);
  std::uint64_t next_id GUARDED_BY(mu) = 1;
  // Capability -> the notAfter whose expiry was counted; and those with a gauge.
  std::map<std::string, std::int64_t, std::less<>> counted GUARDED_BY(mu);
  std::map<std::string, bool, std::less<>> gauged GUARDED_BY(mu);

  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  std::string Labels(std::string_view name, std::string_view value) const {
    return LabelSet(options.node_id, {{name, value}});
  }

  // Rule 5 over `set` (null: none in force): counts, gauges, logs.
  ArtefactExpiryCheck Evaluate(const ArtefactSet* set) REQUIRES(mu) {
    ArtefactExpiryCheck out;
    const std::int64_t now = clock.NowUnixMs();
    std::int64_t next = std::numeric_limits<std::int64_t>::max();
    std::map<std::string, bool, std::less<>> expired_now;
    if (set != nullptr) {
      for (const GuardedCapability& c : set->capabilities()) {
        const bool expired = now > c.not_after_ms;
        expired_now[c.capability] = expired;
        if (!expired) {
          next = std::min(next, c.not_after_ms - now + 1);
          continue;
        }
        auto counted_at = counted.find(c.capability);
        if (counted_at != counted.end() && counted_at->second == c.not_after_ms) continue;
        counted[c.capability] = c.not_after_ms;
        out.newly_expired.push_back(c.capability);
        if (metrics != nullptr) {
          metrics->counter(kExpirations, kExpirationsHelp, Labels("capability", c.capability))
              .Inc();
        }
        Log(ExpiredMessage(c) + "; other capabilities and routing keep serving");
      }
    }
    // Gauges: every capability ever gauged is kept (0 once gone or renewed).
    for (auto& [capability, value] : gauged) value = false;
    for (const auto& [capability, expired] : expired_now) gauged[capability] = expired;
    if (metrics != nullptr) {
      for (const auto& [capability, expired] : gauged) {
        metrics->gauge(kExpiredGauge, kExpiredGaugeHelp, Labels("capability", capability))
            .Set(expired ? 1 : 0);
      }
    }
    if (next != std::numeric_limits<std::int64_t>::max()) out.next_expiry_in_ms = next;
    return out;
  }

  // A snapshot's set is in force (Listener::Commit).
  void Committed(std::shared_ptr<const ArtefactSet> set) {
    std::vector<ChangeListener> to_call;
    std::vector<std::string> changed;
    {
      MutexLock lock(mu);
      changed = Changed(committed.get(), *set);
      committed = set;
      Evaluate(set.get());
      if (!changed.empty()) {
        for (const auto& [id, listener] : listeners) to_call.push_back(listener);
      }
    }
    for (const ChangeListener& listener : to_call) listener(*set, changed);
  }
};

// Builds each snapshot's set; hands the committed one to Shared (rule 3).
class Artefacts::Listener final : public ConfigListener<ArtefactSet> {
 public:
  explicit Listener(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  std::string_view name() const override { return "artefacts"; }

  Result<std::shared_ptr<const ArtefactSet>> PrepareState(
      const AppliedSnapshot& candidate) override {
    std::vector<std::string> files;
    for (const auto& [identity, source] : shared_->options.certificate_sources) {
      if (source.kind != CertificateSource::Kind::kFiles) continue;
      files.push_back(identity);
      if (FindNamed(candidate.spec().security.certificates, identity) == nullptr) continue;
      shared_->Log("snapshot version " + std::to_string(candidate.version()) +
                   " carries a certificate for identity " + identity +
                   ", whose certificates come from files: ignored (never both)");
      if (shared_->metrics != nullptr) {
        shared_->metrics->counter(kIgnored, kIgnoredHelp, shared_->Labels("identity", identity))
            .Inc();
      }
    }
    pending_ = std::make_shared<const ArtefactSet>(candidate.version(), candidate.spec().security,
                                                   std::move(files));
    return pending_;
  }

  // Prepare and Commit run one apply at a time, under the host's apply lock.
  void Commit(const AppliedSnapshot&) override {
    if (pending_) shared_->Committed(std::move(pending_));
    pending_.reset();
  }
  void Abort(const AppliedSnapshot&) override { pending_.reset(); }

 private:
  const std::shared_ptr<Shared> shared_;
  std::shared_ptr<const ArtefactSet> pending_;
};

Result<std::unique_ptr<Artefacts>> Artefacts::Attach(ConfigHost& host, ArtefactOptions options,
                                                     const Clock& clock, MetricsRegistry* metrics) {
  OMNI_RETURN_IF_ERROR(ValidateCertificateSources(options.certificate_sources));
  auto shared = std::make_shared<Shared>(std::move(options), clock, metrics);
  Result<std::size_t> slot = host.AddListener(std::make_shared<Listener>(shared));
  if (!slot.ok()) return slot.status();
  return std::unique_ptr<Artefacts>(new Artefacts(host, *slot, std::move(shared)));
}

Artefacts::Artefacts(ConfigHost& host, std::size_t slot, std::shared_ptr<Shared> shared)
    : host_(host), slot_(slot), shared_(std::move(shared)) {}

Artefacts::~Artefacts() = default;

std::shared_ptr<const ArtefactSet> Artefacts::Current() const {
  std::shared_ptr<const AppliedSnapshot> snapshot = host_.Current();
  if (!snapshot) return nullptr;
  const auto* set = static_cast<const ArtefactSet*>(snapshot->state(slot_));
  if (set == nullptr) return nullptr;
  return std::shared_ptr<const ArtefactSet>(std::move(snapshot), set);  // keeps the snapshot
}

Status Artefacts::Check(std::string_view capability) const {
  const std::size_t colon = capability.find(':');
  const std::string_view kind = capability.substr(0, colon);
  if (colon == std::string_view::npos || colon + 1 == capability.size() ||
      (kind != "ca" && kind != "mtls" && kind != "jwt" && kind != "ext_authz")) {
    return Status(StatusCode::kInvalidArgument,
                  "capability \"" + std::string(capability) +
                      "\" is not ca:NAME, mtls:IDENTITY, jwt:NAME or ext_authz:NAME");
  }
  if (kind == "mtls" && SourceOf(capability.substr(colon + 1)) == CertificateSource::Kind::kFiles) {
    return Status::Ok();  // rule 4: the file provider's
  }
  const auto& snapshot = host_.Current();
  const auto* set = snapshot ? static_cast<const ArtefactSet*>(snapshot->state(slot_)) : nullptr;
  if (set == nullptr) {
    return Status(StatusCode::kUnavailable, "not_ready: no snapshot in force; capability " +
                                                std::string(capability) + " fails closed");
  }
  const GuardedCapability* guarded = set->Find(capability);
  if (guarded == nullptr) {
    return Status(StatusCode::kNotFound,
                  "no_artefact: snapshot version " + std::to_string(set->version()) +
                      " has no artefact for capability " + std::string(capability));
  }
  if (shared_->clock.NowUnixMs() > guarded->not_after_ms) {
    return Status(StatusCode::kUnavailable, ExpiredMessage(*guarded));
  }
  return Status::Ok();
}

std::vector<CapabilityFailure> Artefacts::FailingClosed() const {
  std::vector<CapabilityFailure> out;
  const std::shared_ptr<const ArtefactSet> set = Current();
  if (!set) return out;
  const std::int64_t now = shared_->clock.NowUnixMs();
  for (const GuardedCapability& c : set->capabilities()) {
    if (now > c.not_after_ms) {
      out.push_back({c.capability, "artefact_expired", c.artefact, c.not_after_ms});
    }
  }
  return out;
}

ArtefactExpiryCheck Artefacts::CheckExpiry() {
  MutexLock lock(shared_->mu);
  return shared_->Evaluate(shared_->committed.get());
}

std::uint64_t Artefacts::AddChangeListener(ChangeListener listener) {
  MutexLock lock(shared_->mu);
  const std::uint64_t id = shared_->next_id++;
  shared_->listeners.emplace(id, std::move(listener));
  return id;
}

void Artefacts::RemoveChangeListener(std::uint64_t id) {
  MutexLock lock(shared_->mu);
  shared_->listeners.erase(id);
}

CertificateSource::Kind Artefacts::SourceOf(std::string_view identity) const {
  auto it = shared_->options.certificate_sources.find(identity);
  return it == shared_->options.certificate_sources.end() ? CertificateSource::Kind::kChannel
                                                          : it->second.kind;
}

}  // namespace omnirelay::relay
