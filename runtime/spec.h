// RuntimeSpec: everything sysc-shim needs to run one container, resolved by lxcd before spawning
// the shim (config parsed, halt signal detected, policy chosen). Serialized as JSON in the run dir.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/mount_plan.h"
#include "runtime/resource_limits.h"
#include "runtime/userns.h"
#include "runtime/seccomp_profile.h"

namespace sysc::runtime {

// On the shim's go pipe, this value where a spec path's length would be: the message is the
// container's cgroup to make at once (lxcd's ShimLaunch::make_cgroup).
inline constexpr uint16_t kGoMakeCgroup = 0xffff;

// One veth NIC, fully resolved by lxcd (addresses recorded in its database).
struct NicSpec {
  std::string host_name;  // host side of the pair, on the bridge: "sc-web1"
  std::string name;       // inside the container: "eth0"
  std::string mac;
  int mtu = 1500;
  std::string bridge;
  std::string address;    // "10.213.117.5/24"; "" = none
  std::string gateway;    // "10.213.117.1"; "" = no default route via this NIC
};

struct RuntimeSpec {
  std::string name;                    // container name = hostname
  std::string rootfs;                  // host path of the root filesystem
  OverlayLayers overlay;               // enabled(): an overlay is mounted on rootfs
  std::vector<std::string> init_argv;  // argv of init, argv[0] a path inside the container
  std::vector<std::string> init_env;   // "KEY=VALUE"
  int halt_signal = 0;                 // signal that halts the init cleanly
  int stop_timeout = 30;               // seconds before SIGKILL
  std::string cgroup;                  // relative cgroup path: "sysc/web1"
  std::string cgroup_driver = "auto";  // driver preference, the same lxcd uses
  std::vector<std::string> cap_drop;   // capability names
  std::vector<SeccompRule> seccomp;    // calls that fail with an errno (defaults + profile)
  bool seccomp_compat = false;         // 32-bit ABIs pass the filter under the same rules
  // The program of those two, compiled by lxcd (which keeps it for the next start with the same
  // rules); empty: the supervisor compiles them itself (a spec of an older lxcd).
  std::vector<sock_filter> seccomp_filter;
  std::string run_dir;                 // per-container run dir (socket, exit file)
  std::string console_log;             // console log file
  long console_log_max = 1 << 20;      // bytes before the log is rotated to .1
  std::vector<NicSpec> nics;           // created and moved into the container before init runs
  Limits limits;                       // written to the cgroup before init is placed in it
  IdMap idmap;                         // enabled(): unprivileged, in a user namespace with this map
  // lxcfs: its mount point on the host and the files below it ("proc/meminfo") bound over the
  // container's own; empty: the tenant sees the host's values.
  std::string lxcfs_dir;
  std::vector<std::string> lxcfs_files;
};

std::string to_json(const RuntimeSpec& spec);
Result<RuntimeSpec> spec_from_json(const std::string& text);

// The halt signal for an init: busybox SIGUSR1, systemd SIGRTMIN+3, sysvinit SIGPWR, else SIGTERM.
// Resolves init_path inside rootfs (symlinks followed within the rootfs, never outside).
int detect_halt_signal(const std::string& rootfs, const std::string& init_path);

}  // namespace sysc::runtime
