// The event fan-out of lxcd (any thread publishes; API threads read their own queue).
#include "lxcd/events.h"

#include <algorithm>
#include <chrono>

namespace sysc::lxcd {

std::optional<nlohmann::json> EventBus::Subscription::next(int timeout_ms) {
  std::unique_lock<std::mutex> g(mu_);
  cv_.wait_for(g, std::chrono::milliseconds(timeout_ms), [this] { return !queue_.empty() || overflowed_; });
  if (queue_.empty() || overflowed_) return std::nullopt;
  nlohmann::json ev = std::move(queue_.front());
  queue_.pop_front();
  return ev;
}

bool EventBus::Subscription::overflowed() {
  std::lock_guard<std::mutex> g(mu_);
  return overflowed_;
}

void EventBus::publish(const std::string& container, const std::string& event, const std::string& detail) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  double t = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) / 1000.0;
  nlohmann::json ev{{"time", t}, {"container", container}, {"event", event}, {"detail", detail}};
  std::lock_guard<std::mutex> g(mu_);
  for (auto& s : subs_) {
    std::lock_guard<std::mutex> sg(s->mu_);
    if (s->queue_.size() >= kMaxQueued) s->overflowed_ = true;
    else s->queue_.push_back(ev);
    s->cv_.notify_one();
  }
}

std::shared_ptr<EventBus::Subscription> EventBus::subscribe() {
  auto s = std::make_shared<Subscription>();
  std::lock_guard<std::mutex> g(mu_);
  subs_.push_back(s);
  return s;
}

void EventBus::unsubscribe(const std::shared_ptr<Subscription>& sub) {
  std::lock_guard<std::mutex> g(mu_);
  subs_.remove(sub);
}

}  // namespace sysc::lxcd
