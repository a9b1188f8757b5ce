// Private helpers shared by the cgroup v1 and v2 drivers: REL checks, control-file I/O,
// subtree walks and process killing. Host side only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/result.h"

namespace sysc::cgroup::detail {

using Clock = std::chrono::steady_clock;
// How long destroy() waits in total for a cgroup to empty and be removed.
inline constexpr std::chrono::milliseconds kDestroyTimeout{5000};
// Poll interval while waiting for processes to exit.
inline constexpr std::chrono::milliseconds kPollInterval{10};

// REL must be relative, non-empty, without "", "." or ".." components: destroy("") or
// destroy("..") would otherwise reach cgroups we do not own.
Status check_rel(const std::string& rel);
// "a/b/c" -> {"a", "a/b", "a/b/c"}.
std::vector<std::string> rel_levels(const std::string& rel);
std::string join(const std::string& dir, const std::string& rel);
std::string basename_of(const std::string& path);

// Whole control file, whitespace-trimmed at both ends.
Result<std::string> read_trimmed(const std::string& path);
// Write VALUE to an existing control file (never creates one: cgroupfs files come from the kernel).
Status write_control(const std::string& path, const std::string& value);
// mkdir; an existing directory is fine.
Status make_dir(const std::string& path);

// Rollback guard for create(): the directories one call made, removed again (deepest first)
// when the guard dies without commit(). Directories that already existed are never listed, so
// a failed start cannot remove a level another container uses; a level that meanwhile got a
// child (a concurrent start) fails rmdir with EBUSY and is left alone.
class CreatedDirs {
 public:
  CreatedDirs() = default;
  CreatedDirs(const CreatedDirs&) = delete;
  CreatedDirs& operator=(const CreatedDirs&) = delete;
  ~CreatedDirs();
  // mkdir PATH; true if this call created it, false if it already existed.
  Result<bool> make(const std::string& path);
  bool created(const std::string& path) const;
  void commit() { dirs_.clear(); }

 private:
  std::vector<std::string> dirs_;
};
bool is_dir(const std::string& path);

// The levels above containers (the one holding them and those over it) that a driver has made
// and set up in this process: a later create() below one makes only the container's own level.
// The driver forgets one when a create below it fails with ENOENT (it was removed meanwhile).
// Safe to use from several threads.
class ReadyParents {
 public:
  bool has(const std::string& rel) const;
  void add(const std::string& rel);
  void forget(const std::string& rel);

 private:
  mutable std::mutex mu_;
  std::vector<std::string> ready_;
};
// create() of REL through READY: CREATE_LEVELS(levels, first) makes levels[first..] of
// rel_levels(REL); only the last one when the levels above are ready, all of them otherwise
// (and again after an ENOENT: a ready level was removed meanwhile), after which they are.
Status create_through(ReadyParents& ready, const std::string& rel,
                      const std::function<Status(const std::vector<std::string>&, size_t)>& create_levels);
// The level holding REL's own ("a/b/c" -> "a/b"), "" for a top-level REL.
std::string parent_rel(const std::string& rel);

// PATH is on a cgroup2 filesystem (statfs magic), as opposed to e.g. a test's fake tree.
bool is_cgroup2_fs(const std::string& path);

Result<uint64_t> parse_u64(const std::string& text, const std::string& what);
// "usage_usec N" line of cpu.stat, in nanoseconds.
Result<uint64_t> parse_cpu_stat_usage_ns(const std::string& content, const std::string& what);

// ---- limits (both drivers) ----
// "KEY: the CONTROLLER controller is not available WHERE" (EOPNOTSUPP).
Error limit_unavailable(const char* key, const std::string& controller, const std::string& where);
// Write VALUE to DIR/FILE for KEY. A missing FILE is "KEY: DIR has no FILE (MISSING_WHY)";
// a refused write is "KEY: write 'VALUE' to DIR/FILE: strerror".
Status write_limit(const char* key, const std::string& dir, const std::string& file, const std::string& value,
                   const std::string& missing_why);
// The number after KEY in a "key value" per line file (memory.events, memory.oom_control,
// pids.events): "oom_kill 3" -> 3. nullopt if absent or not a number.
std::optional<uint64_t> parse_keyed_u64(const std::string& content, const std::string& key);
// A limit file's value: "max" (v2), or a number; v1's "unlimited" (>= 2^62, page-rounded
// LLONG_MAX) is LimitStats::kUnlimited too.
std::optional<uint64_t> parse_limit_value(const std::string& text);
// Reads DIR/FILE through parse_limit_value / parse_u64 / parse_keyed_u64; nullopt on any error.
std::optional<uint64_t> read_limit_value(const std::string& dir, const std::string& file);
std::optional<uint64_t> read_u64_file(const std::string& dir, const std::string& file);
std::optional<uint64_t> read_keyed_u64(const std::string& dir, const std::string& file, const std::string& key);

// Pids listed in DIR/cgroup.procs; a vanished DIR reads as empty.
Result<std::vector<pid_t>> read_procs(const std::string& dir);
// DIR and every directory below it, parents before children. A missing DIR gives {}.
std::vector<std::string> subtree_dirs(const std::string& dir);
// Pids in DIR's whole subtree.
std::vector<pid_t> subtree_procs(const std::string& dir);
// SIGKILL every pid listed in DIR/cgroup.procs (never pid 1 or the caller) through a pidfd,
// and only if the pid is still listed after the pidfd was opened: a pid that exited and was
// reused by a host process between the read and the signal is then not listed and is skipped.
// Returns how many were signalled.
size_t kill_listed(const std::string& dir);
// kill_listed on DIR and every directory below it.
size_t kill_subtree(const std::string& dir);
// rmdir DIR's subtree, children first; EBUSY is retried until DEADLINE. Missing is success.
Status remove_subtree(const std::string& dir, Clock::time_point deadline);
void sleep_poll();

}  // namespace sysc::cgroup::detail
