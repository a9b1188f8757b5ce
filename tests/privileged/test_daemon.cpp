// lxcd and its shims: containers survive kill -9 of lxcd and are re-adopted; a killed shim is
// recorded; concurrent CLI calls are safe.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lxcd/shim_client.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

class Daemon : public ::testing::Test {
 protected:
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    env_ = std::make_unique<SyscEnv>();
  }
  std::unique_ptr<SyscEnv> env_;
};

TEST_F(Daemon, KillingLxcdLeavesContainersRunningAndANewOneAdoptsThem) {
  env_->create_busybox("dmn1");
  ASSERT_EQ(env_->sysc({"start", "dmn1"}).status, 0);
  int init = env_->info("dmn1").value("init_pid", 0);
  int old_lxcd = env_->lxcd_pid();
  ASSERT_GT(old_lxcd, 0);
  env_->kill_lxcd(SIGKILL);
  EXPECT_EQ(env_->lxcd_pid(), 0);
  EXPECT_TRUE(alive(init)) << "the container died with lxcd";
  // The next command starts a new lxcd, which reports the container RUNNING with the same init.
  auto info = env_->info("dmn1");
  EXPECT_NE(env_->lxcd_pid(), old_lxcd);
  EXPECT_EQ(info.value("state", ""), "RUNNING") << info.dump();
  EXPECT_EQ(info.value("init_pid", 0), init);
  EXPECT_EQ(env_->sysc({"attach", "dmn1", "--", "true"}).status, 0);
  // ... and can stop it cleanly.
  auto r = env_->sysc({"stop", "dmn1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->info("dmn1").value("last_exit", ""), "halted");
  EXPECT_TRUE(env_->leftovers("dmn1").empty());
}

TEST_F(Daemon, ContainerThatDiesWhileLxcdIsDownIsRecordedStopped) {
  env_->create_busybox("dmn2");
  ASSERT_EQ(env_->sysc({"start", "dmn2"}).status, 0);
  auto before = env_->info("dmn2");
  const int init = before.value("init_pid", 0), shim = before.value("shim_pid", 0);
  ASSERT_GT(shim, 0) << before.dump();
  env_->kill_lxcd(SIGKILL);
  ASSERT_EQ(kill(init, SIGKILL), 0);
  // The shim records the exit and ends before any lxcd runs again (the next command starts one).
  for (int i = 0; i < 200 && (alive(init) || alive(shim)); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(alive(shim)) << "the supervisor outlived its container by 10 s";
  auto info = env_->info("dmn2");
  EXPECT_EQ(info.value("state", ""), "STOPPED") << info.dump();
  EXPECT_EQ(info.value("last_exit", ""), "killed by SIGKILL");
  EXPECT_TRUE(env_->leftovers("dmn2").empty()) << ::testing::PrintToString(env_->leftovers("dmn2"));
}

TEST_F(Daemon, KilledShimTakesItsContainerDownAndIsRecorded) {
  env_->create_busybox("dmn3");
  ASSERT_EQ(env_->sysc({"start", "dmn3"}).status, 0);
  auto info = env_->info("dmn3");
  int shim = info.value("shim_pid", 0), init = info.value("init_pid", 0);
  ASSERT_EQ(kill(shim, SIGKILL), 0);
  ASSERT_TRUE(env_->wait_state("dmn3", "STOPPED", 10));
  EXPECT_NE(env_->info("dmn3").value("last_exit", "").find("supervisor"), std::string::npos);
  for (int i = 0; i < 50 && alive(init); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(alive(init)) << "init outlived its supervisor";
  EXPECT_TRUE(env_->leftovers("dmn3").empty()) << ::testing::PrintToString(env_->leftovers("dmn3"));
  EXPECT_EQ(env_->sysc({"start", "dmn3"}).status, 0);
}

TEST_F(Daemon, TwoStartsAtOnceStartItOnce) {
  env_->create_busybox("dmn4");
  auto a = std::async(std::launch::async, [&] { return env_->sysc({"start", "dmn4"}); });
  auto b = std::async(std::launch::async, [&] { return env_->sysc({"start", "dmn4"}); });
  auto ra = a.get(), rb = b.get();
  EXPECT_EQ((ra.status == 0) + (rb.status == 0), 1) << ra.err << " / " << rb.err;
  const auto& loser = ra.status == 0 ? rb : ra;
  EXPECT_NE(loser.err.find("already running"), std::string::npos) << loser.err;
  EXPECT_EQ(env_->state("dmn4"), "RUNNING");
}

TEST_F(Daemon, TwentyContainersStartInParallel) {
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i) names.push_back("par" + std::to_string(i));
  for (auto& n : names) env_->create_busybox(n);
  std::vector<std::future<RunResult>> starts;
  for (auto& n : names) starts.push_back(std::async(std::launch::async, [&, n] { return env_->sysc({"start", n}); }));
  for (auto& f : starts) {
    auto r = f.get();
    EXPECT_EQ(r.status, 0) << r.err;
  }
  auto list = nlohmann::json::parse(env_->sysc({"list", "--format", "json"}).out, nullptr, false);
  ASSERT_TRUE(list.is_array());
  int running = 0;
  for (auto& c : list) running += c["state"] == "RUNNING";
  EXPECT_EQ(running, 20);
  std::vector<std::future<RunResult>> stops;
  for (auto& n : names) stops.push_back(std::async(std::launch::async, [&, n] { return env_->sysc({"stop", "--force", n}); }));
  for (auto& f : stops) EXPECT_EQ(f.get().status, 0);
  EXPECT_TRUE(env_->leftovers().empty()) << ::testing::PrintToString(env_->leftovers());
}

TEST_F(Daemon, TwoClientsStartingTheDaemonAtOnceShareOne) {
  auto a = std::async(std::launch::async, [&] { return env_->sysc({"list"}); });
  auto b = std::async(std::launch::async, [&] { return env_->sysc({"list"}); });
  EXPECT_EQ(a.get().status, 0);
  EXPECT_EQ(b.get().status, 0);
  EXPECT_GT(env_->lxcd_pid(), 0);
}

// A line "KEY: VALUE" or "Max open files  SOFT  HARD ..." of a /proc/PID file, "" if absent.
std::string proc_line(int pid, const std::string& file, const std::string& prefix) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return line;
  return "";
}

int threads_of(int pid) {
  std::string line = proc_line(pid, "status", "Threads:");
  return line.empty() ? -1 : std::atoi(line.c_str() + 8);
}

// A connection to ROOT's lxcd socket (SOCK_NONBLOCK as asked), -1 if refused.
int connect_lxcd(const SyscEnv& env, int extra_flags = 0) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = env.root() + "/run/sysc/lxcd.sock";
  if (path.size() >= sizeof addr.sun_path) return -1;
  path.copy(addr.sun_path, path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | extra_flags, 0);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

// True once lxcd has closed FD (EOF after whatever it sent), false if it is still open after
// waiting WAIT_MS.
bool closed_by_lxcd(int fd, int wait_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count()))) <= 0) return false;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return true;
  }
}

// lxcd out of descriptors: accept(2) fails at once while connections are pending. It must
// neither spin up a thread per failure (which multiplied until lxcd aborted) nor die, and it
// serves again, with no more threads than before, once the connections are gone.
TEST_F(Daemon, OutOfDescriptorsLxcdKeepsItsThreadsAndServesAgain) {
  // The first command starts lxcd with its limit: 64 descriptors, soft and hard.
  auto r = env_->sysc_as({"prlimit", "--nofile=64:64", "--"}, {"list"});
  ASSERT_EQ(r.status, 0) << r.err;
  const int pid = env_->lxcd_pid();
  ASSERT_GT(pid, 0);
  ASSERT_NE(proc_line(pid, "limits", "Max open files").find(" 64 "), std::string::npos)
      << proc_line(pid, "limits", "Max open files");
  const int threads_before = threads_of(pid);
  ASSERT_GT(threads_before, 0);

  // Silent connections, more than lxcd can take: it accepts until it is out of descriptors,
  // the rest stay pending in the listen queue.
  std::vector<int> conns;
  for (int i = 0; i < 120; ++i) {
    int fd = connect_lxcd(*env_, SOCK_NONBLOCK);
    if (fd < 0) break;
    conns.push_back(fd);
  }
  ASSERT_GT(conns.size(), 64u);
  // Long enough for many failing accepts (one each 10 ms per waiting thread).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(alive(pid)) << "lxcd died out of descriptors";
  const int threads_full = threads_of(pid);
  // At most one thread per descriptor it could take, plus the waiting ones.
  EXPECT_LE(threads_full, threads_before + 64) << "threads before: " << threads_before;

  for (int fd : conns) close(fd);
  r = env_->sysc({"list"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->lxcd_pid(), pid);
  // The threads of the closed connections leave again (at most kSpare stay waiting).
  int threads_after = threads_of(pid);
  for (int i = 0; i < 50 && threads_after > threads_before + 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    threads_after = threads_of(pid);
  }
  EXPECT_LE(threads_after, threads_before + 2) << "threads before: " << threads_before << ", full: " << threads_full;
}

// A client that never finishes its request is let go after lxcd's request deadline (~10 s of
// silence); a stream that has started (events) stays open as long as the client wants.
TEST_F(Daemon, ClientThatNeverFinishesItsRequestIsLetGo) {
  ASSERT_EQ(env_->sysc({"list"}).status, 0);
  int silent = connect_lxcd(*env_), partial = connect_lxcd(*env_), events = connect_lxcd(*env_);
  ASSERT_GE(silent, 0);
  ASSERT_GE(partial, 0);
  ASSERT_GE(events, 0);
  const std::string head = "GET /1.0/events HTTP/1.1\r\nHost: lxcd\r\n";
  ASSERT_EQ(write(partial, head.data(), head.size()), static_cast<ssize_t>(head.size()));
  const std::string whole = head + "\r\n";
  ASSERT_EQ(write(events, whole.data(), whole.size()), static_cast<ssize_t>(whole.size()));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_lxcd(silent, 30000)) << "a silent connection stayed open for 30 s";
  EXPECT_TRUE(closed_by_lxcd(partial, 5000)) << "a half-sent request stayed open";
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(waited, 5.0) << "let go before the deadline";
  // The event stream, quiet just as long, is still there.
  EXPECT_FALSE(closed_by_lxcd(events, 0));
  for (int fd : {silent, partial, events}) close(fd);
  EXPECT_EQ(env_->sysc({"list"}).status, 0);
}

// lxcd keeps supervisors spawned ahead at SCHED_IDLE; the next start runs on the oldest (back
// at SCHED_OTHER and on lxcd's CPUs, as is the container's init) and a new spare follows, pinned
// to the CPU of that start while it waits. Spares of a shim binary that changed since are not
// used, and a killed lxcd's spares exit. A spare makes its run directory ahead (.spare-PID: its
// socket and an empty spec file), which the start that takes it renames to the container's; a
// spare that ends removes it, and lxcd removes stale ones.
TEST_F(Daemon, SpareSupervisorRunsTheNextStartAndIsReplaced) {
  // lxcd and sysc-shim copied into the root: the upgrade below changes this copy of the shim
  // binary, not the build's (lxcd runs the shim beside itself).
  const std::string build_bin = std::filesystem::path(SYSC_BIN).parent_path().string();
  const std::string bin = env_->root() + "/bin";
  std::filesystem::create_directories(bin);
  for (const char* f : {"lxcd", "sysc-shim"})
    std::filesystem::copy_file(build_bin + "/" + f, bin + "/" + f);
  env_->set_env("SYSC_LXCD", bin + "/lxcd");
  env_->set_env("SYSC_TEMPLATE_DIR", build_bin + "/../share/sysc/templates");
  env_->create_busybox("dsp1");
  const int lxcd = env_->lxcd_pid();
  ASSERT_GT(lxcd, 0);
  const int spare = wait_spare(lxcd);
  ASSERT_GT(spare, 0) << "no spare supervisor";
  const std::string run = env_->root() + "/run/sysc";
  const auto spare_dir = [&](int pid) { return run + "/.spare-" + std::to_string(pid); };
  const auto dot_entries = [&] {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(run))
      if (e.path().filename().string().rfind(".spare-", 0) == 0) out.push_back(e.path().filename().string());
    return out;
  };
  EXPECT_TRUE(std::filesystem::is_socket(spare_dir(spare) + "/shim.sock"));
  EXPECT_TRUE(std::filesystem::is_regular_file(spare_dir(spare) + "/spec.json"));
  const auto inode = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  };
  const ino_t spare_sock = inode(spare_dir(spare) + "/shim.sock"), spare_spec = inode(spare_dir(spare) + "/spec.json");

  auto r = env_->sysc({"start", "dsp1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto info = env_->info("dsp1");
  const int shim = info.value("shim_pid", 0), init = info.value("init_pid", 0);
  EXPECT_EQ(shim, spare) << "the start did not run on the spare";
  EXPECT_EQ(sched_getscheduler(shim), SCHED_OTHER);
  EXPECT_EQ(sched_getscheduler(init), SCHED_OTHER);
  // A spare waits pinned to the CPU of the last start; serving, it has lxcd's CPUs.
  const std::string lxcd_cpus = cpus_allowed_list(read_text("/proc/" + std::to_string(lxcd) + "/status"));
  EXPECT_EQ(cpus_allowed_list(read_text("/proc/" + std::to_string(shim) + "/status")), lxcd_cpus);
  EXPECT_NE(read_text("/proc/" + std::to_string(shim) + "/cmdline").find(env_->root() + "/run/sysc/dsp1/spec.json"),
            std::string::npos)
      << read_text("/proc/" + std::to_string(shim) + "/cmdline");
  EXPECT_EQ(env_->sysc({"attach", "dsp1", "--", "true"}).status, 0);
  // Its directory became the container's, with the same socket (lxcd talks to it: stop below)
  // and spec file.
  EXPECT_FALSE(std::filesystem::exists(spare_dir(spare)));
  EXPECT_NE(spare_sock, 0u);
  EXPECT_EQ(inode(run + "/dsp1/shim.sock"), spare_sock) << "the spare's socket was not the one used";
  EXPECT_EQ(inode(run + "/dsp1/spec.json"), spare_spec) << "the spec was not written into the spare's file";
  // The pool is full again: the spare made before the start (the next one to serve) and the
  // one made after it, which waits pinned to one CPU.
  const std::vector<int> pool = wait_spares(lxcd);
  ASSERT_EQ(pool.size(), lxcd::ShimPool::kSpares) << "no new spare after the start";
  EXPECT_EQ(std::count(pool.begin(), pool.end(), spare), 0);
  const int next = pool.front(), newest = pool.back();
  std::vector<std::string> dirs;
  for (int pid : pool) dirs.push_back(".spare-" + std::to_string(pid));
  std::vector<std::string> entries = dot_entries();
  std::sort(dirs.begin(), dirs.end());
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, dirs);
  if (lxcd_cpus.find_first_of(",-") != std::string::npos) {  // more than one CPU: the new one waits on one
    EXPECT_EQ(cpus_allowed_list(read_text("/proc/" + std::to_string(newest) + "/status")).find_first_of(",-"),
              std::string::npos);
  }

  // The shim binary changes (its mtime here; an upgrade replaces the file): the spare is
  // dropped and the start spawns a shim of the binary as it is now.
  ASSERT_EQ(env_->sysc({"stop", "--force", "dsp1"}).status, 0);
  const std::string shim_bin = bin + "/sysc-shim";
  struct stat st {};
  ASSERT_EQ(stat(shim_bin.c_str(), &st), 0);
  timespec bumped[2] = {st.st_atim, st.st_mtim};
  bumped[1].tv_sec += 1;
  ASSERT_EQ(utimensat(AT_FDCWD, shim_bin.c_str(), bumped, 0), 0);
  r = env_->sysc({"start", "dsp1"});
  ASSERT_EQ(r.status, 0) << r.err;
  const int fresh = env_->info("dsp1").value("shim_pid", 0);
  EXPECT_GT(fresh, 0);
  EXPECT_NE(fresh, next) << "a spare of the old binary ran the start";
  EXPECT_FALSE(alive(next)) << "the dropped spare still runs";
  EXPECT_FALSE(std::filesystem::exists(spare_dir(next))) << "the dropped spare left its directory";
  EXPECT_FALSE(alive(newest)) << "the other spare of the old binary still runs";
  EXPECT_FALSE(std::filesystem::exists(spare_dir(newest))) << "the other spare of the old binary left its directory";
  EXPECT_TRUE(std::filesystem::is_socket(run + "/dsp1/shim.sock"));
  EXPECT_TRUE(env_->leftovers().empty()) << "the dropped spare was not reaped";

  // lxcd killed: its spares see EOF on their go pipes and exit; the container stays.
  const std::vector<int> last = wait_spares(lxcd);
  ASSERT_EQ(last.size(), lxcd::ShimPool::kSpares);
  env_->kill_lxcd(SIGKILL);
  for (int pid : last) {
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
      gone = !alive(pid);
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(gone) << "a spare of a killed lxcd still runs";
    EXPECT_FALSE(std::filesystem::exists(spare_dir(pid))) << "a spare of a killed lxcd left its directory";
  }
  EXPECT_TRUE(alive(fresh));
  // A spare killed with -9 cannot remove its directory: the next lxcd does.
  std::filesystem::create_directories(run + "/.spare-999999999");
  std::ofstream(run + "/.spare-999999999/spec.json") << "";
  EXPECT_EQ(env_->sysc({"stop", "--force", "dsp1"}).status, 0);
  EXPECT_FALSE(std::filesystem::exists(run + "/.spare-999999999")) << "a stale spare directory was kept";
  EXPECT_TRUE(env_->leftovers("dsp1").empty());
}

// A start that takes a spare leaves its replacement for a pause in the starts and attaches (a
// minute here, SYSC_SPARE_QUIET_MS): the other spare serves the next start, and once none is
// left the next one is made at once.
TEST_F(Daemon, SparesAreReplacedAfterAPauseUnlessNoneIsLeft) {
  env_->set_env("SYSC_SPARE_QUIET_MS", "60000");
  env_->create_busybox("dq1");
  env_->create_busybox("dq2");
  const int lxcd = env_->lxcd_pid();
  ASSERT_GT(lxcd, 0);
  const std::vector<int> pool = wait_spares(lxcd);
  ASSERT_EQ(pool.size(), 2u) << "lxcd did not make its two spares at once";
  auto r = env_->sysc({"start", "dq1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->info("dq1").value("shim_pid", 0), pool[0]) << "the start did not take the older spare";
  for (int i = 0; i < 20; ++i) {  // 2 s: the other spare, alone
    ASSERT_EQ(spares_of(lxcd), std::vector<int>{pool[1]}) << "a replacement came before the pause";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  r = env_->sysc({"start", "dq2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->info("dq2").value("shim_pid", 0), pool[1]);
  std::vector<int> now;
  for (int i = 0; i < 300 && now.empty(); ++i) {
    now = spares_of(lxcd);
    if (now.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(now.size(), 1u) << "no spare made at once with none left";
  for (int i = 0; i < 20; ++i) {  // and only that one, until the pause
    EXPECT_EQ(spares_of(lxcd), now);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(env_->sysc({"attach", "dq2", "--", "true"}).status, 0);
}

}  // namespace
}  // namespace sysc::test
