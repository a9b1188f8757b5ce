// User namespaces of unprivileged containers (security.privileged = false): the id map, writing
// it for a cloned child, idmapped mounts of the root filesystem and the cgroup delegation to the
// container's root. Host side only (lxcd, sysc-shim).
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sysc::runtime {

// Ids per container: 0..65535 inside map to host_uid..host_uid+65535 (gids alike).
inline constexpr uint32_t kIdMapSize = 65536;

struct IdMap {
  uint32_t host_uid = 0;  // what uid 0 inside is on the host
  uint32_t host_gid = 0;
  uint32_t count = 0;     // 0: no user namespace (a privileged container)
  // true: the rootfs is seen through an idmapped mount (the files on disk keep ids 0..65535);
  // false: the ids on disk are already shifted into the range (chown fallback).
  bool idmapped_rootfs = false;
  bool enabled() const { return count != 0; }
};

// "0 HOST COUNT\n": the uid_map / gid_map line.
std::string map_line(uint32_t host, uint32_t count);
// Writes /proc/PID/uid_map and gid_map (the writer is root of the parent namespace, so
// setgroups(2) stays allowed inside: systemd and login need it).
Status write_id_maps(pid_t pid, const IdMap& map);

// A user namespace with MAP, held open by a short-lived child (reaped before returning).
Result<UniqueFd> make_userns(const IdMap& map);
// A detached clone of PATH (open_tree OPEN_TREE_CLONE) idmapped to USERNS_FD: the container's
// root filesystem, ready to be attached with move_mount in the container's mount namespace.
Result<UniqueFd> idmapped_tree(const std::string& path, int userns_fd);
// Whether the filesystem under PATH takes idmapped mounts (tried on a throwaway user namespace
// with MAP). false with the reason in *why.
bool idmapped_mounts_work(const std::string& path, const IdMap& map, std::string* why);

// The files of a cgroup directory its owner needs to manage its subtree (with the directory),
// on a cgroup2 or a v1 hierarchy.
const std::vector<std::string>& delegated_cgroup_files(bool v2);
// chown every directory in DIRS, and the delegated files in it that exist, to UID:GID.
Status delegate_cgroup(const std::vector<std::string>& dirs, uid_t uid, gid_t gid);

}  // namespace sysc::runtime
