// Parent side of a container start (sysc-shim, single-threaded): clone3, cgroup placement,
// sync protocol (see child.h), cleanup of a half-started child.
#include "runtime/container.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

#include "common/fd_passing.h"
#include "runtime/userns.h"

namespace sysc::runtime {

namespace {

constexpr int kSetupTimeoutMs = 60000;
constexpr unsigned long long kNamespaces =
    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;

Error child_error(const ChildFailure& f) {
  std::string where = child_step_name(f.step);
  if (f.detail[0]) where += std::string(" ") + (f.step == kStepMount ? "/" : "") + f.detail;
  return Error{f.err, "start failed at " + where + ": " + std::strerror(f.err)};
}

// Kill and reap a child that did not make it to exec, then drop its cgroup.
void abort_child(pid_t pid, int pidfd, cgroup::Driver& cg, const std::string& rel) {
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  siginfo_t info;
  while (waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED) != 0 && errno == EINTR) {
  }
  (void)pid;
  (void)cg.destroy(rel);
}

// Detached mounts for the child (see child.h): none, the idmapped rootfs, or an idmapped
// overlay's lower layer and the directory of its upper and work.
struct ChildMounts {
  UniqueFd fd[2];
};

// The child's id maps; with an idmapped rootfs, the detached mounts idmapped to the child's user
// namespace (made here, by host root: the filesystem belongs to the host).
Result<ChildMounts> prepare_userns(const ChildPlan& plan, pid_t pid) {
  TRY(write_id_maps(pid, plan.idmap));
  ChildMounts out;
  if (!plan.idmap.idmapped_rootfs) return out;
  const std::string ns = "/proc/" + std::to_string(pid) + "/ns/user";
  UniqueFd userns(open(ns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!userns) return sys_error("open " + ns);
  if (plan.overlay.enabled()) {
    out.fd[0] = TRY(idmapped_tree(plan.overlay.lower, userns.get()));
    out.fd[1] = TRY(idmapped_tree(plan.overlay.dir(), userns.get()));
  } else {
    out.fd[0] = TRY(idmapped_tree(plan.rootfs, userns.get()));
  }
  return out;
}

// Keeps the calling thread, and so a child it clones, on the CPU it runs on, until restore().
// The new task then waits on a CPU that is already awake and runs as soon as its parent blocks
// for it, instead of being placed on an idle CPU that first has to be woken: on virtual machines
// whose idle vCPUs halt, that wake-up alone costs 0.05-2.5 ms. Right after the clone the parent
// puts its saved mask back; the child takes every CPU of its cpuset (cgroup::allow_cpuset_cpus).
class CpuPin {
 public:
  CpuPin() {
    int cpu = sched_getcpu();
    if (cpu < 0 || sched_getaffinity(0, sizeof saved_, &saved_) != 0 || CPU_COUNT(&saved_) < 2) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pinned_ = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  CpuPin(const CpuPin&) = delete;
  CpuPin& operator=(const CpuPin&) = delete;
  ~CpuPin() { restore(); }
  // Its saved mask again, or every CPU of its cpuset if that fails (the cpuset changed meanwhile).
  void restore() {
    if (!pinned_) return;
    pinned_ = false;
    if (sched_setaffinity(0, sizeof saved_, &saved_) != 0) cgroup::allow_cpuset_cpus();
  }

 private:
  cpu_set_t saved_{};
  bool pinned_ = false;
};

// The sync 1 byte, carrying the mounts of M (if any) as SCM_RIGHTS.
ssize_t send_go(int sock, const ChildMounts& m) {
  const char go = 1;
  int fds[2];
  size_t count = 0;
  for (const UniqueFd& fd : m.fd)
    if (fd) fds[count++] = fd.get();
  return send_with_fds(sock, &go, 1, fds, count);
}

using Deadline = std::chrono::steady_clock::time_point;

Deadline setup_deadline() { return std::chrono::steady_clock::now() + std::chrono::milliseconds(kSetupTimeoutMs); }

// poll(2) for POLLIN on FD until DEADLINE: >0 ready, 0 timed out, <0 error.
int poll_until(int fd, Deadline deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{fd, POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (ready >= 0 || errno != EINTR) return ready;
  }
}

// sync 2: a failure record, or EOF once execve closed the child's end (the init's; a child that
// forked the init has closed its own by exiting). A child stuck before execve (a hung
// filesystem under the rootfs) is given up on at DEADLINE (kSetupTimeoutMs after the clone).
Result<StartedInit> await_exec(int sock, StartedInit started, cgroup::Driver& cg, const std::string& rel,
                               Deadline deadline) {
  ChildFailure f;
  ssize_t n = -1;
  const int ready = poll_until(sock, deadline);
  if (ready == 0) {
    abort_child(started.pid, started.pidfd.get(), cg, rel);
    return make_error("start failed at setup: the container did not reach execve within " +
                          std::to_string(kSetupTimeoutMs / 1000) + " s",
                      ETIMEDOUT);
  }
  do n = read(sock, &f, sizeof f);
  while (n < 0 && errno == EINTR);
  if (n == 0) return started;
  Error e = n == static_cast<ssize_t>(sizeof f) ? child_error(f) : sys_error("start failed at sync");
  abort_child(started.pid, started.pidfd.get(), cg, rel);
  return e;
}

// The first record of a child that joins premade namespaces: kStepInitForked with the init's
// pidfd, or its own failure (the init waits until that record is sent). The child is reaped here
// either way, and an init it forked is killed and reaped unless the record was right.
Result<StartedInit> await_init_forked(int sock, pid_t child, Deadline deadline) {
  auto reap = [child] {
    int st;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
  };
  const int ready = poll_until(sock, deadline);
  if (ready == 0) {
    kill(child, SIGKILL);
    reap();
    return make_error("start failed at join namespaces: no answer within " + std::to_string(kSetupTimeoutMs / 1000) + " s",
                      ETIMEDOUT);
  }
  ChildFailure f;
  int fd = -1;
  const ssize_t n = recv_with_fds(sock, &f, sizeof f, &fd, 1);
  const int err = errno;
  UniqueFd pidfd(fd);
  reap();
  if (n == static_cast<ssize_t>(sizeof f) && f.step == kStepInitForked && pidfd && f.err > 0)
    return StartedInit{static_cast<pid_t>(f.err), std::move(pidfd)};
  if (pidfd) {
    syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    siginfo_t info;
    while (waitid(P_PIDFD, static_cast<id_t>(pidfd.get()), &info, WEXITED) != 0 && errno == EINTR) {
    }
  }
  if (n == static_cast<ssize_t>(sizeof f) && f.step != kStepInitForked) return child_error(f);
  return n < 0 ? sys_error("start failed at sync", err) : make_error("start failed at sync: the child ended early", EIO);
}

}  // namespace

Result<PremadeNamespaces> PremadeNamespaces::make() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return sys_error("premade namespaces: pipe");
  UniqueFd wait_end(p[0]), release(p[1]);
  const pid_t parent = getpid();
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return sys_error("premade namespaces: clone3");
  if (pid == 0) {
    // Holds the namespaces and nothing else: of the supervisor's descriptors only stdio (lxcd's
    // log, /dev/null) stays open here.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_DUMPABLE, 0);
    if (getppid() != parent) _exit(0);
    const int keep = wait_end.get();
    syscall(SYS_close_range, 3, keep - 1, 0);
    syscall(SYS_close_range, keep + 1, ~0U, 0);
    // Its network namespace's loopback up now, off the start's path (the start's child brings it
    // up itself where this did not).
    loopback_up_if_down();
    char c;
    while (read(keep, &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  PremadeNamespaces ns;
  ns.holder_ = static_cast<pid_t>(pid);
  ns.pidfd_.reset(pidfd);
  ns.release_ = std::move(release);
  return ns;
}

PremadeNamespaces& PremadeNamespaces::operator=(PremadeNamespaces&& o) noexcept {
  if (this != &o) {
    reset();
    holder_ = std::exchange(o.holder_, 0);
    pidfd_ = std::move(o.pidfd_);
    release_ = std::move(o.release_);
  }
  return *this;
}

bool PremadeNamespaces::alive() const {
  // A pidfd polls readable once its process has exited (a zombie too, which a signal still reaches).
  pollfd pfd{pidfd_.get(), POLLIN, 0};
  return holder_ > 0 && poll(&pfd, 1, 0) == 0;
}

void PremadeNamespaces::reset() {
  if (holder_ <= 0) return;
  release_.reset();
  syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  siginfo_t info;
  while (waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) != 0 && errno == EINTR) {
  }
  pidfd_.reset();
  holder_ = 0;
}

Status prepare_cgroup(cgroup::Driver& cg, const std::string& rel, const Limits& limits, const IdMap& idmap, bool made) {
  if (!made) {
    if (auto st = cg.create(rel); !st) {
      (void)cg.destroy(rel);  // levels made before the failure
      return std::move(st).error().context("start failed at cgroup");
    }
  }
  // Before the clone and the attach: the child enters an already limited cgroup.
  Status limited = cg.apply_limits(rel, limits);
  if (!limited && made) {
    // Made below levels another driver set up before (parents_ready): one may have changed
    // since (a controller enabled above it later). Set them all up again, then retry once.
    cg.forget_parents(rel);
    if (cg.create(rel)) limited = cg.apply_limits(rel, limits);
  }
  if (!limited) {
    (void)cg.destroy(rel);
    return std::move(limited).error().context("start failed at cgroup limits");
  }
  // Delegated to the container's root, so its init can manage the subtree (systemd does).
  if (idmap.enabled()) {
    if (auto st = delegate_cgroup(cg.paths(rel), idmap.host_uid, idmap.host_gid); !st) {
      (void)cg.destroy(rel);
      return std::move(st).error().context("start failed at cgroup");
    }
  }
  return {};
}

Result<StartedInit> start_container(const ChildPlan& plan, cgroup::Driver& cg, const std::string& rel, const Limits& limits,
                                    const std::function<Status(pid_t)>& parent_setup, bool cgroup_made,
                                    const PremadeNamespaces* premade) {
  TRY(prepare_cgroup(cg, rel, limits, plan.idmap, cgroup_made));
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    (void)cg.destroy(rel);
    return sys_error("start failed at sync socketpair");
  }
  UniqueFd parent_end(sv[0]), child_end(sv[1]);

  // The child is born in its cgroup2 cgroup and moves itself into the v1 ones: no migration by
  // pid, whose global lock would make every start wait for an RCU grace period.
  const cgroup::JoinPlan join = cg.join_plan(rel);
  UniqueFd cgroup_dir;
  if (!join.clone_into.empty()) {
    cgroup_dir.reset(open(join.clone_into.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cgroup_dir) {
      Error e = sys_error("start failed at cgroup attach: open " + join.clone_into);
      (void)cg.destroy(rel);
      return e;
    }
  }
  const std::string clone_failed = cgroup_dir ? "start failed at clone3 into " + join.clone_into : "start failed at clone3";
  // Two tasks are in the cgroup while the init is forked: not with a pids limit of 1.
  const bool two_tasks_fit = !limits.pids || *limits.pids >= 2;
  if (premade && *premade && plan.idmap.enabled() && two_tasks_fit) {
    // Everything the child needs from this side is done before the clone: no sync 1.
    auto mounts = prepare_userns(plan, premade->holder());
    if (!mounts) {
      (void)cg.destroy(rel);
      return std::move(mounts).error().context("start failed at user namespace");
    }
    if (parent_setup) {
      if (auto st = parent_setup(premade->holder()); !st) {
        (void)cg.destroy(rel);
        return std::move(st).error().context("start failed at network");
      }
    }
    clone_args args{};
    args.flags = cgroup_dir ? CLONE_INTO_CGROUP : 0;
    args.exit_signal = SIGCHLD;
    args.cgroup = cgroup_dir ? static_cast<uint64_t>(cgroup_dir.get()) : 0;
    CpuPin pin;  // kept by the child for the init it forks, which then takes its cpuset's CPUs
    const Deadline deadline = setup_deadline();
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
      close(parent_end.release());
      const int fds[2] = {mounts->fd[0].get(), mounts->fd[1].get()};
      run_child_in_premade(plan, join.self_tasks, child_end.get(), premade->holder_pidfd(), fds);
    }
    pin.restore();
    if (pid < 0) {
      Error e = sys_error(clone_failed);
      (void)cg.destroy(rel);
      return e;
    }
    cgroup_dir.reset();
    child_end.reset();
    *mounts = ChildMounts{};
    auto started = await_init_forked(parent_end.get(), static_cast<pid_t>(pid), deadline);
    if (!started) {
      (void)cg.destroy(rel);
      return std::move(started).error();
    }
    return await_exec(parent_end.get(), std::move(*started), cg, rel, deadline);
  }

  int pidfd = -1;
  clone_args args{};
  // With CLONE_NEWUSER the other new namespaces belong to the new user namespace.
  args.flags = kNamespaces | CLONE_PIDFD | (plan.idmap.enabled() ? CLONE_NEWUSER : 0) |
               (cgroup_dir ? CLONE_INTO_CGROUP : 0);
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.cgroup = cgroup_dir ? static_cast<uint64_t>(cgroup_dir.get()) : 0;
  CpuPin pin;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  // The pin has done its work once the child exists. The container's CPUs are its cpuset's:
  // neither the pin nor a mask the shim inherited from lxcd.
  if (pid == 0)
    cgroup::allow_cpuset_cpus();
  else
    pin.restore();
  if (pid < 0) {
    Error e = sys_error(clone_failed);
    (void)cg.destroy(rel);
    return e;
  }
  if (pid == 0) {
    // The parent's end must not stay open here: if the shim dies before sync 1, the child's
    // read has to see EOF instead of waiting forever.
    close(parent_end.release());
    run_child(plan, join.self_tasks, child_end.get());
  }
  cgroup_dir.reset();
  child_end.reset();
  StartedInit started{static_cast<pid_t>(pid), UniqueFd(pidfd)};

  // sync 1: write its id maps (and set up its network), then let it go on.
  ChildMounts mounts;
  if (plan.idmap.enabled()) {
    if (auto m = prepare_userns(plan, started.pid); !m) {
      abort_child(started.pid, pidfd, cg, rel);
      return std::move(m).error().context("start failed at user namespace");
    } else {
      mounts = std::move(*m);
    }
  }
  if (parent_setup) {
    if (auto st = parent_setup(started.pid); !st) {
      abort_child(started.pid, pidfd, cg, rel);
      return std::move(st).error().context("start failed at network");
    }
  }
  if (send_go(parent_end.get(), mounts) != 1) {
    Error e = sys_error("start failed at sync");
    abort_child(started.pid, pidfd, cg, rel);
    return e;
  }
  return await_exec(parent_end.get(), std::move(started), cg, rel, setup_deadline());
}

}  // namespace sysc::runtime
