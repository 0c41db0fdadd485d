#include "cli_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace omnirelay::cli::testing {
namespace {

constexpr auto kRunTimeout = std::chrono::seconds(60);

std::string HomeDir() {
  static const std::string dir = [] {
    std::string d = ::testing::TempDir() + "omnirctl-home-" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

std::vector<std::string> ChildEnv(const Env& env) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = kv.substr(0, eq);
    if (key.rfind("OMNIRCTL_", 0) == 0 || key == "NO_COLOR" || key == "XDG_CONFIG_HOME") continue;
    vars[key] = kv.substr(eq + 1);
  }
  vars["HOME"] = HomeDir();
  for (const auto& [k, v] : env) {
    if (v.empty()) {
      vars.erase(k);
    } else {
      vars[k] = v;
    }
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Spawns omnirctl with pipes for stdin, stdout, stderr; returns the pid.
pid_t Spawn(const std::string& binary, const std::vector<std::string>& args, const Env& env,
            int* in_fd, int* out_fd, int* err_fd) {
  int in[2], out[2], err[2];
  if (::pipe(in) != 0 || ::pipe(out) != 0 || ::pipe(err) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
    posix_spawn_file_actions_addclose(&fa, fd);
  }
  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s = ChildEnv(env);
  auto argv = CStrings(argv_s);
  auto envp = CStrings(env_s);
  pid_t pid = -1;
  if (::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  *in_fd = in[1];
  *out_fd = out[0];
  *err_fd = err[0];
  return pid;
}

int DecodeWait(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

nlohmann::json CliResult::Json() const {
  return nlohmann::json::parse(out, nullptr, false);
}

nlohmann::json CliResult::ErrJson() const {
  return nlohmann::json::parse(err, nullptr, false);
}

CliResult RunCli(const std::vector<std::string>& args, const Env& env,
                 const std::string& stdin_text) {
  return RunBinary(OMNIRCTL_BIN, args, env, stdin_text);
}

CliResult RunBinary(const std::string& binary, const std::vector<std::string>& args, const Env& env,
                    const std::string& stdin_text) {
  CliResult r;
  int in_fd = -1, out_fd = -1, err_fd = -1;
  const pid_t pid = Spawn(binary, args, env, &in_fd, &out_fd, &err_fd);
  if (pid < 0) {
    r.err = "spawn failed";
    return r;
  }
  // Small inputs only: the pipe buffer holds them without a reader.
  if (!stdin_text.empty()) {
    [[maybe_unused]] auto n = ::write(in_fd, stdin_text.data(), stdin_text.size());
  }
  ::close(in_fd);
  const auto deadline = std::chrono::steady_clock::now() + kRunTimeout;
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (::poll(fds, 2, 1000) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  if (open_fds > 0) ::kill(pid, SIGKILL);  // hung: fail the test, not the suite
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = DecodeWait(status);
  return r;
}

CliResult RunCliOnTty(const std::vector<std::string>& args, const Env& env) {
  CliResult r;
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    r.err = "no pseudo-terminal";
    return r;
  }
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, slave, 1);
  posix_spawn_file_actions_adddup2(&fa, slave, 2);
  posix_spawn_file_actions_addclose(&fa, slave);
  posix_spawn_file_actions_addclose(&fa, master);
  std::vector<std::string> argv_s = {OMNIRCTL_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s = ChildEnv(env);
  auto argv = CStrings(argv_s);
  auto envp = CStrings(env_s);
  pid_t pid = -1;
  if (::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  ::close(slave);
  if (pid < 0) {
    ::close(master);
    r.err = "spawn failed";
    return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + kRunTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[8192];
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child (the last slave holder) is gone
    r.out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = DecodeWait(status);
  return r;
}

CliProcess::CliProcess(const std::vector<std::string>& args, const Env& env) {
  int in_fd = -1, err_fd = -1;
  pid_ = Spawn(OMNIRCTL_BIN, args, env, &in_fd, &out_fd_, &err_fd);
  ::close(in_fd);
  ::close(err_fd);  // the child's warnings are not needed; it never blocks on a closed pipe
}

CliProcess::~CliProcess() {
  Stop();
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool CliProcess::WaitForLine(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out_.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[8192];
    const ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) return out_.find(needle) != std::string::npos;
    out_.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

int CliProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return DecodeWait(status);
}

void WriteFile(const std::string& path, const std::string& text, unsigned mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
  }
  ::chmod(path.c_str(), mode);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Sample(const std::string& relative) {
  return std::string(OMNI_SAMPLES_DIR) + "/" + relative;
}

void CliServerTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  dir_ = ::testing::TempDir() + "omnirctl-" + info->test_suite_name() + "-" + info->name() + "-" +
         std::to_string(::getpid());
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  daemon_ = std::make_unique<cp::testing::DaemonProcess>(dir_ + "/data");
  ASSERT_TRUE(daemon_->Start()) << "the control plane did not start";
  admin_token_file_ = dir_ + "/data/admin.token";
}

void CliServerTest::TearDown() {
  daemon_.reset();
  if (!HasFailure()) std::filesystem::remove_all(dir_);
}

CliResult CliServerTest::Admin(std::vector<std::string> args, const Env& env) {
  args.insert(args.begin(),
              {"--server", daemon_->grpc_address(), "--token-file", admin_token_file_});
  return RunCli(args, env);
}

CliResult CliServerTest::Anonymous(std::vector<std::string> args, const Env& env) {
  args.insert(args.begin(), {"--server", daemon_->grpc_address()});
  return RunCli(args, env);
}

std::string CliServerTest::TokenSecret(const std::string& scopes, const std::string& name) {
  CliResult r = Admin({"token", "create", "--scopes", scopes, "--name", name, "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = r.Json();
  return j.is_object() ? j.value("token", std::string()) : std::string();
}

std::vector<std::string> CliServerTest::AuditedActions(const std::string& principal) {
  CliResult r = Admin({"audit", "tail", "--since", "5m", "--principal", principal, "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> actions;
  const auto j = r.Json();
  if (!j.is_object()) return actions;
  for (const auto& e : j["entries"]) actions.push_back(e.value("action", ""));
  return actions;
}

std::int64_t CliServerTest::WriteGlobal() {
  CliResult r = Admin(
      {"config", "set", "--scope", "global", "-f", Sample("layers/00-global.json"), "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = r.Json();
  return j.is_object() ? j.value("revision", std::int64_t{0}) : 0;
}

}  // namespace omnirelay::cli::testing
