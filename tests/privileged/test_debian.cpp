// The debian template end to end through the CLI: debootstrap once into the env's cache, a
// fast second create from it, systemd as PID 1 reaching `running` with no failed units,
// per-container identity, DHCP/DNS between two containers, console, reboot and a clean halt,
// and the same boot unprivileged (in a user namespace).
// One SyscEnv for the whole suite: the debootstrap (~35 s to 2 min) runs once per process.
#include <gtest/gtest.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "support/harness.h"

namespace sysc::test {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const char* const kMirrorHost = "deb.debian.org";
// Template arguments: after sysc's own "--", the template's "--" starts its specific ones.
const std::vector<std::string> kTemplateArgs = {"--", "--", "--packages", "openssh-server"};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// debootstrap needs the mirror: a TCP connect to port 80 within 5 s says whether it is there.
bool mirror_reachable(std::string* why) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(kMirrorHost, "80", &hints, &res); rc != 0) {
    *why = std::string(kMirrorHost) + ": " + gai_strerror(rc);
    return false;
  }
  bool ok = false;
  for (addrinfo* a = res; a && !ok; a = a->ai_next) {
    int s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (s < 0) continue;
    if (connect(s, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
      pollfd p{s, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = poll(&p, 1, 5000) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    close(s);
  }
  freeaddrinfo(res);
  if (!ok) *why = std::string(kMirrorHost) + ":80 not reachable within 5 s";
  return ok;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class Debian : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    if (!mirror_reachable(&skip_reason_)) return;
    env_ = new SyscEnv();
    auto t0 = Clock::now();
    RunResult r = create("d1");
    create_first_s_ = seconds_since(t0);
    if (r.status != 0) {
      setup_error_ = "create d1: " + r.err;
      return;
    }
    t0 = Clock::now();
    r = create("d2");
    create_second_s_ = seconds_since(t0);
    if (r.status != 0) {
      setup_error_ = "create d2: " + r.err;
      return;
    }
    for (const char* name : {"d1", "d2"}) {
      t0 = Clock::now();
      r = env_->sysc({"start", name});
      if (r.status != 0) {
        setup_error_ = std::string("start ") + name + ": " + r.err;
        return;
      }
      std::string state = wait_running(name);
      boot_s_[name] = seconds_since(t0);
      if (state != "running") setup_error_ += std::string(name) + " is '" + state + "' after boot; ";
    }
    std::printf("[ debian   ] create d1 %.1f s (debootstrap + copy), create d2 %.1f s (cache), "
                "boot to running: d1 %.2f s, d2 %.2f s\n",
                create_first_s_, create_second_s_, boot_s_["d1"], boot_s_["d2"]);
  }

  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }

  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    if (!skip_reason_.empty()) {
      if (getenv("CI")) FAIL() << "Debian mirror needed in CI: " << skip_reason_;
      GTEST_SKIP() << "no Debian mirror for debootstrap: " << skip_reason_;
    }
    ASSERT_NE(env_, nullptr);
    ASSERT_TRUE(setup_error_.empty()) << setup_error_ << "\nconsole d1:\n" << console_tail("d1");
  }

  static RunResult create(const std::string& name) {
    std::vector<std::string> args = {"create", "debian", name};
    args.insert(args.end(), kTemplateArgs.begin(), kTemplateArgs.end());
    return env_->sysc(args, "", 600);
  }

  static RunResult in(const std::string& name, const std::string& script, int timeout_s = 60) {
    return env_->sysc({"attach", name, "--", "/bin/sh", "-c", script}, "", timeout_s);
  }

  static std::string wait_running(const std::string& name) { return env_->systemd_state(name); }

  static std::string console_tail(const std::string& name) {
    if (!env_) return "";
    std::string log = env_->sysc({"console", "--log", name}).out;
    return log.size() > 3000 ? log.substr(log.size() - 3000) : log;
  }

  static std::string cache_entry_rootfs() {
    fs::path base = fs::path(env_->root()) / "var/cache/sysc/debian";
    std::error_code ec;
    for (auto& e : fs::recursive_directory_iterator(base, ec))
      if (e.is_directory() && e.path().filename() == "rootfs" && e.path().string().find("/.build-") == std::string::npos)
        return e.path().string();
    return "";
  }

  static SyscEnv* env_;
  static std::string skip_reason_, setup_error_;
  static double create_first_s_, create_second_s_;
  static std::map<std::string, double> boot_s_;
};

SyscEnv* Debian::env_ = nullptr;
std::string Debian::skip_reason_, Debian::setup_error_;
double Debian::create_first_s_ = 0, Debian::create_second_s_ = 0;
std::map<std::string, double> Debian::boot_s_;

TEST_F(Debian, SecondCreateIsFastFromTheCache) {
  EXPECT_LT(create_second_s_, 20.0);
  std::string cached = cache_entry_rootfs();
  ASSERT_FALSE(cached.empty()) << "no cache entry under " << env_->root() << "/var/cache/sysc/debian";
  // Nothing per-machine is baked into the cache: every copy gets its own at first boot.
  std::error_code ec;
  EXPECT_EQ(fs::file_size(cached + "/etc/machine-id", ec), 0u);
  for (auto& e : fs::directory_iterator(cached + "/etc/ssh", ec))
    EXPECT_EQ(e.path().filename().string().rfind("ssh_host_", 0), std::string::npos) << e.path();
  EXPECT_TRUE(fs::exists(cached + "/usr/sbin/sshd"));
  EXPECT_TRUE(fs::is_empty(cached + "/dev"));
  // No leftover of the build next to the entry.
  for (auto& e : fs::directory_iterator(fs::path(cached).parent_path().parent_path(), ec))
    EXPECT_EQ(e.path().filename().string().rfind(".build-", 0), std::string::npos) << e.path();
}

TEST_F(Debian, SystemdIsPid1AndRunningWithNoFailedUnits) {
  for (const char* name : {"d1", "d2"}) {
    EXPECT_EQ(in(name, "cat /proc/1/comm").out, "systemd\n") << name;
    EXPECT_EQ(wait_running(name), "running") << name << ":\n" << in(name, "systemctl --failed; journalctl -b -p warning --no-pager").out;
    RunResult failed = in(name, "systemctl --failed --no-legend");
    EXPECT_EQ(failed.status, 0) << failed.err;
    EXPECT_EQ(failed.out, "") << name;
    EXPECT_EQ(trim(in(name, "systemctl get-default").out), "multi-user.target");
    EXPECT_EQ(in(name, "journalctl -b -q -p err --no-pager").out, "") << name;
  }
  // Masked in the image: nothing in a container may run apt or udev.
  EXPECT_EQ(trim(in("d1", "systemctl is-enabled apt-daily.timer apt-daily-upgrade.timer").out), "masked\nmasked");
  EXPECT_EQ(trim(in("d1", "systemctl is-active console-getty.service").out), "active");
}

TEST_F(Debian, IdentityIsPerContainer) {
  EXPECT_EQ(in("d1", "hostname").out, "d1\n");
  EXPECT_EQ(in("d2", "cat /etc/hostname").out, "d2\n");
  EXPECT_NE(in("d1", "grep -w d1 /etc/hosts").out, "");
  std::string id1 = trim(in("d1", "cat /etc/machine-id").out), id2 = trim(in("d2", "cat /etc/machine-id").out);
  EXPECT_EQ(id1.size(), 32u) << id1;
  EXPECT_EQ(id2.size(), 32u) << id2;
  EXPECT_NE(id1, id2);
  // SSH host keys: none in the image, generated at first boot, different per container.
  RunResult keys = in("d1", "ls /etc/ssh/ssh_host_ed25519_key.pub && systemctl is-active ssh.service");
  EXPECT_EQ(keys.out, "/etc/ssh/ssh_host_ed25519_key.pub\nactive\n") << keys.err;
  EXPECT_NE(in("d1", "cat /etc/ssh/ssh_host_ed25519_key.pub").out, in("d2", "cat /etc/ssh/ssh_host_ed25519_key.pub").out);
}

TEST_F(Debian, NetworkHasTheAddressAndResolvesTheOtherByName) {
  std::string a1 = env_->info("d1").value("ipv4", ""), a2 = env_->info("d2").value("ipv4", "");
  ASSERT_FALSE(a1.empty());
  ASSERT_FALSE(a2.empty());
  EXPECT_NE(in("d1", "ip -4 -o addr show dev eth0").out.find(a1 + "/"), std::string::npos);
  EXPECT_EQ(trim(in("d1", "systemctl is-active networking.service").out), "active");
  // The DHCP lease wrote the bridge's dnsmasq into resolv.conf; it knows d2 by name.
  RunResult dns = in("d1", "getent hosts d2");
  EXPECT_EQ(dns.status, 0) << dns.err << in("d1", "cat /etc/resolv.conf").out;
  EXPECT_EQ(dns.out.rfind(a2 + " ", 0), 0u) << dns.out;
  RunResult ping = in("d1", "ping -c1 -W5 d2.sysc");
  EXPECT_EQ(ping.status, 0) << ping.out << ping.err;
}

// kill -9 of lxcd under a running systemd container: nothing inside notices, and the next lxcd
// re-adopts it with the same init and address.
TEST_F(Debian, KilledLxcdLeavesSystemdRunningAndIsReadopted) {
  auto before = env_->info("d1");
  ASSERT_EQ(before.value("state", ""), "RUNNING");
  env_->kill_lxcd(SIGKILL);
  EXPECT_TRUE(alive(before.value("init_pid", 0))) << "the container died with lxcd";
  auto after = env_->info("d1");  // starts a new lxcd
  EXPECT_EQ(after.value("state", ""), "RUNNING") << after.dump();
  EXPECT_EQ(after.value("init_pid", 0), before.value("init_pid", 0));
  EXPECT_EQ(after.value("ipv4", ""), before.value("ipv4", ""));
  EXPECT_EQ(trim(in("d1", "systemctl is-system-running").out), "running");
  EXPECT_NE(in("d1", "ip -4 -o addr show dev eth0").out.find(before.value("ipv4", "") + "/"), std::string::npos);
}

TEST_F(Debian, ConsoleShowsALoginPrompt) {
  bool found = false;
  for (int i = 0; i < 50 && !found; ++i) {
    found = env_->sysc({"console", "--log", "d1"}).out.find("d1 login:") != std::string::npos;
    if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(found) << console_tail("d1");
}

TEST_F(Debian, RebootFromInsideBringsSystemdBack) {
  int before = env_->info("d2").value("init_pid", 0);
  ASSERT_GT(before, 0);
  auto t0 = Clock::now();
  env_->sysc({"attach", "d2", "--", "systemctl", "reboot"});
  bool back = false;
  for (int i = 0; i < 300 && !back; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int now = env_->info("d2").value("init_pid", 0);
    back = now > 0 && now != before && env_->state("d2") == "RUNNING";
  }
  ASSERT_TRUE(back) << env_->info("d2").dump() << console_tail("d2");
  EXPECT_EQ(wait_running("d2"), "running") << in("d2", "systemctl --failed").out;
  std::printf("[ debian   ] reboot of d2 to running: %.2f s\n", seconds_since(t0));
  EXPECT_EQ(in("d2", "cat /proc/1/comm").out, "systemd\n");
  EXPECT_EQ(in("d2", "systemctl --failed --no-legend").out, "");
}

// security.privileged = false: systemd boots in a user namespace (idmapped rootfs here) with
// the same result, and halts the same way.
TEST_F(Debian, UnprivilegedSystemdIsRunningWithNoFailedUnits) {
  RunResult r = create("d3");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(env_->sysc({"config", "set", "d3", "security.privileged", "false"}).status, 0);
  r = env_->sysc({"start", "d3"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(wait_running("d3"), "running") << in("d3", "systemctl --failed; journalctl -b -p warning --no-pager").out;
  EXPECT_EQ(in("d3", "systemctl --failed --no-legend").out, "");
  EXPECT_EQ(in("d3", "journalctl -b -q -p err --no-pager").out, "");
  const long base = env_->info("d3")["idmap"].value("host_base", 0L);
  ASSERT_GT(base, 0);
  EXPECT_NE(in("d3", "cat /proc/1/uid_map").out.find(" " + std::to_string(base) + " "), std::string::npos);
  EXPECT_EQ(trim(in("d3", "systemctl is-active ssh.service console-getty.service systemd-journald.service").out),
            "active\nactive\nactive");
  r = env_->sysc({"stop", "d3", "--timeout", "30"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->info("d3").value("last_exit", ""), "halted") << console_tail("d3");
  ASSERT_EQ(env_->sysc({"destroy", "d3"}).status, 0);
  EXPECT_TRUE(env_->leftovers("d3").empty()) << ::testing::PrintToString(env_->leftovers("d3"));
}

// The sysvinit variant (its own image: sysvinit-core, inittab halting on SIGPWR) boots to its
// runlevel with getty on the console and halts on `sysc stop` well before the timeout.
TEST_F(Debian, SysvinitVariantBootsAndStops) {
  RunResult r = env_->sysc({"create", "debian", "dsv", "--", "--", "--init", "sysvinit"}, "", 600);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(env_->sysc({"start", "dsv"}).status, 0);
  EXPECT_EQ(env_->info("dsv").value("halt_signal", ""), "SIGPWR");
  EXPECT_EQ(in("dsv", "cat /proc/1/comm").out, "init\n");
  // Runlevel 2 (debian's default). sysvinit records it before it runs rc 2; the console's getty
  // comes after rc 2 in its inittab, so its login prompt says rc 2 is done.
  std::string level;
  for (int i = 0; i < 300 && level != "N 2"; ++i) {
    level = trim(in("dsv", "/sbin/runlevel 2>/dev/null || true").out);
    if (level != "N 2") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(level, "N 2") << console_tail("dsv");
  std::string console;
  for (int i = 0; i < 6 && console.find("dsv login:") == std::string::npos; ++i)
    console = env_->console_until("dsv", "dsv login:");  // up to 10 s each
  EXPECT_NE(console.find("dsv login:"), std::string::npos) << console_tail("dsv");
  EXPECT_EQ(in("dsv", "hostname").out, "dsv\n");
  auto t0 = Clock::now();
  r = env_->sysc({"stop", "dsv", "--timeout", "30"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_LT(seconds_since(t0), 20.0);
  EXPECT_EQ(env_->info("dsv").value("last_exit", ""), "halted") << console_tail("dsv");
  ASSERT_EQ(env_->sysc({"destroy", "dsv"}).status, 0);
  EXPECT_TRUE(env_->leftovers("dsv").empty()) << ::testing::PrintToString(env_->leftovers("dsv"));
}

TEST_F(Debian, StopHaltsSystemdCleanlyAndFast) {
  int pid = env_->info("d1").value("init_pid", 0);
  ASSERT_GT(pid, 0);
  auto t0 = Clock::now();
  RunResult r = env_->sysc({"stop", "d1", "--timeout", "30"});
  double took = seconds_since(t0);
  ASSERT_EQ(r.status, 0) << r.err;
  std::printf("[ debian   ] stop of d1: %.2f s\n", took);
  EXPECT_LT(took, 10.0);
  auto info = env_->info("d1");
  EXPECT_EQ(info.value("state", ""), "STOPPED");
  EXPECT_EQ(info.value("last_exit", ""), "halted") << console_tail("d1");
  EXPECT_FALSE(alive(pid));
  EXPECT_TRUE(env_->leftovers("d1").empty()) << ::testing::PrintToString(env_->leftovers("d1"));
}

}  // namespace
}  // namespace sysc::test
