// The REST face under load and abuse (issue 9, item 6): with 5,000 idle
// keep-alive connections and 500 slow or half-sent requests held open, the
// liveness probe and an API read still answer fast. Loopback only, a few
// seconds, stops by itself. Prints its figures as one JSON line (recorded in
// docs/benchmarks.md).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "api_harness.h"
#include "http/raw_client.h"
#include "omnirelay/controlplane/rest_face.h"

namespace omnirelay::cp::testing {
namespace {

using namespace std::chrono_literals;
namespace raw = http::testing;

constexpr int kIdle = 5000;
constexpr int kSlow = 500;
constexpr int kSamples = 300;
constexpr double kHealthzP99Ms = 50;
constexpr double kApiReadP99Ms = 100;

// Lets this process hold the ~11,000 descriptors (both ends of every
// connection) the test needs.
bool RaiseDescriptorLimit(rlim_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  }
  return lim.rlim_cur >= wanted;
}

double Percentile(std::vector<double> ms, double p) {
  std::sort(ms.begin(), ms.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(ms.size() - 1) + 0.5);
  return ms[std::min(at, ms.size() - 1)];
}

class Sockets {
 public:
  ~Sockets() {
    for (int fd : fds_) ::close(fd);
  }
  int Add(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
};

// /healthz p99 <= 50 ms and GET /v1/layers p99 <= 100 ms while 5,000 idle
// keep-alive connections and 500 half-sent requests are held open.
TEST(HttpLoadTest, ProbesAndReadsStayFastUnderIdleAndSlowConnections) {
  ASSERT_TRUE(RaiseDescriptorLimit(2 * (kIdle + kSlow) + 1000))
      << "RLIMIT_NOFILE too low for this test";
  Stack stack;
  RestFaceOptions options;
  options.listen = "127.0.0.1:0";
  auto face = StartRestFace(options, stack.service(), stack.auth(), stack.metrics(), [] { return true; });
  ASSERT_TRUE(face.ok()) << face.status().ToString();
  const int port = (*face)->port();
  const std::string token = stack.Token({"config:read", "config:write"});
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  {
    const int fd = raw::Connect(port);
    const std::string doc = LayerDoc("global");
    ASSERT_TRUE(raw::SendAll(fd, "PUT /v1/layers/global HTTP/1.1\r\nHost: x\r\n" + auth +
                                     "Content-Length: " + std::to_string(doc.size()) + "\r\n\r\n" +
                                     doc));
    std::string carry;
    auto put = raw::ReadResponse(fd, carry, 10s);
    ASSERT_TRUE(put && put->status == 200) << (put ? put->body : "no answer");
    ::close(fd);
  }

  // 5,000 keep-alive connections, each having made one request, then idle.
  Sockets idle;
  for (int batch = 0; batch < kIdle; batch += 500) {
    std::vector<int> fresh;
    for (int i = batch; i < std::min(kIdle, batch + 500); ++i) {
      const int fd = idle.Add(raw::Connect(port));
      ASSERT_GE(fd, 0) << "connect " << i;
      fresh.push_back(fd);
    }
    for (int fd : fresh) ASSERT_TRUE(raw::SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    for (int fd : fresh) {
      std::string carry;
      auto r = raw::ReadResponse(fd, carry, 10s);
      ASSERT_TRUE(r && r->status == 200);
    }
  }
  // 500 slow clients: half a request head, or a head and part of its body.
  Sockets slow;
  for (int i = 0; i < kSlow; ++i) {
    const int fd = slow.Add(raw::Connect(port));
    ASSERT_GE(fd, 0);
    const std::string partial = i % 2 == 0
                                    ? "GET /v1/layers HTTP/1.1\r\nHost: x\r\nAuthoriz"
                                    : "PUT /v1/layers/global HTTP/1.1\r\nHost: x\r\n" + auth +
                                          "Content-Length: 1000\r\n\r\n{\"apiVersion\":";
    ASSERT_TRUE(raw::SendAll(fd, partial));
  }

  const auto measure = [](auto&& one) {
    std::vector<double> ms;
    for (int i = 0; i < kSamples; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      if (!one()) return std::vector<double>{};
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return ms;
  };
  // Probes as a kubelet makes them: a new connection each time.
  const std::vector<double> healthz = measure([&] {
    const int fd = raw::Connect(port);
    auto r = raw::Get(fd, "/healthz", "Connection: close\r\n");
    ::close(fd);
    return r && r->status == 200;
  });
  // API reads as a client makes them: one keep-alive connection.
  const int reader = raw::Connect(port);
  const std::vector<double> reads = measure([&] {
    auto r = raw::Get(reader, "/v1/layers", auth);
    return r && r->status == 200 && r->body.find("global") != std::string::npos;
  });
  ::close(reader);
  ASSERT_EQ(healthz.size(), static_cast<std::size_t>(kSamples)) << "a /healthz probe failed";
  ASSERT_EQ(reads.size(), static_cast<std::size_t>(kSamples)) << "an API read failed";

  // The idle connections were held, not dropped: a sample of them still answers.
  for (std::size_t i = 0; i < idle.fds().size(); i += 500) {
    auto r = raw::Get(idle.fds()[i], "/healthz");
    ASSERT_TRUE(r && r->status == 200) << "idle connection " << i << " was dropped";
  }

  const double healthz_p99 = Percentile(healthz, 0.99);
  const double reads_p99 = Percentile(reads, 0.99);
  std::printf(
      "{\"test\":\"http_load\",\"idle_keepalive_connections\":%d,\"slow_requests\":%d,"
      "\"samples\":%d,\"healthz_p50_ms\":%.2f,\"healthz_p99_ms\":%.2f,\"healthz_max_ms\":%.2f,"
      "\"api_read_p50_ms\":%.2f,\"api_read_p99_ms\":%.2f,\"api_read_max_ms\":%.2f}\n",
      kIdle, kSlow, kSamples, Percentile(healthz, 0.5), healthz_p99, Percentile(healthz, 1.0),
      Percentile(reads, 0.5), reads_p99, Percentile(reads, 1.0));
  std::fflush(stdout);
  EXPECT_LE(healthz_p99, kHealthzP99Ms);
  EXPECT_LE(reads_p99, kApiReadP99Ms);
  (*face)->Shutdown();
}

}  // namespace
}  // namespace omnirelay::cp::testing
