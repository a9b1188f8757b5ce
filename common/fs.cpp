// File helpers: whole-file reads, atomic writes, mkdir -p, mount-safe recursive removal.
#include "common/fs.h"

#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vector>

#include "common/unique_fd.h"

namespace sysc {

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys_error("open " + path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {
// All of CONTENT to FD; false (errno set) on a write error.
bool write_all(int fd, const std::string& content) {
  for (size_t off = 0; off < content.size();) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}
}  // namespace

Status write_file_atomic(const std::string& path, const std::string& content, mode_t mode, bool durable) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return sys_error("create " + tmp);
  if (!write_all(fd.get(), content)) {
    Error e = sys_error("write " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::fchmod(fd.get(), mode) != 0 || (durable && ::fsync(fd.get()) != 0)) {
    Error e = sys_error("sync " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = sys_error("rename " + tmp + " to " + path);
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

Status write_file_in_place(const std::string& path, const std::string& content) {
  // Written over, then cut to length, rather than opened with O_TRUNC: ext4 takes a truncation to
  // zero for a file about to be replaced and starts its writeback at close (auto_da_alloc),
  // which the caller would wait for; a file that only grows is never truncated at all.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sys_error("open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return sys_error("stat " + path);
  if (!write_all(fd.get(), content)) return sys_error("write " + path);
  if (static_cast<size_t>(st.st_size) > content.size() && ::ftruncate(fd.get(), static_cast<off_t>(content.size())) != 0)
    return sys_error("truncate " + path);
  return {};
}

Status sync_path(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys_error("open " + path);
  if (::fsync(fd.get()) != 0) return sys_error("sync " + path);
  return {};
}

Status mkdir_p(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};  // the usual case: one call
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return sys_error("mkdir " + cur);
  }
  if (::stat(path.c_str(), &st) != 0) return sys_error("stat " + path);
  if (!S_ISDIR(st.st_mode)) return make_error("mkdir " + path + ": exists and is not a directory", ENOTDIR);
  return {};
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

namespace {

// remove_tree works one directory at a time: only the current directory's fd (plus a transient
// one for reading it) is open and nothing recurses, so the depth of a tree a container built
// cannot exhaust fds or the stack. A directory is identified by (dev, ino), checked on the way
// up, so a rename during the walk is an error, never a removal elsewhere.
struct Node {
  dev_t dev = 0;
  ino_t ino = 0;
  bool mount_root = false;
};

Result<Node> stat_node(int fd, const std::string& path) {
  struct statx stx{};
  if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_INO, &stx) != 0)
    return sys_error("stat " + path);
  // A bind mount from the same filesystem has the same st_dev: the mount-root attribute sees it.
  bool root = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
  return Node{makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino, root};
}

// A directory on the way down: its name in the parent, its identity, the subdirectories still
// to remove (collected by the last scan), where its name starts in the path for messages.
struct Level {
  std::string name;
  Node node;
  std::vector<std::string> subdirs;
  size_t path_len = 0;  // length of the parent's path
};

// One pass over the directory: unlinks everything but directories (symlinks are unlinked, never
// followed), appends the names of subdirectories to `subdirs`.
Status clear_files(int dirfd, const std::string& path, std::vector<std::string>& subdirs) {
  // A fresh open file description: readdir starts at the beginning, dirfd's offset is untouched.
  int rfd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) return sys_error("open " + path);
  DIR* d = ::fdopendir(rfd);
  if (!d) {
    Error e = sys_error("opendir " + path);
    ::close(rfd);
    return e;
  }
  Status result;
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(d);
    if (!de) {
      if (errno != 0) result = sys_error("readdir " + path);
      break;
    }
    const char* n = de->d_name;
    if (std::strcmp(n, ".") == 0 || std::strcmp(n, "..") == 0) continue;
    bool dir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        result = sys_error("stat " + path + "/" + n);
        break;
      }
      dir = S_ISDIR(st.st_mode);
    }
    if (!dir && ::unlinkat(dirfd, n, 0) != 0) {
      if (errno == EISDIR) dir = true;  // replaced by a directory since readdir
      else if (errno != ENOENT) {
        result = sys_error("unlink " + path + "/" + n);
        break;
      }
    }
    if (dir) subdirs.emplace_back(n);
  }
  ::closedir(d);
  return result;
}

class TreeRemover {
 public:
  TreeRemover(std::string path, UniqueFd top, Node node) : path_(std::move(path)), cur_(std::move(top)) {
    stack_.push_back(Level{"", node, {}, path_.size()});
  }

  // Empties the top directory (it stays).
  Status run() {
    for (;;) {
      Level& level = stack_.back();
      if (level.subdirs.empty()) {
        // (Re)scan: the first time, or to confirm the directory is empty after its subdirectories.
        TRY(clear_files(cur_.get(), path_, level.subdirs));
        if (level.subdirs.empty()) {
          if (stack_.size() == 1) return {};
          TRY(ascend());
          continue;
        }
      }
      std::string name = std::move(level.subdirs.back());
      level.subdirs.pop_back();
      TRY(descend(std::move(name)));
    }
  }

 private:
  Status descend(std::string name) {
    std::string sub_path = path_ + "/" + name;
    UniqueFd sub(::openat(cur_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) {
      if (errno == ENOENT) return {};  // gone already
      if (errno != ENOTDIR && errno != ELOOP) return sys_error("open " + sub_path);
      // Replaced by a file or a symlink since the scan: unlink it, do not follow it.
      if (::unlinkat(cur_.get(), name.c_str(), 0) != 0 && errno != ENOENT) return sys_error("unlink " + sub_path);
      return {};
    }
    // Checked on the opened directory: a mount point opens the root of what is mounted on it.
    Node node = TRY(stat_node(sub.get(), sub_path));
    if (node.dev != stack_.front().node.dev || node.mount_root)
      return make_error("refusing to remove " + sub_path + ": it is a mount point", EBUSY);
    stack_.push_back(Level{std::move(name), node, {}, path_.size()});
    path_ = std::move(sub_path);
    cur_ = std::move(sub);
    return {};
  }

  // The current directory is empty: go up to its parent and remove it there.
  Status ascend() {
    const std::string& path = path_;
    UniqueFd parent(::openat(cur_.get(), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!parent) return sys_error("open " + path + "/..");
    const Level& level = stack_.back();
    const Node& expected = stack_[stack_.size() - 2].node;
    Node up = TRY(stat_node(parent.get(), path + "/.."));
    struct stat st;
    bool same = up.dev == expected.dev && up.ino == expected.ino &&
                ::fstatat(parent.get(), level.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                st.st_dev == level.node.dev && st.st_ino == level.node.ino;
    if (!same) return make_error("remove " + path + ": the tree changed during the removal", EAGAIN);
    if (::unlinkat(parent.get(), level.name.c_str(), AT_REMOVEDIR) != 0) return sys_error("rmdir " + path);
    path_.resize(level.path_len);
    stack_.pop_back();
    cur_ = std::move(parent);
    return {};
  }

  std::string path_;          // of the current directory, for messages
  UniqueFd cur_;              // the directory stack_.back() names
  std::vector<Level> stack_;  // top first
};

}  // namespace

Status remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sys_error("stat " + path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0) return sys_error("unlink " + path);
    return {};
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sys_error("open " + path);
  Node top = TRY(stat_node(fd.get(), path));
  TRY(TreeRemover(path, std::move(fd), top).run());
  // PATH itself is removed by name: it must still be the directory that was emptied.
  if (::lstat(path.c_str(), &st) != 0) return sys_error("stat " + path);
  if (st.st_dev != top.dev || st.st_ino != top.ino)
    return make_error("remove " + path + ": the tree changed during the removal", EAGAIN);
  if (::rmdir(path.c_str()) != 0) return sys_error("rmdir " + path);
  return {};
}

}  // namespace sysc
