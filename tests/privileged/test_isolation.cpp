// What a busybox container sees from the inside, checked with the static probe: PID 1, hidden
// host processes, hostname, read-only /proc/sys (but its own writable /proc/sys/net) and /sys, dropped capabilities, seccomp, mounts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "support/harness.h"

namespace sysc::test {
namespace {

class Isolation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    env_ = new SyscEnv();
    env_->create_busybox("iso1");
    // A privileged container: root inside is host root, held by the policy alone (an
    // unprivileged one gets the same checks in test_userns).
    ASSERT_EQ(env_->sysc({"config", "set", "iso1", "security.privileged", "true"}).status, 0);
    auto r = env_->sysc({"start", "iso1"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { SYSC_REQUIRE_ROOT(); }
  RunResult inside(const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"attach", "iso1", "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return env_->sysc(args);
  }
  static SyscEnv* env_;
};
SyscEnv* Isolation::env_ = nullptr;

TEST_F(Isolation, InitIsPid1AndHostProcessesAreInvisible) {
  auto r = inside({"sysc-probe", "pid"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("pid1_comm=init"), std::string::npos) << r.out;
  // busybox init, its askfirst child, and the probe: a handful, never the host's hundreds.
  auto pos = r.out.find("proc_pids=");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_LE(std::stoi(r.out.substr(pos + 10)), 6) << r.out;
  // The init of the container is busybox (what /sbin/init points to), not a host process.
  auto exe = inside({"readlink", "/proc/1/exe"});
  EXPECT_EQ(exe.out, "/bin/busybox\n");
}

TEST_F(Isolation, HostnameIsTheContainerName) {
  auto r = inside({"hostname"});
  EXPECT_EQ(r.out, "iso1\n");
  char host[256] = {};
  gethostname(host, sizeof host);
  EXPECT_STRNE(host, "iso1");
}

TEST_F(Isolation, ProcSysAndSysAreReadOnly) {
  for (const char* path : {"/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/sys/class/net/lo/mtu"}) {
    auto r = inside({"sysc-probe", "write", path});
    EXPECT_NE(r.out.find("write=EROFS"), std::string::npos) << path << ": " << r.out;
  }
  if (access("/sys/fs/cgroup/memory", F_OK) == 0) {  // v1 controllers are mounted read-only inside
    auto r = inside({"sysc-probe", "write", "/sys/fs/cgroup/memory/memory.limit_in_bytes"});
    EXPECT_NE(r.out.find("write=EROFS"), std::string::npos) << r.out;
  }
  auto tmp = inside({"sysc-probe", "write", "/tmp/x"});
  EXPECT_NE(tmp.out.find("write=OK"), std::string::npos) << tmp.out;
}

// /proc/sys/net shows the sysctls of the opener's network namespace: writable inside, and a
// write there never reaches the host's value. The rest of /proc/sys stays read-only.
TEST_F(Isolation, ProcSysNetIsWritableAndTheContainersOwn) {
  auto fwd = inside({"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward"});
  EXPECT_EQ(fwd.out, "1\n") << fwd.err;
  const std::string ttl_path = "/proc/sys/net/ipv4/ip_default_ttl";
  auto host_ttl = [&] {
    std::ifstream f(ttl_path);
    int v = 0;
    f >> v;
    return v;
  };
  int before = host_ttl();
  ASSERT_GT(before, 0);
  std::string mine = std::to_string(before == 77 ? 78 : 77);
  auto ttl = inside({"sh", "-c", "echo " + mine + " > " + ttl_path + " && cat " + ttl_path});
  EXPECT_EQ(ttl.out, mine + "\n") << ttl.err;
  int after = host_ttl();
  EXPECT_EQ(after, before) << "the container changed the host's " << ttl_path;
  if (after != before) std::ofstream(ttl_path) << before;  // undo the leak
  for (const char* path : {"/proc/sys/kernel/domainname", "/proc/sys/kernel/printk", "/proc/sys/vm/swappiness"}) {
    auto r = inside({"sysc-probe", "write", path});
    EXPECT_NE(r.out.find("write=EROFS"), std::string::npos) << path << ": " << r.out;
  }
  auto sh = inside({"sh", "-c", "echo x > /proc/sys/kernel/domainname 2>&1; echo rc=$?"});
  EXPECT_NE(sh.out.find("rc=1"), std::string::npos) << sh.out;
  // /proc/sys/net is its own mount: remounting it cannot be mistaken for the read-only rest.
  auto mounts = inside({"sysc-probe", "mounts"});
  EXPECT_NE(mounts.out.find("mount=/proc/sys/net proc rw"), std::string::npos) << mounts.out;
  EXPECT_NE(mounts.out.find("mount=/proc/sys proc ro"), std::string::npos) << mounts.out;
}

TEST_F(Isolation, DroppedCapabilitiesAreAbsentAndSysBootStays) {
  auto r = inside({"sysc-probe", "caps"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* cap : {"sys_module", "sys_time", "sys_rawio", "mac_admin", "mac_override"})
    EXPECT_NE(r.out.find(std::string("cap_") + cap + "=0"), std::string::npos) << cap << "\n" << r.out;
  EXPECT_NE(r.out.find("cap_sys_boot=1"), std::string::npos) << r.out;
  // The init itself, not only attached processes, runs with the reduced bounding set.
  auto init = inside({"grep", "CapBnd", "/proc/1/status"});
  auto mine = r.out.substr(r.out.find("CapBnd=") + 7, 16);
  EXPECT_NE(init.out.find(mine), std::string::npos) << init.out << " vs " << mine;
}

TEST_F(Isolation, SeccompDeniesKernelModuleAndKexecCalls) {
  auto r = inside({"sysc-probe", "seccomp"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* call : {"kexec_load", "open_by_handle_at", "init_module", "finit_module", "delete_module"})
    EXPECT_NE(r.out.find(std::string(call) + "=EPERM"), std::string::npos) << call << "\n" << r.out;
  auto init = inside({"grep", "Seccomp:", "/proc/1/status"});
  EXPECT_NE(init.out.find("2"), std::string::npos) << init.out;
}

TEST_F(Isolation, DevHasOnlyTheStandardNodesAndAConsolePty) {
  auto r = inside({"ls", "/dev"});
  for (const char* n : {"null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", "pts", "shm",
                        "mqueue", "fd", "stdin", "stdout", "stderr"})
    EXPECT_NE(r.out.find(n), std::string::npos) << n << "\n" << r.out;
  EXPECT_EQ(r.out.find("sda"), std::string::npos);
  EXPECT_EQ(r.out.find("vda"), std::string::npos);
  auto mounts = inside({"sysc-probe", "mounts"});
  EXPECT_NE(mounts.out.find("mount=/dev/pts devpts"), std::string::npos) << mounts.out;
  EXPECT_NE(mounts.out.find("mount=/dev/console devpts"), std::string::npos) << mounts.out;
  EXPECT_NE(mounts.out.find("mount=/dev/mqueue mqueue"), std::string::npos) << mounts.out;
  EXPECT_NE(mounts.out.find("mount=/run tmpfs"), std::string::npos) << mounts.out;
  EXPECT_NE(mounts.out.find("mount=/dev/shm tmpfs"), std::string::npos) << mounts.out;
  // The host's root filesystem is gone after pivot_root: no mount of a host path remains.
  EXPECT_EQ(mounts.out.find(env_->root()), std::string::npos) << mounts.out;
  auto echo = inside({"sh", "-c", "echo hi > /dev/null && head -c 4 /dev/zero | wc -c"});
  EXPECT_EQ(echo.out, "4\n");
}

TEST_F(Isolation, CgroupViewShowsOnlyTheContainersOwnCgroupWritable) {
  auto self = inside({"cat", "/proc/self/cgroup"});
  // In its cgroup namespace the container is at the root of every hierarchy.
  EXPECT_EQ(self.out.find(env_->cgroup_parent()), std::string::npos) << self.out;
  auto mounts = inside({"sysc-probe", "mounts"});
  EXPECT_NE(mounts.out.find("/sys/fs/cgroup"), std::string::npos) << mounts.out;
  // Writable: a child cgroup of its own (cgroup2 or name=systemd); read-only: controllers.
  std::string writable = access("/sys/fs/cgroup/unified", F_OK) == 0 ? "/sys/fs/cgroup/unified/sub"
                                                                      : "/sys/fs/cgroup/sub";
  auto mk = inside({"sh", "-c", "mkdir " + writable + " && rmdir " + writable + " && echo ok"});
  EXPECT_EQ(mk.out, "ok\n") << mk.err;
  if (access("/sys/fs/cgroup/memory", F_OK) == 0) {
    auto ro = inside({"sh", "-c", "mkdir /sys/fs/cgroup/memory/sub 2>&1; echo rc=$?"});
    EXPECT_NE(ro.out.find("rc=1"), std::string::npos) << ro.out;
  }
  auto host_parent = inside({"sh", "-c", "ls /sys/fs/cgroup/unified/ /sys/fs/cgroup/ 2>/dev/null"});
  EXPECT_EQ(host_parent.out.find(env_->cgroup_parent()), std::string::npos);
}

TEST_F(Isolation, HostKernelInterfacesAreMasked) {
  // Files present on the host are the container's own /dev/null inside (empty, writes vanish);
  // directories are empty read-only tmpfs.
  for (const char* f : {"/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/kcore", "/proc/sched_debug"}) {
    if (access(f, F_OK) != 0) continue;  // not in this kernel
    auto r = inside({"sh", "-c", std::string("echo x > ") + f + "; wc -c < " + f});
    EXPECT_EQ(r.out, "0\n") << f << ": " << r.err;
    auto ls = inside({"ls", "-l", f});
    EXPECT_EQ(ls.out.rfind("c", 0), 0u) << f << " is not masked: " << ls.out;
  }
  std::string devs;
  for (const char* d : {"/sys/firmware", "/sys/kernel/security", "/sys/kernel/debug", "/proc/acpi"}) {
    if (access(d, F_OK) != 0) continue;
    auto r = inside({"ls", "-A", d});
    EXPECT_EQ(r.out, "") << d;
    auto w = inside({"sysc-probe", "write", std::string(d) + "/x"});
    EXPECT_EQ(w.out.find("write=OK"), std::string::npos) << d << ": " << w.out;
    devs += inside({"stat", "-c", "%d", d}).out;
  }
  // One tmpfs (one superblock) behind every masked directory, not one each.
  std::istringstream in(devs);
  std::set<std::string> distinct;
  for (std::string l; std::getline(in, l);) distinct.insert(l);
  EXPECT_EQ(distinct.size(), 1u) << "masked directories on different filesystems: " << devs;
}

TEST_F(Isolation, InitEnvironmentHasContainerMarkers) {
  auto r = inside({"sh", "-c", "tr '\\0' '\\n' < /proc/1/environ"});
  EXPECT_NE(r.out.find("container=sysc"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("container_ttys="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PATH="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TERM="), std::string::npos) << r.out;
}

TEST_F(Isolation, NetworkNamespaceHasItsOwnDevicesOnly) {
  auto r = inside({"cat", "/proc/net/dev"});
  EXPECT_NE(r.out.find("lo:"), std::string::npos);
  EXPECT_NE(r.out.find("eth0:"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("sct"), std::string::npos) << "host bridge visible: " << r.out;
  auto ping = inside({"ping", "-c", "1", "-W", "1", "127.0.0.1"});
  EXPECT_EQ(ping.status, 0) << ping.out << ping.err;
}

}  // namespace
}  // namespace sysc::test
