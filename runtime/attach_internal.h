// Pieces of sysc attach shared by attach.cpp and attach_pty.cpp; all parent side (the CLI process).
#pragma once

#include <csignal>
#include <string>
#include <sys/types.h>
#include <termios.h>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/attach.h"

namespace sysc::runtime::attach_detail {

// A pty pair: the master stays with the CLI, the slave becomes the attached command's terminal.
struct Pty {
  UniqueFd master;
  UniqueFd slave;
  bool in_container = false;  // false: the container had no usable devpts, the host's was used
};

// Allocates the pty inside the container's devpts (through /proc/PID/root, resolved inside that
// root) so the command sees a /dev/pts/N of its own container; falls back to the host's devpts.
// The window size is copied from winsize_fd when it is a terminal.
Result<Pty> open_pty(pid_t init_pid, int winsize_fd);

// Raw mode on the caller's terminal for the relay; the destructor restores the saved settings.
class RawMode {
 public:
  RawMode() = default;
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;
  ~RawMode() { restore(); }
  Status enter(int fd);
  void restore();

 private:
  int fd_ = -1;
  termios saved_{};
};

// The signals the CLI handles while the command runs. start() blocks them (call it before the
// fork, so none is lost or acted on by default); open() creates the signalfd after the fork;
// the destructor drains what is left and restores the caller's mask.
class SignalRelay {
 public:
  SignalRelay() = default;
  SignalRelay(const SignalRelay&) = delete;
  SignalRelay& operator=(const SignalRelay&) = delete;
  ~SignalRelay();
  Status start();
  Status open();
  int fd() const { return fd_.get(); }
  const sigset_t& old_mask() const { return old_; }
  // Reads pending signals: SIGWINCH resizes the pty (master >= 0); INT/TERM/HUP/QUIT sent by a
  // process are forwarded to child1 (ones from a terminal already reached it: same process group);
  // SIGPIPE is dropped.
  void handle(int child_pidfd, int master, int winsize_fd);

 private:
  sigset_t old_{};
  bool blocked_ = false;
  UniqueFd fd_;
};

// Pipe mode (no pty): a terminal of the caller's is never handed to the command, which could
// push keystrokes into the caller's shell with TIOCSTI. Each of fds 0-2 that is a terminal gets a
// pipe instead, relayed by the CLI; the others (pipes, files, /dev/null, sockets) are passed
// through as they are.
struct StdioPipes {
  UniqueFd child[3];  // what child2 gets as fd 0, 1, 2; invalid: the CLI's own fd is passed through
  UniqueFd in;        // write end: the caller's terminal (fd 0) -> the command's stdin
  UniqueFd out, err;  // read ends: the command's stdout / stderr -> the caller's fd 1 / fd 2
  bool relayed() const { return in || out || err; }
};
// Stdout and stderr on the same terminal share one pipe, so their order is kept.
Result<StdioPipes> open_stdio_pipes();

// Waits for child1 (the pidfd becomes readable when it exits), handling signals; returns the
// raw wait status.
Result<int> wait_child(pid_t child, int child_pidfd, SignalRelay& sig);
// TTY mode: relays stdin -> master and master -> stdout until child1 exited and the master is
// drained (hung up, or quiet for a moment: a background process may keep the slave open).
Result<int> relay_and_wait(pid_t child, int child_pidfd, int master, SignalRelay& sig);
// Pipe mode with pipes: relays the caller's terminal <-> the pipes until child1 exited and the
// output pipes are drained (EOF, or quiet for a moment, as in TTY mode); the stdin pipe is closed
// at the terminal's EOF and when child1 exits.
Result<int> relay_pipes_and_wait(pid_t child, int child_pidfd, StdioPipes& pipes, SignalRelay& sig);

}  // namespace sysc::runtime::attach_detail
