// `sysc create` against a stand-in for lxcd on a unix socket: the CLI ends with the create's
// status line, without waiting for lxcd to close the connection (a thread lxcd woke just before,
// such as a btrfs image's spare snapshot, may take the CPU before lxcd closes it).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

// Waits up to 20 s for FD to be readable.
bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 20000) == 1;
}

struct FakeLxcd {
  std::string root;
  int listener = -1;
  std::string request;               // read by the test once got_request is set
  std::atomic<bool> got_request{false};
  std::atomic<bool> closed{false};
  std::thread thread;

  // Answers one create with LINES, then holds the connection open until RELEASE is written.
  FakeLxcd(const std::string& lines, int release_fd) {
    char tmpl[] = "/tmp/sysc-clitest-XXXXXX";
    if (!mkdtemp(tmpl)) ADD_FAILURE() << "mkdtemp: " << strerror(errno);
    root = tmpl;
    fs::create_directories(root + "/run/sysc");
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string path = root + "/run/sysc/lxcd.sock";
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(listener, 1), 0);
    thread = std::thread([this, lines, release_fd] {
      // Every wait is bounded: a CLI that never connects or stops mid-request fails the test.
      int c = readable(listener) ? accept4(listener, nullptr, nullptr, SOCK_CLOEXEC) : -1;
      if (c < 0) return;
      char buf[4096];
      // The request: header and JSON body (ends with '}').
      while (request.find("\r\n\r\n") == std::string::npos || request.back() != '}') {
        ssize_t n = readable(c) ? read(c, buf, sizeof buf) : -1;
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      got_request = true;
      std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n" + lines;
      (void)!write(c, out.data(), out.size());
      pollfd p{release_fd, POLLIN, 0};
      if (poll(&p, 1, 20000) == 1) (void)!read(release_fd, buf, 1);
      closed = true;
      close(c);
    });
  }
  ~FakeLxcd() {
    if (thread.joinable()) thread.join();
    close(listener);
    fs::remove_all(root);
  }
};

// Runs `sysc --root ROOT create -q busybox NAME`; its exit status (or -1).
int run_create(const std::string& root, const std::string& name, std::string* err) {
  int errp[2];
  if (pipe(errp) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(errp[1], 2);
    execl(SYSC_BIN, SYSC_BIN, "--root", root.c_str(), "create", "-q", "busybox", name.c_str(), nullptr);
    _exit(127);
  }
  close(errp[1]);
  char buf[512];
  ssize_t n;
  while ((n = read(errp[0], buf, sizeof buf)) > 0) err->append(buf, static_cast<size_t>(n));
  close(errp[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST(CliCreateStream, EndsAtTheStatusLineWithoutWaitingForTheClose) {
  int release[2];
  ASSERT_EQ(pipe(release), 0);
  {
    FakeLxcd lxcd("{\"progress\":85,\"message\":\"root filesystem (btrfs)\"}\n"
                  "{\"progress\":100,\"message\":\"created\"}\n{\"status\":201,\"result\":{\"storage\":\"btrfs\"}}\n",
                  release[0]);
    std::string err;
    EXPECT_EQ(run_create(lxcd.root, "c1", &err), 0) << err;
    EXPECT_FALSE(lxcd.closed) << "the CLI waited for the connection's close";
    ASSERT_TRUE(lxcd.got_request);
    EXPECT_NE(lxcd.request.find("\"name\":\"c1\""), std::string::npos) << lxcd.request;
    (void)!write(release[1], "x", 1);
  }
  // A failed create: its error line is the last, and the CLI says it.
  {
    FakeLxcd lxcd("{\"status\":409,\"error\":\"c2: already exists\"}\n", release[0]);
    std::string err;
    EXPECT_NE(run_create(lxcd.root, "c2", &err), 0);
    EXPECT_NE(err.find("c2: already exists"), std::string::npos) << err;
    EXPECT_FALSE(lxcd.closed);
    (void)!write(release[1], "x", 1);
  }
  close(release[0]);
  close(release[1]);
}

// A connection closed before any status line is an error naming the container.
TEST(CliCreateStream, CloseBeforeTheStatusIsAnError) {
  int release[2];
  ASSERT_EQ(pipe(release), 0);
  (void)!write(release[1], "x", 1);  // the stand-in closes right after its lines
  {
    FakeLxcd lxcd("{\"progress\":10,\"message\":\"busybox: building\"}\n", release[0]);
    std::string err;
    EXPECT_NE(run_create(lxcd.root, "c3", &err), 0);
    EXPECT_NE(err.find("c3: lxcd closed the connection before the create finished"), std::string::npos) << err;
  }
  close(release[0]);
  close(release[1]);
}
