// The host-wide registry of the host id ranges of unprivileged containers, shared by every sysc
// state root on the host (sysc.conf [security] idmap_registry), so that two roots never hand the
// same host ids to their containers. It is the authority on which ranges are taken; each root's
// database keeps the ranges of its own containers and the state of their rootfs ids.
//
// A text file, one claim a line: "BASE SIZE CONTAINER STATE_DIR" (STATE_DIR last: it may hold
// spaces). Every change rereads it and rewrites it whole (atomic rename) under an flock of
// PATH.lock, and first drops the claims of state roots whose database is gone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "db/store.h"
#include "runtime/idmap.h"

namespace sysc::lxcd {

struct RangeClaim {
  uint32_t base = 0;
  uint32_t size = 0;
  std::string container;
  std::string state_dir;
  bool operator==(const RangeClaim&) const = default;
};

// Malformed lines are skipped. Pure.
std::vector<RangeClaim> parse_claims(const std::string& text);
std::string format_claims(const std::vector<RangeClaim>& claims);

class IdRegistry {
 public:
  // STATE_DIR: this root's (made absolute); its database is STATE_DIR/sysc.db.
  IdRegistry(std::string path, const std::string& state_dir);
  const std::string& path() const { return path_; }

  // CONTAINER's range. With WANTED (the base its database records): that range, claimed now if
  // no other claim touches it, else EEXIST naming the holder. Without: its claim if it has one
  // (a claim whose record was never written), else the lowest free slot of SIZE ids in POOL
  // (multiples of SIZE from a pool range's start, never host id 0); ENOSPC when none is left.
  Result<RangeClaim> claim(const std::string& container, const std::vector<runtime::IdRange>& pool, uint32_t size,
                           uint32_t wanted = 0);
  // Drops CONTAINER's claim (none: nothing to do).
  Status release(const std::string& container);
  // At lxcd start: this root's claims become exactly its database's ranges RECORDS. Claims
  // without a record (lxcd stopped between claim and record, or destroy and release) go; a record
  // whose range another root claims is left out and named in the result.
  Result<std::vector<std::string>> reconcile(const std::vector<db::IdmapRecord>& records);

  // Every claim, as the file holds it now (after pruning). For info and tests.
  Result<std::vector<RangeClaim>> claims();

 private:
  std::string path_;
  std::string state_dir_;
};

}  // namespace sysc::lxcd
