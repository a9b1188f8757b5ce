// Starting lxcd on demand (CLI side): double fork + setsid, readiness wait, failure diagnosis.
#include "tools/daemon_start.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "common/fs.h"
#include "common/unique_fd.h"

namespace sysc::cli {
namespace {

using namespace std::chrono_literals;
constexpr auto kWaitLimit = 10s;
constexpr int kPollMs = 10;
constexpr int kLogTailLines = 15;

std::string lxcd_binary() {
  if (const char* env = std::getenv("SYSC_LXCD"); env && *env) return env;
  std::string beside = self_exe_dir() + "/lxcd";
  if (access(beside.c_str(), X_OK) == 0) return beside;
  return SYSC_LIBEXEC_DIR "/lxcd";
}

// 0 when something accepts connections on PATH, else the errno of the attempt.
int probe_socket(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ENAMETOOLONG;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
}

// Whether any process holds a lock (flock or fcntl) on PATH, judged from /proc/locks without
// touching the lock ourselves (taking it, even briefly, could make a starting lxcd give up).
bool lock_held(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  std::ifstream locks("/proc/locks");
  if (!locks) return true;  // cannot tell: assume a starting lxcd holds it and keep waiting
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream words(line);
    std::string w;
    while (words >> w) {
      unsigned maj, min;
      unsigned long ino;
      if (sscanf(w.c_str(), "%x:%x:%lu", &maj, &min, &ino) == 3 && maj == major(st.st_dev) &&
          min == minor(st.st_dev) && ino == st.st_ino)
        return true;
    }
  }
  return false;
}

std::string log_tail(const std::string& log) {
  UniqueFd fd(open(log.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return "no log at " + log;
  off_t size = lseek(fd.get(), 0, SEEK_END);
  off_t from = size > 8192 ? size - 8192 : 0;
  std::string text(static_cast<size_t>(size - from), '\0');
  ssize_t n = pread(fd.get(), text.data(), text.size(), from);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  if (lines.empty()) return "its log " + log + " is empty";
  std::string out;
  size_t first = lines.size() > kLogTailLines ? lines.size() - kLogTailLines : 0;
  for (size_t i = first; i < lines.size(); i++) out += "\n  " + lines[i];
  return "last lines of " + log + ":" + out;
}

// Messages from the forked children on the status pipe: the daemon's pid, or exec's errno.
struct StatusMsg {
  int kind;  // 1 = pid, 2 = exec errno
  int value;
};

// The grandchild: stdio to /dev/null and the log, no inherited fds, default signals, exec.
// Async-signal-safe only (the strings were built before fork).
[[noreturn]] void exec_daemon_in_child(char* const argv[], int null_fd, int log_fd, int status_fd) {
  dup2(null_fd, 0);
  dup2(log_fd, 1);
  dup2(log_fd, 2);
  if (status_fd > 3) syscall(SYS_close_range, 3, status_fd - 1, 0);
  syscall(SYS_close_range, status_fd + 1, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  if (chdir("/") != 0) {}
  execv(argv[0], argv);
  StatusMsg m{2, errno};
  if (write(status_fd, &m, sizeof m) < 0) {}
  _exit(127);
}

// Double fork: lxcd is reparented away from us and, not being a session leader, never gets a
// controlling terminal. Returns lxcd's pid once exec succeeded.
Result<pid_t> spawn_detached(const std::string& binary, const Paths& paths) {
  std::vector<std::string> args{binary};
  if (!paths.root.empty()) args.insert(args.end(), {"--root", paths.root});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  TRY_CTX(mkdir_p(paths.log_dir), "creating the log directory");
  UniqueFd log(open(paths.daemon_log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log) return sys_error("opening " + paths.daemon_log());
  UniqueFd null_fd(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) return sys_error("opening /dev/null");
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t mid = fork();
  if (mid < 0) return sys_error("fork");
  if (mid == 0) {
    setsid();
    pid_t pid = fork();
    if (pid == 0) exec_daemon_in_child(argv.data(), null_fd.get(), log.get(), wr.get());
    StatusMsg m{pid > 0 ? 1 : 2, pid > 0 ? pid : errno};
    if (write(wr.get(), &m, sizeof m) < 0) {}
    _exit(0);
  }
  wr.reset();
  while (waitpid(mid, nullptr, 0) < 0 && errno == EINTR) {}
  pid_t daemon = 0;
  StatusMsg m;
  ssize_t n;
  while ((n = read(rd.get(), &m, sizeof m)) == static_cast<ssize_t>(sizeof m) || (n < 0 && errno == EINTR)) {
    if (n < 0) continue;
    if (m.kind == 2) return sys_error("cannot run " + binary, m.value);
    daemon = m.value;
  }
  if (daemon <= 0) return make_error("starting " + binary + ": the spawning child failed");
  return daemon;
}

bool exited(const UniqueFd& pidfd, int wait_ms) {
  if (!pidfd) {
    usleep(wait_ms * 1000);
    return false;
  }
  pollfd pfd{pidfd.get(), POLLIN, 0};
  return poll(&pfd, 1, wait_ms) > 0;
}

Status wait_for_socket(const Paths& paths, pid_t daemon) {
  // A pidfd tells us when our lxcd exits (it is not our child, so waitpid cannot).
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, daemon, 0)));
  bool gone = !pidfd && errno == ESRCH;
  auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (true) {
    if (probe_socket(paths.socket_path) == 0) return {};
    // Ours exiting is fine if another lxcd holds the lock: that one won a start race.
    if (gone && !lock_held(paths.lock_path))
      return make_error("lxcd exited without opening " + paths.socket_path + "; " + log_tail(paths.daemon_log()));
    if (std::chrono::steady_clock::now() > deadline)
      return make_error("lxcd did not open " + paths.socket_path + " within 10 s; " + log_tail(paths.daemon_log()));
    if (gone)
      usleep(kPollMs * 1000);
    else
      gone = exited(pidfd, kPollMs);
  }
}

}  // namespace

Status start_daemon_and_wait(const Paths& paths) {
  if (geteuid() != 0)
    return make_error("lxcd is not running (no socket at " + paths.socket_path +
                      ") and only root can start it; run sysc as root", EPERM);
  std::string binary = lxcd_binary();
  pid_t daemon = TRY(spawn_detached(binary, paths));
  std::cerr << "sysc: lxcd was not running; started it (log: " << paths.daemon_log() << ")\n";
  return wait_for_socket(paths, daemon);
}

}  // namespace sysc::cli
