// Unit tests for net/netlink.h's pure helpers: IPv4 parse/format and host veth names. No privileges.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "common/names.h"
#include "net/netlink.h"

namespace sysc::net {
namespace {

TEST(NetParseIpv4, AcceptsAddressWithAndWithoutPrefix) {
  auto a = parse_ipv4("10.122.0.5/24");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->addr, 0x0a7a0005u);
  EXPECT_EQ(a->prefix, 24);
  auto b = parse_ipv4("192.168.1.254");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->addr, 0xc0a801feu);
  EXPECT_EQ(b->prefix, 32);
  EXPECT_EQ(parse_ipv4("0.0.0.0/0")->prefix, 0);
  EXPECT_EQ(parse_ipv4("255.255.255.255/32")->addr, 0xffffffffu);
}

TEST(NetParseIpv4, RejectsGarbage) {
  for (const char* bad : {"", "10", "10.0.0", "10.0.0.0.1", "256.0.0.1", "10.0.0.300", "1.2.3.4/33",
                          "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/2a", "a.b.c.d", " 1.2.3.4", "1.2.3.4 ",
                          "1..2.3", "1.2.3.4/100", "1.2.3.0004", "+1.2.3.4", "1.2.3.4/24/5", "1.2.3.4x"}) {
    auto r = parse_ipv4(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, EINVAL);
      EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos) << r.error().message;
    }
  }
}

TEST(NetFormat, RoundTrips) {
  EXPECT_EQ(format_ipv4(0x0a7a0005u), "10.122.0.5");
  EXPECT_EQ(format_ipv4(0), "0.0.0.0");
  EXPECT_EQ(format_cidr(Ipv4{0xffffffffu, 32}), "255.255.255.255/32");
  for (const char* text : {"10.122.0.5/24", "0.0.0.0/0", "172.16.254.1/12"})
    EXPECT_EQ(format_cidr(*parse_ipv4(text)), text);
}

TEST(NetHostVethName, ShortNamesStayReadable) {
  EXPECT_EQ(host_veth_name("web1", 0), "sc-web1");
  EXPECT_EQ(host_veth_name("abcdefghijkl", 0), "sc-abcdefghijkl");  // exactly 15
}

// Golden values: the names must not change between releases (existing veths are found by name).
TEST(NetHostVethName, HashedNamesAreStable) {
  EXPECT_EQ(host_veth_name("abcdefghijklm", 0), "sc-abcdefg_0780");
  EXPECT_EQ(host_veth_name("web1", 1), "sc-web1_072d");
  EXPECT_EQ(host_veth_name("a-very-long-container-name", 3), "sc-a-very-_9bd2");
}

TEST(NetHostVethName, HashedNameCannotEqualAPlainOne) {
  // A 12-character container name shaped like a hashed name still maps to itself, and the
  // hashed form uses '_', which container names cannot contain.
  std::string hashed = host_veth_name("webserv-long-name", 0);
  EXPECT_EQ(hashed.size(), 15u);
  EXPECT_EQ(hashed[10], '_');
  EXPECT_EQ(host_veth_name("webserv-" + hashed.substr(11), 0), "sc-webserv-" + hashed.substr(11));
}

std::string random_name(std::mt19937& rng) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
  std::uniform_int_distribution<int> len(1, 63), ch(0, 36), first(0, 35);
  std::string name(1, alphabet[first(rng)]);
  for (int n = len(rng) - 1; n > 0; --n) name += alphabet[ch(rng)];
  return name;
}

TEST(NetHostVethName, LengthStabilityAndUniquenessOver10000Names) {
  std::mt19937 rng(20240611);  // fixed seed: reproducible
  std::set<std::pair<std::string, int>> inputs;
  while (inputs.size() < 10000) {
    std::string name = random_name(rng);
    if (validate_name(name).ok()) inputs.insert({name, int(rng() % 4)});
  }
  std::set<std::string> outputs;
  for (const auto& [name, nic] : inputs) {
    std::string v = host_veth_name(name, nic);
    ASSERT_LE(v.size(), 15u) << name;
    ASSERT_EQ(v.rfind("sc-", 0), 0u) << v;
    ASSERT_EQ(v, host_veth_name(name, nic)) << "not stable for " << name;
    for (char c : v) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << v;
    EXPECT_TRUE(outputs.insert(v).second) << "collision on " << v << " for " << name << " nic " << nic;
  }
  // Different NICs of one container never share a name.
  std::set<std::string> nics;
  for (int i = 0; i < 16; ++i) nics.insert(host_veth_name("web1", i));
  EXPECT_EQ(nics.size(), 16u);
}

}  // namespace
}  // namespace sysc::net
