// Netlink (net/netlink.h) over libnl-route-3: bridge, veth, netns moves, addresses, routes.
// Host side only (lxcd, sysc-shim); never called in a forked child before exec.
#include "net/netlink.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <cstring>
#include <utility>

#include <netlink/route/link/veth.h>

#include "common/unique_fd.h"
#include "net/nl_owners.h"

namespace sysc::net {

struct Netlink::Impl {
  NlSockPtr sock;
};

namespace {

// A missing link is a null LinkPtr, not an error.
Result<LinkPtr> find_link(nl_sock* sk, const std::string& name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sk, 0, name.c_str(), &raw);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return LinkPtr();
  if (err < 0) return nl_error(name + ": look up link", err);
  return LinkPtr(raw);
}

Result<LinkPtr> get_link(nl_sock* sk, const std::string& name) {
  LinkPtr link = TRY(find_link(sk, name));
  if (!link) return make_error(name + ": no such link", ENODEV);
  return link;
}

// Applies CHANGES (a fresh rtnl_link with only the fields to change) to link NAME.
Status change_link(nl_sock* sk, const std::string& name, rtnl_link* changes, const std::string& what) {
  LinkPtr orig = TRY(get_link(sk, name));
  int err = rtnl_link_change(sk, orig.get(), changes, 0);
  if (err < 0) return nl_error(name + ": " + what, err);
  return {};
}

Result<NlAddrPtr> make_nl_addr(uint32_t addr, int prefix) {
  uint32_t be = htonl(addr);
  NlAddrPtr a(nl_addr_build(AF_INET, &be, sizeof be));
  if (!a) return make_error("allocate address " + format_ipv4(addr), ENOMEM);
  nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

Result<LinkPtr> alloc_link() {
  LinkPtr link(rtnl_link_alloc());
  if (!link) return make_error("allocate link object", ENOMEM);
  return link;
}

// All IPv4 addresses on interface IFINDEX, in kernel order (primary first).
Result<std::vector<Ipv4>> ipv4_addresses(nl_sock* sk, int ifindex, const std::string& name) {
  nl_cache* raw = nullptr;
  int err = rtnl_addr_alloc_cache(sk, &raw);
  if (err < 0) return nl_error(name + ": list addresses", err);
  CachePtr cache(raw);
  std::vector<Ipv4> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET) continue;
    nl_addr* local = rtnl_addr_get_local(a);
    if (!local || nl_addr_get_len(local) != 4) continue;
    uint32_t be;
    std::memcpy(&be, nl_addr_get_binary_addr(local), 4);
    out.push_back(Ipv4{ntohl(be), rtnl_addr_get_prefixlen(a)});
  }
  return out;
}

Status add_address_to(nl_sock* sk, const std::string& name, int ifindex, const Ipv4& address) {
  AddrPtr addr(rtnl_addr_alloc());
  if (!addr) return make_error(name + ": allocate address object", ENOMEM);
  NlAddrPtr local = TRY(make_nl_addr(address.addr, address.prefix));
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  int err = rtnl_addr_set_local(addr.get(), local.get());  // also sets family and prefix length
  if (err >= 0) err = rtnl_addr_add(sk, addr.get(), 0);
  if (err == -NLE_EXIST) return {};
  if (err < 0) return nl_error(name + ": add address " + format_cidr(address), err);
  return {};
}

Status create_bridge(nl_sock* sk, const std::string& name, int mtu) {
  LinkPtr link = TRY(alloc_link());
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_set_type(link.get(), "bridge");
  if (err < 0) return nl_error(name + ": set link type bridge", err);
  if (mtu > 0) rtnl_link_set_mtu(link.get(), unsigned(mtu));
  err = rtnl_link_add(sk, link.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err == -NLE_EXIST) return {};  // made meanwhile by someone else: the caller checks its type
  if (err < 0) return nl_error(name + ": create bridge", err);
  return {};
}

}  // namespace

Netlink::Netlink(Impl* impl) : impl_(impl) {}
Netlink::Netlink(Netlink&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
Netlink& Netlink::operator=(Netlink&& o) noexcept {
  if (this != &o) {
    delete impl_;
    impl_ = std::exchange(o.impl_, nullptr);
  }
  return *this;
}
Netlink::~Netlink() { delete impl_; }

Result<Netlink> Netlink::open() {
  NlSockPtr sock(nl_socket_alloc());
  if (!sock) return make_error("netlink: allocate socket", ENOMEM);
  int err = nl_connect(sock.get(), NETLINK_ROUTE);
  if (err < 0) return nl_error("netlink: connect NETLINK_ROUTE socket", err);
  return Netlink(new Impl{std::move(sock)});
}

// setns(2) moves only the calling thread, so this is safe in a threaded lxcd as long as the
// thread always comes back: every path after the first setns goes through the restore below.
// A netlink socket stays bound to the namespace it was created in.
Result<Netlink> Netlink::open_in_netns_of(pid_t pid) {
  std::string what = "netns of " + std::to_string(pid);
  UniqueFd target(::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return sys_error(what + ": open /proc/" + std::to_string(pid) + "/ns/net");
  UniqueFd own(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!own) return sys_error(what + ": open /proc/thread-self/ns/net");
  if (::setns(target.get(), CLONE_NEWNET) < 0) return sys_error(what + ": setns");
  Result<Netlink> nl = open();
  if (::setns(own.get(), CLONE_NEWNET) < 0)
    return sys_error(what + ": setns back to own netns (thread left in the target netns)");
  if (!nl) return std::move(nl).error().context(what);
  return nl;
}

bool Netlink::link_exists(const std::string& name) {
  auto link = find_link(impl_->sock.get(), name);
  return link.ok() && *link != nullptr;
}

// Idempotent: every step looks before it writes, so a repeated call issues no changes.
Status Netlink::ensure_bridge(const std::string& name, const Ipv4& address, int mtu) {
  nl_sock* sk = impl_->sock.get();
  LinkPtr link = TRY(find_link(sk, name));
  if (!link) {
    TRY(create_bridge(sk, name, mtu));
    link = TRY(get_link(sk, name));
  }
  const char* type = rtnl_link_get_type(link.get());
  if (!type || std::string(type) != "bridge")
    return make_error(name + ": exists and is not a bridge (type " + (type ? type : "none") + ")", EEXIST);
  if (mtu > 0 && rtnl_link_get_mtu(link.get()) != unsigned(mtu)) {
    LinkPtr changes = TRY(alloc_link());
    rtnl_link_set_mtu(changes.get(), unsigned(mtu));
    TRY(change_link(sk, name, changes.get(), "set mtu " + std::to_string(mtu)));
  }
  int ifindex = rtnl_link_get_ifindex(link.get());
  bool present = false;
  for (const Ipv4& a : TRY(ipv4_addresses(sk, ifindex, name)))
    present = present || (a.addr == address.addr && a.prefix == address.prefix);
  if (!present) TRY(add_address_to(sk, name, ifindex, address));
  if (!(rtnl_link_get_flags(link.get()) & IFF_UP)) TRY(set_up(name));
  return {};
}

Status Netlink::create_veth(const std::string& host, const std::string& peer, const std::string& peer_mac,
                            int mtu) {
  std::string what = host + ": create veth pair with " + peer;
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return make_error(what + ": allocate link object", ENOMEM);
  LinkPtr peer_link(rtnl_link_veth_get_peer(link.get()));  // takes a reference
  rtnl_link_set_name(link.get(), host.c_str());
  rtnl_link_set_name(peer_link.get(), peer.c_str());
  if (mtu > 0) {
    rtnl_link_set_mtu(link.get(), unsigned(mtu));
    rtnl_link_set_mtu(peer_link.get(), unsigned(mtu));
  }
  if (!peer_mac.empty()) {
    nl_addr* raw = nullptr;
    int err = nl_addr_parse(peer_mac.c_str(), AF_LLC, &raw);
    if (err < 0) return nl_error(what + ": MAC '" + peer_mac + "'", err);
    NlAddrPtr mac(raw);
    if (nl_addr_get_len(mac.get()) != 6) return make_error(what + ": MAC '" + peer_mac + "' is not 6 bytes", EINVAL);
    rtnl_link_set_addr(peer_link.get(), mac.get());  // takes its own reference
  }
  int err = rtnl_link_add(impl_->sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return nl_error(what, err);
  return {};
}

Status Netlink::enslave(const std::string& link, const std::string& bridge) {
  nl_sock* sk = impl_->sock.get();
  LinkPtr master = TRY(get_link(sk, bridge));
  LinkPtr slave = TRY(get_link(sk, link));
  int err = rtnl_link_enslave_ifindex(sk, rtnl_link_get_ifindex(master.get()), rtnl_link_get_ifindex(slave.get()));
  if (err < 0) {
    // The kernel numbers a bridge's ports in 10 bits (BR_MAX_PORTS): past 1023 it refuses with
    // EXFULL, which libnl reports as an unspecific failure. Say so when that is the reason.
    constexpr int kMaxBridgePorts = 1023;
    int ports = 0;
    if (DIR* d = opendir(("/sys/class/net/" + bridge + "/brif").c_str())) {
      while (dirent* e = readdir(d)) ports += e->d_name[0] != '.';
      closedir(d);
    }
    if (ports >= kMaxBridgePorts)
      return make_error(link + ": attach to bridge " + bridge + ": the bridge has " + std::to_string(ports) +
                            " ports, the kernel's maximum per bridge",
                        EXFULL);
    return nl_error(link + ": attach to bridge " + bridge, err);
  }
  return {};
}

Status Netlink::set_up(const std::string& link) {
  LinkPtr changes = TRY(alloc_link());
  rtnl_link_set_flags(changes.get(), IFF_UP);
  return change_link(impl_->sock.get(), link, changes.get(), "set up");
}

Status Netlink::move_to_netns_of(const std::string& link, pid_t pid) {
  LinkPtr changes = TRY(alloc_link());
  rtnl_link_set_ns_pid(changes.get(), pid);
  return change_link(impl_->sock.get(), link, changes.get(), "move to netns of " + std::to_string(pid));
}

Status Netlink::rename(const std::string& link, const std::string& new_name) {
  LinkPtr changes = TRY(alloc_link());
  rtnl_link_set_name(changes.get(), new_name.c_str());
  return change_link(impl_->sock.get(), link, changes.get(), "rename to " + new_name);
}

// An address that is already present counts as added.
Status Netlink::add_address(const std::string& link, const Ipv4& address) {
  nl_sock* sk = impl_->sock.get();
  LinkPtr l = TRY(get_link(sk, link));
  return add_address_to(sk, link, rtnl_link_get_ifindex(l.get()), address);
}

Status Netlink::add_default_route(const Ipv4& gateway) {
  std::string what = "add default route via " + format_ipv4(gateway.addr);
  RoutePtr route(rtnl_route_alloc());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!route || !nh) {
    if (nh) rtnl_route_nh_free(nh);
    return make_error(what + ": allocate route object", ENOMEM);
  }
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns NH from here on
  NlAddrPtr dst = TRY(make_nl_addr(0, 0));
  NlAddrPtr gw = TRY(make_nl_addr(gateway.addr, 32));
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  int err = rtnl_route_set_dst(route.get(), dst.get());
  rtnl_route_nh_set_gateway(nh, gw.get());
  if (err >= 0) err = rtnl_route_add(impl_->sock.get(), route.get(), NLM_F_EXCL);
  if (err < 0) return nl_error(what, err);
  return {};
}

Status Netlink::delete_link(const std::string& name) {
  LinkPtr link = TRY(alloc_link());
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_delete(impl_->sock.get(), link.get());
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return {};
  if (err < 0) return nl_error(name + ": delete link", err);
  return {};
}

Result<std::vector<LinkInfo>> Netlink::links() {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(impl_->sock.get(), AF_UNSPEC, &raw);
  if (err < 0) return nl_error("list links", err);
  CachePtr cache(raw);
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    LinkInfo info;
    if (const char* n = rtnl_link_get_name(l)) info.name = n;
    if (const char* t = rtnl_link_get_type(l)) info.type = t;
    if (int master = rtnl_link_get_master(l); master > 0) {
      char buf[IFNAMSIZ + 1] = {};
      if (rtnl_link_i2name(cache.get(), master, buf, sizeof buf)) info.master = buf;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<Ipv4>> Netlink::addresses_of(const std::string& link) {
  nl_sock* sk = impl_->sock.get();
  LinkPtr l = TRY(get_link(sk, link));
  return ipv4_addresses(sk, rtnl_link_get_ifindex(l.get()), link);
}

Result<std::optional<Ipv4>> Netlink::address_of(const std::string& link) {
  auto all = TRY(addresses_of(link));
  if (all.empty()) return std::optional<Ipv4>();
  return std::optional<Ipv4>(all.front());
}

Result<std::string> Netlink::mac_of(const std::string& link) {
  LinkPtr l = TRY(get_link(impl_->sock.get(), link));
  nl_addr* mac = rtnl_link_get_addr(l.get());
  if (!mac) return make_error(link + ": has no hardware address", ENOENT);
  char buf[64];
  return std::string(nl_addr2str(mac, buf, sizeof buf));
}

}  // namespace sysc::net
