// Spawning sysc-shim and talking to its control socket (lxcd side, any thread).
#include "lxcd/shim_client.h"

#include "common/fd_passing.h"
#include "common/fs.h"
#include "runtime/spec.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <climits>
#include <cstdio>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

extern char** environ;

namespace sysc::lxcd {

using nlohmann::json;

Result<ShimLaunch> ShimLaunch::spawn(const std::string& shim_path, int log_fd, const std::string& spare_root) {
  int p[2], g[2];
  if (pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  if (pipe2(g, O_CLOEXEC) != 0) return sys_error("pipe");
  UniqueFd go_rd(g[0]), go_wr(g[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, log_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, log_fd, 2);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 3);
  posix_spawn_file_actions_adddup2(&fa, go_rd.get(), 4);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);  // also what lxcd itself inherited as ignored (nohup)
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const char* argv[] = {shim_path.c_str(), nullptr};
  std::vector<char*> envp;
  const std::string spare_env = "SYSC_SPARE_DIR=" + spare_root;
  for (char** e = environ; *e; ++e)
    if (strncmp(*e, "SYSC_SPARE_DIR=", 15) != 0) envp.push_back(*e);
  if (!spare_root.empty()) envp.push_back(const_cast<char*>(spare_env.c_str()));
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, shim_path.c_str(), &fa, &attr, const_cast<char**>(argv), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sys_error("spawn " + shim_path, rc);
  ShimLaunch l;
  l.pid_ = pid;
  l.status_ = std::move(rd);
  l.go_ = std::move(go_wr);
  if (!spare_root.empty()) l.spare_dir_ = spare_root + "/.spare-" + std::to_string(pid);
  return l;
}

bool ShimLaunch::take_run_dir(const std::string& run_dir) {
  if (spare_dir_.empty() || ::rename(spare_dir_.c_str(), run_dir.c_str()) != 0) return false;
  spare_dir_.clear();  // the container's now
  return true;
}

void ShimLaunch::reap() {
  // Dead but not reaped yet, so its pid (in the directory's name) is not anyone else's: what it
  // may have left (killed before it could remove it) goes first.
  if (!spare_dir_.empty()) {
    (void)remove_tree(spare_dir_ + ".tmp");
    (void)remove_tree(spare_dir_);
  }
  int st = 0;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
}

ShimLaunch::ShimLaunch(ShimLaunch&& o) noexcept
    : pid_(std::exchange(o.pid_, 0)), status_(std::move(o.status_)), go_(std::move(o.go_)),
      spare_dir_(std::move(o.spare_dir_)) {}

ShimLaunch::~ShimLaunch() {
  if (pid_ <= 0 || !go_) return;
  go_.reset();  // EOF on the shim's fd 4: it exits at once
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  reap();
}

void ShimLaunch::write_go(const void* data, size_t size) {
  // A shim that is already gone (it failed on its own) has written its status: a failed write
  // (EPIPE, SIGPIPE is ignored) is read from there. lxcd is the pipe's only writer and the
  // shim reads exact lengths: one write of each message.
  ssize_t n;
  do n = ::write(go_.get(), data, size);
  while (n < 0 && errno == EINTR);
}

void ShimLaunch::make_cgroup(const std::string& driver, const std::string& rel, bool parents_ready) {
  const std::string payload = driver + "\n" + rel + (parents_ready ? "\n1" : "\n0");
  if (payload.size() > PATH_MAX) return;  // the shim then makes it itself, after go()
  const uint16_t head[2] = {runtime::kGoMakeCgroup, static_cast<uint16_t>(payload.size())};
  std::string msg(reinterpret_cast<const char*>(head), sizeof head);
  msg += payload;
  write_go(msg.data(), msg.size());
}

void ShimLaunch::spec_ready(const std::string& spec_path) {
  std::string msg(2, '\0');
  // Paths come from lxcd's own state root; one longer than PATH_MAX is sent empty, and the shim
  // refuses it (it stops, as on a called-off start).
  const uint16_t len = spec_path.size() <= PATH_MAX ? static_cast<uint16_t>(spec_path.size()) : 0;
  memcpy(msg.data(), &len, sizeof len);
  msg.append(spec_path, 0, len);
  write_go(msg.data(), msg.size());
}

bool ShimLaunch::alive() {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  int r;
  do r = waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  while (r < 0 && errno == EINTR);
  if (r == 0 && info.si_pid == 0) return true;  // still running
  if (r == 0) reap();
  pid_ = 0;  // reaped (or not ours): nothing to wait for any more
  return false;
}

Result<SpawnedShim> ShimLaunch::go() {
  const char byte = 1;
  write_go(&byte, 1);
  go_.reset();
  // The shim answers with one line once the init was exec'ed (its own setup timeout is shorter);
  // a shim that never answers is killed rather than holding the container's lock forever. The
  // line is the answer: waiting for the pipe's end as well would wait for the shim to run again,
  // and the init it just started may take the CPU first.
  std::string out;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{status_.get(), POLLIN, 0};
    int ready = left.count() > 0 ? poll(&pfd, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      kill(pid_, SIGKILL);
      int st = 0;
      waitpid(pid_, &st, 0);
      return make_error("start failed: the supervisor did not report within 90 s", ETIMEDOUT);
    }
    ssize_t r = ::read(status_.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
    if (out.back() == '\n') break;
  }
  SpawnedShim s{pid_, json::parse(out, nullptr, false)};
  if (!s.status.is_object()) {
    int st = 0;
    waitpid(pid_, &st, 0);
    return make_error("start failed: supervisor exited without a status (see the daemon log)", EIO);
  }
  return s;
}

ShimPool::ShimPool(std::string shim_path, int log_fd, std::string run_root, std::chrono::milliseconds quiet)
    : shim_path_(std::move(shim_path)), run_root_(std::move(run_root)), log_fd_(log_fd), quiet_(quiet) {}

ShimPool::~ShimPool() {
  {
    std::lock_guard<std::mutex> g(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (const Spare& spare : spares_) {
    // Out of SCHED_IDLE, so that it ends (and is reaped by the launch's destructor) at once.
    sched_param normal{};
    sched_setscheduler(spare.launch.pid(), SCHED_OTHER, &normal);
  }
}

void ShimPool::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

namespace {
bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}
}  // namespace

void ShimPool::run() {
  // This thread, and so each spare from its exec to its wait on the go pipe, runs at SCHED_IDLE.
  sched_param idle{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) != 0) return;  // no pool: starts spawn their own
  std::unique_lock<std::mutex> l(mu_);
  uint64_t failed_at = ~uint64_t{0};
  for (;;) {
    cv_.wait(l, [&] { return quit_ || (spares_.size() < kSpares && takes_ != failed_at); });
    // With a spare still there: a quiet moment first (see the class). The wait ends when a
    // start takes that one too.
    while (!quit_ && !spares_.empty() && std::chrono::steady_clock::now() < busy_until_)
      cv_.wait_until(l, busy_until_);
    if (quit_) return;
    const uint64_t takes = takes_;
    const int cpu = take_cpu_;
    l.unlock();
    // On the CPU of the start that took the last spare: at SCHED_IDLE it then only runs while
    // that CPU has nothing else to do. On another CPU it would run at once, beside the start
    // and the commands that follow it, and slow them down (~0.4 ms of a start here).
    cpu_set_t all, one;
    const bool pinned = cpu >= 0 && sched_getaffinity(0, sizeof all, &all) == 0;
    if (pinned) {
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      sched_setaffinity(0, sizeof one, &one);  // the spare inherits it until a start takes it
    }
    struct stat exe {};
    Result<ShimLaunch> launch = ::stat(shim_path_.c_str(), &exe) == 0 ? ShimLaunch::spawn(shim_path_, log_fd_, run_root_)
                                                                       : sys_error("stat " + shim_path_);
    if (pinned) sched_setaffinity(0, sizeof all, &all);
    l.lock();
    if (!launch) {
      fprintf(stderr, "lxcd: spare supervisor: %s (starts spawn their own)\n", launch.error().message.c_str());
      failed_at = takes;
      continue;
    }
    spares_.push_back(Spare{std::move(*launch), exe});
  }
}

Result<ShimLaunch> ShimPool::take() {
  std::optional<ShimLaunch> spare;
  struct stat exe_then {};
  {
    // Never wait here for the SCHED_IDLE thread: when it holds the lock, spawn a new shim.
    std::unique_lock<std::mutex> l(mu_, std::try_to_lock);
    if (l.owns_lock()) {
      if (!spares_.empty()) {
        spare.emplace(std::move(spares_.front().launch));
        exe_then = spares_.front().exe;
        spares_.pop_front();
      }
      ++takes_;
      busy_until_ = std::chrono::steady_clock::now() + quiet_;
      take_cpu_ = sched_getcpu();
    }
  }
  std::vector<ShimLaunch> stale;  // reaped when this returns, after the start's shim is spawned
  if (spare) {
    struct stat exe_now {};
    const bool same_binary = ::stat(shim_path_.c_str(), &exe_now) == 0 && same_file(exe_now, exe_then);
    const bool usable = same_binary && spare->alive();
    if (!same_binary) {
      // An upgrade: the other spare runs the old binary too, unless made after it.
      std::unique_lock<std::mutex> l(mu_, std::try_to_lock);
      std::deque<Spare> all;
      if (l.owns_lock()) all.swap(spares_);
      for (Spare& other : all) {
        if (same_file(exe_now, other.exe)) {
          spares_.push_back(std::move(other));
          continue;
        }
        sched_param normal{};
        sched_setscheduler(other.launch.pid(), SCHED_OTHER, &normal);  // so that it ends at once
        stale.push_back(std::move(other.launch));
      }
    }
    if (spare->pid() > 0) {
      // Its container's init inherits its policy: never SCHED_IDLE. One left unused must end at
      // once: EOF on its go pipe when it is dropped here, then it is reaped.
      sched_param normal{};
      // And it takes the CPUs a shim spawned now would have (lxcd's), not the one it waited on.
      cpu_set_t mask;
      const bool mask_ok =
          sched_getaffinity(0, sizeof mask, &mask) == 0 && sched_setaffinity(spare->pid(), sizeof mask, &mask) == 0;
      if (sched_setscheduler(spare->pid(), SCHED_OTHER, &normal) == 0 && mask_ok && usable) return std::move(*spare);
    }
  }
  return ShimLaunch::spawn(shim_path_, log_fd_);
}

void ShimPool::refill() { cv_.notify_one(); }

void ShimPool::hold_off() {
  // As in take(): never wait for the SCHED_IDLE thread (it holds the lock only for moments).
  std::unique_lock<std::mutex> l(mu_, std::try_to_lock);
  if (l.owns_lock()) busy_until_ = std::max(busy_until_, std::chrono::steady_clock::now() + quiet_);
}

Result<ShimConnection> ShimConnection::connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return make_error("socket path too long: " + path, ENAMETOOLONG);
  path.copy(addr.sun_path, path.size());
  ShimConnection c;
  c.fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!c.fd_) return sys_error("socket");
  if (::connect(c.fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return sys_error("connect " + path);
  return c;
}

Status ShimConnection::send(const json& request, int pass_fd) {
  std::string line = request.dump() + "\n";
  if (send_with_fds(fd_.get(), line.data(), line.size(), &pass_fd, pass_fd >= 0 ? 1 : 0) != static_cast<ssize_t>(line.size()))
    return sys_error("send to supervisor");
  return {};
}

Result<json> ShimConnection::read(int timeout_ms) {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      json j = json::parse(buf_.substr(0, nl), nullptr, false);
      buf_.erase(0, nl + 1);
      if (j.is_discarded()) return make_error("supervisor sent malformed data", EPROTO);
      return j;
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return make_error("supervisor did not answer in time", ETIMEDOUT);
    char buf[4096];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error("supervisor closed the connection", EPIPE);
    buf_.append(buf, static_cast<size_t>(n));
  }
}

pid_t ShimConnection::peer_pid() const {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (!fd_ || getsockopt(fd_.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return cred.pid;
}

}  // namespace sysc::lxcd
