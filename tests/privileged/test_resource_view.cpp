// What a tenant's /proc and /sys report: with lxcfs (run by lxcd) the container's own memory
// limit, CPUs and uptime; without it (disabled in sysc.conf) the host's values, and `sysc start`
// and `sysc info` say which. lxcd adopts its live lxcfs after a restart.
#include <gtest/gtest.h>
#include <csignal>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {


// The number after "KEY:" in /proc/meminfo-style TEXT, or -1.
long long field(const std::string& text, const std::string& key) {
  auto pos = text.find(key + ":");
  if (pos == std::string::npos) return -1;
  return std::atoll(text.c_str() + pos + key.size() + 1);
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

bool lxcfs_mounted(const std::string& root) {
  return sysc::test::read_text("/proc/self/mountinfo").find(" " + root + "/run/sysc/.lxcfs ") != std::string::npos;
}

class ResourceView : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    env_ = new SyscEnv();
    env_->create_busybox("rv1");
    for (auto [k, v] : {std::pair{"limits.memory", "256M"}, {"limits.cpu", "1"}})
      ASSERT_EQ(env_->sysc({"config", "set", "rv1", k, v}).status, 0);
    start_ = env_->sysc({"start", "rv1"});
    ASSERT_EQ(start_.status, 0) << start_.err;
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { SYSC_REQUIRE_ROOT(); }
  RunResult inside(const std::string& name, const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"attach", name, "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return env_->sysc(args);
  }
  static SyscEnv* env_;
  static RunResult start_;
};
SyscEnv* ResourceView::env_ = nullptr;
RunResult ResourceView::start_;

TEST_F(ResourceView, StartAndInfoSayLxcfs) {
  EXPECT_NE(start_.out.find("Resource view: lxcfs\n"), std::string::npos) << start_.out;
  EXPECT_EQ(env_->info("rv1").value("resource_view", ""), "lxcfs");
  EXPECT_TRUE(lxcfs_mounted(env_->root()));
  auto mounts = inside("rv1", {"sysc-probe", "mounts"});
  EXPECT_NE(mounts.out.find("mount=/proc/meminfo fuse.lxcfs"), std::string::npos) << mounts.out;
}

TEST_F(ResourceView, MemTotalIsTheMemoryLimit) {
  auto r = inside("rv1", {"cat", "/proc/meminfo"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(field(r.out, "MemTotal"), 256 * 1024) << r.out;
  EXPECT_NE(field(sysc::test::read_text("/proc/meminfo"), "MemTotal"), 256 * 1024);
}

TEST_F(ResourceView, UptimeIsTheContainers) {
  auto r = inside("rv1", {"cat", "/proc/uptime"});
  ASSERT_EQ(r.status, 0) << r.err;
  double mine = std::atof(r.out.c_str()), host = std::atof(sysc::test::read_text("/proc/uptime").c_str());
  EXPECT_LT(mine, 60.0) << r.out;
  EXPECT_LT(mine, host) << r.out;
}

TEST_F(ResourceView, CpuQuotaShowsAsOneCpu) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "one CPU on the host: nothing to hide";
  auto online = inside("rv1", {"cat", "/sys/devices/system/cpu/online"});
  EXPECT_EQ(online.out, "0\n") << online.err;
  auto info = inside("rv1", {"cat", "/proc/cpuinfo"});
  EXPECT_EQ(count_of(info.out, "processor\t:"), 1) << info.out;
}

TEST_F(ResourceView, CpusetShowsInNproc) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "one CPU on the host: nothing to hide";
  env_->create_busybox("rv2");
  ASSERT_EQ(env_->sysc({"config", "set", "rv2", "limits.cpuset", "0"}).status, 0);
  ASSERT_EQ(env_->sysc({"start", "rv2"}).status, 0);
  EXPECT_EQ(inside("rv2", {"nproc"}).out, "1\n");
  EXPECT_EQ(inside("rv2", {"cat", "/sys/devices/system/cpu/online"}).out, "0\n");
  EXPECT_EQ(env_->sysc({"stop", "--force", "rv2"}).status, 0);
  EXPECT_TRUE(env_->leftovers("rv2").empty()) << ::testing::PrintToString(env_->leftovers("rv2"));
}

TEST_F(ResourceView, RestartedDaemonAdoptsTheLiveLxcfs) {
  int pid = std::atoi(sysc::test::read_text(env_->root() + "/run/sysc/lxcfs.pid").c_str());
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(alive(pid));
  env_->kill_lxcd(SIGTERM);
  ASSERT_EQ(env_->lxcd_pid(), 0);
  // lxcfs outlives lxcd: the running container still reads its own values.
  EXPECT_TRUE(alive(pid));
  auto r = env_->sysc({"list"});  // starts lxcd again
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::atoi(sysc::test::read_text(env_->root() + "/run/sysc/lxcfs.pid").c_str()), pid);
  EXPECT_EQ(count_of(sysc::test::read_text("/proc/self/mountinfo"), " " + env_->root() + "/run/sysc/.lxcfs "), 1);
  auto mem = inside("rv1", {"cat", "/proc/meminfo"});
  EXPECT_EQ(field(mem.out, "MemTotal"), 256 * 1024) << mem.out << mem.err;
  EXPECT_EQ(env_->info("rv1").value("resource_view", ""), "lxcfs");
}

TEST_F(ResourceView, DisabledLxcfsLeavesTheHostViewAndSaysSo) {
  SyscEnv env("[resources]\nlxcfs = false\n");
  env.create_busybox("rv3");
  ASSERT_EQ(env.sysc({"config", "set", "rv3", "limits.memory", "256M"}).status, 0);
  auto start = env.sysc({"start", "rv3"});
  ASSERT_EQ(start.status, 0) << start.err;
  EXPECT_NE(start.out.find("Resource view: host (lxcfs disabled in sysc.conf)"), std::string::npos) << start.out;
  EXPECT_EQ(env.info("rv3").value("resource_view", "").rfind("host", 0), 0u) << env.info("rv3").dump();
  auto mem = env.sysc({"attach", "rv3", "--", "cat", "/proc/meminfo"});
  EXPECT_EQ(field(mem.out, "MemTotal"), field(sysc::test::read_text("/proc/meminfo"), "MemTotal")) << mem.out;
  EXPECT_FALSE(lxcfs_mounted(env.root()));
}

TEST_F(ResourceView, WithoutLxcfsInstalledContainersStartWithTheHostView) {
  SyscEnv env;
  // lxcd looks lxcfs up in its PATH, taken from the sysc that starts it.
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", "/nonexistent", 1);
  auto list = env.sysc({"list"});
  setenv("PATH", path.c_str(), 1);
  ASSERT_EQ(list.status, 0) << list.err;
  env.create_busybox("rv5");
  ASSERT_EQ(env.sysc({"config", "set", "rv5", "net.0.type", "none"}).status, 0);
  auto start = env.sysc({"start", "rv5"});
  ASSERT_EQ(start.status, 0) << start.err;
  EXPECT_NE(start.out.find("Resource view: host (lxcfs not available)"), std::string::npos) << start.out;
  EXPECT_EQ(env.info("rv5").value("resource_view", ""), "host (lxcfs was not available at start)");
  auto up = env.sysc({"attach", "rv5", "--", "cat", "/proc/uptime"});
  EXPECT_GT(std::atof(up.out.c_str()), 60.0) << "expected the host's uptime: " << up.out;
  EXPECT_FALSE(lxcfs_mounted(env.root()));
}

TEST_F(ResourceView, KilledLxcfsIsRestartedForNewStarts) {
  SyscEnv env;
  env.create_busybox("rv4");
  ASSERT_EQ(env.sysc({"config", "set", "rv4", "limits.memory", "128M"}).status, 0);
  int first = std::atoi(sysc::test::read_text(env.root() + "/run/sysc/lxcfs.pid").c_str());
  ASSERT_GT(first, 0);
  kill(first, SIGKILL);
  int second = 0;
  for (int i = 0; i < 100 && (second <= 0 || second == first || !lxcfs_mounted(env.root())); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    second = std::atoi(sysc::test::read_text(env.root() + "/run/sysc/lxcfs.pid").c_str());
  }
  ASSERT_NE(second, first);
  ASSERT_TRUE(alive(second));
  auto start = env.sysc({"start", "rv4"});
  ASSERT_EQ(start.status, 0) << start.err;
  EXPECT_NE(start.out.find("Resource view: lxcfs\n"), std::string::npos) << start.out;
  auto mem = env.sysc({"attach", "rv4", "--", "cat", "/proc/meminfo"});
  EXPECT_EQ(field(mem.out, "MemTotal"), 128 * 1024) << mem.out << mem.err;
  EXPECT_EQ(count_of(sysc::test::read_text("/proc/self/mountinfo"), " " + env.root() + "/run/sysc/.lxcfs "), 1);
}

TEST_F(ResourceView, TeardownLeavesNoLxcfs) {
  std::string root;
  int pid = 0;
  {
    SyscEnv env;
    root = env.root();
    ASSERT_EQ(env.sysc({"list"}).status, 0);
    pid = std::atoi(sysc::test::read_text(root + "/run/sysc/lxcfs.pid").c_str());
    EXPECT_GT(pid, 0);
    EXPECT_TRUE(lxcfs_mounted(root));
    EXPECT_TRUE(env.leftovers().empty()) << ::testing::PrintToString(env.leftovers());
  }
  EXPECT_FALSE(alive(pid));
  EXPECT_FALSE(lxcfs_mounted(root));
  EXPECT_NE(access(root.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace sysc::test
