// Concurrency: many CLI calls at once on a few containers (start, stop, restart, config set,
// info, destroy and create again), and pairs racing on one container, never crash lxcd and end
// in a database that matches what runs: live shims for RUNNING rows, nothing for the others.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "net/netlink.h"
#include "runtime/cgroup.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

using namespace std::chrono_literals;


std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

// Pids of sysc-shim processes serving containers of ROOT.
std::set<int> shims_of(const std::string& root) {
  std::set<int> out;
  for (const auto& p : subdirs("/proc")) {
    if (p.find_first_not_of("0123456789") != std::string::npos) continue;
    int pid = std::stoi(p);
    std::string cmd = sysc::test::read_text("/proc/" + p + "/cmdline");
    if (cmd.find("sysc-shim") != std::string::npos && cmd.find(root + "/") != std::string::npos && alive(pid))
      out.insert(pid);
  }
  return out;
}

class Concurrency : public ::testing::Test {
 protected:
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    env_ = std::make_unique<SyscEnv>();
  }

  // An answer that is not success nor one of the refusals a race may earn (exists, running,
  // not running, gone): a dropped connection, a 500, an operation that failed halfway.
  static bool broken(const RunResult& r) {
    if (r.status == 0) return false;
    for (const char* benign : {"already running", "not running", "no such container", "already exists", "is running"})
      if (r.err.find(benign) != std::string::npos) return false;
    return true;
  }

  // The whole root agrees with the database once every call has returned.
  void expect_consistent() {
    auto list = nlohmann::json::parse(env_->sysc({"list", "--format", "json"}).out, nullptr, false);
    ASSERT_TRUE(list.is_array());
    std::set<std::string> rows, running;
    std::set<int> recorded_shims;
    auto cg = cgroup::make_driver();
    ASSERT_TRUE(cg.ok());
    for (auto& c : list) {
      std::string name = c.value("name", ""), state = c.value("state", "");
      rows.insert(name);
      SCOPED_TRACE(name + " " + c.dump());
      EXPECT_TRUE(path_exists(env_->rootfs(name) + "/bin/busybox"));
      EXPECT_TRUE(path_exists(env_->root() + "/etc/sysc/containers/" + name + ".conf"));
      if (state == "RUNNING") {
        running.insert(name);
        EXPECT_TRUE(alive(c.value("init_pid", 0)));
        EXPECT_TRUE(alive(c.value("shim_pid", 0)));
        recorded_shims.insert(c.value("shim_pid", 0));
        EXPECT_TRUE((*cg)->exists(env_->cgroup_parent() + "/" + name));
        EXPECT_TRUE(path_exists(env_->root() + "/run/sysc/" + name + "/shim.sock"));
      } else {
        EXPECT_EQ(state, "STOPPED");
        EXPECT_TRUE(env_->leftovers(name).empty()) << ::testing::PrintToString(env_->leftovers(name));
      }
    }
    // No directory, config, shim, cgroup or run dir without its row.
    for (const auto& d : subdirs(env_->root() + "/var/lib/sysc/containers")) EXPECT_TRUE(rows.count(d)) << "orphan dir " << d;
    for (const auto& d : subdirs(env_->root() + "/run/sysc")) EXPECT_TRUE(running.count(d)) << "stale run dir " << d;
    for (const auto& p : (*cg)->paths(env_->cgroup_parent()))
      for (const auto& d : subdirs(p)) EXPECT_TRUE(running.count(d)) << "stray cgroup " << p << "/" << d;
    EXPECT_EQ(shims_of(env_->root()), recorded_shims) << "shims that no RUNNING row names";
  }

  std::unique_ptr<SyscEnv> env_;
};

TEST_F(Concurrency, FiftyMixedOperationsOnTenContainers) {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("cc" + std::to_string(i));
  {
    std::vector<std::future<RunResult>> creates;
    for (auto& n : names) creates.push_back(std::async(std::launch::async, [&, n] { return env_->sysc({"create", "busybox", n}); }));
    for (auto& f : creates) ASSERT_EQ(f.get().status, 0);
  }
  int lxcd = env_->lxcd_pid();
  ASSERT_GT(lxcd, 0);
  {
    // The first starts all at once: they race to bring up the bridge, NAT and dnsmasq.
    std::vector<std::future<RunResult>> starts;
    for (auto& n : names) starts.push_back(std::async(std::launch::async, [&, n] { return env_->sysc({"start", n}); }));
    for (auto& f : starts) {
      auto r = f.get();
      EXPECT_EQ(r.status, 0) << r.err;
    }
  }
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  struct Op {
    std::string name;
    int kind;
    int value;  // limits.pids for config set
  };
  std::vector<Op> ops;
  for (int i = 0; i < 50; ++i) ops.push_back({names[rng() % names.size()], static_cast<int>(rng() % 7), 100 + static_cast<int>(rng() % 100)});
  std::mutex mu;
  std::vector<std::string> failures;
  auto run_op = [&](const Op& op) {
    std::vector<std::vector<std::string>> calls;
    switch (op.kind) {
      case 0: calls = {{"start", op.name}}; break;
      case 1: calls = {{"stop", "--force", op.name}}; break;
      case 2: calls = {{"restart", "--force", op.name}}; break;
      case 3: calls = {{"config", "set", op.name, "limits.pids", std::to_string(op.value)}}; break;
      case 4: calls = {{"info", op.name}}; break;
      case 5: calls = {{"destroy", "--force", op.name}, {"create", "busybox", op.name}}; break;
      default: calls = {{"stop", "--timeout", "3", op.name}}; break;
    }
    for (const auto& c : calls) {
      auto r = env_->sysc(c, "", 120);
      if (broken(r)) {
        std::lock_guard<std::mutex> g(mu);
        failures.push_back(::testing::PrintToString(c) + ": " + r.err);
      }
    }
  };
  std::vector<std::future<void>> running;
  for (const auto& op : ops) running.push_back(std::async(std::launch::async, run_op, op));
  for (auto& f : running) f.get();
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
  EXPECT_EQ(env_->lxcd_pid(), lxcd) << "lxcd died under load";
  // A destroy racing with its create may leave the name free: recreate what is missing.
  for (auto& n : names)
    if (env_->info(n).empty()) {
      EXPECT_EQ(env_->sysc({"create", "busybox", n}).status, 0);
    }
  expect_consistent();
  for (auto& n : names) env_->sysc({"stop", "--force", n});
  EXPECT_TRUE(env_->leftovers().empty()) << ::testing::PrintToString(env_->leftovers());
  expect_consistent();
}

TEST_F(Concurrency, RacingPairsOnOneContainerKeepStateConsistent) {
  env_->create_busybox("ccp");
  int lxcd = env_->lxcd_pid();
  auto race = [&](std::vector<std::string> a, std::vector<std::string> b) {
    auto fa = std::async(std::launch::async, [&] { return env_->sysc(a); });
    auto fb = std::async(std::launch::async, [&] { return env_->sysc(b); });
    auto ra = fa.get(), rb = fb.get();
    EXPECT_FALSE(broken(ra)) << ra.err;
    EXPECT_FALSE(broken(rb)) << rb.err;
    return std::make_pair(ra, rb);
  };
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    // start vs stop, from STOPPED
    if (env_->state("ccp") == "RUNNING") env_->sysc({"stop", "--force", "ccp"});
    race({"start", "ccp"}, {"stop", "--force", "ccp"});
    expect_consistent();
    // config set vs start
    if (env_->state("ccp") == "RUNNING") env_->sysc({"stop", "--force", "ccp"});
    std::string pids = std::to_string(200 + i);
    auto [set, start] = race({"config", "set", "ccp", "limits.pids", pids}, {"start", "ccp"});
    EXPECT_EQ(set.status, 0) << set.err;
    EXPECT_EQ(start.status, 0) << start.err;
    EXPECT_EQ(env_->sysc({"config", "get", "ccp", "limits.pids"}).out, pids + "\n");
    expect_consistent();
    // stop vs destroy, from RUNNING
    if (env_->state("ccp") != "RUNNING") {
      ASSERT_EQ(env_->sysc({"start", "ccp"}).status, 0);
    }
    race({"stop", "--force", "ccp"}, {"destroy", "--force", "ccp"});
    expect_consistent();
    if (env_->info("ccp").empty()) env_->create_busybox("ccp");
    // restart vs destroy
    race({"restart", "--force", "ccp"}, {"destroy", "--force", "ccp"});
    expect_consistent();
    if (env_->info("ccp").empty()) env_->create_busybox("ccp");
  }
  EXPECT_EQ(env_->lxcd_pid(), lxcd) << "lxcd died";
}

}  // namespace
}  // namespace sysc::test
