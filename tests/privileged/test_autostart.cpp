// Autostart once per host boot (boot id simulated with SYSC_BOOT_ID): the sequence follows
// autostart.order and autostart.after, `after` waits for the dependency's ready.command, an
// unknown name in `after` is logged and does not stop the rest; an lxcd restart within the same
// boot starts nothing; shutdown-all stops everything in the reverse sequence.
#include <gtest/gtest.h>
#include <csignal>
#include <cstdlib>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "support/event_stream.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

using namespace std::chrono_literals;


// Containers named in "lxcd: autostart: started NAME" lines of the log, in order, after OFFSET.
std::vector<std::string> started_in_log(const std::string& log, size_t offset) {
  std::vector<std::string> out;
  std::istringstream in(log.substr(std::min(offset, log.size())));
  const std::string tag = "lxcd: autostart: started ";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(tag, 0) == 0) out.push_back(line.substr(tag.size()));
  return out;
}

class Autostart : public ::testing::Test {
 protected:
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    boot_ = "test-boot-" + std::to_string(getpid()) + "-";
    setenv("SYSC_BOOT_ID", (boot_ + "1").c_str(), 1);  // inherited by the lxcd the CLI starts
    env_ = std::make_unique<SyscEnv>();
  }
  void TearDown() override {
    env_.reset();
    unsetenv("SYSC_BOOT_ID");
  }
  void make(const std::string& name, const std::vector<std::pair<std::string, std::string>>& keys) {
    env_->create_busybox(name);
    ASSERT_EQ(env_->sysc({"config", "set", name, "net.0.type", "none"}).status, 0);
    for (const auto& [k, v] : keys) {
      auto r = env_->sysc({"config", "set", name, k, v});
      ASSERT_EQ(r.status, 0) << k << ": " << r.err;
    }
  }
  std::string log() { return sysc::test::read_text(env_->root() + "/var/log/sysc/lxcd.log"); }
  // Simulates a host reboot (or only an lxcd restart, with the same boot id).
  void restart_lxcd(const std::string& boot) {
    env_->kill_lxcd(SIGTERM);
    setenv("SYSC_BOOT_ID", (boot_ + boot).c_str(), 1);
  }
  std::string boot_;
  std::unique_ptr<SyscEnv> env_;
};

TEST_F(Autostart, OrderAfterReadinessOncePerBootAndShutdownInReverse) {
  make("au-db", {{"autostart", "true"}, {"autostart.order", "5"}, {"ready.command", "test -e /ready"},
                 {"ready.timeout", "60"}});
  make("au-web", {{"autostart", "true"}, {"autostart.order", "0"}, {"autostart.after", "au-db"}});
  make("au-late", {{"autostart", "true"}, {"autostart.order", "10"}});
  make("au-odd", {{"autostart", "true"}, {"autostart.order", "1"}, {"autostart.after", "au-nosuch"}});
  make("au-off", {});  // autostart = false
  // The first lxcd of this "boot" already ran (no container was autostarted then).
  // A new boot: au-odd (1), au-db (5); au-web (0) only once au-db is ready; then au-late (10).
  restart_lxcd("2");
  size_t from = log().size();
  EventStream events(*env_);
  ASSERT_TRUE(env_->wait_state("au-db", "RUNNING", 30));
  EXPECT_EQ(env_->state("au-odd"), "RUNNING");
  std::this_thread::sleep_for(3s);  // au-db is not ready: au-web and everything after it wait
  EXPECT_EQ(env_->state("au-web"), "STOPPED");
  EXPECT_EQ(env_->state("au-late"), "STOPPED");
  { std::ofstream(env_->rootfs("au-db") + "/ready") << "1\n"; }
  ASSERT_TRUE(env_->wait_state("au-web", "RUNNING", 20));
  ASSERT_TRUE(env_->wait_state("au-late", "RUNNING", 20));
  EXPECT_EQ(env_->state("au-off"), "STOPPED");
  EXPECT_EQ(started_in_log(log(), from), (std::vector<std::string>{"au-odd", "au-db", "au-web", "au-late"})) << log();
  EXPECT_NE(log().find("au-odd: autostart.after names 'au-nosuch', which is not a container"), std::string::npos) << log();
  for (int i = 0; i < 50 && !path_exists(env_->root() + "/var/lib/sysc/autostart.boot_id"); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(sysc::test::read_text(env_->root() + "/var/lib/sysc/autostart.boot_id"), boot_ + "2\n");
  EXPECT_EQ(env_->info("au-web").value("autostart", false), true);

  // shutdown-all: the reverse sequence, one step after the other.
  auto r = env_->sysc({"shutdown-all"}, "", 120);
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* n : {"au-db", "au-web", "au-late", "au-odd", "au-off"}) EXPECT_EQ(env_->state(n), "STOPPED") << n;
  EXPECT_EQ(events.order_of("stopped"), (std::vector<std::string>{"au-late", "au-web", "au-db", "au-odd"}));
  EXPECT_NE(r.out.find("Stopped au-late"), std::string::npos) << r.out;

  // lxcd restarts within the same boot: nothing is started again.
  restart_lxcd("2");
  from = log().size();
  ASSERT_EQ(env_->sysc({"list"}).status, 0);
  std::this_thread::sleep_for(3s);
  for (const char* n : {"au-db", "au-web", "au-late", "au-odd"}) EXPECT_EQ(env_->state(n), "STOPPED") << n;
  EXPECT_NE(log().find("autostart: already done for boot " + boot_ + "2", from), std::string::npos) << log();

  // Another boot: everything comes up again (au-db is ready at once now).
  restart_lxcd("3");
  ASSERT_EQ(env_->sysc({"list"}).status, 0);
  for (const char* n : {"au-db", "au-web", "au-late", "au-odd"}) EXPECT_TRUE(env_->wait_state(n, "RUNNING", 30)) << n;
}

TEST_F(Autostart, CycleIsLoggedAndEverythingStillStarts) {
  make("cy-a", {{"autostart", "true"}, {"autostart.after", "cy-b"}, {"ready.timeout", "2"}});
  make("cy-b", {{"autostart", "true"}, {"autostart.after", "cy-a"}, {"ready.timeout", "2"}});
  restart_lxcd("2");
  ASSERT_EQ(env_->sysc({"list"}).status, 0);
  EXPECT_TRUE(env_->wait_state("cy-a", "RUNNING", 20));
  EXPECT_TRUE(env_->wait_state("cy-b", "RUNNING", 20));
  EXPECT_NE(log().find("autostart.after forms a cycle ('cy-a' -> 'cy-b'); starting 'cy-a' without waiting for cy-b"),
            std::string::npos) << log();
}

}  // namespace
}  // namespace sysc::test
