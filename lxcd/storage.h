// Storage backends: how a container's root filesystem is laid out on the host, made from an
// image (lxcd/images.h), copied, and removed. The container directory holds:
//   dir      rootfs/                       a full copy (reflinked where the filesystem can)
//   overlay  rootfs/ (empty mount point), overlay/upper/, overlay/work/; the image is the lower layer,
//            mounted by the container's setup inside its own mount namespace only
//   btrfs    rootfs/ as a writable snapshot of the image's subvolume
// and, on every backend, snapshots/ (lxcd/snapshots.h).
#pragma once

#include <string>

#include "common/result.h"
#include "runtime/mount_plan.h"

namespace sysc::lxcd::storage {

enum class Backend { Dir, Overlay, Btrfs };

const char* to_string(Backend b);
Result<Backend> parse(const std::string& s);  // dir | overlay | btrfs
// "auto" (btrfs when STATE_DIR is on btrfs, else dir) or a backend name, checked against the
// host: btrfs needs STATE_DIR on btrfs, overlay needs overlayfs in the kernel.
Result<Backend> choose(const std::string& wanted, const std::string& state_dir);

struct Layout {
  explicit Layout(const std::string& container_dir);
  std::string dir, rootfs, upper, work;
};

// Makes DIR/rootfs (and the overlay dirs) from IMAGE_ROOTFS. For btrfs, IMAGE_ROOTFS must be a
// subvolume on the same filesystem (see images' btrfs copy). DIR exists and is empty.
Status create(Backend b, const std::string& image_rootfs, const std::string& dir);
// The two halves of create: the empty directories backend B needs in the empty DIR (dir and
// overlay: rootfs/, overlay also overlay/upper/ and overlay/work/; btrfs: none, its rootfs is a
// snapshot), made without an image; then DIR/rootfs from IMAGE_ROOTFS in a DIR laid out so.
Status lay_out(Backend b, const std::string& dir);
Status fill(Backend b, const std::string& image_rootfs, const std::string& dir);
// A new container dir DST_DIR (existing, empty) with the same content as the stopped SRC_DIR.
Status copy(Backend b, const std::string& src_dir, const std::string& dst_dir);
// Makes DST (not existing; the parent exists) a tree of backend B from the plain directory TREE on
// the same filesystem: dir renames TREE; btrfs makes a subvolume (read-only with READONLY) with a
// reflinked copy and leaves TREE to the caller. Overlay has no image to stand on: EINVAL.
Status adopt(Backend b, const std::string& tree, const std::string& dst, bool readonly);
// Removes the whole container dir, its snapshots (lxcd/snapshots.h) included.
Status remove(const std::string& dir);
// The overlay rootfs of the container in DIR over the image rootfs LOWER.
runtime::OverlayLayers overlay_layers(const std::string& lower, const std::string& dir);

// The per-container identity every new container (create or copy) must own: /etc/hostname and
// /etc/hosts for NAME; with reset_machine also an empty /etc/machine-id (systemd makes a new one at
// boot) and no SSH host keys. Paths are resolved inside the rootfs (never through its symlinks to
// the host). For overlay the files are written into the upper layer, LOWER is the image rootfs.
Status personalize(Backend b, const std::string& dir, const std::string& lower, const std::string& name,
                   bool reset_machine);

}  // namespace sysc::lxcd::storage
