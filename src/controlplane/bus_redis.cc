// The Redis Streams bus (bus.h): every replica of a cell appends its change
// events to one stream and reads everyone else's from it.
//
//   redis://[:password@]host:port/stream[?maxlen=N]
//
// - Publish hands the event to this process's handlers at once (through an
//   in-process bus, so a Redis outage never delays the local nodes), then
//   appends it to the stream: XADD stream MAXLEN ~ N * origin <replica> event
//   <json>. A failed append returns kUnavailable (the service logs and counts
//   it; the commit stands, and the feed's timed refresh repairs what another
//   replica missed). While Redis is down, appends are not retried more often
//   than once a second. The append runs on the committing thread: a server
//   that refuses connections fails it at once, but one that hangs holds that
//   commit's answer (and those queued behind it) for up to the connect and
//   command timeouts, 0.5 s + 1 s, once a second.
// - A reader thread XREADs (BLOCK) from the last id it handed on and passes
//   every entry of another origin to the handlers, in stream order. After a
//   lost connection it reconnects with backoff and resumes from that id; a
//   stream that went back below it (a server restarted without persistence,
//   or one that lost its last writes) is read from its start: events are
//   wake-ups (re-render these scopes, close streams of these revoked
//   tokens), so handing on some twice costs work, never correctness, while
//   skipping one would leave nodes behind until the next timed refresh.
// hiredis stays in this file.
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bus_codec.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/bus.h"

namespace omnirelay::cp {
namespace {

using bus_codec::EventFromJson;
using bus_codec::EventToJson;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = std::chrono::milliseconds(500);
constexpr auto kCommandTimeout = std::chrono::milliseconds(1000);
constexpr int kBlockMs = 200;  // a read's wait: how soon the reader sees Stop
constexpr auto kRetryFloor = std::chrono::milliseconds(100);
constexpr auto kRetryCeiling = std::chrono::seconds(2);
constexpr auto kPublishRetry = std::chrono::seconds(1);

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

struct ContextFree {
  void operator()(redisContext* c) const {
    if (c != nullptr) redisFree(c);
  }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

timeval ToTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

// A stream entry id "ms-seq" as a pair, for comparing two ids.
std::pair<std::uint64_t, std::uint64_t> IdParts(std::string_view id) {
  std::pair<std::uint64_t, std::uint64_t> out{0, 0};
  const std::size_t dash = id.find('-');
  std::from_chars(id.data(), id.data() + std::min(dash, id.size()), out.first);
  if (dash != std::string_view::npos) {
    std::from_chars(id.data() + dash + 1, id.data() + id.size(), out.second);
  }
  return out;
}

std::string_view Str(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

class RedisBus final : public Bus {
 public:
  explicit RedisBus(RedisBusOptions o)
      : options_(std::move(o)), origin_(bus_codec::RandomOrigin()), local_(MakeInprocBus()) {}

  // Connects once (a wrong address or password is refused at start) and
  // starts the reader from the stream's current end.
  Status Start() {
    auto conn = Connect();
    if (!conn.ok()) return conn.status();
    std::string last = "0-0";
    if (auto tail = LastId(**conn); tail.ok()) {
      last = *tail;
    } else {
      return tail.status();
    }
    {
      MutexLock lock(publish_mu_);
      publisher_ = std::move(conn).value();
    }
    reader_ = std::thread([this, last] { Read(last); });
    return Status::Ok();
  }

  ~RedisBus() override {
    stop_.store(true);
    if (reader_.joinable()) reader_.join();
  }

  Status Publish(const ChangeEvent& event) override {
    (void)local_->Publish(event);  // this process's nodes first, whatever Redis does
    const std::string body = EventToJson(event);
    MutexLock lock(publish_mu_);
    if (!publisher_) {
      if (Clock::now() < next_publish_attempt_) {
        return Status(StatusCode::kUnavailable,
                      "redis bus: not connected (" + last_error_ + "); retrying within 1 s");
      }
      auto conn = Connect();
      if (!conn.ok()) {
        next_publish_attempt_ = Clock::now() + kPublishRetry;
        last_error_ = conn.status().message();
        return conn.status();
      }
      publisher_ = std::move(conn).value();
    }
    const std::string maxlen = std::to_string(options_.max_length);
    const char* argv[] = {
        "XADD",   options_.stream.c_str(), "MAXLEN", "~",         maxlen.c_str(), "*",
        "origin", origin_.c_str(),         "event",  body.c_str()};
    const std::size_t lens[] = {4, options_.stream.size(), 6, 1,          maxlen.size(), 1,
                                6, origin_.size(),         5, body.size()};
    Reply reply(static_cast<redisReply*>(redisCommandArgv(publisher_.get(), 10, argv, lens)));
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
      last_error_ = !reply ? std::string(publisher_->errstr) : std::string(Str(reply.get()));
      if (!reply) {
        publisher_.reset();  // broken: the next publish reconnects
        next_publish_attempt_ = Clock::now() + kPublishRetry;
      }
      return Status(StatusCode::kUnavailable, "redis bus: XADD failed: " + last_error_);
    }
    return Status::Ok();
  }

  int Subscribe(Handler handler) override { return local_->Subscribe(std::move(handler)); }
  void Unsubscribe(int id) override { local_->Unsubscribe(id); }
  void DeliverLocally(const ChangeEvent& event) override { (void)local_->Publish(event); }

 private:
  Result<Context> Connect() {
    const timeval connect_timeout = ToTimeval(kConnectTimeout);
    Context c(redisConnectWithTimeout(options_.host.c_str(), options_.port, connect_timeout));
    const std::string where = "redis bus " + options_.host + ":" + std::to_string(options_.port);
    if (!c) return Status(StatusCode::kUnavailable, where + ": out of memory");
    if (c->err != 0) return Status(StatusCode::kUnavailable, where + ": " + c->errstr);
    const timeval command_timeout = ToTimeval(kCommandTimeout);
    redisSetTimeout(c.get(), command_timeout);
    if (!options_.password.empty()) {
      const char* argv[] = {"AUTH", options_.password.c_str()};
      const std::size_t lens[] = {4, options_.password.size()};
      Reply r(static_cast<redisReply*>(redisCommandArgv(c.get(), 2, argv, lens)));
      if (!r || r->type == REDIS_REPLY_ERROR) {
        // The server's answer, never the password.
        return Status(StatusCode::kUnauthenticated,
                      where + ": AUTH refused: " + (r ? std::string(Str(r.get())) : c->errstr));
      }
    }
    return c;
  }

  // The id of the stream's newest entry ("0-0" for an empty or absent stream).
  Result<std::string> LastId(redisContext& c) {
    const char* argv[] = {"XREVRANGE", options_.stream.c_str(), "+", "-", "COUNT", "1"};
    const std::size_t lens[] = {9, options_.stream.size(), 1, 1, 5, 1};
    Reply r(static_cast<redisReply*>(redisCommandArgv(&c, 6, argv, lens)));
    if (!r) return Status(StatusCode::kUnavailable, std::string("redis bus: ") + c.errstr);
    if (r->type == REDIS_REPLY_ERROR) {
      return Status(StatusCode::kUnavailable, "redis bus: " + std::string(Str(r.get())));
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return std::string("0-0");
    const redisReply* entry = r->element[0];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 1) return std::string("0-0");
    return std::string(Str(entry->element[0]));
  }

  void Read(std::string last) {
    Context conn;
    auto backoff = kRetryFloor;
    bool reported = false;
    while (!stop_.load()) {
      if (!conn) {
        auto c = Connect();
        std::string tail;
        if (c.ok()) {
          auto id = LastId(**c);
          if (id.ok()) {
            tail = *id;
          } else {
            c = id.status();
          }
        }
        if (!c.ok()) {
          if (!reported) spdlog::warn("{}; reconnecting", c.status().message());
          reported = true;
          Sleep(backoff);
          backoff = std::min(backoff * 2,
                             std::chrono::duration_cast<std::chrono::milliseconds>(kRetryCeiling));
          continue;
        }
        // Gone back below our position: the stream was recreated.
        if (IdParts(tail) < IdParts(last)) {
          spdlog::warn("redis bus: stream {} restarted below {}: reading it from its start",
                       options_.stream, last);
          last = "0-0";
        }
        if (reported) spdlog::info("redis bus: reconnected; resuming after {}", last);
        reported = false;
        conn = std::move(c).value();
      }
      const std::string block = std::to_string(kBlockMs);
      const char* argv[] = {
          "XREAD",     "COUNT", "256", "BLOCK", block.c_str(), "STREAMS", options_.stream.c_str(),
          last.c_str()};
      const std::size_t lens[] = {5, 5, 3, 5, block.size(), 7, options_.stream.size(), last.size()};
      Reply r(static_cast<redisReply*>(redisCommandArgv(conn.get(), 8, argv, lens)));
      if (!r || r->type == REDIS_REPLY_ERROR) {
        spdlog::warn("redis bus: XREAD failed: {}",
                     r ? std::string(Str(r.get())) : std::string(conn->errstr));
        reported = true;
        conn.reset();
        Sleep(backoff);  // an error the server keeps giving is not retried in a spin
        backoff = std::min(backoff * 2,
                           std::chrono::duration_cast<std::chrono::milliseconds>(kRetryCeiling));
        continue;
      }
      backoff = kRetryFloor;                       // a read went through
      if (r->type != REDIS_REPLY_ARRAY) continue;  // nil: nothing within the block
      for (std::size_t s = 0; s < r->elements; ++s) {
        const redisReply* stream = r->element[s];
        if (stream->type != REDIS_REPLY_ARRAY || stream->elements < 2) continue;
        const redisReply* entries = stream->element[1];
        for (std::size_t i = 0; i < entries->elements; ++i) Deliver(entries->element[i], last);
      }
    }
  }

  // One entry [id, [field, value, ...]]: handed on unless this process wrote it.
  void Deliver(const redisReply* entry, std::string& last) {
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) return;
    last = std::string(Str(entry->element[0]));
    const redisReply* fields = entry->element[1];
    std::string_view origin;
    std::string_view body;
    for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
      const std::string_view name = Str(fields->element[f]);
      if (name == "origin") origin = Str(fields->element[f + 1]);
      if (name == "event") body = Str(fields->element[f + 1]);
    }
    if (origin == origin_) return;
    auto event = EventFromJson(body);
    if (!event) {
      spdlog::warn("redis bus: entry {} of {} is not a change event; skipped", last,
                   options_.stream);
      return;
    }
    (void)local_->Publish(*event);
  }

  void Sleep(std::chrono::milliseconds d) {
    const auto until = Clock::now() + d;
    while (!stop_.load() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  const RedisBusOptions options_;
  const std::string origin_;
  const std::unique_ptr<Bus> local_;
  Mutex publish_mu_;
  Context publisher_ GUARDED_BY(publish_mu_);
  Clock::time_point next_publish_attempt_ GUARDED_BY(publish_mu_);
  std::string last_error_ GUARDED_BY(publish_mu_);
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

}  // namespace

Result<RedisBusOptions> ParseRedisBusUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  const std::string kForm = "expected redis://[:password@]host:port/stream[?maxlen=N]";
  if (!url.starts_with(kScheme)) return Status(StatusCode::kInvalidArgument, kForm);
  std::string_view rest = url.substr(kScheme.size());
  RedisBusOptions o;
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view user_info = rest.substr(0, at);
    if (const std::size_t colon = user_info.find(':'); colon != std::string_view::npos) {
      o.password = std::string(user_info.substr(colon + 1));
    }
    rest = rest.substr(at + 1);
  }
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument, "redis bus url names no stream; " + kForm);
  }
  const std::string_view host_port = rest.substr(0, slash);
  std::string_view path = rest.substr(slash + 1);
  if (const std::size_t q = path.find('?'); q != std::string_view::npos) {
    const std::string_view query = path.substr(q + 1);
    path = path.substr(0, q);
    constexpr std::string_view kMaxLen = "maxlen=";
    if (!query.starts_with(kMaxLen)) {
      return Status(StatusCode::kInvalidArgument, "redis bus url: unknown option; " + kForm);
    }
    const std::string_view n = query.substr(kMaxLen.size());
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), o.max_length);
    if (ec != std::errc() || end != n.data() + n.size() || o.max_length < 1) {
      return Status(StatusCode::kInvalidArgument,
                    "redis bus url: maxlen must be a positive number");
    }
  }
  const std::size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || path.empty()) {
    return Status(StatusCode::kInvalidArgument, kForm);
  }
  o.host = std::string(host_port.substr(0, colon));
  const std::string_view port = host_port.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), o.port);
  if (ec != std::errc() || end != port.data() + port.size() || o.port < 1 || o.port > 65535) {
    return Status(StatusCode::kInvalidArgument, "redis bus url: bad port; " + kForm);
  }
  o.stream = std::string(path);
  return o;
}

Result<std::unique_ptr<Bus>> OpenRedisBus(const RedisBusOptions& options) {
  auto bus = std::make_unique<RedisBus>(options);
  OMNI_RETURN_IF_ERROR(bus->Start());
  return std::unique_ptr<Bus>(std::move(bus));
}

}  // namespace omnirelay::cp
