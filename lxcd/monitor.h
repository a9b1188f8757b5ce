// Monitor: one thread watching every running container's shim over its control socket, so state
// changes (reboot, halt from inside, crash) reach the database while nobody is asking.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "lxcd/shim_client.h"

namespace sysc::lxcd {

class Monitor {
 public:
  // on_event(name, shim_pid, event) for each line; on_gone(name, shim_pid) when the socket closes.
  using EventFn = std::function<void(const std::string&, int, const nlohmann::json&)>;
  using GoneFn = std::function<void(const std::string&, int)>;
  Monitor(EventFn on_event, GoneFn on_gone);
  ~Monitor();
  // Takes a connection that already sent {"op":"watch"}.
  void watch(const std::string& name, int shim_pid, ShimConnection conn);

 private:
  struct Watched {
    std::string name;
    int shim_pid;
    ShimConnection conn;
  };
  void run();

  EventFn on_event_;
  GoneFn on_gone_;
  UniqueFd epoll_, wake_;
  std::mutex mu_;
  std::map<int, Watched> watched_;
  std::thread thread_;
  bool quit_ = false;
};

}  // namespace sysc::lxcd
