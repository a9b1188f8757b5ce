// Starting a container from the supervisor (sysc-shim): clone3 into new namespaces, place the
// child in its cgroups, run the numbered sync protocol, and report {step, errno} failures.
#pragma once

#include <functional>
#include <string>
#include <sys/types.h>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/cgroup.h"
#include "runtime/child.h"

namespace sysc::runtime {

struct StartedInit {
  pid_t pid = 0;
  UniqueFd pidfd;
};

// On failure the half-started child is killed and reaped and the cgroup removed; the message is
// "start failed at <step>[ <detail>]: <strerror>".
// LIMITS are written to the cgroup right after it is made, before the child is placed in it:
// init never runs unlimited, not even for a moment.
// parent_setup runs between the cgroup placement and sync 1, with the child's host pid (its
// network namespace exists, its init has not run): the veth pairs are made there.
Result<StartedInit> start_container(const ChildPlan& plan, cgroup::Driver& cg, const std::string& cgroup_rel,
                                    const Limits& limits,
                                    const std::function<Status(pid_t)>& parent_setup = nullptr);

}  // namespace sysc::runtime
