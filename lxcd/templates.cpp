// Template execution for lxcd (any thread): posix_spawn, progress lines, stderr tail on failure.
#include "lxcd/templates.h"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/paths.h"
#include "common/unique_fd.h"

namespace sysc::lxcd {

std::string template_dir() {
  if (const char* env = std::getenv("SYSC_TEMPLATE_DIR"); env && *env) return env;
  std::string local = self_exe_dir() + "/../share/sysc/templates";
  if (path_exists(local + "/README.md")) return local;
  return SYSC_TEMPLATE_DIR;
}

namespace {

std::string tail_lines(const std::string& s, int n) {
  size_t pos = s.size();
  while (pos > 0 && (s[pos - 1] == '\n' || s[pos - 1] == ' ')) --pos;
  size_t end = pos;
  for (int i = 0; i < n && pos > 0; ++i) {
    pos = s.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
  }
  std::string t = s.substr(pos, end - pos);
  while (!t.empty() && t[0] == '\n') t.erase(0, 1);
  return t;
}

void emit_progress(std::string& buf, const std::function<void(int, const std::string&)>& cb) {
  size_t nl;
  while ((nl = buf.find('\n')) != std::string::npos) {
    std::string line = buf.substr(0, nl);
    buf.erase(0, nl + 1);
    if (line.rfind("progress: ", 0) != 0) continue;
    char* end = nullptr;
    long pct = std::strtol(line.c_str() + 10, &end, 10);
    std::string msg = end && *end == ' ' ? std::string(end + 1) : "";
    if (cb) cb(static_cast<int>(pct), msg);
  }
}

}  // namespace

Status run_template(const TemplateRun& run, const std::function<void(int, const std::string&)>& on_progress) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return sys_error("pipe");
  UniqueFd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  std::vector<std::string> args = {run.template_path, "--name", run.name, "--rootfs", run.rootfs};
  if (!run.cache_dir.empty()) args.insert(args.end(), {"--cache-dir", run.cache_dir});
  // The user's arguments go verbatim (--release, --arch, --mirror, "-- SPECIFIC..."); the ones
  // lxcd decides are refused so a user cannot point the template at another directory.
  for (const auto& a : run.extra_args) {
    for (const char* own : {"--name", "--rootfs", "--cache-dir"})
      if (a == own || a.rfind(std::string(own) + "=", 0) == 0)
        return make_error(std::string("template argument ") + own + " is set by sysc", EINVAL);
    if (a == "--") break;
  }
  args.insert(args.end(), run.extra_args.begin(), run.extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string conf_env = "SYSC_CONFIG_DIR=" + run.config_dir;
  const char* envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
                        "SYSC_TEMPLATE_API=1", conf_env.c_str(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  // Its own process group, so a cancel reaches debootstrap and everything else it started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, run.template_path.c_str(), &fa, &attr, argv.data(), const_cast<char**>(envp));
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sys_error("run template " + run.template_path, rc);
  if (!run.pgid_file.empty()) (void)write_file_atomic(run.pgid_file, std::to_string(pid) + "\n");
  out_w.reset();
  err_w.reset();
  std::string outbuf, errbuf;
  pollfd fds[3] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}, {run.cancel_fd, POLLRDHUP, 0}};
  int open_fds = 2;
  bool cancelled = false;
  while (open_fds > 0) {
    if (poll(fds, 3, cancelled ? 10000 : -1) == 0 && cancelled) kill(-pid, SIGKILL);  // ignored SIGTERM
    if (fds[2].fd >= 0 && (fds[2].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
      cancelled = true;
      fds[2].fd = -1;
      kill(-pid, SIGTERM);
    }
    for (int i = 0; i < 2; ++i) {
      pollfd& p = fds[i];
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(p.fd, buf, sizeof buf);
      if (n <= 0) {
        p.fd = -1;
        --open_fds;
        continue;
      }
      if (p.fd == out_r.get()) {
        outbuf.append(buf, static_cast<size_t>(n));
        emit_progress(outbuf, on_progress);
      } else if (errbuf.size() < (1 << 20)) {
        errbuf.append(buf, static_cast<size_t>(n));
      }
    }
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (cancelled) kill(-pid, SIGKILL);  // whatever of its group is left
  if (cancelled) return make_error("cancelled: the client went away (interrupted)", ECANCELED);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return {};
  std::string how = WIFEXITED(st) ? "exit " + std::to_string(WEXITSTATUS(st)) : "killed by signal " + std::to_string(WTERMSIG(st));
  std::string name = run.template_path.substr(run.template_path.rfind('/') + 1);
  std::string detail = tail_lines(errbuf, 5);
  return make_error("template " + name + " failed (" + how + ")" + (detail.empty() ? "" : ": " + detail), EIO);
}

}  // namespace sysc::lxcd
