// Internal to config/: value parsers and the key tables for NAME.conf and sysc.conf (host side).
#include "config/keys.h"

#include <sys/capability.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <charconv>
#include <sstream>

namespace sysc::config::detail {

namespace {

Error bad(std::string reason) { return make_error(std::move(reason), EINVAL); }

std::vector<std::string> split_words(const std::string& value) {
  std::vector<std::string> words;
  std::istringstream in(value);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

Result<int> parse_int(const std::string& value, int min, int max, const char* what) {
  int n = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, n);
  if (value.empty() || ec != std::errc() || ptr != end || n < min || n > max)
    return bad("expected " + std::string(what) + " from " + std::to_string(min) + " to " + std::to_string(max));
  return n;
}

Result<int> parse_stop_timeout(const std::string& value) { return parse_int(value, 1, 86400, "whole seconds"); }

Status parse_init(ContainerConfig& c, const std::string&, const std::string& value) {
  auto argv = split_words(value);
  if (argv.empty() || argv[0].front() != '/')
    return bad("expected the absolute path of the init program and its arguments, like /sbin/init");
  c.init = std::move(argv);
  return {};
}

Status parse_halt_signal(ContainerConfig& c, const std::string&, const std::string& value) {
  if (value == "auto") {
    c.halt_signal.reset();
    return {};
  }
  auto sig = parse_signal(value);
  if (!sig) return bad("expected 'auto' or a signal name or number, like SIGRTMIN+3, SIGPWR, SIGUSR1 or 10");
  c.halt_signal = *sig;
  return {};
}

Status parse_container_stop_timeout(ContainerConfig& c, const std::string&, const std::string& value) {
  c.stop_timeout = TRY(parse_stop_timeout(value));
  return {};
}

Status parse_ttys(ContainerConfig& c, const std::string&, const std::string& value) {
  c.ttys = TRY(parse_int(value, 0, 16, "a number of ttys"));
  return {};
}

Status env_name_ok(const std::string& name) {
  bool ok = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
  for (char ch : name)
    ok = ok && ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_');
  if (!ok) return bad("variable names match [A-Za-z_][A-Za-z0-9_]*");
  return {};
}

Status parse_env(ContainerConfig& c, const std::string& name, const std::string& value) {
  c.environment[name] = value;
  return {};
}

// Names are checked with libcap, so the list follows the capabilities the system knows.
Result<std::vector<std::string>> parse_caps(const std::string& value) {
  auto names = split_words(value);
  for (const auto& n : names) {
    if (n.starts_with("cap_") || n.starts_with("CAP_"))
      return bad("write capability names without the 'cap_' prefix, like " + n.substr(4));
    bool lower = true;
    for (char ch : n) lower = lower && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_');
    cap_value_t cap;
    if (!lower || cap_from_name(("cap_" + n).c_str(), &cap) != 0)
      return bad("unknown capability '" + n + "' (use lowercase names without 'cap_', like sys_module net_raw)");
  }
  return names;
}

Status parse_cap_drop(ContainerConfig& c, const std::string&, const std::string& value) {
  c.cap_drop = TRY(parse_caps(value));
  return {};
}

Status parse_cap_keep(ContainerConfig& c, const std::string&, const std::string& value) {
  c.cap_keep = TRY(parse_caps(value));
  return {};
}

Result<bool> parse_bool(const std::string& v);

Status parse_privileged(ContainerConfig& c, const std::string&, const std::string& value) {
  c.privileged = TRY(parse_bool(value));
  return {};
}

Status parse_idmapped_mounts(GlobalConfig& g, const std::string&, const std::string& value) {
  if (value != "auto" && value != "off") return bad("expected auto or off");
  g.idmapped_mounts = value == "auto";
  return {};
}

Status parse_idmap_registry(GlobalConfig& g, const std::string&, const std::string& value) {
  if (value.empty() || value.front() != '/' || value.back() == '/') return bad("expected the absolute path of a file");
  g.idmap_registry = value;
  return {};
}

// Checked for existence and syntax at start, where the error names the container.
Status parse_seccomp_profile(ContainerConfig& c, const std::string&, const std::string& value) {
  if (!value.empty() && value.front() != '/') return bad("expected the absolute path of a seccomp profile file");
  c.seccomp_profile = value;
  return {};
}

Status parse_allow_compat(ContainerConfig& c, const std::string&, const std::string& value) {
  c.allow_compat = TRY(parse_bool(value));
  return {};
}

// A path below the cgroup root: never absolute and never climbing out with "..".
Status parse_cgroup_parent(GlobalConfig& g, const std::string&, const std::string& value) {
  const char* rule = "expected a relative cgroup path like sysc or machines/sysc (components of [A-Za-z0-9_.-], "
                     "no '..', no leading or trailing '/')";
  if (value.empty() || value.front() == '/' || value.back() == '/') return bad(rule);
  std::istringstream in(value);
  for (std::string comp; std::getline(in, comp, '/');) {
    bool ok = !comp.empty() && comp != "." && comp != "..";
    for (char ch : comp)
      ok = ok && ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                  ch == '.' || ch == '-');
    if (!ok) return bad(rule);
  }
  g.cgroup_parent = value;
  return {};
}

Status parse_cgroup_driver(GlobalConfig& g, const std::string&, const std::string& value) {
  if (value != "auto" && value != "v1" && value != "v2") return bad("expected auto, v1 or v2");
  g.cgroup_driver = value;
  return {};
}

Status parse_default_stop_timeout(GlobalConfig& g, const std::string&, const std::string& value) {
  g.default_stop_timeout = TRY(parse_stop_timeout(value));
  return {};
}

// ---- autostart, restart policy, readiness ----
Result<bool> parse_bool(const std::string& v);

Status parse_autostart(ContainerConfig& c, const std::string&, const std::string& v) {
  c.autostart = TRY(parse_bool(v));
  return {};
}

Status parse_restart(ContainerConfig& c, const std::string&, const std::string& v) {
  if (v == "no") c.restart = RestartPolicy::No;
  else if (v == "on-failure") c.restart = RestartPolicy::OnFailure;
  else if (v == "always") c.restart = RestartPolicy::Always;
  else return bad("expected no, on-failure or always");
  return {};
}

Status parse_autostart_order(ContainerConfig& c, const std::string&, const std::string& v) {
  c.autostart_order = TRY(parse_int(v, -1000, 1000, "an order"));
  return {};
}

Status parse_autostart_delay(ContainerConfig& c, const std::string&, const std::string& v) {
  c.autostart_delay = TRY(parse_int(v, 0, 3600, "whole seconds"));
  return {};
}

// "db, cache" or "db cache": container names (checked against the inventory when lxcd boots).
Status parse_autostart_after(ContainerConfig& c, const std::string&, const std::string& v) {
  std::string spaced = v;
  for (char& ch : spaced)
    if (ch == ',') ch = ' ';
  auto names = split_words(spaced);
  for (const auto& n : names) {
    bool ok = n.size() <= 63 && ((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9'));
    for (char ch : n) ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-');
    if (!ok) return bad("expected container names separated by commas, like db,cache");
  }
  c.autostart_after = std::move(names);
  return {};
}

Status parse_ready_command(ContainerConfig& c, const std::string&, const std::string& v) {
  c.ready_command = split_words(v);  // empty: no command (the default readiness)
  return {};
}

Status parse_ready_timeout(ContainerConfig& c, const std::string&, const std::string& v) {
  c.ready_timeout = TRY(parse_int(v, 1, 86400, "whole seconds"));
  return {};
}

// ---- [net.N] ----
Status parse_nic_type(ContainerConfig& c, int i, const std::string& v) {
  if (v != "veth" && v != "none") return bad("expected veth or none");
  c.nics[i].type = v;
  return {};
}

Status parse_nic_name(ContainerConfig& c, int i, const std::string& v) {
  bool ok = !v.empty() && v.size() <= 15 && v != "." && v != "..";
  for (char ch : v) ok = ok && ch > ' ' && ch != '/' && ch != ':' && ch < 127;
  if (!ok) return bad("expected an interface name of 1 to 15 characters without '/', ':' or spaces");
  c.nics[i].name = v;
  return {};
}

Status parse_nic_mtu(ContainerConfig& c, int i, const std::string& v) {
  c.nics[i].mtu = TRY(parse_int(v, 576, 65535, "an MTU"));
  return {};
}

Status parse_nic_hwaddr(ContainerConfig& c, int i, const std::string& v) {
  bool ok = v.size() == 17;
  for (size_t k = 0; ok && k < v.size(); ++k)
    ok = k % 3 == 2 ? v[k] == ':' : std::isxdigit(static_cast<unsigned char>(v[k])) != 0;
  if (ok) ok = (std::stoi(v.substr(0, 2), nullptr, 16) & 1) == 0;  // not multicast
  if (!ok) return bad("expected a unicast MAC address like 02:5c:00:12:34:56");
  c.nics[i].hwaddr = v;
  return {};
}

// a.b.c.d, each 0..255; *prefix gets /N when allowed and present.
bool parse_dotted(const std::string& v, int* prefix) {
  unsigned a, b, c, d, p = 32;
  char tail = 0;
  int n = prefix ? sscanf(v.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &p, &tail)
                 : sscanf(v.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail);
  int want = prefix ? 5 : 4;
  if (n != want || a > 255 || b > 255 || c > 255 || d > 255 || p > 32) return false;
  if (v.find_first_not_of("0123456789./") != std::string::npos) return false;
  if (prefix) *prefix = static_cast<int>(p);
  return true;
}

Status parse_nic_ipv4(ContainerConfig& c, int i, const std::string& v) {
  if (v != "auto" && !parse_dotted(v, nullptr)) return bad("expected auto or an IPv4 address like 10.213.117.20");
  c.nics[i].ipv4 = v;
  return {};
}

// ---- [network] of sysc.conf ----
Result<bool> parse_bool(const std::string& v) {
  if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
  if (v == "false" || v == "no" || v == "off" || v == "0") return false;
  return bad("expected true or false");
}

Status parse_net_enabled(GlobalConfig& g, const std::string&, const std::string& v) {
  g.network.enabled = TRY(parse_bool(v));
  return {};
}

Status parse_net_bridge(GlobalConfig& g, const std::string&, const std::string& v) {
  bool ok = !v.empty() && v.size() <= 15;
  for (char ch : v) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_');
  if (!ok) return bad("expected a bridge name of 1 to 15 letters, digits, '-' or '_'");
  g.network.bridge = v;
  return {};
}

Status parse_net_address(GlobalConfig& g, const std::string&, const std::string& v) {
  int prefix = 0;
  if (!parse_dotted(v, &prefix) || prefix < 8 || prefix > 30)
    return bad("expected the bridge address with a prefix from /8 to /30, like 10.213.117.1/24");
  g.network.address = v;
  return {};
}

Status parse_net_mtu(GlobalConfig& g, const std::string&, const std::string& v) {
  g.network.mtu = TRY(parse_int(v, 576, 65535, "an MTU"));
  return {};
}

Status parse_net_nat(GlobalConfig& g, const std::string&, const std::string& v) {
  g.network.nat = TRY(parse_bool(v));
  return {};
}

Status parse_net_dhcp(GlobalConfig& g, const std::string&, const std::string& v) {
  g.network.dhcp = TRY(parse_bool(v));
  return {};
}

Status parse_net_domain(GlobalConfig& g, const std::string&, const std::string& v) {
  bool ok = !v.empty() && v.size() <= 63 && v.front() != '.' && v.back() != '.' && v.front() != '-';
  for (char ch : v) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.');
  if (!ok) return bad("expected a DNS domain like sysc or vps.example");
  g.network.domain = v;
  return {};
}

// ---- [storage] and [templates] of sysc.conf ----
Status parse_storage_backend(GlobalConfig& g, const std::string&, const std::string& v) {
  if (v != "auto" && v != "dir" && v != "overlay" && v != "btrfs") return bad("expected auto, dir, overlay or btrfs");
  g.storage_backend = v;
  return {};
}

// "TEMPLATE.mirror": TEMPLATE follows the template name rule.
Status template_key_ok(const std::string& name) {
  const std::string suffix = ".mirror";
  bool ok = name.size() > suffix.size() && name.ends_with(suffix);
  std::string tmpl = ok ? name.substr(0, name.size() - suffix.size()) : "";
  ok = ok && !tmpl.empty() && tmpl.size() <= 63 && tmpl[0] != '-';
  for (char ch : tmpl) ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-');
  if (!ok) return bad("keys here are TEMPLATE.mirror, like debian.mirror or download.mirror");
  return {};
}

Status parse_template_mirror(GlobalConfig& g, const std::string& name, const std::string& v) {
  if (v.empty() || v.find_first_of(" \t") != std::string::npos) return bad("expected a URL without spaces");
  g.template_mirrors[name.substr(0, name.size() - std::string(".mirror").size())] = v;
  return {};
}

// ---- [resources] of sysc.conf ----
Status parse_res_lxcfs(GlobalConfig& g, const std::string&, const std::string& v) {
  g.resources.lxcfs = TRY(parse_bool(v));
  return {};
}

Status parse_res_lxcfs_loadavg(GlobalConfig& g, const std::string&, const std::string& v) {
  g.resources.lxcfs_loadavg = TRY(parse_bool(v));
  return {};
}

Status parse_res_lxcfs_cfs(GlobalConfig& g, const std::string&, const std::string& v) {
  g.resources.lxcfs_cfs = TRY(parse_bool(v));
  return {};
}

// ---- [daemon] ----
Status parse_socket_group(GlobalConfig& g, const std::string&, const std::string& v) {
  // A group name as useradd/groupadd accept it; whether it exists is checked when lxcd starts.
  bool ok = !v.empty() && v.size() <= 32 && v.front() != '-';
  for (char ch : v)
    ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.');
  if (!ok) return bad("expected a group name like sysc (letters, digits, '_', '-', '.'), or nothing for root only");
  g.socket_group = v;
  return {};
}

// ---- [limits] ----
// Sizes and CPU counts parse through the public parse_size / parse_cpus (bottom of this file).
Status parse_limit_memory(ContainerConfig& c, const std::string&, const std::string& v) {
  uint64_t n = TRY(parse_size(v));
  if (n < (1u << 20)) return bad("expected at least 1M (a size like 512M or 2G; K, M, G, T are 1024-based)");
  c.limits.memory = n;
  return {};
}

Status parse_limit_memory_swap(ContainerConfig& c, const std::string&, const std::string& v) {
  c.limits.memory_swap = TRY(parse_size(v));  // 0 = no swap at all
  return {};
}

Status parse_limit_cpu(ContainerConfig& c, const std::string&, const std::string& v) {
  c.limits.cpu_quota_us = TRY(parse_cpus(v));
  return {};
}

Result<uint32_t> parse_weight(const std::string& v) {
  return static_cast<uint32_t>(TRY(parse_int(v, runtime::kWeightMin, runtime::kWeightMax, "a weight")));
}

Status parse_limit_cpu_weight(ContainerConfig& c, const std::string&, const std::string& v) {
  c.limits.cpu_weight = TRY(parse_weight(v));
  return {};
}

Status parse_limit_io_weight(ContainerConfig& c, const std::string&, const std::string& v) {
  c.limits.io_weight = TRY(parse_weight(v));
  return {};
}

// "0-3,6": CPU numbers and ascending ranges, comma-separated (the kernel's list format).
Status parse_limit_cpuset(ContainerConfig& c, const std::string&, const std::string& v) {
  const char* rule = "expected CPU numbers and ranges like 0-1, 0,2 or 0-3,6";
  if (v.empty()) return bad(rule);
  std::istringstream in(v);
  for (std::string part; std::getline(in, part, ',');) {
    size_t dash = part.find('-');
    auto lo = parse_int(part.substr(0, dash), 0, 8191, "a CPU number");
    auto hi = dash == std::string::npos ? lo : parse_int(part.substr(dash + 1), 0, 8191, "a CPU number");
    if (!lo || !hi || *hi < *lo) return bad(rule);
  }
  if (v.back() == ',') return bad(rule);
  c.limits.cpuset = v;
  return {};
}

// "/dev/vda 10M" or "254:0 10M", several separated by commas: "/dev/vda 10M, /dev/vdb 5M".
Result<std::vector<runtime::IoBps>> parse_io_bps(const std::string& v) {
  const char* rule = "expected DEVICE RATE entries separated by commas, like '/dev/vda 10M' or '254:0 10M, 254:16 5M' "
                     "(RATE in bytes per second, K, M, G, T 1024-based)";
  std::vector<runtime::IoBps> out;
  std::istringstream in(v);
  for (std::string part; std::getline(in, part, ',');) {
    auto words = split_words(part);
    if (words.size() != 2) return bad(rule);
    const std::string& dev = words[0];
    bool numbers = dev.find(':') != std::string::npos && dev.find_first_not_of("0123456789:") == std::string::npos &&
                   dev.front() != ':' && dev.back() != ':' && std::count(dev.begin(), dev.end(), ':') == 1;
    if (!numbers && (!dev.starts_with("/dev/") || dev.find("..") != std::string::npos)) return bad(rule);
    auto rate = parse_size(words[1]);
    if (!rate || *rate == 0) return bad(rule);
    out.push_back({dev, *rate});
  }
  if (out.empty() || v.back() == ',') return bad(rule);
  return out;
}

Status parse_limit_io_read_bps(ContainerConfig& c, const std::string&, const std::string& v) {
  c.limits.io_read_bps = TRY(parse_io_bps(v));
  return {};
}

Status parse_limit_io_write_bps(ContainerConfig& c, const std::string&, const std::string& v) {
  c.limits.io_write_bps = TRY(parse_io_bps(v));
  return {};
}

Status parse_limit_pids(ContainerConfig& c, const std::string&, const std::string& v) {
  c.limits.pids = TRY(parse_int(v, 1, static_cast<int>(runtime::kPidsMax), "a number of tasks"));
  return {};
}

}  // namespace

// Rows of one section stay together (section_list relies on it); the order is the order of
// container_keys() and of the default file.
const std::vector<KeyDef<ContainerConfig>>& container_table() {
  static const std::vector<KeyDef<ContainerConfig>> table = {
      {"container", "init", parse_init, "init program and arguments, split on whitespace (absolute path)"},
      {"container", "halt_signal", parse_halt_signal,
       "signal that asks init to power off: auto, or a name/number like SIGRTMIN+3, SIGPWR, SIGUSR1"},
      {"container", "stop_timeout", parse_container_stop_timeout,
       "seconds to wait after the halt signal before SIGKILL (1-86400; unset: global default)"},
      {"container", "ttys", parse_ttys, "extra login ttys offered to init as container_ttys (0-16)"},
      {"container", "autostart", parse_autostart, "start the container when lxcd first runs after a host boot (true/false)"},
      {"container", "restart", parse_restart,
       "restart when it stops on its own: no, on-failure (not after a clean halt or exit 0) or always"},
      {"environment", nullptr, parse_env, "environment variable NAME for init (container=sysc by default)",
       env_name_ok},
      {"security", "cap_drop", parse_cap_drop, "capabilities to drop in addition to the defaults (e.g. net_raw)"},
      {"security", "cap_keep", parse_cap_keep, "capabilities to keep although dropped by default (e.g. sys_time)"},
      {"security", "privileged", parse_privileged,
       "false (default): a user namespace maps root inside to its own host id range; true: root inside is host root"},
      {"security", "seccomp_profile", parse_seccomp_profile,
       "file adjusting the default seccomp rules: lines 'deny SYSCALL [ERRNO]' and 'allow SYSCALL'"},
      {"security", "syscalls.allow_compat", parse_allow_compat,
       "true: 32-bit (i386, x32) programs run, under the same seccomp deny rules; false (default): their calls fail"},
      {"net.*", "type", nullptr, "network interface N: veth (on the bridge, default) or none", nullptr, parse_nic_type},
      {"net.*", "name", nullptr, "its name inside the container (default eth0)", nullptr, parse_nic_name},
      {"net.*", "mtu", nullptr, "its MTU (default: the bridge's)", nullptr, parse_nic_mtu},
      {"net.*", "hwaddr", nullptr, "its MAC address (default: generated once and kept)", nullptr, parse_nic_hwaddr},
      {"net.*", "ipv4", nullptr, "its IPv4 address: auto (allocated once and kept) or a static address in the subnet",
       nullptr, parse_nic_ipv4},
      {"limits", "memory", parse_limit_memory,
       "RAM limit, like 512M or 1.5G (K, M, G, T are 1024-based; plain bytes too); unset: unlimited"},
      {"limits", "memory.swap", parse_limit_memory_swap,
       "swap allowed on top of limits.memory (needs it), like 256M; 0 = no swap; unset: unlimited"},
      {"limits", "cpu", parse_limit_cpu, "CPU time as a number of CPUs, like 0.5 or 1.5 (a quota; 0.01 to 1024)"},
      {"limits", "cpu.weight", parse_limit_cpu_weight, "share of contended CPU, 1 to 10000 (default 100)"},
      {"limits", "cpuset", parse_limit_cpuset, "CPUs the container may run on, like 0-1 or 0,2"},
      {"limits", "pids", parse_limit_pids, "maximum number of tasks (processes and threads), 1 to 4194304"},
      {"limits", "io.weight", parse_limit_io_weight, "share of contended block I/O, 1 to 10000 (default 100)"},
      {"limits", "io.read_bps", parse_limit_io_read_bps,
       "read bandwidth per device, like '/dev/vda 10M' (bytes/s; several separated by commas)"},
      {"limits", "io.write_bps", parse_limit_io_write_bps, "write bandwidth per device, like '/dev/vda 10M'"},
      {"autostart", "order", parse_autostart_order, "autostart sequence: lower starts first and stops last (default 0)"},
      {"autostart", "delay", parse_autostart_delay, "seconds to wait after autostarting this one before the next (0-3600)"},
      {"autostart", "after", parse_autostart_after, "containers that must be started and ready before this one (db,cache)"},
      {"ready", "command", parse_ready_command,
       "command run inside (every second) until it exits 0: the container is then ready; unset: see README"},
      {"ready", "timeout", parse_ready_timeout, "seconds a dependent container waits for this one to be ready (default 120)"},
  };
  return table;
}

const std::vector<KeyDef<GlobalConfig>>& global_table() {
  static const std::vector<KeyDef<GlobalConfig>> table = {
      {"cgroup", "parent", parse_cgroup_parent, "cgroup directory (relative) holding all containers"},
      {"cgroup", "driver", parse_cgroup_driver, "cgroup driver: auto, v1 (legacy/hybrid) or v2 (cgroup2 only)"},
      {"defaults", "stop_timeout", parse_default_stop_timeout, "default seconds to wait for a container to halt"},
      {"network", "enabled", parse_net_enabled, "false: lxcd never touches the host network; containers get only lo"},
      {"network", "bridge", parse_net_bridge, "bridge every veth interface joins (created by lxcd)"},
      {"network", "address", parse_net_address, "the bridge's address and prefix: gateway and subnet"},
      {"network", "mtu", parse_net_mtu, "MTU of the bridge and, by default, of the interfaces"},
      {"network", "nat", parse_net_nat, "masquerade the subnet's traffic to other networks (nftables)"},
      {"network", "dhcp", parse_net_dhcp, "run dnsmasq on the bridge for DHCP and DNS"},
      {"network", "domain", parse_net_domain, "DNS domain of the containers (NAME.DOMAIN)"},
      {"resources", "lxcfs", parse_res_lxcfs,
       "run lxcfs: containers see their own memory, CPUs, uptime and load in /proc (false: the host's)"},
      {"resources", "lxcfs_loadavg", parse_res_lxcfs_loadavg, "per-container /proc/loadavg from lxcfs"},
      {"resources", "lxcfs_cfs", parse_res_lxcfs_cfs, "limits.cpu shows as that many CPUs in /proc/cpuinfo and /sys"},
      {"security", "idmapped_mounts", parse_idmapped_mounts,
       "unprivileged containers: auto (idmapped rootfs where the filesystem can) or off (always chown-shift the rootfs)"},
      {"security", "idmap_registry", parse_idmap_registry,
       "host-wide file of the id ranges claimed by unprivileged containers of every sysc root on the host"},
      {"storage", "backend", parse_storage_backend,
       "storage of new containers: auto (btrfs on btrfs, else dir), dir, overlay or btrfs"},
      {"templates", nullptr, parse_template_mirror,
       "TEMPLATE.mirror: the --mirror lxcd passes to TEMPLATE when the user gives none", template_key_ok},
      {"daemon", "socket_group", parse_socket_group, "group whose members may use lxcd's socket besides root"},
  };
  return table;
}

}  // namespace sysc::config::detail

namespace sysc::config {

namespace {

// Digits, optionally "." and up to MAX_DECIMALS more digits: value * 10^max_decimals in *scaled.
bool parse_decimal(const std::string& s, size_t max_decimals, unsigned __int128* scaled) {
  size_t dot = s.find('.');
  std::string whole = s.substr(0, dot), frac = dot == std::string::npos ? "" : s.substr(dot + 1);
  if (whole.empty() || whole.size() > 20 || (dot != std::string::npos && frac.empty()) || frac.size() > max_decimals)
    return false;
  unsigned __int128 v = 0;
  for (char ch : whole + frac + std::string(max_decimals - frac.size(), '0')) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  *scaled = v;
  return true;
}

}  // namespace

Result<uint64_t> parse_size(const std::string& s) {
  const auto fail = [] {
    return make_error("expected a size in bytes or with a K, M, G or T suffix (1024-based), like 512M or 1.5G",
                      EINVAL);
  };
  std::string num = s;
  for (const char* suffix : {"iB", "ib", "B", "b"}) {
    if (num.size() > 1 && num.ends_with(suffix) && std::isalpha(static_cast<unsigned char>(num[num.size() - 1 - std::strlen(suffix)]))) {
      num.resize(num.size() - std::strlen(suffix));
      break;
    }
  }
  unsigned shift = 0;
  if (!num.empty()) {
    switch (std::toupper(static_cast<unsigned char>(num.back()))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: break;
    }
    if (shift) num.pop_back();
  }
  unsigned __int128 scaled = 0;
  constexpr size_t kDecimals = 6;
  // Plain bytes are whole; fractions need a unit ("1.5G").
  if (!parse_decimal(num, shift ? kDecimals : 0, &scaled)) return fail();
  unsigned __int128 bytes = shift ? (scaled << shift) / 1000000 : scaled;
  if (bytes > (static_cast<unsigned __int128>(1) << 62))
    return make_error("size too large (at most 4096T)", ERANGE);
  return static_cast<uint64_t>(bytes);
}

std::string format_size(uint64_t bytes) {
  static const char* const units[] = {"T", "G", "M", "K"};
  for (int i = 0; i < 4; ++i) {
    uint64_t unit = uint64_t{1} << (10 * (4 - i));
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + units[i];
  }
  return std::to_string(bytes);
}

Result<uint64_t> parse_cpus(const std::string& s) {
  unsigned __int128 quota = 0;  // 5 decimals = microseconds of a 100000 us period
  if (!parse_decimal(s, 5, &quota) || quota < runtime::kCpuQuotaMinUs || quota > runtime::kCpuQuotaMaxUs)
    return make_error("expected a number of CPUs from 0.01 to 1024, like 0.5 or 1.5", EINVAL);
  return static_cast<uint64_t>(quota);
}

runtime::Limits limits_for_key(const runtime::Limits& l, const std::string& key) {
  runtime::Limits out;
  if (key == runtime::kKeyMemory || key == runtime::kKeyMemorySwap) {
    out.memory = l.memory;
    out.memory_swap = l.memory_swap;
  } else if (key == runtime::kKeyCpu) {
    out.cpu_quota_us = l.cpu_quota_us;
  } else if (key == runtime::kKeyCpuWeight) {
    out.cpu_weight = l.cpu_weight;
  } else if (key == runtime::kKeyCpuset) {
    out.cpuset = l.cpuset;
  } else if (key == runtime::kKeyPids) {
    out.pids = l.pids;
  } else if (key == runtime::kKeyIoWeight) {
    out.io_weight = l.io_weight;
  } else if (key == runtime::kKeyIoReadBps) {
    out.io_read_bps = l.io_read_bps;
  } else if (key == runtime::kKeyIoWriteBps) {
    out.io_write_bps = l.io_write_bps;
  }
  return out;
}

const char* to_string(RestartPolicy p) {
  switch (p) {
    case RestartPolicy::OnFailure: return "on-failure";
    case RestartPolicy::Always: return "always";
    case RestartPolicy::No: break;
  }
  return "no";
}

std::vector<std::pair<std::string, std::string>> container_keys() {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& def : detail::container_table()) {
    std::string section = def.section;
    if (section.ends_with(".*")) section.replace(section.size() - 1, 1, "N");
    std::string key = def.name == nullptr ? section + ".NAME" : def.name;
    if (def.name != nullptr && section != "container") key = section + "." + key;
    keys.emplace_back(key, def.description);
  }
  return keys;
}

}  // namespace sysc::config
