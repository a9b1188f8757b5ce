// Snapshots end to end through the CLI, on each storage backend: create (also of a running
// container: frozen for dir/overlay), change the container, restore (refused while running
// without --stop), list, delete, destroy with snapshots.
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "support/harness.h"
#include "support/test_io.h"

namespace fs = std::filesystem;
using sysc::test::SyscEnv;

namespace {

nlohmann::json snapshot_list(SyscEnv& env, const std::string& name) {
  auto r = env.sysc({"snapshot", "list", name, "--format", "json"});
  EXPECT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_object() ? j["snapshots"] : nlohmann::json::array();
}

// The whole cycle on one container of BACKEND; ATOMIC: snapshots of a running one need no warning.
void snapshot_cycle(SyscEnv& env, const std::string& name, bool atomic) {
  ASSERT_EQ(env.sysc({"start", name}).status, 0);
  std::string ipv4 = env.info(name)["ipv4"];
  env.sh(name, "echo one > /root/data");
  ASSERT_EQ(env.sysc({"stop", name}).status, 0);
  auto r = env.sysc({"snapshot", "create", name, "s1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << "a stopped container needs no warning: " << r.err;
  auto list = snapshot_list(env, name);
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(list[0]["name"], "s1");
  EXPECT_TRUE(fs::exists(env.container_dir(name) + "/snapshots/s1/config"));
  r = env.sysc({"snapshot", "create", name, "s1"});
  EXPECT_NE(r.status, 0) << "a second s1 must be refused";
  r = env.sysc({"snapshot", "create", name, "Bad_Name"});
  EXPECT_NE(r.status, 0);

  // Change files (one of them only in the image, for overlay: a whiteout) and the config.
  ASSERT_EQ(env.sysc({"config", "set", name, "container.stop_timeout", "7"}).status, 0);
  ASSERT_EQ(env.sysc({"start", name}).status, 0);
  env.sh(name, "echo two > /root/data && touch /root/new && rm /etc/passwd");
  EXPECT_EQ(env.sh(name, "cat /root/data; ls /etc/passwd 2>/dev/null || echo gone"), "two\ngone\n");

  r = env.sysc({"snapshot", "restore", name, "s1"});
  EXPECT_NE(r.status, 0) << "restore of a running container needs --stop";
  EXPECT_NE(r.err.find("running"), std::string::npos) << r.err;
  EXPECT_EQ(env.state(name), "RUNNING");
  EXPECT_EQ(env.sh(name, "cat /root/data"), "two\n") << "a refused restore changed the files";

  r = env.sysc({"snapshot", "restore", "--stop", name, "s1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.state(name), "RUNNING");
  EXPECT_EQ(env.sh(name, "cat /root/data; ls /root/new 2>/dev/null || echo no-new; head -c 5 /etc/passwd; echo; hostname"),
            "one\nno-new\nroot:\n" + name + "\n");
  EXPECT_NE(env.sysc({"config", "get", name, "container.stop_timeout"}).status, 0) << "config not restored";
  EXPECT_EQ(env.info(name)["ipv4"], ipv4) << "the address changed across a restore";
  EXPECT_TRUE(fs::exists(env.container_dir(name) + "/snapshots/s1")) << "a restore keeps the snapshot";

  // A snapshot of the running container: atomic on btrfs, else copied with the container frozen
  // (and thawed after).
  r = env.sysc({"snapshot", "create", name});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  list = snapshot_list(env, name);
  ASSERT_EQ(list.size(), 2u) << list.dump();
  std::string auto_name = list[1]["name"];
  EXPECT_EQ(auto_name.rfind("snap-", 0), 0u) << auto_name;
  EXPECT_EQ(list[1]["running"], true);
  if (!atomic) {
    EXPECT_EQ(list[1].value("frozen", false), true) << list.dump();
  }
  EXPECT_EQ(env.sh(name, "echo thawed"), "thawed\n");

  ASSERT_EQ(env.sysc({"snapshot", "delete", name, "s1"}).status, 0);
  EXPECT_FALSE(fs::exists(env.container_dir(name) + "/snapshots/s1"));
  EXPECT_NE(env.sysc({"snapshot", "delete", name, "s1"}).status, 0);
  EXPECT_NE(env.sysc({"snapshot", "restore", name, "s1"}).status, 0);
  ASSERT_EQ(snapshot_list(env, name).size(), 1u);

  // Destroy takes the remaining snapshot with it.
  ASSERT_EQ(env.sysc({"destroy", "--force", name}).status, 0);
  EXPECT_FALSE(fs::exists(env.container_dir(name)));
  EXPECT_FALSE(fs::exists(env.root() + "/etc/sysc/containers/" + name + ".conf"));
  EXPECT_TRUE(env.leftovers(name).empty());
}

}  // namespace

TEST(Snapshots, Dir) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  ASSERT_EQ(env.sysc({"create", "busybox", "sn-dir", "--storage", "dir"}).status, 0);
  snapshot_cycle(env, "sn-dir", /*atomic=*/false);
}

TEST(Snapshots, OverlayKeepsItsImage) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  ASSERT_EQ(env.sysc({"create", "busybox", "sn-ovl", "--storage", "overlay"}).status, 0);
  std::string image = env.info("sn-ovl")["image"];
  // The snapshot records its lower layer; a newer build of the image leaves that in place.
  ASSERT_EQ(env.sysc({"snapshot", "create", "sn-ovl", "base"}).status, 0);
  EXPECT_EQ(sysc::test::read_text(env.container_dir("sn-ovl") + "/snapshots/base/snapshot.json").find(image) != std::string::npos, true);
  ASSERT_EQ(env.sysc({"template", "refresh", "busybox"}).status, 0);
  EXPECT_TRUE(fs::exists(env.root() + "/var/cache/sysc/images/" + image + "/rootfs"));
  ASSERT_EQ(env.sysc({"snapshot", "delete", "sn-ovl", "base"}).status, 0);
  snapshot_cycle(env, "sn-ovl", /*atomic=*/false);
}

TEST(Snapshots, Btrfs) {
  SYSC_REQUIRE_ROOT();
  SYSC_REQUIRE_BTRFS();
  SyscEnv env;
  ASSERT_EQ(sysc::test::mount_btrfs(env.root() + "/btrfs.img", env.root() + "/var/lib/sysc"), 0);
  ASSERT_EQ(env.sysc({"create", "busybox", "sn-bt", "--storage", "btrfs"}).status, 0);
  ASSERT_EQ(env.sysc({"start", "sn-bt"}).status, 0);
  env.sh("sn-bt", "echo live > /root/live");
  auto r = env.sysc({"snapshot", "create", "sn-bt", "ro"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  std::string snap_root = env.container_dir("sn-bt") + "/snapshots/ro/rootfs";
  struct stat st;
  ASSERT_EQ(stat(snap_root.c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, 256u) << "the snapshot is not a subvolume";
  EXPECT_EQ(sysc::test::read_text(snap_root + "/root/live"), "live\n");
  int fd = open((snap_root + "/root/write-test").c_str(), O_WRONLY | O_CREAT, 0644);
  EXPECT_LT(fd, 0) << "the snapshot is writable";
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) close(fd);
  ASSERT_EQ(env.sysc({"stop", "sn-bt"}).status, 0);
  ASSERT_EQ(env.sysc({"snapshot", "delete", "sn-bt", "ro"}).status, 0);
  EXPECT_FALSE(fs::exists(snap_root));
  snapshot_cycle(env, "sn-bt", /*atomic=*/true);
}

// With the cgroup2 driver the copy is frozen through cgroup.freeze, and thawed after.
TEST(Snapshots, FreezesOnCgroupV2Driver) {
  SYSC_REQUIRE_ROOT();
  if (!fs::exists("/sys/fs/cgroup/unified/cgroup.controllers") && !fs::exists("/sys/fs/cgroup/cgroup.controllers"))
    GTEST_SKIP() << "no cgroup2 hierarchy on this host";
  SyscEnv env("driver = v2\n");
  ASSERT_EQ(env.sysc({"create", "busybox", "sn-v2", "--storage", "dir"}).status, 0);
  ASSERT_EQ(env.sysc({"start", "sn-v2"}).status, 0);
  auto info = env.info("sn-v2");
  ASSERT_EQ(info.value("cgroup_layout", ""), "unified") << info.dump();
  auto r = env.sysc({"snapshot", "create", "sn-v2", "live"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  auto list = snapshot_list(env, "sn-v2");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].value("frozen", false), true) << list.dump();
  EXPECT_EQ(sysc::test::read_text(info.value("cgroup", "") + "/cgroup.freeze"), "0\n");
  EXPECT_EQ(env.sh("sn-v2", "echo thawed"), "thawed\n");
  ASSERT_EQ(env.sysc({"destroy", "--force", "sn-v2"}).status, 0);
  EXPECT_TRUE(env.leftovers("sn-v2").empty());
}

// A snapshot taken before an unprivileged container's ids were shifted on disk: after a restore
// the next start shifts the restored tree again (root inside still owns its files).
TEST(Snapshots, RestoreOfUnshiftedTreeIntoShiftedContainer) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env("[security]\nidmapped_mounts = off\n");
  ASSERT_EQ(env.sysc({"create", "busybox", "sn-un", "--storage", "dir"}).status, 0);
  ASSERT_EQ(env.sysc({"config", "set", "sn-un", "security.privileged", "false"}).status, 0);
  ASSERT_EQ(env.sysc({"snapshot", "create", "sn-un", "fresh"}).status, 0);  // never started: not shifted
  ASSERT_EQ(env.sysc({"start", "sn-un"}).status, 0);
  ASSERT_TRUE(env.info("sn-un")["idmap"]["rootfs_shifted"].get<bool>());
  auto r = env.sysc({"snapshot", "restore", "--stop", "sn-un", "fresh"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(env.info("sn-un")["idmap"]["rootfs_shifted"].get<bool>());
  EXPECT_EQ(env.sh("sn-un", "stat -c %u:%g /bin/busybox /root; echo ok > /root/w && cat /root/w"),
            "0:0\n0:0\nok\n");
  ASSERT_EQ(env.sysc({"destroy", "--force", "sn-un"}).status, 0);
}
