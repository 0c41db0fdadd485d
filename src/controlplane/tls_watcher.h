// Certificate hot reload for the control plane's two faces: watches the
// files of TlsOptions and replaces the TlsState when their content changes.
//  1. Every `reload_interval` the three files are read; a content that
//     differs from the material in force, and that read the same on the
//     previous check (a rotation written file by file is not caught half
//     way), is loaded with LoadTls. CheckNow() (SIGHUP) loads at once.
//  2. Material that loads replaces the TlsState (the gRPC face takes it at
//     its next handshake) and is handed to `on_reload` (the REST face);
//     logged with the new certificate's subject, serial and expiry, and
//     counted in omnirelay_cp_tls_reloads_total.
//  3. Material that does not load (unreadable, not PEM, a key that is not
//     the certificate's) leaves the old in force; logged once per content
//     and counted in omnirelay_cp_tls_reload_failures_total.
//
// Thread safety: CheckNow() from any thread; the destructor stops the
// watching thread (on_reload is never called after it returns).
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/tls.h"

namespace omnirelay::cp {

class TlsWatcher {
 public:
  // `on_reload` runs on the watching thread (or CheckNow's caller); its
  // error is logged and counted as a failure. Watches only with TLS on and
  // a non-zero reload_interval.
  TlsWatcher(std::shared_ptr<TlsState> tls, MetricsRegistry& metrics,
             std::function<Status(const TlsMaterial&)> on_reload);
  ~TlsWatcher();
  TlsWatcher(const TlsWatcher&) = delete;
  TlsWatcher& operator=(const TlsWatcher&) = delete;

  // Loads the files now if their content changed. OK when unchanged or
  // reloaded; the load error otherwise (the old material stays).
  Status CheckNow();

 private:
  // `settled`: act only on content read the same by the previous check.
  Status Check(bool settled) EXCLUDES(check_mu_);
  void Run();

  const std::shared_ptr<TlsState> tls_;
  const std::function<Status(const TlsMaterial&)> on_reload_;
  Counter& reloads_;
  Counter& failures_;
  Mutex check_mu_;                                     // one check at a time (the thread, SIGHUP)
  std::size_t last_seen_ GUARDED_BY(check_mu_) = 0;    // read by the previous check
  std::size_t last_failed_ GUARDED_BY(check_mu_) = 0;  // the content that last failed
  Mutex mu_;
  CondVar wake_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace omnirelay::cp
