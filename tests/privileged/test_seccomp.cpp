// The seccomp policy seen by a container's init (and its children) and by attached processes:
// keyrings fail with ENOSYS, a forced umount with EPERM while a plain one works, every call
// through the 32-bit ABIs with ENOSYS; a profile file adjusts the defaults, a bad one fails the
// start naming the container and the line. The same probe on the host shows the calls work.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "support/harness.h"

namespace sysc::test {
namespace {

// The probe run directly on the host (no container, no filter).
std::string host_probe(const std::vector<std::string>& args) {
  std::string cmd = SYSC_PROBE;
  for (const auto& a : args) cmd += " " + a;
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  return out;
}

bool has(const std::string& out, const std::string& line) { return out.find(line + "\n") != std::string::npos; }

class Seccomp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    env_ = new SyscEnv();
    env_->create_busybox("sec1");
    // Init is a shell that runs the probes (its own children) before it becomes a sleep.
    std::ofstream(env_->rootfs("sec1") + "/probe-init.sh")
        << "/usr/bin/sysc-probe keys\n/usr/bin/sysc-probe abi\n/usr/bin/sysc-probe umount /tmp/sysc-um1\n"
        << "echo probe-init-done\nexec /bin/sleep 100000\n";
    auto set = env_->sysc({"config", "set", "sec1", "init", "/bin/sh /probe-init.sh"});
    ASSERT_EQ(set.status, 0) << set.err;
    ASSERT_EQ(env_->sysc({"config", "set", "sec1", "stop_timeout", "1"}).status, 0);
    auto r = env_->sysc({"start", "sec1"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { SYSC_REQUIRE_ROOT(); }
  RunResult inside(const std::string& name, const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"attach", name, "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return env_->sysc(args);
  }
  static SyscEnv* env_;
};
SyscEnv* Seccomp::env_ = nullptr;

TEST_F(Seccomp, OnTheHostTheSameCallsWork) {
  // The baseline that makes the container results mean something.
  auto keys = host_probe({"keys"});
  EXPECT_FALSE(has(keys, "keyctl=ENOSYS")) << keys;
  EXPECT_TRUE(has(keys, "keyctl=OK")) << keys;
  auto abi = host_probe({"abi"});
  EXPECT_TRUE(has(abi, "abi_i386=OK")) << "int 0x80 getpid does not work on this host (no IA32 emulation?): " << abi;
}

TEST_F(Seccomp, InitAndItsChildrenGetTheDefaultPolicy) {
  std::string out = env_->console_until("sec1", "probe-init-done");
  ASSERT_NE(out.find("probe-init-done"), std::string::npos) << out;
  for (const char* line : {"keyctl=ENOSYS", "add_key=ENOSYS", "request_key=ENOSYS", "abi_i386=ENOSYS",
                           "abi_x32=ENOSYS", "mount=OK", "umount_force=EPERM", "umount=OK"})
    EXPECT_TRUE(has(out, line)) << line << "\n" << out;
}

TEST_F(Seccomp, AttachedProcessesGetTheDefaultPolicy) {
  auto keys = inside("sec1", {"sysc-probe", "keys"});
  ASSERT_EQ(keys.status, 0) << keys.err;
  for (const char* line : {"keyctl=ENOSYS", "add_key=ENOSYS", "request_key=ENOSYS"})
    EXPECT_TRUE(has(keys.out, line)) << line << "\n" << keys.out;
  auto abi = inside("sec1", {"sysc-probe", "abi"});
  EXPECT_TRUE(has(abi.out, "abi_i386=ENOSYS")) << abi.out;
  EXPECT_TRUE(has(abi.out, "abi_x32=ENOSYS")) << abi.out;
  auto um = inside("sec1", {"sysc-probe", "umount", "/tmp/sysc-um2"});
  EXPECT_TRUE(has(um.out, "mount=OK")) << um.out << um.err;
  EXPECT_TRUE(has(um.out, "umount_force=EPERM")) << um.out;
  EXPECT_TRUE(has(um.out, "umount=OK")) << um.out;
  // busybox umount (a plain umount2 without MNT_FORCE) works too.
  auto sh = inside("sec1", {"sh", "-c", "mkdir -p /tmp/m3 && mount -t tmpfs t /tmp/m3 && umount /tmp/m3 && echo ok"});
  EXPECT_EQ(sh.out, "ok\n") << sh.err;
  auto sec = inside("sec1", {"sysc-probe", "seccomp"});
  EXPECT_TRUE(has(sec.out, "kexec_load=EPERM")) << sec.out;
}

TEST_F(Seccomp, ProfileFileAdjustsTheDefaults) {
  env_->create_busybox("sec2");
  std::string profile = env_->root() + "/etc/sysc/sec2.seccomp";
  std::ofstream(profile) << "# test profile\nallow keyctl\ndeny add_key EDQUOT\nallow umount2\n";
  ASSERT_EQ(env_->sysc({"config", "set", "sec2", "security.seccomp_profile", profile}).status, 0);
  auto r = env_->sysc({"start", "sec2"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto keys = inside("sec2", {"sysc-probe", "keys"});
  EXPECT_FALSE(has(keys.out, "keyctl=ENOSYS")) << keys.out;
  EXPECT_TRUE(has(keys.out, "add_key=EDQUOT")) << keys.out;
  EXPECT_TRUE(has(keys.out, "request_key=ENOSYS")) << keys.out;  // still the default
  auto um = inside("sec2", {"sysc-probe", "umount", "/tmp/sysc-um4"});
  EXPECT_TRUE(has(um.out, "umount_force=OK")) << um.out;
  // An attached process gets what the init got, even after the profile file changed (or broke).
  std::ofstream(profile) << "deny frobnicate\n";
  auto again = inside("sec2", {"sysc-probe", "keys"});
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_TRUE(has(again.out, "add_key=EDQUOT")) << again.out;
  EXPECT_EQ(env_->sysc({"stop", "--force", "sec2"}).status, 0);
}

TEST_F(Seccomp, BadProfileFailsTheStartNamingContainerAndLine) {
  env_->create_busybox("sec3");
  std::string profile = env_->root() + "/etc/sysc/sec3.seccomp";
  std::ofstream(profile) << "deny keyctl\ndeny frobnicate EPERM\n";
  ASSERT_EQ(env_->sysc({"config", "set", "sec3", "security.seccomp_profile", profile}).status, 0);
  auto r = env_->sysc({"start", "sec3"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("sec3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(profile + ":2: unknown system call 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_EQ(env_->state("sec3"), "STOPPED");
  ASSERT_EQ(env_->sysc({"config", "set", "sec3", "security.seccomp_profile", profile + ".missing"}).status, 0);
  r = env_->sysc({"start", "sec3"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("sec3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(profile + ".missing"), std::string::npos) << r.err;
  EXPECT_TRUE(env_->leftovers("sec3").empty());
}

}  // namespace
}  // namespace sysc::test
