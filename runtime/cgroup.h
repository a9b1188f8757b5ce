// Cgroup drivers: one interface, v1 (legacy and hybrid) and v2 implementations, chosen once.
// Call sites never branch on the version. Host side only (lxcd, sysc-shim, sysc attach).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/result.h"
#include "runtime/resource_limits.h"
#include "runtime/mount_plan.h"

namespace sysc::cgroup {

enum class Layout { Legacy, Hybrid, Unified };
const char* to_string(Layout l);  // "legacy", "hybrid", "unified"

// One mounted cgroup hierarchy as seen in /proc/self/mountinfo.
struct Hierarchy {
  std::string mount_point;               // "/sys/fs/cgroup/memory"
  std::vector<std::string> controllers;  // {"memory"}; {"cpu","cpuacct"}; {} for name=systemd and cgroup2
  std::string name;                      // "systemd" for name=systemd, else ""
  bool v2 = false;
};

// Pure parsers (content in, nothing read from disk): cgroup and cgroup2 mounts in a mountinfo text.
std::vector<Hierarchy> parse_mountinfo(const std::string& mountinfo);
// Layout from the hierarchies and whether /sys/fs/cgroup itself is cgroup2.
Layout detect_layout(const std::vector<Hierarchy>& hs, bool sys_fs_cgroup_is_cgroup2);
// /proc/PID/cgroup content -> (hierarchy key, path) pairs; key is "0::" line's "" for v2,
// "name=systemd", or the controller list "cpu,cpuacct".
std::vector<std::pair<std::string, std::string>> parse_proc_cgroup(const std::string& content);

// What `sysc info` shows next to the limits; each field unset where the host cannot tell.
struct LimitStats {
  static constexpr uint64_t kUnlimited = UINT64_MAX;
  std::optional<uint64_t> memory_max;    // bytes, or kUnlimited
  std::optional<uint64_t> pids_current;
  std::optional<uint64_t> pids_max;      // or kUnlimited
  std::optional<uint64_t> oom_kills;     // processes the OOM killer took in REL since it was made
};

// How a new process enters a cgroup without a migration by pid. Writing a pid to cgroup.procs
// takes the kernel's global cgroup threadgroup lock for writing, which waits for an RCU grace
// period (milliseconds, more on a busy host) whenever no other migration ran just before. Two
// ways skip it: clone3(CLONE_INTO_CGROUP) places the child at birth (cgroup2), and a thread
// that writes "0" to a v1 `tasks` file moves only itself (a single-threaded process: all of it).
struct JoinPlan {
  std::string clone_into;               // cgroup2 directory to clone3() into; "" if none
  std::vector<std::string> self_tasks;  // v1 `tasks` files the new process writes "0" to
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual Layout layout() const = 0;
  // Create REL (e.g. "sysc/web1") in every hierarchy, parents included; on v1 cpuset copies
  // cpuset.cpus/mems down from the parent; on v2 enables the parent's available controllers
  // in each new level's subtree_control. Existing is fine.
  virtual Status create(const std::string& rel) = 0;
  // Another driver (lxcd's) has made and set up the levels above REL as create() does: the next
  // create() of REL makes only REL's own level (all of them again if one is missing).
  virtual void parents_ready(const std::string& rel) = 0;
  // The opposite: the next create() of REL makes and sets up every level again.
  virtual void forget_parents(const std::string& rel) = 0;
  // Move PID into REL in every hierarchy.
  virtual Status attach(const std::string& rel, pid_t pid) = 0;
  // How a process about to be cloned enters REL instead (see JoinPlan). Paths only, no I/O.
  virtual JoinPlan join_plan(const std::string& rel) const = 0;
  // Kill every process in REL's subtree, wait (bounded, ~5 s) until it is empty, remove it
  // depth-first in every hierarchy. A missing REL is success. Never touches anything above REL.
  virtual Status destroy(const std::string& rel) = 0;
  virtual bool exists(const std::string& rel) const = 0;
  // Pids in REL (not its children), from the primary hierarchy.
  virtual Result<std::vector<pid_t>> procs(const std::string& rel) const = 0;
  virtual Result<uint64_t> memory_current(const std::string& rel) const = 0;  // bytes
  virtual Result<uint64_t> cpu_usage_ns(const std::string& rel) const = 0;
  // Write the set fields of LIMITS to REL's control files (unset fields write nothing), in an
  // order the kernel accepts from any previous value (v1 memory vs memory+swap). Called after
  // create() and before the init is placed in REL, and on a live `config set`. A limit this
  // hierarchy cannot enforce fails, naming the key: "limits.memory: the memory controller is
  // not available in /sys/fs/cgroup/unified/sysc/web1 ...". Fields before the failing one stay written.
  virtual Status apply_limits(const std::string& rel, const runtime::Limits& limits) = 0;
  virtual LimitStats limit_stats(const std::string& rel) const = 0;
  // Directory of REL in the primary hierarchy (unified if any, else the first v1 one).
  virtual std::string path(const std::string& rel) const = 0;
  // Every directory REL has (one per hierarchy).
  virtual std::vector<std::string> paths(const std::string& rel) const = 0;
  // What the container child mounts at sys/fs/cgroup (targets relative to the rootfs), run
  // after it entered its cgroup namespace: v2 a cgroup2 mount; v1/hybrid a tmpfs with each
  // hierarchy (controllers read-only, name=systemd and the unified one writable), remounted ro.
  virtual runtime::MountPlan container_mounts() const = 0;
};

// Async-signal-safe: lets the calling thread run on every CPU of its cpuset. A process that
// enters a container's cgroups must not keep the CPU mask it inherited (lxcd's or the caller's,
// set by taskset or systemd's CPUAffinity=): since Linux 6.2 a mask set with sched_setaffinity
// also bounds what any later cpuset gives the task and its children. The kernel narrows the
// all-set mask (as wide as its largest CPU count) to the cpuset's CPUs.
void allow_cpuset_cpus();

// Detect from /proc/self/mountinfo and statfs(/sys/fs/cgroup); error if no cgroup is mounted.
// preference: "auto" (by layout), "v1" (error on a cgroup2-only host), "v2" (the cgroup2
// hierarchy alone, also on a hybrid host).
Result<std::unique_ptr<Driver>> make_driver(const std::string& preference = "auto");
// Explicit construction, for tests (fixture trees or the real unified mount of a hybrid host).
std::unique_ptr<Driver> make_v1_driver(std::vector<Hierarchy> hierarchies, Layout layout);
// DEVICE_PROGRAM false: no device program is attached (a hybrid host whose v1 devices controller
// already holds the allowlist: the kernel checks both, the program would only cost a verifier
// run per start).
std::unique_ptr<Driver> make_v2_driver(const std::string& mount_point, bool device_program = true);

}  // namespace sysc::cgroup
