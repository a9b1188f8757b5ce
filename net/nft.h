// sysc's own nftables table (libnftables): masquerade for the bridge subnet and port-forward DNAT.
// Host side only (lxcd). Never reads or writes any table other than the one named by the caller.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "net/netlink.h"

namespace sysc::net {

struct PortForward {
  std::string proto;       // "tcp" or "udp"
  int host_port = 0;       // 1..65535
  uint32_t container_addr = 0;  // host byte order
  int container_port = 0;  // 1..65535
};

// Table names are [A-Za-z][A-Za-z0-9_]{0,31}; anything else is refused before nft sees it.
// All functions work on `ip TABLE` (IPv4 NAT needs no inet table).

// One atomic transaction: (re)creates `ip TABLE` with chains postrouting (masquerade SUBNET
// leaving through any interface but BRIDGE), prerouting + output (DNAT, initially empty) and
// forward (accept to/from BRIDGE). Flushes the table first, so existing port forwards are
// dropped: call set_port_forwards again afterwards. Idempotent.
Status apply_nat(const std::string& table, const std::string& bridge, const Ipv4& subnet);

// Atomically replaces all DNAT rules (flush prerouting + output, re-add FORWARDS); an empty list
// clears them. apply_nat must have created the table.
Status set_port_forwards(const std::string& table, const std::vector<PortForward>& forwards);

// Deletes `ip TABLE`; a missing table is success.
Status remove_table(const std::string& table);

// `nft list table ip TABLE` output (for tests and `sysc network show`).
Result<std::string> list_table(const std::string& table);

// Whether `ip TABLE` exists (reads the table list only).
Result<bool> table_exists(const std::string& table);

}  // namespace sysc::net
