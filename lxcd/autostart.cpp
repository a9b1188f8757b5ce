// Autostart sequence, shutdown waves, backoff and the boot id (pure), and readiness commands
// run through the sysc CLI (lxcd is multi-threaded, so it never joins namespaces itself).
#include "lxcd/autostart.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <tuple>
#include <unistd.h>

#include "common/fs.h"
#include "common/paths.h"
#include "common/unique_fd.h"

extern char** environ;

namespace sysc::lxcd {

AutostartPlan plan_autostart(const std::vector<HostedContainer>& autostarted, const std::set<std::string>& known) {
  AutostartPlan plan;
  std::map<std::string, const HostedContainer*> by_name;
  for (const auto& c : autostarted) by_name[c.name] = &c;
  std::map<std::string, std::set<std::string>> pending;  // NAME -> deps not yet started
  for (const auto& c : autostarted) {
    auto& deps = pending[c.name];
    for (const auto& d : c.after) {
      if (d == c.name) {
        plan.errors.push_back(c.name + ": autostart.after names the container itself; ignoring it");
      } else if (!known.count(d)) {
        plan.errors.push_back(c.name + ": autostart.after names '" + d + "', which is not a container; ignoring it");
      } else if (!by_name.count(d)) {
        plan.errors.push_back(c.name + ": autostart.after names '" + d +
                              "', which has autostart = false; not waiting for it");
      } else if (deps.insert(d).second) {
        plan.wait_for[c.name].push_back(d);
      }
    }
  }
  auto key = [&](const std::string& n) { return std::make_tuple(by_name[n]->order, n); };
  auto earlier = [&](const std::string& a, const std::string& b) { return key(a) < key(b); };
  while (!pending.empty()) {
    std::vector<std::string> ready, all;
    for (const auto& [n, deps] : pending) {
      all.push_back(n);
      if (deps.empty()) ready.push_back(n);
    }
    std::string next;
    if (!ready.empty()) {
      next = *std::min_element(ready.begin(), ready.end(), earlier);
    } else {
      // Everything left waits on something left: a cycle. Name it and break it at its first member.
      std::sort(all.begin(), all.end(), earlier);
      next = all.front();
      std::string members;
      for (std::string cur = next; members.find("'" + cur + "'") == std::string::npos;) {
        members += (members.empty() ? "'" : " -> '") + cur + "'";
        cur = *pending[cur].begin();
      }
      plan.errors.push_back("autostart.after forms a cycle (" + members + "); starting '" + next +
                            "' without waiting for " + *pending[next].begin());
      auto& w = plan.wait_for[next];
      std::erase_if(w, [&](const std::string& d) { return pending.count(d) > 0; });
    }
    plan.sequence.push_back(next);
    pending.erase(next);
    for (auto& [n, deps] : pending) deps.erase(next);
  }
  return plan;
}

std::vector<std::vector<std::string>> shutdown_waves(const std::vector<HostedContainer>& running) {
  std::set<std::string> names;
  std::map<std::string, const HostedContainer*> by_name;
  for (const auto& c : running) {
    names.insert(c.name);
    by_name[c.name] = &c;
  }
  // The autostart sequence of what runs (`after` naming a stopped container does not matter).
  std::vector<std::string> seq = plan_autostart(running, names).sequence;
  std::reverse(seq.begin(), seq.end());
  std::vector<std::vector<std::string>> waves;
  for (const auto& n : seq) {
    bool join = !waves.empty() && by_name[waves.back().front()]->order == by_name[n]->order;
    for (size_t i = 0; join && i < waves.back().size(); ++i) {
      const auto& w = waves.back()[i];
      const auto& after = by_name[w]->after;
      join = std::find(after.begin(), after.end(), n) == after.end();  // none of the wave waits for N
    }
    if (join) waves.back().push_back(n);
    else waves.push_back({n});
  }
  return waves;
}

int64_t restart_delay_ms(int consecutive_failures) {
  int64_t ms = 1000;
  for (int i = 0; i < consecutive_failures && ms < 300000; ++i) ms *= 2;
  return std::min<int64_t>(ms, 300000);
}

std::string current_boot_id() {
  if (const char* env = std::getenv("SYSC_BOOT_ID"); env && *env) return env;
  auto id = read_file("/proc/sys/kernel/random/boot_id");
  std::string s = id ? *id : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

namespace {

std::string sysc_binary() {
  std::string beside = self_exe_dir() + "/sysc";
  if (access(beside.c_str(), X_OK) == 0) return beside;
  return SYSC_BIN_DIR "/sysc";
}

}  // namespace

Result<int> run_inside(const std::string& root, const std::string& name, const std::vector<std::string>& argv,
                       int timeout_ms, std::string* out) {
  std::vector<std::string> args = {sysc_binary()};
  if (!root.empty()) args.insert(args.end(), {"--root", root});
  args.insert(args.end(), {"attach", "-T", name, "--"});
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) return sys_error(name + ": readiness check: pipe");
  UniqueFd rd(pfd[0]), wr(pfd[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int err = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) return sys_error(name + ": readiness check: run " + args[0], err);
  wr.reset();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{rd.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    ssize_t n = read(rd.get(), buf, sizeof buf);
    if (n <= 0) break;
    if (out && out->size() < 65536) out->append(buf, static_cast<size_t>(n));
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return make_error(name + ": readiness check took longer than " + std::to_string(timeout_ms / 1000) + " s", ETIMEDOUT);
  return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

}  // namespace sysc::lxcd
