// Lifecycle of a busybox container through the CLI: start, clean stop, restart, reboot and halt
// from inside, kill -9 of the init, console, list/info, destroy leaving nothing behind.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    env_ = std::make_unique<SyscEnv>();
  }
  void start(const std::string& name) {
    env_->create_busybox(name);
    auto r = env_->sysc({"start", name});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  int init_pid(const std::string& name) { return env_->info(name).value("init_pid", 0); }
  std::unique_ptr<SyscEnv> env_;
};

TEST_F(Lifecycle, StopHaltsBusyboxCleanlyWithoutSigkill) {
  start("life1");
  EXPECT_EQ(env_->state("life1"), "RUNNING");
  int pid = init_pid("life1");
  ASSERT_GT(pid, 0);
  auto r = env_->sysc({"stop", "life1", "--timeout", "20"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto info = env_->info("life1");
  EXPECT_EQ(info.value("state", ""), "STOPPED");
  EXPECT_EQ(info.value("last_exit", ""), "halted");  // SIGUSR1 → busybox halts → reboot(2) ends it with SIGINT
  EXPECT_EQ(info.value("init_pid", -1), 0);
  EXPECT_FALSE(alive(pid));
  EXPECT_TRUE(env_->leftovers("life1").empty()) << ::testing::PrintToString(env_->leftovers("life1"));
}

TEST_F(Lifecycle, ForceStopKillsAtOnceAndTimeoutEscalates) {
  start("life2");
  auto r = env_->sysc({"stop", "life2", "--force"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->info("life2").value("last_exit", ""), "killed (forced stop)");
  // An init that ignores its halt signal is killed when the timeout runs out.
  ASSERT_EQ(env_->sysc({"config", "set", "life2", "halt_signal", "SIGCONT"}).status, 0);
  ASSERT_EQ(env_->sysc({"start", "life2"}).status, 0);
  auto t0 = std::chrono::steady_clock::now();
  r = env_->sysc({"stop", "life2", "--timeout", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->info("life2").value("last_exit", ""), "killed after the stop timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_TRUE(env_->leftovers("life2").empty());
}

int sched_policy(int pid) { return static_cast<int>(stat_field(pid, 41)); }
int nice_of(int pid) { return static_cast<int>(stat_field(pid, 19)); }

// The supervisor runs its start's hand-offs at SCHED_FIFO; the init, and the supervisor once the
// start has answered, run at SCHED_OTHER, after a reboot too.
void expect_normal_policy(SyscEnv& env, const std::string& name) {
  const auto info = env.info(name);
  for (const char* key : {"init_pid", "shim_pid"}) {
    const int pid = info.value(key, 0);
    ASSERT_GT(pid, 0) << key;
    EXPECT_EQ(sched_policy(pid), SCHED_OTHER) << key << " " << pid;
  }
}

TEST_F(Lifecycle, RebootFromInsideStartsItAgain) {
  start("life3");
  expect_normal_policy(*env_, "life3");
  // The supervisor drops the child's plan once its init runs and makes it again for a reboot:
  // the rebooted init must get the same mounts, hostname, id maps, environment, seccomp filter
  // and capabilities.
  auto setup = [this] {
    return env_->sysc({"attach", "life3", "--", "sh", "-c",
                       "cut -d' ' -f2,3 /proc/mounts; hostname; cat /proc/1/uid_map /proc/1/gid_map /proc/1/environ; "
                       "grep -E '^(Seccomp|Seccomp_filters|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/1/status"});
  };
  auto first = setup();
  ASSERT_EQ(first.status, 0) << first.err;
  ASSERT_NE(first.out.find("/proc proc"), std::string::npos) << first.out;
  ASSERT_NE(first.out.find("Seccomp:\t2"), std::string::npos) << first.out;
  int before = init_pid("life3");
  auto r = env_->sysc({"attach", "life3", "--", "reboot"});
  bool rebooted = false;
  for (int i = 0; i < 100 && !rebooted; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int now = init_pid("life3");
    rebooted = now > 0 && now != before && env_->state("life3") == "RUNNING";
  }
  ASSERT_TRUE(rebooted) << env_->info("life3").dump();
  auto log = env_->sysc({"console", "--log", "life3"});
  EXPECT_NE(log.out.find("rebooting"), std::string::npos) << log.out;
  auto ps = env_->sysc({"attach", "life3", "--", "cat", "/proc/1/comm"});
  EXPECT_EQ(ps.out, "init\n");
  auto again = setup();
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, first.out);
  expect_normal_policy(*env_, "life3");
}

// The container runs at the supervisor's nice value (lxcd's, as its spare got it), although the
// supervisor raises itself to SCHED_FIFO for the start.
TEST_F(Lifecycle, TheInitTakesItsSupervisorsNiceValue) {
  ASSERT_EQ(env_->sysc({"list"}).status, 0);  // lxcd running
  const int spare = wait_spare(env_->lxcd_pid());
  ASSERT_GT(spare, 0) << "no spare supervisor of lxcd " << env_->lxcd_pid() << ": "
                      << ::testing::PrintToString(spares_of(env_->lxcd_pid()));
  ASSERT_EQ(setpriority(PRIO_PROCESS, static_cast<id_t>(spare), 5), 0);
  start("life10");
  const auto info = env_->info("life10");
  ASSERT_EQ(info.value("shim_pid", 0), spare);
  for (const char* key : {"init_pid", "shim_pid"}) {
    const int pid = info.value(key, 0);
    EXPECT_EQ(nice_of(pid), 5) << key;
    EXPECT_EQ(sched_policy(pid), SCHED_OTHER) << key;
  }
}

TEST_F(Lifecycle, HaltFromInsideStopsIt) {
  start("life4");
  env_->sysc({"attach", "life4", "--", "poweroff"});
  ASSERT_TRUE(env_->wait_state("life4", "STOPPED", 20)) << env_->info("life4").dump();
  EXPECT_EQ(env_->info("life4").value("last_exit", ""), "halted");
  EXPECT_TRUE(env_->leftovers("life4").empty());
}

TEST_F(Lifecycle, KillOfInitIsRecorded) {
  start("life5");
  int pid = init_pid("life5");
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(env_->wait_state("life5", "STOPPED", 10));
  EXPECT_EQ(env_->info("life5").value("last_exit", ""), "killed by SIGKILL");
  EXPECT_TRUE(env_->leftovers("life5").empty()) << ::testing::PrintToString(env_->leftovers("life5"));
  // And it starts again.
  EXPECT_EQ(env_->sysc({"start", "life5"}).status, 0);
}

TEST_F(Lifecycle, RestartGivesANewInit) {
  start("life6");
  int before = init_pid("life6");
  auto r = env_->sysc({"restart", "life6"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->state("life6"), "RUNNING");
  EXPECT_NE(init_pid("life6"), before);
}

TEST_F(Lifecycle, ListAndInfoReportStateAndUsage) {
  start("life7");
  env_->create_busybox("life8");
  auto list = env_->sysc({"list", "--format", "json"});
  auto j = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << list.out;
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "life7");
  EXPECT_EQ(j[0]["state"], "RUNNING");
  EXPECT_EQ(j[1]["state"], "STOPPED");
  auto table = env_->sysc({"list"});
  EXPECT_NE(table.out.find("NAME"), std::string::npos);
  EXPECT_NE(table.out.find("life8"), std::string::npos);
  auto info = env_->info("life7");
  EXPECT_GT(info.value("shim_pid", 0), 0);
  EXPECT_GT(info.value("started_at", 0), 0);
  EXPECT_FALSE(info.value("cgroup", "").empty());
  EXPECT_TRUE(info.contains("cpu_ns")) << info.dump();
  EXPECT_EQ(info.value("halt_signal", ""), "SIGUSR1");
  auto text = env_->sysc({"info", "life7"});
  EXPECT_NE(text.out.find("Init PID"), std::string::npos) << text.out;
}

TEST_F(Lifecycle, DestroyRefusesRunningAndLeavesNothing) {
  start("life9");
  auto r = env_->sysc({"destroy", "life9"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("life9"), std::string::npos) << r.err;
  EXPECT_EQ(env_->state("life9"), "RUNNING");
  std::string shim = std::to_string(env_->info("life9").value("shim_pid", 0));
  r = env_->sysc({"destroy", "--force", "life9"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(env_->leftovers("life9").empty()) << ::testing::PrintToString(env_->leftovers("life9"));
  EXPECT_FALSE(std::filesystem::exists(env_->root() + "/var/lib/sysc/containers/life9"));
  EXPECT_FALSE(std::filesystem::exists(env_->root() + "/etc/sysc/containers/life9.conf"));
  EXPECT_NE(env_->sysc({"info", "life9"}).status, 0);
  std::string stat;
  if (FILE* f = fopen(("/proc/" + shim + "/stat").c_str(), "r")) {
    char buf[512] = {};
    fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    stat = buf;
  }
  EXPECT_TRUE(stat.empty() || stat.find(") Z ") != std::string::npos) << "shim still alive: " << stat;
}


TEST_F(Lifecycle, ConsoleReachesTheInitsShellAndCtrlAQDetaches) {
  start("life10");
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(SYSC_BIN, SYSC_BIN, "--root", env_->root().c_str(), "console", "life10", nullptr);
    _exit(127);
  }
  std::string seen;
  ASSERT_TRUE(read_until(master, seen, "Ctrl-a q", 5000)) << seen;
  ASSERT_EQ(write(master, "\r", 1), 1);  // askfirst: "Please press Enter to activate this console."
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const char cmd[] = "echo CONSOLE-$((6*7))\r";
  ASSERT_EQ(write(master, cmd, sizeof cmd - 1), static_cast<ssize_t>(sizeof cmd - 1));
  EXPECT_TRUE(read_until(master, seen, "CONSOLE-42", 5000)) << seen;
  ASSERT_EQ(write(master, "\001q", 2), 2);
  int st = 0;
  bool reaped = false;
  for (int i = 0; i < 50 && !reaped; ++i) {
    reaped = waitpid(pid, &st, WNOHANG) == pid;
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!reaped) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    close(master);
    FAIL() << "console did not detach on Ctrl-a q";
  }
  close(master);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_EQ(env_->state("life10"), "RUNNING");  // detaching leaves the container alone
  auto log = env_->sysc({"console", "--log", "life10"});
  EXPECT_NE(log.out.find("CONSOLE-42"), std::string::npos) << log.out;
}

}  // namespace
}  // namespace sysc::test
