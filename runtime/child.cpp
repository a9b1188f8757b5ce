// Container child setup. Runs in the clone3 child: new pid, mount, uts, ipc and net namespaces
// already entered; the cgroup namespace is entered here once the parent placed us in our cgroups.
// Async-signal-safe only: no allocation, no logging, no exceptions.
#include "runtime/child.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/mounts.h"

namespace sysc::runtime {

namespace {

const char* const kStepNames[] = {
    "sync", "cgroup namespace", "sethostname", "mount propagation", "rootfs bind", "mount",
    "pivot_root", "detach old root", "console", "loopback", "security", "execve",
};

[[noreturn]] void fail(int sync_fd, int step, int err, const char* detail = nullptr) {
  ChildFailure f;
  f.step = step;
  f.err = err;
  if (detail) {
    size_t i = 0;
    for (; detail[i] && i + 1 < sizeof f.detail; ++i) f.detail[i] = detail[i];
    f.detail[i] = '\0';
  }
  ssize_t ignored = write(sync_fd, &f, sizeof f);
  (void)ignored;
  _exit(127);
}

// sync 1: wait until the parent moved us into our cgroups.
void wait_for_parent(int sync_fd) {
  char c;
  ssize_t n;
  do n = read(sync_fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(126);  // parent gone or gave up: nothing to report to
}

void setup_filesystem(const ChildPlan& plan, int sync_fd) {
  // Nothing we mount may propagate back to the host.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) fail(sync_fd, kStepPropagation, errno);
  // pivot_root needs the new root to be a mount point: the overlay of the image and the
  // container's upper layer (mounted in this namespace only), or a bind of the directory.
  int rc = plan.rootfs_overlay.empty()
               ? mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr)
               : mount("overlay", plan.rootfs.c_str(), "overlay", 0, plan.rootfs_overlay.c_str());
  if (rc != 0) fail(sync_fd, kStepRootfsBind, errno, plan.rootfs.c_str());
  int root_fd = open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) fail(sync_fd, kStepRootfsBind, errno, plan.rootfs.c_str());
  for (const MountStep& s : plan.mounts) {
    int err = run_mount_step_in_child(root_fd, s);
    if (err != 0 && !s.optional) fail(sync_fd, kStepMount, err, s.target.c_str());
  }
  close(root_fd);
  // Ordering hazard: pivot_root(".", ".") stacks the old root on top of the new one; the
  // umount right after detaches it, and only then is "/" the container's root.
  if (chdir(plan.rootfs.c_str()) != 0) fail(sync_fd, kStepPivotRoot, errno, "chdir");
  if (syscall(SYS_pivot_root, ".", ".") != 0) fail(sync_fd, kStepPivotRoot, errno);
  if (umount2(".", MNT_DETACH) != 0) fail(sync_fd, kStepOldRoot, errno);
  if (chdir("/") != 0) fail(sync_fd, kStepOldRoot, errno, "chdir /");
}

// /dev/console (the shim's pty) becomes init's controlling terminal and stdio.
void setup_console(int sync_fd) {
  int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) fail(sync_fd, kStepConsole, errno, "/dev/console");
  if (setsid() < 0) fail(sync_fd, kStepConsole, errno, "setsid");
  if (ioctl(fd, TIOCSCTTY, 0) != 0) fail(sync_fd, kStepConsole, errno, "TIOCSCTTY");
  for (int i = 0; i < 3; ++i)
    if (dup2(fd, i) < 0) fail(sync_fd, kStepConsole, errno, "dup2");
  if (fd > 2) close(fd);
}

void loopback_up(int sync_fd) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail(sync_fd, kStepLoopback, errno);
  ifreq ifr{};
  memcpy(ifr.ifr_name, "lo", 3);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) fail(sync_fd, kStepLoopback, errno);
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) fail(sync_fd, kStepLoopback, errno);
  close(s);
}

void reset_signals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
}

}  // namespace

const char* child_step_name(int step) {
  if (step < 0 || step >= static_cast<int>(sizeof kStepNames / sizeof kStepNames[0])) return "unknown step";
  return kStepNames[step];
}

void ChildPlan::finalize() {
  argv.clear();
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  envp.clear();
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  seccomp_prog = seccomp.prog();
}

void run_child(const ChildPlan& plan, int sync_fd) {
  // The container dies with its shim: a supervisor killed with -9 leaves a known state.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  umask(0);  // device nodes and mount targets get exactly the planned modes
  wait_for_parent(sync_fd);
  // After sync 1 our cgroups are final; the new cgroup namespace is rooted at them.
  if (unshare(CLONE_NEWCGROUP) != 0) fail(sync_fd, kStepCgroupNs, errno);
  if (sethostname(plan.name.c_str(), plan.name.size()) != 0) fail(sync_fd, kStepHostname, errno);
  setup_filesystem(plan, sync_fd);
  setup_console(sync_fd);
  loopback_up(sync_fd);
  umask(022);
  const char* what = "";
  sock_fprog prog = plan.seccomp_prog;
  // Close every inherited fd but stdio and the sync socket (which is CLOEXEC: execve closes it).
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  reset_signals();
  // Seccomp last: after it, only the syscalls init needs remain.
  int err = apply_security_in_child(plan.security, &prog, &what);
  if (err != 0) fail(sync_fd, kStepSecurity, err, what);
  execve(plan.argv[0], plan.argv.data(), plan.envp.data());
  fail(sync_fd, kStepExec, errno, plan.argv[0]);
}

}  // namespace sysc::runtime
