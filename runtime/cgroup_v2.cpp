// Cgroup v2 driver: one unified hierarchy (the host's /sys/fs/cgroup, or the "unified" mount
// a hybrid host's v1 driver also manages). Host side only.
#include <algorithm>
#include <tuple>
#include <sstream>
#include <sys/mount.h>

#include "common/fs.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup_internal.h"
#include "runtime/devices.h"

namespace sysc::cgroup {
namespace {

using namespace detail;

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w[0] == '+' ? w.substr(1) : w);
  return out;
}

// Enable in DIR's cgroup.subtree_control every controller DIR itself has. Failures are
// ignored per controller: a parent with processes in it, or a threaded one, cannot delegate
// (EBUSY/EOPNOTSUPP), and the child then simply lacks that controller.
void enable_controllers(const std::string& dir) {
  auto avail = read_trimmed(join(dir, "cgroup.controllers"));
  if (!avail) return;
  auto current = read_trimmed(join(dir, "cgroup.subtree_control"));
  std::vector<std::string> enabled = current ? words(*current) : std::vector<std::string>{};
  std::vector<std::string> missing;
  for (const std::string& c : words(*avail)) {
    if (std::find(enabled.begin(), enabled.end(), c) == enabled.end()) missing.push_back(c);
  }
  if (missing.empty()) return;
  std::string all;
  for (const std::string& c : missing) all += (all.empty() ? "+" : " +") + c;
  if (write_control(join(dir, "cgroup.subtree_control"), all)) return;
  for (const std::string& c : missing) (void)write_control(join(dir, "cgroup.subtree_control"), "+" + c);
}

// cgroup.events "populated 0|1"; without the file (not cgroupfs), look at the procs instead.
bool populated(const std::string& dir) {
  auto events = read_file(join(dir, "cgroup.events"));
  if (!events) return !subtree_procs(dir).empty();
  std::istringstream in(*events);
  std::string key, value;
  while (in >> key >> value) {
    if (key == "populated") return value != "0";
  }
  return !subtree_procs(dir).empty();
}

// The controllers DIR has (cgroup.controllers); none if the file cannot be read.
std::vector<std::string> controllers(const std::string& dir) {
  auto text = read_trimmed(join(dir, "cgroup.controllers"));
  return text ? words(*text) : std::vector<std::string>{};
}

class V2Driver final : public Driver {
 public:
  V2Driver(std::string mount_point, bool device_program)
      : mp_(std::move(mount_point)), device_program_(device_program) {}

  Layout layout() const override { return Layout::Unified; }

  // Once the levels above it are made and set up, only the container's own level is
  // (ReadyParents).
  Status create(const std::string& rel) override {
    return create_through(ready_, rel, [&](const std::vector<std::string>& levels, size_t first) {
      return create_levels(rel, levels, first);
    });
  }

  void parents_ready(const std::string& rel) override {
    if (std::string above = parent_rel(rel); !above.empty()) ready_.add(above);
  }
  void forget_parents(const std::string& rel) override { ready_.forget(parent_rel(rel)); }

  Status attach(const std::string& rel, pid_t pid) override {
    TRY(check_rel(rel));
    TRY_CTX(write_control(join(path(rel), "cgroup.procs"), std::to_string(pid)), "cgroup " + rel);
    return {};
  }

  JoinPlan join_plan(const std::string& rel) const override { return JoinPlan{path(rel), {}}; }

  Status destroy(const std::string& rel) override {
    TRY(check_rel(rel));
    const std::string dir = path(rel);
    if (!is_dir(dir)) return {};
    const auto deadline = Clock::now() + kDestroyTimeout;
    // cgroup.kill (5.14+) kills the whole subtree and wins against forks; before it, kill by pid.
    bool have_kill = write_control(join(dir, "cgroup.kill"), "1").ok();
    while (populated(dir)) {
      if (Clock::now() >= deadline)
        return make_error("cgroup " + rel + ": " + dir + ": processes still running after 5 s", EBUSY);
      if (!have_kill) kill_subtree(dir);
      sleep_poll();
    }
    TRY_CTX(remove_subtree(dir, deadline), "cgroup " + rel);
    return {};
  }

  bool exists(const std::string& rel) const override { return check_rel(rel) && is_dir(path(rel)); }

  Result<std::vector<pid_t>> procs(const std::string& rel) const override {
    TRY(check_rel(rel));
    const std::string dir = path(rel);
    if (!is_dir(dir)) return make_error("cgroup " + rel + ": " + dir + " does not exist", ENOENT);
    return TRY_CTX(read_procs(dir), "cgroup " + rel);
  }

  Result<uint64_t> memory_current(const std::string& rel) const override {
    TRY(check_rel(rel));
    const std::string file = join(path(rel), "memory.current");
    auto text = read_file(file);
    if (!text && text.error().code == ENOENT)
      return make_error("cgroup " + rel + ": memory controller not available (no " + file + ")", ENOENT);
    if (!text) return std::move(text).error().context("cgroup " + rel);
    return TRY_CTX(parse_u64(*text, file), "cgroup " + rel);
  }

  Result<uint64_t> cpu_usage_ns(const std::string& rel) const override {
    TRY(check_rel(rel));
    const std::string file = join(path(rel), "cpu.stat");
    std::string text = TRY_CTX(read_file(file), "cgroup " + rel);
    return TRY_CTX(parse_cpu_stat_usage_ns(text, file), "cgroup " + rel);
  }

  Status apply_limits(const std::string& rel, const runtime::Limits& l) override {
    TRY(check_rel(rel));
    TRY(runtime::check_limits(l));
    const std::string dir = path(rel);
    const std::vector<std::string> have = controllers(dir);
    const auto need = [&](const char* key, const char* controller) -> Status {
      if (std::find(have.begin(), have.end(), controller) != have.end()) return {};
      std::string listed;
      for (const std::string& c : have) listed += (listed.empty() ? "" : " ") + c;
      return limit_unavailable(key, controller,
                               "in " + dir + " (its cgroup.controllers: " + (listed.empty() ? "none" : listed) +
                                   "; on a hybrid host the controllers are bound to the v1 hierarchies)");
    };
    if (l.memory) {
      TRY(need(runtime::kKeyMemory, "memory"));
      TRY(write_limit(runtime::kKeyMemory, dir, "memory.max", std::to_string(*l.memory), "no memory controller"));
    }
    if (l.memory_swap) {
      TRY(need(runtime::kKeyMemorySwap, "memory"));
      TRY(write_limit(runtime::kKeyMemorySwap, dir, "memory.swap.max", std::to_string(*l.memory_swap),
                      "swap accounting is off: kernel without CONFIG_MEMCG_SWAP or booted with swapaccount=0"));
    }
    if (l.cpu_quota_us) {
      TRY(need(runtime::kKeyCpu, "cpu"));
      TRY(write_limit(runtime::kKeyCpu, dir, "cpu.max", runtime::v2_cpu_max(*l.cpu_quota_us),
                      "kernel without CONFIG_CFS_BANDWIDTH"));
    }
    if (l.cpu_weight) {
      TRY(need(runtime::kKeyCpuWeight, "cpu"));
      TRY(write_limit(runtime::kKeyCpuWeight, dir, "cpu.weight", std::to_string(*l.cpu_weight), "no cpu controller"));
    }
    if (l.cpuset) {
      TRY(need(runtime::kKeyCpuset, "cpuset"));
      TRY(write_limit(runtime::kKeyCpuset, dir, "cpuset.cpus", *l.cpuset, "no cpuset controller"));
    }
    if (l.pids) {
      TRY(need(runtime::kKeyPids, "pids"));
      TRY(write_limit(runtime::kKeyPids, dir, "pids.max", std::to_string(*l.pids), "no pids controller"));
    }
    if (l.io_weight) {
      TRY(need(runtime::kKeyIoWeight, "io"));
      TRY(write_limit(runtime::kKeyIoWeight, dir, "io.weight", std::to_string(*l.io_weight),
                      "kernel without CONFIG_BLK_CGROUP_IOCOST: no proportional I/O control"));
    }
    for (auto [key, caps, field] : {std::tuple{runtime::kKeyIoReadBps, &l.io_read_bps, "rbps"},
                                    std::tuple{runtime::kKeyIoWriteBps, &l.io_write_bps, "wbps"}}) {
      if (caps->empty()) continue;
      TRY(need(key, "io"));
      for (const auto& c : *caps) {
        const std::string dev = TRY_CTX(runtime::io_device_number(c.device), key);
        TRY(write_limit(key, dir, "io.max", dev + " " + field + "=" + std::to_string(c.bps),
                        "kernel without CONFIG_BLK_DEV_THROTTLING"));
      }
    }
    return {};
  }

  LimitStats limit_stats(const std::string& rel) const override {
    LimitStats st;
    if (!check_rel(rel)) return st;
    const std::string dir = path(rel);
    st.memory_max = read_limit_value(dir, "memory.max");
    st.oom_kills = read_keyed_u64(dir, "memory.events", "oom_kill");
    st.pids_current = read_u64_file(dir, "pids.current");
    st.pids_max = read_limit_value(dir, "pids.max");
    return st;
  }

  std::string path(const std::string& rel) const override { return join(mp_, rel); }
  std::vector<std::string> paths(const std::string& rel) const override { return {path(rel)}; }

  runtime::MountPlan container_mounts() const override {
    runtime::MountStep m;
    m.op = runtime::MountStep::Op::Mount;
    m.source = "cgroup2";
    m.target = "sys/fs/cgroup";
    m.fstype = "cgroup2";
    m.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    return {m};
  }

 private:
  Status create_levels(const std::string& rel, const std::vector<std::string>& levels, size_t first) {
    CreatedDirs made;  // removed again if anything below fails
    // The mount root is the host's (systemd's) to configure: delegation starts below it, in
    // the levels we create, so its subtree_control is never written.
    // A ready parent (FIRST > 0) has its controllers enabled already.
    for (size_t i = first; i < levels.size(); ++i) {
      if (i > first) enable_controllers(join(mp_, levels[i - 1]));
      TRY_CTX(made.make(join(mp_, levels[i])), "cgroup " + rel);
    }
    TRY(attach_device_program(rel, levels, made, first));
    made.commit();
    return {};
  }

  // The device allowlist program on the levels we made in this call, and always on the
  // container's own level and (when this call sets up the levels above too: FIRST is 0) the one
  // holding the containers (sysc's; possibly left unrestricted by an older sysc): a container can detach programs from its own cgroup, never
  // from its parent's, which it cannot even see. ALLOW_MULTI: each attached program must allow.
  // A mount point that is not cgroup2 never comes from make_driver(); it is a unit test's fake
  // tree, where there is no cgroup to attach to.
  Status attach_device_program(const std::string& rel, const std::vector<std::string>& levels,
                               const CreatedDirs& made, size_t first) const {
    if (!device_program_ || !is_cgroup2_fs(mp_)) return {};
    const std::string what = "cgroup " + rel + ": device program";
    UniqueFd prog = TRY_CTX(devices::load(devices::assemble(devices::allowlist())), what);
    for (size_t i = first; i < levels.size(); ++i) {
      const std::string dir = join(mp_, levels[i]);
      if (made.created(dir) || i + 2 >= levels.size()) TRY_CTX(devices::attach_once(prog.get(), dir), what);
    }
    return {};
  }

  std::string mp_;
  bool device_program_;
  ReadyParents ready_;
};

}  // namespace

std::unique_ptr<Driver> make_v2_driver(const std::string& mount_point, bool device_program) {
  return std::make_unique<V2Driver>(mount_point, device_program);
}

}  // namespace sysc::cgroup
