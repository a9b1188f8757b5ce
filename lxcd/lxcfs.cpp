// lxcfs supervision: adopt a live mount, else start `lxcfs -f`; restart it when it dies.
#include "lxcd/lxcfs.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sstream>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "common/fs.h"
#include "runtime/spec.h"

namespace sysc::lxcd {

namespace {

// The files sysc binds, when this lxcfs version serves them.
const char* const kFiles[] = {"proc/meminfo", "proc/cpuinfo", "proc/stat",      "proc/uptime",
                              "proc/loadavg", "proc/swaps",   "proc/diskstats", "sys/devices/system/cpu/online"};

std::string find_in_path(const std::string& prog) {
  const char* path = getenv("PATH");
  std::istringstream in(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string d; std::getline(in, d, ':');) {
    std::string f = d + "/" + prog;
    if (!d.empty() && access(f.c_str(), X_OK) == 0) return f;
  }
  return "";
}

// The fstype mounted at DIR ("" when nothing is).
std::string mounted_fstype(const std::string& dir) {
  auto text = read_file("/proc/self/mountinfo");
  if (!text) return "";
  std::istringstream mi(*text);
  std::string found;
  for (std::string line; std::getline(mi, line);) {
    std::istringstream ls(line);
    std::string f[5];
    for (auto& x : f) ls >> x;
    size_t sep = line.find(" - ");
    if (f[4] != dir || sep == std::string::npos) continue;
    std::istringstream rest(line.substr(sep + 3));
    rest >> found;  // the last mount on DIR wins
  }
  return found;
}

void log_line(int fd, const std::string& msg) {
  std::string line = "lxcd: " + msg + "\n";
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
}

bool wait_stop(int stop_fd, int ms) {
  pollfd p{stop_fd, POLLIN, 0};
  return poll(&p, 1, ms) > 0;
}

}  // namespace

Lxcfs::Lxcfs(const Paths& paths, const config::ResourcesConfig& cfg, int log_fd)
    : dir_(paths.run_dir + "/.lxcfs"), pidfile_(paths.run_dir + "/lxcfs.pid"), cfg_(cfg), log_fd_(log_fd),
      stop_(eventfd(0, EFD_CLOEXEC)) {}

Lxcfs::~Lxcfs() {
  if (watcher_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = write(stop_.get(), &one, sizeof one);
    (void)ignored;
    watcher_.join();
  }
}

bool Lxcfs::live() const {
  if (mounted_fstype(dir_).rfind("fuse", 0) != 0) return false;
  struct stat st;
  return ::stat((dir_ + "/proc/uptime").c_str(), &st) == 0;  // a dead FUSE daemon: ENOTCONN
}

std::string Lxcfs::launch() {
  std::string bin = find_in_path("lxcfs");
  if (bin.empty()) return "lxcfs not available";
  if (auto st = mkdir_p(dir_, 0755); !st) return st.error().message;
  if (!mounted_fstype(dir_).empty()) umount2(dir_.c_str(), MNT_DETACH);  // a dead one
  std::vector<std::string> args = {bin, "-f", "-p", pidfile_};
  if (cfg_.lxcfs_loadavg) args.push_back("--enable-loadavg");
  if (cfg_.lxcfs_cfs) args.push_back("--enable-cfs");
  args.push_back(dir_);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = fork();
  if (pid < 0) return std::string("fork: ") + strerror(errno);
  if (pid == 0) {
    // Its own session: it outlives lxcd, like the containers using it.
    setsid();
    dup2(devnull, 0);
    dup2(log_fd_, 1);
    dup2(log_fd_, 2);
    syscall(SYS_close_range, 3, ~0U, 0);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (devnull >= 0) close(devnull);
  for (int i = 0; i < 100; ++i) {
    if (live()) {
      pid_ = pid;
      own_child_ = true;
      log_line(log_fd_, "lxcfs (pid " + std::to_string(pid) + ") serving " + dir_);
      return "";
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) return "lxcfs exited at start (see lxcd.log)";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  umount2(dir_.c_str(), MNT_DETACH);
  return "lxcfs did not mount " + dir_ + " within 5 s";
}

void Lxcfs::adopt_or_launch() {
  pid_ = 0;
  own_child_ = false;
  if (live()) {
    // A restarted lxcd: keep the running lxcfs, which the containers' binds point to.
    auto pidtext = read_file(pidfile_);
    int pid = pidtext ? std::atoi(pidtext->c_str()) : 0;
    auto cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    if (pid > 0 && cmdline && cmdline->find(dir_) != std::string::npos) pid_ = pid;
    problem_.clear();
    log_line(log_fd_, "lxcfs: adopted the live mount at " + dir_);
    return;
  }
  problem_ = launch();
  if (!problem_.empty()) log_line(log_fd_, "lxcfs: " + problem_ + "; containers see the host's /proc values");
}

void Lxcfs::start() {
  if (!cfg_.lxcfs) {
    problem_ = "lxcfs disabled in sysc.conf";
    return;
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    adopt_or_launch();
  }
  watcher_ = std::thread([this] { watch(); });
}

void Lxcfs::watch() {
  int backoff_ms = 1000;
  auto launched = std::chrono::steady_clock::now();
  for (;;) {
    pid_t pid;
    {
      std::lock_guard<std::mutex> g(mu_);
      pid = pid_;
    }
    UniqueFd pidfd(pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, pid, 0)) : -1);
    if (!pidfd) {
      // Nothing to watch (start failed, or a live mount of unknown pid): check now and then.
      if (wait_stop(stop_.get(), 30000)) return;
      std::lock_guard<std::mutex> g(mu_);
      if (!live()) adopt_or_launch();
      continue;
    }
    pollfd p[2] = {{pidfd.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;
    if (p[1].revents) return;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (own_child_) waitpid(pid, nullptr, WNOHANG);
      log_line(log_fd_, "lxcfs (pid " + std::to_string(pid) + ") exited; restarting it (running containers see "
                        "errors in its files until they restart)");
      umount2(dir_.c_str(), MNT_DETACH);
      pid_ = 0;
      problem_ = "lxcfs restarting";
    }
    bool ran_long = std::chrono::steady_clock::now() - launched > std::chrono::seconds(60);
    backoff_ms = ran_long ? 1000 : std::min(backoff_ms * 2, 60000);
    if (wait_stop(stop_.get(), backoff_ms)) return;
    std::lock_guard<std::mutex> g(mu_);
    adopt_or_launch();
    launched = std::chrono::steady_clock::now();
  }
}

ResourceView Lxcfs::view() {
  std::lock_guard<std::mutex> g(mu_);
  ResourceView v;
  if (!problem_.empty() || !live()) {
    v.description = "host (" + (problem_.empty() ? std::string("lxcfs not available") : problem_) + ")";
    return v;
  }
  v.dir = dir_;
  for (const char* f : kFiles) {
    if (std::string(f) == "proc/loadavg" && !cfg_.lxcfs_loadavg) continue;
    if (access((dir_ + "/" + f).c_str(), F_OK) == 0) v.files.push_back(f);
  }
  v.description = v.files.empty() ? "host (lxcfs serves none of the files)" : "lxcfs";
  if (v.files.empty()) v.dir.clear();
  return v;
}

ResourceView Lxcfs::view_of(Lxcfs* l) {
  return l ? l->view() : ResourceView{"", {}, "host (lxcfs disabled in sysc.conf)"};
}

std::string Lxcfs::describe(Lxcfs* l, bool running, const std::string& spec_path) {
  if (!running) return view_of(l).description;
  auto text = read_file(spec_path);
  auto spec = text ? runtime::spec_from_json(*text) : Result<runtime::RuntimeSpec>(text.error());
  if (!spec) return "unknown (" + spec.error().message + ")";
  return spec->lxcfs_files.empty() ? "host (lxcfs was not available at start)" : "lxcfs";
}

}  // namespace sysc::lxcd
