// IPAM and port forwards in the Store: stable, unique addresses, released with the container.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "db/store.h"

namespace sysc::db {
namespace {

constexpr uint32_t kFirst = (10u << 24) | (9u << 16) | 2;  // 10.9.0.2
constexpr uint32_t kLast = (10u << 24) | (9u << 16) | 254;

Store fresh() {
  auto s = Store::open(":memory:");
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

void add(Store& s, const std::string& name) {
  ContainerRecord r;
  r.name = name;
  r.template_name = "busybox";
  r.rootfs = "/x";
  ASSERT_TRUE(s.insert(r).ok());
}

TEST(DbNetwork, SchemaIsAtVersion2) { EXPECT_GE(fresh().schema_version(), 2); }  // later steps may follow

TEST(DbNetwork, AllocatesLowestFreeAndKeepsItStable) {
  Store s = fresh();
  add(s, "a");
  add(s, "b");
  auto na = s.allocate_nic("a", 0, "02:00:00:00:00:01", 0, kFirst, kLast);
  ASSERT_TRUE(na.ok()) << na.error().message;
  EXPECT_EQ(na->ipv4, kFirst);
  auto nb = s.allocate_nic("b", 0, "02:00:00:00:00:02", 0, kFirst, kLast);
  EXPECT_EQ(nb->ipv4, kFirst + 1);
  // Asking again returns the recorded address, not a new one.
  EXPECT_EQ(s.allocate_nic("a", 0, "02:00:00:00:00:09", 0, kFirst, kLast)->ipv4, kFirst);
  EXPECT_EQ(s.allocate_nic("a", 0, "02:00:00:00:00:09", 0, kFirst, kLast)->mac, "02:00:00:00:00:01");
}

TEST(DbNetwork, StaticAddressIsExclusive) {
  Store s = fresh();
  add(s, "a");
  add(s, "b");
  ASSERT_TRUE(s.allocate_nic("a", 0, "02:00:00:00:00:01", kFirst + 10, kFirst, kLast).ok());
  auto clash = s.allocate_nic("b", 0, "02:00:00:00:00:02", kFirst + 10, kFirst, kLast);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, EEXIST);
  EXPECT_NE(clash.error().message.find("already used by a"), std::string::npos) << clash.error().message;
  // Dynamic allocation skips it.
  auto nb = s.allocate_nic("b", 0, "02:00:00:00:00:02", 0, kFirst + 10, kLast);
  EXPECT_EQ(nb->ipv4, kFirst + 11);
}

TEST(DbNetwork, RemovingTheContainerReleasesAddressesAndForwards) {
  Store s = fresh();
  add(s, "a");
  ASSERT_TRUE(s.allocate_nic("a", 0, "02:00:00:00:00:01", 0, kFirst, kLast).ok());
  ASSERT_TRUE(s.add_port_forward({"tcp", 8080, "a", 80}).ok());
  ASSERT_TRUE(s.remove("a").ok());
  EXPECT_TRUE(s.nics("")->empty());
  EXPECT_TRUE(s.port_forwards("")->empty());
  add(s, "b");
  EXPECT_EQ(s.allocate_nic("b", 0, "02:00:00:00:00:01", 0, kFirst, kLast)->ipv4, kFirst);
}

TEST(DbNetwork, FullRangeIsAnError) {
  Store s = fresh();
  add(s, "a");
  add(s, "b");
  ASSERT_TRUE(s.allocate_nic("a", 0, "02:00:00:00:00:01", 0, kFirst, kFirst).ok());
  auto r = s.allocate_nic("b", 0, "02:00:00:00:00:02", 0, kFirst, kFirst);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOSPC);
}

TEST(DbNetwork, ConcurrentAllocationsNeverShareAnAddress) {
  Store s = fresh();
  for (int i = 0; i < 64; ++i) add(s, "c" + std::to_string(i));
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      for (int i = t; i < 64; i += 8) {
        char mac[32];
        snprintf(mac, sizeof mac, "02:00:00:00:01:%02x", i);
        EXPECT_TRUE(s.allocate_nic("c" + std::to_string(i), 0, mac, 0, kFirst, kLast).ok());
      }
    });
  for (auto& t : ts) t.join();
  auto all = s.nics("");
  ASSERT_EQ(all->size(), 64u);
  std::set<uint32_t> seen;
  for (auto& n : *all) seen.insert(n.ipv4);
  EXPECT_EQ(seen.size(), 64u);
}

TEST(DbNetwork, PortForwardsAreUniquePerHostPort) {
  Store s = fresh();
  add(s, "a");
  add(s, "b");
  ASSERT_TRUE(s.add_port_forward({"tcp", 8080, "a", 80}).ok());
  auto dup = s.add_port_forward({"tcp", 8080, "b", 8080});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "tcp/8080 is already forwarded to a:80");
  EXPECT_TRUE(s.add_port_forward({"udp", 8080, "b", 53}).ok());
  EXPECT_EQ(s.port_forwards("b")->size(), 1u);
  EXPECT_FALSE(s.remove_port_forward("b", "tcp", 8080).ok());
  EXPECT_TRUE(s.remove_port_forward("a", "tcp", 8080).ok());
  EXPECT_EQ(s.port_forwards("")->size(), 1u);
}

}  // namespace
}  // namespace sysc::db

namespace sysc::db {
namespace {
TEST(DbNetwork, ReservedGatewayIsNeverHandedOut) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s.ok());
  ContainerRecord r;
  r.name = "a";
  r.template_name = "t";
  r.rootfs = "/x";
  ASSERT_TRUE(s->insert(r).ok());
  auto n = s->allocate_nic("a", 0, "02:00:00:00:00:01", 0, kFirst, kLast, /*reserved=*/kFirst);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->ipv4, kFirst + 1);
}
}  // namespace
}  // namespace sysc::db
