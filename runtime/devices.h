// The device allowlist every container gets, rendered for the v1 devices cgroup (allow lines)
// and compiled into a cgroup2 BPF_PROG_TYPE_CGROUP_DEVICE program. Host side only.
#pragma once

#include <array>
#include <cstdint>
#include <linux/bpf.h>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sysc::devices {

// One allow rule, as in the v1 devices cgroup: "c 1:3 rwm", "c 136:* rwm", "c *:* m".
struct Rule {
  char type;           // 'c' char, 'b' block, 'a' any
  int32_t major;       // kAny = every major
  int32_t minor;       // kAny = every minor
  const char* access;  // subset of "rwm": read, write, mknod
};
inline constexpr int32_t kAny = -1;

// The allowlist: mknod of any char or block node (package scripts mknod, as under LXC), and
// read/write only for the nodes the runtime itself provides plus tun and fuse. Everything
// else is denied (open fails with EPERM).
std::span<const Rule> allowlist();

// "c 1:3 rwm"; wildcards as "*". The exact syntax of devices.allow and devices.list.
std::string to_v1_line(const Rule& r);
std::vector<std::string> v1_lines(std::span<const Rule> rules);

// The BPF_PROG_TYPE_CGROUP_DEVICE program for RULES: returns 1 (allow) when the requested
// access matches a rule, 0 (deny) otherwise. Pure; no kernel involved.
std::vector<bpf_insn> assemble(std::span<const Rule> rules);

// BPF_PROG_LOAD of PROG (license GPL, name "sysc_devices"). Needs CAP_BPF or CAP_SYS_ADMIN.
// The error names the step ("load: Operation not permitted") and, for a verifier refusal,
// ends with the verifier's last log line.
Result<UniqueFd> load(const std::vector<bpf_insn>& prog);
// Attach PROG_FD to the cgroup2 directory DIR (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) unless a
// program with the same tag is already attached directly to it, so re-applying does not stack
// copies. The cgroup keeps the program after PROG_FD is closed.
Status attach_once(int prog_fd, const std::string& dir);
// Ids of the device programs attached directly to DIR (BPF_PROG_QUERY).
Result<std::vector<uint32_t>> attached_ids(const std::string& dir);
// Tag (kernel hash of the instructions) and name of a loaded program.
struct ProgInfo {
  std::array<uint8_t, BPF_TAG_SIZE> tag{};
  std::string name;
};
Result<ProgInfo> prog_info(int prog_fd);
Result<ProgInfo> prog_info_by_id(uint32_t id);

}  // namespace sysc::devices
