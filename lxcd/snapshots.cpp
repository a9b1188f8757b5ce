// Snapshots on disk (lxcd side, any thread; the manager holds the container's lock).
#include "lxcd/snapshots.h"

#include <algorithm>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/command.h"
#include "common/fs.h"
#include "lxcd/btrfs.h"

namespace sysc::lxcd::snapshots {

namespace {

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::string n = e->d_name; n != "." && n != "..") out.push_back(n);
    closedir(d);
  }
  return out;
}

Status copy_tree(const std::string& src, const std::string& dst, const std::string& what) {
  if (::mkdir(dst.c_str(), 0755) != 0) return sys_error(what + ": mkdir " + dst);
  return run_command({"cp", "-a", "--reflink=auto", "--", src + "/.", dst + "/"}, what);
}

// A tree that may be a btrfs subvolume (a snapshot's, or a restore's) or a plain directory.
Status remove_any(const std::string& path) {
  if (btrfs::is_subvolume(path)) TRY(btrfs::delete_subvolume(path));
  return remove_tree(path);
}

// The live tree snapshots are taken of, and where a restore builds its replacement.
std::string live_tree(storage::Backend b, const std::string& dir) {
  storage::Layout l(dir);
  return b == storage::Backend::Overlay ? l.upper : l.rootfs;
}
std::string restore_tree(storage::Backend b, const std::string& dir) {
  return b == storage::Backend::Overlay ? dir + "/overlay/.restore-upper" : dir + "/.restore-rootfs";
}

}  // namespace

std::string dir_of(const std::string& container_dir, const std::string& snap) {
  return container_dir + "/snapshots/" + snap;
}

const char* tree_name(storage::Backend b) { return b == storage::Backend::Overlay ? "upper" : "rootfs"; }

Status take(storage::Backend b, const std::string& dir, const std::string& snap, json meta, const std::string& config) {
  std::string final_dir = dir_of(dir, snap);
  if (path_exists(final_dir)) return make_error("snapshot " + snap + " already exists", EEXIST);
  TRY(mkdir_p(dir + "/snapshots", 0700));
  std::string tmp = dir + "/snapshots/.tmp-" + snap;
  (void)remove_any(tmp + "/" + tree_name(b));
  (void)remove_tree(tmp);
  if (::mkdir(tmp.c_str(), 0700) != 0) return sys_error("mkdir " + tmp);
  auto fail = [&](Error e) {
    (void)remove_any(tmp + "/" + tree_name(b));
    (void)remove_tree(tmp);
    return e;
  };
  std::string tree = tmp + "/" + tree_name(b);
  Status st = b == storage::Backend::Btrfs ? btrfs::snapshot(live_tree(b, dir), tree, /*readonly=*/true)
                                           : copy_tree(live_tree(b, dir), tree, "copy " + live_tree(b, dir));
  if (!st) return fail(std::move(st).error());
  meta["name"] = snap;
  if (auto w = write_file_atomic(tmp + "/config", config, 0644); !w) return fail(std::move(w).error());
  if (auto w = write_file_atomic(tmp + "/snapshot.json", meta.dump(2) + "\n", 0644); !w) return fail(std::move(w).error());
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) return fail(sys_error("rename " + tmp));
  return {};
}

Result<json> read(const std::string& dir, const std::string& snap) {
  auto text = read_file(dir_of(dir, snap) + "/snapshot.json");
  if (!text) {
    if (text.error().code == ENOENT) return make_error("no snapshot named '" + snap + "'", ENOENT);
    return std::move(text).error();
  }
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return make_error("snapshot " + snap + ": unreadable snapshot.json", EIO);
  j["name"] = snap;
  return j;
}

std::vector<json> list(const std::string& dir) {
  std::vector<json> out;
  for (const auto& n : entries(dir + "/snapshots"))
    if (n[0] != '.')
      if (auto j = read(dir, n); j) out.push_back(std::move(*j));
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
    auto ta = a.value("created_at", int64_t{0}), tb = b.value("created_at", int64_t{0});
    return ta != tb ? ta < tb : a.value("name", "") < b.value("name", "");
  });
  return out;
}

Status restore(storage::Backend b, const std::string& dir, const std::string& snap,
               const std::function<Status()>& before_swap) {
  std::string src = dir_of(dir, snap) + "/" + tree_name(b);
  if (!path_exists(src)) return make_error("snapshot " + snap + ": its " + tree_name(b) + " is missing", ENOENT);
  std::string fresh = restore_tree(b, dir), live = live_tree(b, dir);
  TRY(remove_any(fresh));  // left by an interrupted restore
  Status st = b == storage::Backend::Btrfs ? btrfs::snapshot(src, fresh) : copy_tree(src, fresh, "copy snapshot " + snap);
  if (st) st = before_swap();
  if (st && renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, live.c_str(), RENAME_EXCHANGE) != 0)
    st = sys_error("exchange " + fresh + " and " + live);
  if (!st) {
    (void)remove_any(fresh);
    return std::move(st).error();
  }
  // FRESH now names the old tree.
  if (Status r = remove_any(fresh); !r) fprintf(stderr, "lxcd: %s, ignoring\n", r.error().message.c_str());
  if (b == storage::Backend::Overlay) {
    // overlayfs' work dir belongs to the old upper layer: start it empty.
    storage::Layout l(dir);
    (void)remove_tree(l.work);
    if (::mkdir(l.work.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("mkdir " + l.work);
  }
  return {};
}

Status remove(const std::string& dir, const std::string& snap) {
  std::string d = dir_of(dir, snap);
  if (!path_exists(d + "/snapshot.json")) return make_error("no snapshot named '" + snap + "'", ENOENT);
  // Renamed first: a removal cut short never leaves a half snapshot that looks complete.
  std::string trash = dir + "/snapshots/.tmp-rm-" + snap;
  (void)remove_any(trash + "/rootfs");
  (void)remove_tree(trash);
  if (::rename(d.c_str(), trash.c_str()) != 0) return sys_error("remove snapshot " + snap);
  TRY(remove_any(trash + "/rootfs"));
  return remove_tree(trash);
}

Status remove_subvolumes(const std::string& dir) {
  std::vector<std::string> candidates = {dir + "/.restore-rootfs"};
  for (const auto& n : entries(dir + "/snapshots")) candidates.push_back(dir + "/snapshots/" + n + "/rootfs");
  for (const auto& p : candidates)
    if (btrfs::is_subvolume(p)) TRY(btrfs::delete_subvolume(p));
  return {};
}

std::vector<std::string> remove_stale(const std::string& dir) {
  std::vector<std::string> gone;
  std::vector<std::string> candidates = {dir + "/.restore-rootfs", dir + "/overlay/.restore-upper"};
  for (const auto& n : entries(dir + "/snapshots"))
    if (n.rfind(".tmp-", 0) == 0) candidates.push_back(dir + "/snapshots/" + n);
  for (const auto& p : candidates) {
    if (!path_exists(p)) continue;
    (void)remove_any(p + "/rootfs");  // a read-only btrfs snapshot inside a .tmp- dir
    if (remove_any(p)) gone.push_back(p);
  }
  return gone;
}

}  // namespace sysc::lxcd::snapshots
