// Privileged test of attach_run against a throw-away container built here without lxcd (host
// side; the container's processes are forked from the test and exec a static busybox).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sched.h>
#include <sstream>
#include <string>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <vector>

#include "common/fs.h"
#include "runtime/attach.h"
#include "support/scratch_container.h"
#include "support/test_io.h"
#include "runtime/attach_internal.h"

using namespace sysc::test;  // shared helpers: read_text, write_text, drain, read_until, wait_exit

namespace {

using sysc::runtime::AttachSpec;
using sysc::runtime::attach_run;

constexpr const char* kHostname = "attach-test";
constexpr int kCapSysModule = 16;
const char* const kApplets[] = {"sh", "cat", "ps", "echo", "sleep", "grep", "hostname", "kill", "tty",
                                "ls", "stty", "id", "env", "wc"};

struct Outcome {
  int code = -1;     // attach_run's value; 250 when it returned an error (message in err)
  std::string out;   // stdout (with a pty: everything the terminal showed)
  std::string err;
};




// The forked helper's end: run attach_run and turn its result into an exit code.
[[noreturn]] void helper_attach(const AttachSpec& spec) {
  auto r = attach_run(spec);
  if (!r.ok()) {
    std::string msg = r.error().message + "\n";
    ssize_t n = write(STDERR_FILENO, msg.data(), msg.size());
    (void)n;
    _exit(250);
  }
  _exit(*r);
}

// A forked helper running attach_run with its stdio on pipes (or a pty) of the test's.
struct Helper {
  pid_t pid = -1;
  int in = -1, out = -1, err = -1;  // with a pty: in == out == the master, err == -1
  std::string seen;                 // output read so far by expect()

  void send(const std::string& s) const {
    EXPECT_EQ(write(in, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  // Reads output until it contains `text` (after what was already matched) or 10 s pass.
  bool expect(const std::string& text, int timeout_ms = 10000) {
    size_t from = seen.size();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (seen.find(text, from) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{out, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      ssize_t n = read(out, buf, sizeof buf);
      if (n <= 0) return false;
      seen.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // Closes stdin, collects the rest of the output, reaps the helper.
  Outcome finish() {
    Outcome o;
    o.out = seen;
    if (in != out) close(in);
    std::vector<std::pair<int, std::string*>> fds = {{out, &o.out}};
    if (err >= 0) fds.push_back({err, &o.err});
    bool done = drain(fds, std::chrono::seconds(30));  // a pty master reads EIO once the helper is gone
    close(out);
    if (err >= 0) close(err);
    o.code = wait_exit(pid, !done);
    return o;
  }
};

// stdin, stdout and stderr are pipes: the test's own stdio is never touched.
Helper start_piped(const AttachSpec& spec) {
  int in[2], out[2], err[2];
  if (pipe(in) || pipe(out) || pipe(err)) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
    helper_attach(spec);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  return Helper{pid, in[1], out[0], err[0]};
}

Outcome run_piped(const AttachSpec& spec, const std::string& input = "") {
  Helper h = start_piped(spec);
  if (!input.empty()) h.send(input);
  return h.finish();
}

// The helper's controlling terminal is a host pty (33x101, TERM=xterm-test) whose master the
// test holds. Exit code 251: attach_run did not restore the terminal's settings.
Helper start_on_terminal(const AttachSpec& spec) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) || unlockpt(master)) return {};
  std::string slave = ptsname(master);
  winsize ws{33, 101, 0, 0};
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    int fd = open(slave.c_str(), O_RDWR);  // the first tty a session leader opens: its ctty
    for (int i = 0; i < 3; ++i) dup2(fd, i);
    if (fd > 2) close(fd);
    ioctl(0, TIOCSWINSZ, &ws);
    setenv("TERM", "xterm-test", 1);
    termios before{}, after{};
    tcgetattr(0, &before);
    auto r = attach_run(spec);
    tcgetattr(0, &after);
    if (before.c_lflag != after.c_lflag || before.c_iflag != after.c_iflag) _exit(251);
    if (!r.ok()) {
      std::string msg = r.error().message + "\n";
      ssize_t n = write(STDERR_FILENO, msg.data(), msg.size());
      (void)n;
      _exit(250);
    }
    _exit(*r);
  }
  return Helper{pid, master, master, -1};
}


class AttachRaw : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts, cgroups)";
    ScratchOptions o;
    o.applets.assign(std::begin(kApplets), std::end(kApplets));
    o.passwd = "daemon:x:1:1:daemon:/:/bin/false\nroot:x:0:0:root:/root:/bin/sh\n";
    o.hostname = kHostname;
    o.devpts = true;
    o.cgroups = true;
    o.init = {"/bin/sh", "-c", "sleep 1000"};
    std::string err = ct_.start(o);
    if (err.find("busybox") != std::string::npos) GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    init_ = ct_.init_pid();
  }
  void TearDown() override {
    auto left = ct_.stop();
    EXPECT_TRUE(left.empty()) << ::testing::PrintToString(left);
  }

  AttachSpec spec(std::vector<std::string> argv) const {
    AttachSpec s;
    s.name = "t1";
    s.init_pid = init_;
    s.argv = std::move(argv);
    s.tty = AttachSpec::Tty::Never;
    return s;
  }
  AttachSpec shell(const std::string& script) const { return spec({"/bin/sh", "-c", script}); }

  ScratchContainer ct_;
  pid_t init_ = -1;
};

TEST_F(AttachRaw, ExitCodeIsTheCommands) {
  auto o = run_piped(shell("exit 7"));
  EXPECT_EQ(o.code, 7) << o.err;
}

TEST_F(AttachRaw, DeathBySignalIs128PlusN) {
  auto o = run_piped(shell("kill -9 $$"));
  EXPECT_EQ(o.code, 137) << o.err;
}

TEST_F(AttachRaw, SeesTheContainersPidNamespace) {
  auto o = run_piped(shell("cat /proc/1/cmdline | tr '\\0' ' '; echo; ps -o pid,args | wc -l"));
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("sleep 1000"), std::string::npos) << o.out;
  // header, the init, the sh -c, ps and wc: nothing of the host's
  int lines = std::stoi(o.out.substr(o.out.rfind('\n', o.out.size() - 2) + 1));
  EXPECT_LE(lines, 5) << o.out;
}

TEST_F(AttachRaw, StdinAndStdoutPassThrough) {
  auto o = run_piped(spec({"/bin/cat"}), "hello");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "hello");
}

TEST_F(AttachRaw, HostnameAndPathLookup) {
  auto o = run_piped(spec({"hostname"}));  // found through PATH inside the container
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, std::string(kHostname) + "\n");
}

TEST_F(AttachRaw, CleanEnvironmentAndCwd) {
  auto s = spec({"/bin/sh", "-c", "echo \"$container|$HOME|$PATH|${TERM-unset}|$(pwd)\""});
  s.env = {"container=sysc"};
  auto o = run_piped(s);
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "sysc|/root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|unset|/\n");
}

TEST_F(AttachRaw, JoinsTheInitsCgroups) {
  ASSERT_FALSE(ct_.cgroups().empty()) << "no test cgroup could be created";
  auto o = run_piped(shell("cat /proc/1/cgroup; echo ---; cat /proc/self/cgroup"));
  ASSERT_EQ(o.code, 0) << o.err;
  auto sep = o.out.find("---\n");
  ASSERT_NE(sep, std::string::npos) << o.out;
  EXPECT_EQ(o.out.substr(0, sep), o.out.substr(sep + 4)) << o.out;
}

TEST_F(AttachRaw, CapabilityDropAndSeccomp) {
  auto s = shell("grep -E '^(CapBnd|Seccomp):' /proc/self/status");
  s.security.cap_drop = {kCapSysModule};
  s.security.seccomp = {{"kexec_load", EPERM}};
  auto o = run_piped(s);
  ASSERT_EQ(o.code, 0) << o.err;
  auto bnd = o.out.find("CapBnd:");
  ASSERT_NE(bnd, std::string::npos) << o.out;
  unsigned long long caps = std::stoull(o.out.substr(bnd + 7), nullptr, 16);
  EXPECT_EQ(caps & (1ULL << kCapSysModule), 0u) << o.out;
  EXPECT_NE(caps & (1ULL << 21), 0u) << "CAP_SYS_ADMIN should stay: " << o.out;
  EXPECT_NE(o.out.find("Seccomp:\t2"), std::string::npos) << o.out;
}

TEST_F(AttachRaw, MissingCommandIsAnError) {
  auto o = run_piped(spec({"/nonexistent"}));
  EXPECT_EQ(o.code, 250);
  EXPECT_EQ(o.err, "t1: attach: exec /nonexistent: No such file or directory\n");
  o = run_piped(spec({"no-such-command"}));
  EXPECT_EQ(o.err, "t1: attach: exec no-such-command: No such file or directory\n");
}

TEST_F(AttachRaw, ChildFailureNamesTheStep) {
  // Without CAP_SYS_ADMIN in the effective set the cgroups are still joined, setns is refused.
  int out[2], err[2];
  ASSERT_EQ(pipe(out) | pipe(err), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    cap_t caps = cap_get_proc();
    cap_value_t admin = CAP_SYS_ADMIN;
    if (!caps || cap_set_flag(caps, CAP_EFFECTIVE, 1, &admin, CAP_CLEAR) || cap_set_proc(caps)) _exit(252);
    helper_attach(shell("true"));
  }
  close(out[1]);
  close(err[1]);
  Helper h{pid, -1, out[0], err[0]};
  auto o = h.finish();
  EXPECT_EQ(o.code, 250);
  EXPECT_EQ(o.err, "t1: attach: setns: Operation not permitted\n");
}

TEST_F(AttachRaw, DeadInitIsAnError) {
  auto s = shell("true");
  ct_.kill_init();
  auto o = run_piped(s);
  EXPECT_EQ(o.code, 250);
  EXPECT_EQ(o.err.rfind("t1: attach: ", 0), 0u) << o.err;
}

TEST_F(AttachRaw, TerminalInTheContainersDevpts) {
  auto s = spec({});
  s.tty = AttachSpec::Tty::Auto;
  Helper h = start_on_terminal(s);
  h.send("tty; echo \"Z=$0 T=$TERM S=$(stty size) H=$((6*7))\"; exit 5\n");
  auto o = h.finish();
  EXPECT_EQ(o.code, 5) << o.out;
  EXPECT_NE(o.out.find("/dev/pts/0"), std::string::npos) << o.out;  // the container's own devpts
  EXPECT_NE(o.out.find("Z=-sh T=xterm-test S=33 101 H=42"), std::string::npos) << o.out;
}

TEST_F(AttachRaw, InteractiveTerminal) {
  auto s = spec({"/bin/sh"});
  s.tty = AttachSpec::Tty::Always;
  Helper h = start_on_terminal(s);
  h.send("echo A-$((1+1))\n");
  ASSERT_TRUE(h.expect("A-2")) << h.seen;
  // The caller's window changes: the kernel sends SIGWINCH, attach copies the size to its pty.
  winsize ws{40, 120, 0, 0};
  ASSERT_EQ(ioctl(h.in, TIOCSWINSZ, &ws), 0);
  // Asked again until attach has passed the new size on (it relays SIGWINCH asynchronously).
  bool resized = false;
  for (int i = 0; i < 50 && !resized; ++i) {
    h.send("stty size\n");
    resized = h.expect("40 120", 200);
  }
  EXPECT_TRUE(resized) << h.seen;
  // ^C is a byte in raw mode: the container's pty turns it into SIGINT for the sleep only.
  h.send("sleep 100\n");
  usleep(300000);
  h.send("\x03");
  h.send("echo B-$((2+2))\n");
  EXPECT_TRUE(h.expect("B-4")) << h.seen;
  h.send("exit 4\n");
  auto o = h.finish();
  EXPECT_EQ(o.code, 4) << o.out;
}

TEST_F(AttachRaw, TerminalFallsBackToTheHostsDevpts) {
  ASSERT_EQ(run_piped(shell("/bin/busybox umount /dev/pts")).code, 0);
  auto s = shell("echo ok-$((1+2)); exit 6");
  s.tty = AttachSpec::Tty::Always;
  Helper h = start_on_terminal(s);
  auto o = h.finish();
  EXPECT_EQ(o.code, 6) << o.out;
  EXPECT_NE(o.out.find("ok-3"), std::string::npos) << o.out;
}

TEST_F(AttachRaw, TermSignalIsRelayedToTheCommand) {
  Helper h = start_piped(shell("echo ready; exec sleep 100"));
  ASSERT_TRUE(h.expect("ready")) << h.seen;
  kill(h.pid, SIGTERM);  // the CLI gets SIGTERM: child1 relays it to the command
  auto o = h.finish();
  EXPECT_EQ(o.code, 128 + SIGTERM) << o.out << o.err;
}

// Where attach joins the init's cgroups, from fixture text (needs no privileges).
using sysc::runtime::attach_detail::CgroupJoin;
using sysc::runtime::attach_detail::cgroup_join_paths;

TEST(AttachCgroupPaths, HybridHost) {
  const std::string mountinfo =
      "25 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
  const std::string proc_cgroup =
      "12:net_cls:/sysc/web1\n"  // not mounted here: skipped
      "4:memory:/sysc/web1\n"
      "2:cpu,cpuacct:/sysc/web1\n"
      "1:name=systemd:/sysc/web1/init.scope\n"
      "0::/sysc/web1/init.scope\n";
  EXPECT_EQ(cgroup_join_paths(mountinfo, proc_cgroup),
            (CgroupJoin{"/sys/fs/cgroup/unified/sysc/web1/init.scope",
                        {"/sys/fs/cgroup/memory/sysc/web1/tasks", "/sys/fs/cgroup/cpu,cpuacct/sysc/web1/tasks",
                         "/sys/fs/cgroup/systemd/sysc/web1/init.scope/tasks"}}));
}

TEST(AttachCgroupPaths, UnifiedHostWithMountRootAndEscapes) {
  // A cgroup2 mount whose root is a subtree (as inside a cgroup namespace), a space in a path.
  const std::string mountinfo = "30 22 0:26 /lxc/host /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
                                "31 22 0:26 / /mnt/all\\040cgroups rw - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(cgroup_join_paths(mountinfo, "0::/lxc/host/sysc/web1\n"), (CgroupJoin{"/sys/fs/cgroup/sysc/web1", {}}));
  EXPECT_EQ(cgroup_join_paths(mountinfo, "0::/other\n"), (CgroupJoin{"/mnt/all cgroups/other", {}}));
  EXPECT_EQ(cgroup_join_paths(mountinfo, "0::/\n"), (CgroupJoin{"/mnt/all cgroups", {}}));
}

}  // namespace
