// Long-lived hosting in lxcd: autostart once per host boot, the restart policy with backoff,
// OOM-kill events, shutdown-all. Runs on its own threads (autostart, ticker) and on API threads.
#include <chrono>
#include <csignal>
#include <cstdio>

#include "common/fs.h"
#include "common/scope_exit.h"
#include "lxcd/autostart.h"
#include "lxcd/manager.h"

namespace sysc::lxcd {

namespace {

constexpr int kTickMs = 1000;
constexpr int kOomPollTicks = 2;  // OOM counters every 2 s

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A stop that on-failure does not restart: halt/poweroff from inside, or init exiting with 0.
bool clean_exit(const std::string& reason) { return reason == "halted" || reason == "exited"; }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

Manager::~Manager() {
  {
    std::lock_guard<std::mutex> g(hosting_mu_);
    quit_ = true;
  }
  hosting_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  if (autostart_.joinable()) autostart_.join();
}

static std::string boot_id_file(const Paths& p) { return p.state_dir + "/autostart.boot_id"; }

void Manager::load_boot_state() {
  boot_id_ = current_boot_id();
  auto recorded = read_file(boot_id_file(paths_));
  new_boot_ = !recorded || trimmed(*recorded) != boot_id_;
}

void Manager::start_hosting() {
  {
    std::lock_guard<std::mutex> g(hosting_mu_);
    hosting_started_ = true;
  }
  shims_.start();
  ticker_ = std::thread([this] {
    for (int n = 0; hosting_sleep(kTickMs); ++n) {
      tick();
      if (n % kOomPollTicks == 0) poll_oom();
    }
  });
  autostart_ = std::thread([this] { run_autostart(); });
}

bool Manager::hosting_sleep(int ms) {
  std::unique_lock<std::mutex> g(hosting_mu_);
  return !hosting_cv_.wait_for(g, std::chrono::milliseconds(ms), [this] { return quit_; });
}

// ---- restart policy ----

void Manager::on_unrequested_exit(const db::ContainerRecord& before, const std::string& reason) {
  const std::string& name = before.name;
  auto cfg = load_config(name);
  if (!cfg || cfg->restart == config::RestartPolicy::No) return;
  if (cfg->restart == config::RestartPolicy::OnFailure && clean_exit(reason)) return;
  std::lock_guard<std::mutex> g(hosting_mu_);
  // At lxcd's first start after a host boot, containers "died" with the host: autostart decides.
  if (shutting_down_ || (new_boot_ && !hosting_started_)) return;
  RestartState& st = restarts_[name];
  if (before.started_at > 0 && time(nullptr) - before.started_at >= kRestartResetAfterS) st.failures = 0;
  int64_t delay = restart_delay_ms(st.failures++);
  st.next_at_ms = now_ms() + delay;
  st.reason = reason;
  fprintf(stderr, "lxcd: %s: stopped (%s); restart = %s: restarting in %lld s\n", name.c_str(), reason.c_str(),
          config::to_string(cfg->restart), static_cast<long long>(delay / 1000));
}

bool Manager::cancel_restart(const std::string& name) {
  std::lock_guard<std::mutex> g(hosting_mu_);
  auto it = restarts_.find(name);
  if (it == restarts_.end() || it->second.next_at_ms == 0) return false;
  it->second.next_at_ms = 0;
  return true;
}

void Manager::tick() {
  std::vector<std::string> due;
  {
    std::lock_guard<std::mutex> g(hosting_mu_);
    int64_t now = now_ms();
    for (const auto& [name, st] : restarts_)
      if (st.next_at_ms && st.next_at_ms <= now) due.push_back(name);
  }
  for (const auto& name : due) attempt_restart(name);
}

void Manager::attempt_restart(const std::string& name) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  auto rec = record(name);
  bool stopped = rec && rec->state == db::State::Stopped;  // else destroyed or started by hand meanwhile
  int attempt = 0;
  std::string reason;
  {
    std::lock_guard<std::mutex> hg(hosting_mu_);
    auto it = restarts_.find(name);
    if (it == restarts_.end() || it->second.next_at_ms == 0 || shutting_down_) return;  // cancelled meanwhile
    it->second.next_at_ms = 0;
    if (!stopped) return;
    attempt = ++it->second.count;
    reason = it->second.reason;
  }
  events_.publish(name, "restart", "restart " + std::to_string(attempt) + " after: " + reason);
  if (auto r = start_locked(*rec); !r) {
    fprintf(stderr, "lxcd: %s: restart failed: %s\n", name.c_str(), r.error().message.c_str());
    auto now = record(name);
    if (now && now->state == db::State::Stopped) on_unrequested_exit(*now, "restart failed: " + r.error().message);
  }
}

void Manager::hosting_info(const std::string& name, json& j) {
  if (auto cfg = load_config(name); cfg) {
    j["restart"] = config::to_string(cfg->restart);
    j["autostart"] = cfg->autostart;
  }
  std::lock_guard<std::mutex> g(hosting_mu_);
  auto it = restarts_.find(name);
  j["restart_count"] = it == restarts_.end() ? 0 : it->second.count;
  j["restart_next"] = it == restarts_.end() ? 0.0 : static_cast<double>(it->second.next_at_ms) / 1000.0;
}

// ---- OOM kills ----

void Manager::poll_oom() {
  auto all = store_.list();
  if (!all) return;
  std::map<std::string, std::pair<int, uint64_t>> seen;
  for (const auto& rec : *all) {
    if (rec.state != db::State::Running) continue;
    auto kills = cg_->limit_stats(cgroup_rel(rec.name)).oom_kills;
    if (!kills) continue;
    seen[rec.name] = {rec.shim_pid, *kills};
    uint64_t before = 0;
    {
      std::lock_guard<std::mutex> g(hosting_mu_);
      auto it = oom_seen_.find(rec.name);
      // First sight of an adopted container: its count so far is history, not news.
      if (it == oom_seen_.end() || it->second.first != rec.shim_pid) continue;
      before = it->second.second;
    }
    if (*kills > before)  // (a reboot inside makes a new cgroup: the count restarts lower)
      events_.publish(rec.name, "oom", std::to_string(*kills - before) + " process(es) killed by the OOM killer (" +
                                           std::to_string(*kills) + " since the start)");
  }
  std::lock_guard<std::mutex> g(hosting_mu_);
  for (auto& [name, v] : seen) oom_seen_[name] = v;
}

void Manager::on_started(const std::string& name, int shim_pid, int init_pid) {
  {
    std::lock_guard<std::mutex> g(hosting_mu_);
    oom_seen_[name] = {shim_pid, 0};  // a fresh cgroup: every OOM kill from now on is news
  }
  events_.publish(name, "started", "init pid " + std::to_string(init_pid));
}

// ---- autostart ----

void Manager::wait_ready(const std::string& dep, const std::string& dependent) {
  auto cfg = load_config(dep);
  int timeout_s = cfg ? cfg->ready_timeout : 120;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::vector<std::string> cmd;
  bool systemd = false;
  if (cfg && !cfg->ready_command.empty()) {
    cmd = cfg->ready_command;
  } else if (auto rec = record(dep); cfg && rec) {
    systemd = runtime::detect_halt_signal(rec->rootfs, cfg->init[0]) == SIGRTMIN + 3;
    if (systemd) cmd = {"systemctl", "is-system-running"};
  }
  for (;;) {
    auto rec = record(dep);
    if (!rec || rec->state == db::State::Stopped) {
      fprintf(stderr, "lxcd: autostart: %s waits for %s (autostart.after), which is not running; starting %s anyway\n",
              dependent.c_str(), dep.c_str(), dependent.c_str());
      return;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    if (cmd.empty() && rec->state == db::State::Running) return;
    if (!cmd.empty() && rec->state == db::State::Running) {
      std::string out;
      auto r = run_inside(paths_.root, dep, cmd, static_cast<int>(std::min<int64_t>(left, 30000)), &out);
      out = trimmed(out);
      if (r && (systemd ? (out == "running" || out == "degraded") : *r == 0)) return;
    }
    if (!hosting_sleep(1000)) return;
  }
  fprintf(stderr, "lxcd: autostart: warning: %s was not ready within %d s (ready.timeout of %s); starting %s anyway\n",
          dep.c_str(), timeout_s, dep.c_str(), dependent.c_str());
  events_.publish(dependent, "ready-timeout", dep + " was not ready within " + std::to_string(timeout_s) + " s");
}

void Manager::run_autostart() {
  if (!new_boot_) {
    fprintf(stderr, "lxcd: autostart: already done for boot %s\n", boot_id_.c_str());
    return;
  }
  auto all = store_.list();
  if (!all) {
    fprintf(stderr, "lxcd: autostart: %s\n", all.error().message.c_str());
    return;
  }
  std::set<std::string> known;
  std::vector<HostedContainer> hosted;
  std::map<std::string, int> delay;
  for (const auto& rec : *all) {
    known.insert(rec.name);
    auto cfg = load_config(rec.name);
    if (!cfg) {
      fprintf(stderr, "lxcd: autostart: %s\n", cfg.error().message.c_str());
      continue;
    }
    if (!cfg->autostart) continue;
    hosted.push_back({rec.name, cfg->autostart_order, cfg->autostart_after});
    delay[rec.name] = cfg->autostart_delay;
  }
  AutostartPlan plan = plan_autostart(hosted, known);
  for (const auto& e : plan.errors) fprintf(stderr, "lxcd: autostart: error: %s\n", e.c_str());
  for (const auto& name : plan.sequence) {
    for (const auto& dep : plan.wait_for[name]) wait_ready(dep, name);
    {
      std::lock_guard<std::mutex> g(hosting_mu_);
      if (quit_) return;
    }
    auto rec = record(name);
    if (rec && rec->state == db::State::Stopped) {
      if (auto r = start(name); r) fprintf(stderr, "lxcd: autostart: started %s\n", name.c_str());
      else fprintf(stderr, "lxcd: autostart: %s\n", r.error().message.c_str());
    }
    if (delay[name] > 0 && !hosting_sleep(delay[name] * 1000)) return;
  }
  if (Status st = write_file_atomic(boot_id_file(paths_), boot_id_ + "\n"); !st)
    fprintf(stderr, "lxcd: autostart: %s\n", st.error().message.c_str());
  std::lock_guard<std::mutex> g(hosting_mu_);
  new_boot_ = false;
}

// ---- shutdown ----

Result<json> Manager::shutdown_all() {
  {
    std::lock_guard<std::mutex> g(hosting_mu_);
    shutting_down_ = true;
    for (auto& [name, st] : restarts_) st.next_at_ms = 0;
  }
  ScopeExit reset([this] {
    std::lock_guard<std::mutex> g(hosting_mu_);
    shutting_down_ = false;
  });
  std::vector<HostedContainer> running;
  for (const auto& rec : TRY(store_.list())) {
    if (rec.state == db::State::Stopped) continue;
    auto cfg = load_config(rec.name);
    running.push_back({rec.name, cfg ? cfg->autostart_order : 0, cfg ? cfg->autostart_after : std::vector<std::string>{}});
  }
  json stopped = json::array(), failed = json::array();
  std::mutex out_mu;
  for (const auto& wave : shutdown_waves(running)) {
    std::vector<std::thread> threads;
    for (const auto& name : wave)
      threads.emplace_back([&, name] {
        auto r = stop(name, std::nullopt, false);
        std::lock_guard<std::mutex> g(out_mu);
        if (r || r.error().code == ESRCH) stopped.push_back(name);
        else failed.push_back({{"name", name}, {"error", r.error().message}});
      });
    for (auto& t : threads) t.join();
  }
  return json{{"stopped", stopped}, {"failed", failed}};
}

}  // namespace sysc::lxcd
