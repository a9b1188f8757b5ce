// Spawning sysc-shim and talking to its control socket (lxcd side, any thread).
#include "lxcd/shim_client.h"

#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace sysc::lxcd {

using nlohmann::json;

Result<ShimLaunch> ShimLaunch::spawn(const std::string& shim_path, const std::string& spec_path, int log_fd) {
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
  const char* argv[] = {shim_path.c_str(), spec_path.c_str(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, shim_path.c_str(), &fa, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sys_error("spawn " + shim_path, rc);
  ShimLaunch l;
  l.pid_ = pid;
  l.status_ = std::move(rd);
  l.go_ = std::move(go_wr);
  return l;
}

ShimLaunch::ShimLaunch(ShimLaunch&& o) noexcept
    : pid_(std::exchange(o.pid_, 0)), status_(std::move(o.status_)), go_(std::move(o.go_)) {}

ShimLaunch::~ShimLaunch() {
  if (pid_ <= 0 || !go_) return;
  go_.reset();  // EOF on the shim's fd 4: it exits at once
  int st = 0;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
}

void ShimLaunch::signal_shim() {
  // A shim that is already gone (it failed on its own) has written its status: a failed write
  // (EPIPE, SIGPIPE is ignored) is read from there.
  const char byte = 1;
  ssize_t n;
  do n = ::write(go_.get(), &byte, 1);
  while (n < 0 && errno == EINTR);
}

void ShimLaunch::spec_ready() { signal_shim(); }

Result<SpawnedShim> ShimLaunch::cgroup_ready() {
  signal_shim();
  go_.reset();
  // The shim answers once the init was exec'ed (its own setup timeout is shorter); a shim that
  // never answers is killed rather than holding the container's lock forever.
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
  }
  SpawnedShim s{pid_, json::parse(out, nullptr, false)};
  if (!s.status.is_object()) {
    int st = 0;
    waitpid(pid_, &st, 0);
    return make_error("start failed: supervisor exited without a status (see the daemon log)", EIO);
  }
  return s;
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
  iovec iov{line.data(), line.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  char cmsg[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = cmsg;
    msg.msg_controllen = sizeof cmsg;
    cmsghdr* h = CMSG_FIRSTHDR(&msg);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &pass_fd, sizeof(int));
  }
  if (sendmsg(fd_.get(), &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) return sys_error("send to supervisor");
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
