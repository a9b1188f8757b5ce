// Unprivileged containers (security.privileged = false): root inside is a host id range of its
// own, the rootfs is idmapped (or its ids shifted once), /proc, /sys, /dev, the cgroup, the
// console, the network and attach all keep working, and root inside cannot reach the host.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <fstream>
#include <linux/capability.h>
#include <sstream>

#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}


struct Owner {
  long uid = -1, gid = -1;
  unsigned mode = 0;
};
Owner owner_of(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return {};
  return {static_cast<long>(st.st_uid), static_cast<long>(st.st_gid), st.st_mode & 07777};
}

RunResult in(SyscEnv& env, const std::string& name, const std::string& script) {
  return env.sysc({"attach", name, "--", "/bin/sh", "-c", script});
}

long host_base(SyscEnv& env, const std::string& name) {
  auto info = env.info(name);
  return info.contains("idmap") ? info["idmap"].value("host_base", -1L) : -1L;
}

void make_unprivileged(SyscEnv& env, const std::string& name) {
  auto r = env.sysc({"config", "set", name, "security.privileged", "false"});
  ASSERT_EQ(r.status, 0) << r.err;
}

class Userns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    env_ = new SyscEnv();
    for (const char* name : {"un1", "un2"}) {
      env_->create_busybox(name);
      make_unprivileged(*env_, name);
      auto r = env_->sysc({"start", name});
      if (r.status != 0) setup_error_ += std::string("start ") + name + ": " + r.err;
    }
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    ASSERT_TRUE(setup_error_.empty()) << setup_error_ << env_->sysc({"console", "--log", "un1"}).out;
  }
  static SyscEnv* env_;
  static std::string setup_error_;
};
SyscEnv* Userns::env_ = nullptr;
std::string Userns::setup_error_;

TEST_F(Userns, BusyboxInitRunsAsRootOfItsOwnRange) {
  const long base = host_base(*env_, "un1");
  ASSERT_GE(base, 65536) << env_->info("un1").dump();
  EXPECT_EQ(env_->info("un1").value("privileged", true), false);
  EXPECT_NE(env_->sysc({"info", "un1"}).out.find(std::to_string(base) + "-" + std::to_string(base + 65535) + " (unprivileged)"),
            std::string::npos);
  EXPECT_EQ(in(*env_, "un1", "cat /proc/1/comm").out, "init\n");
  EXPECT_EQ(in(*env_, "un1", "id -u; id -g").out, "0\n0\n");
  const std::string map = "0 " + std::to_string(base) + " 65536";
  for (const char* f : {"/proc/self/uid_map", "/proc/self/gid_map", "/proc/1/uid_map"}) {
    std::istringstream line(in(*env_, "un1", std::string("cat ") + f).out);
    long a, b, c;
    ASSERT_TRUE(line >> a >> b >> c) << f;
    EXPECT_EQ(std::to_string(a) + " " + std::to_string(b) + " " + std::to_string(c), map) << f;
  }
  // Seen from the host, the init's credentials are the range's base, not root.
  int pid = env_->info("un1").value("init_pid", 0);
  std::string status = sysc::test::read_text("/proc/" + std::to_string(pid) + "/status");
  EXPECT_NE(status.find("Uid:\t" + std::to_string(base) + "\t" + std::to_string(base)), std::string::npos) << status;
}

TEST_F(Userns, FilesMadeByRootInsideBelongToTheRangeOnTheHost) {
  const long base = host_base(*env_, "un1");
  ASSERT_EQ(in(*env_, "un1", "echo hello > /root/made-inside && mkdir -p /run/d && touch /run/d/f").status, 0);
  int pid = env_->info("un1").value("init_pid", 0);
  const std::string via_init = "/proc/" + std::to_string(pid) + "/root";
  Owner o = owner_of(via_init + "/root/made-inside");
  EXPECT_EQ(o.uid, base);
  EXPECT_EQ(o.gid, base);
  EXPECT_EQ(owner_of(via_init + "/run/d/f").uid, base);  // a tmpfs made inside
  // On disk: host root's ids through an idmapped mount, the range's when the ids are shifted.
  const bool shifted = env_->info("un1")["idmap"].value("rootfs_shifted", true);
  EXPECT_EQ(owner_of(env_->rootfs("un1") + "/root/made-inside").uid, shifted ? base : 0);
  EXPECT_EQ(in(*env_, "un1", "stat -c %u:%g /root/made-inside /bin/busybox /etc/passwd").out, "0:0\n0:0\n0:0\n");
}

TEST_F(Userns, TwoContainersGetRangesThatDoNotOverlap) {
  const long a = host_base(*env_, "un1"), b = host_base(*env_, "un2");
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  EXPECT_GE(std::labs(a - b), 65536) << a << " " << b;
}

TEST_F(Userns, TheRangeIsKeptAcrossStopAndStart) {
  const long before = host_base(*env_, "un2");
  ASSERT_EQ(env_->sysc({"stop", "un2"}).status, 0);
  EXPECT_EQ(host_base(*env_, "un2"), before);  // kept while stopped
  auto r = env_->sysc({"start", "un2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(host_base(*env_, "un2"), before);
  EXPECT_NE(in(*env_, "un2", "cat /proc/self/uid_map").out.find(" " + std::to_string(before) + " "), std::string::npos);
}

TEST_F(Userns, RootInsideCannotReachHostDevicesCgroupfsOrKernelKnobs) {
  // No block device can be made (mknod needs host privileges) or reached through a devtmpfs.
  EXPECT_NE(in(*env_, "un1", "sysc-probe mknod /tmp/disk b 8 0").out.find("mknod=EPERM"), std::string::npos);
  EXPECT_NE(in(*env_, "un1", "sysc-probe mknod /tmp/null c 1 3").out.find("mknod=EPERM"), std::string::npos);
  EXPECT_NE(in(*env_, "un1", "mkdir -p /tmp/m && mount -t devtmpfs none /tmp/m").status, 0);
  // A new cgroup v1 hierarchy would be host-wide: refused.
  EXPECT_NE(in(*env_, "un1", "mkdir -p /tmp/c && mount -t cgroup -o none,name=sysctest none /tmp/c").status, 0);
  // kernel.* sysctls stay the host's, even after remounting /proc/sys read-write (which a user
  // namespace's root may do with its own mounts). The write repeats the current value.
  const std::string sysrq = trim(sysc::test::read_text("/proc/sys/kernel/sysrq"));
  auto w = in(*env_, "un1", "mount -o remount,rw /proc/sys 2>/dev/null; echo " + sysrq + " > /proc/sys/kernel/sysrq");
  EXPECT_NE(w.status, 0) << w.out << w.err;
  EXPECT_EQ(in(*env_, "un1", "sysc-probe write /proc/sys/kernel/hostname").out.find("write=OK"), std::string::npos);
  // The standard nodes work (the host's, bound), and /dev/null is really the null device.
  EXPECT_EQ(in(*env_, "un1", "echo x > /dev/null && head -c 4 /dev/zero | wc -c && stat -c %t:%T /dev/null").out, "4\n1:3\n");
}

TEST_F(Userns, HostProcessesInterfacesAndKernelFilesStayHidden) {
  // A handful of its own processes, never the host's.
  auto pid = in(*env_, "un1", "sysc-probe pid");
  auto pos = pid.out.find("proc_pids=");
  ASSERT_NE(pos, std::string::npos) << pid.out;
  EXPECT_LE(std::stoi(pid.out.substr(pos + 10)), 6) << pid.out;
  // Its own network devices only: none of the host's (the test bridge among them).
  auto dev = in(*env_, "un1", "cat /proc/net/dev");
  EXPECT_NE(dev.out.find("eth0:"), std::string::npos) << dev.out;
  EXPECT_EQ(dev.out.find(env_->bridge()), std::string::npos) << dev.out;
  // Masked kernel files read empty and swallow writes; masked directories are empty.
  for (const char* f : {"/proc/keys", "/proc/timer_list", "/proc/kcore", "/proc/sched_debug", "/proc/sysrq-trigger"}) {
    if (access(f, F_OK) != 0) continue;
    auto r = in(*env_, "un1", std::string("echo x > ") + f + "; wc -c < " + f);
    EXPECT_EQ(r.out, "0\n") << f << ": " << r.err;
  }
  for (const char* d : {"/sys/firmware", "/sys/kernel/security", "/sys/kernel/debug", "/proc/acpi"}) {
    if (access(d, F_OK) != 0) continue;
    EXPECT_EQ(in(*env_, "un1", std::string("ls -A ") + d).out, "") << d;
    // The shared mask tmpfs, bound over each: the same filesystem as /sys/firmware.
    std::string dev = in(*env_, "un1", std::string("stat -c %d ") + d).out;
    EXPECT_FALSE(dev.empty()) << d;
    EXPECT_EQ(dev, in(*env_, "un1", "stat -c %d /sys/firmware").out) << d;
  }
  // The host's cgroup release_agent is out of reach: its cgroup view holds no root hierarchy
  // file, and mounting a cgroup hierarchy is refused (above).
  EXPECT_NE(in(*env_, "un1", "sysc-probe write /sys/fs/cgroup/release_agent").out.find("write="), std::string::npos);
  EXPECT_EQ(in(*env_, "un1", "sysc-probe write /sys/fs/cgroup/release_agent").out.find("write=OK"), std::string::npos);
}

TEST_F(Userns, CapabilityDropsAndSeccompStillApply) {
  auto r = in(*env_, "un1", "sysc-probe caps; sysc-probe seccomp");
  for (const char* cap : {"sys_module", "sys_time", "sys_rawio"})
    EXPECT_NE(r.out.find(std::string("cap_") + cap + "=0"), std::string::npos) << cap << "\n" << r.out;
  EXPECT_NE(r.out.find("cap_sys_boot=1"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("=OK"), std::string::npos) << r.out;  // no denied call got through
  auto init = in(*env_, "un1", "grep CapBnd /proc/1/status");
  EXPECT_NE(init.out.find(r.out.substr(r.out.find("CapBnd=") + 7, 16)), std::string::npos) << init.out;
}

TEST_F(Userns, AttachRunsAsRootInTheSameUserNamespace) {
  auto r = in(*env_, "un1", "readlink /proc/self/ns/user; readlink /proc/1/ns/user; id -u");
  std::istringstream lines(r.out);
  std::string mine, init, uid;
  std::getline(lines, mine);
  std::getline(lines, init);
  std::getline(lines, uid);
  EXPECT_EQ(mine.rfind("user:[", 0), 0u) << r.out << r.err;
  EXPECT_EQ(mine, init);
  EXPECT_EQ(uid, "0");
  struct stat host_ns;
  ASSERT_EQ(stat("/proc/self/ns/user", &host_ns), 0);
  EXPECT_EQ(mine.find(std::to_string(host_ns.st_ino)), std::string::npos);
  // With a terminal: the pty in the container's devpts belongs to its root, not to nobody.
  auto t = env_->sysc({"attach", "-t", "un1", "--", "/bin/sh", "-c", "stat -c %u:%g $(tty)"});
  EXPECT_NE(t.out.find("0:5"), std::string::npos) << t.out << t.err;
}

TEST_F(Userns, CgroupIsDelegatedToTheContainersRoot) {
  const long base = host_base(*env_, "un1");
  std::string dir = env_->info("un1").value("cgroup", "");
  ASSERT_FALSE(dir.empty());
  EXPECT_EQ(owner_of(dir).uid, base) << dir;
  EXPECT_EQ(owner_of(dir + "/cgroup.procs").uid, base) << dir;
  // Inside, root makes a child cgroup and moves a process into it (what systemd does).
  const std::string cg = access("/sys/fs/cgroup/unified", F_OK) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
  auto r = in(*env_, "un1", "mkdir " + cg + "/sub && echo $$ > " + cg + "/sub/cgroup.procs && grep -c /sub /proc/self/cgroup");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(owner_of(dir + "/sub").uid == base) << dir;
}

TEST_F(Userns, NetworkAndConsoleWork) {
  EXPECT_NE(in(*env_, "un1", "ip -4 addr show eth0").out.find(env_->info("un1").value("ipv4", "?") + "/"),
            std::string::npos);
  auto ping = in(*env_, "un1", "ping -c1 -W5 " + env_->address(1));
  EXPECT_EQ(ping.status, 0) << ping.out << ping.err;
  EXPECT_NE(env_->console_until("un1", "activate this console").find("activate this console"), std::string::npos);
}

TEST_F(Userns, RebootFromInsideComesBackInTheSameRange) {
  const long base = host_base(*env_, "un1");
  int before = env_->info("un1").value("init_pid", 0);
  ASSERT_GT(before, 0);
  ASSERT_EQ(in(*env_, "un1", "echo kept > /root/before-reboot && reboot").status, 0);
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    usleep(100000);
    int now = env_->info("un1").value("init_pid", 0);
    back = now > 0 && now != before && env_->state("un1") == "RUNNING";
  }
  ASSERT_TRUE(back) << env_->info("un1").dump();
  EXPECT_NE(in(*env_, "un1", "cat /proc/1/uid_map").out.find(" " + std::to_string(base) + " "), std::string::npos);
  EXPECT_EQ(in(*env_, "un1", "cat /root/before-reboot; stat -c %u /root/before-reboot").out, "kept\n0\n");
}

TEST_F(Userns, DestroyFreesTheRangeAndLeavesNothingBehind) {
  const long freed = host_base(*env_, "un2");
  ASSERT_GT(freed, 0);
  auto r = env_->sysc({"destroy", "--force", "un2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(env_->leftovers("un2").empty()) << ::testing::PrintToString(env_->leftovers("un2"));
  // The next unprivileged container gets the freed range (the lowest free one).
  env_->create_busybox("un3");
  make_unprivileged(*env_, "un3");
  r = env_->sysc({"start", "un3"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(host_base(*env_, "un3"), freed);
  ASSERT_EQ(env_->sysc({"destroy", "--force", "un3"}).status, 0);
  EXPECT_TRUE(env_->leftovers("un3").empty());
}

ino_t ns_inode(int pid, const char* ns) {
  struct stat st;
  return stat(("/proc/" + std::to_string(pid) + "/ns/" + ns).c_str(), &st) == 0 ? st.st_ino : 0;
}

// lxcd's spare supervisor makes a user namespace and network, IPC and UTS namespaces owned by it
// ahead, held by a child; an unprivileged start joins exactly those (and makes its own mount and
// pid namespaces), its init a child of the supervisor, and the holder is gone afterwards. A
// privileged container does not take them: it stays in the host's user namespace.
// The flags of "lo" in PID's network namespace (read by a child that joins it), or -1.
int loopback_flags(int pid) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    int flags = -1;
    const int ns = open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
    const int s = ns >= 0 && setns(ns, CLONE_NEWNET) == 0 ? socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) : -1;
    ifreq ifr{};
    memcpy(ifr.ifr_name, "lo", 3);
    if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) flags = ifr.ifr_flags;
    (void)!write(fds[1], &flags, sizeof flags);
    _exit(0);
  }
  close(fds[1]);
  int flags = -1;
  if (child < 0 || read(fds[0], &flags, sizeof flags) != static_cast<ssize_t>(sizeof flags)) flags = -1;
  close(fds[0]);
  if (child > 0) waitpid(child, nullptr, 0);
  return flags;
}

TEST_F(Userns, StartJoinsTheNamespacesItsSpareSupervisorMadeAhead) {
  const int lxcd = env_->lxcd_pid();
  ASSERT_GT(lxcd, 0);
  // The spare (set up, namespaces made) and its one child, the holder.
  auto find_spare = [&](int other_than, int* spare, int* holder) {
    *spare = wait_spare(lxcd, other_than);
    auto kids = *spare > 0 ? children_of(*spare) : std::vector<int>{};
    *holder = kids.size() == 1 ? kids[0] : 0;
  };
  int spare = 0, holder = 0;
  find_spare(0, &spare, &holder);
  ASSERT_GT(spare, 0) << "no spare supervisor";
  ASSERT_GT(holder, 0) << "the spare supervisor holds no namespaces";
  // The holder is ended after the start has answered: wait for that.
  auto gone = [](int pid) {
    for (int i = 0; i < 100 && alive(pid); ++i) usleep(50000);
    return !alive(pid);
  };
  const int self = getpid();
  const char* const premade[] = {"user", "net", "ipc", "uts"};
  std::map<std::string, ino_t> held;
  for (const char* ns : premade) {
    held[ns] = ns_inode(holder, ns);
    ASSERT_NE(held[ns], 0u) << ns;
    EXPECT_NE(held[ns], ns_inode(self, ns)) << ns;
  }
  EXPECT_EQ(loopback_flags(holder) & IFF_UP, IFF_UP) << "the holder brings its loopback up ahead";
  env_->create_busybox("un4");
  make_unprivileged(*env_, "un4");
  auto r = env_->sysc({"start", "un4"});
  ASSERT_EQ(r.status, 0) << r.err;
  const int init = env_->info("un4").value("init_pid", 0);
  ASSERT_GT(init, 0);
  for (const char* ns : premade) EXPECT_EQ(ns_inode(init, ns), held[ns]) << ns;
  for (const char* ns : {"mnt", "pid", "cgroup"}) EXPECT_NE(ns_inode(init, ns), ns_inode(self, ns)) << ns;
  EXPECT_TRUE(gone(holder));
  // The init is the supervisor's child (forked with CLONE_PARENT), and its only one.
  EXPECT_EQ(children_of(spare), std::vector<int>{init});
  EXPECT_EQ(in(*env_, "un4", "hostname").out, "un4\n");
  EXPECT_NE(in(*env_, "un4", "cat /proc/1/uid_map").out.find(" " + std::to_string(host_base(*env_, "un4")) + " "),
            std::string::npos);
  // PID 1 of a pid namespace of its own: "NSpid: <host pid> 1".
  const std::string status = read_text("/proc/" + std::to_string(init) + "/status");
  EXPECT_NE(status.find("NSpid:\t" + std::to_string(init) + "\t1\n"), std::string::npos) << status;

  // The next spare holds new ones; a privileged start leaves them and makes its own in the host's
  // user namespace.
  int spare2 = 0, holder2 = 0;
  find_spare(spare, &spare2, &holder2);
  ASSERT_GT(holder2, 0) << "spare " << spare2;
  const ino_t net2 = ns_inode(holder2, "net");
  env_->create_busybox("up4");
  ASSERT_EQ(env_->sysc({"config", "set", "up4", "security.privileged", "true"}).status, 0);
  r = env_->sysc({"start", "up4"});
  ASSERT_EQ(r.status, 0) << r.err;
  const int pinit = env_->info("up4").value("init_pid", 0);
  ASSERT_GT(pinit, 0);
  EXPECT_EQ(ns_inode(pinit, "user"), ns_inode(self, "user"));
  EXPECT_NE(ns_inode(pinit, "net"), ns_inode(self, "net"));
  EXPECT_NE(ns_inode(pinit, "net"), net2);
  EXPECT_TRUE(gone(holder2));
  for (const char* name : {"un4", "up4"}) {
    ASSERT_EQ(env_->sysc({"destroy", "--force", name}).status, 0);
    EXPECT_TRUE(env_->leftovers(name).empty()) << ::testing::PrintToString(env_->leftovers(name));
  }
}

// The supervisor makes the cgroup ahead (while lxcd writes the spec) and delegates it before its
// clone: the init finds it delegated from its very first step.
TEST_F(Userns, TheInitFindsItsCgroupDelegatedFromItsFirstStep) {
  env_->create_busybox("un5");
  make_unprivileged(*env_, "un5");
  // Its own cgroup as it sees it: the cgroup2 one (hybrid or unified), else v1's name=systemd.
  const std::string cg = access("/sys/fs/cgroup/unified", F_OK) == 0        ? "/sys/fs/cgroup/unified"
                         : access("/sys/fs/cgroup/cgroup.procs", F_OK) == 0 ? "/sys/fs/cgroup"
                                                                            : "/sys/fs/cgroup/systemd";
  std::ofstream(env_->rootfs("un5") + "/owner-init.sh")
      << "stat -c %u " << cg << " " << cg << "/cgroup.procs > /owner-at-init\nexec /sbin/init\n";
  ASSERT_EQ(env_->sysc({"config", "set", "un5", "init", "/bin/sh /owner-init.sh"}).status, 0);
  auto r = env_->sysc({"start", "un5"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string owners;
  for (int i = 0; i < 100 && owners.empty(); ++i) {
    owners = in(*env_, "un5", "cat /owner-at-init 2>/dev/null").out;
    if (owners.empty()) usleep(20000);
  }
  EXPECT_EQ(owners, "0\n0\n");  // not 65534: the host's root, unmapped inside
  ASSERT_EQ(env_->sysc({"destroy", "--force", "un5"}).status, 0);
  EXPECT_TRUE(env_->leftovers("un5").empty()) << ::testing::PrintToString(env_->leftovers("un5"));
}

// Joining namespaces made ahead puts two tasks in the container's cgroup for a moment (the one
// that joins them forks the init): with a pids limit of 1 the start makes its own instead.
TEST_F(Userns, APidsLimitOfOneStillStarts) {
  env_->create_busybox("un5");
  make_unprivileged(*env_, "un5");
  ASSERT_EQ(env_->sysc({"config", "set", "un5", "limits.pids", "1"}).status, 0);
  auto r = env_->sysc({"start", "un5"});
  ASSERT_EQ(r.status, 0) << r.err;
  const int init = env_->info("un5").value("init_pid", 0);
  ASSERT_GT(init, 0);
  EXPECT_NE(read_text("/proc/" + std::to_string(init) + "/status").find("NSpid:\t" + std::to_string(init) + "\t1\n"),
            std::string::npos);
  ASSERT_EQ(env_->sysc({"destroy", "--force", "un5"}).status, 0);
  EXPECT_TRUE(env_->leftovers("un5").empty()) << ::testing::PrintToString(env_->leftovers("un5"));
}

// On the cgroup2 hierarchy alone (driver v2) the delegation works the same way.
TEST(UsernsCgroupV2, TheContainersRootManagesItsSubtree) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env("[cgroup]\ndriver = v2\n");
  env.create_busybox("v2u");
  make_unprivileged(env, "v2u");
  auto r = env.sysc({"start", "v2u"});
  ASSERT_EQ(r.status, 0) << r.err;
  const long base = host_base(env, "v2u");
  std::string dir = env.info("v2u").value("cgroup", "");
  EXPECT_EQ(owner_of(dir).uid, base) << dir;
  EXPECT_EQ(owner_of(dir + "/cgroup.subtree_control").uid, base) << dir;
  EXPECT_NE(owner_of(dir + "/cgroup.max.depth").uid, base) << "only the delegation files are handed over";
  r = in(env, "v2u", "mount | grep -c cgroup2; mkdir /sys/fs/cgroup/sub && echo $$ > /sys/fs/cgroup/sub/cgroup.procs && grep ^0:: /proc/self/cgroup");
  EXPECT_EQ(r.out, "1\n0::/sub\n") << r.err;
  ASSERT_EQ(env.sysc({"destroy", "--force", "v2u"}).status, 0);
  EXPECT_TRUE(env.leftovers("v2u").empty()) << ::testing::PrintToString(env.leftovers("v2u"));
}

// Privileged -> unprivileged -> privileged with the same rootfs, through an idmapped mount
// (ids on disk never change) or with idmapped mounts off (ids shifted on disk and back).
class UsernsSwitch : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { SYSC_REQUIRE_ROOT(); }
};

// v2 file capabilities (cap_net_raw, effective) and an ACL naming uid 1000, set from the host.
void set_caps_and_acl(const std::string& path) {
  vfs_cap_data caps{};
  caps.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
  caps.data[0].permitted = 1u << CAP_NET_RAW;
  ASSERT_EQ(setxattr(path.c_str(), "security.capability", &caps, XATTR_CAPS_SZ_2, 0), 0) << strerror(errno);
  uint32_t acl[1 + 2 * 5] = {2};
  uint16_t tags[] = {0x01, 0x02, 0x04, 0x10, 0x20};
  for (int i = 0; i < 5; ++i) {
    std::memcpy(reinterpret_cast<char*>(acl) + 4 + 8 * i, &tags[i], 2);
    uint16_t perm = tags[i] == 0x01 ? 7 : 5;  // the mode stays 4755: rwx for the owner, r-x else
    std::memcpy(reinterpret_cast<char*>(acl) + 6 + 8 * i, &perm, 2);
    uint32_t id = tags[i] == 0x02 ? 1000 : 0xffffffff;
    std::memcpy(reinterpret_cast<char*>(acl) + 8 + 8 * i, &id, 4);
  }
  ASSERT_EQ(setxattr(path.c_str(), "system.posix_acl_access", acl, sizeof acl, 0), 0) << strerror(errno);
}

// {capability root id (0 for v2), uid named in the ACL}
std::pair<long, long> caps_root_and_acl_user(const std::string& path) {
  vfs_ns_cap_data caps{};
  ssize_t n = getxattr(path.c_str(), "security.capability", &caps, sizeof caps);
  long root = n == XATTR_CAPS_SZ_3 ? static_cast<long>(caps.rootid) : n == XATTR_CAPS_SZ_2 ? 0 : -1;
  char acl[256];
  ssize_t m = getxattr(path.c_str(), "system.posix_acl_access", acl, sizeof acl);
  long user = -1;
  for (ssize_t off = 4; off + 8 <= m; off += 8) {
    uint16_t tag;
    uint32_t id;
    std::memcpy(&tag, acl + off, 2);
    std::memcpy(&id, acl + off + 4, 4);
    if (tag == 0x02) user = id;
  }
  return {root, user};
}

TEST_P(UsernsSwitch, FilesStayRootsAcrossPrivilegedAndUnprivilegedStarts) {
  const bool idmapped = GetParam();
  SyscEnv env(idmapped ? "" : "[security]\nidmapped_mounts = off\n");
  env.create_busybox("sw");
  ASSERT_EQ(env.sysc({"config", "set", "sw", "security.privileged", "true"}).status, 0);
  const std::string disk = env.rootfs("sw");
  ASSERT_EQ(env.sysc({"start", "sw"}).status, 0);
  ASSERT_EQ(in(env, "sw", "echo before > /root/f && cp /bin/busybox /bin/suid && chmod 4755 /bin/suid").status, 0);
  ASSERT_EQ(env.sysc({"stop", "sw"}).status, 0);
  set_caps_and_acl(disk + "/bin/suid");

  make_unprivileged(env, "sw");
  auto r = env.sysc({"start", "sw"});
  ASSERT_EQ(r.status, 0) << r.err;
  const long base = host_base(env, "sw");
  ASSERT_GE(base, 65536);
  EXPECT_EQ(env.info("sw")["idmap"].value("rootfs_shifted", idmapped), !idmapped);
  EXPECT_EQ(in(env, "sw", "cat /root/f; stat -c %u:%g:%a /root/f /bin/suid").out, "before\n0:0:644\n0:0:4755\n");
  EXPECT_EQ(in(env, "sw", "echo during > /root/g && cat /root/f").out, "before\n");
  const long disk_uid = idmapped ? 0 : base;
  EXPECT_EQ(owner_of(disk + "/root/f").uid, disk_uid);
  EXPECT_EQ(owner_of(disk + "/root/g").uid, disk_uid);
  EXPECT_EQ(owner_of(disk + "/bin/suid").mode, 04755u);
  // Shifted: the capability is for the range's root now (v3), the ACL names the shifted uid.
  EXPECT_EQ(caps_root_and_acl_user(disk + "/bin/suid"), std::make_pair(idmapped ? 0L : base, idmapped ? 1000L : base + 1000));
  ASSERT_EQ(env.sysc({"stop", "sw"}).status, 0);

  ASSERT_EQ(env.sysc({"config", "set", "sw", "security.privileged", "true"}).status, 0);
  r = env.sysc({"start", "sw"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(in(env, "sw", "cat /root/f /root/g; stat -c %u:%g /root/f /root/g; cat /proc/self/uid_map").out,
            "before\nduring\n0:0\n0:0\n         0          0 4294967295\n");
  EXPECT_EQ(owner_of(disk + "/root/g").uid, 0);
  EXPECT_EQ(owner_of(disk + "/bin/suid").mode, 04755u);
  EXPECT_EQ(caps_root_and_acl_user(disk + "/bin/suid"), std::make_pair(0L, 1000L));
  EXPECT_EQ(host_base(env, "sw"), base);  // the range stays with the container
  ASSERT_EQ(env.sysc({"destroy", "--force", "sw"}).status, 0);
  EXPECT_TRUE(env.leftovers("sw").empty());
}

INSTANTIATE_TEST_SUITE_P(Rootfs, UsernsSwitch, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Idmapped" : "Shifted"; });

// New containers are unprivileged; one made while privileged was the default (an older sysc left
// no key in its config and the schema before migration 5) is kept privileged by the next lxcd
// start, which writes the key into its config once.
TEST(UsernsDefault, NewContainersAreUnprivilegedOlderOnesStayPrivileged) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  env.create_busybox("ud1");
  env.create_busybox("ud2");
  const std::string conf2 = env.root() + "/etc/sysc/containers/ud2.conf";
  ASSERT_EQ(sysc::test::read_text(conf2).find("\nprivileged"), std::string::npos);
  // ud1 stands for a container made after the upgrade (its key is set: nothing to pin), ud2 for
  // one made before.
  ASSERT_EQ(env.sysc({"config", "set", "ud1", "security.privileged", "false"}).status, 0);
  env.kill_lxcd(SIGTERM);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((env.root() + "/var/lib/sysc/sysc.db").c_str(), &db), SQLITE_OK);
  // Back to schema 4, as an older sysc left it.
  EXPECT_EQ(sqlite3_exec(db, "DROP TABLE privileged_pins; PRAGMA user_version = 4;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  for (const char* n : {"ud1", "ud2"}) {
    auto r = env.sysc({"start", n});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  EXPECT_NE(sysc::test::read_text(conf2).find("\nprivileged = true"), std::string::npos) << sysc::test::read_text(conf2);
  EXPECT_EQ(in(env, "ud2", "cat /proc/self/uid_map").out, "         0          0 4294967295\n");
  EXPECT_GE(host_base(env, "ud1"), 65536);
  // Once: a later lxcd start leaves the config as the admin set it.
  ASSERT_EQ(env.sysc({"stop", "ud2"}).status, 0);
  ASSERT_EQ(env.sysc({"config", "unset", "ud2", "security.privileged"}).status, 0);
  env.kill_lxcd(SIGTERM);
  ASSERT_EQ(env.sysc({"start", "ud2"}).status, 0);
  EXPECT_GE(host_base(env, "ud2"), 65536);
  for (const char* n : {"ud1", "ud2"}) ASSERT_EQ(env.sysc({"destroy", "--force", n}).status, 0);
}

// Overlay storage unprivileged: the shared image and the container's own layers are idmapped
// per container (nothing is shifted on disk, the image serves privileged and unprivileged
// containers alike), and the upper layer keeps its meaning across a switch to privileged.
TEST(UsernsOverlay, TheSharedImageServesUnprivilegedAndPrivilegedContainers) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  for (const char* n : {"uo1", "uo2"}) {
    auto r = env.sysc({"create", "busybox", n, "--storage", "overlay", "-q"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  make_unprivileged(env, "uo1");
  auto r = env.sysc({"start", "uo1"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(env.sysc({"start", "uo2"}).status, 0);  // privileged, on the same image
  const long base = host_base(env, "uo1");
  ASSERT_GE(base, 65536);
  const std::string upper = env.container_dir("uo1") + "/overlay/upper";
  // The image's files are root's inside; writes, a chown, a delete (whiteout) and a directory
  // removed and made again (opaque) all work.
  EXPECT_EQ(in(env, "uo1",
               "stat -c %u:%g /bin/busybox /etc/passwd; echo mine > /root/f && mkdir -p /srv/d && chown 1000:1000 /srv/d && "
               "rm /etc/inittab && rm -rf /etc/init.d && mkdir /etc/init.d && echo new > /etc/init.d/only && "
               "ls /etc/init.d; awk '$1 == 0 {print $2}' /proc/self/uid_map").out,
            "0:0\n0:0\nonly\n" + std::to_string(base) + "\n");
  // On disk the upper layer keeps the ids of inside (as privileged would write them).
  EXPECT_EQ(owner_of(upper + "/root/f").uid, 0);
  EXPECT_EQ(owner_of(upper + "/srv/d").uid, 1000);
  EXPECT_EQ(owner_of(upper + "/srv/d").gid, 1000);
  // The shared image is untouched and the privileged neighbour sees none of it.
  EXPECT_EQ(in(env, "uo2", "stat -c %u /bin/busybox; ls /etc/inittab /root/f 2>&1 | grep -c inittab$; ls /etc/init.d | grep -c only").out,
            "0\n1\n0\n");
  // The overlay is in the container's mount namespace only.
  EXPECT_EQ(sysc::test::read_text("/proc/self/mountinfo").find(env.container_dir("uo1")), std::string::npos);

  ASSERT_EQ(env.sysc({"stop", "uo1"}).status, 0);
  ASSERT_EQ(env.sysc({"config", "set", "uo1", "security.privileged", "true"}).status, 0);
  r = env.sysc({"start", "uo1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(in(env, "uo1", "cat /root/f; stat -c %u:%g /srv/d; ls /etc/inittab 2>/dev/null | wc -l; ls /etc/init.d").out,
            "mine\n1000:1000\n0\nonly\n");
  for (const char* n : {"uo1", "uo2"}) {
    ASSERT_EQ(env.sysc({"destroy", "--force", n}).status, 0);
    EXPECT_TRUE(env.leftovers(n).empty()) << ::testing::PrintToString(env.leftovers(n));
  }
}

// Without idmapped mounts an overlay cannot run unprivileged (its image is shared: no shift):
// start says so, names the container, and leaves it stopped and clean.
TEST(UsernsOverlay, WithoutIdmappedMountsStartRefusesClearly) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env("[security]\nidmapped_mounts = off\n");
  ASSERT_EQ(env.sysc({"create", "busybox", "uo3", "--storage", "overlay", "-q"}).status, 0);
  make_unprivileged(env, "uo3");
  auto r = env.sysc({"start", "uo3"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("uo3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("overlay storage need idmapped mounts"), std::string::npos) << r.err;
  EXPECT_EQ(env.state("uo3"), "STOPPED");
  EXPECT_TRUE(env.leftovers("uo3").empty()) << ::testing::PrintToString(env.leftovers("uo3"));
}

}  // namespace
}  // namespace sysc::test
