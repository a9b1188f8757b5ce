// The child's plan made from a runtime spec: host side, in the supervisor before clone.
#pragma once

#include <string>

#include "common/result.h"
#include "runtime/child.h"
#include "runtime/mount_plan.h"
#include "runtime/spec.h"

namespace sysc::runtime {

// Everything the child will read, resolved now: no parsing after clone. CGROUP_MOUNTS: what the
// cgroup driver mounts in the container (cgroup::Driver::container_mounts); CONSOLE_PTY: the
// console's slave, bound onto /dev/console. The seccomp program is the spec's, compiled by
// lxcd, or compiled here from the spec's rules when the spec has none (an older lxcd's).
Result<ChildPlan> make_child_plan(const RuntimeSpec& spec, const MountPlan& cgroup_mounts,
                                  const std::string& console_pty);

}  // namespace sysc::runtime
