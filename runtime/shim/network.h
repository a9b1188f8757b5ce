// The container's network interfaces, made by sysc-shim between clone and sync 1: veth pairs on
// the bridge, peers moved into the child's netns and configured there (name, address, route).
#pragma once

#include <sys/types.h>
#include <vector>

#include "common/result.h"
#include "runtime/spec.h"

namespace sysc::shim {

// On failure every host-side link made so far is deleted again.
Status setup_nics(const std::vector<runtime::NicSpec>& nics, pid_t child);
// Deletes the host sides (normally gone with the netns already); missing is fine.
void remove_nics(const std::vector<runtime::NicSpec>& nics);

}  // namespace sysc::shim
