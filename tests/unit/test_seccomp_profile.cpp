// Seccomp rules without a kernel: defaults, the profile format and its errors, JSON, compiling.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/mount.h>

#include "config/config.h"
#include "runtime/seccomp_profile.h"
#include "runtime/security.h"

namespace sysc::runtime {
namespace {

const SeccompRule* find(const std::vector<SeccompRule>& rules, const std::string& name) {
  for (const auto& r : rules)
    if (r.syscall == name) return &r;
  return nullptr;
}

TEST(SeccompProfile, DefaultsDenyKeyringsWithEnosysAndForcedUmountOnly) {
  auto rules = default_seccomp_rules();
  for (const char* n : {"keyctl", "add_key", "request_key"}) {
    ASSERT_NE(find(rules, n), nullptr) << n;
    EXPECT_EQ(find(rules, n)->err, ENOSYS) << n;
    EXPECT_EQ(find(rules, n)->arg_index, -1) << n;
  }
  const SeccompRule* um = find(rules, "umount2");
  ASSERT_NE(um, nullptr);
  EXPECT_EQ(um->err, EPERM);
  EXPECT_EQ(um->arg_index, 1);
  EXPECT_EQ(um->arg_mask, static_cast<uint64_t>(MNT_FORCE));
  EXPECT_EQ(um->arg_value, static_cast<uint64_t>(MNT_FORCE));
  EXPECT_EQ(find(rules, "kexec_load")->err, EPERM);
}

TEST(SeccompProfile, DenyAndAllowAdjustTheDefaults) {
  auto rules = default_seccomp_rules();
  auto st = apply_seccomp_profile(rules,
                                  "# lift the keyring rule\n"
                                  "allow keyctl\n"
                                  "\n"
                                  "deny add_key EDQUOT   # replaces the default ENOSYS\n"
                                  "deny mbind\n"
                                  "deny personality 22\n"
                                  "allow umount2\n",
                                  "p.seccomp");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(find(rules, "keyctl"), nullptr);
  EXPECT_EQ(find(rules, "umount2"), nullptr);
  EXPECT_EQ(find(rules, "add_key")->err, EDQUOT);
  EXPECT_EQ(find(rules, "mbind")->err, EPERM);
  EXPECT_EQ(find(rules, "personality")->err, EINVAL);
  EXPECT_EQ(find(rules, "request_key")->err, ENOSYS);  // untouched
  int add_keys = 0;
  for (const auto& r : rules) add_keys += r.syscall == "add_key";
  EXPECT_EQ(add_keys, 1);
}

TEST(SeccompProfile, ErrorsNameFileAndLine) {
  auto err = [](const std::string& text) {
    auto rules = default_seccomp_rules();
    auto st = apply_seccomp_profile(rules, text, "/etc/p.seccomp");
    return st ? std::string() : st.error().message;
  };
  EXPECT_EQ(err("deny keyctl\ndeny frobnicate\n"), "/etc/p.seccomp:2: unknown system call 'frobnicate'");
  EXPECT_NE(err("\n\nblock keyctl\n").find("/etc/p.seccomp:3: unknown directive 'block'"), std::string::npos);
  EXPECT_NE(err("deny keyctl ENOPE\n").find("/etc/p.seccomp:1: bad errno 'ENOPE'"), std::string::npos);
  EXPECT_NE(err("deny keyctl 0\n").find(":1: bad errno"), std::string::npos);
  EXPECT_NE(err("allow keyctl EPERM\n").find(":1: expected: deny SYSCALL [ERRNO] | allow SYSCALL"), std::string::npos);
  EXPECT_NE(err("deny\n").find(":1: expected"), std::string::npos);
  EXPECT_NE(err("deny a b c\n").find(":1: expected"), std::string::npos);
  auto rules = default_seccomp_rules();
  auto st = apply_seccomp_profile_file(rules, "/nonexistent/p.seccomp");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("/nonexistent/p.seccomp"), std::string::npos) << st.error().message;
}

TEST(SeccompProfile, ErrnoNamesAndNumbers) {
  EXPECT_EQ(*parse_errno("ENOSYS"), ENOSYS);
  EXPECT_EQ(*parse_errno("1"), EPERM);
  EXPECT_FALSE(parse_errno("enosys").ok());
  EXPECT_FALSE(parse_errno("4096").ok());
  EXPECT_FALSE(parse_errno("").ok());
  EXPECT_EQ(errno_name(ENOSYS), "ENOSYS");
}

TEST(SeccompProfile, JsonRoundTrip) {
  auto rules = default_seccomp_rules();
  auto back = seccomp_rules_from_json(nlohmann::json::parse(seccomp_rules_to_json(rules).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, rules);
  EXPECT_FALSE(seccomp_rules_from_json(nlohmann::json()).ok());  // a missing list is an error
  EXPECT_FALSE(seccomp_rules_from_json(nlohmann::json::parse(R"([{"syscall": 3}])")).ok());
  EXPECT_FALSE(seccomp_rules_from_json(nlohmann::json::parse(R"([{"syscall": "keyctl", "errno": "x"}])")).ok());
  EXPECT_FALSE(seccomp_rules_from_json(nlohmann::json::parse(R"([{"syscall": "keyctl", "arg": 9}])")).ok());
}

TEST(SeccompProfile, PolicyCompilesAndRejectsUnknownCalls) {
  auto policy = make_policy({}, {});
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  auto prog = compile_seccomp(*policy);
  ASSERT_TRUE(prog.ok()) << prog.error().message;
  EXPECT_GT(prog->filter.size(), 10u);
  policy->seccomp.push_back({"frobnicate", EPERM});
  EXPECT_FALSE(compile_seccomp(*policy).ok());
  EXPECT_FALSE(make_policy({}, {}, "/nonexistent/p.seccomp").ok());
}

// lxcd sends the compiled program in the spec file and with its attach answer; the supervisor
// and the CLI load what they get back, so the round trip keeps every instruction, and anything
// but whole instructions of hex digits is refused.
TEST(SeccompProfile, CompiledProgramTextRoundTrip) {
  auto policy = make_policy({}, {}, "", false);
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  auto prog = compile_seccomp(*policy);
  ASSERT_TRUE(prog.ok()) << prog.error().message;
  ASSERT_FALSE(prog->filter.empty());
  const std::string text = seccomp_filter_to_text(prog->filter);
  EXPECT_EQ(text.size(), prog->filter.size() * 16);
  auto back = seccomp_filter_from_text(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), prog->filter.size());
  for (size_t i = 0; i < back->size(); ++i) {
    const sock_filter &a = (*back)[i], &b = prog->filter[i];
    EXPECT_TRUE(a.code == b.code && a.jt == b.jt && a.jf == b.jf && a.k == b.k) << "instruction " << i;
  }
  // Field order and width: code, jt, jf, k.
  EXPECT_EQ(seccomp_filter_to_text({sock_filter{0x15, 0x01, 0x2a, 0x7fff0000}}), "0015012a7fff0000");
  auto one = seccomp_filter_from_text("0015012a7fff0000");
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_TRUE((*one)[0].code == 0x15 && (*one)[0].jt == 1 && (*one)[0].jf == 0x2a && (*one)[0].k == 0x7fff0000);
  for (const char* bad : {"", "0015012a7fff000", "0015012a7fff00000", "0015012a7fff000g", "0015012A7FFF0000",
                          "0015012a 7fff000", "-015012a7fff0000"})
    EXPECT_FALSE(seccomp_filter_from_text(bad).ok()) << bad;
  EXPECT_FALSE(seccomp_filter_from_text(std::string(16 * (BPF_MAXINSNS + 1), '0')).ok());
  EXPECT_TRUE(seccomp_filter_from_text(std::string(16 * BPF_MAXINSNS, '0')).ok());
}

// The supervisor and the CLI load the program lxcd compiled when they have one, and compile the
// rules themselves only without it: what lxcd sent is used as it is, not compiled again.
TEST(SeccompProfile, AProgramFromLxcdIsUsedAsItIs) {
  auto policy = make_policy({}, {}, "", false);
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  const std::vector<sock_filter> sent = {sock_filter{0x06, 0, 0, 0x7fff0000}};  // return ALLOW
  auto used = seccomp_program(*policy, sent);
  ASSERT_TRUE(used.ok()) << used.error().message;
  ASSERT_EQ(used->filter.size(), 1u);
  EXPECT_EQ(used->filter[0].k, 0x7fff0000u);
  auto own = seccomp_program(*policy, {});
  auto compiled = compile_seccomp(*policy);
  ASSERT_TRUE(own.ok() && compiled.ok());
  EXPECT_EQ(seccomp_filter_to_text(own->filter), seccomp_filter_to_text(compiled->filter));
}

TEST(SeccompProfile, ConfigKeyTakesAnAbsolutePath) {
  auto c = config::parse_container("[security]\nseccomp_profile = /etc/sysc/tight.seccomp\n", "c.conf");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->seccomp_profile, "/etc/sysc/tight.seccomp");
  EXPECT_FALSE(config::parse_container("[security]\nseccomp_profile = tight.seccomp\n", "c.conf").ok());
}

TEST(ResourcesConfig, LxcfsKeysParse) {
  auto g = config::parse_global("[resources]\nlxcfs = false\nlxcfs_loadavg = no\nlxcfs_cfs = off\n", "sysc.conf");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_FALSE(g->resources.lxcfs);
  EXPECT_FALSE(g->resources.lxcfs_loadavg);
  EXPECT_FALSE(g->resources.lxcfs_cfs);
  auto d = config::parse_global(config::default_global_text(), "sysc.conf");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->resources.lxcfs);
  EXPECT_FALSE(config::parse_global("[resources]\nlxcfs = maybe\n", "sysc.conf").ok());
}

}  // namespace
}  // namespace sysc::runtime
