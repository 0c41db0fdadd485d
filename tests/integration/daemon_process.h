// Runs the real `controlplane` binary as a child process on free loopback
// ports with its own data dir, for tests that need a real process (crash
// tests, CLI tests).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace omnirelay::cp::testing {

// Whether something accepts TCP connections on 127.0.0.1:`port` now.
bool AcceptsConnections(int port);

class DaemonProcess {
 public:
  // `data_dir` is created if missing and kept (the caller removes it).
  explicit DaemonProcess(std::string data_dir);
  ~DaemonProcess();  // SIGTERM + wait, if still running

  // Starts the binary and waits (up to 20 s) until /readyz answers 200.
  bool Start();
  // Start() with `extra_args` appended to the command line (e.g. the TLS
  // flags). With `tls`, /readyz is served over HTTPS, so readiness is the
  // admin token written and the gRPC port accepting connections instead.
  bool StartWithArgs(const std::vector<std::string>& extra_args, bool tls);
  // The gRPC address, "127.0.0.1:<port>".
  std::string grpc_address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }

  // Starts it again on the ports of its last start (a replica coming back at
  // the address its nodes know); one attempt.
  bool RestartOnSamePorts(const std::vector<std::string>& extra_args);
  // The admin token that readiness checks use, for a daemon that writes
  // none of its own (a replica joining a store that has tokens).
  void set_admin_token(std::string token) { admin_token_override_ = std::move(token); }

  // SIGKILL, no shutdown of any kind; waits for the process to be reaped.
  void Kill9();
  // SIGTERM; returns the exit status (or -1).
  int Stop();

  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  std::string admin_token() const;  // read from <data-dir>/admin.token
  const std::string& data_dir() const { return data_dir_; }

 private:
  bool StartOnce(const std::vector<std::string>& extra_args, bool tls, bool same_ports = false);

  std::string data_dir_;
  int http_port_ = 0;
  int grpc_port_ = 0;
  pid_t pid_ = -1;
  std::string admin_token_override_;
};

// A free TCP port on 127.0.0.1 below the ephemeral range (bound once and
// released).
int FreeLoopbackPort();

}  // namespace omnirelay::cp::testing
