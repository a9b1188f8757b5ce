// Host-boot hosting policy of lxcd, the pure parts: the autostart sequence (order, after), the
// shutdown waves (its reverse), restart backoff, the boot id, and running a command inside a
// container through `sysc attach` (readiness checks).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace sysc::lxcd {

struct HostedContainer {
  std::string name;
  int order = 0;                   // [autostart] order
  std::vector<std::string> after;  // [autostart] after
};

struct AutostartPlan {
  std::vector<std::string> sequence;                    // start one after the other, in this order
  std::map<std::string, std::vector<std::string>> wait_for;  // NAME -> containers to wait for (ready)
  std::vector<std::string> errors;                      // unknown names, cycles: logged, never fatal
};

// AUTOSTARTED are the containers with autostart = true, KNOWN every container's name. Ordered
// by (order, name), a container coming after everything it names in `after`. A name that is
// not a container or not autostarted is ignored with an error; a cycle is broken at its first
// member by (order, name), which then starts without waiting (an error names the cycle).
AutostartPlan plan_autostart(const std::vector<HostedContainer>& autostarted, const std::set<std::string>& known);

// RUNNING grouped for stopping: the reverse of their autostart sequence, consecutive containers
// of the same order that do not wait for one another forming one wave (stopped in parallel).
std::vector<std::vector<std::string>> shutdown_waves(const std::vector<HostedContainer>& running);

// Restart backoff: 1 s doubling per consecutive failure, at most 300 s.
int64_t restart_delay_ms(int consecutive_failures);
constexpr int64_t kRestartResetAfterS = 600;  // up this long: the next failure counts as the first

// $SYSC_BOOT_ID when set (tests simulate a reboot with it), else the kernel's boot id.
std::string current_boot_id();

// Runs ARGV inside the running container NAME (`SYSC_BIN --root ROOT attach -T NAME -- ARGV`),
// with stdin /dev/null; its stdout (first 64 KiB) in *out. Exit code, 128+N when killed, or an
// error when it could not run or took longer than timeout_ms (it is killed then).
Result<int> run_inside(const std::string& root, const std::string& name, const std::vector<std::string>& argv,
                       int timeout_ms, std::string* out);

}  // namespace sysc::lxcd
