#include "daemon_process.h"

#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

extern char** environ;

namespace omnirelay::cp::testing {

int FreeLoopbackPort() {
  // A random port below Linux's ephemeral range (32768-60999), checked by a
  // bind: the kernel hands ephemeral ports to outgoing connections too, so a
  // port from bind(0) may be taken again before the child binds it.
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 32000);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = pick(rng);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

DaemonProcess::DaemonProcess(std::string data_dir) : data_dir_(std::move(data_dir)) {
  std::filesystem::create_directories(data_dir_);
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Stop();
}

bool DaemonProcess::Start() {
  return StartWithArgs({}, /*tls=*/false);
}

bool AcceptsConnections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

bool DaemonProcess::StartWithArgs(const std::vector<std::string>& extra_args, bool tls) {
  // A port can still be taken between the pick and the child's bind (another
  // test's daemon, an outgoing connection): the child then exits 1 or, worse,
  // another daemon answers our /readyz. Both are detected and retried on new
  // ports.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (StartOnce(extra_args, tls)) return true;
    if (pid_ > 0) Kill9();
  }
  return false;
}

bool DaemonProcess::RestartOnSamePorts(const std::vector<std::string>& extra_args) {
  return http_port_ > 0 && StartOnce(extra_args, /*tls=*/false, /*same_ports=*/true);
}

bool DaemonProcess::StartOnce(const std::vector<std::string>& extra_args, bool tls,
                              bool same_ports) {
  if (!same_ports) {
    http_port_ = FreeLoopbackPort();
    grpc_port_ = FreeLoopbackPort();
  }
  std::vector<std::string> args = {OMNI_CONTROLPLANE_BIN, "--data-dir=" + data_dir_,
                                   "--http-listen=127.0.0.1:" + std::to_string(http_port_),
                                   "--grpc-listen=127.0.0.1:" + std::to_string(grpc_port_),
                                   "--log-level=warn"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    pid_ = -1;
    return false;
  }
  httplib::Client client("127.0.0.1", http_port_);
  client.set_connection_timeout(0, 200'000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // died during start (a port taken?)
      pid_ = -1;
      return false;
    }
    if (tls) {
      if (std::filesystem::exists(data_dir_ + "/admin.token") && AcceptsConnections(grpc_port_)) {
        return true;
      }
    } else if (auto res = client.Get("/readyz"); res && res->status == 200) {
      // Ours only if it knows our admin token: a daemon of another test that
      // holds this port answers 401.
      const httplib::Headers auth = {{"Authorization", "Bearer " + admin_token()}};
      auto who = client.Get("/v1/status", auth);
      return who && who->status == 200 && ::waitpid(pid_, &status, WNOHANG) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a child process
  }
  return false;
}

void DaemonProcess::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int DaemonProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string DaemonProcess::admin_token() const {
  if (!admin_token_override_.empty()) return admin_token_override_;
  std::ifstream in(data_dir_ + "/admin.token");
  std::string token;
  std::getline(in, token);
  return token;
}

}  // namespace omnirelay::cp::testing
