// common/fs: whole-file reads, atomic writes, mkdir -p, and remove_tree (no recursion, O(1) fds,
// never follows symlinks, never crosses a mount). Host side; the mount case needs root.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"

namespace {

using sysc::mkdir_p;
using sysc::path_exists;
using sysc::read_file;
using sysc::remove_tree;
using sysc::write_file_atomic;
using sysc::write_file_in_place;

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool is_dir(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class Fs : public ::testing::Test {
 protected:
  void SetUp() override {
    // tmpfs when there is one: the 5000-deep chain takes seconds to build on a slow disk.
    std::string tmpl = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/sysc-test-fs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    auto r = remove_tree(dir_);
    EXPECT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(path_exists(dir_));
  }
  std::string dir_;
};

TEST_F(Fs, WriteAtomicThenRead) {
  const std::string p = dir_ + "/conf";
  ASSERT_TRUE(write_file_atomic(p, "one\n", 0600).ok());
  EXPECT_EQ(*read_file(p), "one\n");
  struct stat st;
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::string big(200000, 'x');  // more than one read() chunk
  ASSERT_TRUE(write_file_atomic(p, big).ok());
  EXPECT_EQ(*read_file(p), big);
  ASSERT_TRUE(write_file_atomic(p, "").ok());
  EXPECT_EQ(*read_file(p), "");
  // No temporary file is left next to it.
  EXPECT_FALSE(path_exists(p + ".tmp." + std::to_string(getpid())));
}

// Into the file that is there (same inode, cut to the new length); never creates one, never through a
// symlink.
TEST_F(Fs, WriteInPlaceKeepsTheFile) {
  const std::string p = dir_ + "/spec.json";
  ASSERT_TRUE(write_file_atomic(p, std::string(5000, 'o'), 0600).ok());
  struct stat before {}, after {};
  ASSERT_EQ(stat(p.c_str(), &before), 0);
  ASSERT_TRUE(write_file_in_place(p, "new\n").ok());
  ASSERT_EQ(stat(p.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(*read_file(p), "new\n");
  auto missing = write_file_in_place(dir_ + "/absent", "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_FALSE(path_exists(dir_ + "/absent"));
  ASSERT_EQ(symlink(p.c_str(), (dir_ + "/link").c_str()), 0);
  EXPECT_FALSE(write_file_in_place(dir_ + "/link", "via link\n").ok());
  EXPECT_EQ(*read_file(p), "new\n");
}

TEST_F(Fs, ReadMissingFileNamesThePath) {
  auto r = read_file(dir_ + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message.find(dir_ + "/missing"), std::string::npos) << r.error().message;
}

TEST_F(Fs, WriteAtomicIntoMissingDirectoryFails) {
  auto r = write_file_atomic(dir_ + "/no/such/file", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
}

TEST_F(Fs, MkdirP) {
  ASSERT_TRUE(mkdir_p(dir_ + "/a/b/c").ok());
  EXPECT_TRUE(is_dir(dir_ + "/a/b/c"));
  EXPECT_TRUE(mkdir_p(dir_ + "/a/b/c").ok());  // existing: fine
  EXPECT_TRUE(mkdir_p(dir_ + "/a/b/").ok());
  write_text(dir_ + "/a/file", "x");
  auto r = mkdir_p(dir_ + "/a/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOTDIR);
  EXPECT_FALSE(mkdir_p(dir_ + "/a/file/sub").ok());
}

TEST_F(Fs, RemoveTreeMissingPathIsSuccess) {
  EXPECT_TRUE(remove_tree(dir_ + "/missing").ok());
}

TEST_F(Fs, RemoveTreeOfAFileUnlinksIt) {
  write_text(dir_ + "/f", "x");
  ASSERT_TRUE(remove_tree(dir_ + "/f").ok());
  EXPECT_FALSE(path_exists(dir_ + "/f"));
  ASSERT_EQ(symlink(dir_.c_str(), (dir_ + "/link").c_str()), 0);
  ASSERT_TRUE(remove_tree(dir_ + "/link").ok());  // the link goes, not what it points to
  EXPECT_FALSE(path_exists(dir_ + "/link"));
  EXPECT_TRUE(is_dir(dir_));
}

TEST_F(Fs, RemoveTreeNestedNeverFollowsSymlinks) {
  const std::string t = dir_ + "/tree", out = dir_ + "/outside";
  ASSERT_TRUE(mkdir_p(t + "/a/b/c").ok());
  ASSERT_TRUE(mkdir_p(t + "/a/d").ok());
  ASSERT_TRUE(mkdir_p(t + "/e").ok());
  ASSERT_TRUE(mkdir_p(out + "/keep").ok());
  write_text(out + "/keep/file", "precious");
  for (const char* f : {"/f1", "/a/f2", "/a/b/f3", "/a/b/c/f4", "/a/d/f5", "/e/.hidden"}) write_text(t + f, "x");
  ASSERT_EQ(symlink(out.c_str(), (t + "/a/to-outside").c_str()), 0);              // absolute, to a dir
  ASSERT_EQ(symlink("../../../outside/keep", (t + "/a/b/rel").c_str()), 0);       // relative, to a dir
  ASSERT_EQ(symlink((out + "/keep/file").c_str(), (t + "/a/d/to-file").c_str()), 0);
  ASSERT_EQ(symlink("dangling", (t + "/e/dangling").c_str()), 0);
  ASSERT_EQ(mkfifo((t + "/a/d/fifo").c_str(), 0600), 0);

  auto r = remove_tree(t);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(path_exists(t));
  EXPECT_EQ(*read_file(out + "/keep/file"), "precious");
}

TEST_F(Fs, RemoveTreeEmptyDirectory) {
  ASSERT_EQ(mkdir((dir_ + "/empty").c_str(), 0755), 0);
  ASSERT_TRUE(remove_tree(dir_ + "/empty").ok());
  EXPECT_FALSE(path_exists(dir_ + "/empty"));
}

// A chain deeper than PATH_MAX allows by name, built with dirfds; removed with 64 fds at most.
TEST_F(Fs, RemoveTreeDeepChainWithFewFds) {
  constexpr int kDepth = 5000;
  const std::string t = dir_ + "/deep";
  ASSERT_EQ(mkdir(t.c_str(), 0755), 0);
  int fd = open(t.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < kDepth; ++i) {
    ASSERT_EQ(mkdirat(fd, "d", 0755), 0) << i;
    int f = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(f, 0);
    close(f);
    ASSERT_EQ(symlinkat("..", fd, "up"), 0);
    int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(sub, 0) << i;
    close(fd);
    fd = sub;
  }
  close(fd);

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit lim{64, 64};
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(3);
    auto r = remove_tree(t);
    if (!r.ok()) {
      std::string msg = r.error().message.substr(0, 300) + "\n";
      (void)!write(STDERR_FILENO, msg.data(), msg.size());
      _exit(1);
    }
    _exit(0);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st)) << "killed by signal " << WTERMSIG(st);
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_FALSE(path_exists(t));
}

// Undoes a mount made by the test, even when an assertion fails.
struct MountGuard {
  std::string target;
  ~MountGuard() {
    if (!target.empty()) umount2(target.c_str(), MNT_DETACH);
  }
};

void expect_refused_at_mount(const std::string& tree, const std::string& mnt) {
  auto r = remove_tree(tree);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EBUSY);
  EXPECT_EQ(r.error().message, "refusing to remove " + mnt + ": it is a mount point");
}

TEST_F(Fs, RemoveTreeRefusesABindMountOfTheSameFilesystem) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (bind mount)";
  const std::string t = dir_ + "/tree", src = dir_ + "/src", mnt = t + "/sub/mnt";
  ASSERT_TRUE(mkdir_p(mnt).ok());
  ASSERT_TRUE(mkdir_p(src + "/inner").ok());
  write_text(src + "/inner/file", "precious");
  write_text(t + "/sub/sibling", "x");
  MountGuard guard;
  // Same filesystem as the tree: st_dev alone cannot see it, the mount-root attribute does.
  ASSERT_EQ(mount(src.c_str(), mnt.c_str(), nullptr, MS_BIND, nullptr), 0) << strerror(errno);
  guard.target = mnt;
  expect_refused_at_mount(t, mnt);
  EXPECT_EQ(*read_file(mnt + "/inner/file"), "precious");
  EXPECT_EQ(*read_file(src + "/inner/file"), "precious");
  ASSERT_EQ(umount2(mnt.c_str(), 0), 0) << strerror(errno);
  guard.target.clear();
  EXPECT_TRUE(remove_tree(t).ok());
  EXPECT_EQ(*read_file(src + "/inner/file"), "precious");
}

TEST_F(Fs, RemoveTreeRefusesAnotherFilesystem) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (tmpfs mount)";
  const std::string t = dir_ + "/tree", mnt = t + "/a/b";
  ASSERT_TRUE(mkdir_p(mnt).ok());
  MountGuard guard;
  ASSERT_EQ(mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k"), 0) << strerror(errno);
  guard.target = mnt;
  write_text(mnt + "/file", "precious");
  expect_refused_at_mount(t, mnt);
  EXPECT_EQ(*read_file(mnt + "/file"), "precious");
  ASSERT_EQ(umount2(mnt.c_str(), 0), 0) << strerror(errno);
  guard.target.clear();
  EXPECT_TRUE(remove_tree(t).ok());
}

}  // namespace
