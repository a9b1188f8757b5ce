// Restart policy: on-failure restarts a container whose init was killed, not one that halted
// cleanly; always restarts even a clean exit, with backoff; `sysc stop` never leads to a restart
// and cancels a pending one.
#include <gtest/gtest.h>
#include <csignal>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/harness.h"

namespace sysc::test {
namespace {

using namespace std::chrono_literals;

void setup(SyscEnv& env, const std::string& name, const std::string& policy) {
  env.create_busybox(name);
  ASSERT_EQ(env.sysc({"config", "set", name, "net.0.type", "none"}).status, 0);
  auto r = env.sysc({"config", "set", name, "restart", policy});
  ASSERT_EQ(r.status, 0) << r.err;
}

// Polls info until PRED holds (up to timeout_s); returns the last info.
nlohmann::json wait_info(SyscEnv& env, const std::string& name, const std::function<bool(const nlohmann::json&)>& pred,
                         int timeout_s) {
  nlohmann::json j;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    j = env.info(name);
    if (pred(j)) return j;
    std::this_thread::sleep_for(200ms);
  }
  return j;
}

TEST(RestartPolicy, OnFailureRestartsAKilledInitButNotAHalt) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  setup(env, "rpol1", "on-failure");
  auto r = env.sysc({"start", "rpol1"});
  ASSERT_EQ(r.status, 0) << r.err;
  int init = env.info("rpol1").value("init_pid", 0);
  ASSERT_GT(init, 0);
  ASSERT_EQ(kill(init, SIGKILL), 0);
  auto t0 = std::chrono::steady_clock::now();
  auto j = wait_info(env, "rpol1", [&](const nlohmann::json& i) {
    return i.value("state", "") == "RUNNING" && i.value("init_pid", 0) > 0 && i.value("init_pid", 0) != init;
  }, 15);
  ASSERT_EQ(j.value("state", ""), "RUNNING") << j.dump();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);  // first retry after about 1 s
  EXPECT_EQ(j.value("restart", ""), "on-failure");
  EXPECT_EQ(j.value("restart_count", 0), 1) << j.dump();
  EXPECT_EQ(j.value("last_exit", ""), "killed by SIGKILL");
  auto text = env.sysc({"info", "rpol1"});
  EXPECT_NE(text.out.find("on-failure (1 restart)"), std::string::npos) << text.out;

  // A clean poweroff from inside is not a failure.
  env.sysc({"attach", "rpol1", "--", "poweroff"});
  ASSERT_TRUE(env.wait_state("rpol1", "STOPPED", 20));
  std::this_thread::sleep_for(3s);
  j = env.info("rpol1");
  EXPECT_EQ(j.value("state", ""), "STOPPED") << j.dump();
  EXPECT_EQ(j.value("last_exit", ""), "halted");
  EXPECT_EQ(j.value("restart_count", 0), 1);
  EXPECT_EQ(j.value("restart_next", 1.0), 0.0);
}

TEST(RestartPolicy, AlwaysRestartsACleanExitWithBackoffAndStopCancels) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  setup(env, "rpol2", "always");
  // An init that exits 0 at once: "always" restarts it, backing off 1 s, 2 s, 4 s ...
  ASSERT_EQ(env.sysc({"config", "set", "rpol2", "init", "/bin/sh -c true"}).status, 0);
  auto r = env.sysc({"start", "rpol2"});
  auto j = wait_info(env, "rpol2", [](const nlohmann::json& i) { return i.value("restart_count", 0) >= 2; }, 15);
  ASSERT_GE(j.value("restart_count", 0), 2) << j.dump();
  EXPECT_EQ(j.value("last_exit", ""), "exited");
  // The third attempt is at least 4 s after the second: the backoff grows.
  j = wait_info(env, "rpol2", [](const nlohmann::json& i) { return i.value("restart_next", 0.0) > 0; }, 10);
  double next = j.value("restart_next", 0.0);
  EXPECT_GT(next - static_cast<double>(time(nullptr)), 2.0) << j.dump();
  // sysc stop cancels the pending restart; nothing happens after.
  r = env.sysc({"stop", "rpol2"});
  EXPECT_EQ(r.status, 0) << r.err;
  int count = env.info("rpol2").value("restart_count", 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>((next - static_cast<double>(time(nullptr)) + 2) * 1000)));
  j = env.info("rpol2");
  EXPECT_EQ(j.value("state", ""), "STOPPED") << j.dump();
  EXPECT_EQ(j.value("restart_count", 0), count);
  EXPECT_EQ(j.value("restart_next", 1.0), 0.0);

  // A running "always" container stopped with sysc stop stays stopped.
  ASSERT_EQ(env.sysc({"config", "unset", "rpol2", "init"}).status, 0);
  ASSERT_EQ(env.sysc({"start", "rpol2"}).status, 0);
  ASSERT_EQ(env.sysc({"stop", "rpol2"}).status, 0);
  std::this_thread::sleep_for(2500ms);
  j = env.info("rpol2");
  EXPECT_EQ(j.value("state", ""), "STOPPED") << j.dump();
  EXPECT_EQ(j.value("restart_count", 0), count);
  EXPECT_TRUE(env.leftovers("rpol2").empty());
}

}  // namespace
}  // namespace sysc::test
