// The commented files written at `sysc create` (NAME.conf) and at first daemon start (sysc.conf):
// every key is explained and shown with its default as a commented-out line (host side).
#include <string>

#include "config/config.h"

namespace sysc::config {

std::string default_global_text() {
  return R"(# sysc global configuration.
# Lines starting with '#' or ';' are comments. Each setting is shown commented out with its
# default value: remove the leading '#' and change the value to override it.
# The daemon reads this file when it starts.

[cgroup]
# parent is the cgroup directory, relative to the cgroup root of each hierarchy, that holds
# one directory per container. Components may use letters, digits, '_', '.' and '-';
# no '..' and no leading '/'. Example: machines/sysc
#parent = sysc

# driver chooses how containers use cgroups: "auto" detects the host's layout (cgroup2-only
# hosts use v2; legacy and hybrid hosts use v1 plus, on hybrid, the cgroup2 hierarchy);
# "v2" on a hybrid host uses only its cgroup2 hierarchy (containers then see cgroup2 alone);
# "v1" refuses to run on a cgroup2-only host.
#driver = auto

[network]
# The bridge every container interface (type veth, the default) joins. lxcd creates it at the
# first start of a networked container; containers keep their address for their whole life.
# enabled = false: lxcd never touches the host network and containers only get lo.
#enabled = true
#bridge = syscbr0
# The bridge's address and prefix: the containers' gateway and subnet. The default is an
# arbitrary private /24 unlikely to collide with a host's own networks; change it if it does.
#address = 10.213.117.1/24
#mtu = 1500
# nat: masquerade the subnet's traffic leaving through other interfaces (nftables table
# "sysc_BRIDGE"; enables net.ipv4.ip_forward, which NAT needs). Port forwards need it too.
#nat = true
# dhcp: dnsmasq on the bridge hands each container exactly its recorded address and answers
# DNS for NAME and NAME.DOMAIN.
#dhcp = true
#domain = sysc

[defaults]
# stop_timeout is how many seconds "sysc stop" waits, after sending the halt signal, for a
# container to power off before it is killed with SIGKILL (1 to 86400). A container's own
# stop_timeout overrides it.
#stop_timeout = 30

[security]
# idmapped_mounts: how an unprivileged container (security.privileged = false) sees its root
# filesystem, whose files belong to host root. "auto" mounts it idmapped where the filesystem
# supports that (the files on disk keep their ids); "off", or a filesystem without support,
# shifts the ids on disk into the container's range once (chown), and back when it becomes
# privileged again.
#idmapped_mounts = auto

# idmap_registry: the host-wide file where every sysc root on this host (sysc --root) claims
# the host id ranges of its unprivileged containers, so that no two containers of any roots
# share host ids. Claims are released by destroy; those of roots that are gone are dropped.
#idmap_registry = /var/lib/sysc-idmap/ranges

[storage]
# backend decides how "sysc create" (and "sysc copy") lay out a new container's root
# filesystem; "sysc create --storage" overrides it per container. Templates build an image
# once (kept under /var/cache/sysc/images); containers are then made from it:
#   dir      a full copy of the image (reflinked where the filesystem supports it)
#   overlay  the image as a read-only lower layer plus a per-container upper layer
#   btrfs    a subvolume snapshot (the state directory must be on btrfs)
#   auto     btrfs when the state directory is on btrfs, else dir
#backend = auto

[templates]
# TEMPLATE.mirror sets the --mirror lxcd passes to a template when the user gives none:
# the Debian mirror for debian, the image server for download. Examples:
#debian.mirror = http://deb.debian.org/debian
#download.mirror = https://images.example.org

[resources]
# lxcfs: lxcd runs one lxcfs (a FUSE file system) at RUN_DIR/.lxcfs and binds its files over each
# container's /proc/meminfo, cpuinfo, stat, uptime, loadavg, swaps, diskstats and
# /sys/devices/system/cpu/online, so "free", "top", "uptime" and "nproc" inside report the
# container's limits and its own uptime. false, or lxcfs not installed: the host's values.
#lxcfs = true
# lxcfs_loadavg: a per-container /proc/loadavg (lxcfs -l).
#lxcfs_loadavg = true
# lxcfs_cfs: limits.cpu also shows as that many CPUs, rounded up (lxcfs --enable-cfs).
#lxcfs_cfs = true

[daemon]
# socket_group: members of this group may use lxcd's socket (run/sysc/lxcd.sock, owned
# root:GROUP, mode 0660) besides root. They can create and configure containers, which is as
# powerful as root on this host: grant it only to administrators. Unset: root only.
#socket_group = sysc
)";
}

std::string default_container_text(const std::string& name, const std::string& template_name) {
  std::string text = "# sysc configuration of container " + name;
  if (!template_name.empty()) text += " (created from template " + template_name + ")";
  text += R"(.
# Lines starting with '#' or ';' are comments; a '#' or ';' later in a line is part of the
# value. Each setting is shown commented out with its default value: remove the leading '#'
# and change the value, or change it with the "sysc config" command.
# Changes take effect the next time the container starts ([limits] also at once).

[container]
# init is the program started as PID 1 in the container, with its arguments separated by
# whitespace. The program must be an absolute path inside the container.
#init = /sbin/init

# halt_signal is the signal that asks init to power off. "auto" picks it from the init
# found in the container: SIGRTMIN+3 for systemd, SIGPWR for sysvinit, SIGUSR1 for busybox.
# Accepts names (SIGPWR, PWR), numbers (30) and real-time signals (SIGRTMIN+3, SIGRTMAX-2).
#halt_signal = auto

# stop_timeout is how many seconds to wait after the halt signal before killing the
# container with SIGKILL (1 to 86400). When unset, [defaults] stop_timeout of sysc.conf
# applies (30 seconds unless changed there).
#stop_timeout = 30

# ttys is the number of extra login terminals (0 to 16) named to init in the container_ttys
# environment variable (pts/1 ... pts/N). sysc does not allocate those terminals yet, so leave
# it at 0; the console (sysc console) is always there.
#ttys = 0

# autostart = true: lxcd starts the container once per host boot (the first time it runs
# after the boot), in the sequence set in [autostart]. "sysc shutdown-all" (run by the
# sysc-containers unit at host shutdown) stops running containers in the reverse sequence.
#autostart = false

# restart is what lxcd does when the container stops without "sysc stop": "no"; "on-failure"
# restarts it unless it halted/powered off cleanly or its init exited with status 0;
# "always" restarts it after any such stop. Restarts back off: 1 s, doubling up to 5 min,
# back to 1 s once it has run for 10 minutes. A reboot from inside always restarts it.
#restart = no

[environment]
# Each NAME = VALUE line sets an environment variable of init. Names use letters, digits and
# '_' and do not start with a digit. "container" tells init it runs in a container and is
# set to "sysc" unless given here.
#container = sysc

[security]
# cap_drop lists capabilities, separated by spaces, to remove from the container in addition
# to the default drop list. Names are lowercase without the "cap_" prefix, as in
# "sys_module net_raw".
#cap_drop =

# cap_keep lists capabilities the default drop list would remove but this container keeps,
# in the same form, as in "sys_time".
#cap_keep =

# privileged = false (the default) runs the container in a user namespace: root inside is an
# unprivileged host uid/gid range of 65536 ids, its own for the container's life (from root's
# entries in /etc/subuid and /etc/subgid, or 1000000 upwards when there are none). true keeps
# root inside host root (capabilities limited by the lists above); only for trusted tenants.
#privileged = false
# seccomp_profile names a file adjusting the default seccomp rules, one directive a line:
# "deny SYSCALL [ERRNO]" (default EPERM; a name like ENOSYS or a number) and "allow SYSCALL"
# (lift a default entry, e.g. "allow keyctl"). '#' starts a comment. The defaults deny kernel
# module and kexec calls, open_by_handle_at, iopl/ioperm, swapon/swapoff (EPERM), keyctl,
# add_key, request_key (ENOSYS), umount2 with MNT_FORCE (EPERM) and, on x86_64, every call
# through the 32-bit ABIs (ENOSYS, unless syscalls.allow_compat is true).
#seccomp_profile =

# syscalls.allow_compat = true lets 32-bit programs run (on x86_64: the i386 ABI, int 0x80,
# and x32): the filter then holds those architectures too, with the same rules as the native
# one (the defaults and the profile above), so only the denied calls fail. false (the
# default): every 32-bit call fails with ENOSYS. No effect on other host architectures.
#syscalls.allow_compat = false

[limits]
# Resource limits, set in the container's cgroup before its init runs. Unset = unlimited
# (nothing is written). "sysc config set NAME limits.KEY VALUE" on a running container also
# applies the new value at once. Setting a limit the host's cgroups cannot enforce (its
# controller is not available, e.g. memory on the cgroup2 hierarchy of a hybrid host) is an
# error at start, never silently ignored.
#
# memory: RAM the container may use, page cache included (cgroup v1 memory.limit_in_bytes,
# v2 memory.max). Sizes take K, M, G or T (1024-based) or are plain bytes: 512M, 1.5G.
#memory = 512M
#
# memory.swap: swap the container may use ON TOP of memory (needs memory). 0 = no swap.
# cgroup v1 only limits memory+swap together, so sysc writes memory + memory.swap to
# memory.memsw.limit_in_bytes (which needs the kernel's swap accounting); v2 writes
# memory.swap.max. The key means the same on both.
#memory.swap = 256M
#
# cpu: CPU time as a number of CPUs (0.01 to 1024): 1.5 = 150 ms of CPU in every 100 ms
# (v1 cpu.cfs_quota_us/cpu.cfs_period_us, v2 cpu.max).
#cpu = 1.5
#
# cpu.weight: share of the CPU when it is contended, 1 to 10000 (default 100). v2 cpu.weight;
# v1 cpu.shares = weight * 1024 / 100.
#cpu.weight = 100
#
# cpuset: the CPUs the container may run on, as numbers and ranges: 0-1 or 0,2.
#cpuset = 0-1
#
# pids: maximum number of tasks (processes and threads) in the container (pids.max).
#pids = 1000
#
# io.weight: share of block I/O when it is contended, 1 to 10000 (default 100). v2 io.weight;
# v1 blkio.weight = weight * 5, clamped to 10..1000 (needs an I/O scheduler with weights).
#io.weight = 100
#
# io.read_bps / io.write_bps: bandwidth caps per block device, in bytes per second, as
# "DEVICE RATE" entries separated by commas; DEVICE is a /dev path of a whole disk on the host
# or its MAJ:MIN numbers. v1 blkio.throttle.read_bps_device / write_bps_device, v2 io.max.
# A live change sets the devices named; one removed from the list keeps its cap until restart.
#io.read_bps = /dev/vda 10M
#io.write_bps = /dev/vda 10M

[autostart]
# order: lower numbers start first (and stop last); equal numbers start by name.
#order = 0
# delay: seconds to wait after starting this container before starting the next.
#delay = 0
# after: containers (comma-separated) that must be started and ready before this one.
#after = db,cache

[ready]
# When another container's autostart waits for this one ([autostart] after), this one is
# ready once "command" (run inside, like sysc attach, every second) exits 0. Without a
# command: a systemd init is ready when "systemctl is-system-running" says running or
# degraded; any other init as soon as it started. Example: command = test -e /run/app.ready
#command =
# timeout: seconds the dependent container waits; then it starts anyway (with a warning).
#timeout = 120
)";
  return text;
}

}  // namespace sysc::config
