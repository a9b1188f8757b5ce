// Container operations of lxcd (runs on the API threads and the monitor thread). Every operation
// on one container holds that container's lock; the database is the record, shims are the truth.
#include "lxcd/manager.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/names.h"
#include "common/scope_exit.h"
#include "lxcd/idmap.h"
#include "lxcd/shim_client.h"
#include "lxcd/storage.h"
#include "lxcd/templates.h"
#include "net/netlink.h"
#include "runtime/attach.h"
#include "runtime/container.h"
#include "runtime/security.h"
#include "runtime/spec.h"

namespace sysc::lxcd {

namespace {

constexpr int kShimStatusTimeoutMs = 5000;

// Reap a shim that is our child (spawned by this lxcd); adopted shims are reaped by init.
void reap_if_child(int pid) {
  if (pid <= 0) return;
  int st;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid || (r < 0 && errno == ECHILD)) return;
  // It said "stopped" and is exiting now: wait for exactly that, without polling in a sleep loop.
  UniqueFd pfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (pfd) {
    pollfd p{pfd.get(), POLLIN, 0};
    poll(&p, 1, 2000);
  }
  waitpid(pid, &st, WNOHANG);
}

// A container's config file, or "" when it does not exist yet (all defaults).
std::string read_or_empty(const std::string& path) {
  auto text = read_file(path);
  return text ? std::move(*text) : std::string();
}

// PID's /proc/PID/cgroup if PID sits in cgroup REL (or below it, as systemd's init.scope) in
// some hierarchy, else nothing.
std::optional<std::string> cgroups_if_in(int pid, const std::string& rel) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text) return std::nullopt;
  for (const auto& [key, path] : cgroup::parse_proc_cgroup(*text)) {
    std::string want = "/" + rel;
    if (path == want || path.rfind(want + "/", 0) == 0) return std::move(*text);
  }
  return std::nullopt;
}

// "DEV:INO" (decimal st_dev and st_ino) of PATH, "" if it cannot be stat'ed.
std::string dev_ino(const char* path) {
  struct stat st {};
  if (::stat(path, &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// What an attached process gets: the policy the init got (SPEC: even if the config or the
// profile changed since; its capability names as they are), else the config's (no spec, or one
// an older lxcd wrote).
struct AttachPolicy {
  std::vector<std::string> cap_drop;
  runtime::SecurityPolicy seccomp;  // its seccomp and allow_compat
};
Result<AttachPolicy> attach_policy(const std::optional<runtime::RuntimeSpec>& spec, const config::ContainerConfig& cfg) {
  AttachPolicy p;
  if (spec) {
    p.cap_drop = spec->cap_drop;
    p.seccomp.seccomp = spec->seccomp;
    p.seccomp.allow_compat = spec->seccomp_compat;
    return p;
  }
  p.seccomp = TRY(runtime::make_policy(cfg.cap_drop, cfg.cap_keep, cfg.seccomp_profile, cfg.allow_compat));
  p.cap_drop = runtime::cap_names(p.seccomp.cap_drop);
  return p;
}

std::string read_exit_reason(const std::string& path) {
  auto text = read_file(path);
  if (!text) return "";
  json j = json::parse(*text, nullptr, false);
  return j.is_object() ? j.value("reason", "") : "";
}

}  // namespace

std::string Manager::host_view_rootfs(const db::ContainerRecord& rec, const std::string& init) {
  if (rec.storage != "overlay") return rec.rootfs;
  storage::Layout l(paths_.container_dir(rec.name));
  struct stat st;
  if (lstat((l.upper + init).c_str(), &st) == 0) return l.upper;
  auto img = images_.find(rec.image);
  return img ? img->rootfs : rec.rootfs;
}

namespace {
// SYSC_SPARE_QUIET_MS: the spare supervisors' quiet period (ShimPool), for tests that need a
// long one.
std::chrono::milliseconds spare_quiet() {
  const char* env = std::getenv("SYSC_SPARE_QUIET_MS");
  char* end = nullptr;
  const long ms = env && *env ? std::strtol(env, &end, 10) : -1;
  return ms >= 0 && end && *end == '\0' ? std::chrono::milliseconds(ms) : ShimPool::kDefaultQuiet;
}
}  // namespace

Manager::Manager(Paths paths, config::GlobalConfig global, db::Store store, std::unique_ptr<cgroup::Driver> cg,
                 std::string shim_path, int log_fd, std::unique_ptr<Network> network)
    : paths_(std::move(paths)), global_(std::move(global)), store_(std::move(store)),
      idmaps_(global_.idmap_registry, paths_.state_dir), cg_(std::move(cg)),
      shim_path_(std::move(shim_path)), log_fd_(log_fd), shims_(shim_path_, log_fd, paths_.run_dir, spare_quiet()), net_(std::move(network)),
      images_(paths_.cache_dir + "/images"), btrfs_spares_(paths_.state_dir + "/images", images_mu_),
      layout_spares_(paths_.containers_dir),
      monitor_([this](const std::string& n, int pid, const json& ev) { on_shim_event(n, pid, ev); },
               [this](const std::string& n, int pid) { on_shim_gone(n, pid); }) { load_boot_state(); }

std::shared_ptr<std::mutex> Manager::lock_for(const std::string& name) {
  std::lock_guard<std::mutex> g(locks_mu_);
  auto& m = locks_[name];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Result<db::ContainerRecord> Manager::record(const std::string& name) {
  TRY(validate_name(name));
  auto rec = TRY(store_.get(name));
  if (!rec) return make_error(name + ": no such container", ENOENT);
  return *rec;
}

Result<config::ContainerConfig> Manager::load_config(const std::string& name) {
  std::string path = paths_.container_conf(name);
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ENOENT) return config::ContainerConfig{};  // all defaults
    return std::move(text).error().context(name);
  }
  return TRY_CTX(config::parse_container(*text, path), name + ": invalid configuration");
}

json Manager::to_json(const db::ContainerRecord& r) const {
  return json{{"name", r.name},           {"template", r.template_name}, {"state", db::to_string(r.state)},
              {"init_pid", r.init_pid},   {"shim_pid", r.shim_pid},      {"created_at", r.created_at},
              {"started_at", r.started_at}, {"last_exit", r.last_exit},  {"rootfs", r.rootfs},
              {"storage", r.storage},     {"image", r.image}};
}

Result<json> Manager::list() {
  json arr = json::array();
  auto addrs = first_addresses();
  for (const auto& r : TRY(store_.list())) {
    arr.push_back(to_json(r));
    arr.back()["ipv4"] = addrs.count(r.name) ? addrs[r.name] : "";
  }
  return json{{"containers", arr}};
}

Result<json> Manager::info(const std::string& name) {
  auto rec = TRY(record(name));
  json j = to_json(rec);
  j["config_path"] = paths_.container_conf(name);
  json nics = json::array();
  for (const auto& n : TRY(store_.nics(name)))
    nics.push_back({{"nic", n.index}, {"mac", n.mac}, {"ipv4", n.ipv4 ? net::format_ipv4(n.ipv4) : ""},
                    {"host_veth", net::host_veth_name(name, n.index)}});
  j["nics"] = nics;
  j["ipv4"] = nics.empty() ? "" : nics[0].value("ipv4", "");
  j["cgroup"] = cg_->path(cgroup_rel(name));
  j["cgroup_layout"] = cgroup::to_string(cg_->layout());
  hosting_info(name, j);
  if (auto idmap = store_.idmap(name); idmap && *idmap)
    j["idmap"] = {{"host_base", (*idmap)->host_base}, {"size", (*idmap)->size},
                  {"rootfs_shifted", (*idmap)->rootfs_shift != 0}};
  if (auto cfg = load_config(name); cfg) {
    j["privileged"] = cfg->privileged;
    int sig = cfg->halt_signal ? *cfg->halt_signal : runtime::detect_halt_signal(host_view_rootfs(rec, cfg->init[0]), cfg->init[0]);
    j["halt_signal"] = config::signal_name(sig);
    j["limits"] = runtime::limits_to_json(cfg->limits);  // as configured (bytes, CPUs)
  }
  if (rec.state == db::State::Running) {
    if (auto m = cg_->memory_current(cgroup_rel(name)); m) j["memory_bytes"] = *m;
    if (auto c = cg_->cpu_usage_ns(cgroup_rel(name)); c) j["cpu_ns"] = *c;
    // Usage next to the limits: what the kernel enforces now ("max" = none), and OOM kills.
    const cgroup::LimitStats st = cg_->limit_stats(cgroup_rel(name));
    const auto limit = [](uint64_t v) { return v == cgroup::LimitStats::kUnlimited ? json("max") : json(v); };
    if (st.memory_max) j["memory_max"] = limit(*st.memory_max);
    if (st.pids_current) j["pids_current"] = *st.pids_current;
    if (st.pids_max) j["pids_max"] = limit(*st.pids_max);
    if (st.oom_kills) j["oom_kills"] = *st.oom_kills;
  }
  j["resource_view"] = Lxcfs::describe(lxcfs_, rec.state == db::State::Running, paths_.shim_spec_file(name));
  return j;
}

bool Manager::cgroup_parents_ready() {
  std::lock_guard<std::mutex> g(parents_mu_);
  if (!parents_ready_) {
    // Container names start with a letter or digit: this one is never a container's.
    const std::string probe = cgroup_rel(".sysc-parents");
    parents_ready_ = static_cast<bool>(cg_->create(probe));
    (void)cg_->destroy(probe);
  }
  return parents_ready_;
}

Result<json> Manager::start(const std::string& name) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  auto rec = TRY(record(name));
  cancel_restart(name);
  if (rec.state != db::State::Stopped) return make_error(name + ": already running", EALREADY);
  return start_locked(rec);
}

Result<json> Manager::start_locked(const db::ContainerRecord& rec) {
  const std::string& name = rec.name;
  // lxcd reaches the supervisor by this path; a spare's socket would be bound under a shorter one.
  if (const std::string sock = paths_.shim_socket(name); sock.size() >= sizeof(sockaddr_un{}.sun_path))
    return make_error(name + ": start failed: its control socket path " + sock + " is longer than a unix socket's " +
                          std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes (a shorter state root or name)",
                      ENAMETOOLONG);
  // The supervisor (a spare from the pool, or one spawned now that execs and starts up while the
  // container is prepared below) makes the container's cgroup meanwhile, then waits for the spec
  // file (spec_ready) and the go. Any failure before the go calls it off (the launch's
  // destructor): it removes the cgroup again and stops.
  // Declared before the launch, so it runs after the launch's destructor has reaped the shim: a
  // start that ends before the go removes the cgroup the shim made, should the shim have died
  // before it could (called off, it removes the cgroup itself).
  ScopeExit made_ahead([this, &name] { (void)cg_->destroy(cgroup_rel(name)); }, /*armed=*/false);
  auto taken = shims_.take();
  if (!taken) {
    shims_.refill();
    return std::move(taken).error().context(name + ": start failed");
  }
  ShimLaunch launch = std::move(*taken);
  ScopeExit hold_off([this] { shims_.hold_off(); });  // the start has ended, however it ends
  launch.make_cgroup(global_.cgroup_driver, cgroup_rel(name), cgroup_parents_ready());
  made_ahead.arm();
  shims_.refill();
  auto cfg = TRY(load_config(name));
  auto policy = TRY_CTX(runtime::make_policy(cfg.cap_drop, cfg.cap_keep, cfg.seccomp_profile, cfg.allow_compat),
                        name + ": invalid configuration");
  if (cfg.allow_compat && !runtime::host_has_compat_abis())
    fprintf(stderr, "lxcd: %s: security.syscalls.allow_compat has no effect on this host architecture "
                    "(only x86_64's 32-bit ABIs are filtered), ignoring\n", name.c_str());
  runtime::RuntimeSpec spec;
  spec.name = name;
  spec.rootfs = rec.rootfs;
  if (rec.storage == "overlay") {
    auto img = images_.find(rec.image);
    if (!img) return make_error(name + ": start failed: its image " + rec.image + " (the overlay lower layer) is missing", ENOENT);
    spec.overlay = storage::overlay_layers(img->rootfs, paths_.container_dir(name));
  }
  spec.init_argv = cfg.init;
  for (const auto& [k, v] : cfg.environment) spec.init_env.push_back(k + "=" + v);
  spec.init_env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  spec.init_env.push_back("TERM=linux");
  std::string ttys;
  for (int i = 1; i <= cfg.ttys; ++i) ttys += (i > 1 ? " pts/" : "pts/") + std::to_string(i);
  spec.init_env.push_back("container_ttys=" + ttys);
  spec.halt_signal = cfg.halt_signal ? *cfg.halt_signal : runtime::detect_halt_signal(host_view_rootfs(rec, cfg.init[0]), cfg.init[0]);
  spec.stop_timeout = cfg.stop_timeout ? *cfg.stop_timeout : global_.default_stop_timeout;
  spec.cgroup = cgroup_rel(name);
  spec.cgroup_driver = global_.cgroup_driver;
  spec.cap_drop = runtime::cap_names(policy.cap_drop);
  spec.seccomp = policy.seccomp;
  spec.seccomp_compat = policy.allow_compat;
  spec.seccomp_filter = TRY_CTX(seccomp_program(policy), name + ": start failed at seccomp");
  spec.run_dir = paths_.shim_dir(name);
  spec.console_log = paths_.console_log(name);
  spec.nics = TRY(plan_nics(name, cfg));
  spec.limits = cfg.limits;
  spec.idmap = TRY_CTX(prepare_idmap(store_, idmaps_, name, rec.rootfs, cfg.privileged, global_.idmapped_mounts, spec.overlay),
                       name + ": start failed at user namespace");
  ResourceView view = Lxcfs::view_of(lxcfs_);
  spec.lxcfs_dir = view.dir;
  spec.lxcfs_files = view.files;
  if (!spec.nics.empty()) {
    TRY_CTX(net_->ensure(), name + ": start failed at network");
    TRY_CTX(network_sync(), name + ": start failed at network");
  }

  (void)remove_tree(spec.run_dir);  // stale files of a supervisor that is gone
  // A spare made the directory ahead, with its socket and an empty spec file: written in place.
  const bool spare_dir = launch.take_run_dir(spec.run_dir);
  if (!spare_dir) TRY_CTX(mkdir_p(spec.run_dir, 0700), name);
  TRY_CTX(mkdir_p(paths_.log_dir, 0750), name);
  const std::string spec_text = runtime::to_json(spec);
  if (!spare_dir || !write_file_in_place(paths_.shim_spec_file(name), spec_text))
    TRY_CTX(write_file_atomic(paths_.shim_spec_file(name), spec_text, 0600, /*durable=*/false), name);
  TRY(store_.set_state(name, db::State::Starting));
  launch.spec_ready(paths_.shim_spec_file(name));
  // The shim limits and delegates the cgroup it made, then starts the container.
  std::string failure;
  Result<SpawnedShim> spawned = launch.go();
  made_ahead.dismiss();  // the shim's now, or removed below with the failed start
  if (!spawned) failure = spawned.error().message;
  else if (!spawned->status.value("ok", false)) failure = spawned->status.value("error", "start failed");
  if (!failure.empty()) {
    if (spawned) reap_if_child(spawned->pid);
    (void)cg_->destroy(cgroup_rel(name));  // the shim removes it, unless it died mid-start
    (void)remove_tree(spec.run_dir);
    (void)store_.record_exit(name, failure);
    return make_error(name + ": " + failure, EIO);
  }
  int init_pid = spawned->status.value("init_pid", 0);
  long long started = spawned->status.value("started_at", 0LL);
  TRY(store_.set_running(name, db::State::Running, init_pid, spawned->pid, started));
  on_started(name, spawned->pid, init_pid);
  if (auto conn = ShimConnection::connect(paths_.shim_socket(name)); conn && conn->send({{"op", "watch"}})) {
    monitor_.watch(name, spawned->pid, std::move(*conn));
  } else {
    // The init already ended and its shim with it (init=/bin/true): record that now, as
    // nothing will be watching.
    std::string reason = read_exit_reason(paths_.shim_exit_file(name));
    settle_exit(name, spawned->pid, reason.empty() ? "supervisor ended right after the start" : reason);
  }
  json out = to_json(TRY(record(name)));
  out["resource_view"] = view.description;
  return out;
}

Result<json> Manager::stop(const std::string& name, std::optional<int> timeout, bool force) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  auto rec = TRY(record(name));
  if (rec.state == db::State::Stopped && cancel_restart(name)) return to_json(rec);  // a pending restart
  if (rec.state == db::State::Stopped) return make_error(name + ": not running", ESRCH);
  return stop_locked(rec, timeout, force);
}

Result<json> Manager::stop_locked(const db::ContainerRecord& rec, std::optional<int> timeout, bool force) {
  const std::string& name = rec.name;
  int t = std::clamp(timeout ? *timeout : global_.default_stop_timeout, 0, 86400);
  if (!timeout)
    if (auto cfg = load_config(name); cfg && cfg->stop_timeout) t = *cfg->stop_timeout;
  // STOPPING before anything can end: an exit from here on was asked for (no restart policy).
  (void)store_.set_state(name, db::State::Stopping);
  auto conn = ShimConnection::connect(paths_.shim_socket(name));
  if (conn) {
    if (Status st = conn->send({{"op", "stop"}, {"timeout", t}, {"force", force}}); !st) {
      (void)store_.set_state(name, rec.state);
      return std::move(st).error().context(name + ": stop");
    }
    // The supervisor answers once init is gone: after the timeout it SIGKILLs, so this ends.
    for (;;) {
      auto ev = conn->read((t + 15) * 1000);
      if (!ev) break;  // supervisor gone: its exit record says why
      if (ev->value("event", "") == "stopped") {
        settle_exit(name, rec.shim_pid, ev->value("reason", "stopped"));
        return to_json(TRY(record(name)));
      }
    }
  }
  std::string reason = read_exit_reason(paths_.shim_exit_file(name));
  settle_exit(name, rec.shim_pid, reason.empty() ? "supervisor vanished" : reason);
  return to_json(TRY(record(name)));
}

Result<json> Manager::restart(const std::string& name, std::optional<int> timeout, bool force) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  auto rec = TRY(record(name));
  if (rec.state != db::State::Stopped) TRY(stop_locked(rec, timeout, force));
  return start_locked(TRY(record(name)));
}

void Manager::settle_exit(const std::string& name, int shim_pid, const std::string& reason) {
  auto rec = store_.get(name);
  if (!rec || !*rec || (*rec)->shim_pid != shim_pid || (*rec)->state == db::State::Stopped) return;
  // Clean first, record after: STOPPED in the database means nothing is left behind.
  cleanup_run_state(name, shim_pid);
  (void)store_.record_exit(name, reason);
  events_.publish(name, "stopped", reason);
  if ((*rec)->state == db::State::Running) on_unrequested_exit(**rec, reason);
}

void Manager::cleanup_run_state(const std::string& name, int shim_pid) {
  reap_if_child(shim_pid);
  // The supervisor removed the cgroup; a supervisor killed with -9 could not.
  (void)cg_->destroy(cgroup_rel(name));
  (void)remove_tree(paths_.shim_dir(name));
}

void Manager::on_shim_event(const std::string& name, int shim_pid, const json& ev) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  std::string kind = ev.value("event", "");
  if (kind == "stopped") {
    settle_exit(name, shim_pid, ev.value("reason", "stopped"));
  } else if (kind == "rebooting") {
    events_.publish(name, "reboot", "reboot requested inside the container");
  } else if (kind == "state" && ev.value("init_pid", 0) > 0) {
    auto rec = store_.get(name);
    if (rec && *rec && (*rec)->shim_pid == shim_pid && (*rec)->state != db::State::Stopped) {
      (void)store_.set_running(name, (*rec)->state, ev.value("init_pid", 0), shim_pid, ev.value("started_at", 0LL));
      if ((*rec)->init_pid != ev.value("init_pid", 0)) on_started(name, shim_pid, ev.value("init_pid", 0));  // rebooted
    }
  }
}

void Manager::on_shim_gone(const std::string& name, int shim_pid) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  std::string reason = read_exit_reason(paths_.shim_exit_file(name));
  settle_exit(name, shim_pid, reason.empty() ? "supervisor vanished (killed?); container processes killed" : reason);
}

void Manager::reconcile() {
  images_.remove_stale_builds();
  remove_stale_backups();
  auto all = store_.list();
  if (!all) return;
  for (const auto& rec : *all) {
    if (rec.state == db::State::Stopped) continue;
    auto lock = lock_for(rec.name);
    std::lock_guard<std::mutex> g(*lock);
    auto conn = ShimConnection::connect(paths_.shim_socket(rec.name));
    if (conn && conn->send({{"op", "watch"}})) {
      auto ev = conn->read(kShimStatusTimeoutMs);
      if (ev && ev->value("event", "") == "state") {
        // A lxcd killed during a start recorded STARTING without the shim's pid: the socket has it.
        int shim_pid = rec.shim_pid > 0 ? rec.shim_pid : conn->peer_pid();
        (void)store_.set_running(rec.name, db::State::Running, ev->value("init_pid", 0), shim_pid,
                                 ev->value("started_at", 0LL));
        monitor_.watch(rec.name, shim_pid, std::move(*conn));
        continue;
      }
    }
    std::string reason = read_exit_reason(paths_.shim_exit_file(rec.name));
    settle_exit(rec.name, rec.shim_pid, reason.empty() ? "supervisor vanished while lxcd was down" : reason);
  }
}

Status Manager::destroy(const std::string& name, bool force) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  auto rec = TRY(record(name));
  cancel_restart(name);
  if (rec.state != db::State::Stopped) {
    if (!force) return make_error(name + ": is running; stop it first or use --force", EBUSY);
    TRY(stop_locked(rec, 0, /*force=*/true));
  }
  TRY_CTX(cg_->destroy(cgroup_rel(name)), name + ": destroy");
  // Crash safety: renaming the directory to its trash name is the point of no return. A lxcd
  // killed after it finishes the destroy at its next start; before it, nothing was removed.
  std::string trash = trash_dir(name);
  TRY_CTX(remove_tree(trash), name + ": destroy: remove the remains of an earlier destroy");
  if (::rename(paths_.container_dir(name).c_str(), trash.c_str()) != 0 && errno != ENOENT)
    return sys_error(name + ": destroy: rename " + paths_.container_dir(name) + " to " + trash);
  TRY(finish_destroy(name));
  remove_unused_images();
  events_.publish(name, "destroyed");
  return {};
}

Result<json> Manager::attach_info(const std::string& name) {
  ScopeExit hold_off([this] { shims_.hold_off(); });  // the attach's part here has ended
  auto rec = TRY(record(name));
  if (rec.state != db::State::Running || rec.init_pid <= 0) return make_error(name + ": not running", ESRCH);
  // The recorded pid must still be this container's init (and not a reused pid elsewhere).
  auto proc_cgroup = cgroups_if_in(rec.init_pid, cgroup_rel(name));
  if (!proc_cgroup)
    return make_error(name + ": not running (its init " + std::to_string(rec.init_pid) + " is gone)", ESRCH);
  // Per request: the init may have moved (systemd puts itself into init.scope).
  json cgroups = attach_cgroups(*proc_cgroup);
  // The environment from the config and the policy from the spec file: parsed again only when
  // one of the two files has changed since the last attach (compared by content: a timestamp
  // may not move for an edit in place).
  auto conf_read = read_file(paths_.container_conf(name));
  if (!conf_read && conf_read.error().code != ENOENT) return std::move(conf_read).error().context(name);
  std::string conf_text = conf_read ? std::move(*conf_read) : std::string();  // none yet: all defaults
  auto spec_text = read_file(paths_.shim_spec_file(name));
  {
    std::lock_guard<std::mutex> g(attach_mu_);
    auto it = attach_cache_.find(name);
    if (spec_text && it != attach_cache_.end() && it->second.conf == conf_text && it->second.spec == *spec_text) {
      json out = it->second.answer;
      out["init_pid"] = rec.init_pid;
      if (!cgroups.is_null()) out["cgroups"] = std::move(cgroups);
      return out;
    }
  }
  auto cfg = conf_text.empty() ? config::ContainerConfig{}
                               : TRY_CTX(config::parse_container(conf_text, paths_.container_conf(name)),
                                         name + ": invalid configuration");
  std::optional<runtime::RuntimeSpec> spec;
  if (spec_text)
    if (auto s = runtime::spec_from_json(*spec_text); s) spec = std::move(*s);
  json env = json::array();
  for (const auto& [k, v] : cfg.environment) env.push_back(k + "=" + v);
  auto policy = TRY_CTX(attach_policy(spec, cfg), name + ": invalid configuration");
  std::vector<sock_filter> filter = spec ? spec->seccomp_filter : std::vector<sock_filter>{};
  if (filter.empty()) filter = TRY_CTX(seccomp_program(policy.seccomp), name + ": seccomp");
  json out = {{"name", name},
              {"init_pid", rec.init_pid},
              {"env", env},
              {"cap_drop", policy.cap_drop},
              {"seccomp", runtime::seccomp_rules_to_json(policy.seccomp.seccomp)},
              {"seccomp_compat", policy.seccomp.allow_compat},
              {"seccomp_filter", runtime::seccomp_filter_to_text(filter)}};
  // Kept only when the policy came from the spec file: the fallback also reads a profile file.
  if (spec) {
    std::lock_guard<std::mutex> g(attach_mu_);
    attach_cache_[name] = AttachAnswer{std::move(conf_text), std::move(*spec_text), out};
  }
  if (!cgroups.is_null()) out["cgroups"] = std::move(cgroups);
  return out;
}

Result<std::vector<sock_filter>> Manager::seccomp_program(const runtime::SecurityPolicy& policy) {
  std::string key = runtime::seccomp_rules_to_json(policy.seccomp).dump();
  if (policy.allow_compat) key += " compat";
  // One lock for the programs and for libseccomp, which fills what it learns of the kernel into
  // process-wide state at its first use.
  std::lock_guard<std::mutex> g(seccomp_mu_);
  if (auto it = seccomp_programs_.find(key); it != seccomp_programs_.end()) return it->second;
  auto prog = TRY(runtime::compile_seccomp(policy));
  if (seccomp_programs_.size() >= 64) seccomp_programs_.clear();  // profiles come and go: kept bounded
  return seccomp_programs_[std::move(key)] = std::move(prog.filter);
}

json Manager::attach_cgroups(const std::string& proc_cgroup) {
  std::lock_guard<std::mutex> g(attach_mu_);
  // The copy of mountinfo is read again after any change to this mount namespace: the kernel
  // flags one on an open mountinfo file as POLLPRI (and clears the flag for that file on poll).
  if (!mountinfo_fd_) mountinfo_fd_.reset(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  pollfd pfd{mountinfo_fd_.get(), POLLPRI, 0};
  const bool changed = !mountinfo_fd_ || mountinfo_.empty() || (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLPRI | POLLERR)));
  if (changed) {
    auto text = read_file("/proc/self/mountinfo");
    if (!text) return nullptr;
    mountinfo_ = std::move(*text);
    cgroups_answers_.clear();
  }
  // The same cgroups give the same answer until the mounts change: one parse of mountinfo per
  // container (and per move of its init), not one per attach. lxcd never changes its own mount
  // namespace or root.
  if (auto it = cgroups_answers_.find(proc_cgroup); it != cgroups_answers_.end()) return it->second;
  auto join = runtime::attach_detail::cgroup_join_paths(mountinfo_, proc_cgroup);
  json answer;  // null: the client finds them itself
  if (!join.clone_into.empty() || !join.tasks.empty()) {
    static const std::string mount_ns = dev_ino("/proc/self/ns/mnt"), root = dev_ino("/");
    answer = {{"mount_ns", mount_ns}, {"root", root}, {"clone_into", join.clone_into}, {"tasks", join.tasks}};
  }
  if (cgroups_answers_.size() >= 4096) cgroups_answers_.clear();
  return cgroups_answers_[proc_cgroup] = answer;
}

Status Manager::console(const std::string& name, int client_fd) {
  auto rec = TRY(record(name));
  if (rec.state != db::State::Running) return make_error(name + ": not running", ESRCH);
  auto conn = TRY_CTX(ShimConnection::connect(paths_.shim_socket(name)), name + ": console");
  TRY_CTX(conn.send({{"op", "console"}}, client_fd), name + ": console");
  auto ack = TRY_CTX(conn.read(kShimStatusTimeoutMs), name + ": console");
  if (!ack.value("ok", false)) return make_error(name + ": console: refused by the supervisor", EIO);
  return {};
}

Result<std::string> Manager::console_log(const std::string& name) {
  TRY(record(name));
  std::string out;
  if (auto old = read_file(paths_.console_log(name) + ".1"); old) out = *old;
  if (auto cur = read_file(paths_.console_log(name)); cur) out += *cur;
  return out;
}

Result<json> Manager::config_show(const std::string& name) {
  TRY(record(name));
  std::string path = paths_.container_conf(name);
  auto text = read_file(path);
  return json{{"path", path}, {"content", text ? *text : std::string()}};
}

Result<json> Manager::config_get(const std::string& name, const std::string& key) {
  TRY(record(name));
  std::string path = paths_.container_conf(name);
  std::string text = read_or_empty(path);
  auto v = TRY_CTX(config::get_value(text, path, key), name);
  return json{{"key", key}, {"value", v}};
}

Result<json> Manager::config_set(const std::string& name, const std::string& key, const std::string& value) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  TRY(record(name));
  std::string path = paths_.container_conf(name);
  std::string text = read_or_empty(path);
  auto updated = TRY_CTX(config::set_value(text, path, key, value), name);
  TRY_CTX(write_file_atomic(path, updated), name);
  // Limits also apply at once to a running container; the file keeps the value either way.
  auto rec = TRY(record(name));
  if (key.starts_with("limits.") && rec.state == db::State::Running) {
    auto cfg = TRY_CTX(config::parse_container(updated, path), name);
    if (auto st = cg_->apply_limits(cgroup_rel(name), config::limits_for_key(cfg.limits, key)); !st)
      return make_error(name + ": " + key + " saved in " + path + " but not applied to the running container (" +
                            st.error().message + "); it applies at the next start",
                        st.error().code);
    return json{{"key", key}, {"value", value}, {"applied", true}};
  }
  return json{{"key", key}, {"value", value}};
}

Status Manager::config_unset(const std::string& name, const std::string& key) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  TRY(record(name));
  std::string path = paths_.container_conf(name);
  std::string text = read_or_empty(path);
  auto updated = TRY_CTX(config::unset_value(text, path, key), name);
  return write_file_atomic(path, updated);
}

// ---- networking ----

Result<std::vector<runtime::NicSpec>> Manager::plan_nics(const std::string& name, const config::ContainerConfig& cfg) {
  std::map<int, config::NicConfig> wanted = cfg.nics;
  if (!net_->config().enabled) {
    for (const auto& [index, nic] : wanted)
      if (nic.type != "none")
        return make_error(name + ": net." + std::to_string(index) +
                              " is a veth but networking is disabled ([network] enabled = false in sysc.conf)",
                          EINVAL);
    return std::vector<runtime::NicSpec>{};
  }
  if (wanted.empty()) wanted[0] = config::NicConfig{};  // the default: one veth on the bridge
  std::vector<runtime::NicSpec> out;
  for (const auto& [index, nic] : wanted) {
    if (nic.type == "none") {
      (void)store_.remove_nic(name, index);  // release what an earlier veth had
      continue;
    }
    uint32_t addr = 0;
    if (nic.ipv4 != "auto") {
      addr = TRY_CTX(net::parse_ipv4(nic.ipv4), name + ": net." + std::to_string(index)).addr;
      if (!net_->in_subnet(addr) || addr == net_->gateway().addr)
        return make_error(name + ": net." + std::to_string(index) + ".ipv4 " + nic.ipv4 + " is not a host address of " +
                              net_->config().address,
                          EINVAL);
    }
    std::string mac = nic.hwaddr.empty() ? random_mac() : nic.hwaddr;
    auto rec = TRY(store_.allocate_nic(name, index, mac, addr, net_->first_host(), net_->last_host(), net_->gateway().addr));
    if (!nic.hwaddr.empty() && rec.mac != nic.hwaddr) {
      TRY(store_.set_nic_mac(name, index, nic.hwaddr));
      rec.mac = nic.hwaddr;
    }
    runtime::NicSpec spec;
    spec.host_name = net::host_veth_name(name, index);
    spec.name = nic.name;
    spec.mac = rec.mac;
    spec.mtu = nic.mtu ? nic.mtu : net_->config().mtu;
    spec.bridge = net_->config().bridge;
    spec.address = net::format_cidr(net::Ipv4{rec.ipv4, net_->gateway().prefix});
    // The first interface carries the default route through the bridge.
    if (out.empty()) spec.gateway = net::format_ipv4(net_->gateway().addr);
    out.push_back(spec);
  }
  return out;
}

std::map<std::string, std::string> Manager::first_addresses() {
  std::map<std::string, std::string> out;
  if (auto all = store_.nics(""); all)
    for (const auto& n : *all)
      if (n.ipv4 && (!out.count(n.container) || n.index == 0)) out[n.container] = net::format_ipv4(n.ipv4);
  return out;
}

Status Manager::network_sync(bool forwards) {
  std::lock_guard<std::mutex> g(net_mu_);
  auto nics = TRY(store_.nics(""));
  if (!forwards) return net_->sync_hosts(nics);
  auto fwd = TRY(store_.port_forwards(""));
  return net_->sync(nics, fwd);
}

Status Manager::network_up() {
  // Only when there is something to serve: a host whose containers have no veth is left alone.
  if (!net_->config().enabled || TRY(store_.nics("")).empty()) return {};
  TRY(net_->ensure());
  return network_sync();
}

Result<json> Manager::network_show() {
  auto nics = TRY(store_.nics(""));
  auto forwards = TRY(store_.port_forwards(""));
  return net_->show(nics, forwards);
}

Status Manager::network_remove() {
  for (const auto& r : TRY(store_.list()))
    if (r.state != db::State::Stopped)
      return make_error("network: " + r.name + " is running; stop every container first", EBUSY);
  std::lock_guard<std::mutex> g(net_mu_);
  return net_->teardown();
}

Result<json> Manager::ports(const std::string& name) {
  TRY(record(name));
  json arr = json::array();
  for (const auto& f : TRY(store_.port_forwards(name)))
    arr.push_back({{"proto", f.proto}, {"host_port", f.host_port}, {"container_port", f.container_port}});
  return json{{"port_forwards", arr}};
}

Result<json> Manager::port_add(const std::string& name, const std::string& proto, int host_port, int container_port) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  TRY(record(name));
  if (proto != "tcp" && proto != "udp") return make_error(name + ": protocol must be tcp or udp, not '" + proto + "'", EINVAL);
  if (host_port < 1 || host_port > 65535 || container_port < 1 || container_port > 65535)
    return make_error(name + ": ports must be from 1 to 65535", EINVAL);
  if (!net_->config().nat) return make_error(name + ": port forwards need [network] nat = true", EINVAL);
  if (TRY(store_.nics(name)).empty()) return make_error(name + ": has no network interface to forward to", EINVAL);
  TRY_CTX(net_->ensure(), name);
  TRY_CTX(store_.add_port_forward({proto, host_port, name, container_port}), name);
  if (Status st = network_sync(); !st) {
    (void)store_.remove_port_forward(name, proto, host_port);
    (void)network_sync();
    return std::move(st).error().context(name);
  }
  return json{{"proto", proto}, {"host_port", host_port}, {"container_port", container_port}};
}

Status Manager::port_remove(const std::string& name, const std::string& proto, int host_port) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  TRY(record(name));
  TRY(store_.remove_port_forward(name, proto, host_port));
  return network_sync();
}

}  // namespace sysc::lxcd
