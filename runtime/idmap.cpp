// Host id pools (/etc/subuid, /etc/subgid) and the chown shift of a root filesystem between
// host root's ids and a container's range (for filesystems without idmapped mounts). Host side.
#include "runtime/idmap.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/unique_fd.h"
#include "runtime/userns.h"

namespace sysc::runtime {

namespace {

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  *out = std::stoull(s);
  return true;
}

}  // namespace

std::vector<IdRange> parse_subid(const std::string& content, const std::string& user, uint64_t uid) {
  std::vector<IdRange> out;
  std::istringstream in(content);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t c1 = line.find(':'), c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    const std::string who = line.substr(0, c1);
    uint64_t who_id = 0, start = 0, count = 0;
    if (who != user && !(parse_u64(who, &who_id) && who_id == uid)) continue;
    std::string count_text = line.substr(c2 + 1);
    while (!count_text.empty() && (count_text.back() == '\r' || count_text.back() == ' ')) count_text.pop_back();
    if (!parse_u64(line.substr(c1 + 1, c2 - c1 - 1), &start) || !parse_u64(count_text, &count) || count == 0) continue;
    if (start + count > (uint64_t{1} << 32) - 1) continue;  // beyond the 32-bit id space (-1 is invalid)
    out.push_back({start, count});
  }
  return out;
}

std::vector<IdRange> intersect_ranges(const std::vector<IdRange>& a, const std::vector<IdRange>& b) {
  std::vector<IdRange> out;
  for (const IdRange& x : a)
    for (const IdRange& y : b) {
      uint64_t lo = std::max(x.start, y.start), hi = std::min(x.end(), y.end());
      if (lo < hi) out.push_back({lo, hi - lo});
    }
  std::sort(out.begin(), out.end(), [](const IdRange& l, const IdRange& r) { return l.start < r.start; });
  // Merge overlaps (overlapping entries in one file).
  std::vector<IdRange> merged;
  for (const IdRange& r : out) {
    if (!merged.empty() && r.start <= merged.back().end()) {
      merged.back().count = std::max(merged.back().end(), r.end()) - merged.back().start;
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

Result<IdPool> read_id_pool(const std::string& subuid, const std::string& subgid) {
  auto ranges_of = [](const std::string& path) -> Result<std::vector<IdRange>> {
    auto text = read_file(path);
    if (!text) {
      if (text.error().code == ENOENT) return std::vector<IdRange>{};
      return std::move(text).error();
    }
    return parse_subid(*text, "root", 0);
  };
  std::vector<IdRange> uids = TRY(ranges_of(subuid)), gids = TRY(ranges_of(subgid));
  IdPool pool;
  if (uids.empty() && gids.empty()) {
    pool.ranges = {kDefaultIdPool};
    pool.is_default = true;
    pool.source = "root has no entries in " + subuid + " and " + subgid + "; using the default host ids " +
                  std::to_string(kDefaultIdPool.start) + "-" + std::to_string(kDefaultIdPool.end() - 1);
    return pool;
  }
  // A file without entries for root contributes the default range.
  if (uids.empty()) uids = {kDefaultIdPool};
  if (gids.empty()) gids = {kDefaultIdPool};
  pool.ranges = intersect_ranges(uids, gids);
  pool.source = "root's entries in " + subuid + " and " + subgid;
  uint64_t largest = 0;
  for (const IdRange& r : pool.ranges) largest = std::max(largest, r.count);
  if (largest < kIdMapSize)
    return make_error("no range of " + std::to_string(kIdMapSize) + " ids is in both " + subuid + " and " + subgid +
                          " for root: add e.g. 'root:1000000:1000000000' to both",
                      ENOSPC);
  return pool;
}

// ---- the shift ----
namespace {

constexpr uint16_t kAclUser = 0x02, kAclGroup = 0x08;
constexpr uint32_t kAclVersion = 2;

struct Shift {
  uint32_t from, to, count;
  uint64_t changed = 0;
  uint32_t map(uint32_t id) const { return id >= from && id - from < count ? id - from + to : id; }
};

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// posix_acl_xattr: a 4-byte version header, then 8-byte entries {tag, perm, id}.
Status shift_acl(const std::string& path, const char* name, const Shift& s) {
  char buf[8192];
  ssize_t n = getxattr(path.c_str(), name, buf, sizeof buf);
  if (n < 0) {
    if (errno == ENODATA || errno == EOPNOTSUPP) return {};
    return sys_error(std::string("read ") + name);
  }
  if (n < 4 || (n - 4) % 8 != 0) return {};
  uint32_t version;
  memcpy(&version, buf, 4);
  if (le32toh(version) != kAclVersion) return {};
  bool changed = false;
  for (ssize_t off = 4; off < n; off += 8) {
    uint16_t tag;
    uint32_t id;
    memcpy(&tag, buf + off, 2);
    memcpy(&id, buf + off + 4, 4);
    tag = le16toh(tag);
    if (tag != kAclUser && tag != kAclGroup) continue;
    uint32_t mapped = s.map(le32toh(id));
    if (mapped == le32toh(id)) continue;
    id = htole32(mapped);
    memcpy(buf + off + 4, &id, 4);
    changed = true;
  }
  if (changed && setxattr(path.c_str(), name, buf, static_cast<size_t>(n), 0) != 0)
    return sys_error(std::string("write ") + name);
  return {};
}

// File capabilities name the uid that is root for them: v2 = host root, v3 = a root id.
struct FileCaps {
  bool present = false;
  vfs_ns_cap_data data{};
  uint32_t rootid = 0;
};

Result<FileCaps> read_caps(const std::string& path) {
  FileCaps c;
  ssize_t n = getxattr(path.c_str(), "security.capability", &c.data, sizeof c.data);
  if (n < 0) {
    if (errno == ENODATA || errno == EOPNOTSUPP) return c;
    return sys_error("read security.capability");
  }
  uint32_t rev = le32toh(c.data.magic_etc) & VFS_CAP_REVISION_MASK;
  if ((rev == VFS_CAP_REVISION_2 && n == XATTR_CAPS_SZ_2) || (rev == VFS_CAP_REVISION_3 && n == XATTR_CAPS_SZ_3)) {
    c.present = true;
    c.rootid = rev == VFS_CAP_REVISION_3 ? le32toh(c.data.rootid) : 0;
  }
  return c;  // v1 or malformed: left as the kernel has it
}

Status write_caps(const std::string& path, FileCaps c, uint32_t rootid) {
  uint32_t flags = le32toh(c.data.magic_etc) & VFS_CAP_FLAGS_EFFECTIVE;
  size_t size = XATTR_CAPS_SZ_2;
  if (rootid == 0) {
    c.data.magic_etc = htole32(VFS_CAP_REVISION_2 | flags);
  } else {
    c.data.magic_etc = htole32(VFS_CAP_REVISION_3 | flags);
    c.data.rootid = htole32(rootid);
    size = XATTR_CAPS_SZ_3;
  }
  if (setxattr(path.c_str(), "security.capability", &c.data, size, 0) != 0) return sys_error("write security.capability");
  return {};
}

Status shift_entry(int dirfd, const char* name, const struct stat& st, Shift& s) {
  const uint32_t uid = s.map(st.st_uid), gid = s.map(st.st_gid);
  const bool owner = uid != st.st_uid || gid != st.st_gid;
  if (S_ISLNK(st.st_mode)) {
    if (owner && fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) return sys_error("lchown");
    s.changed += owner;
    return {};
  }
  // Every later step goes through this fd: a name swapped meanwhile cannot redirect it.
  UniqueFd fd(openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sys_error("open");
  const std::string path = fd_path(fd.get());
  FileCaps caps;
  if (S_ISREG(st.st_mode)) caps = TRY(read_caps(path));
  if (owner) {
    if (fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH) != 0) return sys_error("chown");
    // chown clears set-user-ID and set-group-ID (and the file capabilities): put them back.
    if ((st.st_mode & 07000) && chmod(path.c_str(), st.st_mode & 07777) != 0) return sys_error("chmod");
    ++s.changed;
  }
  if (caps.present) {
    uint32_t rootid = s.map(caps.rootid);
    if (owner || rootid != caps.rootid) TRY(write_caps(path, caps, rootid));
  }
  TRY(shift_acl(path, "system.posix_acl_access", s));
  if (S_ISDIR(st.st_mode)) TRY(shift_acl(path, "system.posix_acl_default", s));
  return {};
}

Status walk(int dirfd, const std::string& where, dev_t dev, Shift& s, int depth) {
  if (depth > 4096) return make_error(where + ": directory tree too deep", ELOOP);
  std::vector<std::string> names;
  {
    int copy = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return sys_error("dup " + where);
    DIR* d = fdopendir(copy);
    if (!d) {
      close(copy);
      return sys_error("opendir " + where);
    }
    while (dirent* de = readdir(d))
      if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) names.emplace_back(de->d_name);
    closedir(d);
  }
  for (const std::string& name : names) {
    const std::string path = where + "/" + name;
    struct stat st;
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return sys_error("stat " + path);
    }
    if (st.st_dev != dev) continue;  // another filesystem mounted below: not ours to change
    TRY_CTX(shift_entry(dirfd, name.c_str(), st, s), path);
    if (!S_ISDIR(st.st_mode)) continue;
    UniqueFd sub(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return sys_error("open " + path);
    TRY(walk(sub.get(), path, dev, s, depth + 1));
  }
  return {};
}

}  // namespace

Result<uint64_t> shift_tree(const std::string& root, uint32_t from, uint32_t to, uint32_t count) {
  const std::string what = "shift ids of " + root + " from " + std::to_string(from) + " to " + std::to_string(to);
  if (from == to) return uint64_t{0};
  if ((from < to ? to - from : from - to) < count)
    return make_error(what + ": the ranges overlap", EINVAL);
  Shift s{from, to, count};
  UniqueFd top(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!top) return sys_error(what + ": open");
  struct stat st;
  if (fstat(top.get(), &st) != 0) return sys_error(what + ": stat");
  // The top directory itself, through its parent-less fd.
  TRY_CTX(shift_entry(top.get(), ".", st, s), what);
  TRY_CTX(walk(top.get(), root, st.st_dev, s, 0), what);
  return s.changed;
}

}  // namespace sysc::runtime
