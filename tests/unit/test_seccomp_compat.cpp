// The compiled seccomp program run by a small classic-BPF interpreter (no kernel): which calls
// of which ABI it allows, with and without security.syscalls.allow_compat.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mount.h>

#include <cstring>

#include "config/config.h"
#include "runtime/security.h"
#include "runtime/spec.h"

namespace sysc::runtime {
namespace {

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kX32Bit = 0x40000000;
uint32_t errno_ret(int err) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(err); }

uint32_t fail(const std::string& what) {
  ADD_FAILURE() << what;
  return SECCOMP_RET_KILL_PROCESS;
}

// What the kernel would return for one call: the program run over its struct seccomp_data.
// Covers the instructions libseccomp emits; anything else fails the test.
uint32_t run(const SeccompProgram& prog, uint32_t arch, int nr, uint64_t arg1 = 0) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = arch;
  d.args[1] = arg1;
  unsigned char data[sizeof d];
  memcpy(data, &d, sizeof d);
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  for (size_t pc = 0; pc < prog.filter.size(); ++pc) {
    const sock_filter& i = prog.filter[pc];
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (i.k + 4 > sizeof data) return fail("load outside seccomp_data");
        memcpy(&a, data + i.k, 4);
        break;
      case BPF_LD | BPF_IMM: a = i.k; break;
      case BPF_LD | BPF_MEM: a = mem[i.k % BPF_MEMWORDS]; break;
      case BPF_LDX | BPF_IMM: x = i.k; break;
      case BPF_LDX | BPF_MEM: x = mem[i.k % BPF_MEMWORDS]; break;
      case BPF_ST: mem[i.k % BPF_MEMWORDS] = a; break;
      case BPF_STX: mem[i.k % BPF_MEMWORDS] = x; break;
      case BPF_ALU | BPF_AND | BPF_K: a &= i.k; break;
      case BPF_ALU | BPF_OR | BPF_K: a |= i.k; break;
      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_MISC | BPF_TXA: a = x; break;
      case BPF_JMP | BPF_JA: pc += i.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i.k ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += a > i.k ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += a >= i.k ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i.k) ? i.jt : i.jf; break;
      case BPF_RET | BPF_K: return i.k;
      case BPF_RET | BPF_A: return a;
      default: return fail("unhandled BPF opcode " + std::to_string(i.code));
    }
  }
  return fail("program ran off its end");
}

SeccompProgram compile(bool allow_compat, const std::string& profile = "") {
  auto policy = make_policy({}, {});
  EXPECT_TRUE(policy.ok());
  policy->allow_compat = allow_compat;
  if (!profile.empty()) {
    EXPECT_TRUE(apply_seccomp_profile(policy->seccomp, profile, "t.seccomp").ok());
  }
  auto prog = compile_seccomp(*policy);
  EXPECT_TRUE(prog.ok()) << prog.error().message;
  return prog.ok() ? *prog : SeccompProgram{};
}

int nr_of(uint32_t arch, const char* name) { return seccomp_syscall_resolve_name_arch(arch, name); }

// Every rule of RULES holds for ARCH: the call (with the rule's argument condition met) gets its errno.
void expect_rules_hold(const SeccompProgram& prog, uint32_t arch, uint32_t filter_arch,
                       const std::vector<SeccompRule>& rules) {
  int checked = 0;
  for (const auto& r : rules) {
    int nr = nr_of(arch, r.syscall.c_str());
    if (nr < 0) continue;  // the ABI has no such call (kexec_file_load on i386)
    uint64_t arg = r.arg_index == 1 ? r.arg_value : 0;
    ASSERT_TRUE(r.arg_index == -1 || r.arg_index == 1) << r.syscall;
    EXPECT_EQ(run(prog, filter_arch, nr, arg), errno_ret(r.err)) << r.syscall << " on arch " << std::hex << arch;
    ++checked;
  }
  EXPECT_GE(checked, static_cast<int>(rules.size()) - 1);
}

TEST(SeccompCompat, ByDefaultEvery32BitCallFailsWithEnosys) {
  if (!host_has_compat_abis()) GTEST_SKIP() << "no 32-bit ABIs on this host architecture";
  SeccompProgram prog = compile(false);
  EXPECT_EQ(run(prog, AUDIT_ARCH_X86_64, nr_of(SCMP_ARCH_X86_64, "write")), kAllow);
  EXPECT_EQ(run(prog, AUDIT_ARCH_X86_64, nr_of(SCMP_ARCH_X86_64, "keyctl")), errno_ret(ENOSYS));
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, nr_of(SCMP_ARCH_X86, "write")), errno_ret(ENOSYS));
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, nr_of(SCMP_ARCH_X86, "exit")), errno_ret(ENOSYS));
  EXPECT_EQ(run(prog, AUDIT_ARCH_X86_64, static_cast<int>(kX32Bit | nr_of(SCMP_ARCH_X86_64, "write"))),
            errno_ret(ENOSYS));
}

TEST(SeccompCompat, AllowedAbisGetTheNativeDenyRules) {
  if (!host_has_compat_abis()) GTEST_SKIP() << "no 32-bit ABIs on this host architecture";
  SeccompProgram prog = compile(true);
  // Ordinary calls pass on all three ABIs (x32 numbers carry the x32 bit already).
  EXPECT_EQ(run(prog, AUDIT_ARCH_X86_64, nr_of(SCMP_ARCH_X86_64, "write")), kAllow);
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, nr_of(SCMP_ARCH_X86, "write")), kAllow);
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, nr_of(SCMP_ARCH_X86, "exit")), kAllow);
  EXPECT_EQ(run(prog, AUDIT_ARCH_X86_64, nr_of(SCMP_ARCH_X32, "write")), kAllow);
  // Every default rule holds on each of them, under that ABI's numbers.
  auto rules = default_seccomp_rules();
  expect_rules_hold(prog, SCMP_ARCH_X86_64, AUDIT_ARCH_X86_64, rules);
  expect_rules_hold(prog, SCMP_ARCH_X86, AUDIT_ARCH_I386, rules);
  expect_rules_hold(prog, SCMP_ARCH_X32, AUDIT_ARCH_X86_64, rules);
  // The numbers the probe of the privileged test uses, spelled out.
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, 288), errno_ret(ENOSYS));  // keyctl
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, 128), errno_ret(EPERM));   // init_module
  // The argument condition works on 32-bit arguments: umount2 (52) with MNT_FORCE only.
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, 52, MNT_FORCE), errno_ret(EPERM));
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, 52, MNT_DETACH), kAllow);
  // Any other architecture still fails.
  EXPECT_EQ(run(prog, AUDIT_ARCH_AARCH64, 1), errno_ret(ENOSYS));
}

TEST(SeccompCompat, ProfileAppliesToEveryAbi) {
  if (!host_has_compat_abis()) GTEST_SKIP() << "no 32-bit ABIs on this host architecture";
  // socketcall exists only on i386; the profile may name it and it then matters there.
  SeccompProgram prog = compile(true, "allow keyctl\ndeny add_key EACCES\ndeny socketcall EPERM\n");
  EXPECT_EQ(run(prog, AUDIT_ARCH_X86_64, nr_of(SCMP_ARCH_X86_64, "keyctl")), kAllow);
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, nr_of(SCMP_ARCH_X86, "keyctl")), kAllow);
  EXPECT_EQ(run(prog, AUDIT_ARCH_X86_64, nr_of(SCMP_ARCH_X32, "keyctl")), kAllow);
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, nr_of(SCMP_ARCH_X86, "add_key")), errno_ret(EACCES));
  EXPECT_EQ(run(prog, AUDIT_ARCH_X86_64, nr_of(SCMP_ARCH_X32, "add_key")), errno_ret(EACCES));
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, 102), errno_ret(EPERM));  // socketcall
  EXPECT_EQ(run(prog, AUDIT_ARCH_I386, nr_of(SCMP_ARCH_X86, "request_key")), errno_ret(ENOSYS));  // default kept
}

TEST(SeccompCompat, PolicyAndConfigCarryTheFlag) {
  EXPECT_FALSE(make_policy({}, {})->allow_compat);
  EXPECT_TRUE(make_policy({}, {}, "", /*allow_compat=*/true)->allow_compat);
  EXPECT_FALSE(config::ContainerConfig{}.allow_compat);
  auto c = config::parse_container("[security]\nsyscalls.allow_compat = true\n", "c.conf");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->allow_compat);
  auto bad = config::parse_container("[security]\nsyscalls.allow_compat = maybe\n", "c.conf");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("c.conf:2"), std::string::npos) << bad.error().message;
  auto set = config::set_value("", "c.conf", "security.syscalls.allow_compat", "true");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_TRUE(config::parse_container(*set, "c.conf")->allow_compat);
  EXPECT_EQ(*config::get_value(*set, "c.conf", "security.syscalls.allow_compat"), "true");
}

TEST(SeccompCompat, RuntimeSpecCarriesTheFlag) {
  RuntimeSpec s;
  s.name = "web1";
  s.init_argv = {"/sbin/init"};
  s.seccomp_compat = true;
  auto back = spec_from_json(to_json(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->seccomp_compat);
  // A spec written without the field (an older lxcd) keeps 32-bit calls refused.
  auto j = nlohmann::json::parse(to_json(s));
  j.erase("seccomp_compat");
  back = spec_from_json(j.dump());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->seccomp_compat);
}

// lxcd's compiled program travels in the spec as it is; a spec without one (an older lxcd)
// leaves the supervisor to compile the rules, and a damaged one fails the spec.
TEST(SeccompCompat, RuntimeSpecCarriesTheCompiledProgram) {
  RuntimeSpec s;
  s.name = "web1";
  s.init_argv = {"/sbin/init"};
  s.seccomp_compat = true;
  s.seccomp_filter = compile(true).filter;
  auto back = spec_from_json(to_json(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(seccomp_filter_to_text(back->seccomp_filter), seccomp_filter_to_text(s.seccomp_filter));
  auto j = nlohmann::json::parse(to_json(s));
  j.erase("seccomp_filter");
  back = spec_from_json(j.dump());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->seccomp_filter.empty());
  j["seccomp_filter"] = "not hex";
  EXPECT_FALSE(spec_from_json(j.dump()).ok());
}

TEST(SeccompCompat, WithoutCompatAbisTheFlagChangesNothing) {
  if (host_has_compat_abis()) {
    // On x86_64 it does change the program; the tests above say how.
    EXPECT_NE(compile(true).filter.size(), compile(false).filter.size());
    return;
  }
  SeccompProgram a = compile(true), b = compile(false);
  ASSERT_EQ(a.filter.size(), b.filter.size());
  EXPECT_EQ(memcmp(a.filter.data(), b.filter.data(), a.filter.size() * sizeof(sock_filter)), 0);
}

}  // namespace
}  // namespace sysc::runtime
