// Who may use lxcd's socket: root, and the members of an optional group ([daemon] socket_group
// of sysc.conf). Pure decision, for the server's peer check and unit tests.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace sysc::lxcd {

struct SocketGroup {
  gid_t gid = 0;
  std::string name;
};

// UID/GID and the supplementary GROUPS of the peer, as the kernel recorded them at connect.
inline bool access_allowed(uid_t uid, gid_t gid, const std::vector<gid_t>& groups,
                           const std::optional<SocketGroup>& allowed) {
  if (uid == 0) return true;
  if (!allowed) return false;
  return gid == allowed->gid || std::find(groups.begin(), groups.end(), allowed->gid) != groups.end();
}

}  // namespace sysc::lxcd
