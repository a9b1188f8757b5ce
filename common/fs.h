// File helpers used on the host side (never in a forked child before exec).
#pragma once

#include <string>
#include <sys/types.h>

#include "common/result.h"

namespace sysc {

Result<std::string> read_file(const std::string& path);
// Write to PATH.tmp.PID, fsync, rename over PATH: readers see the old or the new file, never half.
// durable=false skips the fsync: for run-time files (under /run) that need no crash durability.
Status write_file_atomic(const std::string& path, const std::string& content, mode_t mode = 0644,
                         bool durable = true);
// Write CONTENT over the existing regular file PATH, cut to its length: no new inode (the file
// must exist; not followed if a symlink). Not atomic: for a file no one reads until it is written.
Status write_file_in_place(const std::string& path, const std::string& content);
// fsync of PATH (a file or a directory): on a journaling filesystem this also commits every
// metadata change made before it (new directories, renames), so one call is a write barrier.
Status sync_path(const std::string& path);
// mkdir -p; existing directories are fine.
Status mkdir_p(const std::string& path, mode_t mode = 0755);
// rm -rf that never crosses into another mount: a mount point below PATH is an error (EBUSY),
// so a destroy can never delete through a forgotten bind mount. Missing PATH is success.
Status remove_tree(const std::string& path);
bool path_exists(const std::string& path);

}  // namespace sysc
