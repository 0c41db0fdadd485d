#include "omnirelay/controlplane/daemon.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <random>
#include <string_view>
#include <tuple>

#include "cell_identity.h"
#include "key_sets.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/file_system.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/grpc_face.h"
#include "omnirelay/controlplane/node_feed.h"
#include "omnirelay/controlplane/oidc.h"
#include "omnirelay/controlplane/oidc_source.h"
#include "omnirelay/controlplane/renderer.h"
#include "omnirelay/controlplane/rest_face.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"
#include "omnirelay/http/server.h"
#include "omnirelay/meshkit/feed.h"
#include "placement_cache.h"
#include "rollout_engine.h"
#include "store_poll.h"
#include "store_retention.h"
#include "tls_watcher.h"

namespace omnirelay::cp {
namespace {

// What nodes are told to pull from: the --advertise-http list (`listed`),
// else the listen host (a wildcard means "this machine": 127.0.0.1) with the
// port actually bound.
std::vector<std::string> AdvertisedHttp(const DaemonOptions& o, std::vector<std::string> listed,
                                        int bound_port) {
  if (!listed.empty()) return listed;
  std::string host = o.http_listen.substr(0, o.http_listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") host = "127.0.0.1";
  return {host + ":" + std::to_string(bound_port)};
}

// "127.0.0.1:7443", "localhost:0", "[::1]:7443" -> true.
bool IsLoopbackListen(const std::string& listen) {
  const std::string host = listen.substr(0, listen.rfind(':'));
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

Status PrepareDataDir(FileSystem& files, const std::string& dir) {
  OMNI_RETURN_IF_ERROR(files.CreateDirectories(dir));
  // Probe: a data dir we cannot write is an error now, not at the first write.
  const std::string probe = dir + "/.write-probe";
  if (Status s = WriteFileAtomically(files, probe, "ok", 0600); !s.ok()) {
    return Status(StatusCode::kIoError, "data dir " + dir + " is not writable: " + s.message());
  }
  (void)files.Remove(probe);
  return Status::Ok();
}

// One daemon per data dir (DESIGN.md §4): an exclusive flock on
// <dir>/controlplane.lock, held for the daemon's life, naming its pid. The
// lock goes with the process, so a crashed daemon never leaves it stale.
Result<int> LockDataDir(const std::string& dir) {
  const std::string path = dir + "/controlplane.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(StatusCode::kIoError, "cannot open " + path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[64] = {};
    const ssize_t n = ::pread(fd, holder, sizeof(holder) - 1, 0);
    ::close(fd);
    std::string who = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : "";
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    if (err == EWOULDBLOCK) {
      return Status(StatusCode::kUnavailable, "data dir " + dir +
                                                  " is in use by another controlplane (" +
                                                  (who.empty() ? std::string("pid unknown") : who) +
                                                  ", lock " + path + "); one daemon per data dir");
    }
    return Status(StatusCode::kIoError, "cannot lock " + path + ": " + std::strerror(err));
  }
  const std::string me = "pid " + std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    spdlog::warn("cannot write the pid into {}: {}", path, std::strerror(errno));
  }
  return fd;
}

// Whether `store_url` is the data dir's own state.db (however the path is
// spelt), rather than a store other daemons may share.
bool IsDataDirStore(const std::string& store_url, const std::string& data_dir) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (store_url.rfind(kSqlite, 0) != 0) return false;
  std::error_code ignored;
  const auto path = std::filesystem::weakly_canonical(store_url.substr(kSqlite.size()), ignored);
  return path == std::filesystem::weakly_canonical(data_dir + "/state.db", ignored);
}

Result<SigningKey> LoadKey(FileSystem& files, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return Status(StatusCode::kPermissionDenied,
                  "signing key " + path + " is readable by other users; chmod 600 it");
  }
  return SigningKey::LoadPem(path, files);
}

// --signing-key: a key provisioned to this replica (the cell's), read as it
// is; never created or rewritten.
Result<SigningKey> LoadProvisionedKey(FileSystem& files, const std::string& path) {
  if (!files.Exists(path)) {
    return Status(
        StatusCode::kInvalidArgument,
        "--signing-key " + path + ": no such file (the cell's Ed25519 key, PKCS#8 PEM, mode 0600)");
  }
  return LoadKey(files, path);
}

Result<SigningKey> LoadOrCreateKey(FileSystem& files, const std::string& path) {
  if (files.Exists(path)) return LoadKey(files, path);
  auto key = SigningKey::Generate();
  if (!key.ok()) return key.status();
  OMNI_RETURN_IF_ERROR(key->SavePem(path, files));
  spdlog::info("generated signing key {} at {}", key->key_id(), path);
  return key;
}

// Keeps trusted-keys.json listing the current key (and any older ones it held).
Result<TrustedKeySet> EnsureTrustedKeys(FileSystem& files, const std::string& path,
                                        const SigningKey& key) {
  TrustedKeySet set;
  if (files.Exists(path)) {
    auto loaded = TrustedKeySet::Load(path, files);
    if (!loaded.ok()) return loaded.status();
    set = std::move(loaded).value();
  }
  if (const TrustedKey* k = set.Find(key.key_id())) {
    if (k->revoked) {
      return Status(StatusCode::kPermissionDenied,
                    "the signing key " + key.key_id() + " is revoked in " + path);
    }
    return set;
  }
  OMNI_RETURN_IF_ERROR(set.Add(key.public_key_raw()));
  OMNI_RETURN_IF_ERROR(set.Save(path, files));
  return set;
}

// The rollout lease's holder: this process among a cell's replicas
// (host, pid and a random part, so a restarted process is another holder).
std::string LeaseHolderName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "host");
  std::random_device rd;
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + std::to_string(rd() % 100000);
}

class DaemonImpl final : public Daemon {
 public:
  int http_port() const override { return rest_ ? rest_->port() : -1; }
  int grpc_port() const override { return grpc_ ? grpc_->port() : -1; }
  std::string admin_token_path() const override { return data_dir_ + "/admin.token"; }
  std::string trusted_keys_path() const override { return data_dir_ + "/trusted-keys.json"; }

  ~DaemonImpl() override { Shutdown(); }

  Status Init(const DaemonOptions& o) {
    data_dir_ = o.data_dir;
    files_ = o.file_system ? o.file_system : &RealFileSystem();
    // Addresses are checked before anything is created (a usage error).
    for (const auto& [flag, listen, port] : {std::tuple{"--grpc-listen", &o.grpc_listen, "7443"},
                                             std::tuple{"--http-listen", &o.http_listen, "7080"}}) {
      if (auto hp = http::SplitHostPort(*listen); !hp.ok() || hp->first.empty()) {
        const std::string p(port);
        return Status(StatusCode::kInvalidArgument, std::string(flag) + " \"" + *listen +
                                                        "\" is not host:port (e.g. 127.0.0.1:" + p +
                                                        ", 0.0.0.0:" + p + ", [::1]:" + p + ")");
      }
    }
    // Flags first: a wrong TLS setup must not leave a half-made data dir behind.
    auto tls = LoadTls(o.tls);
    if (!tls.ok()) return tls.status();
    if (o.tls.enabled()) tls_ = std::make_shared<TlsState>(*tls);
    auto advertised = SplitNonEmptyCommaList(o.advertise_http, "--advertise-http");
    if (!advertised.ok()) return advertised.status();
    if (!o.tls.enabled() && !IsLoopbackListen(o.grpc_listen)) {
      spdlog::warn(
          "gRPC listens on {} without TLS: bearer tokens cross the network in clear "
          "(set --tls-cert/--tls-key)",
          o.grpc_listen);
    }
    ::umask(077);  // the store and anything else we create is ours alone
    OMNI_RETURN_IF_ERROR(PrepareDataDir(*files_, data_dir_));
    OMNI_ASSIGN_OR_RETURN(lock_fd_, LockDataDir(data_dir_));
    // A data dir with none of our state is new: a start that fails leaves it
    // as it found it (AbandonStart).
    fresh_ = true;
    for (const char* name : {"/signing-key.pem", "/admin.token", "/state.db"}) {
      if (files_->Exists(data_dir_ + name)) fresh_ = false;
    }

    const std::string key_file =
        o.signing_key_file.empty() ? data_dir_ + "/signing-key.pem" : o.signing_key_file;
    auto key = o.signing_key_file.empty() ? LoadOrCreateKey(*files_, key_file)
                                          : LoadProvisionedKey(*files_, key_file);
    if (!key.ok()) return key.status();
    key_ = std::make_unique<SigningKey>(std::move(key).value());
    auto trusted = EnsureTrustedKeys(*files_, trusted_keys_path(), *key_);
    if (!trusted.ok()) return trusted.status();
    trusted_ = std::move(trusted).value();

    const std::string store_url =
        o.store_url.empty() ? "sqlite://" + data_dir_ + "/state.db" : o.store_url;
    shared_store_ = !IsDataDirStore(store_url, data_dir_);
    if (store_url.rfind("sqlite://", 0) == 0) {
      SqliteOptions so;
      so.path = store_url.substr(std::string_view("sqlite://").size());
      so.synchronous_full = o.sqlite_synchronous_full;
      auto store = OpenSqliteStore(so);
      if (!store.ok()) return store.status();
      store_ = std::move(store).value();
    } else {
      auto store = OpenStore(store_url);
      if (!store.ok()) return store.status();
      store_ = std::move(store).value();
    }
    // One cell, one key (cell_identity.h): checked before anything signs.
    // Once the cell has key sets (key_sets.h) they say which keys may sign.
    OMNI_ASSIGN_OR_RETURN(const bool has_key_sets,
                          CheckKeyAgainstKeySets(*store_, *key_, key_file));
    if (!has_key_sets) {
      OMNI_RETURN_IF_ERROR(ClaimCellKey(*store_, *key_, key_file, clock_.NowUnixMs()));
    }
    cell_key_recorded_ = true;
    BusOpenOptions bus_options;
    bus_options.properties = o.bus_options;
    Counter& undelivered =
        metrics_.counter("omnirelay_cp_bus_publish_failures_total", kBusPublishFailuresHelp);
    bus_options.on_undelivered = [&undelivered] { undelivered.Inc(); };
    auto bus = OpenBus(o.bus_url, bus_options);
    if (!bus.ok()) return bus.status();
    bus_ = std::move(bus).value();

    RendererOptions ro;
    ro.ttl_seconds = o.snapshot_ttl_seconds;
    OMNI_RETURN_IF_ERROR(StartOidc(o));
    auth_ = std::make_unique<Authenticator>(*store_, clock_, oidc_.get());
    // A token revoked through another replica (its bus event, or the store
    // poll's repair of a lost one) leaves this replica's token cache.
    revocations_follow_ = bus_->Subscribe([this](const ChangeEvent& event) {
      if (!event.revoked_tokens.empty()) auth_->Forget(event.revoked_tokens);
    });
    renderer_ = std::make_unique<SnapshotRenderer>(*store_, *key_, clock_, metrics_, ro);
    ServiceOptions service_options;
    service_options.node_expiry = o.node_expiry;
    service_options.node_updating_grace = o.node_updating_grace;
    service_options.max_change_entries = o.max_change_entries;
    service_options.signing_key_id = key_->key_id();
    service_ = std::make_unique<ControlPlaneService>(*store_, *bus_, *auth_, *renderer_, trusted_,
                                                     clock_, metrics_, service_options);
    OMNI_RETURN_IF_ERROR(EnsureAdminToken(o.issue_admin_token));
    if (o.meshkit.empty() && !o.meshkit_ca_file.empty()) {
      return Status(StatusCode::kInvalidArgument, "--meshkit-ca needs --meshkit host:port");
    }
    if (!o.meshkit.empty()) {
      Gauge& generation = metrics_.gauge("omnirelay_cp_meshkit_generation",
                                         "The MeshKit feed generation the rollout gates read");
      Gauge& bridges_down = metrics_.gauge(
          "omnirelay_cp_meshkit_bridges_down",
          "Bridges MeshKit reports not up (cross-cell rollout waves wait while one joins "
          "their cells)");
      meshkit::EndpointSourceOptions mo;
      mo.where = o.meshkit;
      mo.client_id = "controlplane:" + LeaseHolderName();
      mo.ca_file = o.meshkit_ca_file;
      // Runs on the source's thread, one set at a time: `said` is its own.
      mo.on_change = [&generation, &bridges_down, said = std::string("")](
                         const std::shared_ptr<const meshkit::EndpointSet>& set) mutable {
        generation.Set(static_cast<std::int64_t>(set->generation()));
        std::int64_t down = 0;
        std::string which;
        for (const meshkit::BridgeStatus& b : set->bridges()) {
          if (b.up()) continue;
          ++down;
          which += (which.empty() ? "" : ", ") + b.Describe();
        }
        bridges_down.Set(down);
        if (which != said) {  // a change of bridges, not every generation
          spdlog::info("MeshKit generation {}: {}", set->generation(),
                       which.empty() ? "every bridge up" : "bridges not up: " + which);
          said = which;
        }
      };
      auto source = meshkit::StartEndpointSource(std::move(mo));
      if (!source.ok()) {
        return Status(source.status().code(), "--meshkit: " + source.status().message());
      }
      discovery_ = std::move(*source);
      spdlog::info("MeshKit: rollout gates read {}", o.meshkit);
    }
    RolloutEngineOptions rollout_options;
    rollout_options.holder = LeaseHolderName();
    rollout_options.discovery = discovery_.get();
    rollout_options.publish = [this](std::int64_t revision,
                                     const std::vector<std::string>& scopes) {
      service_->PublishCommit(revision, scopes);
    };
    rollouts_ = std::make_unique<RolloutEngine>(*store_, *renderer_, clock_, metrics_,
                                                std::move(rollout_options));
    OMNI_RETURN_IF_ERROR(rollouts_->Load());
    service_->AttachRollouts(rollouts_.get());
    // Before the node feed subscribes (handlers run in subscription order): a
    // commit of another replica's rollout start is known here as a rollout
    // before the feed renders it, so no node sees a staged revision early.
    rollout_follow_ = bus_->Subscribe([this](const ChangeEvent& event) {
      if (event.revision > 0) rollouts_->FollowStore();
    });

    RestFaceOptions rest_options;
    rest_options.listen = o.http_listen;
    rest_options.tls = *tls;
    rest_options.limits = o.http_limits;
    // Not ready while starting, or while the store cannot be read (a
    // Postgres store whose database is down says why).
    auto rest = StartRestFace(rest_options, *service_, *auth_, metrics_, [this]() -> Status {
      if (!serving_.load(std::memory_order_acquire) || !store_ || !key_) {
        return Status(StatusCode::kUnavailable, "starting");
      }
      Result<std::int64_t> head = store_->HeadRevision();
      return head.ok() ? Status::Ok() : head.status();
    });
    if (!rest.ok()) return rest.status();
    rest_ = std::move(rest).value();

    NodeFeedOptions feed_options;
    feed_options.node_sweep = [this] {
      if (Status s = service_->SweepNodes(); !s.ok()) {
        spdlog::warn("node sweep (expiry, state gauges): {}", s.ToString());
      }
    };
    // Drift repair: sent again halfway through the updating grace, so a node
    // that lost a notify is repaired before it would be flagged drifted.
    feed_options.renotify_after = o.node_updating_grace / 2;
    feed_options.http_endpoints = AdvertisedHttp(o, std::move(advertised).value(), rest_->port());
    feed_options.audit_refusal = [this](std::string_view principal, std::string_view action,
                                        std::string_view scope, const Status& why) {
      service_->AuditRefusal(principal, action, scope, why);
    };
    placements_ = std::make_unique<PlacementCache>(*store_);
    feed_options.check_chain = [this](const std::vector<Scope>& chain, const std::string& id) {
      return placements_->CheckNodeChain(chain, id);
    };
    feed_options.observer = rollouts_.get();
    feed_ =
        MakeNodeFeed(std::move(feed_options), *auth_, *rollouts_, *store_, *bus_, clock_, metrics_);
    rollouts_->Start(feed_.get());
    // Replicas may share this store: a commit whose bus event was lost still
    // reaches the nodes held here (one process on SQLite publishes all its own).
    const bool shared =
        store_url.rfind("sqlite://", 0) != 0 || !(o.bus_url.empty() || o.bus_url == "inproc");
    if (shared && o.store_poll.count() > 0) {
      StorePollOptions poll_options;
      poll_options.interval = o.store_poll;
      store_poll_ = std::make_unique<StorePoll>(*store_, *bus_, metrics_, poll_options);
    }

    RetentionOptions retention;
    retention.interval = o.retention_interval;
    retention.audit_max_age_ms = o.audit_retention.count();
    retention.audit_max_entries = o.audit_max_entries;
    retention.snapshot_max_age_ms = o.snapshot_retention.count();
    retention.snapshot_keep_per_chain = o.snapshot_keep;
    retention_ = std::make_unique<StoreRetention>(*store_, clock_, metrics_, retention);

    GrpcFaceOptions grpc_options;
    grpc_options.listen = o.grpc_listen;
    grpc_options.tls = tls_;
    auto grpc = StartGrpcFace(grpc_options, *service_, *auth_, *feed_, *store_, metrics_);
    if (!grpc.ok()) return grpc.status();
    grpc_ = std::move(grpc).value();
    // Both faces read the files' new content from here on (the REST face
    // through UseTls, the gRPC face from tls_ at its next handshake).
    if (tls_) {
      tls_watcher_ = std::make_unique<TlsWatcher>(
          tls_, metrics_, [this](const TlsMaterial& next) { return rest_->UseTls(next); });
    }
    // Ready only now: a probe that passed before the gRPC face listened
    // would send nodes to a port that refuses them.
    serving_.store(true, std::memory_order_release);
    spdlog::info("controlplane ready: gRPC {} (port {}), HTTP {} (port {}), data dir {}",
                 o.grpc_listen, grpc_->port(), o.http_listen, rest_->port(), data_dir_);
    return Status::Ok();
  }

  Status ReloadTls() override {
    if (!tls_watcher_) {
      return Status(StatusCode::kInvalidArgument, "no TLS configured to reload");
    }
    return tls_watcher_->CheckNow();
  }

  void Shutdown() override {
    StopParts();
    ReleaseLock();
  }

  // A failed start: stops what Init made, then — still holding the data-dir
  // lock — removes the state it created in a new data dir (signing key,
  // trusted keys, admin token, database), so a retry with fixed flags starts
  // from scratch rather than from a half-made dir; then lets the lock go.
  // A store outside the data dir (a cell's Postgres) keeps what this start
  // wrote to it — the cell's key id, the first admin token — so the key and
  // the token file that match them stay too.
  void AbandonStart() {
    StopParts();
    if (fresh_) {
      std::vector<std::string> made = {"/state.db", "/state.db-wal", "/state.db-shm"};
      if (!shared_store_ || !cell_key_recorded_) {
        made.insert(made.end(), {"/signing-key.pem", "/trusted-keys.json"});
      }
      if (!shared_store_ || !admin_token_issued_) made.push_back("/admin.token");
      for (const std::string& name : made) (void)files_->Remove(data_dir_ + name);
      spdlog::info("the start failed: removed the state it created in {}", data_dir_);
    }
    ReleaseLock();
  }

 private:
  // Everything but the data-dir lock, in dependency order; idempotent.
  void StopParts() {
    if (stopped_) return;
    stopped_ = true;
    tls_watcher_.reset();  // no reload into a closing face
    retention_.reset();    // waits for a batch in flight
    store_poll_.reset();   // no repair event into a closing feed
    if (bus_ && rollout_follow_ != 0)
      bus_->Unsubscribe(rollout_follow_);  // waits for a running one
    rollout_follow_ = 0;
    if (bus_ && revocations_follow_ != 0) bus_->Unsubscribe(revocations_follow_);
    revocations_follow_ = 0;
    if (rest_) rest_->Shutdown();
    if (grpc_) grpc_->Shutdown();
    if (rollouts_) rollouts_->Stop();  // no driver pass re-offers to a closing feed
    if (feed_) feed_->Stop();          // after the transports: writes the last node status
    if (service_) service_->FlushAudit();
    grpc_.reset();
    rest_.reset();
    feed_.reset();
    service_.reset();
    rollouts_.reset();
    discovery_.reset();  // after the engine that reads it
    renderer_.reset();
    auth_.reset();
    bus_.reset();
    store_.reset();  // closes the database (WAL checkpoint)
  }

  void ReleaseLock() {
    if (lock_fd_ >= 0) {
      ::close(lock_fd_);  // releases the data-dir lock
      lock_fd_ = -1;
    }
  }

  // --oidc-*: the ID-token verifier, when an issuer is configured. A JWKS
  // file that cannot be read or parsed, a URL refused by its rules, or a bad
  // group map stops the start; a URL whose provider cannot be reached does
  // not (ID tokens are refused `unavailable` until a fetch brings keys).
  Status StartOidc(const DaemonOptions& o) {
    if (o.oidc_issuer.empty() && o.oidc_audience.empty() && o.oidc_jwks.empty() &&
        o.oidc_group_scopes.empty()) {
      if (!o.oidc_jwks_ca_file.empty()) {
        return Status(StatusCode::kInvalidArgument, "--oidc-jwks-ca needs --oidc-jwks URL");
      }
      return Status::Ok();
    }
    OidcOptions oidc;
    oidc.policy.issuer = o.oidc_issuer;
    oidc.policy.audience = o.oidc_audience;
    oidc.policy.clock_skew_ms = o.oidc_clock_skew.count();
    oidc.policy.groups_claim = o.oidc_groups_claim;
    OMNI_ASSIGN_OR_RETURN(oidc.group_scopes, ParseGroupScopes(o.oidc_group_scopes));
    if (oidc.group_scopes.empty()) {
      return Status(StatusCode::kInvalidArgument,
                    "--oidc-group-scopes: map at least one group to scopes");
    }
    std::unique_ptr<JwksSource> source;
    if (IsJwksUrl(o.oidc_jwks)) {
      JwksUrlOptions url;
      url.url = o.oidc_jwks;
      url.ca_file = o.oidc_jwks_ca_file;
      url.timeout_ms = o.oidc_jwks_timeout.count();
      url.min_fresh_ms = o.oidc_jwks_cache_min.count();
      url.max_fresh_ms = o.oidc_jwks_cache_max.count();
      OMNI_ASSIGN_OR_RETURN(source, JwksUrlSource(std::move(url)));
      oidc.keys_required_at_start = false;
      oidc.background_refresh = true;
      oidc.forced_fetch_every_ms = o.oidc_jwks_refetch_interval.count();
      oidc.retry_first_ms = 1'000;
      oidc.retry_max_ms = std::max<std::int64_t>(o.oidc_jwks_cache_min.count(), 1'000);
    } else if (!o.oidc_jwks.empty()) {
      if (!o.oidc_jwks_ca_file.empty()) {
        return Status(StatusCode::kInvalidArgument, "--oidc-jwks-ca needs an https:// --oidc-jwks");
      }
      source = JwksFileSource(o.oidc_jwks, *files_);
    }
    oidc.on_fetch = [where = o.oidc_jwks](const JwksFetchEvent& e) { LogJwksFetch(where, e); };
    OMNI_ASSIGN_OR_RETURN(
        oidc_, IdTokenVerifier::Create(std::move(oidc), std::move(source), clock_, &metrics_));
    spdlog::info("OIDC: ID tokens of {} for audience {} accepted, keys from {}", o.oidc_issuer,
                 o.oidc_audience, o.oidc_jwks);
    return Status::Ok();
  }

  // What a JWKS fetch did, in the log: a new set, and every failure (with
  // what stays in force); an unchanged set is not news.
  static void LogJwksFetch(const std::string& where, const JwksFetchEvent& e) {
    if (e.status.ok()) {
      if (e.changed) spdlog::info("OIDC: key set from {} in force ({} keys)", where, e.keys);
      return;
    }
    if (e.keys == 0) {
      spdlog::warn(
          "OIDC: JWKS fetch from {} failed ({} in a row): {}; no key set yet: ID tokens are "
          "refused as unavailable",
          where, e.failures_in_a_row, e.status.message());
    } else {
      spdlog::warn(
          "OIDC: JWKS fetch from {} failed ({} in a row): {}; the last good set ({} keys, "
          "fetched {} s ago) stays in force",
          where, e.failures_in_a_row, e.status.message(), e.keys, e.set_age_ms / 1000);
    }
  }

  // The cell's first admin token: issued and written 0600 to admin.token
  // only when the store holds no token at all (the cell's first start); the
  // log names the file, never the token. A replica joining a store that has
  // tokens writes none and says where one comes from. `recover`
  // (--issue-admin-token) issues one whatever the store holds, named
  // admin-<unix time> when it has tokens: the way back when every admin
  // token is lost.
  Status EnsureAdminToken(bool recover) {
    const std::string path = admin_token_path();
    if (files_->Exists(path)) {
      if (!recover) return Status::Ok();
      return Status(StatusCode::kInvalidArgument,
                    "--issue-admin-token: " + path +
                        " exists; it holds an admin token already (move it away to issue another)");
    }
    OMNI_ASSIGN_OR_RETURN(std::vector<TokenRecord> tokens, store_->ListTokens());
    if (!tokens.empty() && !recover) {
      spdlog::info(
          "no admin token made: the store already holds {} token(s) (this cell's first replica "
          "made the first admin token, in its data dir's admin.token); use that one, or create "
          "another with an admin token: omnirctl token create --name NAME --scopes admin (or, "
          "when every admin token is lost, start once with --issue-admin-token)",
          tokens.size());
      return Status::Ok();
    }
    AuditEntry audit;
    audit.time_ms = clock_.NowUnixMs();
    audit.principal = "controlplane";
    audit.action = "token.create";
    audit.outcome = "ok";
    const std::string name =
        tokens.empty() ? std::string("admin") : "admin-" + std::to_string(audit.time_ms / 1000);
    auto issued = auth_->Issue(name, {"admin"}, 0, audit);
    if (!issued.ok() && issued.status().code() == StatusCode::kConflict && !recover) {
      // Another replica starting on the same empty store made it first (a
      // name names one live token): the cell has its first admin token.
      spdlog::info(
          "no admin token made: another replica of this cell made the first one just now (in "
          "its data dir's admin.token)");
      return Status::Ok();
    }
    if (!issued.ok()) return issued.status();
    admin_token_issued_ = true;
    OMNI_RETURN_IF_ERROR(WriteFileAtomically(*files_, path, issued->secret + "\n", 0600));
    spdlog::info("created admin token {} ({}); it is in {} (mode 0600)", issued->record.id,
                 issued->record.name, path);
    return Status::Ok();
  }

  std::string data_dir_;
  FileSystem* files_ = nullptr;      // set by Init
  int lock_fd_ = -1;                 // the data-dir lock, held until Shutdown
  bool fresh_ = false;               // Init found none of our state in the data dir
  bool shared_store_ = false;        // the store is not the data dir's state.db
  bool cell_key_recorded_ = false;   // the store records this replica's key as the cell's
  bool admin_token_issued_ = false;  // this start issued the first admin token
  SystemClock clock_;
  MetricsRegistry metrics_;
  std::unique_ptr<SigningKey> key_;
  TrustedKeySet trusted_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<StorePoll> store_poll_;
  std::unique_ptr<StoreRetention> retention_;
  int rollout_follow_ = 0;      // the bus subscription that calls RolloutEngine::FollowStore
  int revocations_follow_ = 0;  // the one that calls Authenticator::Forget
  std::unique_ptr<IdTokenVerifier> oidc_;  // --oidc-*; null: ID tokens not accepted
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<SnapshotRenderer> renderer_;
  std::unique_ptr<ControlPlaneService> service_;
  std::unique_ptr<PlacementCache> placements_;
  std::unique_ptr<meshkit::EndpointSource> discovery_;  // --meshkit; null: none
  std::unique_ptr<RolloutEngine> rollouts_;             // the feed's AssignmentSource
  std::unique_ptr<NodeFeed> feed_;
  std::unique_ptr<RestFace> rest_;
  std::unique_ptr<GrpcFace> grpc_;
  std::shared_ptr<TlsState> tls_;            // null: plaintext
  std::unique_ptr<TlsWatcher> tls_watcher_;  // certificate hot reload (both faces)
  bool stopped_ = false;
  std::atomic<bool> serving_{false};  // every face is up (backs /readyz)
};

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::Start(const DaemonOptions& options) {
  auto daemon = std::make_unique<DaemonImpl>();
  if (Status s = daemon->Init(options); !s.ok()) {
    daemon->AbandonStart();
    return s;
  }
  return std::unique_ptr<Daemon>(std::move(daemon));
}

}  // namespace omnirelay::cp
