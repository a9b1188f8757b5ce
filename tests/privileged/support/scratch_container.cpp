// ScratchContainer: see scratch_container.h. Runs in the test process and its forked children.
#include "support/scratch_container.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "support/test_io.h"

namespace sysc::test {

namespace {

constexpr const char* kBusybox = "/bin/busybox";

// Our own cgroup path in one hierarchy ("" key: cgroup2), from /proc/self/cgroup.
std::string own_cgroup(const std::string& key) {
  std::istringstream in(read_text("/proc/self/cgroup"));
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (line.substr(a + 1, b - a - 1) == key) return line.substr(b + 1);
  }
  return "";
}

[[noreturn]] void report(int ready_fd, int step) {
  int e[2] = {step, errno};
  (void)!write(ready_fd, e, sizeof e);
  _exit(1);
}

}  // namespace

std::string ScratchContainer::make_rootfs(const ScratchOptions& o) {
  for (const char* d : {"", "/bin", "/etc", "/proc", "/dev", "/root", "/tmp"})
    if (mkdir((rootfs_ + d).c_str(), 0755) != 0) return std::string("mkdir ") + d + ": " + strerror(errno);
  auto bb = read_file(kBusybox);
  if (!bb) return bb.error().message;
  write_text(rootfs_ + "/bin/busybox", *bb);
  if (chmod((rootfs_ + "/bin/busybox").c_str(), 0755) != 0) return "chmod busybox";
  for (const auto& a : o.applets)
    if (symlink("busybox", (rootfs_ + "/bin/" + a).c_str()) != 0) return "symlink " + a;
  write_text(rootfs_ + "/etc/passwd", o.passwd);
  write_text(rootfs_ + "/etc/group", "root:x:0:\ntty:x:5:\n");
  return "";
}

// A cgroup of the test's own in the pids, name=systemd and cgroup2 hierarchies (where mounted),
// so joining the init's cgroups is observable from inside.
void ScratchContainer::make_cgroups() {
  std::istringstream in(read_text("/proc/self/mountinfo"));
  std::string leaf = "/sysc-scratch-" + std::to_string(getpid());
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::vector<std::string> w;
    for (std::string s; f >> s;) w.push_back(s);
    auto dash = std::find(w.begin(), w.end(), "-") - w.begin();
    if (dash + 3 >= static_cast<long>(w.size()) || w[3] != "/") continue;
    std::string type = w[dash + 1], opts = "," + w[dash + 3] + ",", key;
    if (type == "cgroup2") key = "";
    else if (type == "cgroup" && opts.find(",pids,") != std::string::npos) key = "pids";
    else if (type == "cgroup" && opts.find(",name=systemd,") != std::string::npos) key = "name=systemd";
    else continue;
    std::string base = own_cgroup(key);
    std::string path = w[4] + (base == "/" ? "" : base) + leaf;
    if (mkdir(path.c_str(), 0755) == 0) cgroups_.push_back(path);
  }
}

std::string ScratchContainer::start(const ScratchOptions& o) {
  if (access(kBusybox, X_OK) != 0) return std::string("needs a static busybox at ") + kBusybox + " (busybox-static)";
  char tmpl[] = "/tmp/sysc-scratch-XXXXXX";
  if (!mkdtemp(tmpl)) return "mkdtemp failed";
  dir_ = tmpl;
  rootfs_ = dir_ + "/rootfs";
  if (auto err = make_rootfs(o); !err.empty()) return err;
  if (o.cgroups) {
    make_cgroups();
    if (cgroups_.empty()) return "no test cgroup could be created";
  }
  // holder: unshares and forks the init; the ready pipe reaches EOF at the init's exec, or
  // carries {step, errno}.
  int pid_pipe[2], ready[2];
  if (pipe2(pid_pipe, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0) return "pipe2 failed";
  holder_ = fork();
  if (holder_ < 0) return "fork failed";
  if (holder_ == 0) run_holder(o, pid_pipe[1], ready[1]);
  close(pid_pipe[1]);
  close(ready[1]);
  pid_t init = -1;
  bool got = read(pid_pipe[0], &init, sizeof init) == static_cast<ssize_t>(sizeof init);
  close(pid_pipe[0]);
  int err[2] = {0, 0};
  ssize_t n = read(ready[0], err, sizeof err);
  close(ready[0]);
  if (!got || n != 0) return "container setup step " + std::to_string(err[0]) + ": " + strerror(err[1]);
  init_ = init;
  init_pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, init_, 0));
  return init_pidfd_ >= 0 ? "" : "pidfd_open of the init failed";
}

void ScratchContainer::run_holder(const ScratchOptions& o, int pid_fd, int ready_fd) {
  for (const auto& cg : cgroups_) write_text(cg + "/cgroup.procs", "0");
  if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP) != 0 ||
      mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      (!o.hostname.empty() && sethostname(o.hostname.c_str(), o.hostname.size()) != 0))
    report(ready_fd, 0);
  pid_t init = fork();
  if (init == 0) run_init(o, ready_fd);
  (void)!write(pid_fd, &init, sizeof init);
  close(ready_fd);
  int st;
  waitpid(init, &st, 0);
  _exit(0);
}

void ScratchContainer::run_init(const ScratchOptions& o, int ready_fd) {
  const std::string r = rootfs_;
  int step = 0;
  auto check = [&](bool ok) {
    ++step;
    if (!ok) report(ready_fd, step);
  };
  check(mount(r.c_str(), r.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0);
  check(mount("proc", (r + "/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0);
  check(mount("tmpfs", (r + "/dev").c_str(), "tmpfs", MS_NOSUID, "mode=0755") == 0);
  if (o.devpts) {
    check(mkdir((r + "/dev/pts").c_str(), 0755) == 0);
    check(mount("devpts", (r + "/dev/pts").c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5") == 0);
    check(symlink("pts/ptmx", (r + "/dev/ptmx").c_str()) == 0);
  }
  check(mknod((r + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  check(chdir(r.c_str()) == 0);
  check(syscall(SYS_pivot_root, ".", ".") == 0);
  check(umount2(".", MNT_DETACH) == 0);
  check(chdir("/") == 0);
  std::vector<char*> argv;
  for (const auto& a : o.init) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char* envp[] = {const_cast<char*>("PATH=/bin"), nullptr};
  execve(argv[0], argv.data(), envp);
  check(false);
  _exit(1);
}

void ScratchContainer::kill_init() {
  if (init_pidfd_ >= 0) {
    syscall(SYS_pidfd_send_signal, init_pidfd_, SIGKILL, nullptr, 0);
    close(init_pidfd_);
    init_pidfd_ = -1;
  }
  if (holder_ > 0) wait_exit(holder_, false);  // exits once its child, the init, is gone
  holder_ = -1;
}

std::vector<std::string> ScratchContainer::stop() {
  std::vector<std::string> left;
  kill_init();
  for (auto it = cgroups_.rbegin(); it != cgroups_.rend(); ++it) {
    for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) usleep(20000);
    if (path_exists(*it)) left.push_back("cgroup left behind: " + *it);
  }
  cgroups_.clear();
  if (dir_.empty()) return left;
  if (read_text("/proc/self/mountinfo").find(dir_) != std::string::npos) left.push_back("mount left under " + dir_);
  if (auto rm = remove_tree(dir_); !rm) left.push_back(rm.error().message);
  dir_.clear();
  return left;
}

}  // namespace sysc::test
