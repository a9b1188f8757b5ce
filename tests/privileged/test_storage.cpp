// Images and storage backends end to end through the CLI: one template run serves many
// containers (dir and overlay side by side, btrfs on a loop-mounted btrfs), --no-cache and
// `template refresh` rebuild, `sysc copy` regenerates identity, Ctrl-C during a create leaves
// nothing behind.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <filesystem>
#include <fstream>
#include <sys/mount.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "lxcd/btrfs.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace fs = std::filesystem;
using sysc::test::RunResult;
using sysc::test::SyscEnv;

namespace {

void put(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

nlohmann::json images(SyscEnv& env) {
  auto r = env.sysc({"template", "list", "--format", "json"});
  EXPECT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_object() ? j["images"] : nlohmann::json::array();
}

}  // namespace

TEST(Storage, DirAndOverlayFromOneImage) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  auto first = env.sysc({"create", "busybox", "st-dir", "--storage", "dir"});
  ASSERT_EQ(first.status, 0) << first.err;
  // Not a terminal: the progress comes as plain lines, the template's own ones included.
  EXPECT_NE(first.err.find("% busybox: "), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("85% root filesystem (dir)\n100% created\n"), std::string::npos) << first.err;
  EXPECT_EQ(env.sysc({"create", "busybox", "st-q", "-q"}).err, "");
  ASSERT_EQ(env.sysc({"destroy", "st-q"}).status, 0);
  auto imgs = images(env);
  ASSERT_EQ(imgs.size(), 1u) << imgs.dump();
  std::string image_id = imgs[0]["id"];
  std::string image_rootfs = env.root() + "/var/cache/sysc/images/" + image_id + "/rootfs";
  // A marker only the image has: a container that has it was made from the image, not by
  // running the template again.
  put(image_rootfs + "/etc/from-image", "yes\n");
  auto r = env.sysc({"create", "busybox", "st-ovl", "--storage", "overlay"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("storage overlay"), std::string::npos) << r.out;
  ASSERT_EQ(images(env).size(), 1u);
  auto info = env.info("st-ovl");
  EXPECT_EQ(info["storage"], "overlay");
  EXPECT_EQ(info["image"], image_id);
  EXPECT_EQ(env.info("st-dir")["storage"], "dir");
  // The overlay container's own layer holds only what differs: its identity.
  EXPECT_EQ(sysc::test::read_text(env.container_dir("st-ovl") + "/overlay/upper/etc/hostname"), "st-ovl\n");
  EXPECT_FALSE(fs::exists(env.container_dir("st-ovl") + "/overlay/upper/bin"));
  EXPECT_EQ(sysc::test::read_text(env.container_dir("st-dir") + "/rootfs/etc/hostname"), "st-dir\n");

  ASSERT_EQ(env.sysc({"start", "st-dir"}).status, 0);
  r = env.sysc({"start", "st-ovl"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.sh("st-ovl", "cat /etc/from-image; hostname; echo mine > /root/data"), "yes\nst-ovl\n");
  EXPECT_EQ(env.sh("st-dir", "hostname; cat /root/data 2>/dev/null || echo none"), "st-dir\nnone\n");
  // Writes land in the container's upper layer, never in the shared image.
  EXPECT_EQ(sysc::test::read_text(env.container_dir("st-ovl") + "/overlay/upper/root/data"), "mine\n");
  EXPECT_FALSE(fs::exists(image_rootfs + "/root/data"));
  // The overlay is mounted in the container's namespace only.
  EXPECT_EQ(sysc::test::read_text("/proc/self/mountinfo").find(env.container_dir("st-ovl")), std::string::npos);
  for (const char* n : {"st-dir", "st-ovl"}) {
    ASSERT_EQ(env.sysc({"stop", n}).status, 0);
    ASSERT_EQ(env.sysc({"destroy", n}).status, 0);
    EXPECT_FALSE(fs::exists(env.container_dir(n))) << n;
    EXPECT_TRUE(env.leftovers(n).empty()) << n;
  }
  // The image stays as the cache for the next create.
  EXPECT_TRUE(fs::exists(image_rootfs + "/etc/from-image"));
}

namespace {

// The inode of PATH once it exists (polled: spares are laid out in the background), else 0.
ino_t inode_when_there(const std::string& path, int timeout_s = 10) {
  for (int i = 0; i < timeout_s * 100; ++i) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) return st.st_ino;
    usleep(10000);
  }
  return 0;
}

}  // namespace

// A create renames a directory laid out ahead for its backend instead of making its directories
// (each one an inode allocation on its path); the next one is laid out after it. A half-made one
// an lxcd left (.tmp) is never taken and is replaced.
TEST(Storage, CreateTakesTheDirectoryLaidOutAheadForItsBackend) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  const std::string containers = env.root() + "/var/lib/sysc/containers";
  ASSERT_EQ(env.sysc({"create", "busybox", "lo-1", "-q", "--storage", "overlay"}).status, 0);
  for (const char* backend : {"overlay", "dir"}) {
    SCOPED_TRACE(backend);
    const std::string spare = containers + "/.spare-" + backend;
    if (std::string(backend) == "dir") {
      // Half made by an lxcd that ended mid-way: junk inside, never taken as a spare.
      put(spare + ".tmp/junk", "x\n");
      ASSERT_EQ(env.sysc({"create", "busybox", "lo-2", "-q", "--storage", backend}).status, 0);
      ASSERT_EQ(env.sysc({"destroy", "lo-2"}).status, 0);
    }
    const ino_t ahead = inode_when_there(spare);
    ASSERT_NE(ahead, 0u) << "no " << spare;
    EXPECT_FALSE(fs::exists(spare + ".tmp"));
    EXPECT_FALSE(fs::exists(spare + "/junk")) << "a half-made spare was finished instead of replaced";
    EXPECT_TRUE(fs::is_directory(spare + "/rootfs"));
    EXPECT_EQ(fs::is_directory(spare + "/overlay/upper") && fs::is_directory(spare + "/overlay/work"),
              std::string(backend) == "overlay");
    const std::string name = std::string("lo-") + backend;
    auto r = env.sysc({"create", "busybox", name, "-q", "--storage", backend});
    ASSERT_EQ(r.status, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(::stat(env.container_dir(name).c_str(), &st), 0);
    EXPECT_EQ(st.st_ino, ahead) << "the create made its own directory";
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_FALSE(fs::exists(env.container_dir(name) + "/junk"));
    // A container like any other: its identity, its own writes, its image's files.
    ASSERT_EQ(env.sysc({"start", name}).status, 0);
    EXPECT_EQ(env.sh(name, "hostname; echo mine > /root/data; cat /root/data; test -x /bin/busybox && echo ok"),
              name + "\nmine\nok\n");
    ASSERT_EQ(env.sysc({"stop", "--force", name}).status, 0);
    const ino_t next = inode_when_there(spare);
    EXPECT_NE(next, 0u) << "no spare laid out after the create";
    EXPECT_NE(next, ahead);
    ASSERT_EQ(env.sysc({"destroy", name}).status, 0);
    EXPECT_TRUE(env.leftovers(name).empty());
  }
  // An lxcd lays out its own spares: those of an earlier one (another layout, another umask)
  // go when it starts.
  ASSERT_NE(inode_when_there(containers + "/.spare-overlay"), 0u);
  env.kill_lxcd(SIGTERM);
  ASSERT_EQ(env.sysc({"list"}).status, 0);
  EXPECT_FALSE(fs::exists(containers + "/.spare-overlay"));
  EXPECT_FALSE(fs::exists(containers + "/.spare-dir"));
  ASSERT_EQ(env.sysc({"destroy", "lo-1"}).status, 0);
}

TEST(Storage, NoCacheAndRefreshBuildNewImagesAndKeepUsedOnes) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  ASSERT_EQ(env.sysc({"create", "busybox", "nc-a", "--storage", "overlay"}).status, 0);
  std::string first = images(env)[0]["id"];
  auto r = env.sysc({"create", "busybox", "nc-b", "--storage", "overlay", "--no-cache"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string second = env.info("nc-b")["image"];
  EXPECT_NE(second, first);
  // The old build stays while nc-a uses it as its lower layer.
  auto imgs = images(env);
  ASSERT_EQ(imgs.size(), 2u) << imgs.dump();
  EXPECT_EQ(imgs[0]["id"], second);
  EXPECT_TRUE(imgs[0]["current"].get<bool>());
  EXPECT_FALSE(imgs[1]["current"].get<bool>());
  ASSERT_EQ(env.sysc({"start", "nc-a"}).status, 0);
  EXPECT_EQ(env.sh("nc-a", "hostname"), "nc-a\n");
  ASSERT_EQ(env.sysc({"stop", "nc-a"}).status, 0);
  ASSERT_EQ(env.sysc({"destroy", "nc-a"}).status, 0);
  imgs = images(env);
  ASSERT_EQ(imgs.size(), 1u) << "unused old build not removed: " << imgs.dump();
  EXPECT_EQ(imgs[0]["id"], second);
  r = env.sysc({"template", "refresh", "busybox"});
  ASSERT_EQ(r.status, 0) << r.err;
  imgs = images(env);
  ASSERT_EQ(imgs.size(), 2u) << imgs.dump();  // the new one, and nc-b's
  EXPECT_NE(imgs[0]["id"], second);
  EXPECT_EQ(imgs[1]["containers"], nlohmann::json::array({"nc-b"}));
  r = env.sysc({"template", "refresh", "no-such-template"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("no template named 'no-such-template'"), std::string::npos) << r.err;
}

TEST(Storage, CopyRegeneratesIdentity) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  for (const char* backend : {"dir", "overlay"}) {
    std::string src = std::string("cp-src-") + backend, dst = std::string("cp-dst-") + backend;
    ASSERT_EQ(env.sysc({"create", "busybox", src, "--storage", backend}).status, 0);
    ASSERT_EQ(env.sysc({"start", src}).status, 0);
    // What a booted system leaves: a machine-id, SSH host keys, data.
    env.sh(src, "mkdir -p /etc/ssh /srv && echo 0123456789abcdef0123456789abcdef > /etc/machine-id && "
                     "echo key > /etc/ssh/ssh_host_ed25519_key && echo data > /srv/data");
    auto r = env.sysc({"copy", src, dst});
    EXPECT_NE(r.status, 0) << "copy of a running container must be refused";
    EXPECT_NE(r.err.find("running"), std::string::npos) << r.err;
    ASSERT_EQ(env.sysc({"stop", src}).status, 0);
    r = env.sysc({"copy", src, dst});
    ASSERT_EQ(r.status, 0) << r.err;
    auto a = env.info(src), b = env.info(dst);
    EXPECT_EQ(b["storage"], backend);
    ASSERT_EQ(a["nics"].size(), 1u);
    ASSERT_EQ(b["nics"].size(), 1u);
    EXPECT_NE(a["nics"][0]["mac"], b["nics"][0]["mac"]);
    EXPECT_NE(a["nics"][0]["ipv4"], b["nics"][0]["ipv4"]);
    ASSERT_EQ(env.sysc({"start", dst}).status, 0);
    EXPECT_EQ(env.sh(dst, "hostname; cat /etc/hostname; cat /srv/data; wc -c < /etc/machine-id; "
                               "ls /etc/ssh | grep -c ssh_host || true"),
              dst + "\n" + dst + "\ndata\n0\n0\n");
    EXPECT_TRUE(fs::exists(env.root() + "/etc/sysc/containers/" + dst + ".conf"));
    ASSERT_EQ(env.sysc({"start", src}).status, 0);
    EXPECT_EQ(env.sh(src, "hostname; wc -c < /etc/machine-id; ls /etc/ssh"), src + "\n33\nssh_host_ed25519_key\n");
    r = env.sysc({"copy", dst, src});
    EXPECT_NE(r.status, 0);
    for (const auto& n : {src, dst}) {
      ASSERT_EQ(env.sysc({"destroy", "--force", n}).status, 0);
      EXPECT_TRUE(env.leftovers(n).empty()) << n;
    }
  }
}

TEST(Storage, BtrfsSnapshots) {
  SYSC_REQUIRE_ROOT();
  SYSC_REQUIRE_BTRFS();
  SyscEnv env;
  // The state directory on a btrfs of its own, made from a sparse file: the harness unmounts it.
  std::string state = env.root() + "/var/lib/sysc";
  ASSERT_EQ(sysc::test::mount_btrfs(env.root() + "/btrfs.img", state), 0);
  auto r = env.sysc({"create", "busybox", "bt1"});  // auto: btrfs, as the state dir is on btrfs
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.info("bt1")["storage"], "btrfs");
  // The first create leaves a spare snapshot of the image, made in the background; the next
  // create renames it into place (a subvolume keeps its device number) and a new one is made.
  std::string images = state + "/images";
  auto spare = [&]() -> std::string {
    for (int i = 0; i < 500; ++i, usleep(20000))
      for (const auto& e : fs::directory_iterator(images)) {
        std::string n = e.path().filename();
        if (n.rfind(".spare-", 0) == 0 && n.find(".tmp") == std::string::npos) return e.path();
      }
    return "";
  };
  std::string first = spare();
  ASSERT_FALSE(first.empty()) << "no spare snapshot in " << images;
  struct stat st;
  ASSERT_EQ(stat(first.c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, 256u) << first << " is not a subvolume";
  dev_t spare_dev = st.st_dev;
  ASSERT_EQ(env.sysc({"create", "busybox", "bt2", "--storage", "btrfs"}).status, 0);
  ASSERT_EQ(stat((env.container_dir("bt2") + "/rootfs").c_str(), &st), 0);
  EXPECT_EQ(st.st_dev, spare_dev) << "bt2's rootfs is not the spare snapshot";
  EXPECT_EQ(sysc::test::read_text(env.container_dir("bt2") + "/rootfs/etc/hostname"), "bt2\n");
  EXPECT_TRUE(fs::exists(env.container_dir("bt2") + "/rootfs/bin/busybox"));
  std::string second = spare();
  ASSERT_EQ(second, first);
  ASSERT_EQ(stat(second.c_str(), &st), 0);
  EXPECT_NE(st.st_dev, spare_dev) << "no new spare after the create that took the first";
  ASSERT_EQ(stat((env.container_dir("bt1") + "/rootfs").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, 256u) << "rootfs is not a subvolume";
  ASSERT_EQ(env.sysc({"start", "bt1"}).status, 0);
  EXPECT_EQ(env.sh("bt1", "hostname; echo one > /root/f; cat /root/f"), "bt1\none\n");
  ASSERT_EQ(env.sysc({"stop", "bt1"}).status, 0);
  ASSERT_EQ(env.sysc({"copy", "bt1", "bt3"}).status, 0);
  ASSERT_EQ(stat((env.container_dir("bt3") + "/rootfs").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, 256u);
  EXPECT_EQ(sysc::test::read_text(env.container_dir("bt3") + "/rootfs/root/f"), "one\n");
  EXPECT_EQ(sysc::test::read_text(env.container_dir("bt3") + "/rootfs/etc/hostname"), "bt3\n");
  EXPECT_FALSE(fs::exists(env.container_dir("bt2") + "/rootfs/root/f"));
  for (const char* n : {"bt1", "bt2", "bt3"}) {
    ASSERT_EQ(env.sysc({"destroy", n}).status, 0);
    EXPECT_FALSE(fs::exists(env.container_dir(n))) << n;
  }
  r = env.sysc({"create", "busybox", "bt4", "--storage", "btrfs"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(env.sysc({"destroy", "bt4"}).status, 0);
  // A rebuilt image leaves the old one unused: its btrfs copy goes, and its spare with it, as
  // does a spare half made by an lxcd that ended mid-way.
  ASSERT_EQ(spare(), first);  // the spare after bt4's create is made: nothing else writes there now
  std::string half = first + ".tmp";
  ASSERT_EQ(system(("btrfs subvolume create " + half + " >/dev/null").c_str()), 0);
  r = env.sysc({"template", "refresh", "busybox"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& e : fs::directory_iterator(images)) ADD_FAILURE() << "left in " << images << ": " << e.path();
  // Off btrfs, asking for it is refused with the reason.
  SyscEnv plain;
  r = plain.sysc({"create", "busybox", "bt5", "--storage", "btrfs"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("not on a btrfs filesystem"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(plain.container_dir("bt5")));
}

// The create's write barrier is left out only where btrfs orders the database row after the
// container's files by itself: one subvolume, a copy-on-write database and write-ahead log.
TEST(Storage, BtrfsOrdersTheRowOnlyForACopyOnWriteDatabaseOnTheSameSubvolume) {
  SYSC_REQUIRE_ROOT();
  SYSC_REQUIRE_BTRFS();
  namespace btrfs = sysc::lxcd::btrfs;
  SyscEnv env;
  std::string mnt = env.root() + "/bt";
  ASSERT_EQ(sysc::test::mount_btrfs(env.root() + "/btrfs.img", mnt, "256M"), 0);
  auto set_nocow = [](const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    int flags = 0;
    bool ok = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    flags |= FS_NOCOW_FL;
    ok = ok && ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    if (fd >= 0) close(fd);
    return ok;
  };
  std::string state = mnt + "/state", db = state + "/sysc.db", dir = state + "/containers/c1";
  fs::create_directories(dir);
  put(db, "");
  EXPECT_TRUE(btrfs::orders_after(db, dir)) << "copy-on-write database, write-ahead log not made yet";
  put(db + "-wal", "");
  EXPECT_TRUE(btrfs::orders_after(db, dir)) << "copy-on-write database and write-ahead log";
  // A NOCOW write-ahead log (set while empty, as btrfs requires) is rewritten in place.
  ASSERT_TRUE(set_nocow(db + "-wal"));
  EXPECT_FALSE(btrfs::orders_after(db, dir));
  // One not made yet takes its directory's NOCOW flag.
  fs::remove(db + "-wal");
  ASSERT_TRUE(set_nocow(state));
  EXPECT_FALSE(btrfs::orders_after(db, dir));
  // A NOCOW database.
  std::string state2 = mnt + "/state2", db2 = state2 + "/sysc.db", dir2 = state2 + "/containers/c1";
  fs::create_directories(dir2);
  put(db2, "");
  ASSERT_TRUE(set_nocow(db2));
  EXPECT_FALSE(btrfs::orders_after(db2, dir2));
  // The container's directory on another subvolume: another transaction stream.
  std::string state3 = mnt + "/state3", db3 = state3 + "/sysc.db";
  fs::create_directories(state3);
  put(db3, "");
  ASSERT_TRUE(btrfs::create_subvolume(state3 + "/containers"));
  EXPECT_FALSE(btrfs::orders_after(db3, state3 + "/containers"));
  EXPECT_TRUE(btrfs::orders_after(db3, state3));
  // Not on btrfs at all (a tmpfs: the test root's own filesystem may be btrfs).
  std::string plain = env.root() + "/plain";
  fs::create_directories(plain);
  ASSERT_EQ(mount("tmpfs", plain.c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
  fs::create_directories(plain + "/containers/c1");
  put(plain + "/sysc.db", "");
  EXPECT_FALSE(btrfs::orders_after(plain + "/sysc.db", plain + "/containers/c1"));
}

// Ctrl-C of `sysc create` while the template runs: the template is stopped and nothing remains.
TEST(Storage, InterruptedCreateLeavesNothing) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  std::string tdir = env.root() + "/templates";
  fs::create_directories(tdir);
  fs::copy(std::string(SYSC_BUILD_DIR) + "/share/sysc/templates", tdir, fs::copy_options::recursive);
  std::string marker = env.root() + "/var/cache/sysc/slow/started";
  put(tdir + "/slow",
      "#!/bin/sh\n# Test template: fills a little of the rootfs, says it started, then hangs.\n"
      "while [ $# -gt 0 ]; do case $1 in --rootfs) r=$2; shift;; --cache-dir) c=$2; shift;; esac; shift; done\n"
      "mkdir -p \"$r/etc\" \"$c\" && echo half > \"$r/etc/half\" && echo $$ > \"$c/started\"\n"
      "sleep 300 & wait\n");
  fs::permissions(tdir + "/slow", fs::perms(0755));
  setenv("SYSC_TEMPLATE_DIR", tdir.c_str(), 1);  // lxcd, started by the first command, inherits it
  ASSERT_EQ(env.sysc({"list"}).status, 0);
  unsetenv("SYSC_TEMPLATE_DIR");
  pid_t cli = fork();
  if (cli == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(SYSC_BIN, SYSC_BIN, "--root", env.root().c_str(), "create", "slow", "half1", nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200 && !fs::exists(marker); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(marker)) << "template never started";
  int tpl_pid = std::atoi(sysc::test::read_text(marker).c_str());
  ASSERT_GT(tpl_pid, 0);
  kill(cli, SIGINT);
  int st;
  waitpid(cli, &st, 0);
  for (int i = 0; i < 200 && sysc::test::alive(tpl_pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(sysc::test::alive(tpl_pid)) << "template still running after the client went away";
  // alive() counts a zombie as gone: lxcd may still be reaping the template and undoing the create.
  for (int i = 0; i < 200 && fs::exists(env.container_dir("half1")); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = env.sysc({"list", "--format", "json"});
  EXPECT_EQ(r.out.find("half1"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(env.container_dir("half1")));
  EXPECT_FALSE(fs::exists(env.root() + "/etc/sysc/containers/half1.conf"));
  for (const auto& e : fs::directory_iterator(env.root() + "/var/cache/sysc/images"))
    EXPECT_TRUE(e.path().filename().string().ends_with(".lock")) << "left in the image store: " << e.path();
  // The name is free again, and a real create works with the same daemon.
  r = env.sysc({"create", "busybox", "half1"});
  EXPECT_EQ(r.status, 0) << r.err;
}
