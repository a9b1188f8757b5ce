// Host id ranges and rootfs ownership for unprivileged containers (lxcd side of userns).
#include "lxcd/idmap.h"

#include <cstdio>
#include <mutex>

#include "runtime/idmap.h"

namespace sysc::lxcd {

namespace {

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

Result<runtime::IdMap> prepare(db::Store& store, const std::string& name, const std::string& rootfs, bool privileged,
                               bool idmapped_mounts, const runtime::OverlayLayers& overlay) {
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
  std::vector<db::IdPoolRange> ranges;
  for (const runtime::IdRange& r : pool.ranges) ranges.push_back({r.start, r.count});
  db::IdmapRecord rec = TRY(store.allocate_idmap(name, ranges, runtime::kIdMapSize));
  runtime::IdMap map{rec.host_base, rec.host_base, rec.size, false};
  if (overlay.enabled()) {
    // The image is shared by other containers: its ids cannot be shifted for one of them. Both
    // the image and the container's own layers are seen through idmapped mounts instead.
    const std::string layers = overlay.upper.substr(0, overlay.upper.rfind('/'));
    std::string why = "idmapped mounts are off in sysc.conf ([security] idmapped_mounts)";
    for (const std::string& path : {overlay.lower, layers})
      if (!idmapped_mounts || !runtime::idmapped_mounts_work(path, map, &why))
        return make_error("unprivileged containers on overlay storage need idmapped mounts (" + why +
                              "); use dir or btrfs storage or security.privileged = true",
                          EOPNOTSUPP);
    map.idmapped_rootfs = true;
    return map;
  }
  // A rootfs already shifted into the range stays so while the container is unprivileged.
  const bool shifted = rec.rootfs_shift == rec.host_base && rec.shift_complete;
  std::string why = "idmapped mounts are off in sysc.conf";
  if (!shifted && idmapped_mounts && runtime::idmapped_mounts_work(rootfs, map, &why)) {
    TRY(shift_rootfs(store, rec, rootfs, 0));
    map.idmapped_rootfs = true;
    return map;
  }
  if (!shifted) fprintf(stderr, "lxcd: %s: no idmapped rootfs (%s): shifting its ids on disk\n", name.c_str(), why.c_str());
  TRY(shift_rootfs(store, rec, rootfs, rec.host_base));
  return map;
}

}  // namespace

Result<runtime::IdMap> prepare_idmap(db::Store& store, const std::string& name, const std::string& rootfs,
                                     bool privileged, bool idmapped_mounts, const runtime::OverlayLayers& overlay) {
  return prepare(store, name, rootfs, privileged, idmapped_mounts, overlay);
}

}  // namespace sysc::lxcd
