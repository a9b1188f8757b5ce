// Test harness for privileged tests: a private sysc root (state, config, run dir, cgroup parent)
// driven through the real `sysc` binary, torn down with leftover checks even when a test fails.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sysc::test {

struct RunResult {
  int status = -1;  // exit code, or 128+N when killed by signal N
  std::string out, err;
};

class SyscEnv {
 public:
  // Makes the root (global_conf is appended to its sysc.conf); lxcd starts on the first command.
  // Its [security] idmap_registry is ROOT/var/lib/sysc-idmap/ranges unless global_conf sets one.
  // ROOT_LENGTH, when set: the root is a directory inside the temporary one, its path padded to
  // that many characters (for limits on path lengths).
  explicit SyscEnv(const std::string& global_conf = "", size_t root_length = 0);
  ~SyscEnv();  // destroys every container, stops lxcd, removes the root and the cgroup parent

  const std::string& root() const { return root_; }
  const std::string& cgroup_parent() const { return cgroup_parent_; }
  // This environment's own bridge and /24 (unique per test process), e.g. "sct1234a", "10.123.45".
  const std::string& bridge() const { return bridge_; }
  std::string address(int host) const { return subnet_ + "." + std::to_string(host); }  // gateway: address(1)
  // Runs `sysc --root ROOT ARGS...` with optional stdin; bounded by timeout_s.
  RunResult sysc(const std::vector<std::string>& args, const std::string& input = "", int timeout_s = 60);
  // Adds KEY=VALUE to the environment of every later `sysc` (and so of the lxcd it starts, e.g.
  // SYSC_TEMPLATE_DIR). PREFIX (e.g. {"setpriv", "--reuid=..."}) goes before the sysc binary.
  void set_env(const std::string& key, const std::string& value);
  RunResult sysc_as(const std::vector<std::string>& prefix, const std::vector<std::string>& args, int timeout_s = 60);
  // create busybox NAME, then put the static probe at /usr/bin/sysc-probe inside it.
  void create_busybox(const std::string& name);
  std::string rootfs(const std::string& name) const;
  std::string container_dir(const std::string& name) const;  // ROOT/var/lib/sysc/containers/NAME
  // `sysc attach NAME -- /bin/sh -c SCRIPT`, expected to succeed; its stdout.
  std::string sh(const std::string& name, const std::string& script);
  // Waits for a systemd init: `systemctl is-system-running --wait` inside NAME, asked again while
  // systemd cannot answer yet (a start returns once init is exec'd: before systemd makes
  // /run/systemd/system it says "offline", before its socket listens "Failed to connect").
  // Its last answer, e.g. "running" or "degraded"; an unanswered one after timeout_s.
  std::string systemd_state(const std::string& name, int timeout_s = 90);
  // The console log of NAME without '\r' (the console is a tty), once it holds MARKER (or
  // after 10 s).
  std::string console_until(const std::string& name, const std::string& marker);
  nlohmann::json info(const std::string& name);
  std::string state(const std::string& name);
  int lxcd_pid() const;  // 0 if not running
  void kill_lxcd(int sig);
  // Mounts below the root, cgroup dirs below the parent, live shims (cgroup processes, lxcd's
  // supervisors of NAME, unreaped supervisors), the run dir, the veth: empty when clean.
  std::vector<std::string> leftovers(const std::string& name = "") const;
  // Waits until state(name) == want (polling), up to timeout_s.
  bool wait_state(const std::string& name, const std::string& want, int timeout_s = 20);

 private:
  RunResult run_sysc(const std::vector<std::string>& prefix, const std::vector<std::string>& args,
                     const std::string& input, int timeout_s);
  std::string root_;
  std::string top_;  // the temporary directory: root_ or its parent
  std::string cgroup_parent_;
  std::string bridge_;
  std::string subnet_;  // first three octets
  std::vector<std::string> env_;  // KEY=VALUE added to the environment of sysc
};

// True while PID exists and is not a zombie (orphans are not always reaped at once).
bool alive(int pid);
// The live children of PID (of all its threads).
std::vector<int> children_of(int pid);
// Field N (3 on; numeric ones from 4) of /proc/PID/stat, -1 if unreadable.
long stat_field(int pid, int n);
// lxcd's spare supervisors: its sysc-shim children that serve no container yet (no spec file
// on their command line), alive.
std::vector<int> spares_of(int lxcd);
// lxcd's spares once it has all of them (ShimPool::kSpares), oldest first (the order starts
// take them), each waiting at idle priority on its go pipe (its set-up, namespaces made ahead
// included, done); empty if that does not happen within TIMEOUT_S. lxcd stores a spare as soon
// as its exec is done, and the spare starts up at the same idle priority on the same CPU after
// that: one found blocked in its read, and 100 ms later still, is stored.
std::vector<int> wait_spares(int lxcd, int timeout_s = 30);
// The spare the next start takes (the oldest of wait_spares), other than OTHER_THAN (a spare a
// start just took, until its command line shows its container's spec); 0 if none.
int wait_spare(int lxcd, int other_than = 0, int timeout_s = 30);

// Skip unless root; skip with a reason when a kernel feature is missing (CI turns those into failures).
// Under CI (CI=true) a skip would hide a real failure: the CI machine is root with every feature.
#define SYSC_REQUIRE_ROOT()                                                         \
  do {                                                                              \
    if (geteuid() != 0) {                                                           \
      if (getenv("CI")) FAIL() << "privileged test run without root in CI";         \
      GTEST_SKIP() << "needs root (privileged test)";                               \
    }                                                                               \
  } while (0)

// "" when the kernel has btrfs and mkfs.btrfs is installed, else what is missing.
std::string btrfs_missing();
// A fresh btrfs on a sparse file IMG of SIZE, loop-mounted on DIR (made if missing). A SyscEnv
// whose root holds DIR unmounts it. The command's exit status: 0 on success.
int mount_btrfs(const std::string& img, const std::string& dir, const std::string& size = "512M");

// Skip without btrfs (kernel or btrfs-progs); a failure under CI, whose machine has both.
#define SYSC_REQUIRE_BTRFS()                                                         \
  do {                                                                               \
    const std::string btrfs_missing_ = ::sysc::test::btrfs_missing();                \
    if (!btrfs_missing_.empty()) {                                                   \
      if (getenv("CI")) FAIL() << btrfs_missing_ << " (scripts/install-deps.sh installs btrfs-progs)"; \
      GTEST_SKIP() << btrfs_missing_;                                                \
    }                                                                                \
  } while (0)

}  // namespace sysc::test
