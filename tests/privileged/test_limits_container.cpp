// Resource limits end to end: [limits] keys land in the container's cgroup files before init
// runs, the kernel enforces them inside (pids, OOM), `config set` changes them live, and a
// limit the hierarchy cannot enforce (v2 on a hybrid host has no controllers) fails the start.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>

#include "runtime/cgroup.h"
#include "runtime/cgroup_internal.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

namespace fs = std::filesystem;

// The container's directory in the v1 hierarchy of CONTROLLER, or "" without one.
std::string v1_dir(const std::string& controller, const SyscEnv& env, const std::string& name) {
  auto hs = cgroup::parse_mountinfo(read_text("/proc/self/mountinfo"));
  for (const auto& h : hs) {
    if (h.v2) continue;
    for (const auto& c : h.controllers)
      if (c == controller) return h.mount_point + "/" + env.cgroup_parent() + "/" + name;
  }
  return "";
}

std::string trimmed(const std::string& s) {
  size_t e = s.find_last_not_of(" \n");
  return e == std::string::npos ? "" : s.substr(0, e + 1);
}

TEST(LimitsV1Container, EnforcedFromBootAndChangedLive) {
  SYSC_REQUIRE_ROOT();
  auto driver = cgroup::make_driver("auto");
  ASSERT_TRUE(driver.ok()) << driver.error().message;
  if ((*driver)->layout() == cgroup::Layout::Unified) GTEST_SKIP() << "a cgroup2-only host (v1 files checked here)";
  SyscEnv env;
  const std::string name = "lim1";
  const std::string mem = v1_dir("memory", env, name), pids = v1_dir("pids", env, name), cpu = v1_dir("cpu", env, name);
  if (mem.empty() || pids.empty() || cpu.empty()) GTEST_SKIP() << "needs the v1 memory, pids and cpu controllers";
  env.create_busybox(name);
  for (auto [k, v] : {std::pair{"net.0.type", "none"}, {"limits.memory", "64M"}, {"limits.pids", "50"}}) {
    auto r = env.sysc({"config", "set", name, k, v});
    ASSERT_EQ(r.status, 0) << k << ": " << r.err;
  }
  auto r = env.sysc({"start", name});
  ASSERT_EQ(r.status, 0) << r.err;

  // On the host, from the first moment.
  EXPECT_EQ(trimmed(read_text(mem + "/memory.limit_in_bytes")), "67108864");
  EXPECT_EQ(trimmed(read_text(pids + "/pids.max")), "50");
  auto info = env.info(name);
  EXPECT_EQ(info["limits"].value("memory", 0ull), 67108864ull) << info.dump();
  EXPECT_EQ(info["limits"].value("pids", 0), 50) << info.dump();
  EXPECT_EQ(info.value("memory_max", 0ull), 67108864ull) << info.dump();
  EXPECT_EQ(info.value("pids_max", 0), 50) << info.dump();
  EXPECT_GE(info.value("pids_current", 0), 1) << info.dump();
  EXPECT_EQ(info.value("oom_kills", -1), 0) << info.dump();

  // A bounded fork flood: 100 sleepers against a limit of 50. Forks fail inside; the host
  // goes on (this test process forks `sysc` right after).
  auto flood = env.sysc({"attach", name, "--", "sh", "-c",
                         "for i in $(seq 100); do sleep 2 & done; wait"});
  auto events = read_text(pids + "/pids.events");
  auto max_hits = cgroup::detail::parse_keyed_u64(events, "max");
  ASSERT_TRUE(max_hits) << events;
  EXPECT_GT(*max_hits, 0u) << "pids.events: " << events << "\nflood: " << flood.out << flood.err;
  // ash gives up at the first failed fork, leaving its sleepers behind: wait them out.
  for (int i = 0; i < 100 && std::stoi("0" + trimmed(read_text(pids + "/pids.current"))) > 10; ++i) usleep(100000);
  EXPECT_EQ(env.sysc({"attach", name, "--", "true"}).status, 0) << "container unusable after the flood";

  // A memory hog: a 120 MB shell variable in a 64 MB container is OOM-killed.
  auto hog = env.sysc({"attach", name, "--", "sh", "-c", "x=$(head -c 120000000 /dev/zero | tr '\\0' a); echo survived"});
  std::cerr << "hog: status " << hog.status << " " << hog.err;
  EXPECT_EQ(hog.out.find("survived"), std::string::npos) << hog.out << hog.err;
  info = env.info(name);
  EXPECT_GE(info.value("oom_kills", 0), 1) << info.dump();
  EXPECT_EQ(env.state(name), "RUNNING");

  // Live changes: the host files follow at once, no restart (same init).
  const int init = info.value("init_pid", 0);
  r = env.sysc({"config", "set", name, "limits.memory", "96M"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(trimmed(read_text(mem + "/memory.limit_in_bytes")), "100663296");
  r = env.sysc({"config", "set", name, "limits.cpu", "0.5"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(trimmed(read_text(cpu + "/cpu.cfs_quota_us")), "50000");
  EXPECT_EQ(trimmed(read_text(cpu + "/cpu.cfs_period_us")), "100000");
  r = env.sysc({"config", "set", name, "limits.cpu.weight", "50"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(trimmed(read_text(cpu + "/cpu.shares")), "512");
  EXPECT_EQ(env.info(name).value("init_pid", 0), init);
  // A limit this host cannot apply live: the file keeps it, the error says when it applies.
  if (!fs::exists(v1_dir("blkio", env, name) + "/blkio.weight") && !fs::exists(v1_dir("blkio", env, name) + "/blkio.bfq.weight")) {
    r = env.sysc({"config", "set", name, "limits.io.weight", "100"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("limits.io.weight"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("applies at the next start"), std::string::npos) << r.err;
    EXPECT_EQ(env.sysc({"config", "get", name, "limits.io.weight"}).out, "100\n");
    std::cerr << "live io.weight: " << r.err;
  }
  // A bad value changes nothing, running or not.
  r = env.sysc({"config", "set", name, "limits.memory", "12X"});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(trimmed(read_text(mem + "/memory.limit_in_bytes")), "100663296");

  r = env.sysc({"stop", name, "--force"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(mem)) << "cgroup left behind: " << mem;
  EXPECT_TRUE(env.leftovers(name).empty()) << ::testing::PrintToString(env.leftovers(name));
}

// cgroup2 alone on a hybrid host: its controllers are all bound to v1, so a memory limit cannot
// be enforced there. The start must fail and say why, not run the container unlimited.
TEST(LimitsV2Container, UnavailableControllerFailsTheStart) {
  SYSC_REQUIRE_ROOT();
  auto v2 = cgroup::make_driver("v2");
  if (!v2) GTEST_SKIP() << "no cgroup2 hierarchy on this host: " << v2.error().message;
  SyscEnv env("driver = v2\n");
  const std::string name = "lim2";
  env.create_busybox(name);
  ASSERT_EQ(env.sysc({"config", "set", name, "net.0.type", "none"}).status, 0);
  ASSERT_EQ(env.sysc({"config", "set", name, "limits.memory", "64M"}).status, 0);
  const std::string mp = (*v2)->path(env.cgroup_parent() + "/" + name);
  const std::string controllers = read_text(fs::path(mp).parent_path().parent_path() / "cgroup.controllers");
  auto r = env.sysc({"start", name});
  if (controllers.find("memory") != std::string::npos) {
    // A host whose cgroup2 has the memory controller (cgroup2-only): the limit applies.
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(trimmed(read_text(mp + "/memory.max")), "67108864");
    ASSERT_EQ(env.sysc({"stop", name, "--force"}).status, 0);
  } else {
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("lim2: start failed at cgroup limits: limits.memory: the memory controller is not "
                         "available in " + mp),
              std::string::npos)
        << r.err;
    EXPECT_EQ(env.state(name), "STOPPED");
    EXPECT_FALSE(fs::exists(mp)) << "cgroup left behind: " << mp;
  }
  EXPECT_TRUE(env.leftovers(name).empty()) << ::testing::PrintToString(env.leftovers(name));
}

// The container's CPUs are its cpuset's, whatever CPUs lxcd itself may use: with lxcd pinned to
// one CPU (as `taskset` or systemd's CPUAffinity= do), the shim keeps that pin and the init gets
// every CPU of its cpuset, with either cgroup driver; so does a command attached by a caller
// pinned the same way.
TEST(CpusContainer, InitGetsItsCpusetNotLxcdsAffinity) {
  SYSC_REQUIRE_ROOT();
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
  if (CPU_COUNT(&mine) < 2) {
    if (getenv("CI")) FAIL() << "needs two CPUs";
    GTEST_SKIP() << "needs two CPUs";
  }
  int first = 0;
  while (!CPU_ISSET(first, &mine)) ++first;
  const auto cpus = [](int pid) { return cpus_allowed_list(read_text("/proc/" + std::to_string(pid) + "/status")); };
  const std::string all = cpus(getpid());
  std::vector<std::string> drivers = {""};
  if (cgroup::make_driver("v2")) drivers.push_back("driver = v2\n");
  for (const auto& conf : drivers) {
    SCOPED_TRACE(conf.empty() ? "default driver" : conf);
    SyscEnv env(conf);
    // The first command starts lxcd, pinned like the command.
    auto r = env.sysc_as({"taskset", "-c", std::to_string(first)}, {"create", "busybox", "cpu1"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_EQ(cpus(env.lxcd_pid()), std::to_string(first));
    r = env.sysc({"start", "cpu1"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto info = env.info("cpu1");
    EXPECT_EQ(cpus(info.value("shim_pid", 0)), std::to_string(first)) << info.dump();
    EXPECT_EQ(cpus(info.value("init_pid", 0)), all) << info.dump();
    // So does a command attached by a caller pinned the same way.
    r = env.sysc_as({"taskset", "-c", std::to_string(first)},
                    {"attach", "cpu1", "--", "cat", "/proc/self/status"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(cpus_allowed_list(r.out), all) << r.out;
    // A v1 cpuset level holding the containers hands its CPUs to each new one at mkdir (set by
    // the first start; a cgroup2-only host has no such file).
    const std::string v1_parent = "/sys/fs/cgroup/cpuset/" + env.cgroup_parent();
    if (conf.empty() && fs::exists(v1_parent + "/cgroup.clone_children"))
      EXPECT_EQ(read_text(v1_parent + "/cgroup.clone_children"), "1\n");
    // A restart (a new shim and a new init) gives them the same CPUs.
    ASSERT_EQ(env.sysc({"restart", "cpu1"}).status, 0);
    info = env.info("cpu1");
    EXPECT_EQ(cpus(info.value("shim_pid", 0)), std::to_string(first)) << info.dump();
    EXPECT_EQ(cpus(info.value("init_pid", 0)), all) << info.dump();
    ASSERT_EQ(env.sysc({"stop", "--force", "cpu1"}).status, 0);
  }
}

}  // namespace
}  // namespace sysc::test
