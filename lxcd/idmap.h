// The user namespace side of a container start: its host id range (allocated at its first
// unprivileged start, claimed host-wide in lxcd/idmap_registry.h, kept until destroy) and the ids on disk of its rootfs brought in line with
// how it starts: host root's ids when privileged or idmapped, shifted into the range otherwise.
#pragma once

#include <string>

#include "common/result.h"
#include "db/store.h"
#include "runtime/mount_plan.h"
#include "lxcd/idmap_registry.h"
#include "runtime/userns.h"

namespace sysc::lxcd {

// PRIVILEGED: a disabled IdMap, after shifting back a rootfs that is shifted. Otherwise the
// container's map; idmapped_rootfs when IDMAPPED_MOUNTS allows it and the rootfs's filesystem
// takes them (and the rootfs is not already shifted), else the rootfs is shifted (once). An
// OVERLAY rootfs is never shifted: unprivileged, its layers must take idmapped mounts.
// The range is claimed in REGISTRY (host-wide) before it is recorded in STORE.
Result<runtime::IdMap> prepare_idmap(db::Store& store, IdRegistry& registry, const std::string& name,
                                     const std::string& rootfs, bool privileged, bool idmapped_mounts,
                                     const runtime::OverlayLayers& overlay = {});

// TREE is a copy of CONTAINER's rootfs (or of one of its snapshots' trees) that will not be
// CONTAINER's: its ids go back to host root's where the container's record says they are shifted
// or half-way there or back. Nothing to do for a container without a range.
Status unshift_copy_of(db::Store& store, const std::string& container, const std::string& tree);

}  // namespace sysc::lxcd
