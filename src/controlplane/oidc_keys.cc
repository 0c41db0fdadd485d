// IdTokenVerifier and the JWKS file source (oidc.h): when the key set is
// fetched, and what the ID tokens it checked came to.
#include <algorithm>
#include <chrono>

#include "oidc_internal.h"
#include "omnirelay/controlplane/oidc.h"

namespace omnirelay::cp {
namespace {

class FileSource final : public JwksSource {
 public:
  FileSource(std::string path, FileSystem& fs, std::int64_t recheck_ms)
      : path_(std::move(path)), fs_(fs), recheck_ms_(recheck_ms) {}
  Result<JwksDocument> Fetch() override {
    OMNI_ASSIGN_OR_RETURN(std::string text, fs_.ReadFile(path_, kMaxJwksBytes));
    return JwksDocument{std::move(text), recheck_ms_};
  }
  const std::string& where() const override { return path_; }

 private:
  const std::string path_;
  FileSystem& fs_;
  const std::int64_t recheck_ms_;
};

constexpr std::string_view kAccepted = "accepted";
constexpr std::string_view kUnavailable = "unavailable";

}  // namespace

std::unique_ptr<JwksSource> JwksFileSource(std::string path, FileSystem& fs,
                                           std::int64_t recheck_ms) {
  return std::make_unique<FileSource>(std::move(path), fs, recheck_ms);
}

// Registered once; null members when the verifier has no registry.
struct IdTokenVerifier::Metrics {
  std::vector<std::pair<std::string_view, Counter*>> logins;  // by result
  Counter* fetch_ok = nullptr;
  Counter* fetch_failed = nullptr;
};

IdTokenVerifier::IdTokenVerifier(OidcOptions options, std::unique_ptr<JwksSource> source,
                                 const Clock& clock, MetricsRegistry* metrics)
    : options_(std::move(options)),
      source_(std::move(source)),
      clock_(clock),
      metrics_(std::make_unique<Metrics>()) {
  if (metrics == nullptr) return;
  constexpr std::string_view kLoginsHelp =
      "OIDC ID tokens presented (as a bearer or to log in), by result: accepted or the refusal "
      "reason";
  auto login = [&](std::string_view result) {
    metrics_->logins.emplace_back(result,
                                  &metrics->counter("omnirelay_cp_oidc_logins_total", kLoginsHelp,
                                                    "result=\"" + std::string(result) + "\""));
  };
  login(kAccepted);
  for (std::string_view reason : internal::kRefusalReasons) login(reason);
  login(kUnavailable);
  constexpr std::string_view kFetchHelp = "JWKS fetches (file reads or HTTPS GETs), by result";
  metrics_->fetch_ok =
      &metrics->counter("omnirelay_cp_oidc_jwks_fetches_total", kFetchHelp, "result=\"ok\"");
  metrics_->fetch_failed =
      &metrics->counter("omnirelay_cp_oidc_jwks_fetches_total", kFetchHelp, "result=\"failed\"");
  metrics->gauge_fn("omnirelay_cp_oidc_jwks_age_seconds",
                    "Seconds since the JWKS in force was last fetched; -1 while there is none",
                    [this] {
                      MutexLock lock(mu_);
                      if (!keys_) return -1.0;
                      return static_cast<double>(clock_.MonotonicMs() - fetched_at_ms_) / 1000.0;
                    });
}

IdTokenVerifier::~IdTokenVerifier() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  fetched_.NotifyAll();
  if (refresher_.joinable()) refresher_.join();
}

Result<std::unique_ptr<IdTokenVerifier>> IdTokenVerifier::Create(OidcOptions options,
                                                                 std::unique_ptr<JwksSource> source,
                                                                 const Clock& clock,
                                                                 MetricsRegistry* metrics) {
  if (options.policy.issuer.empty() || options.policy.audience.empty() || source == nullptr) {
    return Status(StatusCode::kInvalidArgument,
                  "OIDC needs --oidc-issuer, --oidc-audience and --oidc-jwks together");
  }
  std::unique_ptr<IdTokenVerifier> v(
      new IdTokenVerifier(std::move(options), std::move(source), clock, metrics));
  {
    MutexLock lock(v->mu_);
    v->FetchNow();
    if (!v->keys_ && v->options_.keys_required_at_start) {
      return Status(StatusCode::kInvalidArgument, "--oidc-jwks: " + v->last_error_.message());
    }
  }
  if (v->options_.background_refresh)
    v->refresher_ = std::thread([p = v.get()] { p->RefreshLoop(); });
  return v;
}

void IdTokenVerifier::FetchNow() const {
  fetching_ = true;
  const std::string previous = jwks_text_;
  mu_.Unlock();
  // Neither the fetch nor the parse holds the lock: logins go on meanwhile.
  Result<JwksDocument> doc = source_->Fetch();
  Result<std::shared_ptr<const JwkSet>> parsed = std::shared_ptr<const JwkSet>();
  if (!doc.ok()) {
    parsed = doc.status();
  } else if (doc->text != previous) {
    parsed = JwkSet::Parse(doc->text);
  }
  mu_.Lock();
  fetching_ = false;
  const std::int64_t now = clock_.MonotonicMs();
  JwksFetchEvent event;
  if (parsed.ok()) {
    if (*parsed != nullptr) {  // null: the same text as the set in force
      keys_ = std::move(parsed).value();
      jwks_text_ = std::move(doc->text);
      event.changed = true;
    }
    fetched_at_ms_ = now;
    next_fetch_ms_ = now + std::max<std::int64_t>(doc->fresh_for_ms, 0);
    failures_ = 0;
    last_error_ = Status::Ok();
    if (metrics_->fetch_ok) metrics_->fetch_ok->Inc();
  } else {
    ++failures_;
    std::int64_t wait = options_.retry_first_ms;
    for (int i = 1; i < failures_ && wait < options_.retry_max_ms; ++i) wait *= 2;
    next_fetch_ms_ = now + std::min(wait, options_.retry_max_ms);
    last_error_ = parsed.status();
    event.status = parsed.status();
    if (metrics_->fetch_failed) metrics_->fetch_failed->Inc();
  }
  event.keys = keys_ ? keys_->size() : 0;
  event.failures_in_a_row = failures_;
  event.set_age_ms = keys_ ? now - fetched_at_ms_ : -1;
  fetched_.NotifyAll();
  if (options_.on_fetch) options_.on_fetch(event);
}

void IdTokenVerifier::RefreshLoop() {
  MutexLock lock(mu_);
  while (!stop_) {
    const std::int64_t wait = next_fetch_ms_ - clock_.MonotonicMs();
    if (wait <= 0 && !fetching_) {
      FetchNow();
      continue;
    }
    // Looked at again at least once a second: the clock is injected, the
    // wait is not.
    const auto step = std::chrono::milliseconds(std::clamp<std::int64_t>(wait, 10, 1'000));
    fetched_.WaitUntil(mu_, std::chrono::steady_clock::now() + step);
  }
}

std::shared_ptr<const JwkSet> IdTokenVerifier::Keys(bool kid_missed) const {
  MutexLock lock(mu_);
  const std::int64_t now = clock_.MonotonicMs();
  const bool forced =
      kid_missed && (!forced_once_ || now - forced_at_ms_ >= options_.forced_fetch_every_ms);
  // With a refresher thread logins fetch only for a missed kid, or while
  // there is no set at all (at the retry pace).
  const bool due = now >= next_fetch_ms_ && (!options_.background_refresh || !keys_);
  if (forced) {
    forced_once_ = true;
    forced_at_ms_ = now;
  }
  if (fetching_) {
    // A fetch in flight: a login that needs it (a missed kid, no set yet)
    // waits for its outcome, which counts as this login's forced fetch.
    if (forced || !keys_) {
      while (fetching_) fetched_.Wait(mu_);
    }
    return keys_;
  }
  if (forced || due) FetchNow();
  return keys_;
}

void IdTokenVerifier::Count(const Status& status) const {
  std::string_view result = kAccepted;
  if (!status.ok()) {
    result =
        status.code() == StatusCode::kUnavailable ? kUnavailable : IdTokenRefusalReason(status);
  }
  for (const auto& [name, counter] : metrics_->logins) {
    if (name == result) counter->Inc();
  }
}

Result<IdTokenClaims> IdTokenVerifier::Verify(std::string_view token) const {
  std::shared_ptr<const JwkSet> keys = Keys(false);
  Result<IdTokenClaims> claims = Status(StatusCode::kUnavailable, "");
  if (keys) {
    claims = VerifyIdToken(token, *keys, options_.policy, clock_.NowUnixMs());
    if (!claims.ok() && IdTokenRefusalReason(claims.status()) == "unknown_kid") {
      // Verified again only when the forced fetch brought another key set.
      if (auto again = Keys(true); again && again != keys) {
        claims = VerifyIdToken(token, *again, options_.policy, clock_.NowUnixMs());
      }
    }
  } else {
    MutexLock lock(mu_);
    claims = Status(StatusCode::kUnavailable,
                    "unavailable: no key set from " + source_->where() + " yet" +
                        (last_error_.ok() ? "" : " (last fetch: " + last_error_.message() + ")"));
  }
  Count(claims.status());
  return claims;
}

}  // namespace omnirelay::cp
