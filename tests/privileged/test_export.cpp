// Backups end to end through the CLI: export -> destroy -> import -> start gives back the files
// (owners, modes, set-id bits, xattrs), hostname and snapshots; a bad tarball leaves nothing;
// an import under a new name next to the original gets its own identity.
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "support/harness.h"

namespace fs = std::filesystem;
using sysc::test::SyscEnv;

namespace {

// Nothing of NAME and no staging directory of an import may remain.
void expect_nothing_left(SyscEnv& env, const std::string& name) {
  EXPECT_FALSE(fs::exists(env.container_dir(name))) << name;
  EXPECT_FALSE(fs::exists(env.root() + "/etc/sysc/containers/" + name + ".conf")) << name;
  auto r = env.sysc({"list", "--format", "json"});
  EXPECT_EQ(r.out.find("\"" + name + "\""), std::string::npos) << r.out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(env.root() + "/var/lib/sysc/containers", ec))
    EXPECT_NE(e.path().filename().string().rfind(".import-", 0), 0u) << "left: " << e.path();
}

}  // namespace

TEST(Export, RoundTripKeepsFilesOwnersAndSnapshots) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  ASSERT_EQ(env.sysc({"create", "busybox", "ex1", "--storage", "dir"}).status, 0);
  ASSERT_EQ(env.sysc({"start", "ex1"}).status, 0);
  env.sh("ex1", "echo payload > /root/data && echo x > /root/suid && chown 1234:5678 /root/suid && "
                     "chmod 4750 /root/suid");
  std::string file = env.root() + "/ex1.tar.gz";
  auto r = env.sysc({"export", "ex1", file});
  EXPECT_NE(r.status, 0) << "export of a running container must be refused";
  EXPECT_NE(r.err.find("running"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(file));
  ASSERT_EQ(env.sysc({"stop", "ex1"}).status, 0);
  std::string suid = env.rootfs("ex1") + "/root/suid";
  bool xattr = setxattr(suid.c_str(), "user.sysc-test", "kept", 4, 0) == 0;
  ASSERT_EQ(env.sysc({"snapshot", "create", "ex1", "before"}).status, 0);
  ASSERT_EQ(env.sysc({"start", "ex1"}).status, 0);
  env.sh("ex1", "echo later > /root/data");
  ASSERT_EQ(env.sysc({"stop", "ex1"}).status, 0);
  std::string mac = env.info("ex1")["nics"][0]["mac"];
  r = env.sysc({"export", "ex1", file, "--snapshots"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(fs::exists(file));
  EXPECT_GT(fs::file_size(file), 1000u);

  // Under a new name next to the original: its own identity and address.
  r = env.sysc({"import", file, "ex1-copy"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(env.info("ex1-copy")["nics"][0]["mac"], mac);
  ASSERT_EQ(env.sysc({"start", "ex1-copy"}).status, 0);
  EXPECT_EQ(env.sh("ex1-copy", "hostname; cat /root/data"), "ex1-copy\nlater\n");
  r = env.sysc({"import", file});
  EXPECT_NE(r.status, 0) << "import over an existing container must be refused";
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  ASSERT_EQ(env.sysc({"destroy", "--force", "ex1-copy"}).status, 0);

  ASSERT_EQ(env.sysc({"destroy", "ex1"}).status, 0);
  expect_nothing_left(env, "ex1");
  r = env.sysc({"import", file});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.info("ex1")["template"], "busybox");
  struct stat st;
  ASSERT_EQ(lstat(suid.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 04750u);
  if (xattr) {
    char buf[16] = {};
    EXPECT_EQ(getxattr(suid.c_str(), "user.sysc-test", buf, sizeof buf), 4);
    EXPECT_STREQ(buf, "kept");
  }
  ASSERT_EQ(env.sysc({"start", "ex1"}).status, 0);
  EXPECT_EQ(env.sh("ex1", "hostname; cat /root/data"), "ex1\nlater\n");
  // The snapshot came along and restores.
  r = env.sysc({"snapshot", "restore", "--stop", "ex1", "before"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.sh("ex1", "cat /root/data"), "payload\n");
  ASSERT_EQ(env.sysc({"destroy", "--force", "ex1"}).status, 0);
  EXPECT_TRUE(env.leftovers("ex1").empty());
}

TEST(Export, OverlayExportsTheMergedView) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  ASSERT_EQ(env.sysc({"create", "busybox", "ex2", "--storage", "overlay"}).status, 0);
  ASSERT_EQ(env.sysc({"start", "ex2"}).status, 0);
  env.sh("ex2", "echo upper > /root/data && rm /etc/passwd");
  ASSERT_EQ(env.sysc({"stop", "ex2"}).status, 0);
  std::string file = env.root() + "/ex2.tar.xz";
  auto r = env.sysc({"export", "ex2", file});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(env.leftovers("ex2").empty()) << "export left a mount behind";
  ASSERT_EQ(env.sysc({"destroy", "ex2"}).status, 0);
  r = env.sysc({"import", file, "--storage", "overlay"});
  EXPECT_NE(r.status, 0) << "overlay has no image to import onto";
  expect_nothing_left(env, "ex2");
  r = env.sysc({"import", file});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.info("ex2")["storage"], "dir");
  EXPECT_TRUE(fs::exists(env.rootfs("ex2") + "/bin/busybox")) << "the image's files are missing";
  EXPECT_FALSE(fs::exists(env.rootfs("ex2") + "/etc/passwd")) << "a whiteout was not applied";
  ASSERT_EQ(env.sysc({"start", "ex2"}).status, 0);
  EXPECT_EQ(env.sh("ex2", "hostname; cat /root/data"), "ex2\nupper\n");
  ASSERT_EQ(env.sysc({"destroy", "--force", "ex2"}).status, 0);
}

TEST(Export, BadTarballLeavesNothing) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  ASSERT_EQ(env.sysc({"create", "busybox", "ex3", "--storage", "dir"}).status, 0);
  std::string file = env.root() + "/ex3.tar.gz";
  ASSERT_EQ(env.sysc({"export", "ex3", file}).status, 0);
  ASSERT_EQ(env.sysc({"destroy", "ex3"}).status, 0);
  // Truncated in the middle of the root filesystem.
  fs::resize_file(file, fs::file_size(file) / 2);
  auto r = env.sysc({"import", file});
  EXPECT_NE(r.status, 0) << "a truncated tarball was imported";
  expect_nothing_left(env, "ex3");
  // Not a tarball at all, and a tarball that is not an export.
  std::ofstream(env.root() + "/junk.tar.gz") << "this is not a tarball\n";
  r = env.sysc({"import", env.root() + "/junk.tar.gz", "ex3"});
  EXPECT_NE(r.status, 0);
  expect_nothing_left(env, "ex3");
  fs::create_directories(env.root() + "/other/rootfs");
  ASSERT_EQ(system(("tar -C " + env.root() + "/other -czf " + env.root() + "/other.tar.gz rootfs").c_str()), 0);
  r = env.sysc({"import", env.root() + "/other.tar.gz", "ex3"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("not a sysc export"), std::string::npos) << r.err;
  expect_nothing_left(env, "ex3");
  r = env.sysc({"import", env.root() + "/missing.tar.gz"});
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(env.leftovers().empty());
}

// An unprivileged container whose ids on disk are shifted into its range: the export says so and
// the import shifts them back (the new container gets its own range at its first start).
TEST(Export, ShiftedRootfsComesBackUnshifted) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env("[security]\nidmapped_mounts = off\n");
  ASSERT_EQ(env.sysc({"create", "busybox", "ex4", "--storage", "dir"}).status, 0);
  ASSERT_EQ(env.sysc({"config", "set", "ex4", "security.privileged", "false"}).status, 0);
  ASSERT_EQ(env.sysc({"start", "ex4"}).status, 0);
  env.sh("ex4", "echo x > /root/owned && chown 1234:5678 /root/owned");
  ASSERT_EQ(env.sysc({"stop", "ex4"}).status, 0);
  auto info = env.info("ex4");
  ASSERT_TRUE(info.contains("idmap")) << info.dump();
  ASSERT_TRUE(info["idmap"]["rootfs_shifted"].get<bool>()) << info.dump();
  uint32_t base = info["idmap"]["host_base"];
  struct stat st;
  ASSERT_EQ(lstat((env.rootfs("ex4") + "/root/owned").c_str(), &st), 0);
  ASSERT_EQ(st.st_uid, base + 1234) << "the test needs a shifted rootfs";
  std::string file = env.root() + "/ex4.tar.gz";
  ASSERT_EQ(env.sysc({"export", "ex4", file}).status, 0);
  ASSERT_EQ(env.sysc({"destroy", "ex4"}).status, 0);
  auto r = env.sysc({"import", file});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(lstat((env.rootfs("ex4") + "/root/owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  ASSERT_EQ(lstat((env.rootfs("ex4") + "/bin/busybox").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(env.sysc({"start", "ex4"}).status, 0);
  EXPECT_EQ(env.sh("ex4", "stat -c %u:%g /root/owned; id -u"), "1234:5678\n0\n");
  ASSERT_EQ(env.sysc({"destroy", "--force", "ex4"}).status, 0);
}

// btrfs: the imported rootfs is a subvolume and the snapshots read-only subvolumes again.
TEST(Export, BtrfsWithSnapshots) {
  SYSC_REQUIRE_ROOT();
  SYSC_REQUIRE_BTRFS();
  SyscEnv env;
  ASSERT_EQ(sysc::test::mount_btrfs(env.root() + "/btrfs.img", env.root() + "/var/lib/sysc"), 0);
  ASSERT_EQ(env.sysc({"create", "busybox", "ex5"}).status, 0);
  ASSERT_EQ(env.info("ex5")["storage"], "btrfs");
  ASSERT_EQ(env.sysc({"start", "ex5"}).status, 0);
  env.sh("ex5", "echo first > /root/data");
  ASSERT_EQ(env.sysc({"snapshot", "create", "ex5", "first"}).status, 0);
  env.sh("ex5", "echo second > /root/data");
  ASSERT_EQ(env.sysc({"stop", "ex5"}).status, 0);
  std::string file = env.root() + "/ex5.tar.gz";
  ASSERT_EQ(env.sysc({"export", "ex5", file, "--snapshots"}).status, 0);
  ASSERT_EQ(env.sysc({"destroy", "ex5"}).status, 0);
  expect_nothing_left(env, "ex5");
  auto r = env.sysc({"import", file});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.info("ex5")["storage"], "btrfs");
  struct stat st;
  ASSERT_EQ(stat(env.rootfs("ex5").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, 256u) << "rootfs is not a subvolume";
  std::string snap = env.container_dir("ex5") + "/snapshots/first/rootfs";
  ASSERT_EQ(stat(snap.c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, 256u) << "the snapshot is not a subvolume";
  EXPECT_NE(access((snap + "/root").c_str(), W_OK), 0) << "the snapshot is writable";
  EXPECT_FALSE(fs::exists(snap + ".tmp"));
  ASSERT_EQ(env.sysc({"snapshot", "restore", "ex5", "first"}).status, 0);
  ASSERT_EQ(env.sysc({"start", "ex5"}).status, 0);
  EXPECT_EQ(env.sh("ex5", "cat /root/data"), "first\n");
  ASSERT_EQ(env.sysc({"destroy", "--force", "ex5"}).status, 0);
  EXPECT_FALSE(fs::exists(env.container_dir("ex5")));
}
