// Seccomp rules: the default deny list, the profile file format that adjusts it, and the JSON
// form lxcd hands to sysc-shim and to `sysc attach`. Host side; compiled by runtime/security.
//
// Profile file (security.seccomp_profile = PATH), one directive a line, '#' starts a comment:
//   deny SYSCALL [ERRNO]   the call fails with ERRNO (a name like ENOSYS or a number; default EPERM),
//                          replacing any earlier entry for SYSCALL
//   allow SYSCALL          lift the entries for SYSCALL (e.g. a default one)
// Errors name FILE:LINE.
#pragma once

#include <cstdint>
#include <linux/filter.h>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sysc::runtime {

struct SeccompRule {
  std::string syscall;  // name as libseccomp knows it: "keyctl"
  int err = 1;          // errno returned (EPERM)
  // Optional argument condition: the rule matches only when (arg[arg_index] & arg_mask) == arg_value.
  int arg_index = -1;  // -1: every call
  uint64_t arg_mask = 0;
  uint64_t arg_value = 0;
  bool operator==(const SeccompRule&) const = default;
};

// Loading kernel code, kexec, file handles, port I/O, swap (EPERM); keyrings (ENOSYS: callers
// fall back as on a kernel without keys); umount2 with MNT_FORCE (EPERM; a plain umount works).
// Every call through the 32-bit ABIs fails with ENOSYS as well, unless the policy allows them
// (security.syscalls.allow_compat): then these rules apply to them too (see compile_seccomp).
std::vector<SeccompRule> default_seccomp_rules();

// Applies the directives of a profile (CONTENT of FILENAME) to RULES.
Status apply_seccomp_profile(std::vector<SeccompRule>& rules, const std::string& content,
                             const std::string& filename);
// The same, reading the file at PATH.
Status apply_seccomp_profile_file(std::vector<SeccompRule>& rules, const std::string& path);

// "ENOSYS" or "38" -> 38; nullopt-like error for anything else.
Result<int> parse_errno(const std::string& s);
std::string errno_name(int err);  // 38 -> "ENOSYS"

nlohmann::json seccomp_rules_to_json(const std::vector<SeccompRule>& rules);
Result<std::vector<SeccompRule>> seccomp_rules_from_json(const nlohmann::json& j);

// A compiled program (SeccompProgram::filter) as text, and back: 16 hex digits per instruction
// (code 4, jt 2, jf 2, k 8), one after the other. Read back only with 1 to BPF_MAXINSNS
// instructions and nothing but hex digits (the kernel checks the program itself when it is
// loaded). One string is cheap to write into a spec file or an answer and cheap to parse there.
std::string seccomp_filter_to_text(const std::vector<sock_filter>& filter);
Result<std::vector<sock_filter>> seccomp_filter_from_text(std::string_view text);

}  // namespace sysc::runtime
