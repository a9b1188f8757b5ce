// Security policy shared by the container's init (sysc-shim) and attached processes (sysc attach):
// capability bounding set drops and the seccomp deny list, compiled before any fork/clone.
#pragma once

#include <linux/filter.h>
#include <string>
#include <vector>

#include "common/result.h"

namespace sysc::runtime {

struct SecurityPolicy {
  std::vector<int> cap_drop;                // capability numbers removed from the bounding set
  std::vector<std::string> seccomp_deny;    // syscall names that fail with EPERM
};

// Default policy with config adjustments (capability names without "cap_", e.g. "sys_module").
Result<SecurityPolicy> make_policy(const std::vector<std::string>& extra_drop,
                                   const std::vector<std::string>& keep);
std::vector<std::string> cap_names(const std::vector<int>& caps);  // for the API/attach
Result<std::vector<int>> cap_numbers(const std::vector<std::string>& names);

// A compiled seccomp program (BPF), ready to load with prctl in a forked child without allocating.
struct SeccompProgram {
  std::vector<sock_filter> filter;
  sock_fprog prog() { return sock_fprog{static_cast<unsigned short>(filter.size()), filter.data()}; }
};
Result<SeccompProgram> compile_seccomp(const SecurityPolicy& policy);

// Async-signal-safe: drop the bounding set, then load the filter. Returns 0 or an errno value;
// *step names what failed ("capability bounding set", "seccomp").
int apply_security_in_child(const SecurityPolicy& policy, sock_fprog* prog, const char** step);

}  // namespace sysc::runtime
