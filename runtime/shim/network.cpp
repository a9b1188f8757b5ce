// NIC setup for sysc-shim (host side, single-threaded): libnl on the host, then in the child's netns.
#include "runtime/shim/network.h"

#include <string>

#include "net/netlink.h"

namespace sysc::shim {

namespace {

Status setup_one(net::Netlink& host, const runtime::NicSpec& n, size_t index, pid_t child) {
  // A pair left by the previous boot of this container (its netns may still be dying).
  TRY(host.delete_link(n.host_name));
  std::string peer = "scp" + std::to_string(child % 10000000) + "-" + std::to_string(index);
  TRY(host.create_veth(n.host_name, peer, n.mac, n.mtu));
  TRY(host.enslave(n.host_name, n.bridge));
  TRY(host.set_up(n.host_name));
  TRY(host.move_to_netns_of(peer, child));
  auto inside = TRY(net::Netlink::open_in_netns_of(child));
  TRY(inside.rename(peer, n.name));
  if (!n.address.empty()) TRY(inside.add_address(n.name, TRY(net::parse_ipv4(n.address))));
  TRY(inside.set_up(n.name));
  if (!n.gateway.empty()) TRY(inside.add_default_route(TRY(net::parse_ipv4(n.gateway))));
  return {};
}

}  // namespace

Status setup_nics(const std::vector<runtime::NicSpec>& nics, pid_t child) {
  if (nics.empty()) return {};
  auto host = TRY(net::Netlink::open());
  for (size_t i = 0; i < nics.size(); ++i) {
    if (Status st = setup_one(host, nics[i], i, child); !st) {
      for (size_t k = 0; k <= i; ++k) (void)host.delete_link(nics[k].host_name);
      return std::move(st).error().context(nics[i].name);
    }
  }
  return {};
}

void remove_nics(const std::vector<runtime::NicSpec>& nics) {
  if (nics.empty()) return;
  auto host = net::Netlink::open();
  if (!host) return;
  for (const auto& n : nics) (void)host->delete_link(n.host_name);
}

}  // namespace sysc::shim
