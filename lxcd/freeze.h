// Freezing a container's processes for the time of a copy (a consistent snapshot of a running
// dir/overlay container): cgroup2's cgroup.freeze, or the v1 freezer controller.
#pragma once

#include <string>
#include <vector>

namespace sysc::lxcd {

class CgroupFreeze {
 public:
  // Freezes the first of the container's cgroup directories DIRS (one per hierarchy) that can
  // freeze, waiting up to TIMEOUT_MS for every task to be frozen; frozen() says whether it worked.
  CgroupFreeze(const std::vector<std::string>& dirs, int timeout_ms);
  ~CgroupFreeze();  // thaws
  CgroupFreeze(const CgroupFreeze&) = delete;
  CgroupFreeze& operator=(const CgroupFreeze&) = delete;
  bool frozen() const { return !thaw_file_.empty(); }

 private:
  std::string thaw_file_, thaw_value_;
};

}  // namespace sysc::lxcd
