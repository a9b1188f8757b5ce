// The container's filesystem plan: built on the host side, executed in the child before pivot_root.
#pragma once

#include <string>
#include <vector>

#include "runtime/mount_plan.h"

namespace sysc::runtime {

// /proc (sys and sysrq-trigger read-only), read-only /sys, the cgroup view, /dev tmpfs with the
// standard nodes and links, devpts, shm, mqueue, /dev/console bound to console_pty, /run, /run/lock.
// In a user namespace (USERNS) mknod is not allowed: the standard nodes are the host's, bound.
MountPlan base_mount_plan(const std::string& console_pty, const MountPlan& cgroup_mounts, bool userns = false);

// lxcfs's view: each of FILES ("proc/meminfo") bound from below DIR (its mount point on the host)
// over the container's own, read-only. Optional steps: a file lxcfs cannot serve leaves the
// host's value, never a failed start.
MountPlan lxcfs_mount_plan(const std::string& dir, const std::vector<std::string>& files);

// Child side, async-signal-safe: run one step below root_fd (an O_PATH fd of the new root).
// Every path is resolved with openat2(RESOLVE_IN_ROOT), so a symlink planted in the rootfs
// cannot make the step land on the host. Returns 0 or an errno value.
int run_mount_step_in_child(int root_fd, const MountStep& step);

}  // namespace sysc::runtime
