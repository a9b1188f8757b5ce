// File helpers: whole-file reads, atomic writes, mkdir -p, mount-safe recursive removal.
#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

Status write_file_atomic(const std::string& path, const std::string& content, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return sys_error("create " + tmp);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = sys_error("write " + tmp);
      ::unlink(tmp.c_str());
      return e;
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd.get(), mode) != 0 || ::fsync(fd.get()) != 0) {
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

Status mkdir_p(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return sys_error("mkdir " + cur);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return sys_error("stat " + path);
  if (!S_ISDIR(st.st_mode)) return make_error("mkdir " + path + ": exists and is not a directory", ENOTDIR);
  return {};
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

namespace {

Status remove_children(int dirfd, const std::string& path, dev_t dev) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return sys_error("dup " + path);
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return sys_error("opendir " + path);
  }
  Status result;
  while (struct dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      result = sys_error("stat " + path + "/" + n);
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != dev) {
        result = make_error("refusing to remove " + path + "/" + n + ": it is a mount point", EBUSY);
        break;
      }
      UniqueFd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) {
        result = sys_error("open " + path + "/" + n);
        break;
      }
      result = remove_children(sub.get(), path + "/" + n, dev);
      if (!result) break;
      if (::unlinkat(dirfd, n.c_str(), AT_REMOVEDIR) != 0) {
        result = sys_error("rmdir " + path + "/" + n);
        break;
      }
    } else if (::unlinkat(dirfd, n.c_str(), 0) != 0 && errno != ENOENT) {
      result = sys_error("unlink " + path + "/" + n);
      break;
    }
  }
  ::closedir(d);
  return result;
}

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
  TRY(remove_children(fd.get(), path, st.st_dev));
  fd.reset();
  if (::rmdir(path.c_str()) != 0) return sys_error("rmdir " + path);
  return {};
}

}  // namespace sysc
