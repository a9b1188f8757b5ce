// Host id ranges and rootfs ownership for unprivileged containers (lxcd side of userns).
#include "lxcd/idmap.h"

#include <cstdio>
#include <mutex>
#include <set>
#include <sys/stat.h>

#include "runtime/idmap.h"

namespace sysc::lxcd {

namespace {

// Whether the filesystem of PATH takes idmapped mounts. A yes is remembered per filesystem for
// the daemon's life (the probe forks a user namespace: it would be on every start's path); a no
// is asked again, with its reason in *WHY.
bool idmapped_mounts_ok(const std::string& path, const runtime::IdMap& map, std::string* why) {
  static std::mutex mu;
  static std::set<dev_t> known;
  struct stat st;
  const bool have_dev = ::stat(path.c_str(), &st) == 0;
  if (have_dev) {
    std::lock_guard lock(mu);
    if (known.count(st.st_dev)) return true;
  }
  if (!runtime::idmapped_mounts_work(path, map, why)) return false;
  if (have_dev) {
    std::lock_guard lock(mu);
    known.insert(st.st_dev);
  }
  return true;
}

// Brings the ids on disk of ROOTFS to TARGET (0 = host root's, or the range's base). The record
// is written before the walk and marked complete after it: an interrupted shift is redone.
Status shift_rootfs(db::Store& store, const db::IdmapRecord& rec, const std::string& rootfs, uint32_t target) {
  if (rec.rootfs_shift == target && rec.shift_complete) return {};
  TRY(store.set_rootfs_shift(rec.container, target, false));
  const uint32_t from = target == 0 ? rec.host_base : 0;
  uint64_t changed = TRY(runtime::shift_tree(rootfs, from, target, rec.size));
  TRY(store.set_rootfs_shift(rec.container, target, true));
  fprintf(stderr, "lxcd: %s: rootfs ids shifted from %u to %u (%llu entries changed)\n", rec.container.c_str(), from,
          target, static_cast<unsigned long long>(changed));
  return {};
}

// NAME's range: the one its record holds, claimed in the host-wide registry (a range another
// root claimed is given up for a new one while no ids on disk are shifted into it), or a new one
// claimed there first and then recorded. A claim whose record never got written is found again.
Result<db::IdmapRecord> claim_range(db::Store& store, IdRegistry& registry, const std::string& name,
                                    const runtime::IdPool& pool) {
  const uint32_t size = runtime::kIdMapSize;
  if (auto rec = TRY(store.idmap(name))) {
    auto held = registry.claim(name, pool.ranges, rec->size, rec->host_base);
    if (held) return *rec;
    if (held.error().code != EEXIST) return std::move(held).error();
    if (rec->rootfs_shift != 0 || !rec->shift_complete)
      return make_error(held.error().message + " as well, and its rootfs ids are shifted into them: destroy one of the two",
                        EEXIST);
    fprintf(stderr, "lxcd: %s: %s: taking a new range\n", name.c_str(), held.error().message.c_str());
    TRY_CTX(store.remove_idmap(name), name);
  }
  RangeClaim c = TRY(registry.claim(name, pool.ranges, size));
  auto rec = store.allocate_idmap(name, {{c.base, c.size}}, size);
  if (!rec) (void)registry.release(name);
  return rec;
}

Result<runtime::IdMap> prepare(db::Store& store, IdRegistry& registry, const std::string& name, const std::string& rootfs,
                               bool privileged, bool idmapped_mounts, const runtime::OverlayLayers& overlay) {
  if (privileged && overlay.enabled()) return runtime::IdMap{};  // an overlay's ids are never shifted
  if (privileged) {
    if (auto rec = TRY(store.idmap(name))) TRY(shift_rootfs(store, *rec, rootfs, 0));
    return runtime::IdMap{};
  }
  runtime::IdPool pool = TRY(runtime::read_id_pool());
  if (pool.is_default) {
    static std::once_flag logged;
    std::call_once(logged, [&] { fprintf(stderr, "lxcd: %s\n", pool.source.c_str()); });
  }
  db::IdmapRecord rec = TRY(claim_range(store, registry, name, pool));
  runtime::IdMap map{rec.host_base, rec.host_base, rec.size, false};
  if (overlay.enabled()) {
    // The image is shared by other containers: its ids cannot be shifted for one of them. Both
    // the image and the container's own layers are seen through idmapped mounts instead.
    std::string why = "idmapped mounts are off in sysc.conf ([security] idmapped_mounts)";
    for (const std::string& path : {overlay.lower, overlay.dir()})
      if (!idmapped_mounts || !idmapped_mounts_ok(path, map, &why))
        return make_error("unprivileged containers on overlay storage need idmapped mounts (" + why +
                              "); use dir or btrfs storage or security.privileged = true",
                          EOPNOTSUPP);
    map.idmapped_rootfs = true;
    return map;
  }
  // A rootfs already shifted into the range stays so while the container is unprivileged.
  const bool shifted = rec.rootfs_shift == rec.host_base && rec.shift_complete;
  std::string why = "idmapped mounts are off in sysc.conf";
  if (!shifted && idmapped_mounts && idmapped_mounts_ok(rootfs, map, &why)) {
    TRY(shift_rootfs(store, rec, rootfs, 0));
    map.idmapped_rootfs = true;
    return map;
  }
  if (!shifted) fprintf(stderr, "lxcd: %s: no idmapped rootfs (%s): shifting its ids on disk\n", name.c_str(), why.c_str());
  TRY(shift_rootfs(store, rec, rootfs, rec.host_base));
  return map;
}

}  // namespace

Result<runtime::IdMap> prepare_idmap(db::Store& store, IdRegistry& registry, const std::string& name,
                                     const std::string& rootfs, bool privileged, bool idmapped_mounts,
                                     const runtime::OverlayLayers& overlay) {
  return prepare(store, registry, name, rootfs, privileged, idmapped_mounts, overlay);
}

Status unshift_copy_of(db::Store& store, const std::string& container, const std::string& tree) {
  auto rec = TRY(store.idmap(container));
  if (!rec || (rec->rootfs_shift == 0 && rec->shift_complete)) return {};
  // Ids on disk are 0.. or host_base.. (a shift either way may have been cut short): base -> 0 fits all.
  uint64_t changed = TRY_CTX(runtime::shift_tree(tree, rec->host_base, 0, rec->size), "unshift the copy of " + container);
  fprintf(stderr, "lxcd: copy of %s: ids shifted from %u back to 0 (%llu entries changed)\n", container.c_str(),
          rec->host_base, static_cast<unsigned long long>(changed));
  return {};
}

}  // namespace sysc::lxcd
