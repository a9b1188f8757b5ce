// Storage backends (lxcd side, any thread): create from an image, copy, remove, and the
// per-container identity files, written with *at() calls below a root resolved in-root.
#include "lxcd/storage.h"

#include <atomic>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/command.h"
#include "common/fs.h"
#include "common/unique_fd.h"
#include "lxcd/btrfs.h"
#include "lxcd/snapshots.h"

namespace sysc::lxcd::storage {

namespace {

// OPEN `rel` below ROOT_FD; symlinks in the rootfs resolve inside it, never to the host.
int open_in_root(int root_fd, const std::string& rel, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how));
}

Status copy_tree(const std::string& src, const std::string& dst, const std::string& what) {
  // cp -a keeps owners, modes, hard links, xattrs, device nodes and symlinks as they are.
  return run_command({"cp", "-a", "--reflink=auto", "--", src + "/.", dst + "/"}, what);
}

// Writes NAME in DIR_FD as a regular file (replacing a symlink there, never following it).
Status write_at(int dir_fd, const std::string& name, const std::string& content, const std::string& shown) {
  std::string tmp = "." + name + ".sysc-tmp";
  unlinkat(dir_fd, tmp.c_str(), 0);
  UniqueFd fd(openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return sys_error("write " + shown);
  if (!content.empty() && write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    return sys_error("write " + shown);
  if (fchmod(fd.get(), 0644) != 0 || renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) != 0)
    return sys_error("write " + shown);
  return {};
}

// For overlay: the directory REL must exist in the upper layer before files go into it; new
// ones get the owner and mode of the lower layer's directory, as overlayfs' copy-up would.
Status ensure_upper_dir(const std::string& upper, const std::string& lower, const std::string& rel) {
  std::string path;
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t next = rel.find('/', pos);
    if (next == std::string::npos) next = rel.size();
    path += (path.empty() ? "" : "/") + rel.substr(pos, next - pos);
    pos = next + 1;
    struct stat st;
    if (lstat((upper + "/" + path).c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return make_error(upper + "/" + path + ": not a directory (symlink?)", ENOTDIR);
      continue;
    }
    struct stat ls{};
    bool from_lower = lstat((lower + "/" + path).c_str(), &ls) == 0 && S_ISDIR(ls.st_mode);
    std::string target = upper + "/" + path;
    if (mkdir(target.c_str(), from_lower ? (ls.st_mode & 07777) : 0755) != 0) return sys_error("mkdir " + target);
    if (from_lower && (chown(target.c_str(), ls.st_uid, ls.st_gid) != 0 || chmod(target.c_str(), ls.st_mode & 07777) != 0))
      return sys_error("chown " + target);
  }
  return {};
}

std::string hosts_text(const std::string& name) {
  return "127.0.0.1\tlocalhost\n127.0.1.1\t" + name +
         "\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
}

bool is_ssh_host_key(const char* n) { return std::string(n).rfind("ssh_host_", 0) == 0; }

// Removes the SSH host keys in DIR_FD; with LOWER_SSH (overlay), keys only the image has are
// hidden with whiteouts (character device 0/0) in the upper layer.
Status remove_host_keys(int dir_fd, const std::string& lower_ssh) {
  UniqueFd copy(::dup(dir_fd));
  DIR* d = fdopendir(copy.release());
  if (!d) return sys_error("read /etc/ssh");
  while (dirent* e = readdir(d))
    if (is_ssh_host_key(e->d_name) && unlinkat(dir_fd, e->d_name, 0) != 0 && errno != ENOENT) {
      closedir(d);
      return sys_error(std::string("remove /etc/ssh/") + e->d_name);
    }
  closedir(d);
  if (lower_ssh.empty()) return {};
  DIR* l = opendir(lower_ssh.c_str());
  if (!l) return {};
  while (dirent* e = readdir(l))
    if (is_ssh_host_key(e->d_name)) mknodat(dir_fd, e->d_name, S_IFCHR | 0000, makedev(0, 0));
  closedir(l);
  return {};
}

}  // namespace

const char* to_string(Backend b) {
  switch (b) {
    case Backend::Dir: return "dir";
    case Backend::Overlay: return "overlay";
    case Backend::Btrfs: return "btrfs";
  }
  return "dir";
}

Result<Backend> parse(const std::string& s) {
  if (s == "dir") return Backend::Dir;
  if (s == "overlay") return Backend::Overlay;
  if (s == "btrfs") return Backend::Btrfs;
  return make_error("unknown storage backend '" + s + "' (expected dir, overlay or btrfs)", EINVAL);
}

Result<Backend> choose(const std::string& wanted, const std::string& state_dir) {
  if (wanted == "auto" || wanted.empty()) return btrfs::is_btrfs(state_dir) ? Backend::Btrfs : Backend::Dir;
  Backend b = TRY(parse(wanted));
  if (b == Backend::Btrfs && !btrfs::is_btrfs(state_dir))
    return make_error("storage btrfs: " + state_dir + " is not on a btrfs filesystem", EINVAL);
  if (b == Backend::Overlay) {
    // Asked until seen once: a module unloaded since would make the mount at start say so.
    static std::atomic<bool> seen{false};
    if (!seen.load(std::memory_order_relaxed)) {
      auto fs = read_file("/proc/filesystems");
      if (fs && fs->find("\toverlay\n") == std::string::npos)
        return make_error("storage overlay: the kernel has no overlay filesystem (modprobe overlay)", EINVAL);
      if (fs) seen.store(true, std::memory_order_relaxed);
    }
  }
  return b;
}

Layout::Layout(const std::string& container_dir)
    : dir(container_dir), rootfs(container_dir + "/rootfs"), upper(container_dir + "/overlay/upper"),
      work(container_dir + "/overlay/work") {}

Status lay_out(Backend b, const std::string& dir) {
  Layout l(dir);
  if (b == Backend::Btrfs) return {};
  if (::mkdir(l.rootfs.c_str(), 0755) != 0) return sys_error("mkdir " + l.rootfs);
  if (b == Backend::Overlay &&
      (::mkdir((dir + "/overlay").c_str(), 0700) != 0 || ::mkdir(l.upper.c_str(), 0755) != 0 ||
       ::mkdir(l.work.c_str(), 0700) != 0))
    return sys_error("mkdir " + dir + "/overlay");
  return {};
}

Status fill(Backend b, const std::string& image_rootfs, const std::string& dir) {
  Layout l(dir);
  switch (b) {
    case Backend::Dir: return copy_tree(image_rootfs, l.rootfs, "copy the image");
    case Backend::Overlay: return {};
    case Backend::Btrfs: return btrfs::snapshot(image_rootfs, l.rootfs);
  }
  return {};
}

Status create(Backend b, const std::string& image_rootfs, const std::string& dir) {
  TRY(lay_out(b, dir));
  return fill(b, image_rootfs, dir);
}

Status copy(Backend b, const std::string& src_dir, const std::string& dst_dir) {
  Layout s(src_dir), d(dst_dir);
  TRY(lay_out(b, dst_dir));
  switch (b) {
    case Backend::Dir:
      return copy_tree(s.rootfs, d.rootfs, "copy the root filesystem");
    case Backend::Overlay:
      // Same lower layer; the upper layer (whiteouts and opaque-dir xattrs included) is copied.
      return copy_tree(s.upper, d.upper, "copy the upper layer");
    case Backend::Btrfs:
      return btrfs::snapshot(s.rootfs, d.rootfs);
  }
  return {};
}

Status adopt(Backend b, const std::string& tree, const std::string& dst, bool readonly) {
  switch (b) {
    case Backend::Dir:
      if (::rename(tree.c_str(), dst.c_str()) != 0) return sys_error("rename " + tree + " to " + dst);
      return {};
    case Backend::Overlay:
      return make_error("overlay storage needs an image as its lower layer; use dir or btrfs", EINVAL);
    case Backend::Btrfs: {
      std::string target = readonly ? dst + ".tmp" : dst;
      TRY(btrfs::create_subvolume(target));
      Status st = copy_tree(tree, target, "copy " + tree + " into a subvolume");
      if (st && readonly) st = btrfs::snapshot(target, dst, /*readonly=*/true);
      if (readonly || !st) (void)btrfs::delete_subvolume(target);
      return st;
    }
  }
  return {};
}

Status remove(const std::string& dir) {
  Layout l(dir);
  TRY(snapshots::remove_subvolumes(dir));  // read-only btrfs snapshots first (none: nothing to do)
  if (btrfs::is_subvolume(l.rootfs)) TRY(btrfs::delete_subvolume(l.rootfs));
  return remove_tree(dir);
}

runtime::OverlayLayers overlay_layers(const std::string& lower, const std::string& dir) {
  Layout l(dir);
  return {lower, l.upper, l.work};
}

Status personalize(Backend b, const std::string& dir, const std::string& lower, const std::string& name,
                   bool reset_machine) {
  Layout l(dir);
  const bool overlay = b == Backend::Overlay;
  const std::string root = overlay ? l.upper : l.rootfs;
  if (overlay) TRY(ensure_upper_dir(l.upper, lower, "etc"));
  UniqueFd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return sys_error("open " + root);
  UniqueFd etc(open_in_root(root_fd.get(), "etc", O_DIRECTORY | O_RDONLY));
  if (!etc) return sys_error("open /etc in " + root);
  TRY(write_at(etc.get(), "hostname", name + "\n", "/etc/hostname"));
  TRY(write_at(etc.get(), "hosts", hosts_text(name), "/etc/hosts"));
  if (!reset_machine) return {};
  struct stat st;
  bool has_machine_id = fstatat(etc.get(), "machine-id", &st, AT_SYMLINK_NOFOLLOW) == 0 ||
                        (overlay && lstat((lower + "/etc/machine-id").c_str(), &st) == 0);
  if (has_machine_id) TRY(write_at(etc.get(), "machine-id", "", "/etc/machine-id"));
  bool lower_ssh = overlay && lstat((lower + "/etc/ssh").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (lower_ssh) TRY(ensure_upper_dir(l.upper, lower, "etc/ssh"));
  UniqueFd ssh(open_in_root(root_fd.get(), "etc/ssh", O_DIRECTORY | O_RDONLY));
  if (ssh) TRY(remove_host_keys(ssh.get(), lower_ssh ? lower + "/etc/ssh" : ""));
  return {};
}

}  // namespace sysc::lxcd::storage
