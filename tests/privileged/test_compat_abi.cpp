// 32-bit programs in containers (security.syscalls.allow_compat): a static i386 probe
// (tests/probe/compat_probe.s) writes "compat-ok" and exits 10 when keyctl gave ENOSYS, 11 for
// EPERM, 12 otherwise; dead by SIGSEGV when even exit was refused. By default it cannot run;
// with the key its calls pass the filter but the deny rules (and a profile) still hold, for the
// init and for attached processes alike. On the host the same probe shows keyctl works there.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include "support/harness.h"

namespace sysc::test {
namespace {

constexpr const char* kProbe = "/usr/bin/sysc-compat-probe";

bool has(const std::string& out, const std::string& line) { return out.find(line + "\n") != std::string::npos; }

class CompatAbi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() == 0) env_ = new SyscEnv();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    if (std::string(SYSC_COMPAT_PROBE).empty()) {
      if (getenv("CI")) FAIL() << "no i386 probe (not an x86_64 build)";
      GTEST_SKIP() << "32-bit ABIs are x86_64 only";
    }
  }
  // A busybox container with both probes, init a shell that runs the i386 probe first (its
  // result on the console), then sleeps.
  static void create(const std::string& name) {
    env_->create_busybox(name);
    std::ifstream src(SYSC_COMPAT_PROBE, std::ios::binary);
    std::string dst = env_->rootfs(name) + kProbe;
    std::ofstream(dst, std::ios::binary) << src.rdbuf();
    ASSERT_EQ(chmod(dst.c_str(), 0755), 0);
    std::ofstream(env_->rootfs(name) + "/compat-init.sh")
        << kProbe << "\necho compat-init-rc=$?\nexec /bin/sleep 100000\n";
    auto set = env_->sysc({"config", "set", name, "init", "/bin/sh /compat-init.sh"});
    ASSERT_EQ(set.status, 0) << set.err;
    ASSERT_EQ(env_->sysc({"config", "set", name, "stop_timeout", "1"}).status, 0);
  }
  static RunResult inside(const std::string& name, const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"attach", "-T", name, "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return env_->sysc(args);
  }
  static void start(const std::string& name) {
    auto r = env_->sysc({"start", name});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  static void stop(const std::string& name) {
    EXPECT_EQ(env_->sysc({"stop", "--force", name}).status, 0);
    EXPECT_TRUE(env_->leftovers(name).empty());
  }
  static SyscEnv* env_;
};
SyscEnv* CompatAbi::env_ = nullptr;

TEST_F(CompatAbi, OnTheHostTheProbeRunsAndKeyctlWorks) {
  // The baseline: 32-bit programs run on this kernel, and keyctl is not ENOSYS/EPERM by itself.
  std::string out;
  FILE* p = popen(SYSC_COMPAT_PROBE, "r");
  ASSERT_NE(p, nullptr);
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int st = pclose(p);
  ASSERT_TRUE(WIFEXITED(st)) << "i386 programs do not run on this host (no IA32 emulation?): status " << st;
  EXPECT_EQ(out, "compat-ok\n");
  EXPECT_EQ(WEXITSTATUS(st), 12);
}

TEST_F(CompatAbi, ByDefault32BitProgramsCannotRun) {
  create("cpa1");
  start("cpa1");
  // The init: nothing written, and the shell saw it die by SIGSEGV (hlt after the refused exit).
  std::string log = env_->console_until("cpa1", "compat-init-rc=");
  EXPECT_FALSE(has(log, "compat-ok")) << log;
  EXPECT_TRUE(has(log, "compat-init-rc=" + std::to_string(128 + SIGSEGV))) << log;
  // An attached process: the same.
  auto r = inside("cpa1", {kProbe});
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.status, 128 + SIGSEGV) << r.err;
  auto abi = inside("cpa1", {"sysc-probe", "abi"});
  EXPECT_TRUE(has(abi.out, "abi_i386=ENOSYS")) << abi.out;
  // Setting the key on a running container changes nothing until the next start: attached
  // processes get the policy the init got.
  ASSERT_EQ(env_->sysc({"config", "set", "cpa1", "security.syscalls.allow_compat", "true"}).status, 0);
  r = inside("cpa1", {kProbe});
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.status, 128 + SIGSEGV) << r.err;
  stop("cpa1");
}

TEST_F(CompatAbi, AllowCompatRuns32BitProgramsUnderTheSameDenyRules) {
  create("cpa2");
  auto set = env_->sysc({"config", "set", "cpa2", "security.syscalls.allow_compat", "true"});
  ASSERT_EQ(set.status, 0) << set.err;
  EXPECT_EQ(env_->sysc({"config", "get", "cpa2", "security.syscalls.allow_compat"}).out, "true\n");
  start("cpa2");
  // The init (and its children): the probe ran, keyctl still failed with ENOSYS.
  std::string log = env_->console_until("cpa2", "compat-init-rc=");
  EXPECT_TRUE(has(log, "compat-ok")) << log;
  EXPECT_TRUE(has(log, "compat-init-rc=10")) << log;
  // An attached process gets the same policy.
  auto r = inside("cpa2", {kProbe});
  EXPECT_EQ(r.out, "compat-ok\n") << r.err;
  EXPECT_EQ(r.status, 10) << r.err;
  auto abi = inside("cpa2", {"sysc-probe", "abi"});
  EXPECT_TRUE(has(abi.out, "abi_i386=OK")) << abi.out;  // int 0x80 from a 64-bit process
  // The native ABI is unchanged.
  auto keys = inside("cpa2", {"sysc-probe", "keys"});
  EXPECT_TRUE(has(keys.out, "keyctl=ENOSYS")) << keys.out;
  auto sec = inside("cpa2", {"sysc-probe", "seccomp"});
  EXPECT_TRUE(has(sec.out, "kexec_load=EPERM")) << sec.out;
  // Back to false: the next start refuses 32-bit calls again.
  stop("cpa2");
  ASSERT_EQ(env_->sysc({"config", "set", "cpa2", "security.syscalls.allow_compat", "false"}).status, 0);
  start("cpa2");
  r = inside("cpa2", {kProbe});
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.status, 128 + SIGSEGV) << r.err;
  stop("cpa2");
}

TEST_F(CompatAbi, ProfileRulesApplyTo32BitCallsToo) {
  create("cpa3");
  std::string profile = env_->root() + "/etc/sysc/cpa3.seccomp";
  std::ofstream(profile) << "deny keyctl EPERM\n";
  ASSERT_EQ(env_->sysc({"config", "set", "cpa3", "security.seccomp_profile", profile}).status, 0);
  ASSERT_EQ(env_->sysc({"config", "set", "cpa3", "security.syscalls.allow_compat", "yes"}).status, 0);
  start("cpa3");
  auto r = inside("cpa3", {kProbe});
  EXPECT_EQ(r.out, "compat-ok\n") << r.err;
  EXPECT_EQ(r.status, 11) << r.err;  // the profile's EPERM, not the default ENOSYS
  auto keys = inside("cpa3", {"sysc-probe", "keys"});
  EXPECT_TRUE(has(keys.out, "keyctl=EPERM")) << keys.out;
  stop("cpa3");
}

}  // namespace
}  // namespace sysc::test
