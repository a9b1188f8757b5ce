// lxcd's side of the shim: spawning sysc-shim for a start, and the line-JSON control socket.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sysc::lxcd {

struct SpawnedShim {
  pid_t pid = 0;
  nlohmann::json status;  // {"ok":true,"init_pid":N,"started_at":T} or {"ok":false,"error":"..."}
};

// A sysc-shim spawned for a start, before lxcd prepares the container: the exec and the shim's
// own start-up run alongside that work (or ahead of it: ShimPool). posix_spawn `shim_path` in a
// new session (it must outlive lxcd), with stdin on /dev/null, stdout/stderr on log_fd, the
// status pipe as fd 3 and the go pipe as fd 4. The shim makes nothing but the container's
// cgroup before spec_ready(), and clones nothing until go(); a launch destroyed before go() is
// called off: the shim sees EOF on fd 4, removes the cgroup it made and stops before it clones
// anything (after spec_ready() it has opened the console log, appending, and its socket in the
// run dir; a spare has its socket there from take_run_dir() on), and is reaped.
// The go pipe carries, in order: optionally the cgroup to make (2 bytes 0xffff, 2 bytes of
// length, host order, then "DRIVER\nREL\n0" or, with its parents ready, "...\n1"), the spec file's path (2 bytes of length, then the
// path) once the file is written, then one byte: go.
class ShimLaunch {
 public:
  // With SPARE_ROOT (ROOT/run/sysc), the shim also makes SPARE_ROOT/.spare-PID ahead: its
  // control socket and an empty spec file, for take_run_dir().
  static Result<ShimLaunch> spawn(const std::string& shim_path, int log_fd, const std::string& spare_root = "");
  ShimLaunch(ShimLaunch&& o) noexcept;
  ShimLaunch& operator=(ShimLaunch&&) = delete;
  ~ShimLaunch();
  // Renames the directory the shim made ahead to RUN_DIR (absent, or an empty directory); false
  // if it made none or has not finished it yet: then the start makes RUN_DIR and the shim its
  // socket there after spec_ready().
  bool take_run_dir(const std::string& run_dir);
  // The container's cgroup REL (driver DRIVER, as sysc.conf names it): the shim makes it at once,
  // while lxcd prepares the rest of the start, and writes its limits once it has the spec.
  // PARENTS_READY: lxcd's driver has set up the levels above it (cgroup::Driver::parents_ready).
  void make_cgroup(const std::string& driver, const std::string& rel, bool parents_ready);
  // The spec file is written: the shim reads it and sets up everything it can before go().
  void spec_ready(const std::string& spec_path);
  // The start is recorded: the shim starts the container; waits for its status line.
  Result<SpawnedShim> go();
  pid_t pid() const { return pid_; }
  // False once the shim has exited (it is reaped then).
  bool alive();

 private:
  ShimLaunch() = default;
  void write_go(const void* data, size_t size);
  void reap();  // the shim has exited: remove what a spare of it left, then wait for it
  pid_t pid_ = 0;
  UniqueFd status_;  // read end of the shim's fd 3
  UniqueFd go_;      // write end of the shim's fd 4
  std::string spare_dir_;  // where the shim makes its run directory ahead, if it was asked to
};

// Shims spawned ahead of the next starts (spares), so that a start skips the shim's exec, its C
// library start-up and the making of its namespaces. A thread of its own spawns them at
// SCHED_IDLE, on the CPU of the start that took the last one, so their exec and start-up only
// use CPU time nothing else wants; a start that takes one gives it back lxcd's CPUs and
// SCHED_OTHER before anything else. Two are kept: a start takes the older one, and the thread
// makes its replacement only once the starts and attaches have paused for QUIET (each calls
// hold_off() as it ends), because a spare makes its directory and namespaces at SCHED_OTHER
// (they take locks lxcd and the kernel's network code share): ~1 ms of CPU that would compete
// with the start, the container's first steps and the attach that usually follows. The second
// spare serves a start that comes before the replacement is made; when none is left (starts in
// a row), the next is made at once. A spare is not used when the shim binary changed since it
// was spawned (an upgrade) or when it is gone; the start then spawns one as without the pool.
// When lxcd ends, however it ends, the spares see EOF on their go pipes and exit.
class ShimPool {
 public:
  // RUN_ROOT: where each spare makes its run directory ahead (ShimLaunch::spawn).
  ShimPool(std::string shim_path, int log_fd, std::string run_root,
           std::chrono::milliseconds quiet = kDefaultQuiet);
  static constexpr size_t kSpares = 2;
  // Covers the client's side of an attach after lxcd's answer (~2 ms here: its helper joins the
  // namespaces, forks and execs). lxcd reads SYSC_SPARE_QUIET_MS instead when set (tests).
  static constexpr std::chrono::milliseconds kDefaultQuiet{5};
  ~ShimPool();  // stops the thread; the spares exit and are reaped
  void start();  // the thread, which spawns the first spares
  // A shim for a start: the older spare, or a new one. Its replacement is made after refill().
  Result<ShimLaunch> take();
  // Wakes the thread to make the next spare. Called by the start once its shim has its first
  // message: waking another thread costs the waker tens of microseconds on a virtual machine
  // (an inter-processor interrupt), which would delay that message.
  void refill();
  // A start or an attach has just ended: a replacement spare waits for QUIET from now.
  void hold_off();

 private:
  void run();
  std::string shim_path_;
  std::string run_root_;
  int log_fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  struct Spare {
    ShimLaunch launch;
    struct stat exe;  // the binary it runs, as it was when spawned
  };
  std::deque<Spare> spares_;  // oldest first
  uint64_t takes_ = 0;        // a failed spawn is retried after the next take
  std::chrono::milliseconds quiet_;
  std::chrono::steady_clock::time_point busy_until_{};  // the last take or hold_off() + quiet_
  bool quit_ = false;
  int take_cpu_ = -1;         // the CPU the last take() ran on
  std::thread thread_;
};

// A connection to ROOT/run/sysc/NAME/shim.sock.
class ShimConnection {
 public:
  static Result<ShimConnection> connect(const std::string& socket_path);
  Status send(const nlohmann::json& request, int pass_fd = -1);
  // Next JSON line; timeout_ms < 0 waits forever. ETIMEDOUT / EPIPE (closed) as errors.
  Result<nlohmann::json> read(int timeout_ms);
  int fd() const { return fd_.get(); }
  // The supervisor's pid as the kernel saw it at connect (SO_PEERCRED), 0 if unknown.
  pid_t peer_pid() const;
  UniqueFd release_fd() { return std::move(fd_); }

 private:
  UniqueFd fd_;
  std::string buf_;
};

}  // namespace sysc::lxcd
