// The few btrfs operations sysc storage needs, as ioctls on the filesystem (no btrfs-progs).
#pragma once

#include <string>

#include "common/result.h"

namespace sysc::lxcd::btrfs {

bool is_btrfs(const std::string& path);       // the filesystem holding PATH is btrfs
bool is_subvolume(const std::string& path);   // PATH is the root of a subvolume
Status create_subvolume(const std::string& path);           // PATH must not exist; parent on btrfs
// A snapshot of subvolume SRC at DST: writable, or read-only (BTRFS_SUBVOL_RDONLY) with READONLY.
Status snapshot(const std::string& src, const std::string& dst, bool readonly = false);
Status delete_subvolume(const std::string& path);           // PATH is an (empty or not, read-only or not) subvolume

}  // namespace sysc::lxcd::btrfs
