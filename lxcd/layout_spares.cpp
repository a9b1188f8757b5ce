// Spare container directories: see layout_spares.h.
#include "lxcd/layout_spares.h"

#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"

namespace sysc::lxcd {

LayoutSpares::LayoutSpares(std::string containers_dir)
    : dir_(std::move(containers_dir)), refills_("spare container directories", [this](storage::Backend b) { refill(b); }) {}

std::string LayoutSpares::path(const std::string& containers_dir, storage::Backend b) {
  return containers_dir + "/" + kPrefix + storage::to_string(b);
}

bool LayoutSpares::take(storage::Backend b, const std::string& dst) {
  // No lock: the rename is atomic, and never replaces DST (an empty directory would be).
  return ::renameat2(AT_FDCWD, path(dir_, b).c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) == 0;
}

void LayoutSpares::want(storage::Backend b) { refills_.want(b); }

void LayoutSpares::refill(storage::Backend b) {
  const std::string spare = path(dir_, b), tmp = spare + ".tmp";
  struct stat st {};
  if (::lstat(spare.c_str(), &st) == 0) return;  // ready
  (void)remove_tree(tmp);                         // left by a refill that failed mid-way
  Status made = ::mkdir(tmp.c_str(), 0700) == 0 ? storage::lay_out(b, tmp) : sys_error("mkdir " + tmp);
  if (made && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, spare.c_str(), RENAME_NOREPLACE) != 0)
    made = sys_error("rename " + tmp + " to " + spare);
  if (!made) {
    // Creates go on without a spare, each laying out its own directory.
    fprintf(stderr, "lxcd: spare container directory for %s: %s\n", storage::to_string(b), made.error().message.c_str());
    (void)remove_tree(tmp);
  }
}

}  // namespace sysc::lxcd
