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

// True when btrfs itself orders a write to the SQLite database DB after the changes already
// made under DIR, so that no fsync has to: DIR and DB are on one btrfs subvolume, whose
// transactions commit in order, and neither DB nor its write-ahead log DB-wal is NOCOW
// (FS_NOCOW_FL: rewritten in place, outside any transaction). What it orders is what the
// transactions hold (a snapshot or a subvolume's rename commits its own); a file's data written
// under DIR without a commit is only as durable as btrfs's commit interval. A file not there yet
// is judged by its directory, whose flag a new file takes.
bool orders_after(const std::string& db, const std::string& dir);

}  // namespace sysc::lxcd::btrfs
