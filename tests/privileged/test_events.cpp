// `sysc events`: the stream shows a container's life as it happens (created, started, oom,
// reboot, stopped with its reason, destroyed), and a stream for one container shows only it.
#include <gtest/gtest.h>

#include "support/event_stream.h"
#include "support/harness.h"

namespace sysc::test {
namespace {

TEST(Events, StreamShowsLifecycleOomAndReboot) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  ASSERT_EQ(env.sysc({"list"}).status, 0);  // lxcd is up
  EventStream all(env);
  EventStream only(env, "evt1");
  env.create_busybox("evt1");
  ASSERT_FALSE(all.wait_for("evt1", "created", 15).is_null());
  env.create_busybox("evt2");
  ASSERT_EQ(env.sysc({"config", "set", "evt1", "net.0.type", "none"}).status, 0);
  ASSERT_EQ(env.sysc({"config", "set", "evt1", "limits.memory", "64M"}).status, 0);
  auto r = env.sysc({"start", "evt1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto started = all.wait_for("evt1", "started", 10);
  ASSERT_FALSE(started.is_null());
  EXPECT_GT(started.value("time", 0.0), 1.0e9);
  EXPECT_EQ(started.value("detail", ""), "init pid " + std::to_string(env.info("evt1").value("init_pid", 0)));

  // A 120 MB shell variable in a 64 MB container: the OOM killer takes the shell, init stays.
  env.sysc({"attach", "evt1", "--", "sh", "-c", "x=$(head -c 120000000 /dev/zero | tr '\\0' a); echo survived"});
  auto oom = all.wait_for("evt1", "oom", 15);
  ASSERT_FALSE(oom.is_null()) << env.info("evt1").dump();
  EXPECT_NE(oom.value("detail", "").find("OOM"), std::string::npos);
  EXPECT_EQ(env.state("evt1"), "RUNNING");

  // Reboot from inside: "reboot", then a new "started".
  env.sysc({"attach", "evt1", "--", "reboot"});
  ASSERT_FALSE(all.wait_for("evt1", "reboot", 20).is_null());
  for (int i = 0; i < 200 && all.order_of("started").size() < 2; ++i) usleep(100000);
  EXPECT_EQ(all.order_of("started").size(), 2u);

  r = env.sysc({"stop", "evt1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto stopped = all.wait_for("evt1", "stopped", 10);
  ASSERT_FALSE(stopped.is_null());
  EXPECT_EQ(stopped.value("detail", ""), "halted");
  ASSERT_EQ(env.sysc({"destroy", "evt1"}).status, 0);
  ASSERT_FALSE(all.wait_for("evt1", "destroyed", 10).is_null());

  // The filtered stream saw evt1's events and nothing of evt2.
  ASSERT_FALSE(only.wait_for("evt1", "destroyed", 5).is_null());
  for (const auto& e : only.events()) EXPECT_EQ(e.value("container", ""), "evt1") << e.dump();
  EXPECT_FALSE(all.wait_for("evt2", "created", 1).is_null());
  // Event order as it happened.
  std::vector<std::string> kinds;
  for (const auto& e : only.events())  // the OOM killer may take the hog's processes across two polls
    if (kinds.empty() || kinds.back() != "oom" || e.value("event", "") != "oom") kinds.push_back(e.value("event", ""));
  EXPECT_EQ(kinds, (std::vector<std::string>{"created", "started", "oom", "reboot", "started", "stopped", "destroyed"}));
  EXPECT_TRUE(env.leftovers("evt1").empty());
}

TEST(Events, HumanFormatAndBadRequests) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  auto r = env.sysc({"events", "--format", "yaml"});
  EXPECT_EQ(r.status, 2);
  r = env.sysc({"events", "Bad_Name"});
  EXPECT_NE(r.status, 0);
}

}  // namespace
}  // namespace sysc::test
