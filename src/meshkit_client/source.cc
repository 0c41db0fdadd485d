#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "omnirelay/config/diagnostic.h"
#include "omnirelay/http/server.h"
#include "omnirelay/meshkit/feed.h"

namespace omnirelay::meshkit {

FeedStats EndpointSource::stats() const {
  FeedStats out;
  {
    MutexLock lock(stats_mu_);
    out = stats_;
  }
  std::shared_ptr<const EndpointSet> set;
  {
    MutexLock lock(set_mu_);
    set = current_;
  }
  if (set) {
    out.generation = set->generation();
    out.feed_id = set->feed_id();
  }
  return out;
}

std::uint64_t EndpointSource::generation() const {
  MutexLock lock(set_mu_);
  return current_ ? current_->generation() : 0;
}

namespace {
std::atomic<std::uint64_t> g_next_uid{1};
}  // namespace

EndpointSource::EndpointSource(Listener listener)
    : listener_(std::move(listener)), uid_(g_next_uid.fetch_add(1, std::memory_order_relaxed)) {}

void EndpointSource::Publish(const std::shared_ptr<const EndpointSet>& set) {
  {
    MutexLock lock(set_mu_);
    current_ = set;
    // Under the lock: a reader that sees this count reads this set or a newer one.
    published_.fetch_add(1, std::memory_order_release);
  }
  if (listener_) listener_(set);
}

const std::shared_ptr<const EndpointSet>& EndpointSource::CurrentSlow() const {
  internal::SourceCache& cache = internal::tls_source_cache;
  MutexLock lock(set_mu_);
  cache.uid = uid_;
  cache.published = published_.load(std::memory_order_relaxed);
  cache.set = current_;
  return cache.set;
}

namespace {

Status Refused(const std::string& path, const std::string& pointer, const std::string& what) {
  return Status(StatusCode::kInvalidArgument,
                "endpoints file " + path + ": " + (pointer.empty() ? "" : pointer + ": ") + what);
}

// One endpoint object at `pointer`.
Result<Endpoint> DecodeEndpoint(const nlohmann::json& j, const std::string& pointer,
                                const std::string& path) {
  if (!j.is_object()) return Refused(path, pointer, "must be an object");
  Endpoint e;
  for (const auto& [key, value] : j.items()) {
    const std::string at = JoinPointer(pointer, key);
    std::string* text = key == "memberId"  ? &e.member_id
                        : key == "address" ? &e.address
                        : key == "service" ? &e.service
                        : key == "cluster" ? &e.cluster
                        : key == "cell"    ? &e.cell
                        : key == "region"  ? &e.region
                        : key == "zone"    ? &e.zone
                                           : nullptr;
    if (text != nullptr) {
      if (!value.is_string()) return Refused(path, at, "must be a string");
      *text = value.get<std::string>();
    } else if (key == "port") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 1 ||
          value.get<std::int64_t>() > 65535) {
        return Refused(path, at, "must be an integer 1-65535");
      }
      e.port = static_cast<std::uint16_t>(value.get<std::int64_t>());
    } else if (key == "weight") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 1 ||
          value.get<std::int64_t>() > 1'000'000) {
        return Refused(path, at, "must be an integer 1-1000000");
      }
      e.weight = static_cast<std::uint32_t>(value.get<std::int64_t>());
    } else if (key == "health") {
      const auto health = value.is_string() ? ParseHealth(value.get<std::string>()) : std::nullopt;
      if (!health) return Refused(path, at, "must be healthy, unhealthy, draining or unknown");
      e.health = *health;
    } else {
      return Refused(path, at, "unknown field");
    }
  }
  Status ok = CheckEndpoint(e);
  if (!ok.ok()) return Refused(path, pointer, ok.message());
  return e;
}

// One bridge object at `pointer`.
Result<BridgeStatus> DecodeBridge(const nlohmann::json& j, const std::string& pointer,
                                  const std::string& path) {
  if (!j.is_object()) return Refused(path, pointer, "must be an object");
  BridgeStatus b;
  for (const auto& [key, value] : j.items()) {
    const std::string at = JoinPointer(pointer, key);
    if (key == "name" || key == "detail") {
      if (!value.is_string()) return Refused(path, at, "must be a string");
      (key == "name" ? b.name : b.detail) = value.get<std::string>();
    } else if (key == "cells") {
      if (!value.is_array()) return Refused(path, at, "must be an array of two cells");
      for (const auto& cell : value) {
        if (!cell.is_string()) return Refused(path, at, "must be an array of two cells");
        b.cells.push_back(cell.get<std::string>());
      }
    } else if (key == "state") {
      const auto state =
          value.is_string() ? ParseBridgeState(value.get<std::string>()) : std::nullopt;
      if (!state) return Refused(path, at, "must be up, down, flapping or unknown");
      b.state = *state;
    } else {
      return Refused(path, at, "unknown field");
    }
  }
  Status ok = CheckBridge(b);
  if (!ok.ok()) return Refused(path, pointer, ok.message());
  return b;
}

struct FileContents {
  std::vector<Endpoint> endpoints;
  std::vector<BridgeStatus> bridges;
};

Result<FileContents> DecodeFile(const std::string& content, const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Refused(path, "", "not valid JSON");
  if (!j.is_object()) return Refused(path, "", "must be an object with \"endpoints\"");
  for (const auto& [key, value] : j.items()) {
    if (key != "endpoints" && key != "bridges") {
      return Refused(path, JoinPointer("", key), "unknown field");
    }
  }
  const auto list = j.find("endpoints");
  if (list == j.end() || !list->is_array()) {
    return Refused(path, "/endpoints", "must be an array");
  }
  FileContents out;
  out.endpoints.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    Result<Endpoint> e = DecodeEndpoint((*list)[i], "/endpoints/" + std::to_string(i), path);
    if (!e.ok()) return e.status();
    out.endpoints.push_back(std::move(*e));
  }
  if (const auto bridges = j.find("bridges"); bridges != j.end()) {
    if (!bridges->is_array()) return Refused(path, "/bridges", "must be an array");
    for (std::size_t i = 0; i < bridges->size(); ++i) {
      Result<BridgeStatus> b = DecodeBridge((*bridges)[i], "/bridges/" + std::to_string(i), path);
      if (!b.ok()) return b.status();
      out.bridges.push_back(std::move(*b));
    }
  }
  return out;
}

}  // namespace

namespace {
// This process's file feeds are instances of their own: another process (a
// relay, the control plane) reading the same path numbers its generations
// independently, so the ids differ and nobody compares them.
std::string FileFeedId(const std::string& path) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return "file:" + path + "@" + host + "/" + std::to_string(::getpid());
}
}  // namespace

FileSource::FileSource(FileSourceOptions options)
    : EndpointSource(options.on_change),
      options_(std::move(options)),
      feed_id_(FileFeedId(options_.path)),
      table_(options_.limits) {}

Result<std::unique_ptr<FileSource>> FileSource::Start(FileSourceOptions options) {
  if (options.path.empty()) {
    return Status(StatusCode::kInvalidArgument, "an endpoints file source needs a path");
  }
  std::unique_ptr<FileSource> source(new FileSource(std::move(options)));
  OMNI_RETURN_IF_ERROR(source->Reload());
  if (source->options_.poll_interval.count() > 0) {
    source->thread_ = std::thread([s = source.get()] { s->Poll(); });
  }
  return source;
}

FileSource::~FileSource() {
  {
    MutexLock lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

Status FileSource::Reload() {
  MutexLock lock(mu_);
  std::ifstream in(options_.path, std::ios::binary);
  if (!in) {
    Status why(StatusCode::kIoError, "endpoints file " + options_.path + " cannot be read");
    UpdateStats([&](FeedStats& s) { s.last_error = why; });
    return why;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string content = buffer.str();
  if (read_once_ && content == last_content_) return Status::Ok();
  Result<FileContents> decoded = DecodeFile(content, options_.path);
  Status applied = decoded.ok() ? table_.ApplySnapshot(feed_id_, table_.generation() + 1,
                                                       std::move(decoded->endpoints),
                                                       std::move(decoded->bridges))
                                : decoded.status();
  if (!applied.ok() && decoded.ok()) applied = Refused(options_.path, "", applied.message());
  read_once_ = true;
  last_content_ = std::move(content);  // a refused content is not tried again until it changes
  if (!applied.ok()) {
    UpdateStats([&](FeedStats& s) {
      ++s.refused;
      s.last_error = applied;
    });
    return applied;
  }
  UpdateStats([&](FeedStats& s) {
    s.connected = true;
    ++s.snapshots;
  });
  Publish(table_.current());
  return Status::Ok();
}

void FileSource::Poll() {
  MutexLock lock(stop_mu_);
  while (!stop_) {
    stop_cv_.WaitUntil(stop_mu_, std::chrono::steady_clock::now() + options_.poll_interval);
    if (stop_) break;
    lock.Unlock();
    (void)Reload();  // a refusal is in stats(); the set before it stays
    lock.Lock();
  }
}

Result<std::unique_ptr<EndpointSource>> StartEndpointSource(EndpointSourceOptions options) {
  struct stat st {};
  if (!options.where.empty() && ::stat(options.where.c_str(), &st) == 0) {
    if (!options.ca_file.empty()) {
      return Status(
          StatusCode::kInvalidArgument,
          "a CA bundle applies to a host:port feed, not to the endpoints file " + options.where);
    }
    FileSourceOptions o;
    o.path = options.where;
    o.on_change = std::move(options.on_change);
    auto source = FileSource::Start(std::move(o));
    if (!source.ok()) return source.status();
    return std::unique_ptr<EndpointSource>(std::move(*source));
  }
  const auto host_port = http::SplitHostPort(options.where);
  if (!host_port.ok() || host_port->first.empty() || host_port->second <= 0) {
    return Status(StatusCode::kInvalidArgument,
                  "MeshKit source \"" + options.where +
                      "\" is neither an existing endpoints file nor host:port");
  }
  GrpcFeedOptions o;
  o.target = options.where;
  o.client_id = std::move(options.client_id);
  o.ca_file = std::move(options.ca_file);
  o.on_change = std::move(options.on_change);
  auto client = GrpcFeedClient::Start(std::move(o));
  if (!client.ok()) return client.status();
  return std::unique_ptr<EndpointSource>(std::move(*client));
}

}  // namespace omnirelay::meshkit
