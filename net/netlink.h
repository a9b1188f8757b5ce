// Link, address and route work through libnl-route-3: the bridge, veth pairs, moving a peer
// into a container's network namespace and configuring it there. Host side only (lxcd, sysc-shim).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/result.h"

namespace sysc::net {

struct Ipv4 {
  uint32_t addr = 0;  // host byte order
  int prefix = 0;     // 0..32
};
// "10.122.0.5/24" or "10.122.0.5" (prefix 32) -> Ipv4; errors name the text.
Result<Ipv4> parse_ipv4(const std::string& text);
std::string format_ipv4(uint32_t addr);             // "10.122.0.5"
std::string format_cidr(const Ipv4& a);             // "10.122.0.5/24"

// Host-side veth name for a container NIC: "sc-" + name, made unique and at most 15 characters
// (IFNAMSIZ-1) by a short hash when the name is long; stable for (container, nic index).
// NIC 0 with a name of <= 12 characters: "sc-web1"; otherwise "sc-" + first 7 characters + "_" +
// 4 hex digits of FNV-1a(name, nic): "sc-webserv_3fa2" ('_' cannot occur in container names, so a
// hashed name never equals a plain one). Details in net/netlink_text.cpp.
std::string host_veth_name(const std::string& container, int nic_index);

// One link of a namespace as `Netlink::links()` lists it.
struct LinkInfo {
  std::string name;
  std::string type;    // rtnl kind: "veth", "bridge", ... ("" for plain devices like lo)
  std::string master;  // name of the bridge it is enslaved to, "" if none
};

class Netlink {
 public:
  // A NETLINK_ROUTE socket in the caller's current network namespace.
  static Result<Netlink> open();
  // A socket in the network namespace of PID (bound there at creation; the caller's own
  // namespace is untouched afterwards).
  static Result<Netlink> open_in_netns_of(pid_t pid);
  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  ~Netlink();

  bool link_exists(const std::string& name);
  // Creates bridge NAME if missing, sets the address (adds it if absent) and brings it up. Idempotent.
  Status ensure_bridge(const std::string& name, const Ipv4& address, int mtu);
  // Creates the pair HOST <-> PEER (both in this namespace), MAC on the peer, MTU on both.
  Status create_veth(const std::string& host, const std::string& peer, const std::string& peer_mac, int mtu);
  Status enslave(const std::string& link, const std::string& bridge);
  Status set_up(const std::string& link);
  // Moves LINK into the network namespace of PID.
  Status move_to_netns_of(const std::string& link, pid_t pid);
  Status rename(const std::string& link, const std::string& new_name);
  Status add_address(const std::string& link, const Ipv4& address);  // already present is success
  Status add_default_route(const Ipv4& gateway);  // via gateway (prefix ignored)
  Status delete_link(const std::string& name);    // missing is success
  // Every link of this namespace.
  Result<std::vector<LinkInfo>> links();
  // First IPv4 address of LINK (for tests and `sysc network show`).
  Result<std::optional<Ipv4>> address_of(const std::string& link);
  // All IPv4 addresses of LINK, primary first.
  Result<std::vector<Ipv4>> addresses_of(const std::string& link);
  Result<std::string> mac_of(const std::string& link);

 private:
  struct Impl;
  explicit Netlink(Impl* impl);
  Impl* impl_ = nullptr;
};

}  // namespace sysc::net
