// Runs the real omnirctl binary as a child process (args, environment,
// stdin) and captures stdout, stderr and the exit code; and a fixture that
// starts a real control plane daemon for each test.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon_process.h"

namespace omnirelay::cli::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;

  // stdout / stderr parsed as JSON (discarded value when not JSON).
  nlohmann::json Json() const;
  nlohmann::json ErrJson() const;
};

// Environment overrides for one run; a value of "" removes the variable.
using Env = std::map<std::string, std::string>;

// Runs omnirctl with `args`. The child sees the test's environment minus
// OMNIRCTL_* and NO_COLOR, with HOME pointing at an empty directory (so no
// contexts file is found), then `env` applied.
CliResult RunCli(const std::vector<std::string>& args, const Env& env = {},
                 const std::string& stdin_text = "");
// The same for another binary of the project (e.g. OMNI_CONTROLPLANE_BIN).
CliResult RunBinary(const std::string& binary, const std::vector<std::string>& args,
                    const Env& env = {}, const std::string& stdin_text = "");

// RunCli with stdout and stderr on a pseudo-terminal (both land in `out`,
// with the terminal's "\r\n" line ends).
CliResult RunCliOnTty(const std::vector<std::string>& args, const Env& env = {});

// omnirctl running in the background (e.g. `audit tail --follow`).
class CliProcess {
 public:
  CliProcess(const std::vector<std::string>& args, const Env& env);
  ~CliProcess();  // SIGTERM + wait

  // Reads stdout until a line containing `needle` arrives (true) or the
  // timeout passes / the process ends (false). Lines read are kept in out().
  bool WaitForLine(const std::string& needle, std::chrono::milliseconds timeout);
  const std::string& out() const { return out_; }
  // SIGTERM; returns the exit code (or 128 + signal).
  int Stop();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
};

// Writes `text` to `path` with `mode`.
void WriteFile(const std::string& path, const std::string& text, unsigned mode = 0600);
std::string ReadFile(const std::string& path);
// A sample file under samples/.
std::string Sample(const std::string& relative);

// A real daemon per test, an admin token file and helpers to run omnirctl
// against it.
class CliServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // omnirctl --server <daemon> --token-file <admin> `args`.
  CliResult Admin(std::vector<std::string> args, const Env& env = {});
  // omnirctl --server <daemon> `args` (no token unless args carry one).
  CliResult Anonymous(std::vector<std::string> args, const Env& env = {});
  // Writes the sample global layer; returns its revision.
  std::int64_t WriteGlobal();
  // A token of `scopes` named `name` (token create); its secret.
  std::string TokenSecret(const std::string& scopes, const std::string& name);
  // The actions of the audit entries `principal` made in the last 5 minutes,
  // oldest first (audit tail as admin).
  std::vector<std::string> AuditedActions(const std::string& principal);
  // A scratch file in this test's directory.
  std::string Scratch(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
  std::string admin_token_file_;
  std::unique_ptr<cp::testing::DaemonProcess> daemon_;
};

}  // namespace omnirelay::cli::testing
