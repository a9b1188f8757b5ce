// Container networking end to end: veth on the environment's own bridge, stable addresses (IPAM),
// static addresses, DHCP reservations and DNS by dnsmasq, port forwards (nftables DNAT), and
// nothing left after destroy. All traffic stays between the host, the test bridge and containers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "net/netlink.h"
#include "net/nft.h"
#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

// GET / from ADDR:PORT over TCP; the body (or "" on failure). Bounded by timeouts.
std::string http_get(const std::string& addr, int port) {
  for (int attempt = 0; attempt < 30; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
      std::string req = "GET /index.html HTTP/1.0\r\n\r\n", out;
      if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
      }
      close(fd);
      auto body = out.find("\r\n\r\n");
      if (body != std::string::npos) return out.substr(body + 4);
    } else {
      close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

class Network : public ::testing::Test {
 protected:
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    env_ = std::make_unique<SyscEnv>();
  }
  void start_web(const std::string& name, const std::string& body) {
    env_->create_busybox(name);
    ASSERT_EQ(env_->sysc({"start", name}).status, 0);
    auto r = env_->sysc({"attach", name, "--", "sh", "-c",
                         "mkdir -p /www && echo " + body + " > /www/index.html && httpd -p 8080 -h /www"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  std::string ip(const std::string& name) { return env_->info(name).value("ipv4", ""); }
  std::unique_ptr<SyscEnv> env_;
};

TEST_F(Network, HostAndContainersTalkOverTheBridge) {
  start_web("web1", "hello-from-web1");
  start_web("web2", "hello-from-web2");
  std::string a = ip("web1"), b = ip("web2");
  ASSERT_FALSE(a.empty());
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind(env_->address(0).substr(0, env_->address(0).size() - 1), 0), 0u) << a;  // in the subnet
  EXPECT_NE(a, env_->address(1));  // never the gateway
  // host -> container (TCP and ICMP)
  EXPECT_EQ(http_get(a, 8080), "hello-from-web1\n");
  EXPECT_EQ(system(("ping -c 1 -W 2 " + a + " > /dev/null").c_str()), 0) << "host cannot ping " << a;
  // container -> host (the bridge address) and container -> container
  auto ping = env_->sysc({"attach", "web1", "--", "ping", "-c", "1", "-W", "2", env_->address(1)});
  EXPECT_EQ(ping.status, 0) << ping.out << ping.err;
  auto get = env_->sysc({"attach", "web1", "--", "wget", "-q", "-O", "-", "http://" + b + ":8080/index.html"});
  EXPECT_EQ(get.out, "hello-from-web2\n") << get.err;
  // Inside: eth0 with the address and a default route via the bridge.
  auto route = env_->sysc({"attach", "web1", "--", "ip", "route"});
  EXPECT_NE(route.out.find("default via " + env_->address(1)), std::string::npos) << route.out;
}

TEST_F(Network, DhcpHandsOutExactlyTheReservedAddressAndDnsResolvesNames) {
  env_->create_busybox("dhc1");
  env_->create_busybox("dhc2");
  ASSERT_EQ(env_->sysc({"start", "dhc1"}).status, 0);
  ASSERT_EQ(env_->sysc({"start", "dhc2"}).status, 0);
  auto lease = env_->sysc({"attach", "dhc1", "--", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-s", "/bin/true"});
  EXPECT_NE(lease.err.find("lease of " + ip("dhc1") + " obtained from " + env_->address(1)), std::string::npos)
      << lease.out << lease.err;
  auto dns = env_->sysc({"attach", "dhc1", "--", "nslookup", "dhc2.sysc", env_->address(1)});
  EXPECT_NE(dns.out.find(ip("dhc2")), std::string::npos) << dns.out << dns.err;
  auto shortname = env_->sysc({"attach", "dhc2", "--", "nslookup", "dhc1", env_->address(1)});
  EXPECT_NE(shortname.out.find(ip("dhc1")), std::string::npos) << shortname.out;
}

TEST_F(Network, StaticAddressFromConfigIsConfiguredBeforeInit) {
  env_->create_busybox("st1");
  ASSERT_EQ(env_->sysc({"config", "set", "st1", "net.0.ipv4", env_->address(77)}).status, 0);
  ASSERT_EQ(env_->sysc({"start", "st1"}).status, 0);
  EXPECT_EQ(ip("st1"), env_->address(77));
  // The address is on eth0 as PID 1 starts: the init's own boot log cannot tell, but the
  // interface carries it without any DHCP client having run.
  auto addr = env_->sysc({"attach", "st1", "--", "ip", "-4", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find(env_->address(77) + "/24"), std::string::npos) << addr.out;
  // Another container cannot take it.
  env_->create_busybox("st2");
  auto clash = env_->sysc({"config", "set", "st2", "net.0.ipv4", env_->address(77)});
  ASSERT_EQ(clash.status, 0);
  auto r = env_->sysc({"start", "st2"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("already used by st1"), std::string::npos) << r.err;
  // Outside the subnet is refused.
  ASSERT_EQ(env_->sysc({"config", "set", "st2", "net.0.ipv4", "192.0.2.10"}).status, 0);
  r = env_->sysc({"start", "st2"});
  EXPECT_NE(r.err.find("is not a host address"), std::string::npos) << r.err;
}

TEST_F(Network, PortForwardReachesTheContainerAndSurvivesAnLxcdRestart) {
  start_web("pf1", "forwarded");
  int host_port = 20000 + getpid() % 20000;
  auto r = env_->sysc({"port", "add", "pf1", "tcp", std::to_string(host_port), "8080"});
  ASSERT_EQ(r.status, 0) << r.err;
  // From the host to one of its own addresses (the bridge's): the output chain DNATs it.
  EXPECT_EQ(http_get(env_->address(1), host_port), "forwarded\n");
  auto dup = env_->sysc({"port", "add", "pf1", "tcp", std::to_string(host_port), "80"});
  EXPECT_NE(dup.status, 0);
  EXPECT_NE(dup.err.find("tcp/" + std::to_string(host_port) + " is already forwarded to pf1:8080"), std::string::npos)
      << dup.err;
  auto list = env_->sysc({"port", "list", "pf1"});
  EXPECT_NE(list.out.find(std::to_string(host_port)), std::string::npos);
  std::string addr = ip("pf1");
  int init = env_->info("pf1").value("init_pid", 0);

  env_->kill_lxcd(SIGKILL);
  // The container's network is not disturbed while lxcd is away...
  EXPECT_EQ(http_get(addr, 8080), "forwarded\n");
  // ... nor by the new lxcd, which keeps the address and restores the forward.
  auto info = env_->info("pf1");
  EXPECT_EQ(info.value("init_pid", 0), init);
  EXPECT_EQ(info.value("ipv4", ""), addr);
  EXPECT_EQ(http_get(env_->address(1), host_port), "forwarded\n");
  // Stop/start keeps the address too.
  ASSERT_EQ(env_->sysc({"stop", "--force", "pf1"}).status, 0);
  ASSERT_EQ(env_->sysc({"start", "pf1"}).status, 0);
  EXPECT_EQ(ip("pf1"), addr);
  ASSERT_EQ(env_->sysc({"port", "remove", "pf1", "tcp", std::to_string(host_port)}).status, 0);
  auto rules = net::list_table("sysc_" + env_->bridge());
  ASSERT_TRUE(rules.ok());
  EXPECT_EQ(rules->find("dport " + std::to_string(host_port)), std::string::npos) << *rules;
}

TEST_F(Network, ConcurrentCreatesNeverShareAnAddress) {
  std::vector<std::future<RunResult>> creates;
  for (int i = 0; i < 12; ++i)
    creates.push_back(std::async(std::launch::async, [&, i] { return env_->sysc({"create", "busybox", "cc" + std::to_string(i)}); }));
  for (auto& f : creates) EXPECT_EQ(f.get().status, 0);
  std::set<std::string> seen;
  for (int i = 0; i < 12; ++i) seen.insert(ip("cc" + std::to_string(i)));
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_FALSE(seen.count(""));
}

TEST_F(Network, DestroyAndNetworkRemoveLeaveNothing) {
  start_web("gone1", "x");
  int host_port = 20000 + (getpid() + 7) % 20000;
  ASSERT_EQ(env_->sysc({"port", "add", "gone1", "tcp", std::to_string(host_port), "8080"}).status, 0);
  std::string addr = ip("gone1");
  ASSERT_EQ(env_->sysc({"destroy", "--force", "gone1"}).status, 0);
  EXPECT_TRUE(env_->leftovers("gone1").empty()) << ::testing::PrintToString(env_->leftovers("gone1"));
  auto rules = net::list_table("sysc_" + env_->bridge());
  ASSERT_TRUE(rules.ok());
  EXPECT_EQ(rules->find("dport " + std::to_string(host_port)), std::string::npos) << *rules;
  auto show = nlohmann::json::parse(env_->sysc({"network", "show", "--format", "json"}).out, nullptr, false);
  ASSERT_TRUE(show.is_object());
  EXPECT_TRUE(show["addresses"].empty()) << show.dump();
  EXPECT_TRUE(show["port_forwards"].empty());
  EXPECT_TRUE(show["dnsmasq"]["running"].get<bool>());
  // The address is free again: the next container gets it.
  env_->create_busybox("next1");
  EXPECT_EQ(ip("next1"), addr);
  // Taking the network down removes the bridge, the table and dnsmasq.
  ASSERT_EQ(env_->sysc({"network", "remove"}).status, 0);
  auto nl = net::Netlink::open();
  ASSERT_TRUE(nl.ok());
  EXPECT_FALSE(nl->link_exists(env_->bridge()));
  EXPECT_FALSE(*net::table_exists("sysc_" + env_->bridge()));
}

TEST_F(Network, InterfaceNameAndMtuFollowTheConfig) {
  env_->create_busybox("mtu1");
  ASSERT_EQ(env_->sysc({"config", "set", "mtu1", "net.0.mtu", "1400"}).status, 0);
  ASSERT_EQ(env_->sysc({"config", "set", "mtu1", "net.0.name", "lan0"}).status, 0);
  ASSERT_EQ(env_->sysc({"config", "set", "mtu1", "net.0.hwaddr", "02:5c:00:aa:bb:cc"}).status, 0);
  ASSERT_EQ(env_->sysc({"start", "mtu1"}).status, 0);
  EXPECT_EQ(env_->sysc({"attach", "mtu1", "--", "cat", "/sys/class/net/lan0/mtu"}).out, "1400\n");
  EXPECT_EQ(env_->sysc({"attach", "mtu1", "--", "cat", "/sys/class/net/lan0/address"}).out, "02:5c:00:aa:bb:cc\n");
  // The host side of the pair sits on the environment's bridge.
  auto nl = net::Netlink::open();
  ASSERT_TRUE(nl.ok());
  EXPECT_TRUE(nl->link_exists(net::host_veth_name("mtu1", 0)));
  EXPECT_EQ(read_text("/sys/class/net/" + net::host_veth_name("mtu1", 0) + "/master/uevent").find("INTERFACE=" + env_->bridge()) !=
                std::string::npos,
            true);
}

TEST_F(Network, NicTypeNoneGivesOnlyLoopback) {
  env_->create_busybox("lo1");
  ASSERT_EQ(env_->sysc({"config", "set", "lo1", "net.0.type", "none"}).status, 0);
  ASSERT_EQ(env_->sysc({"start", "lo1"}).status, 0);
  auto dev = env_->sysc({"attach", "lo1", "--", "cat", "/proc/net/dev"});
  EXPECT_EQ(dev.out.find("eth0"), std::string::npos) << dev.out;
  EXPECT_EQ(ip("lo1"), "");
}

}  // namespace
}  // namespace sysc::test

namespace sysc::test {
namespace {

int dnsmasq_pid(SyscEnv& env) {
  auto show = nlohmann::json::parse(env.sysc({"network", "show", "--format", "json"}).out, nullptr, false);
  return show.is_object() ? show["dnsmasq"].value("pid", 0) : 0;
}

TEST(NetworkServices, DnsmasqIsRestartedWhenItDies) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  env.create_busybox("dns1");
  ASSERT_EQ(env.sysc({"start", "dns1"}).status, 0);
  int first = dnsmasq_pid(env);
  ASSERT_GT(first, 0);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  int next = 0;
  for (int i = 0; i < 100 && (next == 0 || next == first); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    next = dnsmasq_pid(env);
  }
  ASSERT_GT(next, 0);
  EXPECT_NE(next, first);
  // And it serves again.
  auto dns = env.sysc({"attach", "dns1", "--", "nslookup", "dns1", env.address(1)});
  EXPECT_EQ(dns.status, 0) << dns.out << dns.err;
}

TEST(NetworkServices, DestroyDropsTheContainersLease) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env;
  env.create_busybox("lease1");
  ASSERT_EQ(env.sysc({"start", "lease1"}).status, 0);
  auto lease = env.sysc({"attach", "lease1", "--", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-s", "/bin/true"});
  ASSERT_EQ(lease.status, 0) << lease.err;
  std::string mac = env.info("lease1")["nics"][0].value("mac", "");
  ASSERT_FALSE(mac.empty());
  std::string leases_path = env.root() + "/var/lib/sysc/dnsmasq.leases";
  std::string leases;
  for (int i = 0; i < 50 && leases.find(mac) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream f(leases_path);
    leases.assign(std::istreambuf_iterator<char>(f), {});
  }
  ASSERT_NE(leases.find(mac), std::string::npos) << leases;
  ASSERT_EQ(env.sysc({"destroy", "--force", "lease1"}).status, 0);
  std::ifstream f(leases_path);
  std::string after(std::istreambuf_iterator<char>(f), {});
  EXPECT_EQ(after.find(mac), std::string::npos) << after;
  EXPECT_GT(dnsmasq_pid(env), 0) << "dnsmasq did not come back after the lease cleanup";
}

}  // namespace
}  // namespace sysc::test
