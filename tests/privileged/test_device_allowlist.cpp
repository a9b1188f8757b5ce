// The device allowlist for real: the v1 devices cgroup and the cgroup2 device program, each
// alone on a forked child, then end to end in busybox containers with both drivers; plus the
// v1 driver's rollback of a failed create and its kill-while-frozen destroy.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "common/fs.h"
#include "runtime/cgroup.h"
#include "runtime/devices.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace fs = std::filesystem;

namespace sysc::test {
using namespace sysc::test;  // shared helpers: read_text, write_text, drain, read_until, wait_exit

namespace {


std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.insert(l);
  return out;
}

std::set<std::string> want_v1() {
  auto v = devices::v1_lines(devices::allowlist());
  return {v.begin(), v.end()};
}

std::vector<cgroup::Hierarchy> host_hierarchies() {
  auto mi = read_file("/proc/self/mountinfo");
  return mi ? cgroup::parse_mountinfo(*mi) : std::vector<cgroup::Hierarchy>{};
}

std::optional<cgroup::Hierarchy> devices_hierarchy() {
  for (const auto& h : host_hierarchies())
    if (std::find(h.controllers.begin(), h.controllers.end(), "devices") != h.controllers.end()) return h;
  return std::nullopt;
}

std::string unique_parent() { return "sysc-devtest-" + std::to_string(getpid()); }

// A forked child joins every cgroup.procs file in PROCS, then mknods and opens three nodes in
// a scratch directory: "null=OK loopctl=EPERM loop0=EPERM" (mknod failures as "mknod:ERR").
std::string probe_in(const std::vector<std::string>& procs) {
  char tmpl[] = "/tmp/sysc-devtest-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  int p[2];
  if (pipe(p) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    char self[16];
    snprintf(self, sizeof self, "%d", getpid());
    for (const auto& f : procs) {
      int fd = open(f.c_str(), O_WRONLY);
      if (fd < 0 || write(fd, self, strlen(self)) < 0) _exit(90);
      close(fd);
    }
    struct Node { const char* name; mode_t kind; unsigned maj, min; } nodes[] = {
        {"null", S_IFCHR, 1, 3}, {"loopctl", S_IFCHR, 10, 237}, {"loop0", S_IFBLK, 7, 0}};
    char out[256] = "";
    for (const Node& n : nodes) {
      std::string path = dir + "/" + n.name;
      const char* res;
      if (mknod(path.c_str(), n.kind | 0600, makedev(n.maj, n.min)) != 0) {
        res = "mknod-failed";
      } else {
        // Block nodes read-only: a broken allowlist must not let a test write to a host disk.
        int fd = open(path.c_str(), (n.kind == S_IFBLK ? O_RDONLY : O_RDWR | O_NOCTTY | O_NONBLOCK) | O_CLOEXEC);
        res = fd >= 0 ? "OK" : errno == EPERM ? "EPERM" : strerror(errno);
        if (fd >= 0) close(fd);
        unlink(path.c_str());
      }
      snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s=%s", out[0] ? " " : "", n.name, res);
    }
    (void)!write(p[1], out, strlen(out));
    _exit(0);
  }
  close(p[1]);
  std::string result;
  char buf[256];
  for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) result.append(buf, n);
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  rmdir(dir.c_str());
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return "child failed: " + std::to_string(st);
  return result;
}

TEST(DevicesV1, DevicesCgroupAloneEnforcesTheAllowlist) {
  SYSC_REQUIRE_ROOT();
  auto dh = devices_hierarchy();
  if (!dh) GTEST_SKIP() << "no v1 devices hierarchy on this host";
  // Only the devices hierarchy: no cgroup2 program is involved, so this is the v1 rules alone.
  auto d = cgroup::make_v1_driver({*dh}, cgroup::Layout::Legacy);
  const std::string parent = unique_parent(), rel = parent + "/c1";
  ASSERT_TRUE(d->create(rel).ok()) << d->create(rel).error().message;
  EXPECT_EQ(lines_of(read_text(dh->mount_point + "/" + parent + "/devices.list")), want_v1());
  EXPECT_EQ(lines_of(read_text(dh->mount_point + "/" + rel + "/devices.list")), want_v1());
  EXPECT_EQ(probe_in({dh->mount_point + "/" + rel + "/cgroup.procs"}), "null=OK loopctl=EPERM loop0=EPERM");
  ASSERT_TRUE(d->create(rel).ok());  // re-applying is a no-op, also with a child below
  EXPECT_EQ(lines_of(read_text(dh->mount_point + "/" + parent + "/devices.list")), want_v1());
  EXPECT_TRUE(d->destroy(parent).ok());
  EXPECT_FALSE(fs::exists(dh->mount_point + "/" + parent));
}

TEST(DevicesV1, ExistingParentIsRestrictedAndFailedCreateRollsBack) {
  SYSC_REQUIRE_ROOT();
  auto dh = devices_hierarchy();
  if (!dh) GTEST_SKIP() << "no v1 devices hierarchy on this host";
  auto made = cgroup::make_driver("v1");
  ASSERT_TRUE(made.ok()) << made.error().message;
  auto& d = *made;
  const std::string p1 = unique_parent() + "-a", p2 = unique_parent() + "-b";
  // An unrestricted parent left by an older sysc, still without children: restricted now.
  ASSERT_EQ(mkdir((dh->mount_point + "/" + p1).c_str(), 0755), 0);
  EXPECT_EQ(lines_of(read_text(dh->mount_point + "/" + p1 + "/devices.list")), std::set<std::string>{"a *:* rwm"});
  ASSERT_TRUE(d->create(p1 + "/c1").ok());
  EXPECT_EQ(lines_of(read_text(dh->mount_point + "/" + p1 + "/devices.list")), want_v1());
  EXPECT_TRUE(d->destroy(p1).ok());

  // One with a child already: the kernel cannot reset it, so create fails, names the reason,
  // and removes every level it made in this call, in every hierarchy.
  const std::string dev_p2 = dh->mount_point + "/" + p2;
  ASSERT_EQ(mkdir(dev_p2.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dev_p2 + "/other").c_str(), 0755), 0);
  auto st = d->create(p2 + "/c1");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("child cgroups"), std::string::npos) << st.error().message;
  for (const auto& p : d->paths(p2 + "/c1")) EXPECT_FALSE(fs::exists(p)) << p;
  for (const auto& p : d->paths(p2)) {
    if (p == dev_p2) continue;
    EXPECT_FALSE(fs::exists(p)) << "level made by the failed create left behind: " << p;
  }
  rmdir((dev_p2 + "/other").c_str());
  rmdir(dev_p2.c_str());
}

TEST(DevicesV1, DestroyKillsWhileFrozen) {
  SYSC_REQUIRE_ROOT();
  auto made = cgroup::make_driver("v1");
  ASSERT_TRUE(made.ok()) << made.error().message;
  auto& d = *made;
  const std::string parent = unique_parent() + "-k", rel = parent + "/c1";
  ASSERT_TRUE(d->create(rel).ok());
  std::vector<pid_t> kids;
  for (int i = 0; i < 3; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) pause();
    }
    kids.push_back(pid);
    ASSERT_TRUE(d->attach(rel, pid).ok());
  }
  auto st = d->destroy(rel);
  EXPECT_TRUE(st.ok()) << st.error().message;
  for (pid_t k : kids) {
    int ws = 0;
    ASSERT_EQ(waitpid(k, &ws, 0), k);
    EXPECT_TRUE(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL) << ws;
  }
  EXPECT_FALSE(d->exists(rel));
  EXPECT_TRUE(d->destroy(parent).ok());
}

TEST(DevicesV2, DeviceProgramAloneEnforcesTheAllowlist) {
  SYSC_REQUIRE_ROOT();
  auto made = cgroup::make_driver("v2");
  if (!made) GTEST_SKIP() << "no cgroup2 hierarchy: " << made.error().message;
  auto& d = *made;
  const std::string parent = unique_parent() + "-v2", rel = parent + "/c1";
  ASSERT_TRUE(d->create(rel).ok()) << d->create(rel).error().message;
  for (const std::string& level : {parent, rel}) {
    auto ids = devices::attached_ids(d->path(level));
    ASSERT_TRUE(ids.ok()) << ids.error().message;
    ASSERT_EQ(ids->size(), 1u) << level;
    auto info = devices::prog_info_by_id(ids->front());
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->name, "sysc_devices");
  }
  // On a hybrid host the child stays in the devices v1 root (allow all): only the program acts.
  EXPECT_EQ(probe_in({d->path(rel) + "/cgroup.procs"}), "null=OK loopctl=EPERM loop0=EPERM");
  // Re-applying does not stack copies.
  ASSERT_TRUE(d->create(rel).ok());
  EXPECT_EQ(devices::attached_ids(d->path(parent))->size(), 1u);
  EXPECT_EQ(devices::attached_ids(d->path(rel))->size(), 1u);
  EXPECT_TRUE(d->destroy(parent).ok());
  EXPECT_FALSE(d->exists(parent));
}

TEST(DevicesV2, VerifierAcceptsTheProgram) {
  SYSC_REQUIRE_ROOT();
  auto fd = devices::load(devices::assemble(devices::allowlist()));
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  auto info = devices::prog_info(fd->get());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->name, "sysc_devices");
}

// End to end in a busybox container, with the default driver (v1 on this hybrid host: the
// devices cgroup plus the program on the unified hierarchy) and with `driver = v2`.
class DevicesContainer : public ::testing::TestWithParam<const char*> {};

TEST_P(DevicesContainer, OnlyAllowlistedNodesOpen) {
  SYSC_REQUIRE_ROOT();
  const bool v2 = std::string(GetParam()).find("v2") != std::string::npos;
  if (v2 && !cgroup::make_driver("v2")) GTEST_SKIP() << "no cgroup2 hierarchy on this host";
  SyscEnv env(GetParam());
  const std::string name = v2 ? "dev2" : "dev1";
  env.create_busybox(name);
  // Privileged: mknod works, so the device cgroup / BPF program is what stops the opens.
  ASSERT_EQ(env.sysc({"config", "set", name, "security.privileged", "true"}).status, 0);
  // No network: nothing here needs it, and it keeps the host's bridge and nftables out of it.
  auto net = env.sysc({"config", "set", name, "net.0.type", "none"});
  EXPECT_EQ(net.status, 0) << net.err;
  auto r = env.sysc({"start", name});
  ASSERT_EQ(r.status, 0) << r.err;
  auto inside = [&](std::vector<std::string> cmd) {
    std::vector<std::string> args = {"attach", name, "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return env.sysc(args);
  };

  auto null = inside({"sysc-probe", "mknod", "/tmp/n", "c", "1", "3"});
  EXPECT_NE(null.out.find("mknod=OK\nopen=OK\nwrite=OK\n"), std::string::npos) << null.out << null.err;
  auto lc = inside({"sysc-probe", "mknod", "/tmp/lc", "c", "10", "237"});
  EXPECT_NE(lc.out.find("mknod=OK\nopen=EPERM\n"), std::string::npos) << lc.out << lc.err;
  auto vcs = inside({"sysc-probe", "mknod", "/tmp/vcs", "c", "7", "0"});
  EXPECT_NE(vcs.out.find("mknod=OK\nopen=EPERM\n"), std::string::npos) << vcs.out << vcs.err;
  auto loop = inside({"sysc-probe", "mknod", "/tmp/loop0", "b", "7", "0"});
  EXPECT_NE(loop.out.find("mknod=OK\nopen=EPERM\n"), std::string::npos) << loop.out << loop.err;
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random", "/dev/ptmx",
                          "/dev/console"}) {
    auto o = inside({"sysc-probe", "open", dev});
    EXPECT_EQ(o.out, "open=OK\n") << dev << ": " << o.err;
  }
  auto console = inside({"sh", "-c", "echo x > /dev/console"});
  EXPECT_EQ(console.status, 0) << console.err;

  // On the host: the level holding the containers is restricted too (a container could
  // re-grant itself anything its parent allows).
  auto info = env.info(name);
  if (!v2) {
    auto dh = devices_hierarchy();
    ASSERT_TRUE(dh.has_value());
    EXPECT_EQ(lines_of(read_text(dh->mount_point + "/" + env.cgroup_parent() + "/devices.list")), want_v1());
    EXPECT_EQ(lines_of(read_text(dh->mount_point + "/" + env.cgroup_parent() + "/" + name + "/devices.list")), want_v1());
  }
  const std::string leaf = info.value("cgroup", "");
  ASSERT_FALSE(leaf.empty());
  const std::string parent_dir = fs::path(leaf).parent_path().string();
  // The cgroup2 device program where cgroup2 holds the allowlist; none on a hybrid host whose v1
  // devices controller does (the kernel would check both: the program would be redundant).
  const size_t programs = v2 || !devices_hierarchy() ? 1u : 0u;
  for (const std::string& dir : {parent_dir, leaf}) {
    auto ids = devices::attached_ids(dir);
    ASSERT_TRUE(ids.ok()) << ids.error().message;
    EXPECT_EQ(ids->size(), programs) << dir;
  }
  r = env.sysc({"stop", name});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(env.leftovers(name).empty());
}

INSTANTIATE_TEST_SUITE_P(Drivers, DevicesContainer, ::testing::Values("", "driver = v2\n"),
                         [](const auto& info) { return std::string(info.param[0] ? "v2" : "default"); });

}  // namespace
}  // namespace sysc::test
