// The Kafka bus (bus.h): every replica of a cell produces its change events
// to one topic and consumes everyone else's from it.
//
//   kafka://host:port[,host:port...]/topic   plus --bus-opt key=value (librdkafka)
//
// - Publish hands the event to this process's handlers at once (through an
//   in-process bus, so a Kafka outage never delays the local nodes), then
//   queues it in librdkafka's producer, keyed by this replica's origin (one
//   replica's events land on one partition and keep their order). Queueing
//   never blocks: a full queue returns kUnavailable at once. Delivery is
//   confirmed by a delivery report on the bus's own thread; an event the
//   brokers did not take within message.timeout.ms (default here 5 s) is
//   logged and counted (on_undelivered), and the nodes of other replicas are
//   repaired by the store poll and the feed's refresh. A commit never waits
//   for Kafka.
// - A consumer (its own group id, offsets never committed: each replica reads
//   the whole topic) is assigned every partition at the end it found at
//   start, and hands every event of another origin to the handlers, in
//   partition order. librdkafka reconnects by itself and resumes from its
//   position; a position the brokers no longer have (a topic recreated, a
//   log lost) is read again from the earliest offset: events are wake-ups,
//   so handing on some twice costs work, never correctness.
// librdkafka stays in this file.
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bus_codec.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/bus.h"

namespace omnirelay::cp {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPollMs = 100;  // how soon the bus threads see Stop
constexpr auto kTopicWait = std::chrono::seconds(10);
constexpr auto kLogEvery = std::chrono::seconds(10);  // repeated errors: one line per period

// The bus's own settings; --bus-opt overrides each.
const std::vector<std::pair<std::string, std::string>>& Defaults(bool consumer) {
  static const std::vector<std::pair<std::string, std::string>> kProducer = {
      {"client.id", "omnirelay-controlplane"},
      {"socket.keepalive.enable", "true"},
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "2000"},
      {"message.timeout.ms", "5000"},  // a late wake-up is worth little: the store poll repairs
      {"linger.ms", "1"},
  };
  static const std::vector<std::pair<std::string, std::string>> kConsumer = {
      {"client.id", "omnirelay-controlplane"},
      {"socket.keepalive.enable", "true"},
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "2000"},
      // Offsets stay with each replica: never committed, and a position the
      // brokers no longer have is read again from the start.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
  };
  return consumer ? kConsumer : kProducer;
}

bool IsSecret(std::string_view key) {
  for (std::string_view word : {"password", "secret", "jaas", "token", "key"}) {
    if (key.find(word) != std::string_view::npos) return true;
  }
  return false;
}

Status SetAll(RdKafka::Conf& conf, const KafkaBusOptions& o, bool consumer) {
  std::string err;
  auto set = [&](const std::string& key, const std::string& value, bool from_user) -> Status {
    if (conf.set(key, value, err) == RdKafka::Conf::CONF_OK) return Status::Ok();
    if (!from_user) return Status(StatusCode::kInternal, "kafka bus: " + key + ": " + err);
    // librdkafka's text may quote the value; a secret's is not passed on.
    return Status(StatusCode::kInvalidArgument,
                  "--bus-opt " + key + ": " + (IsSecret(key) ? "refused by librdkafka" : err));
  };
  for (const auto& [key, value] : Defaults(consumer)) {
    OMNI_RETURN_IF_ERROR(set(key, value, false));
  }
  // Given to both clients; librdkafka warns of one that only the other uses.
  for (const auto& [key, value] : o.properties) OMNI_RETURN_IF_ERROR(set(key, value, true));
  return set("bootstrap.servers", o.brokers, false);
}

// Logs a repeated condition once per period, with how often it happened.
class Throttled {
 public:
  void Warn(const std::string& what) {
    MutexLock lock(mu_);
    ++count_;
    const auto now = Clock::now();
    if (now < next_) return;
    if (count_ > 1) {
      spdlog::warn("{} ({} times in the last {} s)", what, count_,
                   std::chrono::duration_cast<std::chrono::seconds>(kLogEvery).count());
    } else {
      spdlog::warn("{}", what);
    }
    count_ = 0;
    next_ = now + kLogEvery;
  }

 private:
  Mutex mu_;
  Clock::time_point next_ GUARDED_BY(mu_);
  long count_ GUARDED_BY(mu_) = 0;
};

class KafkaBus final : public Bus, private RdKafka::DeliveryReportCb, private RdKafka::EventCb {
 public:
  explicit KafkaBus(KafkaBusOptions o)
      : options_(std::move(o)), origin_(bus_codec::RandomOrigin()), local_(MakeInprocBus()) {}

  ~KafkaBus() override {
    stop_.store(true);
    if (consumer_thread_.joinable()) consumer_thread_.join();
    if (consumer_) consumer_->close();
    if (producer_thread_.joinable()) producer_thread_.join();
    if (producer_) producer_->flush(2000);  // what is queued gets a last chance
  }

  Status Start() {
    std::string err;
    std::unique_ptr<RdKafka::Conf> pconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    OMNI_RETURN_IF_ERROR(SetAll(*pconf, options_, false));
    if (pconf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), err) !=
            RdKafka::Conf::CONF_OK ||
        pconf->set("event_cb", static_cast<RdKafka::EventCb*>(this), err) !=
            RdKafka::Conf::CONF_OK) {
      return Status(StatusCode::kInternal, "kafka bus: " + err);
    }
    producer_.reset(RdKafka::Producer::create(pconf.get(), err));
    if (!producer_) return Status(StatusCode::kInvalidArgument, "kafka bus: producer: " + err);

    std::unique_ptr<RdKafka::Conf> cconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    OMNI_RETURN_IF_ERROR(SetAll(*cconf, options_, true));
    if (cconf->set("group.id", "omnirelay-cp-" + origin_, err) != RdKafka::Conf::CONF_OK ||
        cconf->set("event_cb", static_cast<RdKafka::EventCb*>(this), err) !=
            RdKafka::Conf::CONF_OK) {
      return Status(StatusCode::kInternal, "kafka bus: " + err);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(cconf.get(), err));
    if (!consumer_) return Status(StatusCode::kInvalidArgument, "kafka bus: consumer: " + err);

    OMNI_ASSIGN_OR_RETURN(const int partitions, Partitions());
    std::vector<RdKafka::TopicPartition*> assignment;
    Status positioned = Status::Ok();
    for (int p = 0; p < partitions; ++p) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      const RdKafka::ErrorCode ec =
          producer_->query_watermark_offsets(options_.topic, p, &low, &high, 5000);
      if (ec != RdKafka::ERR_NO_ERROR) {
        positioned =
            Status(StatusCode::kUnavailable, "kafka bus: the end of " + options_.topic + "[" +
                                                 std::to_string(p) + "]: " + RdKafka::err2str(ec));
        break;
      }
      assignment.push_back(RdKafka::TopicPartition::create(options_.topic, p, high));
    }
    RdKafka::ErrorCode assigned = RdKafka::ERR_NO_ERROR;
    if (positioned.ok()) assigned = consumer_->assign(assignment);
    RdKafka::TopicPartition::destroy(assignment);
    OMNI_RETURN_IF_ERROR(positioned);
    if (assigned != RdKafka::ERR_NO_ERROR) {
      return Status(StatusCode::kUnavailable, "kafka bus: assign: " + RdKafka::err2str(assigned));
    }
    producer_thread_ = std::thread([this] {
      while (!stop_.load()) producer_->poll(kPollMs);
    });
    consumer_thread_ = std::thread([this] { Consume(); });
    spdlog::info("kafka bus: topic {} ({} partition(s)) on {}", options_.topic, partitions,
                 options_.brokers);
    return Status::Ok();
  }

  Status Publish(const ChangeEvent& event) override {
    (void)local_->Publish(event);  // this process's nodes first, whatever Kafka does
    std::string body = bus_codec::EventToJson(event);
    const RdKafka::ErrorCode ec = producer_->produce(
        options_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, body.data(),
        body.size(), origin_.data(), origin_.size(), 0, nullptr);
    if (ec != RdKafka::ERR_NO_ERROR) {
      return Status(StatusCode::kUnavailable, "kafka bus: not queued: " + RdKafka::err2str(ec));
    }
    return Status::Ok();
  }

  int Subscribe(Handler handler) override { return local_->Subscribe(std::move(handler)); }
  void Unsubscribe(int id) override { local_->Unsubscribe(id); }
  void DeliverLocally(const ChangeEvent& event) override { (void)local_->Publish(event); }

 private:
  // The topic's partition count; a topic the brokers create on first use
  // has no leader for a moment, so its metadata is asked again for a while.
  Result<int> Partitions() {
    std::string err;
    std::unique_ptr<RdKafka::Topic> topic(
        RdKafka::Topic::create(producer_.get(), options_.topic, nullptr, err));
    if (!topic) return Status(StatusCode::kInvalidArgument, "kafka bus: topic: " + err);
    const auto until = Clock::now() + kTopicWait;
    std::string why = "no answer";
    while (Clock::now() < until) {
      RdKafka::Metadata* raw = nullptr;
      const RdKafka::ErrorCode ec = producer_->metadata(false, topic.get(), &raw, 2000);
      std::unique_ptr<RdKafka::Metadata> md(raw);
      if (ec != RdKafka::ERR_NO_ERROR) {
        why = RdKafka::err2str(ec);
      } else {
        for (const RdKafka::TopicMetadata* t : *md->topics()) {
          if (t->topic() != options_.topic) continue;
          if (t->err() != RdKafka::ERR_NO_ERROR) {
            why = RdKafka::err2str(t->err());
            break;
          }
          const auto& parts = *t->partitions();
          const bool led = !parts.empty() && std::all_of(parts.begin(), parts.end(), [](auto* p) {
            return p->leader() >= 0 && p->err() == RdKafka::ERR_NO_ERROR;
          });
          if (led) return static_cast<int>(parts.size());
          why = "partitions without a leader";
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return Status(StatusCode::kUnavailable, "kafka bus: topic " + options_.topic + " on " +
                                                options_.brokers + " is not usable: " + why +
                                                " (does it exist, or do the brokers create "
                                                "topics on first use?)");
  }

  void Consume() {
    while (!stop_.load()) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(kPollMs));
      if (!m) continue;
      switch (m->err()) {
        case RdKafka::ERR_NO_ERROR:
          Deliver(*m);
          break;
        case RdKafka::ERR__TIMED_OUT:
        case RdKafka::ERR__PARTITION_EOF:
          break;
        default:
          consume_errors_.Warn("kafka bus: consume: " + m->errstr());
      }
    }
  }

  void Deliver(const RdKafka::Message& m) {
    const std::string* key = m.key();
    if (key != nullptr && *key == origin_) return;  // our own: handed on at Publish
    auto event =
        bus_codec::EventFromJson(std::string_view(static_cast<const char*>(m.payload()), m.len()));
    if (!event) {
      spdlog::warn("kafka bus: {}[{}] offset {} is not a change event; skipped", m.topic_name(),
                   m.partition(), m.offset());
      return;
    }
    (void)local_->Publish(*event);
  }

  // Producer thread (poll): one per event queued by Publish.
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() == RdKafka::ERR_NO_ERROR) return;
    if (options_.on_undelivered) options_.on_undelivered();
    undelivered_.Warn("kafka bus: a change event was not delivered to " + options_.topic + ": " +
                      m.errstr() + "; other replicas' nodes catch up through the store poll");
  }

  // Either client's thread: broker and client errors (reconnects, all
  // brokers down) and librdkafka's own log lines.
  void event_cb(RdKafka::Event& e) override {
    if (e.type() == RdKafka::Event::EVENT_ERROR) {
      client_errors_.Warn("kafka bus: " + RdKafka::err2str(e.err()) + ": " + e.str());
    } else if (e.type() == RdKafka::Event::EVENT_LOG &&
               e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
      // Every --bus-opt goes to both clients: the one it is not for says
      // so, which is expected, not worth a line.
      if (e.fac() == "CONFWARN" && e.str().find("will be ignored by this") != std::string::npos) {
        return;
      }
      client_errors_.Warn("kafka bus: " + e.fac() + ": " + e.str());
    }
  }

  const KafkaBusOptions options_;
  const std::string origin_;
  const std::unique_ptr<Bus> local_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  Throttled undelivered_, consume_errors_, client_errors_;
  std::atomic<bool> stop_{false};
  std::thread producer_thread_;
  std::thread consumer_thread_;
};

}  // namespace

Result<KafkaBusOptions> ParseKafkaBusUrl(std::string_view url,
                                         const std::vector<std::string>& properties) {
  constexpr std::string_view kScheme = "kafka://";
  const std::string kForm = "expected kafka://host:port[,host:port...]/topic";
  if (!url.starts_with(kScheme)) return Status(StatusCode::kInvalidArgument, kForm);
  const std::string_view rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument, "kafka bus url names no topic; " + kForm);
  }
  KafkaBusOptions o;
  const std::string_view brokers = rest.substr(0, slash);
  if (brokers.find('@') != std::string_view::npos) {
    // Not quoted: it holds credentials.
    return Status(StatusCode::kInvalidArgument,
                  "kafka bus url: credentials do not go in the url; pass them as librdkafka "
                  "properties (--bus-opt sasl.username=... --bus-opt sasl.password=...); " +
                      kForm);
  }
  o.topic = std::string(rest.substr(slash + 1));
  const bool topic_ok = !o.topic.empty() && o.topic.size() <= 249 &&
                        std::all_of(o.topic.begin(), o.topic.end(), [](char c) {
                          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                        });
  if (!topic_ok) {
    return Status(StatusCode::kInvalidArgument,
                  "kafka bus url: a topic is 1-249 of a-z A-Z 0-9 . _ -; " + kForm);
  }
  std::size_t start = 0;
  while (start <= brokers.size()) {
    const std::size_t comma = std::min(brokers.find(',', start), brokers.size());
    const std::string_view broker = brokers.substr(start, comma - start);
    const std::size_t colon = broker.rfind(':');
    const std::string_view port = colon == std::string_view::npos ? "" : broker.substr(colon + 1);
    int n = 0;
    const bool port_ok =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        (n = std::stoi(std::string(port))) >= 1 && n <= 65535;
    if (colon == 0 || !port_ok) {
      return Status(StatusCode::kInvalidArgument,
                    "kafka bus url: \"" + std::string(broker) + "\" is not host:port; " + kForm);
    }
    start = comma + 1;
  }
  o.brokers = std::string(brokers);
  for (const std::string& p : properties) {
    const std::size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status(StatusCode::kInvalidArgument,
                    "--bus-opt \"" + p.substr(0, p.find('=')) + "\" is not key=value");
    }
    std::string key = p.substr(0, eq);
    if (key == "bootstrap.servers" || key == "metadata.broker.list" || key == "group.id" ||
        key == "enable.auto.commit" || key == "dr_cb" || key == "event_cb") {
      return Status(
          StatusCode::kInvalidArgument,
          "--bus-opt " + key + ": set by the bus itself (brokers come from the kafka:// url)");
    }
    o.properties.emplace_back(std::move(key), p.substr(eq + 1));
  }
  return o;
}

Result<std::unique_ptr<Bus>> OpenKafkaBus(const KafkaBusOptions& options) {
  auto bus = std::make_unique<KafkaBus>(options);
  OMNI_RETURN_IF_ERROR(bus->Start());
  return std::unique_ptr<Bus>(std::move(bus));
}

}  // namespace omnirelay::cp
