// Security policy: default capability drops and seccomp rules; compiled on the host side,
// applied async-signal-safely in the container child and in attached processes.
#include "runtime/security.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace sysc::runtime {

namespace {

// Dropped by default: nothing a VPS tenant needs, each a known way to reach the host.
// sys_boot stays: without it halt and reboot from inside look alike (exit status 0).
const char* const kDefaultCapDrop[] = {
    "sys_module", "sys_time",    "sys_rawio",     "mac_admin", "mac_override", "sys_pacct",
    "syslog",     "wake_alarm",  "block_suspend", "audit_control",
};

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }
};

}  // namespace

Result<std::vector<int>> cap_numbers(const std::vector<std::string>& names) {
  std::vector<int> out;
  for (const auto& n : names) {
    cap_value_t v;
    std::string full = "cap_" + n;
    if (cap_from_name(full.c_str(), &v) != 0) return make_error("unknown capability '" + n + "'", EINVAL);
    out.push_back(static_cast<int>(v));
  }
  return out;
}

std::vector<std::string> cap_names(const std::vector<int>& caps) {
  std::vector<std::string> out;
  for (int c : caps) {
    char* s = cap_to_name(static_cast<cap_value_t>(c));
    std::string name = s ? s : std::to_string(c);
    if (s) cap_free(s);
    if (name.rfind("cap_", 0) == 0) name = name.substr(4);
    out.push_back(name);
  }
  return out;
}

Result<SecurityPolicy> make_policy(const std::vector<std::string>& extra_drop, const std::vector<std::string>& keep,
                                   const std::string& seccomp_profile, bool allow_compat) {
  std::vector<std::string> names(std::begin(kDefaultCapDrop), std::end(kDefaultCapDrop));
  for (const auto& n : extra_drop)
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  TRY(cap_numbers(keep));  // validate
  std::erase_if(names, [&](const std::string& n) { return std::find(keep.begin(), keep.end(), n) != keep.end(); });
  SecurityPolicy p;
  p.cap_drop = TRY(cap_numbers(names));
  p.seccomp = default_seccomp_rules();
  if (!seccomp_profile.empty()) TRY(apply_seccomp_profile_file(p.seccomp, seccomp_profile));
  p.allow_compat = allow_compat;
  return p;
}

bool host_has_compat_abis() { return seccomp_arch_native() == SCMP_ARCH_X86_64; }

void probe_seccomp() { (void)seccomp_api_get(); }

Result<SeccompProgram> compile_seccomp(const SecurityPolicy& policy) {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return make_error("seccomp: init failed", ENOMEM);
  // By default only the native architecture is in the filter: a call made through another ABI
  // (int 0x80 from a 64-bit process is i386; x32 shares x86_64's architecture token and
  // libseccomp sends its numbers, with the x32 bit set, to the same action) fails with ENOSYS,
  // as on a kernel built without those ABIs.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
  if (rc != 0) return Error{-rc, "seccomp: bad-architecture action: " + std::string(strerror(-rc))};
  // The compat architectures go in before the rules: seccomp_rule_add adds each rule to every
  // architecture already in the filter, translated by name to that ABI's number (and skipped
  // where the ABI has no such call), so the 32-bit ABIs can never miss a native deny rule.
  if (policy.allow_compat && host_has_compat_abis()) {
    for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
      rc = seccomp_arch_add(ctx.get(), arch);
      if (rc != 0 && rc != -EEXIST) return Error{-rc, "seccomp: add architecture: " + std::string(strerror(-rc))};
    }
  }
  for (const auto& rule : policy.seccomp) {
    int nr = seccomp_syscall_resolve_name(rule.syscall.c_str());
    if (nr == __NR_SCMP_ERROR) return make_error("seccomp: unknown system call '" + rule.syscall + "'", EINVAL);
    if (rule.arg_index >= 0) {
      scmp_arg_cmp cmp{static_cast<unsigned>(rule.arg_index), SCMP_CMP_MASKED_EQ, rule.arg_mask, rule.arg_value};
      rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_ERRNO(rule.err), nr, 1, &cmp);
    } else {
      rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(rule.err), nr, 0);
    }
    if (rc != 0) return Error{-rc, "seccomp: rule for " + rule.syscall + ": " + strerror(-rc)};
  }
  UniqueFd mem(memfd_create("sysc-seccomp", MFD_CLOEXEC));
  if (!mem) return sys_error("seccomp: memfd_create");
  rc = seccomp_export_bpf(ctx.get(), mem.get());
  if (rc != 0) return Error{-rc, "seccomp: export: " + std::string(strerror(-rc))};
  off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) return make_error("seccomp: export produced no program", EINVAL);
  SeccompProgram out;
  out.filter.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  if (pread(mem.get(), out.filter.data(), static_cast<size_t>(size), 0) != size) return sys_error("seccomp: read program");
  return out;
}

Result<SeccompProgram> seccomp_program(const SecurityPolicy& policy, const std::vector<sock_filter>& compiled) {
  if (compiled.empty()) return compile_seccomp(policy);
  return SeccompProgram{compiled};
}

int apply_security_in_child(const SecurityPolicy& policy, sock_fprog* prog, const char** step) {
  // Bounding set, then the same capabilities out of the inheritable set: for root, execve keeps
  // (inheritable | bounding), so a dropped capability must leave both.
  *step = "capability bounding set";
  for (int cap : policy.cap_drop)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return errno;
  *step = "inheritable capabilities";
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return errno;
  for (int cap : policy.cap_drop) data[cap / 32].inheritable &= ~(1u << (cap % 32));
  if (syscall(SYS_capset, &hdr, data) != 0) return errno;
  *step = "seccomp";
  if (prog && prog->len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) != 0) return errno;
  return 0;
}

}  // namespace sysc::runtime
