// Cgroup v1 driver for legacy and hybrid hosts: every controller hierarchy, name=systemd and,
// on hybrid hosts, the cgroup2 "unified" mount (through a v2 driver). Host side only.
#include <algorithm>
#include <optional>
#include <sys/mount.h>
#include <unistd.h>

#include "common/fs.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup_internal.h"
#include "runtime/devices.h"

namespace sysc::cgroup {
namespace {

using namespace detail;
using runtime::MountStep;

bool has_controller(const Hierarchy& h, const std::string& c) {
  return std::find(h.controllers.begin(), h.controllers.end(), c) != h.controllers.end();
}

std::string comma_join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// A new cpuset cgroup starts with empty cpus/mems and refuses tasks until they are set.
// True if DIR had none and got its parent's (a level made without cgroup.clone_children above it).
Result<bool> copy_cpuset_from_parent(const std::string& parent, const std::string& dir) {
  bool copied = false;
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    std::string cur = TRY(read_trimmed(join(dir, file)));
    if (!cur.empty()) continue;
    std::string value = TRY(read_trimmed(join(parent, file)));
    TRY(write_control(join(dir, file), value));
    copied = true;
  }
  return copied;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Make DIR (a devices-hierarchy cgroup) deny everything but the allowlist. Re-applying is a
// no-op. A level that still allows all ("a *:* rwm") is reset with "a" in devices.deny, which
// the kernel refuses (EINVAL) once the level has children; a level that is already deny-all
// (restricted earlier, maybe by an older allowlist) is brought to the current list entry by
// entry, which works with children too: the kernel narrows them along.
Status restrict_devices(const std::string& dir) {
  const std::vector<std::string> want = devices::v1_lines(devices::allowlist());
  const std::vector<std::string> have = lines_of(TRY(read_trimmed(join(dir, "devices.list"))));
  if (have.size() == want.size() && std::all_of(want.begin(), want.end(), [&](auto& l) { return contains(have, l); }))
    return {};
  const std::string deny = join(dir, "devices.deny"), allow = join(dir, "devices.allow");
  if (contains(have, "a *:* rwm")) {
    if (Status st = write_control(deny, "a"); !st) {
      if (st.error().code != EINVAL) return st;
      return make_error(dir + ": devices: cannot restrict this level: it already has child cgroups "
                        "(made before device restrictions existed); stop the containers below it once",
                        EBUSY);
    }
  } else {
    for (const std::string& l : have) {
      if (!contains(want, l)) TRY(write_control(deny, l));
    }
  }
  for (const std::string& l : want) TRY(write_control(allow, l));
  return {};
}

MountStep step(MountStep::Op op, std::string target) {
  MountStep s;
  s.op = op;
  s.target = std::move(target);
  return s;
}

// The mount of one hierarchy inside the container's /sys/fs/cgroup tmpfs (a Mount step makes its
// directory), plus links for co-mounted controllers ("cpu" -> "cpu,cpuacct") that systemd and
// tools expect.
void add_hierarchy_steps(const Hierarchy& h, runtime::MountPlan& plan) {
  const unsigned long base = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  const std::string dir = h.v2 ? "unified" : basename_of(h.mount_point);
  const std::string target = "sys/fs/cgroup/" + dir;
  MountStep m = step(MountStep::Op::Mount, target);
  if (h.v2) {
    m.source = m.fstype = "cgroup2";
    m.flags = base;
    plan.push_back(m);
    return;
  }
  m.source = m.fstype = "cgroup";
  m.data = comma_join(h.controllers);
  if (!h.name.empty()) m.data += (m.data.empty() ? "name=" : ",name=") + h.name;
  // Controllers are read-only inside; the named (systemd) hierarchy is the container's to manage.
  m.flags = base | (h.controllers.empty() ? 0 : MS_RDONLY);
  plan.push_back(m);
  for (const std::string& c : h.controllers) {
    if (c == dir) continue;
    MountStep l = step(MountStep::Op::Symlink, "sys/fs/cgroup/" + c);
    l.source = dir;
    l.optional = true;
    plan.push_back(l);
  }
}

class V1Driver final : public Driver {
 public:
  V1Driver(std::vector<Hierarchy> hs, Layout layout) : layout_(layout) {
    for (Hierarchy& h : hs) {
      if (!h.v2) {
        v1_.push_back(h);
      } else if (layout == Layout::Hybrid && (!unified_ || basename_of(h.mount_point) == "unified")) {
        unified_ = h;
      }
    }
    // The v1 devices controller holds the allowlist where it exists; else the unified
    // hierarchy's device program does.
    const bool v1_devices = std::any_of(v1_.begin(), v1_.end(), [](const Hierarchy& h) { return has_controller(h, "devices"); });
    if (unified_) v2_ = make_v2_driver(unified_->mount_point, !v1_devices);
  }

  Layout layout() const override { return layout_; }

  // Level by level, top-down: a devices level is restricted before anything is made below it,
  // so no child is ever created more permissive than its parent. Once the levels above it are
  // made and set up, only the container's own level is (ReadyParents).
  Status create(const std::string& rel) override {
    return create_through(ready_, rel, [&](const std::vector<std::string>& levels, size_t first) {
      return create_levels(rel, levels, first);
    });
  }

  Status create_levels(const std::string& rel, const std::vector<std::string>& levels, size_t first) {
    CreatedDirs made;  // removed again if anything below fails
    for (const Hierarchy& h : v1_) {
      std::string parent = first == 0 ? h.mount_point : join(h.mount_point, levels[first - 1]);
      for (size_t i = first; i < levels.size(); ++i) {
        std::string dir = join(h.mount_point, levels[i]);
        const bool is_new = TRY_CTX(made.make(dir), "cgroup " + rel);
        if (has_controller(h, "cpuset")) {
          const bool copied = TRY_CTX(copy_cpuset_from_parent(parent, dir), "cgroup " + rel);
          // The level holding the containers (sysc's own, never the host's root) then hands its
          // CPUs and memory nodes to each new container at mkdir: the copy is not needed again.
          if (copied && i > 0 && i + 1 == levels.size())
            (void)write_control(join(parent, "cgroup.clone_children"), "1");
        }
        // Levels we create, and always the container's own and (when this call sets up the levels
        // above too: FIRST is 0) the one holding the containers (sysc's by definition; an older
        // sysc may have left it unrestricted). A container can re-grant itself anything its
        // parent allows, so the parent is what really restricts.
        if (has_controller(h, "devices") && (is_new || i + 2 >= levels.size()))
          TRY_CTX(restrict_devices(dir), "cgroup " + rel);
        parent = dir;
      }
    }
    if (v2_) TRY(v2_->create(rel));
    made.commit();
    return {};
  }

  void parents_ready(const std::string& rel) override {
    if (std::string above = parent_rel(rel); !above.empty()) ready_.add(above);
    if (v2_) v2_->parents_ready(rel);
  }
  void forget_parents(const std::string& rel) override {
    ready_.forget(parent_rel(rel));
    if (v2_) v2_->forget_parents(rel);
  }

  Status attach(const std::string& rel, pid_t pid) override {
    TRY(check_rel(rel));
    for (const Hierarchy& h : v1_)
      TRY_CTX(write_control(join(join(h.mount_point, rel), "cgroup.procs"), std::to_string(pid)), "cgroup " + rel);
    if (v2_) TRY(v2_->attach(rel, pid));
    return {};
  }

  JoinPlan join_plan(const std::string& rel) const override {
    JoinPlan j = v2_ ? v2_->join_plan(rel) : JoinPlan{};
    for (const Hierarchy& h : v1_) j.self_tasks.push_back(join(join(h.mount_point, rel), "tasks"));
    return j;
  }

  Status destroy(const std::string& rel) override {
    TRY(check_rel(rel));
    // The unified hierarchy first: its cgroup.kill takes every process at once.
    Status first = v2_ ? v2_->destroy(rel) : Status{};
    const auto deadline = Clock::now() + kDestroyTimeout;
    Status killed = kill_all(rel, deadline);
    if (!killed && first) first = killed;
    for (const Hierarchy& h : v1_) {
      Status s = remove_subtree(join(h.mount_point, rel), deadline);
      if (!s && first) first = std::move(s).error().context("cgroup " + rel);
    }
    return first;
  }

  bool exists(const std::string& rel) const override {
    if (!check_rel(rel)) return false;
    for (const std::string& p : paths(rel)) {
      if (is_dir(p)) return true;
    }
    return false;
  }

  Result<std::vector<pid_t>> procs(const std::string& rel) const override {
    TRY(check_rel(rel));
    if (v2_) return v2_->procs(rel);
    const std::string dir = path(rel);
    if (!is_dir(dir)) return make_error("cgroup " + rel + ": " + dir + " does not exist", ENOENT);
    return TRY_CTX(read_procs(dir), "cgroup " + rel);
  }

  Result<uint64_t> memory_current(const std::string& rel) const override {
    TRY(check_rel(rel));
    const Hierarchy* h = find("memory");
    if (!h) return make_error("cgroup " + rel + ": memory controller not available", ENOENT);
    return read_counter(rel, join(join(h->mount_point, rel), "memory.usage_in_bytes"));
  }

  Result<uint64_t> cpu_usage_ns(const std::string& rel) const override {
    TRY(check_rel(rel));
    const Hierarchy* h = find("cpuacct");
    if (h) return read_counter(rel, join(join(h->mount_point, rel), "cpuacct.usage"));
    if (v2_) return v2_->cpu_usage_ns(rel);
    return make_error("cgroup " + rel + ": cpuacct controller not available", ENOENT);
  }

  // Only the v1 controller hierarchies: on a hybrid host the unified one has no controllers
  // to speak of (and a controller is bound to one version at a time).
  Status apply_limits(const std::string& rel, const runtime::Limits& l) override {
    TRY(check_rel(rel));
    TRY(runtime::check_limits(l));
    if (l.memory) TRY(apply_memory(rel, *l.memory, l.memory_swap));
    if (l.cpu_quota_us) {
      const std::string dir = TRY(dir_for(rel, "cpu", runtime::kKeyCpu));
      // Period first: the quota is meant per kCpuPeriodUs, whatever the period was.
      TRY(write_limit(runtime::kKeyCpu, dir, "cpu.cfs_period_us", std::to_string(runtime::kCpuPeriodUs),
                      "kernel without CONFIG_CFS_BANDWIDTH"));
      TRY(write_limit(runtime::kKeyCpu, dir, "cpu.cfs_quota_us", std::to_string(*l.cpu_quota_us),
                      "kernel without CONFIG_CFS_BANDWIDTH"));
    }
    if (l.cpu_weight) {
      const std::string dir = TRY(dir_for(rel, "cpu", runtime::kKeyCpuWeight));
      TRY(write_limit(runtime::kKeyCpuWeight, dir, "cpu.shares", std::to_string(runtime::v1_cpu_shares(*l.cpu_weight)),
                      "kernel without CONFIG_FAIR_GROUP_SCHED"));
    }
    if (l.cpuset) {
      const std::string dir = TRY(dir_for(rel, "cpuset", runtime::kKeyCpuset));
      TRY(write_limit(runtime::kKeyCpuset, dir, "cpuset.cpus", *l.cpuset, "not a cpuset cgroup"));
    }
    if (l.pids) {
      const std::string dir = TRY(dir_for(rel, "pids", runtime::kKeyPids));
      TRY(write_limit(runtime::kKeyPids, dir, "pids.max", std::to_string(*l.pids), "not a pids cgroup"));
    }
    if (l.io_weight) TRY(apply_io_weight(rel, *l.io_weight));
    TRY(apply_io_bps(rel, runtime::kKeyIoReadBps, "blkio.throttle.read_bps_device", l.io_read_bps));
    TRY(apply_io_bps(rel, runtime::kKeyIoWriteBps, "blkio.throttle.write_bps_device", l.io_write_bps));
    return {};
  }

  LimitStats limit_stats(const std::string& rel) const override {
    LimitStats st;
    if (!check_rel(rel)) return st;
    if (const Hierarchy* h = find("memory")) {
      const std::string dir = join(h->mount_point, rel);
      st.memory_max = read_limit_value(dir, "memory.limit_in_bytes");
      st.oom_kills = read_keyed_u64(dir, "memory.oom_control", "oom_kill");
    }
    if (const Hierarchy* h = find("pids")) {
      const std::string dir = join(h->mount_point, rel);
      st.pids_current = read_u64_file(dir, "pids.current");
      st.pids_max = read_limit_value(dir, "pids.max");
    }
    return st;
  }

  std::string path(const std::string& rel) const override {
    if (v2_) return v2_->path(rel);
    return v1_.empty() ? std::string() : join(v1_.front().mount_point, rel);
  }

  std::vector<std::string> paths(const std::string& rel) const override {
    std::vector<std::string> out;
    for (const Hierarchy& h : v1_) out.push_back(join(h.mount_point, rel));
    if (v2_) out.push_back(v2_->path(rel));
    return out;
  }

  runtime::MountPlan container_mounts() const override {
    runtime::MountPlan plan;
    MountStep tmpfs = step(MountStep::Op::Mount, "sys/fs/cgroup");
    tmpfs.source = tmpfs.fstype = "tmpfs";
    tmpfs.data = "mode=755,size=64k";
    tmpfs.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    plan.push_back(tmpfs);
    for (const Hierarchy& h : v1_) add_hierarchy_steps(h, plan);
    if (unified_) add_hierarchy_steps(*unified_, plan);
    // Last: nothing can be created next to the hierarchies once the tmpfs is read-only.
    plan.push_back(step(MountStep::Op::RemountRO, "sys/fs/cgroup"));
    return plan;
  }

 private:
  const Hierarchy* find(const std::string& controller) const {
    for (const Hierarchy& h : v1_) {
      if (has_controller(h, controller)) return &h;
    }
    return nullptr;
  }

  // REL's directory in the hierarchy of CONTROLLER, or the "not available" error naming KEY.
  Result<std::string> dir_for(const std::string& rel, const std::string& controller, const char* key) const {
    const Hierarchy* h = find(controller);
    if (!h) return limit_unavailable(key, controller, "(no cgroup v1 hierarchy on this host mounts it)");
    return join(h->mount_point, rel);
  }

  // v1 has no swap-only limit: memory.memsw.limit_in_bytes is memory + swap, and the kernel
  // keeps memory <= memsw at every write (EINVAL otherwise). So when memory grows past the
  // current total, the total is raised first; else memory is lowered/raised first.
  Status apply_memory(const std::string& rel, uint64_t memory, std::optional<uint64_t> swap) const {
    const std::string dir = TRY(dir_for(rel, "memory", swap ? runtime::kKeyMemorySwap : runtime::kKeyMemory));
    const std::string mem = std::to_string(memory);
    if (!swap)
      return write_limit(runtime::kKeyMemory, dir, "memory.limit_in_bytes", mem, "not a memory cgroup");
    if (is_dir(dir) && ::access(join(dir, "memory.memsw.limit_in_bytes").c_str(), F_OK) != 0)
      return make_error(std::string(runtime::kKeyMemorySwap) + ": swap accounting is off in this kernel (" + dir +
                            " has no memory.memsw.limit_in_bytes: it needs CONFIG_MEMCG_SWAP and no "
                            "swapaccount=0 on the kernel command line)",
                        EOPNOTSUPP);
    const std::string total = std::to_string(runtime::v1_memsw_total(memory, *swap));
    const std::optional<uint64_t> current_total = read_limit_value(dir, "memory.memsw.limit_in_bytes");
    if (current_total && memory > *current_total) {
      TRY(write_limit(runtime::kKeyMemorySwap, dir, "memory.memsw.limit_in_bytes", total, "swap accounting is off"));
      return write_limit(runtime::kKeyMemory, dir, "memory.limit_in_bytes", mem, "not a memory cgroup");
    }
    TRY(write_limit(runtime::kKeyMemory, dir, "memory.limit_in_bytes", mem, "not a memory cgroup"));
    return write_limit(runtime::kKeyMemorySwap, dir, "memory.memsw.limit_in_bytes", total, "swap accounting is off");
  }

  // blkio.weight came with CFQ (gone since 5.0); BFQ offers blkio.bfq.weight with the same range.
  Status apply_io_weight(const std::string& rel, uint32_t weight) const {
    const std::string dir = TRY(dir_for(rel, "blkio", runtime::kKeyIoWeight));
    const std::string value = std::to_string(runtime::v1_blkio_weight(weight));
    for (const char* file : {"blkio.weight", "blkio.bfq.weight"}) {
      if (::access(join(dir, file).c_str(), F_OK) == 0) return write_limit(runtime::kKeyIoWeight, dir, file, value, "");
    }
    return make_error(std::string(runtime::kKeyIoWeight) + ": " + dir +
                          " has neither blkio.weight nor blkio.bfq.weight (no I/O scheduler with weights: "
                          "use the bfq scheduler on the disks, or leave io.weight unset)",
                      EOPNOTSUPP);
  }

  // One "MAJ:MIN BPS" line per device: each write sets (or replaces) that device's rule.
  Status apply_io_bps(const std::string& rel, const char* key, const char* file,
                      const std::vector<runtime::IoBps>& caps) const {
    if (caps.empty()) return {};
    const std::string dir = TRY(dir_for(rel, "blkio", key));
    for (const auto& c : caps) {
      const std::string dev = TRY_CTX(runtime::io_device_number(c.device), key);
      TRY(write_limit(key, dir, file, dev + " " + std::to_string(c.bps), "kernel without CONFIG_BLK_DEV_THROTTLING"));
    }
    return {};
  }

  static Result<uint64_t> read_counter(const std::string& rel, const std::string& file) {
    std::string text = TRY_CTX(read_file(file), "cgroup " + rel);
    return TRY_CTX(parse_u64(text, file), "cgroup " + rel);
  }

  std::vector<pid_t> all_procs(const std::string& rel) const {
    std::vector<pid_t> out;
    for (const Hierarchy& h : v1_) {
      std::vector<pid_t> p = subtree_procs(join(h.mount_point, rel));
      out.insert(out.end(), p.begin(), p.end());
    }
    return out;
  }

  // If anything is left: freeze, so nothing forks or exits (a frozen task keeps its pid),
  // SIGKILL everything while frozen, thaw (the kills land then), and keep killing until every
  // hierarchy's subtree is empty or DEADLINE passes. kill_listed() signals through pidfds of listed
  // members only, so a pid freed and reused meanwhile (no freezer, or a task that was already
  // exiting) never reaches a host process.
  Status kill_all(const std::string& rel, Clock::time_point deadline) {
    // Usually nothing is left: the container's pid namespace died with its init, and the
    // unified hierarchy's cgroup.kill took the rest. An empty subtree has no task that could
    // fork into it, so there is nothing to freeze (freezing flips a kernel static key: code
    // patching with an interrupt to every CPU, twice per stop).
    if (all_procs(rel).empty()) return {};
    const Hierarchy* fz = find("freezer");
    const std::string state = fz ? join(join(fz->mount_point, rel), "freezer.state") : std::string();
    bool frozen = fz && is_dir(join(fz->mount_point, rel)) && write_control(state, "FROZEN").ok();
    if (frozen) {
      const auto freeze_deadline = std::min(deadline, Clock::now() + std::chrono::milliseconds(500));
      while (Clock::now() < freeze_deadline) {
        auto s = read_trimmed(state);
        if (!s || *s == "FROZEN") break;
        sleep_poll();
      }
    }
    kill_everywhere(rel);
    // Must stay after the kills: thawing first would let tasks fork and exit in between.
    if (frozen) (void)write_control(state, "THAWED");
    for (;;) {
      std::vector<pid_t> left = all_procs(rel);
      if (left.empty()) return {};
      if (Clock::now() >= deadline)
        return make_error("cgroup " + rel + ": " + std::to_string(left.size()) +
                              " processes still running after 5 s", EBUSY);
      kill_everywhere(rel);
      sleep_poll();
    }
  }

  void kill_everywhere(const std::string& rel) const {
    for (const Hierarchy& h : v1_) kill_subtree(join(h.mount_point, rel));
  }

  Layout layout_;
  std::vector<Hierarchy> v1_;
  std::optional<Hierarchy> unified_;
  std::unique_ptr<Driver> v2_;
  ReadyParents ready_;
};

}  // namespace

std::unique_ptr<Driver> make_v1_driver(std::vector<Hierarchy> hierarchies, Layout layout) {
  return std::make_unique<V1Driver>(std::move(hierarchies), layout);
}

}  // namespace sysc::cgroup
