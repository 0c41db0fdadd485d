#include <deque>
#include <map>
#include <thread>

#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/bus.h"

namespace omnirelay::cp {
namespace {

class InprocBus final : public Bus {
 public:
  InprocBus() : thread_([this] { Run(); }) {}
  ~InprocBus() override {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    cv_.NotifyAll();
    thread_.join();
  }

  Status Publish(const ChangeEvent& event) override {
    {
      MutexLock lock(mu_);
      queue_.push_back(event);
    }
    cv_.NotifyOne();
    return Status::Ok();
  }

  int Subscribe(Handler handler) override {
    MutexLock lock(handlers_mu_);
    handlers_.emplace(next_id_, std::move(handler));
    return next_id_++;
  }

  void Unsubscribe(int id) override {
    MutexLock lock(handlers_mu_);
    handlers_.erase(id);
  }

 private:
  void Run() {
    MutexLock lock(mu_);
    while (true) {
      while (!stopping_ && queue_.empty()) cv_.Wait(mu_);
      if (queue_.empty()) return;  // stopping and drained
      ChangeEvent event = std::move(queue_.front());
      queue_.pop_front();
      lock.Unlock();
      {
        MutexLock handlers_lock(handlers_mu_);
        for (auto& [id, handler] : handlers_) handler(event);
      }
      lock.Lock();
    }
  }

  Mutex mu_;
  CondVar cv_;
  std::deque<ChangeEvent> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  Mutex handlers_mu_;
  std::map<int, Handler> handlers_ GUARDED_BY(handlers_mu_);
  int next_id_ GUARDED_BY(handlers_mu_) = 1;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace

std::unique_ptr<Bus> MakeInprocBus() {
  return std::make_unique<InprocBus>();
}

Result<std::unique_ptr<Bus>> OpenBus(std::string_view url, const BusOpenOptions& options) {
  constexpr const char* kAccepted =
      "accepted: inproc, redis://host:port/stream or kafka://host:port[,host:port...]/topic";
  const bool inproc = url == "inproc" || url.empty();
  if (inproc) {
    if (!options.properties.empty()) {
      return Status(StatusCode::kInvalidArgument, "--bus-opt applies to a kafka:// bus only");
    }
    return MakeInprocBus();
  }
  // Only the scheme is quoted back: a bus url may carry a password.
  if (url.find("://") == std::string_view::npos) {
    // Not quoted: a mistyped url may still hold a password.
    return Status(StatusCode::kInvalidArgument,
                  std::string("the bus is not inproc nor a url (scheme://...); ") + kAccepted);
  }
  const std::string scheme(url.substr(0, url.find("://")));
  if (scheme == "kafka") {
    OMNI_ASSIGN_OR_RETURN(KafkaBusOptions kafka, ParseKafkaBusUrl(url, options.properties));
    kafka.on_undelivered = options.on_undelivered;
    return OpenKafkaBus(kafka);
  }
  if (!options.properties.empty()) {
    return Status(StatusCode::kInvalidArgument, "--bus-opt applies to a kafka:// bus only");
  }
  if (scheme == "redis") {
    OMNI_ASSIGN_OR_RETURN(RedisBusOptions redis, ParseRedisBusUrl(url));
    return OpenRedisBus(redis);
  }
  return Status(StatusCode::kInvalidArgument,
                "bus scheme \"" + scheme + "\" is not supported; " + kAccepted);
}

}  // namespace omnirelay::cp
