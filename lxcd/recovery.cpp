// Crash safety of lxcd: the second half of destroy (after the rename to the trash name), and
// recovery at daemon start (after reconcile, before the API serves; no other thread touches
// containers yet), which finishes what a killed lxcd left half done and removes what no running
// container of this root owns. Only names from this root's database and directories are touched,
// cgroups only below its own parent, links only by sysc's host-veth naming. Every cleanup is
// logged with the container's name.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>

#include "common/fs.h"
#include "common/names.h"
#include "lxcd/manager.h"
#include "lxcd/snapshots.h"
#include "lxcd/storage.h"
#include "lxcd/network.h"
#include "lxcd/shim_client.h"
#include "net/netlink.h"

namespace sysc::lxcd {

namespace {

using namespace std::string_literals;

constexpr int kMaxNics = 16;  // net.0 .. net.15
constexpr int kShimStopTimeoutMs = 15000;

std::string read_or_empty(const std::string& path) {
  auto text = read_file(path);
  return text ? std::move(*text) : std::string();
}

void note(const std::string& name, const std::string& what) {
  fprintf(stderr, "lxcd: recovery: %s: %s\n", name.c_str(), what.c_str());
}

std::vector<std::string> entries(const std::string& dir, bool dirs_only) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (dirs_only) {
      struct stat st;
      if (::lstat((dir + "/" + n).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    }
    out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Mount points strictly below PREFIX (a directory), deepest first.
std::vector<std::string> mounts_below(const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(read_or_empty("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mp;
    f >> id >> parent >> dev >> root >> mp;
    mp = unescape_octal(mp);
    if (mp.rfind(prefix + "/", 0) == 0) out.push_back(mp);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

void unmount_below(const std::string& name, const std::string& dir) {
  for (const auto& mp : mounts_below(dir)) {
    if (::umount2(mp.c_str(), MNT_DETACH) == 0)
      note(name, "unmounted leftover mount " + mp);
    else if (errno != EINVAL && errno != ENOENT)
      note(name, "unmount " + mp + ": " + strerror(errno) + ", ignoring");
  }
}

std::string proc_text(pid_t pid, const char* file) {
  return read_or_empty("/proc/" + std::to_string(pid) + "/" + file);
}

// The process group of PID from /proc/PID/stat, -1 if gone.
pid_t pgrp_of(pid_t pid) {
  std::string stat = proc_text(pid, "stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  pid_t ppid = 0, pgrp = -1;
  rest >> state >> ppid >> pgrp;
  return state == "Z" ? -1 : pgrp;
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  for (const auto& n : entries("/proc", /*dirs_only=*/false))
    if (!n.empty() && std::all_of(n.begin(), n.end(), ::isdigit)) out.push_back(std::stoi(n));
  return out;
}

// Whether a NUL-separated list (/proc/PID/environ) has WORD as an entry.
bool has_word(const std::string& nul_separated, const std::string& word) {
  return ("\0"s + nul_separated + "\0"s).find("\0"s + word + "\0"s) != std::string::npos;
}

// Whether PID's argv has "--rootfs ROOTFS", as lxcd passes it to a template (templates/README.md).
bool is_template_for(pid_t pid, const std::string& rootfs) {
  return has_word(proc_text(pid, "cmdline"), "--rootfs"s + '\0' + rootfs);
}

}  // namespace

Status Manager::finish_destroy(const std::string& name) {
  {
    std::lock_guard<std::mutex> g(attach_mu_);
    attach_cache_.erase(name);
  }
  if (::unlink(paths_.container_conf(name).c_str()) != 0 && errno != ENOENT)
    return sys_error(name + ": destroy: remove " + paths_.container_conf(name));
  ::unlink(paths_.console_log(name).c_str());
  ::unlink((paths_.console_log(name) + ".1").c_str());
  (void)remove_tree(paths_.shim_dir(name));
  std::vector<std::string> macs;
  if (auto nics = store_.nics(name); nics)
    for (const auto& n : *nics) macs.push_back(n.mac);
  if (auto rec = TRY(store_.get(name)); rec) TRY(store_.remove(name));  // releases its addresses and port forwards
  // Its id range goes back to the host (a claim left by a failure here is dropped at the next start).
  if (Status st = idmaps_.release(name); !st) fprintf(stderr, "lxcd: %s: %s, ignoring\n", name.c_str(), st.error().message.c_str());
  (void)network_sync();
  if (Status st = net_->forget_leases(macs); !st) fprintf(stderr, "lxcd: %s: %s, ignoring\n", name.c_str(), st.error().message.c_str());
  // Last: a trash directory left behind (a mount inside it) is all that remains, and the next
  // start of lxcd removes it.
  TRY_CTX(storage::remove(trash_dir(name)), name + ": destroyed, but removing its files failed");
  return {};
}

void Manager::recover() {
  // Without the record of what runs, everything would look orphaned: touch nothing.
  auto all = store_.list();
  if (!all) {
    fprintf(stderr, "lxcd: recovery skipped: %s\n", all.error().message.c_str());
    return;
  }
  std::vector<std::string> running;
  for (const auto& r : *all)
    if (r.state != db::State::Stopped) running.push_back(r.name);
  recover_run_dirs(running);
  recover_container_dirs();
  recover_cgroups(running);
  recover_veths(running);
  recover_mounts(running);
  recover_idmap_claims();
  keep_privileged();
}

// Containers made while privileged was the default keep running privileged: their config gets
// the key (unless it has one already), once.
void Manager::keep_privileged() {
  auto pins = store_.privileged_pins();
  if (!pins) {
    fprintf(stderr, "lxcd: %s\n", pins.error().message.c_str());
    return;
  }
  for (const std::string& name : *pins) {
    const std::string path = paths_.container_conf(name);
    auto text = read_file(path);
    if (text && !config::get_value(*text, path, "security.privileged")) {
      auto updated = config::set_value(*text, path, "security.privileged", "true");
      Status st = updated ? write_file_atomic(path, *updated, 0644) : Status(std::move(updated).error());
      if (!st) {
        fprintf(stderr, "lxcd: %s: could not keep it privileged: %s\n", name.c_str(), st.error().message.c_str());
        continue;
      }
      fprintf(stderr, "lxcd: %s: security.privileged = true written to %s (made while privileged was the default)\n",
              name.c_str(), path.c_str());
    }
    (void)store_.done_privileged_pin(name);
  }
}

// The host-wide registry of id ranges holds exactly this root's recorded ranges: claims whose
// record was never written (or whose release was cut short) go; recorded ranges are claimed.
void Manager::recover_idmap_claims() {
  auto records = store_.idmaps();
  if (!records) {
    fprintf(stderr, "lxcd: id ranges not reconciled with %s: %s\n", idmaps_.path().c_str(), records.error().message.c_str());
    return;
  }
  auto conflicts = idmaps_.reconcile(*records);
  if (!conflicts) {
    fprintf(stderr, "lxcd: id ranges not reconciled with %s: %s\n", idmaps_.path().c_str(), conflicts.error().message.c_str());
    return;
  }
  for (const auto& c : *conflicts) fprintf(stderr, "lxcd: %s (sysc root sharing host ids with this one)\n", c.c_str());
}

// ROOT/run/sysc/NAME of a container that is not running: a supervisor that still answers there
// belongs to no container (its create or destroy was cut short) and is stopped; then the
// directory goes.
void Manager::recover_run_dirs(const std::vector<std::string>& running) {
  for (const auto& name : entries(paths_.run_dir, /*dirs_only=*/true)) {
    // A spare supervisor's directory, made ahead by the spare (sysc-shim, see ShimLaunch::spawn):
    // its lxcd is gone, so it is not taken; a spare that still waits ends on its own. This
    // lxcd's spares come later.
    if (name.rfind(".spare-", 0) == 0) {
      (void)remove_tree(paths_.run_dir + "/" + name);
      continue;
    }
    if (!validate_name(name) || contains(running, name)) continue;
    if (auto conn = ShimConnection::connect(paths_.shim_socket(name)); conn) {
      note(name, "supervisor (pid " + std::to_string(conn->peer_pid()) +
                     ") of a container that is not recorded as running: stopping it");
      if (conn->send({{"op", "stop"}, {"timeout", 0}, {"force", true}}))
        while (auto ev = conn->read(kShimStopTimeoutMs))
          if (ev->value("event", "") == "stopped") break;
      (void)cg_->destroy(cgroup_rel(name));
    }
    if (Status st = remove_tree(paths_.shim_dir(name)); st)
      note(name, "removed stale run directory " + paths_.shim_dir(name));
    else
      note(name, st.error().message + ", ignoring");
  }
}

// Directories under ROOT/var/lib/sysc/containers: a destroy cut short (trash name) is finished,
// a create cut short (no row) is undone, the markers of a create that did finish are dropped. A
// row whose directory is missing without a trash is kept: its filesystem may just not be mounted.
void Manager::recover_container_dirs() {
  const std::string trash_prefix = ".destroy-";
  for (const auto& entry : entries(paths_.containers_dir, /*dirs_only=*/true)) {
    if (entry.rfind(LayoutSpares::kPrefix, 0) == 0) {
      // Laid out ahead by an earlier lxcd (its layout, its umask): this one lays out its own.
      if (Status st = remove_tree(paths_.containers_dir + "/" + entry); !st) note(entry, st.error().message + ", ignoring");
      continue;
    }
    if (entry.rfind(trash_prefix, 0) == 0) {
      std::string name = entry.substr(trash_prefix.size());
      if (!validate_name(name)) continue;
      auto rec = store_.get(name);
      // The row is the destroyed container's unless a new one of that name has its directory.
      bool finish = rec && *rec && !path_exists(paths_.container_dir(name));
      note(name, finish ? "finishing a destroy that was interrupted" : "removing the remains of a destroyed container");
      unmount_below(name, trash_dir(name));
      if (finish) {
        (void)cg_->destroy(cgroup_rel(name));
        if (Status st = finish_destroy(name); !st) note(name, st.error().message + ", ignoring");
      } else if (Status st = storage::remove(trash_dir(name)); !st) {
        note(name, st.error().message + ", ignoring");
      }
      continue;
    }
    if (!validate_name(entry)) continue;
    auto rec = store_.get(entry);
    if (!rec) continue;  // database error: touch nothing
    if (!*rec) {
      undo_create(entry);
    } else {
      unmark_create(entry);
      ::unlink(template_pgid_file(entry).c_str());
      for (const auto& p : snapshots::remove_stale(paths_.container_dir(entry)))
        note(entry, "removed " + p + " (a snapshot or restore cut short)");
    }
  }
  if (auto all = store_.list(); all)
    for (const auto& r : *all)
      if (!path_exists(paths_.container_dir(r.name)))
        note(r.name, "its directory " + paths_.container_dir(r.name) +
                         " is missing (filesystem not mounted?); keeping the record");
}

namespace {
constexpr const char* kCreateXattr = "trusted.sysc.create";
}

// An attribute rather than a file: on ext4 a new file costs an inode allocation, which is most
// of a create's time on a busy disk; the attribute fits in the directory's own inode. A
// filesystem without trusted.* attributes (or a refusal of any kind) gets the file.
Status Manager::mark_create(const std::string& name, bool conf_is_ours) {
  const std::string dir = paths_.container_dir(name);
  const std::string value = conf_is_ours ? "conf=1" : "conf=0";
  if (::setxattr(dir.c_str(), kCreateXattr, value.data(), value.size(), XATTR_CREATE) == 0) return {};
  return write_file_atomic(create_marker(name), value + "\n", 0600, /*durable=*/false);
}

void Manager::unmark_create(const std::string& name) {
  const std::string dir = paths_.container_dir(name);
  if (::removexattr(dir.c_str(), kCreateXattr) != 0) ::unlink(create_marker(name).c_str());
}

bool Manager::create_owns_conf(const std::string& name) {
  const std::string dir = paths_.container_dir(name);
  char buf[16];
  ssize_t n = ::getxattr(dir.c_str(), kCreateXattr, buf, sizeof buf);
  if (n >= 0) return std::string(buf, static_cast<size_t>(n)) == "conf=1";
  return read_or_empty(create_marker(name)) == "conf=1\n";
}

// A directory without a row: the create was cut short. Its template may still run (it is in its
// own process group, and its leader has this rootfs in its argv): end it, then remove the
// directory and the config file if the create wrote it.
void Manager::undo_create(const std::string& name) {
  note(name, "undoing a create that was interrupted");
  const std::string rootfs = paths_.rootfs(name);
  const std::string env = "SYSC_CONFIG_DIR=" + paths_.config_dir;
  std::set<pid_t> groups;
  if (auto text = read_file(template_pgid_file(name)); text) {
    pid_t pg = static_cast<pid_t>(std::atoi(text->c_str()));
    if (pg > 1) groups.insert(pg);
  }
  for (pid_t pid : all_pids())
    if (is_template_for(pid, rootfs) && pgrp_of(pid) == pid) groups.insert(pid);
  for (pid_t pg : groups) {
    if (pg <= 1) continue;
    // Only a group with a member that is this root's template (by argv or environment).
    bool ours = false;
    for (pid_t pid : all_pids())
      if (pgrp_of(pid) == pg && (is_template_for(pid, rootfs) || has_word(proc_text(pid, "environ"), env)))
        ours = true;
    if (!ours || ::kill(-pg, SIGKILL) != 0) continue;
    note(name, "killed its template (process group " + std::to_string(pg) + ")");
    for (int i = 0; i < 100; ++i) {
      auto pids = all_pids();
      if (std::none_of(pids.begin(), pids.end(), [&](pid_t p) { return pgrp_of(p) == pg; })) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  bool conf_is_ours = create_owns_conf(name);
  unmount_below(name, paths_.container_dir(name));
  if (Status st = remove_tree(paths_.container_dir(name)); !st) {
    note(name, st.error().message + ", ignoring");
    return;
  }
  note(name, "removed " + paths_.container_dir(name));
  if (conf_is_ours && ::unlink(paths_.container_conf(name).c_str()) == 0)
    note(name, "removed " + paths_.container_conf(name));
}

// PARENT/NAME cgroups (every hierarchy) of containers that are not running.
void Manager::recover_cgroups(const std::vector<std::string>& running) {
  std::set<std::string> names;
  for (const auto& dir : cg_->paths(global_.cgroup_parent))
    for (const auto& n : entries(dir, /*dirs_only=*/true))
      if (validate_name(n) && !contains(running, n)) names.insert(n);
  for (const auto& n : names) {
    if (Status st = cg_->destroy(cgroup_rel(n)); st)
      note(n, "removed leftover cgroup " + global_.cgroup_parent + "/" + n);
    else
      note(n, st.error().message + ", ignoring");
  }
}

// Host veths named sc-*: one on this root's bridge that no running container owns, or one on no
// bridge named for a NIC of a non-running container of this root (a supervisor killed between
// creating the pair and enslaving it). Veths of other roots' bridges are never touched.
void Manager::recover_veths(const std::vector<std::string>& running) {
  auto nl = net::Netlink::open();
  if (!nl) return;
  auto links = nl->links();
  if (!links) return;
  std::set<std::string> owned, known;  // veths of running containers; of every container of ours
  auto nics = store_.nics("");
  auto all = store_.list();
  if (!nics || !all) return;
  for (const auto& n : *nics)
    if (contains(running, n.container)) owned.insert(net::host_veth_name(n.container, n.index));
  for (const auto& c : running)  // also every name a running container could use
    for (int i = 0; i < kMaxNics; ++i) owned.insert(net::host_veth_name(c, i));
  std::vector<std::string> ours;
  for (const auto& r : *all) ours.push_back(r.name);
  for (const auto& d : entries(paths_.containers_dir, /*dirs_only=*/true))
    if (validate_name(d)) ours.push_back(d);
  for (const auto& c : ours)
    if (!contains(running, c))
      for (int i = 0; i < kMaxNics; ++i) known.insert(net::host_veth_name(c, i));
  const bool bridge_is_ours = net_->config().enabled;
  for (const auto& l : *links) {
    if (l.type != "veth" || l.name.rfind("sc-", 0) != 0 || owned.count(l.name)) continue;
    bool on_our_bridge = bridge_is_ours && l.master == net_->config().bridge;
    if (!on_our_bridge && !(l.master.empty() && known.count(l.name))) continue;
    std::string who = l.name.substr(3);  // the container for plain names; a hash for long ones
    if (Status st = nl->delete_link(l.name); st)
      note(who, "removed leftover host veth " + l.name);
    else
      note(who, st.error().message + ", ignoring");
  }
}

// Mounts below the rootfs of a container that is not running (a template cut short mounts
// there; running containers mount only in their own mount namespace).
void Manager::recover_mounts(const std::vector<std::string>& running) {
  for (const auto& d : entries(paths_.containers_dir, /*dirs_only=*/true))
    if (validate_name(d) && !contains(running, d)) unmount_below(d, paths_.rootfs(d));
}

}  // namespace sysc::lxcd
