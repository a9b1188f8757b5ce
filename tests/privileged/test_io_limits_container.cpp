// Per-device bandwidth caps end to end: limits.io.read_bps / io.write_bps land in the
// container's blkio.throttle files (v1) or io.max (cgroup2-only hosts) before init runs, and
// `config set` changes them live.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include "runtime/cgroup.h"
#include "runtime/cgroup_internal.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

namespace fs = std::filesystem;

// A whole disk of this host as {"/dev/NAME", "MAJ:MIN"}: a real one when there is, else a loop device.
std::pair<std::string, std::string> some_disk() {
  std::pair<std::string, std::string> fallback;
  for (const auto& e : fs::directory_iterator("/sys/block")) {
    std::string name = e.path().filename(), dev = "/dev/" + name;
    struct stat st;
    if (::stat(dev.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) continue;
    std::string num = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
    if (name.rfind("loop", 0) == 0 || name.rfind("zram", 0) == 0 || name.rfind("ram", 0) == 0) {
      if (fallback.first.empty()) fallback = {dev, num};
      continue;
    }
    return {dev, num};
  }
  return fallback;
}

std::string trimmed(const std::string& s) {
  size_t e = s.find_last_not_of(" \n");
  return e == std::string::npos ? "" : s.substr(0, e + 1);
}

TEST(IoLimitsContainer, BandwidthCapsFromBootAndLive) {
  SYSC_REQUIRE_ROOT();
  auto driver = cgroup::make_driver("auto");
  ASSERT_TRUE(driver.ok()) << driver.error().message;
  auto [disk, num] = some_disk();
  ASSERT_FALSE(disk.empty()) << "no block device on this host";
  SyscEnv env;
  const std::string name = "iol1";
  bool v2 = (*driver)->layout() == cgroup::Layout::Unified;
  std::string dir;
  for (const auto& h : cgroup::parse_mountinfo(read_text("/proc/self/mountinfo")))
    for (const auto& c : h.controllers)
      if (!v2 && !h.v2 && c == "blkio") dir = h.mount_point + "/" + env.cgroup_parent() + "/" + name;
  if (v2) dir = (*driver)->path(env.cgroup_parent() + "/" + name);
  ASSERT_FALSE(dir.empty()) << "no blkio hierarchy";
  env.create_busybox(name);
  for (auto [k, v] : {std::pair<std::string, std::string>{"net.0.type", "none"},
                      {"limits.io.read_bps", disk + " 10M"},
                      {"limits.io.write_bps", num + " 5M"}}) {
    auto r = env.sysc({"config", "set", name, k, v});
    ASSERT_EQ(r.status, 0) << k << ": " << r.err;
  }
  auto r = env.sysc({"start", name});
  ASSERT_EQ(r.status, 0) << r.err;
  auto read_caps = [&] {
    if (v2) return trimmed(read_text(dir + "/io.max"));
    return trimmed(read_text(dir + "/blkio.throttle.read_bps_device")) + " | " +
           trimmed(read_text(dir + "/blkio.throttle.write_bps_device"));
  };
  if (v2) {
    EXPECT_EQ(read_caps(), num + " rbps=10485760 wbps=5242880 riops=max wiops=max");
  } else {
    EXPECT_EQ(read_caps(), num + " 10485760 | " + num + " 5242880");
  }
  auto set = env.sysc({"config", "set", name, "limits.io.read_bps", disk + " 20M"});
  EXPECT_EQ(set.status, 0) << set.err;
  if (v2) {
    EXPECT_EQ(read_caps(), num + " rbps=20971520 wbps=5242880 riops=max wiops=max");
  } else {
    EXPECT_EQ(read_caps(), num + " 20971520 | " + num + " 5242880");
  }
  auto info = env.info(name);
  EXPECT_EQ(info["limits"]["io.read_bps"][0].value("bps", 0ull), 20971520ull) << info.dump();
  // A character device is refused, naming the key.
  auto bad = env.sysc({"config", "set", name, "limits.io.write_bps", "/dev/null 1M"});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("limits.io.write_bps: /dev/null is not a block device"), std::string::npos) << bad.err;
  EXPECT_EQ(env.sysc({"stop", "--force", name}).status, 0);
  EXPECT_TRUE(env.leftovers(name).empty());
}

}  // namespace
}  // namespace sysc::test
