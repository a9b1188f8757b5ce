// Two sysc roots on one host claim the host id ranges of their unprivileged containers in one
// registry ([security] idmap_registry): their ranges never overlap, destroy releases a range, and
// claims of roots that are gone, or that no record backs, are dropped.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

long host_base(SyscEnv& env, const std::string& name) {
  auto info = env.info(name);
  return info.contains("idmap") ? info["idmap"].value("host_base", -1L) : -1L;
}

void start_unprivileged(SyscEnv& env, const std::string& name) {
  auto r = env.sysc({"create", "busybox", name});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(env.sysc({"config", "set", name, "security.privileged", "false"}).status, 0);
  r = env.sysc({"start", name});
  ASSERT_EQ(r.status, 0) << r.err;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(IdmapRegistry, TwoRootsGetDisjointRangesAndDestroyReleases) {
  SYSC_REQUIRE_ROOT();
  SyscEnv a;
  const std::string reg = a.root() + "/var/lib/sysc-idmap/ranges";
  SyscEnv b("[security]\nidmap_registry = " + reg + "\n");
  const std::string sa = a.root() + "/var/lib/sysc", sb = b.root() + "/var/lib/sysc";
  start_unprivileged(a, "web");
  start_unprivileged(b, "web");  // the same name in the other root
  start_unprivileged(b, "db");
  const long aw = host_base(a, "web"), bw = host_base(b, "web"), bd = host_base(b, "db");
  ASSERT_GT(aw, 0);
  ASSERT_GT(bw, 0);
  ASSERT_GT(bd, 0);
  EXPECT_GE(std::labs(aw - bw), 65536) << aw << " " << bw;
  EXPECT_GE(std::labs(aw - bd), 65536) << aw << " " << bd;
  EXPECT_GE(std::labs(bw - bd), 65536) << bw << " " << bd;
  std::string text = read_text(reg);
  EXPECT_TRUE(has_line(text, std::to_string(aw) + " 65536 web " + sa)) << text;
  EXPECT_TRUE(has_line(text, std::to_string(bw) + " 65536 web " + sb)) << text;
  EXPECT_TRUE(has_line(text, std::to_string(bd) + " 65536 db " + sb)) << text;

  // Destroy releases: the freed range is the lowest free one, and the other root takes it.
  auto r = b.sysc({"destroy", "--force", "web"});
  ASSERT_EQ(r.status, 0) << r.err;
  text = read_text(reg);
  EXPECT_FALSE(has_line(text, std::to_string(bw) + " 65536 web " + sb)) << text;
  // A claim of a root that is gone and one of this root that no record backs (lxcd stopped
  // between claim and record): a restarted lxcd drops its own, any change drops the other.
  const long ghost = std::max({aw, bw, bd}) + 65536;
  std::ofstream(reg, std::ios::app) << ghost << " 65536 old /nonexistent-sysc-root/var/lib/sysc\n"
                                    << ghost + 65536 << " 65536 lost " << sa << "\n";
  a.kill_lxcd(SIGTERM);
  ASSERT_EQ(a.sysc({"list"}).status, 0);  // a new lxcd of A reconciles
  text = read_text(reg);
  EXPECT_EQ(text.find(" lost "), std::string::npos) << text;
  EXPECT_EQ(text.find("/nonexistent-sysc-root"), std::string::npos) << text;
  EXPECT_TRUE(has_line(text, std::to_string(aw) + " 65536 web " + sa)) << text;
  EXPECT_TRUE(has_line(text, std::to_string(bd) + " 65536 db " + sb)) << text;
  start_unprivileged(a, "api");
  EXPECT_EQ(host_base(a, "api"), bw) << read_text(reg);
  // Ranges survive the restart: A's web kept its range and still runs in it.
  EXPECT_EQ(host_base(a, "web"), aw);
  EXPECT_NE(a.sh("web", "cat /proc/self/uid_map").find(" " + std::to_string(aw) + " "), std::string::npos);
  // Two roots that allocated before they shared the registry: the start of A's web finds its
  // range claimed by B too. Its ids on disk are not shifted (idmapped rootfs): it takes a new one.
  ASSERT_FALSE(a.info("web")["idmap"].value("rootfs_shifted", true)) << "the test needs an idmapped rootfs";
  ASSERT_EQ(a.sysc({"stop", "web"}).status, 0);
  std::ofstream(reg, std::ios::app) << aw << " 65536 intruder " << sb << "\n";
  a.kill_lxcd(SIGTERM);
  r = a.sysc({"start", "web"});
  ASSERT_EQ(r.status, 0) << r.err;
  const long moved = host_base(a, "web");
  EXPECT_GE(std::labs(moved - aw), 65536) << aw << " " << moved;
  EXPECT_TRUE(has_line(read_text(reg), std::to_string(moved) + " 65536 web " + sa)) << read_text(reg);
  EXPECT_EQ(a.sh("web", "stat -c %u:%g /bin/busybox"), "0:0\n");
  for (const char* n : {"web", "api"}) ASSERT_EQ(a.sysc({"destroy", "--force", n}).status, 0);
  ASSERT_EQ(b.sysc({"destroy", "--force", "db"}).status, 0);
  EXPECT_EQ(read_text(reg), std::to_string(aw) + " 65536 intruder " + sb + "\n");
  EXPECT_TRUE(a.leftovers().empty()) << ::testing::PrintToString(a.leftovers());
  EXPECT_TRUE(b.leftovers().empty()) << ::testing::PrintToString(b.leftovers());
}

}  // namespace
}  // namespace sysc::test
