// Privileged tests for net/: bridge, veth, netns moves (libnl) and sysc's nftables table, as root.
// Every name starts with "sctst"; traffic stays on the test's own bridge, veths and namespaces.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

#include "common/fs.h"
#include "common/unique_fd.h"
#include "net/netlink.h"
#include "support/harness.h"
#include "net/nft.h"

namespace sysc::net {
namespace {


constexpr uint32_t ip(int a, int b, int c, int d) { return uint32_t(a) << 24 | b << 16 | c << 8 | d; }
constexpr int kPort = 5555;

std::vector<std::string> sctst_links() {
  std::vector<std::string> out;
  if (struct if_nameindex* all = if_nameindex()) {
    for (auto* i = all; i->if_index != 0; ++i)
      if (std::string(i->if_name).rfind("sctst", 0) == 0) out.push_back(i->if_name);
    if_freenameindex(all);
  }
  return out;
}

// A child in a fresh network namespace that answers "ok" on every TCP connection to 0.0.0.0:5555.
// Everything after fork is a raw syscall (async-signal-safe).
pid_t spawn_netns_listener() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWNET) < 0) _exit(1);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kPort);
    if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(s, 16) < 0) _exit(2);
    if (write(p[1], "r", 1) != 1) _exit(3);
    for (;;) {
      int c = accept(s, nullptr, nullptr);
      if (c < 0) continue;
      if (write(c, "ok", 2) != 2) _exit(4);
      close(c);
    }
  }
  close(p[1]);
  char ready = 0;
  ssize_t n = pid > 0 ? read(p[0], &ready, 1) : -1;
  close(p[0]);
  if (n != 1) {
    if (pid > 0) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

void kill_child(pid_t& pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
}

// Connects to ADDR:PORT and returns what the peer sends, or "error: ..." after ~3 s of retries
// (a fresh bridge port may need a moment before it forwards).
std::string fetch(uint32_t addr, int port, int attempts = 30) {
  std::string last;
  for (int i = 0; i < attempts; ++i) {
    UniqueFd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{1, 0};
    setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(addr);
    if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      char buf[16];
      ssize_t n = read(s.get(), buf, sizeof buf);
      return n >= 0 ? std::string(buf, n) : "error: read: " + std::string(strerror(errno));
    }
    last = "error: connect " + format_ipv4(addr) + ":" + std::to_string(port) + ": " + strerror(errno);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

// Runs FN with the calling thread inside the network namespace of PID, then returns.
void in_netns_of(pid_t pid, const std::function<void()>& fn) {
  UniqueFd own(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  UniqueFd target(open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(own && target);
  ASSERT_EQ(setns(target.get(), CLONE_NEWNET), 0) << strerror(errno);
  fn();
  ASSERT_EQ(setns(own.get(), CLONE_NEWNET), 0) << strerror(errno);
}

bool write_sysctl(const std::string& path, const std::string& value) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  return fd && write(fd.get(), value.data(), value.size()) == ssize_t(value.size());
}

std::string own_netns() {
  char buf[64] = {};
  ssize_t n = readlink("/proc/thread-self/ns/net", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : "";
}

// One bridge + veth + netns-child topology; names and subnet differ per fixture (index 0 or 1).
class NetTopology : public ::testing::Test {
 protected:
  explicit NetTopology(int index)
      : bridge_("sctst-br" + std::to_string(index)),
        host_("sctst-v" + std::to_string(index) + "h"),
        peer_("sctst-v" + std::to_string(index) + "p"),
        client_host_("sctst-v" + std::to_string(index) + "ch"),
        gw_{ip(10, 250, index, 1), 24},
        addr_{ip(10, 250, index, 2), 24} {}

  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok()) << nl.error().message;
    nl_.emplace(std::move(*nl));
    for (const auto& l : {host_, peer_, client_host_, bridge_}) ASSERT_TRUE(nl_->delete_link(l).ok());  // stale run
  }

  void TearDown() override {
    if (!nl_) return;
    kill_child(child_);  // its namespace and the veth end inside it go away with it
    kill_child(client_);
    for (const auto& l : {host_, peer_, client_host_, bridge_}) {
      auto st = nl_->delete_link(l);
      EXPECT_TRUE(st.ok()) << st.error().message;
    }
    for (const auto& l : sctst_links())
      if (l == bridge_ || l == host_ || l == peer_ || l == client_host_) ADD_FAILURE() << "leftover link " << l;
  }

  // Bridge with the gateway address, veth pair with the host end on it, peer moved into a
  // listener child's namespace as eth0 with ADDR, lo up and a default route via the gateway.
  void build_topology() {
    ASSERT_TRUE(nl_->ensure_bridge(bridge_, gw_, 1500).ok());
    child_ = spawn_netns_listener();
    ASSERT_GT(child_, 0);
    plug(child_, host_, peer_, "02:00:0a:fa:00:02", addr_, &inner_);
  }

  void plug(pid_t child, const std::string& host, const std::string& peer, const std::string& mac,
            const Ipv4& addr, std::optional<Netlink>* inner_out) {
    auto st = nl_->create_veth(host, peer, mac, 1500);
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_TRUE(nl_->enslave(host, bridge_).ok());
    ASSERT_TRUE(nl_->set_up(host).ok());
    st = nl_->move_to_netns_of(peer, child);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_FALSE(nl_->link_exists(peer));

    std::string before = own_netns();
    auto inner = Netlink::open_in_netns_of(child);
    ASSERT_TRUE(inner.ok()) << inner.error().message;
    EXPECT_EQ(own_netns(), before) << "open_in_netns_of left the thread in another netns";
    for (const Status& s : {inner->rename(peer, "eth0"), inner->add_address("eth0", addr), inner->set_up("eth0"),
                            inner->set_up("lo"), inner->add_default_route(gw_)})
      ASSERT_TRUE(s.ok()) << s.error().message;
    inner_out->emplace(std::move(*inner));
  }

  std::string bridge_, host_, peer_, client_host_;
  Ipv4 gw_, addr_;
  std::optional<Netlink> nl_, inner_, client_inner_;
  pid_t child_ = -1, client_ = -1;  // client_: a second "container" for hairpin tests
};

class NetlinkTest : public NetTopology {
 protected:
  NetlinkTest() : NetTopology(0) {}
};

TEST_F(NetlinkTest, EnsureBridgeIsIdempotent) {
  ASSERT_TRUE(nl_->ensure_bridge(bridge_, gw_, 1400).ok());
  ASSERT_TRUE(nl_->ensure_bridge(bridge_, gw_, 1400).ok());
  auto addrs = nl_->addresses_of(bridge_);
  ASSERT_TRUE(addrs.ok());
  ASSERT_EQ(addrs->size(), 1u);
  EXPECT_EQ(format_cidr(addrs->front()), "10.250.0.1/24");
  auto mac = nl_->mac_of(bridge_);
  ASSERT_TRUE(mac.ok());
  ASSERT_TRUE(nl_->ensure_bridge(bridge_, gw_, 1400).ok());
  EXPECT_EQ(*nl_->mac_of(bridge_), *mac);

  ASSERT_TRUE(nl_->ensure_bridge(bridge_, Ipv4{ip(10, 250, 0, 254), 24}, 1400).ok());
  addrs = nl_->addresses_of(bridge_);
  ASSERT_EQ(addrs->size(), 2u);
  EXPECT_EQ(format_cidr((*addrs)[1]), "10.250.0.254/24");
  EXPECT_EQ(format_cidr(**nl_->address_of(bridge_)), "10.250.0.1/24");
}

TEST_F(NetlinkTest, ErrorsNameTheObject) {
  ASSERT_TRUE(nl_->create_veth(host_, peer_, "", 0).ok());
  auto st = nl_->ensure_bridge(host_, gw_, 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, host_ + ": exists and is not a bridge (type veth)");
  st = nl_->create_veth(host_, peer_, "", 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EEXIST) << st.error().message;
  EXPECT_EQ(st.error().message.rfind(host_ + ": create veth pair with " + peer_ + ": ", 0), 0u);
  st = nl_->move_to_netns_of("sctst-nope", 1);
  EXPECT_EQ(st.error().message, "sctst-nope: no such link");
  st = nl_->create_veth("sctst-x", "sctst-y", "zz:zz", 0);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(nl_->link_exists("sctst-x"));
  auto bad = Netlink::open_in_netns_of(999999999);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ENOENT) << bad.error().message;
  EXPECT_TRUE(nl_->delete_link("sctst-nope").ok());
  EXPECT_FALSE(parse_ipv4("10.250.0.300").ok());
}

TEST_F(NetlinkTest, ContainerNamespaceEndToEnd) {
  build_topology();
  if (HasFatalFailure()) return;
  auto a = inner_->address_of("eth0");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ(format_cidr(**a), "10.250.0.2/24");
  EXPECT_EQ(*inner_->mac_of("eth0"), "02:00:0a:fa:00:02");
  EXPECT_FALSE(inner_->link_exists(peer_));

  // The default route, checked without sending a packet: a UDP connect only consults routing.
  in_netns_of(child_, [] {
    UniqueFd u(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(9);
    dst.sin_addr.s_addr = htonl(ip(198, 51, 100, 1));
    EXPECT_EQ(connect(u.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst), 0) << strerror(errno);
    sockaddr_in src{};
    socklen_t len = sizeof src;
    getsockname(u.get(), reinterpret_cast<sockaddr*>(&src), &len);
    EXPECT_EQ(format_ipv4(ntohl(src.sin_addr.s_addr)), "10.250.0.2");
  });

  EXPECT_EQ(fetch(addr_.addr, kPort), "ok");

  ASSERT_TRUE(nl_->delete_link(host_).ok());
  EXPECT_FALSE(nl_->link_exists(host_));
  EXPECT_FALSE(inner_->link_exists("eth0")) << "deleting the host end must remove the peer";
  ASSERT_TRUE(nl_->delete_link(bridge_).ok());
  kill_child(child_);
  EXPECT_EQ(sctst_links(), std::vector<std::string>{});
}

// ---- nftables ----

constexpr const char* kTable = "sctst_nat";

std::string nft_cli_tables() {
  std::string out;
  if (FILE* f = popen("nft list tables 2>&1", "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
  }
  return out;
}

class NftTest : public NetTopology {
 protected:
  NftTest() : NetTopology(1) {}
  void SetUp() override {
    NetTopology::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(remove_table(kTable).ok());
  }
  void TearDown() override {
    if (nl_) {
      auto st = remove_table(kTable);
      EXPECT_TRUE(st.ok()) << st.error().message;
      // Other tables are not compared: lxcd tests may create theirs concurrently. Every script
      // names `ip <table>` explicitly, which is what keeps them untouched.
      EXPECT_EQ(nft_cli_tables().find(kTable), std::string::npos);
    }
    NetTopology::TearDown();
  }
};

TEST_F(NftTest, ApplyIsIdempotentAndForwardsAreReplaced) {
  ASSERT_TRUE(apply_nat(kTable, bridge_, gw_).ok());
  auto first = list_table(kTable);
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto st = apply_nat(kTable, bridge_, gw_);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(*list_table(kTable), *first);
  EXPECT_NE(first->find("ip saddr 10.250.1.0/24 oifname != \"sctst-br1\" masquerade"), std::string::npos) << *first;
  EXPECT_NE(first->find("iifname \"sctst-br1\" accept"), std::string::npos) << *first;
  EXPECT_EQ(first->find("dnat to"), std::string::npos);

  std::vector<PortForward> fw = {{"tcp", 15555, addr_.addr, 5555}, {"udp", 15353, addr_.addr, 53}};
  ASSERT_TRUE(set_port_forwards(kTable, fw).ok());
  std::string text = *list_table(kTable);
  EXPECT_NE(text.find("tcp dport 15555 dnat to 10.250.1.2:5555"), std::string::npos) << text;
  EXPECT_NE(text.find("udp dport 15353 dnat to 10.250.1.2:53"), std::string::npos) << text;

  ASSERT_TRUE(set_port_forwards(kTable, {{"tcp", 18080, addr_.addr, 80}}).ok());
  text = *list_table(kTable);
  EXPECT_EQ(text.find("15555"), std::string::npos) << text;
  EXPECT_NE(text.find("tcp dport 18080 dnat to 10.250.1.2:80"), std::string::npos) << text;

  ASSERT_TRUE(set_port_forwards(kTable, {}).ok());
  EXPECT_EQ(list_table(kTable)->find("dnat to"), std::string::npos);
  EXPECT_TRUE(*table_exists(kTable));

  ASSERT_TRUE(remove_table(kTable).ok());
  EXPECT_FALSE(*table_exists(kTable));
  EXPECT_EQ(nft_cli_tables().find(kTable), std::string::npos);
  EXPECT_TRUE(remove_table(kTable).ok()) << "removing a missing table must succeed";
}

TEST_F(NftTest, BadInputIsRefusedBeforeNft) {
  EXPECT_EQ(apply_nat("x; flush ruleset", bridge_, gw_).error().code, EINVAL);
  EXPECT_EQ(apply_nat(kTable, "br\" accept", gw_).error().code, EINVAL);
  ASSERT_TRUE(apply_nat(kTable, bridge_, gw_).ok());
  auto st = set_port_forwards(kTable, {{"icmp", 1, addr_.addr, 1}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "nft table sctst_nat: invalid port forward icmp 1 -> 10.250.1.2:1");
  EXPECT_FALSE(set_port_forwards(kTable, {{"tcp", 70000, addr_.addr, 1}}).ok());
  st = set_port_forwards("sctst_missing", {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ENOENT) << st.error().message;
  EXPECT_EQ(st.error().message.rfind("nft table sctst_missing: set port forwards: Error: ", 0), 0u)
      << st.error().message;
}

// Host -> bridge address:15555 is DNATed by the output chain to the container's listener; another
// container reaching the forward (hairpin) goes through prerouting, forward and masquerade.
TEST_F(NftTest, PortForwardReachesContainer) {
  build_topology();
  if (HasFatalFailure()) return;
  ASSERT_TRUE(apply_nat(kTable, bridge_, gw_).ok());
  ASSERT_EQ(fetch(addr_.addr, kPort), "ok");
  EXPECT_NE(fetch(gw_.addr, 15555, 1), "ok");
  auto st = set_port_forwards(kTable, {{"tcp", 15555, addr_.addr, kPort}});
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(fetch(gw_.addr, 15555), "ok");

  // Without br_netfilter the hairpin is routed, which needs forwarding: enable it on the test
  // bridge only (never the host-wide switch) and put the old value back.
  std::string fwd_path = "/proc/sys/net/ipv4/conf/" + bridge_ + "/forwarding";
  auto old = read_file(fwd_path);
  ASSERT_TRUE(old.ok()) << old.error().message;
  ASSERT_TRUE(write_sysctl(fwd_path, "1"));
  client_ = spawn_netns_listener();
  ASSERT_GT(client_, 0);
  plug(client_, client_host_, "sctst-v1cp", "02:00:0a:fa:01:03", Ipv4{ip(10, 250, 1, 3), 24}, &client_inner_);
  in_netns_of(client_, [&] { EXPECT_EQ(fetch(gw_.addr, 15555), "ok"); });
  std::string text = *list_table(kTable);
  EXPECT_EQ(text.find("ct status dnat counter packets 0 "), std::string::npos) << "hairpin not masqueraded: " << text;
  EXPECT_NE(text.find("ct status dnat counter packets "), std::string::npos) << text;
  EXPECT_TRUE(write_sysctl(fwd_path, *old));

  ASSERT_TRUE(set_port_forwards(kTable, {}).ok());
  EXPECT_NE(fetch(gw_.addr, 15555, 1), "ok");
}

}  // namespace
}  // namespace sysc::net
