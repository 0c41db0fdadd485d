// A real redis-server for tests, on a free loopback port with its own dir
// (append-only file on, so a Stop/Start keeps the streams); scripts/setup.sh
// installs the server.
#pragma once

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace omnirelay::cp::testing {

inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// redis-server on 127.0.0.1:port with its own dir; Stop/Start keep both.
class RedisServer {
 public:
  RedisServer() : port_(FreePort()) {
    char tmpl[] = "/tmp/omni-redis-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    Start();
  }
  ~RedisServer() {
    Stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  int port() const { return port_; }

  void Start() {
    const std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1",
               "--dir", dir_.c_str(), "--save", "", "--appendonly", "yes", "--appendfsync",
               "always", "--logfile", (dir_ + "/redis.log").c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 250; ++i) {  // up to 5 s
      if (Ping()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "redis-server did not answer on port " << port_
                  << " (is it installed? scripts/setup.sh installs it)";
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // A command's integer answer on a fresh connection (-1 on failure).
  long long Integer(const std::vector<std::string>& args) {
    redisContext* c = redisConnect("127.0.0.1", port_);
    long long out = -1;
    if (c != nullptr && c->err == 0) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lens;
      for (const auto& a : args) {
        argv.push_back(a.c_str());
        lens.push_back(a.size());
      }
      auto* r = static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
      if (r != nullptr && r->type == REDIS_REPLY_INTEGER) out = r->integer;
      if (r != nullptr) freeReplyObject(r);
    }
    if (c != nullptr) redisFree(c);
    return out;
  }

 private:
  bool Ping() {
    redisContext* c = redisConnect("127.0.0.1", port_);
    bool ok = false;
    if (c != nullptr && c->err == 0) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
      if (r != nullptr) freeReplyObject(r);
    }
    if (c != nullptr) redisFree(c);
    return ok;
  }

  int port_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace omnirelay::cp::testing
