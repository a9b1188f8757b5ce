// Supervisor: the single-threaded epoll loop of sysc-shim. It owns the container's init (its
// parent), the console, the control socket that lxcd and `sysc console` talk to, and the exit record.
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/cgroup.h"
#include "runtime/child.h"
#include "runtime/child_plan.h"
#include "runtime/container.h"
#include "runtime/spec.h"
#include "runtime/shim/console.h"

namespace sysc::shim {

// Control protocol (one JSON object per line on ROOT/run/sysc/NAME/shim.sock):
//   {"op":"watch"}   -> {"event":"state",...} now, then every event: "running", "rebooting", "stopped"
//   {"op":"status"}  -> {"event":"state","state":"RUNNING","init_pid":N,"started_at":T}
//   {"op":"stop","timeout":S,"force":B} -> {"event":"stopped","reason":"..."} when init is gone
//   {"op":"console"} with an fd in SCM_RIGHTS -> that fd becomes a console client
class Supervisor {
 public:
  // PREMADE: namespaces a spare made ahead, for the first boot (reboots make their own).
  Supervisor(runtime::RuntimeSpec spec, runtime::ChildPlan plan, std::unique_ptr<cgroup::Driver> cg,
             Console console, UniqueFd listen_fd, runtime::PremadeNamespaces premade = {});
  // Starts the container; `status_fd` gets one JSON line ({"ok":true,"init_pid":N} or
  // {"ok":false,"error":"..."}) and is closed. Returns the process exit code. go_fd: lxcd's go
  // pipe, on which it writes one byte once the start is recorded; EOF instead calls the start
  // off. EARLY_CGROUP: how making the container's cgroup went, when that was done before the
  // spec came (its limits are written after the go); without it the first boot makes it.
  int run(int status_fd, int go_fd, std::optional<Status> early_cgroup = std::nullopt);

 private:
  struct Client {
    UniqueFd fd;
    std::string inbuf;
    bool watching = false;
    bool awaiting_stop = false;
  };

  Status boot();
  void release_start_memory();
  void loop();
  void on_init_exit();
  void on_control(int fd);
  void handle_request(Client& c, const std::string& line, UniqueFd passed_fd);
  void request_stop(int timeout, bool force);
  void send(Client& c, const std::string& json_line);
  void broadcast(const std::string& json_line, bool watchers_only);
  std::string state_event() const;
  void finish(const std::string& reason);
  void epoll_add(int fd);
  void epoll_del(int fd);

  runtime::RuntimeSpec spec_;
  std::optional<runtime::ChildPlan> plan_;  // until a boot has answered (reboots make it again)
  std::unique_ptr<cgroup::Driver> cg_;
  Console console_;
  UniqueFd listen_;
  UniqueFd go_;                        // until the first boot
  std::optional<Status> early_cgroup_;  // the first boot's cgroup, made ahead
  runtime::PremadeNamespaces premade_;  // until the first boot has answered
  UniqueFd epoll_;
  UniqueFd stop_timer_;
  runtime::StartedInit init_;
  long long started_at_ = 0;
  long long release_at_ = 0;  // CLOCK_MONOTONIC ms at which release_start_memory runs; 0: none due
  bool stopping_ = false;
  bool forced_ = false;
  bool done_ = false;
  std::map<int, Client> clients_;
};

}  // namespace sysc::shim
