// Host id ranges for unprivileged containers: the pool (root's /etc/subuid and /etc/subgid
// entries) and the chown shift of a root filesystem into and out of a container's range, for
// filesystems without idmapped mounts. Host side only (lxcd).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace sysc::runtime {

struct IdRange {
  uint64_t start = 0;
  uint64_t count = 0;
  uint64_t end() const { return start + count; }
  bool operator==(const IdRange&) const = default;
};

// Without entries for root in /etc/subuid and /etc/subgid: host ids 1000000 to 1999999999, as
// Incus does.
inline constexpr IdRange kDefaultIdPool{1000000, 1000000000};

// The ranges of USER (also given by its numeric id UID) in a subuid/subgid file's CONTENT
// ("root:100000:65536" lines). Malformed lines and zero counts are skipped. Pure.
std::vector<IdRange> parse_subid(const std::string& content, const std::string& user, uint64_t uid);
// The ids both lists contain, sorted. Pure.
std::vector<IdRange> intersect_ranges(const std::vector<IdRange>& a, const std::vector<IdRange>& b);

struct IdPool {
  std::vector<IdRange> ranges;  // where container ranges are allocated
  bool is_default = false;      // root had no usable entries: kDefaultIdPool
  std::string source;           // for the log: "/etc/subuid and /etc/subgid" or why the default
};
// Root's ranges present in both SUBUID and SUBGID (files; missing = no entries), or the default
// when there are none. A pool with fewer than 65536 common ids is an error naming the files.
Result<IdPool> read_id_pool(const std::string& subuid = "/etc/subuid", const std::string& subgid = "/etc/subgid");

// Moves every uid and gid of the tree under ROOT that lies in [FROM, FROM+COUNT) to the same
// offset in [TO, TO+COUNT); other ids are left alone, so running it twice (or again after an
// interruption) does no harm. Numeric; symlinks are changed themselves (never followed), other
// filesystems below ROOT are not entered. Keeps modes (set-id bits, which chown clears), shifts
// the ids in POSIX ACLs, and rewrites file capabilities for the new owner of uid 0 (v3 with a
// root id inside a range, v2 when shifted back to 0). Returns how many entries changed.
Result<uint64_t> shift_tree(const std::string& root, uint32_t from, uint32_t to, uint32_t count);

}  // namespace sysc::runtime
