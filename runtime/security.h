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
  bool allow_compat = false;                // 32-bit ABIs pass the filter, under the same rules
};

// Default policy with config adjustments (capability names without "cap_", e.g. "sys_module"),
// the directives of the seccomp profile file at SECCOMP_PROFILE ("" = none) and whether 32-bit
// calls are let through (security.syscalls.allow_compat).
Result<SecurityPolicy> make_policy(const std::vector<std::string>& extra_drop,
                                   const std::vector<std::string>& keep,
                                   const std::string& seccomp_profile = "", bool allow_compat = false);
std::vector<std::string> cap_names(const std::vector<int>& caps);  // for the API/attach
Result<std::vector<int>> cap_numbers(const std::vector<std::string>& names);

// A compiled seccomp program (BPF), ready to load with prctl in a forked child without allocating.
struct SeccompProgram {
  std::vector<sock_filter> filter;
  sock_fprog prog() { return sock_fprog{static_cast<unsigned short>(filter.size()), filter.data()}; }
};
// On x86_64 every call through the i386 (int 0x80) and x32 ABIs fails with ENOSYS: the filter
// holds only the native architecture, and its bad-architecture action is ENOSYS. With
// policy.allow_compat the filter holds i386 and x32 as well, each with the same rules (a rule
// for a call an ABI lacks, like kexec_file_load on i386, has nothing to match there).
Result<SeccompProgram> compile_seccomp(const SecurityPolicy& policy);
// POLICY's program: COMPILED when it is not empty (lxcd compiled POLICY already and sent it
// along), else compiled here.
Result<SeccompProgram> seccomp_program(const SecurityPolicy& policy, const std::vector<sock_filter>& compiled);
// libseccomp asks the kernel what it supports at its first use in a process; this does that
// ahead (a spare supervisor, before it knows its container's policy).
void probe_seccomp();
// Whether allow_compat means anything on this host: only x86_64 has 32-bit ABIs in the filter;
// elsewhere compile_seccomp ignores it.
bool host_has_compat_abis();

// Async-signal-safe: drop the bounding set, then load the filter. Returns 0 or an errno value;
// *step names what failed ("capability bounding set", "seccomp").
int apply_security_in_child(const SecurityPolicy& policy, sock_fprog* prog, const char** step);

}  // namespace sysc::runtime
