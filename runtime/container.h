// Starting a container from the supervisor (sysc-shim): clone3 into new namespaces, place the
// child in its cgroups, run the numbered sync protocol, and report {step, errno} failures.
#pragma once

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
Result<StartedInit> start_container(const ChildPlan& plan, cgroup::Driver& cg, const std::string& cgroup_rel);

}  // namespace sysc::runtime
