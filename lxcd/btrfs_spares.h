// A snapshot of each btrfs image copy made ahead, so that a btrfs create renames it into place
// instead of waiting for a snapshot (the ioctl commits a btrfs transaction: ~2 ms on a quiet
// disk, much more on a busy one).
#pragma once

#include <mutex>
#include <string>

#include "lxcd/refill_thread.h"

namespace sysc::lxcd {

// The spare of image ID is the subvolume DIR/.spare-ID, a writable snapshot of DIR/ID (the
// image's btrfs copy, which never changes). It is made as DIR/.spare-ID.tmp and renamed, by a
// thread of its own started with the first want(), holding the images lock so that the image
// cannot go while it is snapshotted. Removing an image's copy removes its spare too (with that
// lock held: Manager::remove_unused_images).
class BtrfsSpares {
 public:
  // Its destruction stops the thread once its snapshot in progress is done (a killed lxcd leaves
  // .tmp, removed later).
  BtrfsSpares(std::string dir, std::mutex& images_mu);
  // Renames the spare of IMAGE_ID to DST (on the same filesystem, not existing yet): true if
  // there was one.
  bool take(const std::string& image_id, const std::string& dst);
  // Makes a spare of IMAGE_ID in the background, unless one is ready. Called once a create has
  // ended: a snapshot's commit beside it would make it wait (its writes join the transaction).
  void want(const std::string& image_id);
  // The image id of a spare's name (".spare-ID", or ".spare-ID.tmp" for one half made: then
  // *HALF_MADE is set), or "" for other names.
  static std::string image_of(const std::string& entry, bool* half_made = nullptr);

 private:
  void refill(const std::string& image_id);
  std::string dir_;
  std::mutex& images_mu_;
  RefillThread<std::string> refills_;  // of image ids; last: stopped before the rest goes
};

}  // namespace sysc::lxcd
