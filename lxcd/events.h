// EventBus: lxcd's lifecycle events (created, started, stopped, destroyed, reboot, oom, restart)
// fanned out to every `GET /1.0/events` stream. Thread-safe; publishers never block on readers.
#pragma once

#include <condition_variable>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace sysc::lxcd {

class EventBus {
 public:
  // One reader's queue. A reader that falls kMaxQueued events behind is cut off (overflowed).
  class Subscription {
   public:
    // The next event, or nullopt after timeout_ms (or when overflowed: check overflowed()).
    std::optional<nlohmann::json> next(int timeout_ms);
    bool overflowed();

   private:
    friend class EventBus;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<nlohmann::json> queue_;
    bool overflowed_ = false;
  };
  static constexpr size_t kMaxQueued = 4096;

  // {"time": unix seconds (ms precision), "container", "event", "detail"} to every subscriber.
  void publish(const std::string& container, const std::string& event, const std::string& detail = "");
  std::shared_ptr<Subscription> subscribe();
  void unsubscribe(const std::shared_ptr<Subscription>& sub);

 private:
  std::mutex mu_;
  std::list<std::shared_ptr<Subscription>> subs_;
};

}  // namespace sysc::lxcd
