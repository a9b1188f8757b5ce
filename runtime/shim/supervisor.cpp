// sysc-shim's event loop: init lifecycle (boot, reboot, halt, stop timeout), console fan-out,
// control requests from lxcd and console clients. Host side, single-threaded.
#include "runtime/shim/supervisor.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <ctime>
#include <sched.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fd_passing.h"
#include "common/fs.h"
#include "config/config.h"
#include "runtime/shim/network.h"

namespace sysc::shim {

using nlohmann::json;

namespace {

std::string exit_reason(const siginfo_t& info, bool stopping, bool forced) {
  if (info.si_code == CLD_EXITED)
    return info.si_status == 0 ? "exited" : "exited with status " + std::to_string(info.si_status);
  int sig = info.si_status;
  // reboot(2) in a child pid namespace ends its init: SIGINT = halt/poweroff, SIGHUP = reboot.
  if (sig == SIGINT) return "halted";
  if (sig == SIGKILL && forced) return "killed (forced stop)";
  if (sig == SIGKILL && stopping) return "killed after the stop timeout";
  return "killed by " + config::signal_name(sig);
}

// Held while a start's hand-offs are pending: lxcd's go byte, the child's records, the init's
// exec, then the status line. Each wakes the supervisor while the container's first processes
// keep the CPUs busy: at SCHED_OTHER it waited behind them for its turn (~0.25 ms a start on a
// 2-CPU host), at SCHED_FIFO it runs at once. Meanwhile it only sleeps or makes a few system
// calls. SCHED_RESET_ON_FORK: what it forks is never real-time; the child of the start then
// takes the supervisor's own policy and nice value back (runtime::set_child_sched), and so does
// the supervisor in lower(). Where the kernel refuses (no CAP_SYS_NICE, an RT group without
// runtime), nothing changes.
class StartPriority {
 public:
  StartPriority() {
    const int policy = sched_getscheduler(0);
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, 0);
    if (policy < 0 || (policy != SCHED_OTHER && policy != SCHED_BATCH && policy != SCHED_IDLE) || errno != 0) return;
    sched_param rt{};
    rt.sched_priority = 1;
    raised_ = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &rt) == 0;
    if (!raised_) return;
    policy_ = policy;
    runtime::set_child_sched(policy, nice);
  }
  StartPriority(const StartPriority&) = delete;
  StartPriority& operator=(const StartPriority&) = delete;
  ~StartPriority() { lower(); }
  void lower() {
    if (!raised_) return;
    raised_ = false;
    sched_param none{};
    sched_setscheduler(0, policy_, &none);  // the nice value stays what it was
  }

 private:
  bool raised_ = false;
  int policy_ = SCHED_OTHER;
};

// Gives the pages of the main thread's stack mapping [LOW, END) below this call back to the
// kernel, up to two pages under its frame (room for the madvise call's own). Never inlined: its
// frame lies below every caller's, so nothing live is in the range. MADV_DONTNEED makes the
// pages zero-filled again if the stack ever reaches them.
__attribute__((noinline)) void release_stack_below(uintptr_t low, uintptr_t end) {
  volatile char mark = 0;
  const uintptr_t here = reinterpret_cast<uintptr_t>(&mark);
  if (here <= low || here >= end) return;  // not on that stack (another thread's)
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t high = (here & ~(page - 1)) - 2 * page;
  if (high > low) (void)madvise(reinterpret_cast<void*>(low), high - low, MADV_DONTNEED);
}

// The start's deeper calls (the spec's parse, the plan, the clone) touched stack pages once; the
// supervisor then waits in its loop, high up the stack, for months. Gives them back. The main
// thread's stack is the mapping /proc/self/maps names "[stack]".
void release_unused_stack() {
  uintptr_t low = 0, end = 0;
  {
    auto maps = read_file("/proc/self/maps");
    if (!maps) return;
    const size_t tag = maps->find(" [stack]\n");
    if (tag == std::string::npos) return;
    const size_t line = maps->rfind('\n', tag);
    const char* start = maps->c_str() + (line == std::string::npos ? 0 : line + 1);
    char* dash = nullptr;
    low = strtoull(start, &dash, 16);
    if (!dash || *dash != '-') return;
    end = strtoull(dash + 1, nullptr, 16);
  }
  release_stack_below(low, end);
}

constexpr long long kReleaseDelayMs = 1000;  // after a boot has answered

long long now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

Supervisor::Supervisor(runtime::RuntimeSpec spec, runtime::ChildPlan plan, std::unique_ptr<cgroup::Driver> cg,
                       Console console, UniqueFd listen_fd, runtime::PremadeNamespaces premade)
    : spec_(std::move(spec)), plan_(std::move(plan)), cg_(std::move(cg)), console_(std::move(console)),
      listen_(std::move(listen_fd)), premade_(std::move(premade)) {}

Status Supervisor::boot() {
  if (!plan_) return make_error("start failed: no plan", EINVAL);  // each boot is given one
  plan_->finalize();
  // The first boot's cgroup was made ahead, while lxcd wrote the spec; reboots make their own
  // (the cgroup went with the previous init).
  bool cgroup_made = false;
  if (go_) {
    char byte = 0;
    ssize_t n;
    do n = read(go_.get(), &byte, 1);
    while (n < 0 && errno == EINTR);
    go_.reset();
    if (n != 1) {
      if (early_cgroup_) (void)cg_->destroy(spec_.cgroup);
      return make_error("start failed: called off by lxcd", ECANCELED);
    }
    if (early_cgroup_ && !*early_cgroup_) {
      (void)cg_->destroy(spec_.cgroup);  // levels made before the failure
      return std::move(*early_cgroup_).error().context("start failed at cgroup");
    }
    cgroup_made = early_cgroup_.has_value();
    early_cgroup_.reset();
  }
  // A holder that is gone (killed from outside) only means the namespaces are made here.
  const runtime::PremadeNamespaces* premade = premade_.alive() ? &premade_ : nullptr;
  auto started = runtime::start_container(*plan_, *cg_, spec_.cgroup, spec_.limits,
                                         [this](pid_t child) { return setup_nics(spec_.nics, child); }, cgroup_made,
                                         premade);
  if (!started) {
    // The dead child's netns goes away asynchronously; its veth must not outlive this failure.
    remove_nics(spec_.nics);
    return std::move(started).error();
  }
  init_ = std::move(*started);
  started_at_ = static_cast<long long>(time(nullptr));
  stopping_ = forced_ = false;
  epoll_add(init_.pidfd.get());
  return {};
}

int Supervisor::run(int status_fd, int go_fd, std::optional<Status> early_cgroup) {
  go_.reset(go_fd);
  early_cgroup_ = std::move(early_cgroup);
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  stop_timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  epoll_add(listen_.get());
  epoll_add(console_.master_fd());
  epoll_add(stop_timer_.get());
  StartPriority priority;
  Status st = boot();
  json status = st ? json{{"ok", true}, {"init_pid", init_.pid}, {"started_at", started_at_}}
                   : json{{"ok", false}, {"error", st.error().message}};
  std::string line = status.dump() + "\n";
  ssize_t ignored = write(status_fd, line.data(), line.size());
  (void)ignored;
  close(status_fd);
  priority.lower();  // after the write: lowered before it, it could wait behind the init again
  premade_.reset();  // what the init joined stays with it; unused ones (a privileged container) go
  if (!st) {
    (void)write_file_atomic(spec_.run_dir + "/exit.json",
                            json{{"reason", st.error().message}, {"at", time(nullptr)}}.dump() + "\n");
    return 1;
  }
  console_.log_line("container " + spec_.name + " started, init pid " + std::to_string(init_.pid));
  release_at_ = now_ms() + kReleaseDelayMs;
  loop();
  return 0;
}

// Once the init runs, what only a boot needs goes: the child's plan (a reboot makes it again),
// the heap pages that freed, and the stack the start went deep into. A supervisor per running
// container: ~35 KiB of its ~140 KiB of private memory.
void Supervisor::release_start_memory() {
  release_at_ = 0;
  plan_.reset();
  release_unused_stack();
  malloc_trim(0);
}

void Supervisor::loop() {
  epoll_event evs[32];
  while (!done_) {
    // The release waits until the start's first commands (an attach) are done with the CPUs.
    int timeout = -1;
    if (release_at_ != 0) {
      const long long left = release_at_ - now_ms();
      if (left <= 0) {
        release_start_memory();
        continue;
      }
      timeout = static_cast<int>(left);
    }
    int n = epoll_wait(epoll_.get(), evs, 32, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      finish("supervisor failure: epoll_wait: " + std::string(strerror(errno)));
      return;
    }
    for (int i = 0; i < n && !done_; ++i) {
      int fd = evs[i].data.fd;
      if (init_.pidfd && fd == init_.pidfd.get()) {
        on_init_exit();
      } else if (fd == listen_.get()) {
        int c = accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c >= 0) {
          clients_[c].fd.reset(c);
          epoll_add(c);
        }
      } else if (fd == console_.master_fd()) {
        console_.on_master_readable();
      } else if (fd == stop_timer_.get()) {
        uint64_t ticks;
        ssize_t ignored = read(fd, &ticks, sizeof ticks);
        (void)ignored;
        if (init_.pidfd) syscall(SYS_pidfd_send_signal, init_.pidfd.get(), SIGKILL, nullptr, 0);
      } else if (console_.is_client(fd)) {
        if (!console_.on_client_readable(fd)) epoll_del(fd);
      } else {
        on_control(fd);
      }
    }
  }
}

void Supervisor::on_init_exit() {
  siginfo_t info{};
  if (waitid(P_PIDFD, static_cast<id_t>(init_.pidfd.get()), &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0)
    return;
  epoll_del(init_.pidfd.get());
  init_.pidfd.reset();
  init_.pid = 0;
  console_.on_master_readable();  // last words of the init
  // Everything left in the pid namespace was killed with its init; the cgroup empties.
  Status cleaned = cg_->destroy(spec_.cgroup);
  remove_nics(spec_.nics);
  bool reboot = info.si_code == CLD_KILLED && info.si_status == SIGHUP && !stopping_;
  if (reboot && cleaned) {
    console_.log_line("container " + spec_.name + " is rebooting");
    broadcast(json{{"event", "rebooting"}}.dump(), /*watchers_only=*/true);
    // Made again from the spec, as the first boot's was, before the start's priority is raised.
    auto plan = runtime::make_child_plan(spec_, cg_->container_mounts(), console_.slave_path());
    if (!plan) return finish("reboot failed at plan: " + plan.error().message);
    plan_ = std::move(*plan);
    StartPriority priority;
    if (Status st = boot(); !st) return finish("reboot failed: " + st.error().message);
    priority.lower();
    console_.log_line("container " + spec_.name + " started, init pid " + std::to_string(init_.pid));
    broadcast(state_event(), /*watchers_only=*/true);
    release_at_ = now_ms() + kReleaseDelayMs;
    return;
  }
  std::string reason = exit_reason(info, stopping_, forced_);
  if (!cleaned) reason += "; cgroup cleanup failed: " + cleaned.error().message;
  finish(reason);
}

void Supervisor::finish(const std::string& reason) {
  console_.log_line("container " + spec_.name + " stopped: " + reason);
  // The exit record first: if lxcd is not listening, it finds the reason here on its next start.
  (void)write_file_atomic(spec_.run_dir + "/exit.json", json{{"reason", reason}, {"at", time(nullptr)}}.dump() + "\n", 0644,
                          /*durable=*/false);
  ::unlink((spec_.run_dir + "/shim.sock").c_str());
  std::string ev = json{{"event", "stopped"}, {"reason", reason}}.dump();
  for (auto& [fd, c] : clients_)
    if (c.watching || c.awaiting_stop) send(c, ev);
  done_ = true;
}

std::string Supervisor::state_event() const {
  json j{{"event", "state"}, {"state", stopping_ ? "STOPPING" : "RUNNING"}, {"init_pid", init_.pid},
         {"started_at", started_at_}};
  return j.dump();
}

void Supervisor::request_stop(int timeout, bool force) {
  if (!init_.pidfd) return;
  stopping_ = true;
  forced_ = forced_ || force || timeout <= 0;
  int sig = forced_ ? SIGKILL : spec_.halt_signal;
  console_.log_line("stopping container " + spec_.name + " with " + config::signal_name(sig));
  syscall(SYS_pidfd_send_signal, init_.pidfd.get(), sig, nullptr, 0);
  if (!forced_) {
    itimerspec its{};
    its.it_value.tv_sec = timeout;
    timerfd_settime(stop_timer_.get(), 0, &its, nullptr);
  }
}

void Supervisor::on_control(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Client& c = it->second;
  char buf[4096];
  int passed_fd = -1;
  ssize_t n = recv_with_fds(fd, buf, sizeof buf, &passed_fd, 1, MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN) return;
  UniqueFd passed(passed_fd);
  if (n <= 0) {
    epoll_del(fd);
    clients_.erase(it);
    return;
  }
  c.inbuf.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = c.inbuf.find('\n')) != std::string::npos) {
    std::string line = c.inbuf.substr(0, nl);
    c.inbuf.erase(0, nl + 1);
    handle_request(c, line, std::move(passed));
  }
}

void Supervisor::handle_request(Client& c, const std::string& line, UniqueFd passed_fd) {
  json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
  // A malformed request is answered, never fatal: the container's life hangs on this process.
  auto field = [&](const char* key, auto fallback) {
    using T = decltype(fallback);
    if (!req.is_object() || !req.contains(key)) return fallback;
    const json& v = req[key];
    if constexpr (std::is_same_v<T, bool>) return v.is_boolean() ? v.get<bool>() : fallback;
    else if constexpr (std::is_same_v<T, int>) return v.is_number_integer() ? v.get<int>() : fallback;
    else return v.is_string() ? v.get<std::string>() : fallback;
  };
  std::string op = field("op", std::string());
  if (op == "watch") {
    c.watching = true;
    send(c, state_event());
  } else if (op == "status") {
    send(c, state_event());
  } else if (op == "stop") {
    c.awaiting_stop = true;
    request_stop(std::clamp(field("timeout", spec_.stop_timeout), 0, 86400), field("force", false));
  } else if (op == "console" && passed_fd) {
    int raw = passed_fd.get();
    int flags = fcntl(raw, F_GETFL);
    fcntl(raw, F_SETFL, flags | O_NONBLOCK);
    console_.add_client(std::move(passed_fd));
    epoll_add(raw);
    send(c, json{{"ok", true}}.dump());
  } else {
    send(c, json{{"error", "unknown request"}}.dump());
  }
}

void Supervisor::send(Client& c, const std::string& json_line) {
  std::string l = json_line + "\n";
  ssize_t ignored = ::send(c.fd.get(), l.data(), l.size(), MSG_NOSIGNAL);
  (void)ignored;
}

void Supervisor::broadcast(const std::string& json_line, bool watchers_only) {
  for (auto& [fd, c] : clients_)
    if (!watchers_only || c.watching) send(c, json_line);
}

void Supervisor::epoll_add(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

void Supervisor::epoll_del(int fd) { epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

}  // namespace sysc::shim
