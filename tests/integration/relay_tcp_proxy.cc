#include "relay_tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace omnirelay::relay::testing {
namespace {

int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Copies what `from` has to `to`; false when either side is done.
bool Forward(int from, int to) {
  char buf[64 << 10];
  const ssize_t n = ::read(from, buf, sizeof buf);
  if (n <= 0) return false;
  ssize_t off = 0;
  while (off < n) {
    const ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 256);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (::pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
  thread_ = std::thread([this] { Loop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  [[maybe_unused]] ssize_t w = ::write(wake_[1], "x", 1);
  thread_.join();
  for (Pair& p : pairs_) ClosePair(p);
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void TcpProxy::SetBlocked(bool blocked) {
  blocked_ = blocked;
  if (blocked) cut_ = true;
  [[maybe_unused]] ssize_t w = ::write(wake_[1], "x", 1);
}

int TcpProxy::open_connections() const {
  return open_.load();
}

void TcpProxy::ClosePair(Pair& pair) {
  if (pair.client >= 0) ::close(pair.client);
  if (pair.server >= 0) ::close(pair.server);
  pair.client = pair.server = -1;
}

void TcpProxy::Loop() {
  while (!stopping_) {
    if (cut_.exchange(false)) {
      for (Pair& p : pairs_) ClosePair(p);
      pairs_.clear();
      open_ = 0;
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Pair& p : pairs_) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.server, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), 500) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      char buf[64];
      [[maybe_unused]] ssize_t r = ::read(wake_[0], buf, sizeof buf);
    }
    if (fds[1].revents & POLLIN) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        const int server = blocked_ ? -1 : ConnectLoopback(target_port_);
        if (server < 0) {
          ::close(client);
        } else {
          int one = 1;
          ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          pairs_.push_back({client, server});
          open_ = static_cast<int>(pairs_.size());
        }
      }
    }
    std::vector<bool> dead(pairs_.size(), false);
    for (std::size_t i = 0; i < pairs_.size() && 2 + 2 * i + 1 < fds.size(); ++i) {
      const pollfd& c = fds[2 + 2 * i];
      const pollfd& s = fds[2 + 2 * i + 1];
      if ((c.revents & (POLLIN | POLLHUP | POLLERR)) && !Forward(c.fd, s.fd)) dead[i] = true;
      if ((s.revents & (POLLIN | POLLHUP | POLLERR)) && !Forward(s.fd, c.fd)) dead[i] = true;
    }
    std::vector<Pair> alive;
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
      if (i < dead.size() && dead[i]) {
        ClosePair(pairs_[i]);
      } else {
        alive.push_back(pairs_[i]);
      }
    }
    pairs_ = std::move(alive);
    open_ = static_cast<int>(pairs_.size());
  }
}

}  // namespace omnirelay::relay::testing
