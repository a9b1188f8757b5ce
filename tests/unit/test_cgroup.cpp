// Unit tests for the cgroup module: mountinfo and /proc/PID/cgroup parsing, layout detection,
// container mount plans, and both drivers run against fake cgroup trees in a temp directory.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <tuple>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "runtime/cgroup.h"

namespace fs = std::filesystem;
using namespace sysc;
using namespace sysc::cgroup;
using Op = runtime::MountStep::Op;

namespace {

std::string fixture(const std::string& name) {
  auto r = read_file(std::string(SYSC_TEST_DATA) + "/cgroup/" + name);
  EXPECT_TRUE(r.ok()) << name;
  return r.ok() ? *r : std::string();
}

void put(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

std::string get(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh temp directory removed at the end of each test.
class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sysc-cgroup-unit-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string at(const std::string& rel) const { return (root_ / rel).string(); }
  fs::path root_;
};

using Step = std::tuple<Op, std::string, std::string, std::string, std::string, unsigned long, bool>;

std::vector<Step> steps(const runtime::MountPlan& plan) {
  std::vector<Step> out;
  for (const auto& s : plan) out.emplace_back(s.op, s.source, s.target, s.fstype, s.data, s.flags, s.optional);
  return out;
}

constexpr unsigned long kBase = MS_NOSUID | MS_NODEV | MS_NOEXEC;

Step v1_mount(const std::string& t, const std::string& data, bool ro) {
  return {Op::Mount, "cgroup", "sys/fs/cgroup/" + t, "cgroup", data, kBase | (ro ? MS_RDONLY : 0), false};
}
Step link_step(const std::string& name, const std::string& to) {
  return {Op::Symlink, to, "sys/fs/cgroup/" + name, "", "", 0, true};
}
const Step kTmpfs{Op::Mount, "tmpfs", "sys/fs/cgroup", "tmpfs", "mode=755,size=64k", kBase, false};
const Step kRemount{Op::RemountRO, "", "sys/fs/cgroup", "", "", 0, false};

}  // namespace

TEST(CgroupParse, HybridMountinfo) {
  auto hs = parse_mountinfo(fixture("mountinfo-hybrid"));
  ASSERT_EQ(hs.size(), 10u);
  EXPECT_EQ(hs[0].mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(hs[0].controllers, std::vector<std::string>{"cpu"});
  EXPECT_FALSE(hs[0].v2);
  EXPECT_EQ(hs[7].controllers, std::vector<std::string>{"pids"});
  EXPECT_EQ(hs[8].mount_point, "/sys/fs/cgroup/systemd");
  EXPECT_TRUE(hs[8].controllers.empty());
  EXPECT_EQ(hs[8].name, "systemd");
  EXPECT_EQ(hs[9].mount_point, "/sys/fs/cgroup/unified");
  EXPECT_TRUE(hs[9].v2);
  EXPECT_TRUE(hs[9].controllers.empty());
  EXPECT_EQ(detect_layout(hs, false), Layout::Hybrid);
  EXPECT_STREQ(to_string(Layout::Hybrid), "hybrid");
}

TEST(CgroupParse, UnifiedMountinfo) {
  auto hs = parse_mountinfo(fixture("mountinfo-unified"));
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_EQ(hs[0].mount_point, "/sys/fs/cgroup");
  EXPECT_TRUE(hs[0].v2);
  EXPECT_TRUE(hs[0].controllers.empty());
  EXPECT_EQ(detect_layout(hs, true), Layout::Unified);
  EXPECT_EQ(detect_layout(hs, false), Layout::Unified);  // the mountinfo alone says so too
}

TEST(CgroupParse, LegacyMountinfoWithCoMountsAndBindDuplicate) {
  auto hs = parse_mountinfo(fixture("mountinfo-legacy"));
  ASSERT_EQ(hs.size(), 6u);  // the bind mount of name=systemd (same device) is dropped
  EXPECT_EQ(hs[0].name, "systemd");
  EXPECT_TRUE(hs[0].controllers.empty());  // rw, xattr, release_agent= are options
  EXPECT_EQ(hs[1].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(hs[1].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ(hs[2].controllers, (std::vector<std::string>{"net_cls", "net_prio"}));
  EXPECT_EQ(hs[3].controllers, std::vector<std::string>{"cpuset"});  // clone_children ignored
  EXPECT_EQ(detect_layout(hs, false), Layout::Legacy);
}

TEST(CgroupParse, EscapesAndOptionalFields) {
  auto hs = parse_mountinfo(
      "50 25 0:99 / /mnt/my\\040cg\\134x rw shared:1 master:2 - cgroup cgroup rw,relatime,memory\n"
      "51 25 0:98 / /other rw - cgroup2 none rw,nsdelegate\n"
      "garbage line\n"
      "52 25 0:97 / /x rw - ext4 /dev/sda rw\n");
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(hs[0].mount_point, "/mnt/my cg\\x");
  EXPECT_EQ(hs[0].controllers, std::vector<std::string>{"memory"});
  EXPECT_TRUE(hs[1].v2);
  EXPECT_EQ(detect_layout(hs, false), Layout::Hybrid);
  EXPECT_EQ(detect_layout({}, false), Layout::Legacy);
}

TEST(CgroupParse, ProcCgroup) {
  auto pairs = parse_proc_cgroup(fixture("proc-cgroup-hybrid"));
  ASSERT_EQ(pairs.size(), 5u);
  EXPECT_EQ(pairs[0], (std::pair<std::string, std::string>{"pids", "/sysc/web1"}));
  EXPECT_EQ(pairs[2], (std::pair<std::string, std::string>{"cpu,cpuacct", "/sysc/web1"}));
  EXPECT_EQ(pairs[3], (std::pair<std::string, std::string>{"name=systemd", "/sysc/web1"}));
  EXPECT_EQ(pairs[4], (std::pair<std::string, std::string>{"", "/sysc/web1"}));
  auto odd = parse_proc_cgroup("12:memory:/sysc/web1\n0::/a:b\n");
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_EQ(odd[0], (std::pair<std::string, std::string>{"memory", "/sysc/web1"}));
  EXPECT_EQ(odd[1].second, "/a:b");
}

TEST(CgroupMounts, Unified) {
  auto d = make_v2_driver("/sys/fs/cgroup");
  EXPECT_EQ(d->layout(), Layout::Unified);
  std::vector<Step> want{{Op::Mount, "cgroup2", "sys/fs/cgroup", "cgroup2", "", kBase, false}};
  EXPECT_EQ(steps(d->container_mounts()), want);
}

TEST(CgroupMounts, Hybrid) {
  auto d = make_v1_driver(parse_mountinfo(fixture("mountinfo-hybrid")), Layout::Hybrid);
  EXPECT_EQ(d->layout(), Layout::Hybrid);
  std::vector<Step> want{kTmpfs};
  for (const char* c : {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"}) {
    want.push_back(v1_mount(c, c, /*ro=*/true));
  }
  want.push_back(v1_mount("systemd", "name=systemd", /*ro=*/false));
  want.push_back({Op::Mount, "cgroup2", "sys/fs/cgroup/unified", "cgroup2", "", kBase, false});
  want.push_back(kRemount);
  EXPECT_EQ(steps(d->container_mounts()), want);
}

TEST(CgroupMounts, LegacyWithCoMountedControllers) {
  auto d = make_v1_driver(parse_mountinfo(fixture("mountinfo-legacy")), Layout::Legacy);
  std::vector<Step> want{kTmpfs,
                         v1_mount("systemd", "name=systemd", false),
                         v1_mount("cpu,cpuacct", "cpu,cpuacct", true),
                         link_step("cpu", "cpu,cpuacct"),
                         link_step("cpuacct", "cpu,cpuacct"),
                         v1_mount("net_cls,net_prio", "net_cls,net_prio", true),
                         link_step("net_cls", "net_cls,net_prio"),
                         link_step("net_prio", "net_cls,net_prio"),
                         v1_mount("cpuset", "cpuset", true),
                         v1_mount("memory", "memory", true),
                         v1_mount("pids", "pids", true),
                         kRemount};
  EXPECT_EQ(steps(d->container_mounts()), want);
}

TEST_F(FakeTree, V2CreateEnablesParentControllers) {
  put(at("cgroup.controllers"), "cpu memory pids\n");
  put(at("cgroup.subtree_control"), "");
  // "sysc" exists already and has memory delegated: only the missing ones are added.
  put(at("sysc/cgroup.controllers"), "cpu memory pids\n");
  put(at("sysc/cgroup.subtree_control"), "memory\n");
  auto d = make_v2_driver(root_.string());
  ASSERT_TRUE(d->create("sysc/web1").ok());
  EXPECT_EQ(get(at("cgroup.subtree_control")), "");  // the host's root is never written
  EXPECT_EQ(get(at("sysc/cgroup.subtree_control")), "+cpu +pids");
  EXPECT_TRUE(fs::is_directory(at("sysc/web1")));
  EXPECT_FALSE(fs::exists(at("sysc/web1/cgroup.subtree_control")));  // the leaf is left alone
  EXPECT_TRUE(d->exists("sysc/web1"));
  EXPECT_FALSE(d->exists("sysc/web2"));
  EXPECT_EQ(d->path("sysc/web1"), at("sysc/web1"));
  EXPECT_EQ(d->paths("sysc/web1"), std::vector<std::string>{at("sysc/web1")});
  // Existing is fine, and a parent already delegating everything is not written again.
  put(at("sysc/cgroup.subtree_control"), "cpu memory pids\n");
  ASSERT_TRUE(d->create("sysc/web1").ok());
  EXPECT_EQ(get(at("sysc/cgroup.subtree_control")), "cpu memory pids\n");
  // A parent whose combined write fails still gets what it can, one controller at a time.
  put(at("sysc/web1/cgroup.controllers"), "cpu io\n");
  fs::create_directories(at("sysc/web1/cgroup.subtree_control"));  // unwritable: every write fails
  EXPECT_TRUE(d->create("sysc/web1/inner").ok());  // failures to delegate are ignored
}

TEST_F(FakeTree, V2AttachProcsAndCounters) {
  auto d = make_v2_driver(root_.string());
  ASSERT_TRUE(d->create("sysc/web1").ok());
  put(at("sysc/web1/cgroup.procs"), "");
  ASSERT_TRUE(d->attach("sysc/web1", 4242).ok());
  EXPECT_EQ(get(at("sysc/web1/cgroup.procs")), "4242");
  put(at("sysc/web1/cgroup.procs"), "12\n34\n");
  auto procs = d->procs("sysc/web1");
  ASSERT_TRUE(procs.ok());
  EXPECT_EQ(*procs, (std::vector<pid_t>{12, 34}));
  EXPECT_EQ(d->procs("sysc/none").error().code, ENOENT);

  auto mem = d->memory_current("sysc/web1");
  ASSERT_FALSE(mem.ok());  // no memory controller: an error, never a made-up number
  EXPECT_EQ(mem.error().code, ENOENT);
  EXPECT_NE(mem.error().message.find("memory controller not available"), std::string::npos);
  EXPECT_NE(mem.error().message.find("sysc/web1"), std::string::npos);

  put(at("sysc/web1/memory.current"), fixture("memory.current"));
  put(at("sysc/web1/cpu.stat"), fixture("cpu.stat"));
  ASSERT_TRUE(d->memory_current("sysc/web1").ok());
  EXPECT_EQ(d->memory_current("sysc/web1").value(), 52170752u);
  ASSERT_TRUE(d->cpu_usage_ns("sysc/web1").ok());
  EXPECT_EQ(d->cpu_usage_ns("sysc/web1").value(), 109640607000u);
  put(at("sysc/web1/memory.current"), "lots\n");
  EXPECT_EQ(d->memory_current("sysc/web1").error().code, EINVAL);
  put(at("sysc/web1/cpu.stat"), "user_usec 5\n");
  EXPECT_FALSE(d->cpu_usage_ns("sysc/web1").ok());
}

TEST_F(FakeTree, V2DestroyRemovesSubtreeOnly) {
  auto d = make_v2_driver(root_.string());
  ASSERT_TRUE(d->create("sysc/web1/inner").ok());
  ASSERT_TRUE(d->destroy("sysc/web1").ok());
  EXPECT_FALSE(fs::exists(at("sysc/web1")));
  EXPECT_TRUE(fs::is_directory(at("sysc")));  // parents stay
  EXPECT_TRUE(d->destroy("sysc/web1").ok());  // missing is success
}

TEST_F(FakeTree, RejectsEscapingPaths) {
  auto v2 = make_v2_driver(root_.string());
  auto v1 = make_v1_driver({Hierarchy{root_.string(), {"memory"}, "", false}}, Layout::Legacy);
  for (const char* bad : {"", "/abs", "../up", "a/../b", "a//b", "a/", "."}) {
    EXPECT_EQ(v2->create(bad).error().code, EINVAL) << bad;
    EXPECT_EQ(v2->destroy(bad).error().code, EINVAL) << bad;
    EXPECT_EQ(v1->destroy(bad).error().code, EINVAL) << bad;
    EXPECT_FALSE(v1->exists(bad)) << bad;
  }
}

namespace {

// A hybrid-shaped fake host: cpuset, memory, cpuacct, name=systemd and a cgroup2 "unified".
std::vector<Hierarchy> fake_hybrid(const fs::path& root) {
  return {Hierarchy{(root / "cpuset").string(), {"cpuset"}, "", false},
          Hierarchy{(root / "memory").string(), {"memory"}, "", false},
          Hierarchy{(root / "cpuacct").string(), {"cpuacct"}, "", false},
          Hierarchy{(root / "systemd").string(), {}, "systemd", false},
          Hierarchy{(root / "unified").string(), {}, "", true}};
}

}  // namespace

TEST_F(FakeTree, V1CreateCopiesCpusetDown) {
  for (const char* h : {"cpuset", "memory", "cpuacct", "systemd", "unified"}) fs::create_directories(at(h));
  put(at("cpuset/cpuset.cpus"), "0-1\n");
  put(at("cpuset/cpuset.mems"), "0\n");
  // New cpuset levels come with empty files (the kernel makes them; the fake tree seeds them).
  put(at("cpuset/sysc/cpuset.cpus"), "\n");
  put(at("cpuset/sysc/cpuset.mems"), "\n");
  put(at("cpuset/sysc/web1/cpuset.cpus"), "1\n");  // already set: kept
  put(at("cpuset/sysc/web1/cpuset.mems"), "");
  auto d = make_v1_driver(fake_hybrid(root_), Layout::Hybrid);
  ASSERT_TRUE(d->create("sysc/web1").ok()) << d->create("sysc/web1").error().message;
  EXPECT_EQ(get(at("cpuset/sysc/cpuset.cpus")), "0-1");
  EXPECT_EQ(get(at("cpuset/sysc/cpuset.mems")), "0");
  EXPECT_EQ(get(at("cpuset/sysc/web1/cpuset.cpus")), "1\n");
  EXPECT_EQ(get(at("cpuset/sysc/web1/cpuset.mems")), "0");
  for (const char* h : {"memory", "cpuacct", "systemd", "unified"})
    EXPECT_TRUE(fs::is_directory(at(std::string(h) + "/sysc/web1"))) << h;
  EXPECT_EQ(d->paths("sysc/web1"),
            (std::vector<std::string>{at("cpuset/sysc/web1"), at("memory/sysc/web1"), at("cpuacct/sysc/web1"),
                                      at("systemd/sysc/web1"), at("unified/sysc/web1")}));
  EXPECT_EQ(d->path("sysc/web1"), at("unified/sysc/web1"));  // hybrid: the unified one
}

TEST_F(FakeTree, V1CpusetWithoutFilesIsAnError) {
  fs::create_directories(at("cpuset"));
  put(at("cpuset/cpuset.cpus"), "0-1\n");
  auto d = make_v1_driver({Hierarchy{at("cpuset"), {"cpuset"}, "", false}}, Layout::Legacy);
  auto s = d->create("sysc");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("cgroup sysc"), std::string::npos) << s.error().message;
}

TEST_F(FakeTree, V1AttachEveryHierarchyAndCounters) {
  auto hs = fake_hybrid(root_);
  hs.erase(hs.begin());  // no cpuset: nothing to seed before create
  for (const auto& h : hs) fs::create_directories(h.mount_point);
  auto d = make_v1_driver(hs, Layout::Hybrid);
  ASSERT_TRUE(d->create("sysc/web1").ok());
  for (const char* h : {"memory", "cpuacct", "systemd", "unified"}) put(at(std::string(h) + "/sysc/web1/cgroup.procs"), "");
  ASSERT_TRUE(d->attach("sysc/web1", 777).ok());
  for (const char* h : {"memory", "cpuacct", "systemd", "unified"})
    EXPECT_EQ(get(at(std::string(h) + "/sysc/web1/cgroup.procs")), "777") << h;
  put(at("unified/sysc/web1/cgroup.procs"), "777\n");
  ASSERT_TRUE(d->procs("sysc/web1").ok());
  EXPECT_EQ(d->procs("sysc/web1").value(), std::vector<pid_t>{777});

  put(at("memory/sysc/web1/memory.usage_in_bytes"), fixture("memory.usage_in_bytes"));
  put(at("cpuacct/sysc/web1/cpuacct.usage"), fixture("cpuacct.usage"));
  ASSERT_TRUE(d->memory_current("sysc/web1").ok());
  EXPECT_EQ(d->memory_current("sysc/web1").value(), 8388608u);
  ASSERT_TRUE(d->cpu_usage_ns("sysc/web1").ok());
  EXPECT_EQ(d->cpu_usage_ns("sysc/web1").value(), 123456789u);
}

// The levels above a container are made and set up by the first create below them; later ones
// make only their own level, unless those levels were removed meanwhile.
TEST_F(FakeTree, ParentLevelsAreSetUpOnceAndMadeAgainWhenRemoved) {
  put(at("cgroup.controllers"), "cpu memory pids\n");
  put(at("cgroup.subtree_control"), "");
  put(at("sysc/cgroup.controllers"), "cpu memory pids\n");
  put(at("sysc/cgroup.subtree_control"), "");
  auto v2 = make_v2_driver(root_.string());
  ASSERT_TRUE(v2->create("sysc/web1").ok());
  EXPECT_EQ(get(at("sysc/cgroup.subtree_control")), "+cpu +memory +pids");
  put(at("sysc/cgroup.subtree_control"), "");  // not read or written again by this driver
  ASSERT_TRUE(v2->create("sysc/web2").ok());
  EXPECT_EQ(get(at("sysc/cgroup.subtree_control")), "");
  EXPECT_TRUE(fs::is_directory(at("sysc/web2")));
  // A driver told that another set the levels up (a supervisor, by lxcd) does not either.
  auto told = make_v2_driver(root_.string());
  told->parents_ready("sysc/web4");
  ASSERT_TRUE(told->create("sysc/web4").ok());
  EXPECT_EQ(get(at("sysc/cgroup.subtree_control")), "");
  fs::remove_all(at("sysc"));
  auto again = v2->create("sysc/web3");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(fs::is_directory(at("sysc/web3")));
  fs::remove_all(at("sysc"));
  told->parents_ready("sysc/web5");
  again = told->create("sysc/web5");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(fs::is_directory(at("sysc/web5")));

  auto hs = fake_hybrid(root_ / "v1");
  hs.erase(hs.begin());  // no cpuset: nothing to seed at each new level
  for (const auto& h : hs) fs::create_directories(h.mount_point);
  auto v1 = make_v1_driver(hs, Layout::Hybrid);
  ASSERT_TRUE(v1->create("sysc/web1").ok());
  ASSERT_TRUE(v1->create("sysc/web2").ok());
  for (const auto& h : hs) fs::remove_all(h.mount_point + "/sysc");
  again = v1->create("sysc/web3");
  ASSERT_TRUE(again.ok()) << again.error().message;
  for (const auto& h : hs) EXPECT_TRUE(fs::is_directory(h.mount_point + "/sysc/web3")) << h.mount_point;
}

TEST_F(FakeTree, V1LegacyPrimaryAndMissingControllers) {
  // Legacy: a cgroup2 mount in the list is ignored; the primary is the first v1 hierarchy.
  std::vector<Hierarchy> hs{Hierarchy{at("systemd"), {}, "systemd", false}, Hierarchy{at("unified"), {}, "", true}};
  auto d = make_v1_driver(hs, Layout::Legacy);
  EXPECT_EQ(d->path("sysc/web1"), at("systemd/sysc/web1"));
  EXPECT_EQ(d->paths("sysc/web1"), std::vector<std::string>{at("systemd/sysc/web1")});
  EXPECT_EQ(d->memory_current("sysc/web1").error().code, ENOENT);
  EXPECT_EQ(d->cpu_usage_ns("sysc/web1").error().code, ENOENT);
  // Hybrid without cpuacct: cpu time comes from the unified cpu.stat.
  auto h = make_v1_driver(hs, Layout::Hybrid);
  for (const auto& x : hs) fs::create_directories(x.mount_point);
  ASSERT_TRUE(h->create("sysc/web1").ok());
  put(at("unified/sysc/web1/cpu.stat"), fixture("cpu.stat"));
  ASSERT_TRUE(h->cpu_usage_ns("sysc/web1").ok());
  EXPECT_EQ(h->cpu_usage_ns("sysc/web1").value(), 109640607000u);
  fs::remove(at("unified/sysc/web1/cpu.stat"));  // a fake file would keep rmdir from working
  ASSERT_TRUE(h->destroy("sysc/web1").ok());
  EXPECT_FALSE(h->exists("sysc/web1"));
  EXPECT_TRUE(h->exists("sysc"));
  EXPECT_TRUE(h->destroy("sysc/web1").ok());
}

// How a new process enters a container's cgroups without a migration by pid: cloned into the
// cgroup2 directory, "0" written by itself to every v1 tasks file.
TEST_F(FakeTree, JoinPlanClonesIntoCgroup2AndMovesItselfIntoV1) {
  auto hybrid = make_v1_driver(fake_hybrid(root_), Layout::Hybrid);
  JoinPlan j = hybrid->join_plan("sysc/web1");
  EXPECT_EQ(j.clone_into, at("unified/sysc/web1"));
  EXPECT_EQ(j.self_tasks, (std::vector<std::string>{at("cpuset/sysc/web1/tasks"), at("memory/sysc/web1/tasks"),
                                                     at("cpuacct/sysc/web1/tasks"), at("systemd/sysc/web1/tasks")}));
  auto hs = fake_hybrid(root_);
  hs.pop_back();  // legacy: no cgroup2 hierarchy
  JoinPlan legacy = make_v1_driver(hs, Layout::Legacy)->join_plan("sysc/web1");
  EXPECT_EQ(legacy.clone_into, "");
  EXPECT_EQ(legacy.self_tasks.size(), 4u);
  JoinPlan unified = make_v2_driver(root_.string())->join_plan("sysc/web1");
  EXPECT_EQ(unified.clone_into, at("sysc/web1"));
  EXPECT_TRUE(unified.self_tasks.empty());
}
