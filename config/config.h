// Typed configuration: the global sysc.conf and per-container NAME.conf (INI, parsed by inih).
// All key strings live in config/: one table maps each key to its parser and typed field.
// Parsers take file content (not paths) so they test without a filesystem.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/resource_limits.h"  // the typed struct only (header): config fills it, the runtime applies it

namespace sysc::config {

// [network] of sysc.conf: the bridge every veth NIC joins, its subnet, NAT and DHCP/DNS.
struct NetworkConfig {
  bool enabled = true;                       // [network] enabled: false = containers get no NIC by default
  std::string bridge = "syscbr0";            // [network] bridge
  std::string address = "10.213.117.1/24";  // [network] address: the bridge's address = gateway, and the subnet
  int mtu = 1500;                            // [network] mtu
  bool nat = true;                           // [network] nat: masquerade the subnet (nftables table "sysc")
  bool dhcp = true;                          // [network] dhcp: dnsmasq serves DHCP and DNS on the bridge
  std::string domain = "sysc";               // [network] domain: containers resolve as NAME.DOMAIN
};

// [resources] of sysc.conf: what a tenant's /proc and /sys report (lxcfs).
struct ResourcesConfig {
  bool lxcfs = true;          // [resources] lxcfs: run lxcfs and bind its files into containers
  bool lxcfs_loadavg = true;  // [resources] lxcfs_loadavg: per-container /proc/loadavg (lxcfs -l)
  bool lxcfs_cfs = true;      // [resources] lxcfs_cfs: limits.cpu shows as that many CPUs (--enable-cfs)
};

// /etc/sysc/sysc.conf
struct GlobalConfig {
  std::string cgroup_parent = "sysc";  // [cgroup] parent: cgroup directory holding all containers
  std::string cgroup_driver = "auto";  // [cgroup] driver: auto | v1 | v2 (v2 on a hybrid host: cgroup2 only)
  int default_stop_timeout = 30;       // [defaults] stop_timeout (seconds)
  bool idmapped_mounts = true;         // [security] idmapped_mounts: auto (true) | off: always chown-shift rootfs ids
  // [security] idmap_registry: host-wide file of claimed id ranges, shared by every sysc root on the host
  std::string idmap_registry = "/var/lib/sysc-idmap/ranges";
  std::string socket_group;            // [daemon] socket_group: "" = only root may use lxcd's socket
  NetworkConfig network;
  std::string storage_backend = "auto";  // [storage] backend: auto | dir | overlay | btrfs
  std::map<std::string, std::string> template_mirrors;  // [templates] TEMPLATE.mirror = URL
  ResourcesConfig resources;
};

// [net.N] of NAME.conf: one network interface of the container.
struct NicConfig {
  std::string type = "veth";  // veth (on the bridge) | none (no interface: only lo)
  std::string name = "eth0";  // interface name inside the container
  int mtu = 0;                // 0: the bridge's MTU
  std::string hwaddr;         // "": generated once, recorded in the database
  std::string ipv4 = "auto";  // auto (from the subnet, recorded) | A.B.C.D (static, within the subnet)
};

// [container] restart: what lxcd does when the container stops without being asked to.
enum class RestartPolicy { No, OnFailure, Always };
const char* to_string(RestartPolicy p);  // "no", "on-failure", "always"

// /etc/sysc/containers/NAME.conf
struct ContainerConfig {
  std::vector<std::string> init = {"/sbin/init"};  // [container] init: argv, split on whitespace
  std::optional<int> halt_signal;  // [container] halt_signal: "auto" (nullopt) or SIGUSR1, SIGPWR, SIGRTMIN+3, 10 ...
  std::optional<int> stop_timeout;  // [container] stop_timeout: seconds; unset = global default
  int ttys = 0;                     // [container] ttys: extra login ttys advertised as container_ttys
  std::map<std::string, std::string> environment = {{"container", "sysc"}};  // [environment] KEY = VALUE for init
  std::vector<std::string> cap_drop;  // [security] cap_drop: extra capability names to drop (e.g. "net_raw sys_ptrace")
  std::vector<std::string> cap_keep;  // [security] cap_keep: names removed from the default drop list
  bool privileged = false;            // [security] privileged: false = root inside is an unprivileged host id range
  std::string seccomp_profile;        // [security] seccomp_profile: absolute path of a profile file, "" = defaults
  bool allow_compat = false;          // [security] syscalls.allow_compat: let 32-bit (i386, x32) calls through the filter
  std::map<int, NicConfig> nics;      // [net.N], N in 0..15; none configured: one default veth net.0
  runtime::Limits limits;             // [limits] memory, memory.swap, cpu, cpu.weight, cpuset, pids, io.weight
  bool autostart = false;             // [container] autostart: started by lxcd once per host boot
  RestartPolicy restart = RestartPolicy::No;  // [container] restart
  int autostart_order = 0;            // [autostart] order: lower starts first (stops last)
  int autostart_delay = 0;            // [autostart] delay: seconds to wait after starting this one
  std::vector<std::string> autostart_after;  // [autostart] after: containers that must be ready first
  std::vector<std::string> ready_command;    // [ready] command: argv run inside until it exits 0
  int ready_timeout = 120;            // [ready] timeout: seconds a dependent waits for readiness
};

// Parse; every problem is reported (not just the first), one per line, as "FILE:LINE: message".
// Unknown sections/keys and bad values are errors. `filename` is used only in messages.
Result<GlobalConfig> parse_global(const std::string& content, const std::string& filename);
Result<ContainerConfig> parse_container(const std::string& content, const std::string& filename);

// Commented file contents written at `sysc create` and at first daemon start.
std::string default_global_text();
std::string default_container_text(const std::string& name, const std::string& template_name);

// Dotted keys as the CLI uses them: "init", "halt_signal" ([container]), "environment.container",
// "security.cap_drop". A key without a dot lives in [container].
// Value of KEY in CONTENT (as written in the file); error naming the key if unknown or unset.
Result<std::string> get_value(const std::string& content, const std::string& filename, const std::string& key);
// New content with KEY = VALUE: replaces the existing line in place (comments and order kept) or adds
// it to its section (creating the section at the end). The result is validated with
// parse_container; an invalid value or unknown key is an error and nothing changes.
Result<std::string> set_value(const std::string& content, const std::string& filename, const std::string& key,
                              const std::string& value);
// New content without KEY (its line removed); unset keys are fine.
Result<std::string> unset_value(const std::string& content, const std::string& filename, const std::string& key);
// Every container key with a one-line description (for `sysc config --help`).
std::vector<std::pair<std::string, std::string>> container_keys();

// Signal names: "SIGUSR1"/"USR1"/"10"/"SIGRTMIN+3" -> number; number -> "SIGRTMIN+3" style name.
std::optional<int> parse_signal(const std::string& s);
std::string signal_name(int sig);

// Human sizes for [limits]: "512M", "1.5G", "64k", "1073741824" (bytes); K, M, G, T are binary
// (1024-based), an optional trailing "B"/"iB" is accepted ("512MiB"). At most 2^62 bytes.
Result<uint64_t> parse_size(const std::string& s);
// Bytes back to the shortest exact form: 67108864 -> "64M", 1610612736 -> "1536M", 1000 -> "1000".
std::string format_size(uint64_t bytes);
// CPUs as a quota: "1.5" -> 150000 (us per 100000 us period), "0.25", "2"; 0.01 to 1024 CPUs,
// at most 5 decimals.
Result<uint64_t> parse_cpus(const std::string& s);
// The fields of LIMITS that the dotted KEY ("limits.memory") sets, the rest unset: what a live
// `config set` re-applies. memory and memory.swap go together (v1 writes their sum).
runtime::Limits limits_for_key(const runtime::Limits& limits, const std::string& key);

}  // namespace sysc::config
