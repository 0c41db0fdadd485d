#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "omnirelay/controlplane/bus.h"

namespace omnirelay::cp {
namespace {

class InprocBus final : public Bus {
 public:
  InprocBus() : thread_([this] { Run(); }) {}
  ~InprocBus() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  Status Publish(const ChangeEvent& event) override {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(event);
    }
    cv_.notify_one();
    return Status::Ok();
  }

  int Subscribe(Handler handler) override {
    std::lock_guard lock(handlers_mu_);
    handlers_.emplace(next_id_, std::move(handler));
    return next_id_++;
  }

  void Unsubscribe(int id) override {
    std::lock_guard lock(handlers_mu_);
    handlers_.erase(id);
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      ChangeEvent event = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      {
        std::lock_guard handlers_lock(handlers_mu_);
        for (auto& [id, handler] : handlers_) handler(event);
      }
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChangeEvent> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;          // GUARDED_BY(mu_)
  std::mutex handlers_mu_;
  std::map<int, Handler> handlers_;  // GUARDED_BY(handlers_mu_)
  int next_id_ = 1;                  // GUARDED_BY(handlers_mu_)
  std::thread thread_;               // last: starts after the members it uses
};

}  // namespace

std::unique_ptr<Bus> MakeInprocBus() {
  return std::make_unique<InprocBus>();
}

Result<std::unique_ptr<Bus>> OpenBus(std::string_view url) {
  if (url == "inproc" || url.empty()) return MakeInprocBus();
  if (url.rfind("redis://", 0) == 0 || url.rfind("kafka://", 0) == 0) {
    return Status(
        StatusCode::kInvalidArgument,
        "bus \"" + std::string(url) + "\": the Redis and Kafka adapters are not built yet");
  }
  return Status(StatusCode::kInvalidArgument,
                "bus \"" + std::string(url) +
                    "\" is not supported; accepted: inproc (Redis and Kafka adapters are "
                    "not built yet)");
}

}  // namespace omnirelay::cp
