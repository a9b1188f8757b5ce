// Snapshots of a container's root filesystem, kept in its own directory (so a destroy removes
// them with it), on the container's storage backend:
//   NAME/snapshots/SNAP/rootfs         dir: a copy of rootfs (reflinked where possible)
//                                      btrfs: a read-only snapshot subvolume of rootfs
//   NAME/snapshots/SNAP/upper          overlay: a copy of the upper layer (the image stays the lower)
//   NAME/snapshots/SNAP/config         the container's config file text when it was taken
//   NAME/snapshots/SNAP/snapshot.json  {"name", "created_at", "storage", "image", "rootfs_shift", ...}
//   NAME/snapshots/.tmp-SNAP           a snapshot being made (renamed to SNAP when complete)
//   NAME/.restore-rootfs, NAME/overlay/.restore-upper   a restore being built beside the live tree
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "lxcd/storage.h"

namespace sysc::lxcd::snapshots {

using nlohmann::json;

std::string dir_of(const std::string& container_dir, const std::string& snap);
// "rootfs" or "upper": the tree a snapshot holds on backend B.
const char* tree_name(storage::Backend b);

// Makes snapshot SNAP of the container in DIR; META (plus "name") is written as snapshot.json and
// CONFIG as its config file. Nothing is left when it fails. EEXIST if SNAP exists.
Status take(storage::Backend b, const std::string& dir, const std::string& snap, json meta, const std::string& config);
// Every complete snapshot's snapshot.json, oldest first.
std::vector<json> list(const std::string& dir);
Result<json> read(const std::string& dir, const std::string& snap);  // ENOENT if there is none
// Replaces the live rootfs (overlay: upper layer) with a copy of SNAP's: the copy is built beside
// it, BEFORE_SWAP runs (an error there leaves everything as it was), then the two are exchanged
// with one renameat2(RENAME_EXCHANGE) and the old tree is removed.
Status restore(storage::Backend b, const std::string& dir, const std::string& snap,
               const std::function<Status()>& before_swap);
Status remove(const std::string& dir, const std::string& snap);
// Deletes the btrfs subvolumes of every snapshot and of interrupted snapshots/restores in DIR
// (remove_tree refuses to cross into a subvolume), so the directory can be removed as a tree.
Status remove_subvolumes(const std::string& dir);
// What a snapshot or restore cut short by a crash left in container dir DIR (snapshots/.tmp-*,
// .restore-* trees): removed at lxcd start, nothing of it was ever visible. Returns what it removed.
std::vector<std::string> remove_stale(const std::string& dir);

}  // namespace sysc::lxcd::snapshots
