// sysc attach: run a command inside a running container, on the caller's side (like lxc-attach).
// Joins all namespaces and the cgroups of the container's init, applies the container's capability
// bounding set and seccomp filter, clean environment, cwd /. Runs in the single-threaded CLI.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/result.h"
#include "runtime/security.h"

namespace sysc::runtime {

namespace attach_detail {

// Where the init's cgroups are (paths in this mount namespace): for each hierarchy listed in the
// init's /proc/PID/cgroup that is mounted in `mountinfo` (this process's), through the mount
// whose root is closest above the init's path. A process joins them without a migration by pid
// (see cgroup::JoinPlan): cloned into the cgroup2 directory, "0" written to each v1 tasks file.
struct CgroupJoin {
  std::string clone_into;          // the cgroup2 directory, "" if none is mounted
  std::vector<std::string> tasks;  // DIR/tasks of each v1 hierarchy
  bool operator==(const CgroupJoin&) const = default;
};
// Pure: content in.
CgroupJoin cgroup_join_paths(const std::string& mountinfo, const std::string& proc_cgroup);

}  // namespace attach_detail

struct AttachSpec {
  std::string name;                // container name, for messages
  pid_t init_pid = 0;              // host pid of the container's init
  std::vector<std::string> argv;   // empty: root's shell from the container's /etc/passwd, else /bin/sh
  std::vector<std::string> env;    // "KEY=VALUE" from the container config (container=sysc, ...)
  SecurityPolicy security;         // same policy the container's init got
  std::vector<sock_filter> seccomp_filter;  // that policy's program, compiled by lxcd; empty: compiled here
  // The init's cgroups as lxcd found them (given only when this process shares lxcd's mount
  // namespace, where the paths are); none: found here from /proc.
  std::optional<attach_detail::CgroupJoin> cgroups;
  enum class Tty { Auto, Always, Never } tty = Tty::Auto;  // Auto: a pty when stdin and stdout are ttys
};

// Runs the command and returns the exit code to propagate: its status, or 128+N when killed by
// signal N. Errors name the container and the step ("web1: attach: setns: ...").
Result<int> attach_run(const AttachSpec& spec);

}  // namespace sysc::runtime
