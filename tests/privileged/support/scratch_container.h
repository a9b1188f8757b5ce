// A throw-away container built by a test without lxcd (host side): a busybox rootfs in a temp
// dir, a holder that unshares the namespaces, and an init (PID 1 inside) that mounts, pivots and
// execs a command. For tests of runtime pieces (attach) on their own.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace sysc::test {

struct ScratchOptions {
  std::vector<std::string> applets;  // busybox applets linked in /bin
  std::string passwd = "root:x:0:0:root:/root:/bin/sh\n";
  std::string hostname;              // set in the new uts namespace when non-empty
  bool devpts = false;               // /dev/pts (newinstance) and /dev/ptmx
  bool cgroups = false;              // own cgroups in pids, name=systemd and cgroup2 (where mounted)
  std::vector<std::string> init = {"/bin/sleep", "1000"};
};

class ScratchContainer {
 public:
  // "" when it runs, else what failed (the caller skips or fails with it).
  std::string start(const ScratchOptions& options);
  ~ScratchContainer() { stop(); }
  // Kills the init, reaps the holder, removes cgroups and the temp dir; returns leftovers found.
  std::vector<std::string> stop();

  // Kills the init now (and reaps the holder): for tests of what happens once it is gone.
  void kill_init();
  pid_t init_pid() const { return init_; }
  const std::vector<std::string>& cgroups() const { return cgroups_; }

 private:
  std::string make_rootfs(const ScratchOptions& o);
  void make_cgroups();
  [[noreturn]] void run_holder(const ScratchOptions& o, int pid_fd, int ready_fd);
  [[noreturn]] void run_init(const ScratchOptions& o, int ready_fd);

  std::string dir_, rootfs_;
  std::vector<std::string> cgroups_;
  pid_t holder_ = -1, init_ = -1;
  int init_pidfd_ = -1;
};

}  // namespace sysc::test
