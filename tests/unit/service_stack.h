// The control plane's service over its real parts, without listeners: a
// SQLite store (synchronous=NORMAL) in a temporary directory, a fresh signing
// key the trusted set holds, the authenticator and the renderer, on a fake
// clock. The bus is the test's. Unit tests of the service and the renderer
// build on it; the directory goes with it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/renderer.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp::testing {

struct ServiceStack {
  explicit ServiceStack(Bus& bus) {
    char tmpl[] = "/tmp/omnirelay-service-XXXXXX";
    dir = ::mkdtemp(tmpl);
    key = std::make_unique<SigningKey>(std::move(SigningKey::Generate().value()));
    (void)trusted.Add(key->public_key_raw());
    SqliteOptions so;
    so.path = dir + "/state.db";
    so.synchronous_full = false;
    store = std::move(OpenSqliteStore(so).value());
    auth = std::make_unique<Authenticator>(*store, clock);
    renderer = std::make_unique<SnapshotRenderer>(*store, *key, clock, metrics);
    service = std::make_unique<ControlPlaneService>(*store, bus, *auth, *renderer, trusted, clock,
                                                    metrics);
  }
  ~ServiceStack() {
    service.reset();
    renderer.reset();
    auth.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
  ServiceStack(const ServiceStack&) = delete;
  ServiceStack& operator=(const ServiceStack&) = delete;

  // A file of samples/layers/, e.g. "00-global.json".
  static std::string Sample(const std::string& name) {
    std::ifstream in(std::string(OMNI_SAMPLES_DIR) + "/layers/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  const Principal admin{"bootstrap", "admin", {"admin"}};
  std::string dir;
  FakeClock clock{1'800'000'000'000};
  MetricsRegistry metrics;
  std::unique_ptr<SigningKey> key;
  TrustedKeySet trusted;
  std::unique_ptr<Store> store;
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<SnapshotRenderer> renderer;
  std::unique_ptr<ControlPlaneService> service;
};

}  // namespace omnirelay::cp::testing
