// Mount plan: what a container sees (host side), and each step's execution (child side, after
// clone into new mount/pid/net/uts/ipc/cgroup namespaces, before pivot_root; no allocation).
#include "runtime/mounts.h"

#include <cerrno>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace sysc::runtime {

namespace {

using Op = MountStep::Op;
constexpr unsigned long kNoSuidDevExec = MS_NOSUID | MS_NODEV | MS_NOEXEC;

MountStep mount(const char* fstype, const char* target, unsigned long flags, const char* data) {
  MountStep s;
  s.op = Op::Mount;
  s.source = fstype;
  s.fstype = fstype;
  s.target = target;
  s.flags = flags;
  s.data = data;
  return s;
}
MountStep step(Op op, const char* target, mode_t mode = 0755) {
  MountStep s;
  s.op = op;
  s.target = target;
  s.mode = mode;
  return s;
}
MountStep symlink_step(const char* source, const char* target) {
  MountStep s = step(Op::Symlink, target);
  s.source = source;
  return s;
}
// A char device node: made with mknod, or in a user namespace the host's node bound onto an
// empty file (the host's node is "/" + target: "dev/null" -> "/dev/null").
MountStep node(const char* target, unsigned major, unsigned minor, bool userns, mode_t perm = 0666) {
  if (userns) {
    MountStep s = step(Op::BindFile, target, perm);
    s.source = std::string("/") + target;
    return s;
  }
  MountStep s = step(Op::Mknod, target, S_IFCHR | perm);
  s.dev = makedev(major, minor);
  return s;
}

// Kernel interfaces a tenant has no business reading (host memory, keyrings of every user,
// timers and scheduler state of the host, firmware tables): files become the container's
// /dev/null, directories an empty read-only tmpfs. Absent ones (kernel config) are skipped. The
// directories share one tmpfs, mounted on sys/firmware (sysfs always has it) and bound over the
// others: every superblock a container mounts raises the number of shrinkers, which sizes a
// per-cgroup array that every memory cgroup on the host pays for.
void add_masks(MountPlan& p) {
  for (const char* f : {"proc/kcore", "proc/keys", "proc/key-users", "proc/timer_list", "proc/sched_debug",
                        "proc/latency_stats"}) {
    MountStep s = step(Op::MaskFile, f);
    s.source = "dev/null";
    s.optional = true;
    p.push_back(s);
  }
  p.push_back(mount("tmpfs", "sys/firmware", kNoSuidDevExec | MS_RDONLY, "mode=0"));
  for (const char* d : {"proc/acpi", "proc/scsi", "sys/kernel/security", "sys/kernel/debug"}) {
    MountStep s = step(Op::MaskFile, d);
    s.source = "sys/firmware";
    s.optional = true;
    p.push_back(s);
  }
}

}  // namespace

MountPlan base_mount_plan(const std::string& console_pty, const MountPlan& cgroup_mounts, bool userns) {
  MountPlan p;
  p.push_back(mount("proc", "proc", kNoSuidDevExec, ""));
  p.push_back(step(Op::BindRO, "proc/sys"));
  // Except the sysctls of the container's own network namespace (/proc/sys/net shows those of
  // the opener's netns): ip_forward and friends inside never touch the host's.
  p.push_back(step(Op::BindRW, "proc/sys/net"));
  MountStep sysrq = step(Op::BindRO, "proc/sysrq-trigger");
  sysrq.optional = true;  // absent on kernels without CONFIG_MAGIC_SYSRQ
  p.push_back(sysrq);
  // sysfs after the new netns exists, so /sys/class/net shows the container's devices.
  p.push_back(mount("sysfs", "sys", kNoSuidDevExec | MS_RDONLY, ""));
  p.insert(p.end(), cgroup_mounts.begin(), cgroup_mounts.end());
  p.push_back(mount("tmpfs", "dev", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"));
  p.push_back(node("dev/null", 1, 3, userns));
  p.push_back(node("dev/zero", 1, 5, userns));
  p.push_back(node("dev/full", 1, 7, userns));
  p.push_back(node("dev/random", 1, 8, userns));
  p.push_back(node("dev/urandom", 1, 9, userns));
  p.push_back(node("dev/tty", 5, 0, userns));
  p.push_back(symlink_step("/proc/self/fd", "dev/fd"));
  p.push_back(symlink_step("/proc/self/fd/0", "dev/stdin"));
  p.push_back(symlink_step("/proc/self/fd/1", "dev/stdout"));
  p.push_back(symlink_step("/proc/self/fd/2", "dev/stderr"));
  p.push_back(mount("devpts", "dev/pts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"));
  p.push_back(symlink_step("pts/ptmx", "dev/ptmx"));
  p.push_back(mount("tmpfs", "dev/shm", MS_NOSUID | MS_NODEV, "mode=1777"));
  p.push_back(mount("mqueue", "dev/mqueue", kNoSuidDevExec, ""));
  MountStep console = step(Op::BindFile, "dev/console", 0620);
  console.source = console_pty;
  p.push_back(console);
  add_masks(p);
  p.push_back(mount("tmpfs", "run", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=20%"));
  p.push_back(mount("tmpfs", "run/lock", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=5m"));
  return p;
}

MountPlan lxcfs_mount_plan(const std::string& dir, const std::vector<std::string>& files) {
  MountPlan p;
  for (const auto& f : files) {
    MountStep s = step(Op::BindHost, f.c_str());
    s.source = dir + "/" + f;
    s.optional = true;
    p.push_back(s);
  }
  return p;
}

namespace {

int open_in_root(int root_fd, const char* rel, int flags) {
  open_how how{};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, root_fd, rel, &how, sizeof how));
}

// "/proc/self/fd/N" into buf without allocating.
void fd_path(int fd, char* buf) {
  const char prefix[] = "/proc/self/fd/";
  char* p = buf;
  for (const char* q = prefix; *q; ++q) *p++ = *q;
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0);
  while (n > 0) *p++ = digits[--n];
  *p = '\0';
}

// Split TARGET into its parent (opened O_PATH|O_DIRECTORY inside root) and its last component.
int open_parent(int root_fd, const char* target, char* dir_buf, const char** base) {
  size_t len = 0, slash = static_cast<size_t>(-1);
  for (; target[len]; ++len) {
    if (len >= 4095) return -ENAMETOOLONG;
    dir_buf[len] = target[len];
    if (target[len] == '/') slash = len;
  }
  if (slash == static_cast<size_t>(-1)) {
    *base = target;
    dir_buf[0] = '.';
    dir_buf[1] = '\0';
  } else {
    dir_buf[slash] = '\0';
    *base = target + slash + 1;
  }
  int fd = open_in_root(root_fd, dir_buf, O_PATH | O_DIRECTORY);
  return fd < 0 ? -errno : fd;
}

// KEEP_FILE: a BindFile target's descriptor is left there for the bind onto it (else -1).
int make_node(int root_fd, const MountStep& s, int* keep_file = nullptr) {
  char dir[4096];
  const char* base;
  int parent = open_parent(root_fd, s.target.c_str(), dir, &base);
  if (parent < 0) return -parent;
  int rc = 0;
  switch (s.op) {
    case MountStep::Op::Symlink:
      rc = symlinkat(s.source.c_str(), parent, base) == 0 || errno == EEXIST ? 0 : errno;
      break;
    case MountStep::Op::Mknod:
      rc = mknodat(parent, base, s.mode, s.dev) == 0 || errno == EEXIST ? 0 : errno;
      break;
    default: {  // BindFile target: an empty regular file (never a symlink: O_NOFOLLOW fails on one)
      int fd = openat(parent, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, s.mode & 07777);
      rc = fd >= 0 ? 0 : errno;
      if (fd >= 0 && keep_file) *keep_file = fd;
      else if (fd >= 0) close(fd);
    }
  }
  close(parent);
  return rc;
}

// mount(2) onto the object FD was opened on.
int mount_on_fd(int fd, const char* source, const char* fstype, unsigned long flags, const char* data) {
  char path[32];
  fd_path(fd, path);
  return ::mount(source, path, fstype, flags, data) == 0 ? 0 : errno;
}

// A filesystem mounted on TARGET inside root, made as a directory first. The directory is opened
// from its parent, already open; one that is a symlink is resolved inside root as before.
int mount_new(int root_fd, const MountStep& s) {
  char dir[4096];
  const char* base;
  int parent = open_parent(root_fd, s.target.c_str(), dir, &base);
  if (parent < 0) return -parent;
  int rc = mkdirat(parent, base, 0755) == 0 || errno == EEXIST ? 0 : errno;
  int fd = rc != 0 ? -1 : openat(parent, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rc == 0 && fd < 0 && (errno == ENOTDIR || errno == ELOOP))
    fd = open_in_root(root_fd, s.target.c_str(), O_PATH | O_DIRECTORY);
  if (rc == 0 && fd < 0) rc = errno;
  close(parent);
  if (fd < 0) return rc;
  rc = mount_on_fd(fd, s.source.c_str(), s.fstype.c_str(), s.flags, s.data.empty() ? nullptr : s.data.c_str());
  close(fd);
  return rc;
}

// mount(2) onto the target opened inside root; `source` may be a host path (bind of the pty).
int mount_on(int root_fd, const MountStep& s, const char* source, const char* fstype, unsigned long flags,
             const char* data) {
  int fd = open_in_root(root_fd, s.target.c_str(), O_PATH);
  if (fd < 0) return errno;
  int rc = mount_on_fd(fd, source, fstype, flags, data);
  close(fd);
  return rc;
}

int remount_ro(int root_fd, const MountStep& s, bool rdonly = true) {
  return mount_on(root_fd, s, nullptr, nullptr, MS_REMOUNT | MS_BIND | (rdonly ? MS_RDONLY : 0) | kNoSuidDevExec,
                  nullptr);
}

// Bind ROOT/target onto itself; the new mount is then remounted (read-only or writable).
int bind_self(int root_fd, const MountStep& s, bool rdonly) {
  int fd = open_in_root(root_fd, s.target.c_str(), O_PATH);
  if (fd < 0) return errno;
  char path[32];
  fd_path(fd, path);
  int rc = ::mount(path, path, nullptr, MS_BIND, nullptr) == 0 ? 0 : errno;
  close(fd);
  // Reopen: the path now resolves to the new bind mount, which is what gets remounted.
  return rc != 0 ? rc : remount_ro(root_fd, s, rdonly);
}

}  // namespace

int run_mount_step_in_child(int root_fd, const MountStep& s) {
  switch (s.op) {
    case MountStep::Op::Mount:
      return mount_new(root_fd, s);
    case MountStep::Op::BindRO:
      return bind_self(root_fd, s, true);
    case MountStep::Op::BindRW:
      return bind_self(root_fd, s, false);
    case MountStep::Op::BindHost: {
      int rc = mount_on(root_fd, s, s.source.c_str(), nullptr, MS_BIND, nullptr);
      return rc != 0 ? rc : remount_ro(root_fd, s);
    }
    case MountStep::Op::RemountRO:
      return remount_ro(root_fd, s);
    case MountStep::Op::MaskFile: {
      int src = open_in_root(root_fd, s.source.c_str(), O_PATH);
      if (src < 0) return errno;
      int dst = open_in_root(root_fd, s.target.c_str(), O_PATH);
      if (dst < 0) {
        int e = errno;
        close(src);
        return e;
      }
      char from[32], to[32];
      fd_path(src, from);
      fd_path(dst, to);
      // No remount: a bind keeps its source mount's flags (the mask tmpfs is read-only, nosuid,
      // nodev, noexec), and the container's /dev/null swallows writes read-only or not.
      int rc = ::mount(from, to, nullptr, MS_BIND, nullptr) == 0 ? 0 : errno;
      close(src);
      close(dst);
      return rc;
    }
    case MountStep::Op::BindFile: {
      int file = -1;
      int rc = make_node(root_fd, s, &file);
      if (rc != 0) return rc;
      rc = mount_on_fd(file, s.source.c_str(), nullptr, MS_BIND, nullptr);
      close(file);
      return rc;
    }
    default:
      return make_node(root_fd, s);
  }
}

}  // namespace sysc::runtime
