// A raw-socket HTTP/1.1 client for the server tests: what an attacker or a
// careful test needs that a library client hides (half-sent requests, idle
// connections, reading exactly one response off a keep-alive connection).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace omnirelay::http::testing {

// A connected loopback socket (blocking), or -1.
inline int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Waits up to `timeout` for bytes (or EOF); the bytes read, "" on EOF,
// nullopt on a timeout or an error.
inline std::optional<std::string> ReadSome(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  char buf[16384];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

// True when the peer closes the connection within `timeout`.
inline bool WaitClosed(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset
  }
}

struct RawResponse {
  int status = 0;
  std::string head;
  std::string body;
};

// Reads one Content-Length response (what the server sends for everything
// but streams) off `fd`; nullopt on a timeout, EOF first, or garbage.
inline std::optional<RawResponse> ReadResponse(int fd, std::string& carry,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto more = [&]() -> bool {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    auto got = ReadSome(fd, left);
    if (!got || got->empty()) return false;
    carry += *got;
    return true;
  };
  std::size_t end;
  while ((end = carry.find("\r\n\r\n")) == std::string::npos) {
    if (!more()) return std::nullopt;
  }
  RawResponse r;
  r.head = carry.substr(0, end + 2);
  if (r.head.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
  r.status = std::atoi(r.head.c_str() + 9);
  std::size_t length = 0;
  for (const char* name : {"\r\nContent-Length: ", "\r\ncontent-length: "}) {
    const auto at = r.head.find(name);
    if (at != std::string::npos) length = std::strtoul(r.head.c_str() + at + 18, nullptr, 10);
  }
  while (carry.size() < end + 4 + length) {
    if (!more()) return std::nullopt;
  }
  r.body = carry.substr(end + 4, length);
  carry.erase(0, end + 4 + length);
  return r;
}

inline std::optional<RawResponse> Get(int fd, const std::string& path,
                                      const std::string& extra_headers = "",
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  if (!SendAll(fd, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n")) {
    return std::nullopt;
  }
  std::string carry;
  return ReadResponse(fd, carry, timeout);
}

}  // namespace omnirelay::http::testing
