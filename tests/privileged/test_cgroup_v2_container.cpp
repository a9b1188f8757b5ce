// The cgroup2 driver end to end: on a hybrid host, `[cgroup] driver = v2` runs containers on the
// cgroup2 hierarchy alone, exactly as on a cgroup2-only host (cgroup2 mounted at /sys/fs/cgroup).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/cgroup.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
using namespace sysc::test;  // shared helpers: read_text, write_text, drain, read_until, wait_exit

namespace {


TEST(CgroupV2Container, BootsAndSeesOnlyItsOwnCgroup2Tree) {
  SYSC_REQUIRE_ROOT();
  auto hosted = cgroup::make_driver("v2");
  if (!hosted) GTEST_SKIP() << "no cgroup2 hierarchy on this host: " << hosted.error().message;
  SyscEnv env("driver = v2\n");
  env.create_busybox("v2c1");
  auto r = env.sysc({"start", "v2c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto info = env.info("v2c1");
  EXPECT_EQ(info.value("cgroup_layout", ""), "unified") << info.dump();
  std::string dir = info.value("cgroup", "");
  ASSERT_FALSE(dir.empty());
  int init = info.value("init_pid", 0);
  EXPECT_NE(read_text(dir + "/cgroup.procs").find(std::to_string(init)), std::string::npos) << dir;
  // The shim pins itself to one CPU around the clone of the init, then takes its mask back; the
  // init takes every CPU of its cpuset. Here no v1 cpuset join resets an init's mask, as on a
  // cgroup2-only host without the cpuset controller: both may run on every CPU this test may.
  const auto cpus = [](int pid) { return cpus_allowed_list(read_text("/proc/" + std::to_string(pid) + "/status")); };
  EXPECT_EQ(cpus(init), cpus(getpid()));
  EXPECT_EQ(cpus(info.value("shim_pid", 0)), cpus(getpid())) << info.dump();

  auto mounts = env.sysc({"attach", "v2c1", "--", "sysc-probe", "mounts"});
  EXPECT_NE(mounts.out.find("mount=/sys/fs/cgroup cgroup2"), std::string::npos) << mounts.out;
  EXPECT_EQ(mounts.out.find("/sys/fs/cgroup/memory"), std::string::npos) << mounts.out;
  auto self = env.sysc({"attach", "v2c1", "--", "cat", "/proc/1/cgroup"});
  EXPECT_NE(self.out.find("0::/\n"), std::string::npos) << self.out;
  // Its own subtree is writable: a child cgroup appears on the host below the container's.
  auto mk = env.sysc({"attach", "v2c1", "--", "mkdir", "/sys/fs/cgroup/inner"});
  EXPECT_EQ(mk.status, 0) << mk.err;
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/inner"));
  // Nothing above it is visible: the host's parent cgroup never shows inside.
  auto ls = env.sysc({"attach", "v2c1", "--", "ls", "/sys/fs/cgroup"});
  EXPECT_EQ(ls.out.find(env.cgroup_parent()), std::string::npos);

  r = env.sysc({"stop", "v2c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.info("v2c1").value("last_exit", ""), "halted");
  EXPECT_FALSE(std::filesystem::exists(dir)) << "cgroup left behind: " << dir;
}

}  // namespace
}  // namespace sysc::test
