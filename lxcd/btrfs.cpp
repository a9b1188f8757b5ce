// btrfs subvolume create / snapshot / delete through BTRFS_IOC_* on the parent directory.
#include "lxcd/btrfs.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace sysc::lxcd::btrfs {

namespace {

constexpr ino_t kSubvolumeRootIno = 256;  // BTRFS_FIRST_FREE_OBJECTID: the root dir of every subvolume

struct Split {
  std::string parent, leaf;
};

Result<Split> split(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash + 1 >= path.size()) return make_error(path + ": not an absolute path", EINVAL);
  std::string leaf = path.substr(slash + 1);
  if (leaf.size() >= BTRFS_PATH_NAME_MAX) return make_error(path + ": name too long", ENAMETOOLONG);
  return Split{slash == 0 ? "/" : path.substr(0, slash), leaf};
}

// False for a NOCOW file (FS_NOCOW_FL) and when the flags cannot be read. A file that does not
// exist is judged by its directory.
bool copy_on_write(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd && errno == ENOENT) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return false;
    fd = UniqueFd(::open(slash == 0 ? "/" : path.substr(0, slash).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  int flags = 0;
  return fd && ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_NOCOW_FL);
}

Result<UniqueFd> open_dir(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return sys_error("open " + path);
  return fd;
}

}  // namespace

bool is_btrfs(const std::string& path) {
  struct statfs sf;
  return statfs(path.c_str(), &sf) == 0 && static_cast<unsigned long>(sf.f_type) == BTRFS_SUPER_MAGIC;
}

bool orders_after(const std::string& db, const std::string& dir) {
  struct stat db_st, dir_st;
  return is_btrfs(dir) && ::stat(db.c_str(), &db_st) == 0 && ::stat(dir.c_str(), &dir_st) == 0 &&
         db_st.st_dev == dir_st.st_dev && copy_on_write(db) && copy_on_write(db + "-wal");
}

bool is_subvolume(const std::string& path) {
  struct stat st;
  return is_btrfs(path) && lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_ino == kSubvolumeRootIno;
}

Status create_subvolume(const std::string& path) {
  auto parts = TRY(split(path));
  auto dir = TRY(open_dir(parts.parent));
  btrfs_ioctl_vol_args args{};
  std::memcpy(args.name, parts.leaf.c_str(), parts.leaf.size());
  if (ioctl(dir.get(), BTRFS_IOC_SUBVOL_CREATE, &args) != 0) return sys_error("btrfs subvolume create " + path);
  return {};
}

Status snapshot(const std::string& src, const std::string& dst, bool readonly) {
  auto parts = TRY(split(dst));
  auto source = TRY(open_dir(src));
  auto dir = TRY(open_dir(parts.parent));
  btrfs_ioctl_vol_args_v2 args{};
  args.fd = source.get();
  if (readonly) args.flags |= BTRFS_SUBVOL_RDONLY;
  std::memcpy(args.name, parts.leaf.c_str(), parts.leaf.size());
  if (ioctl(dir.get(), BTRFS_IOC_SNAP_CREATE_V2, &args) != 0) return sys_error("btrfs snapshot " + src + " -> " + dst);
  return {};
}

Status delete_subvolume(const std::string& path) {
  auto parts = TRY(split(path));
  auto dir = TRY(open_dir(parts.parent));
  btrfs_ioctl_vol_args args{};
  std::memcpy(args.name, parts.leaf.c_str(), parts.leaf.size());
  if (ioctl(dir.get(), BTRFS_IOC_SNAP_DESTROY, &args) != 0) return sys_error("btrfs subvolume delete " + path);
  return {};
}

}  // namespace sysc::lxcd::btrfs
