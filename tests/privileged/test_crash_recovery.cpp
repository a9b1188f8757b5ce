// Crash safety: lxcd or the CLI killed with -9 in the middle of create, destroy, start or stop
// leaves the old or the new state, and the next lxcd removes half-done work and orphans (dirs
// without rows, trash of a destroy, stale run dirs, cgroups, host veths, mounts) and logs each.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "net/netlink.h"
#include "runtime/cgroup.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;


template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return cond();
}

// The test's own template directory: the build's templates plus "slow", a busybox root
// filesystem followed by a pause (slow.seconds, default 600) so a create can be interrupted.
// It writes the pid of its pause to slow.pid.
std::string make_template_dir(const std::string& dir) {
  fs::copy(std::string(SYSC_BUILD_DIR) + "/share/sysc/templates", dir, fs::copy_options::recursive);
  std::ofstream(dir + "/slow") << "#!/bin/sh\n"
                                  "d=${0%/*}\n"
                                  "\"$d/busybox\" \"$@\" || exit $?\n"
                                  "echo $$ > \"$d/slow.pid\"\n"
                                  "exec sleep \"$(cat \"$d/slow.seconds\" 2>/dev/null || echo 600)\"\n";
  chmod((dir + "/slow").c_str(), 0755);
  return dir;
}

class CrashRecovery : public ::testing::Test {
 protected:
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    env_ = std::make_unique<SyscEnv>();
    tpl_ = make_template_dir(env_->root() + "/templates");
    env_->set_env("SYSC_TEMPLATE_DIR", tpl_);
    ASSERT_EQ(env_->sysc({"list"}).status, 0);  // this lxcd (and every later one) uses tpl_
  }
  void TearDown() override {
    if (auto nl = net::Netlink::open(); nl) (void)nl->delete_link("sc-crghost");
    int pid = std::atoi(sysc::test::read_text(tpl_ + "/slow.pid").c_str());
    if (pid > 0 && alive(pid) && sysc::test::read_text("/proc/" + std::to_string(pid) + "/cmdline").rfind("sleep", 0) == 0)
      kill(pid, SIGKILL);
  }
  std::string lib(const std::string& rel) const { return env_->root() + "/var/lib/sysc/" + rel; }
  std::string conf(const std::string& name) const { return env_->root() + "/etc/sysc/containers/" + name + ".conf"; }
  std::string run_dir(const std::string& name) const { return env_->root() + "/run/sysc/" + name; }
  std::string log() const { return sysc::test::read_text(env_->root() + "/var/log/sysc/lxcd.log"); }
  // The mark of a create in progress on NAME's directory ("" if none): an extended attribute, or
  // the file .sysc-create where the filesystem takes no trusted.* attributes.
  std::string create_mark(const std::string& name) const {
    std::string dir = lib("containers/" + name);
    char buf[32];
    ssize_t n = getxattr(dir.c_str(), "trusted.sysc.create", buf, sizeof buf);
    if (n >= 0) return std::string(buf, static_cast<size_t>(n));
    std::string text = sysc::test::read_text(dir + "/.sysc-create");
    return text.empty() ? "" : text.substr(0, text.find('\n'));
  }
  bool listed(const std::string& name) {
    auto j = nlohmann::json::parse(env_->sysc({"list", "--format", "json"}).out, nullptr, false);
    if (!j.is_array()) return false;
    for (auto& c : j)
      if (c.value("name", "") == name) return true;
    return false;
  }
  // After any interruption: either no trace of NAME at all, or a usable container whose record
  // matches what runs. Returns whether it exists.
  bool expect_gone_or_intact(const std::string& name) {
    if (!listed(name)) {
      EXPECT_FALSE(path_exists(lib("containers/" + name))) << name;
      EXPECT_FALSE(path_exists(lib("containers/.destroy-" + name))) << name;
      EXPECT_FALSE(path_exists(conf(name))) << name;
      EXPECT_TRUE(env_->leftovers(name).empty()) << ::testing::PrintToString(env_->leftovers(name));
      return false;
    }
    auto info = env_->info(name);
    std::string state = info.value("state", "");
    EXPECT_TRUE(path_exists(env_->rootfs(name) + "/bin/busybox")) << name << " lost its root filesystem";
    if (state == "RUNNING") {
      EXPECT_TRUE(alive(info.value("init_pid", 0))) << info.dump();
      EXPECT_TRUE(alive(info.value("shim_pid", 0))) << "RUNNING without its supervisor: " << info.dump();
      auto r = env_->sysc({"stop", "--force", name});
      EXPECT_EQ(r.status, 0) << r.err;
    } else {
      EXPECT_EQ(state, "STOPPED") << info.dump();
    }
    EXPECT_TRUE(env_->leftovers(name).empty()) << ::testing::PrintToString(env_->leftovers(name));
    auto r = env_->sysc({"start", name});
    EXPECT_EQ(r.status, 0) << r.err;
    return true;
  }
  std::unique_ptr<SyscEnv> env_;
  std::string tpl_;
};

TEST_F(CrashRecovery, LxcdKilledMidCreateLeavesNothingAndTheNameIsFreeAgain) {
  auto create = std::async(std::launch::async, [&] { return env_->sysc({"create", "slow", "crc1"}); });
  ASSERT_TRUE(eventually([&] { return std::atoi(sysc::test::read_text(tpl_ + "/slow.pid").c_str()) > 0; }, 30s))
      << "the slow template never ran";
  int template_pid = std::atoi(sysc::test::read_text(tpl_ + "/slow.pid").c_str());
  // The create is in progress: its directory (with the create marker) exists, the template
  // fills an image build beside the image store.
  ASSERT_EQ(create_mark("crc1"), "conf=1") << "the config file is this create's own";
  env_->kill_lxcd(SIGKILL);
  EXPECT_NE(create.get().status, 0);
  EXPECT_TRUE(alive(template_pid)) << "nothing left to recover: the template died with lxcd";

  EXPECT_FALSE(listed("crc1"));  // starts the next lxcd, which recovers first
  EXPECT_TRUE(eventually([&] { return !alive(template_pid); })) << "the interrupted template still runs";
  EXPECT_FALSE(path_exists(lib("containers/crc1")));
  EXPECT_FALSE(path_exists(conf("crc1")));
  EXPECT_NE(log().find("crc1: undoing a create that was interrupted"), std::string::npos) << log();
  for (const auto& e : fs::directory_iterator(env_->root() + "/var/cache/sysc/images"))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos) << "half image build left: " << e.path();
  auto r = env_->sysc({"create", "busybox", "crc1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->sysc({"start", "crc1"}).status, 0);
  EXPECT_EQ(env_->state("crc1"), "RUNNING");
}

// A config file the admin wrote before the create is not the create's to remove: an interrupted
// create leaves it, and the create that completes uses it and keeps no mark.
TEST_F(CrashRecovery, ConfigWrittenBeforeAnInterruptedCreateIsKept) {
  fs::create_directories(env_->root() + "/etc/sysc/containers");
  const std::string text = "# the admin's own\n[container]\nstop_timeout = 7\n";
  std::ofstream(conf("crc2")) << text;
  auto create = std::async(std::launch::async, [&] { return env_->sysc({"create", "slow", "crc2"}); });
  ASSERT_TRUE(eventually([&] { return std::atoi(sysc::test::read_text(tpl_ + "/slow.pid").c_str()) > 0; }, 30s))
      << "the slow template never ran";
  ASSERT_EQ(create_mark("crc2"), "conf=0") << "the config file was there before the create";
  env_->kill_lxcd(SIGKILL);
  EXPECT_NE(create.get().status, 0);

  EXPECT_FALSE(listed("crc2"));  // the next lxcd recovers first
  EXPECT_FALSE(path_exists(lib("containers/crc2")));
  EXPECT_EQ(sysc::test::read_text(conf("crc2")), text) << "recovery removed or changed the admin's config";
  EXPECT_EQ(log().find("removed " + conf("crc2")), std::string::npos) << log();

  std::ofstream(tpl_ + "/slow.seconds") << "0\n";
  auto r = env_->sysc({"create", "slow", "crc2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(create_mark("crc2"), "") << "a completed create keeps its mark";
  EXPECT_EQ(sysc::test::read_text(conf("crc2")), text);
}

// Directories of creates cut short after their config was written: recovery removes the config
// the mark calls the create's own (conf=1), in the attribute or in the fallback file, and keeps
// one that was there before (conf=0).
TEST_F(CrashRecovery, MarksOfInterruptedCreatesSayWhoseConfigItIs) {
  env_->kill_lxcd(SIGKILL);
  fs::create_directories(env_->root() + "/etc/sysc/containers");
  auto interrupted = [&](const std::string& name) {
    fs::create_directories(lib("containers/" + name + "/rootfs/etc"));
    std::ofstream(conf(name)) << "# written by the create\n";
    return lib("containers/" + name);
  };
  std::string attr1 = interrupted("crm1"), file1 = interrupted("crm2"), attr0 = interrupted("crm3");
  ASSERT_EQ(setxattr(attr1.c_str(), "trusted.sysc.create", "conf=1", 6, 0), 0) << strerror(errno);
  std::ofstream(file1 + "/.sysc-create") << "conf=1\n";
  ASSERT_EQ(setxattr(attr0.c_str(), "trusted.sysc.create", "conf=0", 6, 0), 0) << strerror(errno);

  EXPECT_FALSE(listed("crm1"));  // the next lxcd recovers first
  for (const char* n : {"crm1", "crm2", "crm3"}) EXPECT_FALSE(path_exists(lib(std::string("containers/") + n))) << n;
  EXPECT_FALSE(path_exists(conf("crm1"))) << "the create's own config was kept (mark in the attribute)";
  EXPECT_FALSE(path_exists(conf("crm2"))) << "the create's own config was kept (mark in the file)";
  EXPECT_TRUE(path_exists(conf("crm3"))) << "a config from before the create was removed";
  EXPECT_NE(log().find("removed " + conf("crm1")), std::string::npos) << log();
}

// A client that goes away (kill -9, Ctrl-C) while its create runs the template cancels the
// create: the old state (no container), never a half one, and the name is free again.
TEST_F(CrashRecovery, CliKilledMidCreateCancelsIt) {
  std::ofstream(tpl_ + "/slow.seconds") << "5\n";
  auto r = env_->sysc({"create", "slow", "crk1"}, "", /*timeout_s=*/1);  // SIGKILLed after 1 s
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
  int template_pid = std::atoi(sysc::test::read_text(tpl_ + "/slow.pid").c_str());
  EXPECT_TRUE(eventually([&] { return template_pid > 0 && !alive(template_pid); }, 20s)) << "the template still runs";
  EXPECT_TRUE(eventually([&] { return !path_exists(lib("containers/crk1")); }, 20s)) << "create not undone";
  EXPECT_FALSE(listed("crk1"));
  EXPECT_FALSE(path_exists(conf("crk1")));
  auto c = env_->sysc({"create", "busybox", "crk1"});
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(env_->sysc({"start", "crk1"}).status, 0);
}

TEST_F(CrashRecovery, LxcdKilledMidDestroyOrStartLeavesOldOrNewState) {
  // Delays from "at once" to "after the operation": each kill lands in a different step.
  const int delays_ms[] = {0, 15, 40, 80, 150, 300};
  int n = 0;
  for (int delay : delays_ms) {
    std::string name = "crd" + std::to_string(n++);
    SCOPED_TRACE(name + " killed after " + std::to_string(delay) + " ms");
    env_->create_busybox(name);
    // Some bulk, so removing the root filesystem takes a moment.
    std::string bulk = env_->rootfs(name) + "/bulk";
    ASSERT_EQ(mkdir(bulk.c_str(), 0755), 0);
    for (int i = 0; i < 3000; ++i) std::ofstream(bulk + "/f" + std::to_string(i)) << i;
    ASSERT_EQ(env_->sysc({"start", name}).status, 0);
    auto destroy = std::async(std::launch::async, [&] { return env_->sysc({"destroy", "--force", name}); });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    env_->kill_lxcd(SIGKILL);
    destroy.get();
    bool intact = expect_gone_or_intact(name);
    std::cout << name << " (lxcd killed " << delay << " ms into its destroy): " << (intact ? "intact" : "gone") << "\n";
    if (intact) {
      // It survived: now interrupt a stop and a start of it.
      auto stop = std::async(std::launch::async, [&] { return env_->sysc({"stop", name}); });
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      env_->kill_lxcd(SIGKILL);
      stop.get();
      ASSERT_TRUE(eventually([&] { return env_->state(name) != "STOPPING"; }, 20s));
      if (env_->state(name) == "RUNNING") {
        ASSERT_EQ(env_->sysc({"stop", "--force", name}).status, 0);
      }
      auto start = std::async(std::launch::async, [&] { return env_->sysc({"start", name}); });
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      env_->kill_lxcd(SIGKILL);
      start.get();
      expect_gone_or_intact(name);
      auto r = env_->sysc({"destroy", "--force", name});
      EXPECT_EQ(r.status, 0) << r.err;
      EXPECT_FALSE(listed(name));
    }
    EXPECT_TRUE(env_->leftovers(name).empty()) << ::testing::PrintToString(env_->leftovers(name));
  }
}

TEST_F(CrashRecovery, OrphansOfThisRootAreRemovedAndLogged) {
  env_->create_busybox("crp1");  // its destroy will be cut short at the point of no return
  env_->create_busybox("crp2");  // running: recovery must leave it alone
  env_->create_busybox("crp3");  // stopped, with a mount left below its root filesystem
  ASSERT_EQ(env_->sysc({"start", "crp2"}).status, 0);  // also brings up the bridge
  auto before = env_->info("crp2");
  env_->kill_lxcd(SIGKILL);
  ASSERT_EQ(env_->lxcd_pid(), 0);

  // A create that died: directory without a row, with a template's mount in it.
  std::string ghost = lib("containers/crghost1");
  ASSERT_TRUE(mkdir_p(ghost + "/rootfs/proc").ok());
  ASSERT_EQ(mount("tmpfs", (ghost + "/rootfs/proc").c_str(), "tmpfs", 0, nullptr), 0);
  // A destroy that died right after renaming the directory.
  ASSERT_EQ(rename(lib("containers/crp1").c_str(), lib("containers/.destroy-crp1").c_str()), 0);
  // A stale run dir, a cgroup and a host veth (on this root's bridge) of containers that do not exist.
  ASSERT_TRUE(mkdir_p(run_dir("crghost2")).ok());
  std::ofstream(run_dir("crghost2") + "/exit.json") << "{}\n";
  auto cg = cgroup::make_driver();
  ASSERT_TRUE(cg.ok());
  ASSERT_TRUE((*cg)->create(env_->cgroup_parent() + "/crghost3").ok());
  auto nl = net::Netlink::open();
  ASSERT_TRUE(nl.ok());
  ASSERT_TRUE(nl->create_veth("sc-crghost", "scp-crghost", "02:00:00:aa:bb:cc", 1500).ok());
  ASSERT_TRUE(nl->enslave("sc-crghost", env_->bridge()).ok());
  // A snapshot of crp3 cut short: its half-copied tree (never listed) and its real snapshot dir.
  ASSERT_TRUE(mkdir_p(lib("containers/crp3/snapshots/.tmp-half/rootfs/etc")).ok());
  std::ofstream(lib("containers/crp3/snapshots/.tmp-half/rootfs/etc/x")) << "x\n";
  // A mount below a stopped container's root filesystem.
  ASSERT_TRUE(mkdir_p(env_->rootfs("crp3") + "/mnt").ok());
  ASSERT_EQ(mount("tmpfs", (env_->rootfs("crp3") + "/mnt").c_str(), "tmpfs", 0, nullptr), 0);

  EXPECT_TRUE(listed("crp2"));  // the next lxcd recovers before it answers
  EXPECT_FALSE(path_exists(ghost));
  EXPECT_FALSE(listed("crp1"));
  EXPECT_FALSE(path_exists(lib("containers/.destroy-crp1")));
  EXPECT_FALSE(path_exists(conf("crp1")));
  EXPECT_FALSE(path_exists(run_dir("crghost2")));
  EXPECT_FALSE((*cg)->exists(env_->cgroup_parent() + "/crghost3"));
  EXPECT_FALSE(nl->link_exists("sc-crghost"));
  EXPECT_FALSE(nl->link_exists("scp-crghost"));
  EXPECT_EQ(sysc::test::read_text("/proc/self/mountinfo").find(env_->root() + "/var/lib/sysc/containers/"), std::string::npos);
  // Untouched: the running container and the stopped one.
  auto after = env_->info("crp2");
  EXPECT_EQ(after.value("state", ""), "RUNNING");
  EXPECT_EQ(after.value("init_pid", 0), before.value("init_pid", 0));
  EXPECT_TRUE(nl->link_exists(net::host_veth_name("crp2", 0)));
  EXPECT_EQ(env_->sysc({"attach", "crp2", "--", "true"}).status, 0);
  EXPECT_TRUE(path_exists(env_->rootfs("crp3") + "/bin/busybox"));
  EXPECT_FALSE(path_exists(lib("containers/crp3/snapshots/.tmp-half")));
  EXPECT_NE(log().find("crp3: removed " + lib("containers/crp3/snapshots/.tmp-half")), std::string::npos) << log();
  EXPECT_EQ(env_->sysc({"start", "crp3"}).status, 0);
  std::string text = log();
  for (const char* what : {"crghost1: removed", "crghost1: unmounted leftover mount", "crp1: finishing a destroy",
                           "crghost2: removed stale run directory", "crghost3: removed leftover cgroup",
                           "crghost: removed leftover host veth sc-crghost", "crp3: unmounted leftover mount"})
    EXPECT_NE(text.find(what), std::string::npos) << "not logged: " << what << "\n" << text;
}

}  // namespace
}  // namespace sysc::test
