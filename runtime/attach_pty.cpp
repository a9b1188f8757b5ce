// sysc attach, parent side (the CLI): the pty in the container's devpts, raw mode, the relay
// loops between the caller's terminal and the pty master or the stdio pipes, signals and
// waiting for child1.
#include "runtime/attach_internal.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <linux/openat2.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sysc::runtime::attach_detail {

namespace {

// SIGPIPE too: a closed stdout must end the relay's writes with EPIPE, not kill the CLI while the
// caller's terminal is in raw mode.
constexpr int kRelayedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGPIPE};
// After the command exited, keep draining the master while output still comes, this long at most.
constexpr auto kDrainQuiet = std::chrono::milliseconds(100);
constexpr auto kDrainMax = std::chrono::milliseconds(1000);

int pidfd_signal(int pidfd, int sig) { return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

void copy_winsize(int from_fd, int master) {
  winsize ws{};
  if (ioctl(from_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) ioctl(master, TIOCSWINSZ, &ws);
}

// The opened node must be a ptmx (char 5:2); anything else (a planted file or device) is refused.
Result<Pty> pty_from_ptmx(UniqueFd master) {
  struct stat st{};
  if (fstat(master.get(), &st) != 0) return sys_error("fstat ptmx");
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
    return make_error("ptmx: not a pty multiplexer", ENOTTY);
  if (unlockpt(master.get()) != 0) return sys_error("unlockpt");
  // The peer is opened through the master's own devpts mount: no path lookup the guest controls.
  UniqueFd slave(ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) return sys_error("TIOCGPTPEER");
  return Pty{std::move(master), std::move(slave), false};
}

Result<Pty> open_container_pty(pid_t init_pid) {
  std::string root_path = "/proc/" + std::to_string(init_pid) + "/root";
  UniqueFd root(::open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sys_error("open " + root_path);
  Error last = make_error("no ptmx", ENOENT);
  for (const char* path : {"dev/pts/ptmx", "dev/ptmx"}) {
    // Resolved inside the container's root: an absolute symlink there cannot reach the host.
    open_how how{};
    how.flags = O_RDWR | O_NOCTTY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    UniqueFd fd(static_cast<int>(syscall(SYS_openat2, root.get(), path, &how, sizeof how)));
    if (!fd) {
      last = sys_error(std::string("open ") + path);
      continue;
    }
    auto pty = pty_from_ptmx(std::move(fd));
    if (pty.ok()) {
      pty->in_container = true;
      return pty;
    }
    last = std::move(pty).error().context(path);
  }
  return last;
}

}  // namespace

Result<Pty> open_pty(pid_t init_pid, int winsize_fd) {
  auto pty = open_container_pty(init_pid);
  if (!pty.ok()) {
    // No usable devpts in the container: a host pty still gives a working terminal, only
    // without a /dev/pts/N node inside.
    UniqueFd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) return sys_error("open /dev/ptmx");
    pty = pty_from_ptmx(std::move(master));
    if (!pty.ok()) return std::move(pty).error();
  }
  winsize ws{};
  if (ioctl(winsize_fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0) ws = winsize{24, 80, 0, 0};
  ioctl(pty->master.get(), TIOCSWINSZ, &ws);
  return pty;
}

Status RawMode::enter(int fd) {
  if (tcgetattr(fd, &saved_) != 0) return sys_error("tcgetattr");
  termios raw = saved_;
  cfmakeraw(&raw);
  // TCSADRAIN, not TCSAFLUSH: input typed ahead must reach the command.
  if (tcsetattr(fd, TCSADRAIN, &raw) != 0) return sys_error("tcsetattr");
  fd_ = fd;
  return {};
}

void RawMode::restore() {
  if (fd_ < 0) return;
  tcsetattr(fd_, TCSADRAIN, &saved_);
  fd_ = -1;
}

SignalRelay::~SignalRelay() {
  if (fd_) {
    // Consume what arrived at the end so unblocking does not act on it (the command got it).
    int fl = fcntl(fd_.get(), F_GETFL);
    fcntl(fd_.get(), F_SETFL, fl | O_NONBLOCK);
    signalfd_siginfo si;
    while (read(fd_.get(), &si, sizeof si) == sizeof si) {
    }
  }
  if (blocked_) sigprocmask(SIG_SETMASK, &old_, nullptr);
}

Status SignalRelay::start() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kRelayedSignals) sigaddset(&set, s);
  if (sigprocmask(SIG_BLOCK, &set, &old_) != 0) return sys_error("sigprocmask");
  blocked_ = true;
  return {};
}

Status SignalRelay::open() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kRelayedSignals) sigaddset(&set, s);
  fd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd_) return sys_error("signalfd");
  return {};
}

void SignalRelay::handle(int child_pidfd, int master, int winsize_fd) {
  signalfd_siginfo si;
  while (read(fd_.get(), &si, sizeof si) == sizeof si) {
    int sig = static_cast<int>(si.ssi_signo);
    if (sig == SIGWINCH) {
      if (master >= 0) copy_winsize(winsize_fd, master);
    } else if (sig == SIGPIPE) {
      continue;
    } else if (si.ssi_code <= 0) {  // SI_USER, SI_QUEUE, SI_TKILL: sent by a process
      pidfd_signal(child_pidfd, sig);
    }
  }
}

namespace {

using Clock = std::chrono::steady_clock;

// After the command exited: how long poll may still wait for more output; 0 or less: stop.
int drain_timeout(Clock::time_point exited_at) {
  auto left = std::min(kDrainQuiet, std::chrono::duration_cast<std::chrono::milliseconds>(exited_at + kDrainMax - Clock::now()));
  return static_cast<int>(left.count());
}

Result<int> reap(pid_t child) {
  int status = 0;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return sys_error("waitpid");
  return status;
}

// Writes all of buf to fd, waiting when fd is non-blocking. False when fd is gone (output dropped).
bool write_all(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n > 0) {
      buf += n;
      len -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, -1);
    } else if (n < 0 && errno != EINTR) {
      return false;
    }
  }
  return true;
}

// State of the relay between the caller (fd 0/1) and the pty master.
struct Relay {
  int master;
  bool in_open = true;       // caller's stdin still readable
  bool out_open = true;      // caller's stdout still writable
  bool master_open = true;   // false once the last slave fd closed (EIO)
  char in_buf[4096];         // stdin -> master, pending
  size_t in_len = 0, in_off = 0;

  void read_stdin() {
    ssize_t n = read(STDIN_FILENO, in_buf, sizeof in_buf);
    if (n > 0) {
      in_len = static_cast<size_t>(n);
      in_off = 0;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      in_open = false;
    }
  }
  void write_master() {
    ssize_t n = write(master, in_buf + in_off, in_len - in_off);
    if (n > 0) in_off += static_cast<size_t>(n);
    else if (n < 0 && errno != EAGAIN && errno != EINTR) in_off = in_len;  // hung up: drop
    if (in_off == in_len) in_len = in_off = 0;
  }
  // Returns whether anything was read.
  bool read_master() {
    char buf[8192];
    ssize_t n = read(master, buf, sizeof buf);
    if (n > 0) {
      if (out_open) out_open = write_all(STDOUT_FILENO, buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0 || (errno != EINTR && errno != EAGAIN)) master_open = false;  // EIO: no slave left
    return false;
  }
};

}  // namespace

Result<int> wait_child(pid_t child, int child_pidfd, SignalRelay& sig) {
  for (;;) {
    pollfd fds[2] = {{sig.fd(), POLLIN, 0}, {child_pidfd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return sys_error("poll");
    }
    if (fds[0].revents) sig.handle(child_pidfd, -1, -1);
    if (fds[1].revents) return reap(child);
  }
}

Result<int> relay_and_wait(pid_t child, int child_pidfd, int master, SignalRelay& sig) {
  int winsize_fd = isatty(STDIN_FILENO) ? STDIN_FILENO : STDOUT_FILENO;
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  Relay r{master};
  std::optional<int> status;
  Clock::time_point exited_at;
  for (;;) {
    if (status && !r.master_open) break;
    pollfd fds[4] = {
        {r.in_open && r.in_len == 0 ? STDIN_FILENO : -1, POLLIN, 0},
        {r.master_open ? master : -1, static_cast<short>(POLLIN | (r.in_len ? POLLOUT : 0)), 0},
        {sig.fd(), POLLIN, 0},
        {status ? -1 : child_pidfd, POLLIN, 0},
    };
    int timeout = -1;
    if (status && (timeout = drain_timeout(exited_at)) <= 0) break;
    int n = poll(fds, 4, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("poll");
    if (n == 0) break;  // the command exited and its output stopped
    if (fds[0].revents) r.read_stdin();
    if (fds[1].revents & POLLOUT) r.write_master();
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) r.read_master();
    if (fds[2].revents) sig.handle(child_pidfd, master, winsize_fd);
    if (fds[3].revents) {
      status = TRY(reap(child));
      exited_at = Clock::now();
    }
  }
  if (!status) status = TRY(reap(child));
  return *status;
}

namespace {

// pipe2 with both ends above 2: a CLI started with fd 0-2 closed must not get a pipe there.
Status pipe_above_stdio(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return sys_error("pipe");
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  for (UniqueFd* fd : {&read_end, &write_end}) {
    if (fd->get() > STDERR_FILENO) continue;
    int moved = fcntl(fd->get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (moved < 0) return sys_error("fcntl(F_DUPFD_CLOEXEC)");
    fd->reset(moved);
  }
  return {};
}

bool same_terminal(int a, int b) {
  struct stat sa{}, sb{};
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_rdev == sb.st_rdev;
}

// One chunk from a non-blocking pipe to the caller's fd (dropped once that fd failed). False once
// the pipe is done: EOF (every writer in the container closed it) or an error.
bool pump(int from, int to, bool& to_ok) {
  char buf[8192];
  ssize_t n = read(from, buf, sizeof buf);
  if (n > 0) {
    if (to_ok) to_ok = write_all(to, buf, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EINTR || errno == EAGAIN);
}

// The caller's terminal (cooked mode, as it is: a line at a time) -> the command's stdin pipe.
struct StdinPump {
  UniqueFd& pipe;
  char buf[4096];
  size_t len = 0, off = 0;

  void read_terminal() {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n > 0) {
      len = static_cast<size_t>(n);
      off = 0;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      pipe.reset();  // ^D or hang-up: the command reads EOF
    }
  }
  void write_pipe() {
    ssize_t n = write(pipe.get(), buf + off, len - off);
    if (n > 0) off += static_cast<size_t>(n);
    else if (n < 0 && errno != EAGAIN && errno != EINTR) pipe.reset();  // EPIPE: nobody reads it
    if (off == len || !pipe) len = off = 0;
  }
};

}  // namespace

Result<StdioPipes> open_stdio_pipes() {
  StdioPipes p;
  if (isatty(STDIN_FILENO)) TRY(pipe_above_stdio(p.child[0], p.in));
  if (isatty(STDOUT_FILENO)) TRY(pipe_above_stdio(p.out, p.child[1]));
  if (isatty(STDERR_FILENO)) {
    if (p.child[1] && same_terminal(STDOUT_FILENO, STDERR_FILENO)) {
      p.child[2].reset(fcntl(p.child[1].get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1));
      if (!p.child[2]) return sys_error("fcntl(F_DUPFD_CLOEXEC)");
    } else {
      TRY(pipe_above_stdio(p.err, p.child[2]));
    }
  }
  return p;
}

Result<int> relay_pipes_and_wait(pid_t child, int child_pidfd, StdioPipes& pipes, SignalRelay& sig) {
  for (UniqueFd* fd : {&pipes.in, &pipes.out, &pipes.err})
    if (*fd) fcntl(fd->get(), F_SETFL, fcntl(fd->get(), F_GETFL) | O_NONBLOCK);
  StdinPump in{pipes.in};
  bool out_ok = true, err_ok = true;  // the caller's fd 1 / fd 2 still writable
  std::optional<int> status;
  Clock::time_point exited_at;
  for (;;) {
    if (status && !pipes.out && !pipes.err) break;
    pollfd fds[6] = {
        {pipes.in && in.len == 0 ? STDIN_FILENO : -1, POLLIN, 0},
        {pipes.in && in.len ? pipes.in.get() : -1, POLLOUT, 0},
        {pipes.out ? pipes.out.get() : -1, POLLIN, 0},
        {pipes.err ? pipes.err.get() : -1, POLLIN, 0},
        {sig.fd(), POLLIN, 0},
        {status ? -1 : child_pidfd, POLLIN, 0},
    };
    int timeout = -1;
    if (status && (timeout = drain_timeout(exited_at)) <= 0) break;
    int n = poll(fds, 6, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("poll");
    if (n == 0) break;  // the command exited and its output stopped (a background process holds the pipe)
    if (fds[0].revents) in.read_terminal();
    if (fds[1].revents) in.write_pipe();
    if (fds[2].revents && !pump(pipes.out.get(), STDOUT_FILENO, out_ok)) pipes.out.reset();
    if (fds[3].revents && !pump(pipes.err.get(), STDERR_FILENO, err_ok)) pipes.err.reset();
    if (fds[4].revents) sig.handle(child_pidfd, -1, -1);
    if (fds[5].revents) {
      status = TRY(reap(child));
      exited_at = Clock::now();
      pipes.in.reset();  // no more reading the caller's terminal for a command that is gone
    }
  }
  if (!status) status = TRY(reap(child));
  return *status;
}

}  // namespace sysc::runtime::attach_detail
