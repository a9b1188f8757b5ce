// Spare btrfs snapshots of image copies: see btrfs_spares.h.
#include "lxcd/btrfs_spares.h"

#include <cstdio>
#include <cstring>

#include "lxcd/btrfs.h"

namespace sysc::lxcd {

namespace {
constexpr char kPrefix[] = ".spare-";
constexpr char kTmp[] = ".tmp";
}  // namespace

BtrfsSpares::BtrfsSpares(std::string dir, std::mutex& images_mu)
    : dir_(std::move(dir)), images_mu_(images_mu),
      refills_("spare snapshots", [this](const std::string& id) { refill(id); }) {}

std::string BtrfsSpares::image_of(const std::string& entry, bool* half_made) {
  if (half_made) *half_made = false;
  if (entry.rfind(kPrefix, 0) != 0) return "";
  std::string id = entry.substr(sizeof(kPrefix) - 1);
  if (id.size() > sizeof(kTmp) - 1 && id.compare(id.size() - (sizeof(kTmp) - 1), std::string::npos, kTmp) == 0) {
    id.resize(id.size() - (sizeof(kTmp) - 1));
    if (half_made) *half_made = true;
  }
  return id;
}

bool BtrfsSpares::take(const std::string& image_id, const std::string& dst) {
  // No lock: the rename is atomic; the thread renames a finished snapshot to the name only
  // while it is absent, and remove_unused_images deletes it (a take then finds none).
  std::string spare = dir_ + "/" + kPrefix + image_id;
  return ::rename(spare.c_str(), dst.c_str()) == 0;
}

void BtrfsSpares::want(const std::string& image_id) { refills_.want(image_id); }

void BtrfsSpares::refill(const std::string& image_id) {
  std::lock_guard<std::mutex> g(images_mu_);  // the image's copy stays while it is snapshotted
  std::string image = dir_ + "/" + image_id, spare = dir_ + "/" + kPrefix + image_id, tmp = spare + kTmp;
  if (btrfs::is_subvolume(spare) || !btrfs::is_subvolume(image)) return;  // ready, or the image is gone
  if (btrfs::is_subvolume(tmp)) (void)btrfs::delete_subvolume(tmp);  // left by an lxcd that ended mid-way
  Status st = btrfs::snapshot(image, tmp);
  if (st && ::rename(tmp.c_str(), spare.c_str()) != 0) st = sys_error("rename " + tmp + " to " + spare);
  if (!st) {
    // Creates go on without a spare, each making its own snapshot.
    fprintf(stderr, "lxcd: spare snapshot of image %s: %s\n", image_id.c_str(), st.error().message.c_str());
    if (btrfs::is_subvolume(tmp)) (void)btrfs::delete_subvolume(tmp);
  }
}

}  // namespace sysc::lxcd
