// Unit tests of resource limits: human sizes and CPU counts, the [limits] rows of NAME.conf
// (values, errors as FILE:LINE), kernel value conversions, spec JSON, and the drivers' writes
// into fake cgroup trees (v1 and v2; a v2 tree without controllers must refuse, naming the key).
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup_internal.h"
#include "runtime/resource_limits.h"
#include "runtime/spec.h"

namespace sysc {
namespace {

namespace fs = std::filesystem;
using runtime::Limits;

TEST(LimitsSize, HumanUnitsAreBinary) {
  EXPECT_EQ(config::parse_size("512M").value(), 512ull << 20);
  EXPECT_EQ(config::parse_size("2G").value(), 2ull << 30);
  EXPECT_EQ(config::parse_size("1.5G").value(), 3ull << 29);
  EXPECT_EQ(config::parse_size("64k").value(), 64ull << 10);
  EXPECT_EQ(config::parse_size("1T").value(), 1ull << 40);
  EXPECT_EQ(config::parse_size("512MiB").value(), 512ull << 20);
  EXPECT_EQ(config::parse_size("512MB").value(), 512ull << 20);
  EXPECT_EQ(config::parse_size("1024").value(), 1024u);
  EXPECT_EQ(config::parse_size("0").value(), 0u);
}

TEST(LimitsSize, BadSizesAreRejected) {
  for (const char* bad : {"12X", "-1", "-512M", "", "M", "1.5", "1.G", ".5G", "1,5G", "5 G", "0x10", "1e9",
                          "99999999999T", "1.1234567G"}) {
    auto r = config::parse_size(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "' parsed as " << (r.ok() ? *r : 0);
  }
  EXPECT_NE(config::parse_size("12X").error().message.find("like 512M"), std::string::npos);
}

TEST(LimitsSize, FormatIsShortestExact) {
  EXPECT_EQ(config::format_size(64ull << 20), "64M");
  EXPECT_EQ(config::format_size(3ull << 29), "1536M");
  EXPECT_EQ(config::format_size(2ull << 30), "2G");
  EXPECT_EQ(config::format_size(1000), "1000");
  EXPECT_EQ(config::format_size(0), "0");
}

TEST(LimitsCpu, QuotaText) {
  EXPECT_EQ(config::parse_cpus("1.5").value(), 150000u);
  EXPECT_EQ(config::parse_cpus("0.5").value(), 50000u);
  EXPECT_EQ(config::parse_cpus("2").value(), 200000u);
  EXPECT_EQ(config::parse_cpus("0.01").value(), 1000u);
  EXPECT_EQ(config::parse_cpus("0.29").value(), 29000u);
  for (const char* bad : {"0", "0.001", "-1", "abc", "1.", "1025", "1.5x", ""})
    EXPECT_FALSE(config::parse_cpus(bad).ok()) << bad;
  EXPECT_EQ(runtime::v2_cpu_max(150000), "150000 100000");
}

TEST(LimitsConvert, WeightScaling) {
  EXPECT_EQ(runtime::v1_cpu_shares(100), 1024u);  // defaults map to defaults
  EXPECT_EQ(runtime::v1_cpu_shares(50), 512u);
  EXPECT_EQ(runtime::v1_cpu_shares(1), 10u);
  EXPECT_EQ(runtime::v1_cpu_shares(10000), 102400u);
  EXPECT_EQ(runtime::v1_blkio_weight(100), 500u);
  EXPECT_EQ(runtime::v1_blkio_weight(1), 10u);       // clamped up to the v1 minimum
  EXPECT_EQ(runtime::v1_blkio_weight(10000), 1000u);  // and down to its maximum
  EXPECT_EQ(runtime::v1_blkio_weight(150), 750u);
  EXPECT_EQ(runtime::v1_memsw_total(64ull << 20, 32ull << 20), 96ull << 20);
  EXPECT_EQ(runtime::v1_memsw_total(UINT64_MAX - 1, 5), UINT64_MAX);
}

TEST(LimitsConfig, RowsParse) {
  auto c = config::parse_container(
      "[limits]\nmemory = 512M\nmemory.swap = 256M\ncpu = 1.5\ncpu.weight = 200\ncpuset = 0-1,3\npids = 100\n"
      "io.weight = 50\n",
      "web1.conf");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const Limits& l = c->limits;
  EXPECT_EQ(l.memory, 512ull << 20);
  EXPECT_EQ(l.memory_swap, 256ull << 20);
  EXPECT_EQ(l.cpu_quota_us, 150000u);
  EXPECT_EQ(l.cpu_weight, 200u);
  EXPECT_EQ(l.cpuset, "0-1,3");
  EXPECT_EQ(l.pids, 100u);
  EXPECT_EQ(l.io_weight, 50u);
  EXPECT_TRUE(config::parse_container("", "web1.conf")->limits.empty());
}

TEST(LimitsConfig, BadValuesNameFileAndLine) {
  auto r = config::parse_container("[limits]\nmemory = 12X\npids = 0\ncpu = fast\ncpuset = 3-1\ncpu.weight = 0\n"
                                   "io.weight = 10001\nmemory.swap = -1\nmemory = 512K\n",
                                   "web1.conf");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("web1.conf:2: bad value '12X' for key 'memory' in section [limits]"), std::string::npos) << m;
  for (const char* want : {"web1.conf:3:", "web1.conf:4:", "web1.conf:5:", "web1.conf:6:", "web1.conf:7:",
                           "web1.conf:8:", "web1.conf:9:"})
    EXPECT_NE(m.find(want), std::string::npos) << want << " in\n" << m;
  auto unknown = config::parse_container("[limits]\nswap = 1G\n", "web1.conf");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("web1.conf:2: unknown key 'swap' in section [limits]"), std::string::npos);
}

TEST(LimitsConfig, DottedKeysForConfigSet) {
  auto text = config::set_value("", "web1.conf", "limits.memory", "64M");
  ASSERT_TRUE(text.ok()) << text.error().message;
  text = config::set_value(*text, "web1.conf", "limits.memory.swap", "0");
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, "[limits]\nmemory = 64M\nmemory.swap = 0\n");
  EXPECT_EQ(config::get_value(*text, "web1.conf", "limits.memory").value(), "64M");
  EXPECT_FALSE(config::set_value(*text, "web1.conf", "limits.memory", "lots").ok());
  // Set into the default file: below the commented default, and nothing else changes.
  std::string def = config::default_container_text("web1", "busybox");
  auto in_default = config::set_value(def, "web1.conf", "limits.cpu", "0.5");
  ASSERT_TRUE(in_default.ok());
  EXPECT_NE(in_default->find("#cpu = 1.5\ncpu = 0.5\n"), std::string::npos);
  EXPECT_EQ(config::parse_container(*in_default, "web1.conf")->limits.cpu_quota_us, 50000u);
}

TEST(LimitsConfig, KeyConstantsAreConfigKeys) {
  std::vector<std::string> known;
  for (const auto& [key, _] : config::container_keys()) known.push_back(key);
  for (const char* k : {runtime::kKeyMemory, runtime::kKeyMemorySwap, runtime::kKeyCpu, runtime::kKeyCpuWeight,
                        runtime::kKeyCpuset, runtime::kKeyPids, runtime::kKeyIoWeight})
    EXPECT_NE(std::find(known.begin(), known.end(), k), known.end()) << k;
  // The default file documents every [limits] key, commented out, and still parses to no limits.
  std::string def = config::default_container_text("web1", "busybox");
  for (const char* line : {"#memory = 512M", "#memory.swap = 256M", "#cpu = 1.5", "#cpu.weight = 100",
                           "#cpuset = 0-1", "#pids = 1000", "#io.weight = 100"})
    EXPECT_NE(def.find(std::string("\n") + line + "\n"), std::string::npos) << line;
  EXPECT_TRUE(config::parse_container(def, "web1.conf")->limits.empty());
}

TEST(LimitsConfig, LiveKeySubset) {
  Limits l;
  l.memory = 1 << 30;
  l.memory_swap = 0;
  l.pids = 10;
  l.cpu_quota_us = 50000;
  Limits mem = config::limits_for_key(l, "limits.memory");
  EXPECT_EQ(mem.memory, l.memory);
  EXPECT_EQ(mem.memory_swap, l.memory_swap);  // v1 writes them as one total
  EXPECT_FALSE(mem.pids);
  Limits pids = config::limits_for_key(l, "limits.pids");
  EXPECT_EQ(pids.pids, 10u);
  EXPECT_FALSE(pids.memory);
  EXPECT_TRUE(config::limits_for_key(l, "init").empty());
}

TEST(LimitsCheck, SwapNeedsMemory) {
  Limits l;
  l.memory_swap = 1 << 20;
  auto st = runtime::check_limits(l);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("limits.memory.swap: needs limits.memory"), std::string::npos);
  l.memory = 1 << 30;
  EXPECT_TRUE(runtime::check_limits(l).ok());
}

TEST(LimitsJson, SpecRoundTrip) {
  runtime::RuntimeSpec s;
  s.name = "web1";
  s.init_argv = {"/sbin/init"};
  s.limits.memory = 64ull << 20;
  s.limits.cpu_quota_us = 29000;
  s.limits.cpuset = "0";
  s.limits.pids = 50;
  auto back = runtime::spec_from_json(runtime::to_json(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->limits, s.limits);
  auto j = runtime::limits_to_json(s.limits);
  EXPECT_EQ(j["memory"], 64ull << 20);
  EXPECT_DOUBLE_EQ(j["cpu"].get<double>(), 0.29);
  EXPECT_FALSE(j.contains("io.weight"));
}

TEST(LimitsParse, KeyedCountersAndLimitValues) {
  using cgroup::detail::parse_keyed_u64;
  using cgroup::detail::parse_limit_value;
  EXPECT_EQ(parse_keyed_u64("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"), 3u);
  EXPECT_EQ(parse_keyed_u64("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n", "oom_kill"), 2u);
  EXPECT_EQ(parse_keyed_u64("max 12\n", "max"), 12u);
  EXPECT_FALSE(parse_keyed_u64("oom 1\n", "oom_kill"));
  EXPECT_EQ(parse_limit_value("max\n"), cgroup::LimitStats::kUnlimited);
  EXPECT_EQ(parse_limit_value("9223372036854771712\n"), cgroup::LimitStats::kUnlimited);  // v1 "none"
  EXPECT_EQ(parse_limit_value("67108864\n"), 67108864u);
  EXPECT_FALSE(parse_limit_value("junk"));
}

// ---- drivers on fake trees ----

class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sysc-limits-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void touch(const fs::path& p, const std::string& content = "") {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  fs::path root_;
};

TEST_F(FakeTree, V1WritesEachControllerAndOrdersMemsw) {
  std::vector<cgroup::Hierarchy> hs;
  for (const char* c : {"memory", "cpu", "pids", "cpuset"}) {
    hs.push_back({(root_ / c).string(), {c}, "", false});
  }
  const fs::path mem = root_ / "memory/sysc/web1", cpu = root_ / "cpu/sysc/web1", pids = root_ / "pids/sysc/web1",
                 cpuset = root_ / "cpuset/sysc/web1";
  for (const char* f : {"memory.limit_in_bytes", "memory.oom_control"}) touch(mem / f);
  touch(mem / "memory.memsw.limit_in_bytes", "9223372036854771712\n");
  for (const char* f : {"cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"}) touch(cpu / f);
  touch(pids / "pids.max");
  touch(cpuset / "cpuset.cpus");
  auto d = cgroup::make_v1_driver(hs, cgroup::Layout::Legacy);
  Limits l;
  l.memory = 64ull << 20;
  l.memory_swap = 32ull << 20;
  l.cpu_quota_us = 50000;
  l.cpu_weight = 50;
  l.pids = 50;
  l.cpuset = "0";
  auto st = d->apply_limits("sysc/web1", l);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(read(mem / "memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(read(mem / "memory.memsw.limit_in_bytes"), "100663296");
  EXPECT_EQ(read(cpu / "cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read(cpu / "cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(read(cpu / "cpu.shares"), "512");
  EXPECT_EQ(read(pids / "pids.max"), "50");
  EXPECT_EQ(read(cpuset / "cpuset.cpus"), "0");
  // No blkio hierarchy: io.weight fails, naming the key.
  Limits io;
  io.io_weight = 100;
  st = d->apply_limits("sysc/web1", io);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("limits.io.weight: the blkio controller is not available"), std::string::npos)
      << st.error().message;
  // Swap without memsw files: swap accounting is off, said so.
  fs::remove(mem / "memory.memsw.limit_in_bytes");
  st = d->apply_limits("sysc/web1", l);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("limits.memory.swap: swap accounting is off"), std::string::npos)
      << st.error().message;
  // Stats read back.
  touch(mem / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n");
  touch(pids / "pids.current", "7\n");
  auto stats = d->limit_stats("sysc/web1");
  EXPECT_EQ(stats.memory_max, 67108864u);
  EXPECT_EQ(stats.oom_kills, 4u);
  EXPECT_EQ(stats.pids_current, 7u);
  EXPECT_EQ(stats.pids_max, 50u);
}

TEST_F(FakeTree, V2WritesItsFilesAndRefusesMissingControllers) {
  const fs::path dir = root_ / "sysc/web1";
  touch(dir / "cgroup.controllers", "cpu memory pids\n");
  for (const char* f : {"memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max"}) touch(dir / f);
  auto d = cgroup::make_v2_driver(root_.string());
  Limits l;
  l.memory = 64ull << 20;
  l.memory_swap = 0;
  l.cpu_quota_us = 150000;
  l.cpu_weight = 200;
  l.pids = 50;
  auto st = d->apply_limits("sysc/web1", l);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(read(dir / "memory.max"), "67108864");
  EXPECT_EQ(read(dir / "memory.swap.max"), "0");  // swap only, on top of memory.max
  EXPECT_EQ(read(dir / "cpu.max"), "150000 100000");
  EXPECT_EQ(read(dir / "cpu.weight"), "200");
  EXPECT_EQ(read(dir / "pids.max"), "50");
  Limits cs;
  cs.cpuset = "0-1";
  st = d->apply_limits("sysc/web1", cs);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("limits.cpuset: the cpuset controller is not available in " + dir.string()),
            std::string::npos)
      << st.error().message;
  // A hybrid host's unified hierarchy: no controllers at all.
  touch(dir / "cgroup.controllers", "\n");
  Limits mem;
  mem.memory = 64ull << 20;
  st = d->apply_limits("sysc/web1", mem);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EOPNOTSUPP);
  EXPECT_NE(st.error().message.find("limits.memory: the memory controller is not available in " + dir.string() +
                                    " (its cgroup.controllers: none"),
            std::string::npos)
      << st.error().message;
  // Unset limits write nothing, even where no controller exists.
  EXPECT_TRUE(d->apply_limits("sysc/web1", Limits{}).ok());
}

}  // namespace
}  // namespace sysc
