// lxcd's autostart sequence, shutdown waves and restart backoff (pure functions).
#include <gtest/gtest.h>

#include "lxcd/autostart.h"

namespace sysc::lxcd {
namespace {

using Names = std::vector<std::string>;

TEST(AutostartPlan, OrderThenNameAndAfterWins) {
  std::vector<HostedContainer> c = {{"web", 0, {"db"}}, {"db", 5, {}}, {"late", 10, {}}, {"odd", 1, {}}, {"app", 0, {}}};
  auto p = plan_autostart(c, {"web", "db", "late", "odd", "app"});
  EXPECT_EQ(p.sequence, (Names{"app", "odd", "db", "web", "late"}));
  EXPECT_EQ(p.wait_for["web"], (Names{"db"}));
  EXPECT_TRUE(p.errors.empty());
}

TEST(AutostartPlan, UnknownAndNotAutostartedNamesAreErrorsNotBlockers) {
  std::vector<HostedContainer> c = {{"web", 0, {"nosuch", "manual", "web"}}};
  auto p = plan_autostart(c, {"web", "manual"});
  EXPECT_EQ(p.sequence, (Names{"web"}));
  EXPECT_TRUE(p.wait_for["web"].empty());
  ASSERT_EQ(p.errors.size(), 3u);
  EXPECT_EQ(p.errors[0], "web: autostart.after names 'nosuch', which is not a container; ignoring it");
  EXPECT_EQ(p.errors[1], "web: autostart.after names 'manual', which has autostart = false; not waiting for it");
  EXPECT_EQ(p.errors[2], "web: autostart.after names the container itself; ignoring it");
}

TEST(AutostartPlan, CycleIsBrokenAtItsFirstMember) {
  std::vector<HostedContainer> c = {{"a", 0, {"c"}}, {"b", 0, {"a"}}, {"c", 0, {"b"}}, {"free", 3, {}}, {"d", 0, {"c"}}};
  auto p = plan_autostart(c, {"a", "b", "c", "d", "free"});
  EXPECT_EQ(p.sequence, (Names{"free", "a", "b", "c", "d"}));
  EXPECT_TRUE(p.wait_for["a"].empty());
  EXPECT_EQ(p.wait_for["b"], (Names{"a"}));
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0], "autostart.after forms a cycle ('a' -> 'c' -> 'b'); starting 'a' without waiting for c");
}

TEST(ShutdownWaves, ReverseSequenceSameOrderInParallel) {
  std::vector<HostedContainer> c = {{"web", 0, {"db"}}, {"db", 5, {}}, {"late", 10, {}}, {"odd", 1, {}},
                                    {"x1", 7, {}}, {"x2", 7, {}}, {"x3", 7, {"x1"}}};
  auto w = shutdown_waves(c);
  EXPECT_EQ(w, (std::vector<Names>{{"late"}, {"x3", "x2"}, {"x1"}, {"web"}, {"db"}, {"odd"}}));
  EXPECT_TRUE(shutdown_waves({}).empty());
}

TEST(RestartBackoff, DoublesFromOneSecondUpToFiveMinutes) {
  EXPECT_EQ(restart_delay_ms(0), 1000);
  EXPECT_EQ(restart_delay_ms(1), 2000);
  EXPECT_EQ(restart_delay_ms(3), 8000);
  EXPECT_EQ(restart_delay_ms(8), 256000);
  EXPECT_EQ(restart_delay_ms(9), 300000);
  EXPECT_EQ(restart_delay_ms(1000), 300000);
}

}  // namespace
}  // namespace sysc::lxcd
