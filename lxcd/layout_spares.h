// Container directories laid out ahead of the next create, one per storage backend: an empty
// ROOT/var/lib/sysc/containers/.spare-BACKEND with what storage::lay_out makes in it (dir:
// rootfs/; overlay: rootfs/, overlay/upper/, overlay/work/; btrfs: nothing). A create renames
// the spare to the container's name instead of making those directories: each mkdir allocates an
// inode, which on a journaling filesystem costs 0.1-0.2 ms on this kind of host (an overlay
// create made five of them). The next spare is made in the background once a create has ended.
// Spares are made as .spare-BACKEND.tmp and renamed when complete, so a create only ever takes
// a whole one. lxcd removes every spare (and .tmp) it finds when it starts: it lays out its own.
#pragma once

#include <string>

#include "lxcd/refill_thread.h"
#include "lxcd/storage.h"

namespace sysc::lxcd {

class LayoutSpares {
 public:
  static constexpr const char* kPrefix = ".spare-";  // of every spare's name, .tmp ones too
  // Its destruction stops the thread (a spare half made stays as .tmp, removed at the next start).
  explicit LayoutSpares(std::string containers_dir);
  // Renames the spare of backend B to DST (not existing; the parent is containers_dir): true if
  // there was one, and DST is then laid out for B.
  bool take(storage::Backend b, const std::string& dst);
  // Makes a spare of backend B in the background, unless one is ready.
  void want(storage::Backend b);
  // The spare of backend B: CONTAINERS_DIR/.spare-B.
  static std::string path(const std::string& containers_dir, storage::Backend b);

 private:
  void refill(storage::Backend b);
  std::string dir_;
  RefillThread<storage::Backend> refills_;  // last: stopped before the rest goes
};

}  // namespace sysc::lxcd
