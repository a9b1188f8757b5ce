// User namespace plumbing for unprivileged containers: id maps, idmapped root filesystems and
// cgroup delegation. Host side only.
#include "runtime/userns.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sysc::runtime {

namespace {

Status write_proc(pid_t pid, const char* file, const std::string& text) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return sys_error("open " + path);
  // One write: the kernel takes a map in a single write(2) only.
  ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n < 0) return sys_error("write '" + text.substr(0, text.size() - 1) + "' to " + path);
  if (static_cast<size_t>(n) != text.size()) return make_error("short write to " + path, EIO);
  return {};
}

}  // namespace

std::string map_line(uint32_t host, uint32_t count) {
  return "0 " + std::to_string(host) + " " + std::to_string(count) + "\n";
}

Status write_id_maps(pid_t pid, const IdMap& map) {
  TRY_CTX(write_proc(pid, "uid_map", map_line(map.host_uid, map.count)), "uid map");
  TRY_CTX(write_proc(pid, "gid_map", map_line(map.host_gid, map.count)), "gid map");
  return {};
}

Result<UniqueFd> make_userns(const IdMap& map) {
  int hold[2];
  if (pipe2(hold, O_CLOEXEC) != 0) return sys_error("user namespace: pipe");
  UniqueFd hold_r(hold[0]), hold_w(hold[1]);
  clone_args args{};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return sys_error("user namespace: clone3");
  if (pid == 0) {
    // Only async-signal-safe calls (the caller may be multi-threaded): wait for EOF, leave.
    close(hold[1]);
    char c;
    while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  hold_r.reset();
  auto reap = [&] {
    hold_w.reset();
    int st;
    while (waitpid(static_cast<pid_t>(pid), &st, 0) < 0 && errno == EINTR) {
    }
  };
  Status maps = write_id_maps(static_cast<pid_t>(pid), map);
  std::string ns = "/proc/" + std::to_string(pid) + "/ns/user";
  UniqueFd fd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
  int err = errno;
  reap();
  if (!maps) return std::move(maps).error().context("user namespace");
  if (!fd) return sys_error("user namespace: open " + ns, err);
  return fd;
}

Result<UniqueFd> idmapped_tree(const std::string& path, int userns_fd) {
  UniqueFd tree(open_tree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (!tree) return sys_error("open_tree " + path);
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  if (mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
    return sys_error("idmapped mount of " + path);
  return tree;
}

bool idmapped_mounts_work(const std::string& path, const IdMap& map, std::string* why) {
  auto ns = make_userns(map);
  if (!ns) {
    *why = ns.error().message;
    return false;
  }
  auto tree = idmapped_tree(path, ns->get());
  if (!tree) {
    *why = tree.error().message;
    return false;
  }
  return true;  // the detached clone goes away with its fd
}

const std::vector<std::string>& delegated_cgroup_files(bool v2) {
  // What systemd and LXC hand over with a delegated cgroup: membership (v1 tasks too) and,
  // on cgroup2, the controllers of the subtree. Limits stay the host's.
  static const std::vector<std::string> v1 = {"cgroup.procs", "tasks"};
  static const std::vector<std::string> unified = {"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"};
  return v2 ? unified : v1;
}

Status delegate_cgroup(const std::vector<std::string>& dirs, uid_t uid, gid_t gid) {
  for (const std::string& dir : dirs) {
    // One lookup of the directory, then each file relative to it.
    UniqueFd fd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;  // a hierarchy this cgroup does not exist in
      return sys_error("delegate cgroup: open " + dir);
    }
    struct statfs fs {};
    if (fstatfs(fd.get(), &fs) != 0) return sys_error("delegate cgroup: statfs " + dir);
    if (fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH) != 0) return sys_error("delegate cgroup: chown " + dir);
    for (const std::string& f : delegated_cgroup_files(fs.f_type == CGROUP2_SUPER_MAGIC))
      if (fchownat(fd.get(), f.c_str(), uid, gid, 0) != 0 && errno != ENOENT)
        return sys_error("delegate cgroup: chown " + dir + "/" + f);
  }
  return {};
}

}  // namespace sysc::runtime
