// run_command: posix_spawnp with stderr captured through a pipe (any thread).
#include "common/command.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/unique_fd.h"

extern char** environ;

namespace sysc {

namespace {

std::string last_lines(std::string s, int n) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t pos = s.size();
  for (int i = 0; i < n && pos != std::string::npos && pos > 0; ++i) pos = s.rfind('\n', pos - 1);
  if (pos != std::string::npos && pos < s.size() && s[pos] == '\n') ++pos;
  return s.substr(pos == std::string::npos ? 0 : pos);
}

}  // namespace

Status run_command(const std::vector<std::string>& argv, const std::string& what) {
  if (argv.empty()) return make_error(what + ": empty command", EINVAL);
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) return sys_error(what + ": pipe");
  UniqueFd err_r(err[0]), err_w(err[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  // The system's directories, not the daemon's PATH (which its starter chose): cp is /bin/cp.
  std::string exe = argv[0];
  if (exe.find('/') == std::string::npos)
    for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"})
      if (std::string p = std::string(dir) + "/" + argv[0]; access(p.c_str(), X_OK) == 0) {
        exe = p;
        break;
      }
  pid_t pid;
  int rc = exe.find('/') == std::string::npos ? ENOENT
                                              : posix_spawn(&pid, exe.c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc == ENOENT) return make_error(what + ": " + argv[0] + " not found (is it installed?)", ENOENT);
  if (rc != 0) return sys_error(what + ": run " + argv[0], rc);
  err_w.reset();
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(err_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (text.size() < (64 << 10)) text.append(buf, static_cast<size_t>(n));
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return {};
  std::string how = WIFEXITED(st) ? "exit " + std::to_string(WEXITSTATUS(st))
                                  : "killed by signal " + std::to_string(WTERMSIG(st));
  std::string tail = last_lines(text, 3);
  return make_error(what + ": " + argv[0] + " failed (" + how + ")" + (tail.empty() ? "" : ": " + tail), EIO);
}

}  // namespace sysc
