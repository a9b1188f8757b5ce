// Security policy shared by the container's init (sysc-shim) and attached processes (sysc attach):
// capability bounding set drops and the seccomp deny list, compiled before any fork/clone.
#pragma once

#include <linux/filter.h>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/seccomp_profile.h"

namespace sysc::runtime {

struct SecurityPolicy {
  std::vector<int> cap_drop;                // capability numbers removed from the bounding set
  std::vector<SeccompRule> seccomp;         // calls that fail with an errno
};

// Default policy with config adjustments (capability names without "cap_", e.g. "sys_module"),
// and the directives of the seccomp profile file at SECCOMP_PROFILE ("" = none).
Result<SecurityPolicy> make_policy(const std::vector<std::string>& extra_drop,
                                   const std::vector<std::string>& keep,
                                   const std::string& seccomp_profile = "");
std::vector<std::string> cap_names(const std::vector<int>& caps);  // for the API/attach
Result<std::vector<int>> cap_numbers(const std::vector<std::string>& names);

// A compiled seccomp program (BPF), ready to load with prctl in a forked child without allocating.
struct SeccompProgram {
  std::vector<sock_filter> filter;
  sock_fprog prog() { return sock_fprog{static_cast<unsigned short>(filter.size()), filter.data()}; }
};
// On x86_64 every call through the i386 (int 0x80) and x32 ABIs fails with ENOSYS: the filter
// holds only the native architecture, and its bad-architecture action is ENOSYS.
Result<SeccompProgram> compile_seccomp(const SecurityPolicy& policy);

// Async-signal-safe: drop the bounding set, then load the filter. Returns 0 or an errno value;
// *step names what failed ("capability bounding set", "seccomp").
int apply_security_in_child(const SecurityPolicy& policy, sock_fprog* prog, const char** step);

}  // namespace sysc::runtime
