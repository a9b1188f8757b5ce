// `sysc attach` end to end: exit codes, signals, stdin piping, environment, confinement.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/security.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

class Attach : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    env_ = new SyscEnv();
    env_->create_busybox("att1");
    ASSERT_EQ(env_->sysc({"start", "att1"}).status, 0);
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { SYSC_REQUIRE_ROOT(); }
  RunResult run(const std::vector<std::string>& cmd, const std::string& input = "") {
    std::vector<std::string> args = {"attach", "att1", "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return env_->sysc(args, input);
  }
  static SyscEnv* env_;
};
SyscEnv* Attach::env_ = nullptr;

// lxcd's answer to GET /1.0/containers/NAME/attach, straight from its socket.
nlohmann::json attach_answer(const SyscEnv& env, const std::string& name) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = env.root() + "/run/sysc/lxcd.sock";
  if (path.size() >= sizeof addr.sun_path) return nullptr;
  path.copy(addr.sun_path, path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET /1.0/containers/" + name + "/attach HTTP/1.1\r\nHost: sysc\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = got.find("\r\n\r\n");
  return body == std::string::npos ? nlohmann::json() : nlohmann::json::parse(got.substr(body + 4), nullptr, false);
}

std::string dev_ino(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) : "";
}

// The attached process is in every cgroup of the init (seen through the cgroup namespace: a
// cgroup elsewhere would not show as its root). lxcd's answer names their paths for a client in
// its own mount namespace; one in another (here: a copy, made by unshare) finds them itself from
// /proc. Both ways end in the same cgroups.
TEST_F(Attach, JoinsTheInitsCgroupsWithLxcdsPathsOrItsOwn) {
  const std::string script = "cat /proc/self/cgroup; echo --; cat /proc/1/cgroup";
  for (const auto& prefix : {std::vector<std::string>{}, std::vector<std::string>{"unshare", "-m"}}) {
    auto r = env_->sysc_as(prefix, {"attach", "att1", "--", "sh", "-c", script});
    ASSERT_EQ(r.status, 0) << r.err;
    const size_t sep = r.out.find("--\n");
    ASSERT_NE(sep, std::string::npos) << r.out;
    EXPECT_EQ(r.out.substr(0, sep), r.out.substr(sep + 3)) << (prefix.empty() ? "lxcd's paths" : "own paths");
    EXPECT_NE(r.out.find(":/\n"), std::string::npos) << r.out;  // the cgroup namespace's root
  }
  // The paths lxcd gives: for this mount namespace and root, the container's own cgroups.
  const auto answer = attach_answer(*env_, "att1");
  ASSERT_TRUE(answer.is_object() && answer.contains("cgroups")) << answer.dump();
  const auto& c = answer["cgroups"];
  EXPECT_EQ(c.value("mount_ns", ""), dev_ino("/proc/self/ns/mnt"));
  EXPECT_EQ(c.value("root", ""), dev_ino("/"));
  const auto tasks = c.value("tasks", std::vector<std::string>{});
  const std::string clone_into = c.value("clone_into", "");
  ASSERT_FALSE(clone_into.empty() && tasks.empty()) << c.dump();
  const std::string mine = "/" + env_->cgroup_parent() + "/att1";
  for (const std::string& t : tasks) {
    EXPECT_NE(t.find(mine + "/tasks"), std::string::npos) << t;
    EXPECT_TRUE(std::filesystem::exists(t)) << t;
  }
  if (!clone_into.empty()) {
    EXPECT_NE(clone_into.find(mine), std::string::npos) << clone_into;
    EXPECT_TRUE(std::filesystem::is_directory(clone_into)) << clone_into;
  }
}

// An init that moves itself into a cgroup of its own (systemd goes into init.scope) is followed
// by the next attach: lxcd's answer is the one for where the init is now, not one kept from
// before. The writable hierarchies are the delegated ones (name=systemd, cgroup2).
TEST_F(Attach, FollowsAnInitThatMovedToAnotherCgroup) {
  const std::string same = "cat /proc/self/cgroup; echo --; cat /proc/1/cgroup";
  auto before = run({"sh", "-c", same});  // an answer for the cgroups the init starts in
  ASSERT_EQ(before.status, 0) << before.err;
  const std::string move = "for d in /sys/fs/cgroup/*/; do [ -w $d ] || continue; "
                           "mkdir $d/moved && echo 1 > $d/moved/cgroup.procs && echo moved; done";
  auto moved = run({"sh", "-c", move});
  ASSERT_EQ(moved.status, 0) << moved.err;
  ASSERT_NE(moved.out.find("moved"), std::string::npos) << "no writable cgroup hierarchy in the container";
  auto r = run({"sh", "-c", same});
  ASSERT_EQ(r.status, 0) << r.err;
  const size_t sep = r.out.find("--\n");
  ASSERT_NE(sep, std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":/moved\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(0, sep), r.out.substr(sep + 3));
  // Back where it was, for the other tests (the next attach joins it there, and the empty
  // cgroups can go).
  auto back = run({"sh", "-c", "for d in /sys/fs/cgroup/*/; do [ -d $d/moved ] && echo 1 > $d/cgroup.procs; done; "
                               "cat /proc/1/cgroup"});
  ASSERT_EQ(back.status, 0) << back.err;
  EXPECT_EQ(back.out.find("moved"), std::string::npos) << back.out;
  auto gone = run({"sh", "-c", "for d in /sys/fs/cgroup/*/; do [ -d $d/moved ] && rmdir $d/moved; done; "
                               "ls -d /sys/fs/cgroup/*/moved 2>/dev/null; true"});
  ASSERT_EQ(gone.status, 0) << gone.err;
  EXPECT_EQ(gone.out, "");
}

// The init's seccomp program is compiled once, by lxcd: it goes into the spec file the supervisor
// starts from, and into attach answers, as the program of the rules next to it.
TEST_F(Attach, LxcdSendsTheProgramCompiledFromTheRulesItSends) {
  const auto answer = attach_answer(*env_, "att1");
  ASSERT_TRUE(answer.is_object() && answer.contains("seccomp_filter")) << answer.dump();
  runtime::SecurityPolicy policy;
  auto rules = runtime::seccomp_rules_from_json(answer.at("seccomp"));
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  policy.seccomp = *rules;
  policy.allow_compat = answer.value("seccomp_compat", false);
  auto compiled = runtime::compile_seccomp(policy);
  ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  const std::string text = runtime::seccomp_filter_to_text(compiled->filter);
  EXPECT_EQ(answer.value("seccomp_filter", ""), text);
  std::ifstream in(env_->root() + "/run/sysc/att1/spec.json");
  ASSERT_TRUE(in) << "no spec file under " << env_->root() << "/run/sysc/att1";
  const auto spec = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(spec.is_object());
  EXPECT_EQ(spec.value("seccomp_filter", ""), text);
}

// "se.slice" of /proc/PID/sched in TEXT (several lines of it: the first), or -1.
long long slice_in(const std::string& text, size_t from = 0) {
  size_t at = text.find("se.slice", from);
  if (at == std::string::npos) return -1;
  at = text.find(':', at);
  return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + 1);
}

// The CLI asks for a short slice (it mostly waits, then has little to do, and should not wait
// for a busy CPU's current task to block); nothing it runs in the container keeps it.
TEST_F(Attach, TheCliRunsOnAShortSliceAndItsCommandOnTheDefault) {
  std::ifstream own_file("/proc/self/sched");
  if (!own_file) GTEST_SKIP() << "no /proc/PID/sched (a kernel without CONFIG_SCHED_DEBUG)";
  utsname u{};
  uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  if (major < 6 || (major == 6 && minor < 12)) GTEST_SKIP() << "kernel " << u.release << " has no custom slices (6.12+)";
  const std::string own((std::istreambuf_iterator<char>(own_file)), std::istreambuf_iterator<char>());
  const long long default_slice = slice_in(own);
  if (default_slice < 0) GTEST_SKIP() << "/proc/PID/sched shows no se.slice on kernel " << u.release;
  // The shell prints the CLI's slice while its command sleeps; the command prints its own after.
  auto r = env_->sysc_as({"sh", "-c", "\"$@\" & pid=$!; sleep 0.5; grep se.slice /proc/$pid/sched; wait $pid", "sh"},
                         {"attach", "att1", "--", "sh", "-c", "sleep 1; grep se.slice /proc/self/sched"});
  ASSERT_EQ(r.status, 0) << r.err;
  const size_t second = r.out.find("se.slice", r.out.find("se.slice") + 1);
  ASSERT_NE(second, std::string::npos) << r.out;
  EXPECT_EQ(slice_in(r.out), 100000) << r.out;
  EXPECT_EQ(slice_in(r.out, second), default_slice) << r.out;
}

TEST_F(Attach, ExitCodesPropagate) {
  EXPECT_EQ(run({"sh", "-c", "exit 0"}).status, 0);
  EXPECT_EQ(run({"sh", "-c", "exit 7"}).status, 7);
  EXPECT_EQ(run({"sysc-probe", "exit", "42"}).status, 42);
}

TEST_F(Attach, DeathBySignalBecomes128PlusN) {
  EXPECT_EQ(run({"sh", "-c", "kill -9 $$"}).status, 137);
  EXPECT_EQ(run({"sh", "-c", "kill -15 $$"}).status, 143);
}

TEST_F(Attach, StdinIsPipedThrough) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += "line " + std::to_string(i) + "\n";
  auto r = run({"sysc-probe", "cat"}, data);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, data);
  auto wc = run({"wc", "-l"}, data);
  EXPECT_EQ(wc.out.find("5000"), wc.out.find_first_not_of(' ')) << wc.out;
}

TEST_F(Attach, CleanEnvironmentAndRootCwd) {
  auto r = run({"sh", "-c", "pwd; env"});
  EXPECT_EQ(r.out.substr(0, 2), "/\n");
  EXPECT_NE(r.out.find("container=sysc"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HOME=/root"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PATH="), std::string::npos);
  EXPECT_EQ(r.out.find("SYSC_"), std::string::npos) << "host environment leaked: " << r.out;
}

TEST_F(Attach, SameConfinementAsTheContainer) {
  auto caps = run({"sysc-probe", "caps"});
  EXPECT_NE(caps.out.find("cap_sys_module=0"), std::string::npos) << caps.out;
  auto sec = run({"sysc-probe", "seccomp"});
  EXPECT_NE(sec.out.find("kexec_load=EPERM"), std::string::npos) << sec.out;
  auto cg = run({"cat", "/proc/self/cgroup"});
  auto init_cg = run({"cat", "/proc/1/cgroup"});
  EXPECT_EQ(cg.out, init_cg.out);
  const std::string list = "for n in pid mnt net uts ipc cgroup; do readlink /proc/$P/ns/$n; done";
  auto ns = run({"sh", "-c", "P=$$; " + list});
  auto init_ns = run({"sh", "-c", "P=1; " + list});
  EXPECT_EQ(ns.out, init_ns.out);
  EXPECT_FALSE(ns.out.empty());
  // No host fd leaks into the attached process: only stdio.
  auto fds = run({"ls", "/proc/self/fd"});
  EXPECT_EQ(fds.out, "0\n1\n2\n3\n") << fds.out;  // 3 is ls's own directory fd
}

// lxcd keeps its answer for attach while the container's config and spec file stay the same:
// a change by `sysc config set` (a new file) and an edit in place (same file) are both seen.
TEST_F(Attach, EnvironmentFollowsTheConfig) {
  const std::vector<std::string> echo = {"sh", "-c", "echo \"[$ATT_NEW]\""};
  EXPECT_EQ(run(echo).out, "[]\n");
  ASSERT_EQ(env_->sysc({"config", "set", "att1", "environment.ATT_NEW", "one"}).status, 0);
  EXPECT_EQ(run(echo).out, "[one]\n");
  const std::string conf = env_->root() + "/etc/sysc/containers/att1.conf";
  std::string text = read_text(conf);
  const size_t at = text.find("one", text.find("ATT_NEW"));
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 3, "two");
  {
    std::ofstream out(conf, std::ios::trunc);  // the same inode, rewritten
    out << text;
  }
  EXPECT_EQ(run(echo).out, "[two]\n");
  ASSERT_EQ(env_->sysc({"config", "unset", "att1", "environment.ATT_NEW"}).status, 0);
  EXPECT_EQ(run(echo).out, "[]\n");
}

TEST_F(Attach, DefaultCommandIsRootsShell) {
  // `sysc attach att1` with no command: /etc/passwd says /bin/sh.
  auto plain = env_->sysc({"attach", "att1"}, "echo shell-$((1+1)); exit 3\n");
  EXPECT_EQ(plain.status, 3) << plain.err;
  EXPECT_NE(plain.out.find("shell-2"), std::string::npos) << plain.out;
}

}  // namespace
}  // namespace sysc::test
