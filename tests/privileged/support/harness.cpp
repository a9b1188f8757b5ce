// SyscEnv implementation: runs the real binaries, cleans up and reports leftovers.
#include "support/harness.h"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "lxcd/shim_client.h"
#include "net/netlink.h"
#include "net/nft.h"
#include "runtime/cgroup.h"

namespace sysc::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

SyscEnv::SyscEnv(const std::string& global_conf, size_t root_length) {
  char tmpl[] = "/tmp/sysc-test-XXXXXX";
  top_ = root_ = mkdtemp(tmpl);
  chmod(root_.c_str(), 0711);  // dnsmasq, after dropping root, re-reads its files below run/
  if (root_length > root_.size() + 1) {
    root_ += "/" + std::string(root_length - root_.size() - 1, 'r');
    (void)mkdir_p(root_, 0711);
  }
  std::random_device rd;
  cgroup_parent_ = "sysc-test-" + std::to_string(getpid()) + "-" + std::to_string(rd() % 100000);
  // Own bridge and subnet per test process, so parallel test binaries never share a network.
  static int counter = 0;
  int pid = getpid();
  bridge_ = "sct" + std::to_string(pid % 1000000) + static_cast<char>('a' + counter++ % 26);
  subnet_ = "10." + std::to_string(100 + (pid / 256) % 100) + "." + std::to_string(pid % 256);
  (void)mkdir_p(root_ + "/etc/sysc", 0755);
  std::ofstream(root_ + "/etc/sysc/sysc.conf")
      << "[network]\nbridge = " << bridge_ << "\naddress = " << address(1) << "/24\n"
      // The host-wide registry of id ranges stays inside the test's own root, unless the test shares one.
      << (global_conf.find("idmap_registry") == std::string::npos
              ? "[security]\nidmap_registry = " + root_ + "/var/lib/sysc-idmap/ranges\n"
              : std::string())
      << "[cgroup]\nparent = " << cgroup_parent_ << "\n"  // last: global_conf may go on with [cgroup] keys
      << global_conf;
}

SyscEnv::~SyscEnv() {
  if (lxcd_pid() > 0) {
    auto r = sysc({"list", "--format", "json"}, "", 30);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_array())
      for (auto& c : j) sysc({"destroy", "--force", c.value("name", "")}, "", 60);
    sysc({"network", "remove"}, "", 30);
    kill_lxcd(SIGTERM);
    // An lxcd still busy after 5 s could set its network up again after the clean-up below.
    if (lxcd_pid() > 0) kill_lxcd(SIGKILL);
  }
  // Whatever is left of the network when lxcd could not do it: dnsmasq, nft table, bridge.
  if (int dns = std::atoi(slurp(root_ + "/run/sysc/dnsmasq.pid").c_str()); dns > 0 &&
      slurp("/proc/" + std::to_string(dns) + "/cmdline").find(root_) != std::string::npos)
    kill(dns, SIGTERM);
  std::string table = "sysc_" + bridge_;
  (void)net::remove_table(table);
  if (auto nl = net::Netlink::open(); nl) (void)nl->delete_link(bridge_);
  // lxcd leaves its lxcfs running for the containers (it outlives lxcd): end it here.
  if (int fs = std::atoi(slurp(root_ + "/run/sysc/lxcfs.pid").c_str()); fs > 0 &&
      slurp("/proc/" + std::to_string(fs) + "/cmdline").find(root_) != std::string::npos) {
    // Its mount first, then SIGKILL: after SIGTERM lxcfs took more than 2 s to exit here, and
    // nothing of it outlives the root anyway. Then wait until it is gone: a look right after
    // this (test_resource_view's) must not race its exit.
    umount2((root_ + "/run/sysc/.lxcfs").c_str(), MNT_DETACH);
    kill(fs, SIGKILL);
    for (int i = 0; i < 250 && alive(fs); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Whatever a failed test left: kill and remove the whole cgroup parent, unmount, delete.
  if (auto cg = cgroup::make_driver(); cg) (void)(*cg)->destroy(cgroup_parent_);
  for (int i = 0; i < 3; ++i) {
    std::istringstream mi(slurp("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(mi, line)) {
      std::istringstream ls(line);
      std::string f[5];
      for (auto& x : f) ls >> x;
      if (f[4].rfind(root_ + "/", 0) == 0) umount2(f[4].c_str(), MNT_DETACH);
    }
  }
  (void)remove_tree(top_);
}

void SyscEnv::set_env(const std::string& key, const std::string& value) { env_.push_back(key + "=" + value); }

RunResult SyscEnv::sysc(const std::vector<std::string>& args, const std::string& input, int timeout_s) {
  return run_sysc({}, args, input, timeout_s);
}

RunResult SyscEnv::sysc_as(const std::vector<std::string>& prefix, const std::vector<std::string>& args, int timeout_s) {
  return run_sysc(prefix, args, "", timeout_s);
}

RunResult SyscEnv::run_sysc(const std::vector<std::string>& prefix, const std::vector<std::string>& args,
                            const std::string& input, int timeout_s) {
  // Everything the child needs is built before fork: tests call this from several threads.
  std::vector<std::string> all = prefix;
  all.insert(all.end(), {SYSC_BIN, "--root", root_});
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) env_storage.push_back(*e);
  env_storage.insert(env_storage.end(), env_.begin(), env_.end());
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!input.empty()) {
    ssize_t ignored = write(in[1], input.data(), input.size());
    (void)ignored;
  }
  close(in[1]);
  RunResult r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      r.err += "\n[harness] timed out after " + std::to_string(timeout_s) + " s";
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (auto& p : fds) {
      if (p.fd < 0 || !p.revents) continue;
      char buf[4096];
      ssize_t n = read(p.fd, buf, sizeof buf);
      if (n <= 0) {
        close(p.fd);
        p.fd = -1;
        --open_fds;
        continue;
      }
      (p.fd == out[0] ? r.out : r.err).append(buf, static_cast<size_t>(n));
    }
  }
  for (auto& p : fds)
    if (p.fd >= 0) close(p.fd);
  int st = 0;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string SyscEnv::rootfs(const std::string& name) const { return root_ + "/var/lib/sysc/containers/" + name + "/rootfs"; }

void SyscEnv::create_busybox(const std::string& name) {
  auto r = sysc({"create", "busybox", name});
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream src(SYSC_PROBE, std::ios::binary);
  std::string dst = rootfs(name) + "/usr/bin/sysc-probe";
  std::ofstream(dst, std::ios::binary) << src.rdbuf();
  ASSERT_EQ(chmod(dst.c_str(), 0755), 0);
}

std::string SyscEnv::container_dir(const std::string& name) const {
  return root_ + "/var/lib/sysc/containers/" + name;
}

std::string SyscEnv::sh(const std::string& name, const std::string& script) {
  auto r = sysc({"attach", name, "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.status, 0) << name << ": " << r.err;
  return r.out;
}

std::string SyscEnv::systemd_state(const std::string& name, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::string out;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = sysc({"attach", name, "--", "/bin/sh", "-c", "systemctl is-system-running --wait 2>&1"}, "", timeout_s);
    out = r.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    bool unanswered = r.status == 255 || out.empty() || out == "offline" ||
                      out.find("Failed to connect") != std::string::npos;
    if (!unanswered) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return out;
}

std::string SyscEnv::console_until(const std::string& name, const std::string& marker) {
  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = sysc({"console", "--log", name}).out;
    if (log.find(marker) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::erase(log, '\r');
  return log;
}

nlohmann::json SyscEnv::info(const std::string& name) {
  auto r = sysc({"info", name, "--format", "json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::string SyscEnv::state(const std::string& name) { return info(name).value("state", "?"); }

bool SyscEnv::wait_state(const std::string& name, const std::string& want, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (state(name) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool alive(int pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  return slurp("/proc/" + std::to_string(pid) + "/stat").find(") Z ") == std::string::npos;
}

std::vector<int> children_of(int pid) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::istringstream children(slurp(task.path().string() + "/children"));
    for (int child = 0; children >> child;)
      if (alive(child)) out.push_back(child);
  }
  return out;
}

std::vector<int> spares_of(int lxcd) {
  std::vector<int> out;
  for (int child : children_of(lxcd))
    if (slurp("/proc/" + std::to_string(child) + "/comm") == "sysc-shim\n" &&
        slurp("/proc/" + std::to_string(child) + "/cmdline").find("spec.json") == std::string::npos)
      out.push_back(child);
  return out;
}

long stat_field(int pid, int n) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || n < 3) return -1;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= n && in >> field; ++i)
    if (i == n) return std::strtol(field.c_str(), nullptr, 10);
  return -1;
}

std::vector<int> wait_spares(int lxcd, int timeout_s) {
  auto waiting = [&](int pid) {
    return sched_getscheduler(pid) == SCHED_IDLE &&
           slurp("/proc/" + std::to_string(pid) + "/wchan").find("pipe_read") != std::string::npos;
  };
  // By start time (field 22, in clock ticks: two spares spawned within one tie, and are then
  // ordered by pid).
  auto oldest_first = [&] {
    std::vector<std::pair<long, int>> by_start;
    for (int pid : spares_of(lxcd)) by_start.emplace_back(stat_field(pid, 22), pid);
    std::sort(by_start.begin(), by_start.end());
    std::vector<int> out;
    for (const auto& [t, pid] : by_start) out.push_back(pid);
    return out;
  };
  auto all_waiting = [&](const std::vector<int>& spares) {
    return spares.size() == lxcd::ShimPool::kSpares && std::all_of(spares.begin(), spares.end(), waiting);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    auto spares = oldest_first();
    if (all_waiting(spares)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (oldest_first() == spares && all_waiting(spares)) return spares;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {};
}

int wait_spare(int lxcd, int other_than, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    auto spares = wait_spares(lxcd, timeout_s);
    if (spares.empty()) return 0;
    if (spares.front() != other_than) return spares.front();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

int SyscEnv::lxcd_pid() const {
  int pid = std::atoi(slurp(root_ + "/run/sysc/lxcd.lock").c_str());
  if (pid <= 0 || kill(pid, 0) != 0) return 0;
  if (slurp("/proc/" + std::to_string(pid) + "/stat").find(") Z ") != std::string::npos) return 0;  // exited, unreaped
  // Only a process holding our lock file counts (the pid may have been reused).
  std::string comm = slurp("/proc/" + std::to_string(pid) + "/comm");
  return comm.rfind("lxcd", 0) == 0 ? pid : 0;
}

void SyscEnv::kill_lxcd(int sig) {
  int pid = lxcd_pid();
  if (pid <= 0) return;
  kill(pid, sig);
  for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) {
    waitpid(pid, nullptr, WNOHANG);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    if (stat.find(") Z ") != std::string::npos) break;
  }
}

std::vector<std::string> SyscEnv::leftovers(const std::string& name) const {
  std::vector<std::string> out;
  std::string prefix = name.empty() ? root_ + "/" : root_ + "/var/lib/sysc/containers/" + name + "/";
  std::istringstream mi(slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream ls(line);
    std::string f[5];
    for (auto& x : f) ls >> x;
    if (f[4] == root_ + "/run/sysc/.lxcfs") continue;  // lxcd's lxcfs, kept while the root is in use
    if (line.find(prefix) != std::string::npos) out.push_back("mount: " + line);
  }
  auto cg = cgroup::make_driver();
  if (cg) {
    std::string rel = name.empty() ? cgroup_parent_ : cgroup_parent_ + "/" + name;
    for (const auto& p : (*cg)->paths(rel)) {
      if (!path_exists(p)) continue;
      if (!name.empty()) {
        out.push_back("cgroup: " + p);
        continue;
      }
      // The parent may stay; containers below it may not.
      std::string ls = slurp(p + "/cgroup.procs");
      if (!ls.empty()) out.push_back("processes in " + p + ": " + ls);
    }
  }
  std::string run = root_ + "/run/sysc/" + name;
  if (!name.empty() && path_exists(run)) out.push_back("run dir: " + run);
  // lxcd's supervisors of NAME (its spec file on their command line), and any it left unreaped.
  std::error_code ec;
  if (int daemon = lxcd_pid(); daemon > 0)
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(daemon) + "/task", ec)) {
      std::istringstream children(slurp(task.path().string() + "/children"));
      std::string child;
      while (children >> child) {
        std::string stat = slurp("/proc/" + child + "/stat");
        size_t close_paren = stat.rfind(')');
        if (stat.find("(sysc-shim)") == std::string::npos || close_paren == std::string::npos) continue;
        const bool zombie = stat.compare(close_paren + 2, 1, "Z") == 0;
        const bool ours = !name.empty() && slurp("/proc/" + child + "/cmdline").find(run + "/spec.json") != std::string::npos;
        if (zombie) out.push_back("unreaped supervisor: pid " + child);
        else if (ours) out.push_back("supervisor: pid " + child);
      }
    }
  if (!name.empty())
    if (auto nl = net::Netlink::open(); nl && nl->link_exists(net::host_veth_name(name, 0)))
      out.push_back("veth: " + net::host_veth_name(name, 0));
  return out;
}

std::string btrfs_missing() {
  std::string have = slurp("/proc/filesystems");
  if (have.find("\tbtrfs\n") == std::string::npos) return "kernel without btrfs";
  if (system("command -v mkfs.btrfs >/dev/null") != 0) return "mkfs.btrfs missing (btrfs-progs)";
  return "";
}

int mount_btrfs(const std::string& img, const std::string& dir, const std::string& size) {
  std::filesystem::create_directories(dir);
  return system(("truncate -s " + size + " " + img + " && mkfs.btrfs -q " + img + " >/dev/null && mount -o loop " + img +
                 " " + dir)
                    .c_str());
}

}  // namespace sysc::test
