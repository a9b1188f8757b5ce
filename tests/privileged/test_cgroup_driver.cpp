// Privileged tests for the cgroup drivers on the real host hierarchies: create, attach a forked
// child, read counters, destroy (the child dies of SIGKILL), and no directory left behind.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "runtime/cgroup.h"

namespace fs = std::filesystem;
using namespace sysc;
using namespace sysc::cgroup;

namespace {

std::vector<Hierarchy> host_hierarchies() {
  auto mi = read_file("/proc/self/mountinfo");
  return mi ? parse_mountinfo(*mi) : std::vector<Hierarchy>{};
}

// A child that only waits to be killed; pause() is async-signal-safe.
pid_t spawn_sleeper() {
  pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) ::pause();
  }
  return pid;
}

class CgroupDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: creates cgroups in the host hierarchies";
    hierarchies_ = host_hierarchies();
    if (hierarchies_.empty()) GTEST_SKIP() << "no cgroup filesystem is mounted";
    parent_ = "sysc-cgtest-" + std::to_string(::getpid());
    rel_ = parent_ + "/c1";
    for (const Hierarchy& h : hierarchies_) {
      if (h.v2) root_subtree_[h.mount_point] = read_file(h.mount_point + "/cgroup.subtree_control").value();
    }
  }

  // Independent of the driver under test: kill our children, then rmdir our parent cgroup,
  // deepest directories first, in every hierarchy; then check nothing is left.
  void TearDown() override {
    for (pid_t& c : children_) {
      if (c > 0) {
        ::kill(c, SIGKILL);
        ::waitpid(c, nullptr, 0);
        c = -1;
      }
    }
    for (const Hierarchy& h : hierarchies_) {
      fs::path top = fs::path(h.mount_point) / parent_;
      std::error_code ec;
      if (!fs::is_directory(top, ec)) continue;
      std::vector<fs::path> dirs{top};
      for (auto it = fs::recursive_directory_iterator(top, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_directory(ec)) dirs.push_back(it->path());
      }
      std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
        return a.string().size() > b.string().size();
      });
      for (const fs::path& d : dirs) ::rmdir(d.c_str());
      EXPECT_FALSE(fs::exists(top)) << "leftover cgroup " << top;
    }
    // The host's root cgroup is not ours: its delegation must be untouched.
    for (const auto& [mp, before] : root_subtree_) {
      auto after = read_file(mp + "/cgroup.subtree_control");
      EXPECT_TRUE(after.ok() && *after == before) << mp << " root subtree_control changed";
    }
  }

  pid_t spawn() {
    pid_t pid = spawn_sleeper();
    if (pid > 0) children_.push_back(pid);
    return pid;
  }

  // Reap child PID, expecting death by SIGKILL.
  void expect_killed(pid_t pid) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    for (pid_t& c : children_) {
      if (c == pid) c = -1;
    }
    ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
  }

  // Every line of /proc/PID/cgroup must name "/"+REL; returns how many lines there were.
  size_t expect_in_cgroup(pid_t pid, const std::string& rel) {
    auto content = read_file("/proc/" + std::to_string(pid) + "/cgroup");
    EXPECT_TRUE(content.ok());
    if (!content) return 0;
    auto pairs = parse_proc_cgroup(*content);
    for (const auto& [key, path] : pairs) EXPECT_EQ(path, "/" + rel) << "hierarchy '" << key << "'";
    return pairs.size();
  }

  void destroy_forking(Driver& d);

  std::vector<Hierarchy> hierarchies_;
  std::vector<pid_t> children_;
  std::map<std::string, std::string> root_subtree_;
  std::string parent_, rel_;
};

TEST_F(CgroupDriverTest, HostDriverLifecycle) {
  auto made = make_driver();
  ASSERT_TRUE(made.ok()) << made.error().message;
  Driver& d = **made;
  // Processes only in leaves (v2 refuses them in a cgroup that delegates controllers).
  const std::string leaf_a = rel_ + "/a", leaf_b = rel_ + "/b";
  ASSERT_TRUE(d.create(leaf_a).ok());
  ASSERT_TRUE(d.create(leaf_b).ok());
  for (const std::string& p : d.paths(leaf_b)) EXPECT_TRUE(fs::is_directory(p)) << p;
  // Every hierarchy of the host, name=systemd and unified included.
  EXPECT_EQ(d.paths(rel_).size(), hierarchies_.size());

  pid_t a = spawn(), b = spawn();
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  Status s = d.attach(leaf_a, a);
  ASSERT_TRUE(s.ok()) << s.error().message;
  s = d.attach(leaf_b, b);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(expect_in_cgroup(a, leaf_a), hierarchies_.size());
  expect_in_cgroup(b, leaf_b);

  auto procs = d.procs(leaf_a);
  ASSERT_TRUE(procs.ok()) << procs.error().message;
  EXPECT_EQ(*procs, std::vector<pid_t>{a});
  auto cpu = d.cpu_usage_ns(leaf_a);
  EXPECT_TRUE(cpu.ok()) << cpu.error().message;
  if (d.layout() != Layout::Unified) {
    auto mem = d.memory_current(leaf_a);
    // A number, possibly 0: v1 does not move a process's existing charges along with it.
    EXPECT_TRUE(mem.ok()) << mem.error().message;
  }

  auto start = std::chrono::steady_clock::now();
  s = d.destroy(rel_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  expect_killed(a);
  expect_killed(b);
  EXPECT_FALSE(d.exists(rel_));
  for (const std::string& p : d.paths(rel_)) EXPECT_FALSE(fs::exists(p)) << p;
  for (const std::string& p : d.paths(parent_)) EXPECT_TRUE(fs::is_directory(p)) << "parent kept: " << p;
  EXPECT_TRUE(d.destroy(rel_).ok());  // missing is success
}

TEST_F(CgroupDriverTest, UnifiedMountDriver) {
  std::string mp;
  for (const Hierarchy& h : hierarchies_) {
    if (h.v2 && (mp.empty() || h.mount_point == "/sys/fs/cgroup/unified" || h.mount_point == "/sys/fs/cgroup"))
      mp = h.mount_point;
  }
  if (mp.empty()) GTEST_SKIP() << "no cgroup2 mount on this host";
  auto d = make_v2_driver(mp);
  ASSERT_TRUE(d->create(rel_).ok());
  EXPECT_EQ(d->path(rel_), mp + "/" + rel_);
  pid_t a = spawn();
  ASSERT_GT(a, 0);
  Status s = d->attach(rel_, a);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto content = read_file("/proc/" + std::to_string(a) + "/cgroup");
  ASSERT_TRUE(content.ok());
  bool seen = false;
  for (const auto& [key, path] : parse_proc_cgroup(*content)) {
    if (key.empty()) {
      EXPECT_EQ(path, "/" + rel_);
      seen = true;
    }
  }
  EXPECT_TRUE(seen) << *content;

  auto cpu = d->cpu_usage_ns(rel_);
  EXPECT_TRUE(cpu.ok()) << cpu.error().message;
  auto controllers = read_file(mp + "/" + parent_ + "/cgroup.controllers");
  ASSERT_TRUE(controllers.ok());
  auto mem = d->memory_current(rel_);
  if (controllers->find("memory") != std::string::npos) {
    EXPECT_TRUE(mem.ok()) << mem.error().message;
  } else {
    ASSERT_FALSE(mem.ok()) << "no memory controller, yet a number: " << *mem;
    EXPECT_EQ(mem.error().code, ENOENT);
  }

  s = d->destroy(rel_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  expect_killed(a);
  EXPECT_FALSE(fs::exists(mp + "/" + rel_));
  EXPECT_TRUE(fs::is_directory(mp + "/" + parent_));
}

// A process that keeps forking while destroy() runs: everything must die within the timeout.
void CgroupDriverTest::destroy_forking(Driver& d) {
  ASSERT_TRUE(d.create(rel_).ok());
  // Become the reaper of the orphans, so nothing of ours is left for the host's init.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t forker = ::fork();
  if (forker == 0) {
    char c;
    ::read(ready[0], &c, 1);  // wait until attached, so every descendant starts inside
    for (int i = 0; i < 400; ++i) {  // bounded: a failing destroy must not exhaust the host
      if (::fork() == 0) {
        for (;;) ::pause();
      }
      ::usleep(2000);
    }
    for (;;) ::pause();
  }
  ASSERT_GT(forker, 0);
  children_.push_back(forker);
  Status s = d.attach(rel_, forker);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(::write(ready[1], "x", 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  ::usleep(100 * 1000);  // let it fork a few dozen
  s = d.destroy(rel_);
  EXPECT_TRUE(s.ok()) << s.error().message;
  expect_killed(forker);
  // Every orphan was killed too: reap them all; none may still be running.
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  EXPECT_FALSE(d.exists(rel_));
}

TEST_F(CgroupDriverTest, DestroyWinsAgainstForkingProcesses) {
  auto made = make_driver();
  ASSERT_TRUE(made.ok()) << made.error().message;
  destroy_forking(**made);
}

// The v1 path alone (freeze, kill, thaw), without the unified hierarchy's cgroup.kill.
TEST_F(CgroupDriverTest, LegacyDestroyWinsAgainstForkingProcesses) {
  std::vector<Hierarchy> v1;
  for (const Hierarchy& h : hierarchies_) {
    if (!h.v2) v1.push_back(h);
  }
  if (v1.empty()) GTEST_SKIP() << "no cgroup v1 hierarchy on this host";
  destroy_forking(*make_v1_driver(v1, Layout::Legacy));
}

}  // namespace
