// samples/relay-node as a child process for integration tests: started
// with the given flags (plus a free --listen port unless they name one),
// stderr to a file, HTTP GETs against it, SIGTERM or SIGKILL to end it.
#pragma once

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "daemon_process.h"

namespace omnirelay::relay::testing {

class RelayNodeProcess {
 public:
  // stderr goes to `stderr_path` when given; `port` 0 picks a free one
  // (unless `args` give their own --listen).
  explicit RelayNodeProcess(std::vector<std::string> args, const std::string& stderr_path = "",
                            int port = 0) {
    port_ = port != 0 ? port : cp::testing::FreeLoopbackPort();
    const bool own_listen = std::any_of(
        args.begin(), args.end(), [](const std::string& a) { return a.rfind("--listen", 0) == 0; });
    args.insert(args.begin(), OMNI_RELAY_NODE_BIN);
    if (!own_listen) args.push_back("--listen=127.0.0.1:" + std::to_string(port_));
    pid_ = fork();
    if (pid_ == 0) {
      if (!stderr_path.empty()) {
        const int fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~RelayNodeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // SIGTERM; the exit status, or -1.
  int Stop() {
    if (pid_ <= 0) return -1;  // never kill(-1, ...): that is every process of ours
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // The exit status once the process has exited by itself, else nullopt.
  std::optional<int> Exited() {
    int status = 0;
    if (pid_ <= 0 || waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(1);
    return client.Get(path);
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace omnirelay::relay::testing
