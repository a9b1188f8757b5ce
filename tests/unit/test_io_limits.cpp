// Per-device bandwidth caps (limits.io.read_bps / io.write_bps): the config values, device
// numbers, JSON, and the drivers' writes into fake cgroup trees (v1 blkio.throttle, v2 io.max).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "config/config.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup_internal.h"
#include "runtime/resource_limits.h"

namespace sysc {
namespace {

namespace fs = std::filesystem;
using runtime::IoBps;
using runtime::Limits;

TEST(IoBps, ConfigValues) {
  auto c = config::parse_container("[limits]\nio.read_bps = /dev/vda 10M\nio.write_bps = 254:0 1M, 8:16 512K\n", "w.conf");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->limits.io_read_bps, (std::vector<IoBps>{{"/dev/vda", 10u << 20}}));
  EXPECT_EQ(c->limits.io_write_bps, (std::vector<IoBps>{{"254:0", 1u << 20}, {"8:16", 512u << 10}}));
  for (const char* bad : {"/dev/vda", "vda 10M", "/dev/vda 0", "/dev/vda 10M,", "/dev/vda lots", "1:2:3 1M",
                          "/dev/../etc/x 1M", ":1 1M", "/dev/vda 1M 2M"}) {
    auto r = config::parse_container(std::string("[limits]\nio.read_bps = ") + bad + "\n", "w.conf");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("w.conf:2:"), std::string::npos) << r.error().message;
  }
  Limits only = config::limits_for_key(c->limits, "limits.io.write_bps");
  EXPECT_TRUE(only.io_read_bps.empty());
  EXPECT_EQ(only.io_write_bps.size(), 2u);
}

TEST(IoBps, DeviceNumbersAndJson) {
  EXPECT_EQ(*runtime::io_device_number("254:0"), "254:0");
  EXPECT_FALSE(runtime::io_device_number("/dev/null").ok());  // a char device
  EXPECT_FALSE(runtime::io_device_number("/dev/nonexistent-disk").ok());
  EXPECT_FALSE(runtime::io_device_number("x:1").ok());
  Limits l;
  l.io_read_bps = {{"/dev/vda", 100}};
  l.io_write_bps = {{"8:0", 200}};
  auto back = runtime::limits_from_json(nlohmann::json::parse(runtime::limits_to_json(l).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, l);
  EXPECT_FALSE(l.empty());
}

class IoFakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sysc-io-" + std::to_string(getpid()) + "-" +
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

TEST_F(IoFakeTree, V1WritesThrottleFiles) {
  std::vector<cgroup::Hierarchy> hs = {{(root_ / "blkio").string(), {"blkio"}, "", false}};
  const fs::path dir = root_ / "blkio/sysc/web1";
  touch(dir / "blkio.throttle.read_bps_device");
  touch(dir / "blkio.throttle.write_bps_device");
  auto d = cgroup::make_v1_driver(hs, cgroup::Layout::Legacy);
  Limits l;
  l.io_read_bps = {{"254:0", 10u << 20}};
  l.io_write_bps = {{"8:16", 5u << 20}};
  auto st = d->apply_limits("sysc/web1", l);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(read(dir / "blkio.throttle.read_bps_device"), "254:0 10485760");
  EXPECT_EQ(read(dir / "blkio.throttle.write_bps_device"), "8:16 5242880");
  Limits bad;
  bad.io_read_bps = {{"/dev/null", 1}};
  st = d->apply_limits("sysc/web1", bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("limits.io.read_bps: /dev/null is not a block device"), std::string::npos)
      << st.error().message;
}

TEST_F(IoFakeTree, V2WritesIoMaxAndNeedsTheIoController) {
  const fs::path dir = root_ / "sysc/web1";
  touch(dir / "cgroup.controllers", "io memory\n");
  touch(dir / "io.max");
  auto d = cgroup::make_v2_driver(root_.string());
  Limits r;
  r.io_read_bps = {{"254:0", 1u << 20}};
  ASSERT_TRUE(d->apply_limits("sysc/web1", r).ok());
  EXPECT_EQ(read(dir / "io.max"), "254:0 rbps=1048576");
  Limits w;
  w.io_write_bps = {{"254:0", 2u << 20}};
  ASSERT_TRUE(d->apply_limits("sysc/web1", w).ok());
  EXPECT_EQ(read(dir / "io.max"), "254:0 wbps=2097152");
  touch(dir / "cgroup.controllers", "memory\n");
  auto st = d->apply_limits("sysc/web1", w);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("limits.io.write_bps: the io controller is not available"), std::string::npos)
      << st.error().message;
}

}  // namespace
}  // namespace sysc
