// An in-process control plane for the load generators (bench_cas_writes,
// bench_chain_validation): a SQLite store in a temporary directory (or a
// store given by url), an
// in-process bus, a fresh signing key and the service over them — the
// daemon's parts without its listeners. Removes its directory when done.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/renderer.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::bench {

class InprocControlPlane {
 public:
  // `synchronous_full`: SQLite FULL (an acknowledged write survives power loss).
  // `store_url` non-empty: that store (e.g. postgres://...) instead of SQLite.
  explicit InprocControlPlane(bool synchronous_full, const std::string& store_url = "")
      : store(std::move(store_url.empty()
                            ? cp::OpenSqliteStore(
                                  {.path = dir + "/state.db", .synchronous_full = synchronous_full})
                                  .value()
                            : cp::OpenStore(store_url).value())) {
    (void)trusted.Add(key.public_key_raw());
  }
  ~InprocControlPlane() { std::filesystem::remove_all(dir); }
  InprocControlPlane(const InprocControlPlane&) = delete;
  InprocControlPlane& operator=(const InprocControlPlane&) = delete;

  // Declaration order is construction order: the directory first.
  const std::string dir = MakeDir();
  const cp::Principal admin{"bench", "admin", {"admin"}};
  SystemClock clock;
  MetricsRegistry metrics;
  SigningKey key = std::move(SigningKey::Generate().value());
  TrustedKeySet trusted;
  std::unique_ptr<cp::Store> store;
  std::unique_ptr<cp::Bus> bus = cp::MakeInprocBus();
  cp::Authenticator auth{*store, clock};
  cp::SnapshotRenderer renderer{*store, key, clock, metrics};
  cp::ControlPlaneService service{*store, *bus, auth, renderer, trusted, clock, metrics};

 private:
  static std::string MakeDir() {
    char tmpl[] = "/tmp/omnirelay-bench-XXXXXX";
    return ::mkdtemp(tmpl);
  }
};

}  // namespace omnirelay::bench
