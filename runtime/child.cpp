// Container child setup. Runs in the clone3 child: new pid, mount, uts, ipc and net (and for an
// unprivileged container user) namespaces already entered; the cgroup namespace is entered here
// once the parent placed us in our cgroups.
// Async-signal-safe only: no allocation, no logging, no exceptions.
#include "runtime/child.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fd_passing.h"
#include "runtime/cgroup.h"
#include "runtime/mounts.h"

namespace sysc::runtime {

namespace {

const char* const kStepNames[] = {
    "sync", "cgroup namespace", "sethostname", "mount propagation", "rootfs bind", "mount",
    "pivot_root", "detach old root", "console", "loopback", "security", "execve", "user namespace",
    "cgroup attach", "join namespaces", "fork init", "init forked",
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

// The detached mounts the parent sends along with sync 1 (see child.h); -1 where none.
struct ParentFds {
  int fd[2] = {-1, -1};
};

// sync 1: wait until the parent moved us into our cgroups (and wrote our id maps).
ParentFds wait_for_parent(int sync_fd) {
  char c;
  ParentFds fds;
  if (recv_with_fds(sync_fd, &c, 1, fds.fd, 2) != 1) _exit(126);  // parent gone or gave up: nothing to report to
  return fds;
}

// "/proc/self/fd/N" into BUF (no allocation): how the overlay names layers held as fds.
const char* fd_path(char (&buf)[32], int fd) {
  char digits[12];
  int n = 0;
  do digits[n++] = static_cast<char>('0' + fd % 10);
  while ((fd /= 10) > 0 && n < 11);
  const char prefix[] = "/proc/self/fd/";
  size_t i = 0;
  for (; prefix[i]; ++i) buf[i] = prefix[i];
  while (n > 0) buf[i++] = digits[--n];
  buf[i] = '\0';
  return buf;
}

// The rootfs becomes a mount point of its own (pivot_root needs one): the idmapped tree from the
// parent, the privileged overlay, else a bind of the rootfs onto itself. An idmapped overlay
// waits for become_root (its creator must be the container's root): its layers are attached
// here, in our own mount namespace (the overlay clones its layers only from there).
// Runs before the switch to root of a user namespace: the path leads through host root's
// private directories. Returns an O_PATH fd of the rootfs.
int attach_rootfs(const ChildPlan& plan, int sync_fd, const ParentFds& fds) {
  // Nothing we mount may propagate back to the host.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) fail(sync_fd, kStepPropagation, errno);
  if (plan.overlay.enabled() && fds.fd[0] >= 0) {
    int target = open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (target < 0) fail(sync_fd, kStepRootfsBind, errno, plan.rootfs.c_str());
    for (int fd : fds.fd)
      if (move_mount(fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        fail(sync_fd, kStepRootfsBind, errno, "attach an idmapped overlay layer");
    return target;
  }
  if (fds.fd[0] >= 0) {
    if (move_mount(fds.fd[0], "", AT_FDCWD, plan.rootfs.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
      fail(sync_fd, kStepRootfsBind, errno, "attach the idmapped rootfs");
    close(fds.fd[0]);
  } else if (plan.overlay.enabled()) {
    if (mount("overlay", plan.rootfs.c_str(), "overlay", 0, plan.overlay_data.c_str()) != 0)
      fail(sync_fd, kStepRootfsBind, errno, plan.rootfs.c_str());
  } else if (mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    fail(sync_fd, kStepRootfsBind, errno, plan.rootfs.c_str());
  }
  int root_fd = open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) fail(sync_fd, kStepRootfsBind, errno, plan.rootfs.c_str());
  return root_fd;
}

// The overlay of an unprivileged container, made by its root (files it creates in the upper
// layer go through the idmapped mount: on disk they keep ids 0..65535, as when privileged), and
// put on top of its layers at TARGET. Returns the overlay's root.
int mount_idmapped_overlay(const ChildPlan& plan, int sync_fd, const ParentFds& fds, int target) {
  const int lower = fds.fd[0], layers_dir = fds.fd[1];
  int upper = openat(layers_dir, plan.overlay_upper_name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  int work = openat(layers_dir, plan.overlay_work_name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (upper < 0 || work < 0) fail(sync_fd, kStepRootfsBind, errno, "open the overlay upper and work directories");
  int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) fail(sync_fd, kStepRootfsBind, errno, "fsopen overlay");
  char path[32];
  if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", fd_path(path, lower), 0) != 0)
    fail(sync_fd, kStepRootfsBind, errno, "overlay lower layer");
  if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", fd_path(path, upper), 0) != 0)
    fail(sync_fd, kStepRootfsBind, errno, "overlay upper layer");
  if (fsconfig(fs, FSCONFIG_SET_STRING, "workdir", fd_path(path, work), 0) != 0)
    fail(sync_fd, kStepRootfsBind, errno, "overlay work directory");
  if (fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", nullptr, 0) != 0)
    fail(sync_fd, kStepRootfsBind, errno, "overlay userxattr");
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int err = errno;
    char why[96] = "overlay: ";
    ssize_t n = read(fs, why + 9, sizeof why - 10);  // the kernel's own reason, if it left one
    why[n > 0 ? 9 + n : 8] = '\0';
    fail(sync_fd, kStepRootfsBind, err, why);
  }
  int mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
  if (mnt < 0) fail(sync_fd, kStepRootfsBind, errno, "fsmount overlay");
  if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    fail(sync_fd, kStepRootfsBind, errno, "attach the overlay");
  // The layers stay attached below the overlay until the old root is detached with them.
  for (int fd : {fs, upper, work, lower, layers_dir, target}) close(fd);
  return mnt;
}

// In a user namespace: become its root (host ids of the range), so that everything made from
// here on (tmpfs roots, /dev entries) belongs to the container's root, and execve keeps the
// capabilities. Raw syscalls: glibc's set*id wrappers synchronise threads we do not have.
void become_root(int sync_fd) {
  if (syscall(SYS_setresgid, 0, 0, 0) != 0) fail(sync_fd, kStepUserns, errno, "setresgid");
  if (syscall(SYS_setgroups, 0, nullptr) != 0) fail(sync_fd, kStepUserns, errno, "setgroups");
  if (syscall(SYS_setresuid, 0, 0, 0) != 0) fail(sync_fd, kStepUserns, errno, "setresuid");
  // A change of credentials clears the parent-death signal: arm it again, then make sure the
  // parent did not die in between (its end of the sync socket would have hung up).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  pollfd p{sync_fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP))) _exit(126);
}

void setup_filesystem(const ChildPlan& plan, int sync_fd, int root_fd) {
  for (const MountStep& s : plan.mounts) {
    int err = run_mount_step_in_child(root_fd, s);
    if (err != 0 && !s.optional) fail(sync_fd, kStepMount, err, s.target.c_str());
  }
  // Ordering hazard: pivot_root(".", ".") stacks the old root on top of the new one; the
  // umount right after detaches it, and only then is "/" the container's root.
  if (fchdir(root_fd) != 0) fail(sync_fd, kStepPivotRoot, errno, "chdir");
  close(root_fd);
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
  if (int err = loopback_up_if_down(); err != 0) fail(sync_fd, kStepLoopback, err);
}

// Into the v1 cgroups: "0" moves the calling thread (all of this single-threaded process)
// without the global lock a migration by pid waits on. Host paths: before the cgroup namespace.
void join_v1_cgroups(const std::vector<std::string>& self_tasks, int sync_fd) {
  for (const std::string& path : self_tasks) {
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) fail(sync_fd, kStepCgroup, errno, path.c_str());
    close(fd);
  }
}

// set_child_sched(): -1 while unset.
int g_child_policy = -1;
int g_child_nice = 0;

void restore_sched() {
  if (g_child_policy < 0) return;
  sched_param none{};
  sched_setscheduler(0, g_child_policy, &none);
  setpriority(PRIO_PROCESS, 0, g_child_nice);
}

void reset_signals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
}

}  // namespace

void set_child_sched(int policy, int nice) {
  g_child_policy = policy;
  g_child_nice = nice;
}

int loopback_up_if_down() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  ifreq ifr{};
  memcpy(ifr.ifr_name, "lo", 3);
  int err = 0;
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
    err = errno;
  } else if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) err = errno;
  }
  close(s);
  return err;
}

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

namespace {

// From the cgroup namespace on: the same in both ways of making the namespaces.
[[noreturn]] void setup_and_exec(const ChildPlan& plan, int sync_fd, const ParentFds& fds);

// The init's pid and pidfd to the supervisor: a kStepInitForked record.
bool send_init(int sync_fd, pid_t pid, int pidfd) {
  ChildFailure f;
  f.step = kStepInitForked;
  f.err = pid;
  return send_with_fds(sync_fd, &f, sizeof f, &pidfd, 1) == static_cast<ssize_t>(sizeof f);
}

}  // namespace

void run_child(const ChildPlan& plan, const std::vector<std::string>& self_tasks, int sync_fd) {
  restore_sched();
  // The container dies with its shim: a supervisor killed with -9 leaves a known state.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  umask(0);  // device nodes and mount targets get exactly the planned modes
  ParentFds fds = wait_for_parent(sync_fd);
  join_v1_cgroups(self_tasks, sync_fd);
  setup_and_exec(plan, sync_fd, fds);
}

void run_child_in_premade(const ChildPlan& plan, const std::vector<std::string>& self_tasks, int sync_fd,
                          int holder_pidfd, const int (&mount_fds)[2]) {
  restore_sched();  // before the user namespace: a negative nice needs the host's CAP_SYS_NICE
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Host root in the host's mount namespace while it runs: nothing may ptrace it.
  prctl(PR_SET_DUMPABLE, 0);
  umask(0);
  // Host paths, and as host root: before the user namespace.
  join_v1_cgroups(self_tasks, sync_fd);
  if (setns(holder_pidfd, CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0)
    fail(sync_fd, kStepJoinNamespaces, errno, "setns");
  // Made now, by a member of the container's user namespace: it owns them (mounting /proc needs
  // that of the pid namespace). The new pid namespace is the init's, forked next.
  if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) fail(sync_fd, kStepJoinNamespaces, errno, "unshare");
  // The init goes on once this process has sent its pid (one byte), so that the supervisor knows
  // it before any record of its own; EOF without the byte (this process died first) stops it.
  int sent[2];
  if (pipe2(sent, O_CLOEXEC) != 0) fail(sync_fd, kStepForkInit, errno, "pipe");
  int pidfd = -1;
  clone_args args{};
  // clone3 takes no exit signal with CLONE_PARENT: the init inherits this process's (SIGCHLD),
  // so the supervisor waits for it like for a child of its own.
  args.flags = CLONE_PARENT | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) fail(sync_fd, kStepForkInit, errno);
  if (pid == 0) {
    close(sent[1]);
    char go = 0;
    ssize_t n;
    do n = read(sent[0], &go, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) _exit(126);
    close(sent[0]);
    // The supervisor is the parent now; if it died before this, its end of the socket is shut.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pollfd p{sync_fd, POLLRDHUP, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP))) _exit(126);
    cgroup::allow_cpuset_cpus();  // the clone kept the supervisor's CPU (CpuPin); now the cpuset's
    ParentFds fds;
    fds.fd[0] = mount_fds[0];
    fds.fd[1] = mount_fds[1];
    setup_and_exec(plan, sync_fd, fds);
  }
  if (!send_init(sync_fd, static_cast<pid_t>(pid), pidfd)) {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    _exit(126);
  }
  const char go = 1;
  ssize_t ignored = write(sent[1], &go, 1);
  (void)ignored;
  _exit(0);
}

namespace {

void setup_and_exec(const ChildPlan& plan, int sync_fd, const ParentFds& fds) {
  // Now our cgroups are final; the new cgroup namespace is rooted at them.
  if (unshare(CLONE_NEWCGROUP) != 0) fail(sync_fd, kStepCgroupNs, errno);
  if (sethostname(plan.name.c_str(), plan.name.size()) != 0) fail(sync_fd, kStepHostname, errno);
  int root_fd = attach_rootfs(plan, sync_fd, fds);
  if (plan.idmap.enabled()) become_root(sync_fd);
  if (plan.overlay.enabled() && fds.fd[0] >= 0) root_fd = mount_idmapped_overlay(plan, sync_fd, fds, root_fd);
  setup_filesystem(plan, sync_fd, root_fd);
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

}  // namespace

}  // namespace sysc::runtime
