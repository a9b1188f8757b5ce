// Privileged test of attach_run without a pty when the caller's fds 0-2 include a terminal: no
// host terminal fd may reach the container's process (it could TIOCSTI keystrokes into the
// caller's shell); terminals are relayed through pipes. Host side, against a throw-away
// container built here without lxcd, like test_attach_raw.cpp.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sched.h>
#include <sstream>
#include <string>
#include <sys/ioctl.h>
#include <sys/mount.h>
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

using namespace sysc::test;  // shared helpers: read_text, write_text, drain, read_until, wait_exit

namespace {

using sysc::runtime::AttachSpec;
using sysc::runtime::attach_run;

const char* const kApplets[] = {"sh", "cat", "echo", "sleep", "tty", "readlink", "head"};




enum class Io { Terminal, Pipe };

struct Outcome {
  int code = -1;     // attach_run's value; 250: it returned an error; 251: the terminal's settings changed
  std::string out;   // the stdout pipe
  std::string err;   // the stderr pipe
  std::string term;  // everything written to the terminal (echo of typed input included)
};

// The `sysc attach` side, forked: a session leader whose controlling terminal is a host pty (the
// caller's interactive terminal; the test holds the master), with each of fds 0-2 either that
// terminal or a pipe of the test's.
struct Caller {
  pid_t pid = -1;
  int master = -1;
  int in = -1, out = -1, err = -1;  // the test's pipe ends; -1 where the fd is the terminal
  Outcome o;

  bool start(const AttachSpec& spec, Io in_io, Io out_io, Io err_io) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) || unlockpt(master)) return false;
    std::string slave = ptsname(master);
    const Io io[3] = {in_io, out_io, err_io};
    int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    for (int i = 0; i < 3; ++i)
      if (io[i] == Io::Pipe && pipe2(pipes[i], O_CLOEXEC) != 0) return false;
    pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      setsid();
      int t = open(slave.c_str(), O_RDWR);  // the first tty a session leader opens: its ctty
      int term_fd = -1;
      for (int i = 0; i < 3; ++i) {
        int src = io[i] == Io::Terminal ? t : pipes[i][i == 0 ? 0 : 1];
        dup2(src, i);
        if (io[i] == Io::Terminal && term_fd < 0) term_fd = i;
      }
      if (t > 2) close(t);
      for (auto& pp : pipes)
        for (int fd : pp)
          if (fd > 2) close(fd);  // the copies: the test's close of its stdin end must be EOF
      close(master);
      termios before{}, after{};
      tcgetattr(term_fd, &before);
      auto r = attach_run(spec);
      tcgetattr(term_fd, &after);
      if (before.c_lflag != after.c_lflag || before.c_iflag != after.c_iflag) _exit(251);
      if (!r.ok()) {
        std::string msg = r.error().message + "\n";
        (void)!write(STDERR_FILENO, msg.data(), msg.size());
        _exit(250);
      }
      _exit(*r);
    }
    for (int i = 0; i < 3; ++i) {
      if (io[i] != Io::Pipe) continue;
      close(pipes[i][i == 0 ? 0 : 1]);
      (i == 0 ? in : i == 1 ? out : err) = pipes[i][i == 0 ? 1 : 0];
    }
    return true;
  }
  void type(const std::string& s) const {  // as typed on the caller's keyboard
    EXPECT_EQ(write(master, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  // Closes stdin (if a pipe), collects all output, reaps the helper; the master reads EIO once
  // the helper, the last holder of the slave, is gone.
  Outcome finish() {
    if (in >= 0) close(in);
    in = -1;
    std::vector<std::pair<int, std::string*>> fds = {{master, &o.term}};
    if (out >= 0) fds.push_back({out, &o.out});
    if (err >= 0) fds.push_back({err, &o.err});
    bool done = drain(fds, std::chrono::seconds(30));
    for (int* fd : {&master, &out, &err})
      if (*fd >= 0) close(*fd), *fd = -1;
    o.code = wait_exit(pid, !done);
    pid = -1;
    return o;
  }
  ~Caller() {
    if (pid > 0) finish();
  }
};

// Host pids of the processes whose parent is `parent`.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* de = readdir(d)) {
    pid_t pid = atoi(de->d_name);
    if (pid <= 0) continue;
    std::ifstream in("/proc/" + std::string(de->d_name) + "/stat");
    std::string line;
    std::getline(in, line);
    auto paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream f(line.substr(paren + 2));
    char state;
    pid_t ppid = 0;
    f >> state >> ppid;
    if (ppid == parent) out.push_back(pid);
  }
  closedir(d);
  return out;
}

class AttachTty : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts)";
    ScratchOptions o;
    o.applets.assign(std::begin(kApplets), std::end(kApplets));
    std::string err = ct_.start(o);
    if (err.find("busybox") != std::string::npos) GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    init_ = ct_.init_pid();
  }
  void TearDown() override {
    auto left = ct_.stop();
    EXPECT_TRUE(left.empty()) << ::testing::PrintToString(left);
  }

  // TTY mode Auto, as `sysc attach NAME -- cmd` from a shell: stdout or stdin is not a terminal
  // in every test here, so no pty is allocated.
  AttachSpec shell(const std::string& script) const {
    AttachSpec s;
    s.name = "t1";
    s.init_pid = init_;
    s.argv = {"/bin/sh", "-c", script};
    s.tty = AttachSpec::Tty::Auto;
    return s;
  }

  ScratchContainer ct_;
  pid_t init_ = -1;
};

std::string pipe_name(int fd) {
  struct stat st{};
  fstat(fd, &st);
  return "pipe:[" + std::to_string(st.st_ino) + "]";
}

// `sysc attach c -- cmd | cat` typed in an interactive shell: stdin and stderr are the terminal.
TEST_F(AttachTty, TerminalFdsAreReplacedByPipes) {
  Caller c;
  ASSERT_TRUE(c.start(shell("for i in 0 1 2; do if test -t $i; then echo TTY$i; else echo NOTTY$i; fi; done; "
                            "tty; for i in 0 1 2; do readlink /proc/self/fd/$i; done; echo to-stderr >&2"),
                      Io::Terminal, Io::Pipe, Io::Terminal));
  const std::string stdout_pipe = pipe_name(c.out);
  auto o = c.finish();
  EXPECT_EQ(o.code, 0) << o.out << o.term;
  std::istringstream lines(o.out);
  std::vector<std::string> l;
  for (std::string s; std::getline(lines, s);) l.push_back(s);
  ASSERT_EQ(l.size(), 7u) << o.out;
  EXPECT_EQ(l[0], "NOTTY0");
  EXPECT_EQ(l[1], "NOTTY1");
  EXPECT_EQ(l[2], "NOTTY2");
  EXPECT_EQ(l[3], "not a tty");  // ttyname(0) fails
  EXPECT_EQ(l[4].rfind("pipe:[", 0), 0u) << l[4];      // the relay's pipe
  EXPECT_EQ(l[5], stdout_pipe);                          // not a terminal: passed straight through
  EXPECT_EQ(l[6].rfind("pipe:[", 0), 0u) << l[6];      // the relay's pipe
  EXPECT_NE(l[4], l[6]);
  EXPECT_NE(o.term.find("to-stderr"), std::string::npos) << o.term;  // relayed to the terminal
}

// What the running command holds, seen from the host: no fd is a terminal, TIOCSTI fails.
TEST_F(AttachTty, TiocstiOnTheCommandsFdsFails) {
  Caller c;
  ASSERT_TRUE(c.start(shell("echo ready; exec sleep 100"), Io::Terminal, Io::Pipe, Io::Terminal));
  std::string seen;
  ASSERT_TRUE(read_until(c.out, seen, "ready\n")) << seen;
  std::vector<pid_t> child1 = children_of(c.pid);
  ASSERT_EQ(child1.size(), 1u);
  std::vector<pid_t> command = children_of(child1[0]);
  ASSERT_EQ(command.size(), 1u);
  for (int n = 0; n < 3; ++n) {
    std::string path = "/proc/" + std::to_string(command[0]) + "/fd/" + std::to_string(n);
    int fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);  // pipes: never blocks
    ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
    EXPECT_FALSE(isatty(fd)) << path;
    char ch = 'x';
    errno = 0;
    EXPECT_EQ(ioctl(fd, TIOCSTI, &ch), -1) << path;
    EXPECT_EQ(errno, ENOTTY) << path;
    close(fd);
  }
  kill(c.pid, SIGTERM);  // relayed to the command, as without pipes
  auto o = c.finish();
  EXPECT_EQ(o.code, 128 + SIGTERM) << o.out << o.term;
}

TEST_F(AttachTty, TypedInputReachesTheCommand) {
  Caller c;
  ASSERT_TRUE(c.start(shell("head -n1; echo after"), Io::Terminal, Io::Pipe, Io::Pipe));
  c.type("hello\n");
  auto o = c.finish();  // head exits after a line: attach returns with the terminal still open
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "hello\nafter\n");
  EXPECT_EQ(o.err, "");
}

TEST_F(AttachTty, EndOfInputOnTheTerminalClosesTheCommandsStdin) {
  Caller c;
  ASSERT_TRUE(c.start(shell("cat; echo eof-seen"), Io::Terminal, Io::Pipe, Io::Pipe));
  c.type("abc\n");
  c.type("def\n\x04");  // ^D at the start of a line: read() returns 0 in the CLI
  auto o = c.finish();
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "abc\ndef\neof-seen\n");
}

// `echo abc | sysc attach c -- cmd`: stdout and stderr are the terminal, relayed in full and in
// order (one pipe for both), the exit code propagated.
TEST_F(AttachTty, OutputToTheTerminalIsRelayedInFull) {
  Caller c;
  ASSERT_TRUE(c.start(shell("cat; test -t 1 || echo NOTTY1; test -t 2 || echo NOTTY2 >&2; i=0; "
                            "while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo err-end >&2; exit 3"),
                      Io::Pipe, Io::Terminal, Io::Terminal));
  ASSERT_EQ(write(c.in, "abc\n", 4), 4);
  auto o = c.finish();
  EXPECT_EQ(o.code, 3) << o.term.substr(0, 2000);
  auto at = [&](const std::string& s) { return o.term.find(s); };
  EXPECT_NE(at("abc\r\n"), std::string::npos);
  EXPECT_NE(at("NOTTY1\r\n"), std::string::npos);
  EXPECT_NE(at("NOTTY2\r\n"), std::string::npos);
  ASSERT_NE(at("line-2999\r\n"), std::string::npos) << o.term.substr(o.term.size() > 500 ? o.term.size() - 500 : 0);
  ASSERT_NE(at("err-end"), std::string::npos);
  EXPECT_LT(at("NOTTY2"), at("line-0\r\n"));
  EXPECT_LT(at("line-2999"), at("err-end"));
}

}  // namespace
