// The host side of container networking, owned by lxcd: the bridge, sysc's nftables table (NAT
// and port forwards), the supervised dnsmasq (DHCP reservations and DNS for container names).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/paths.h"
#include "common/result.h"
#include "config/config.h"
#include "db/store.h"
#include "net/netlink.h"

namespace sysc::lxcd {

class Network {
 public:
  // Parses the [network] settings; nothing is touched on the host until ensure().
  static Result<std::unique_ptr<Network>> create(const Paths& paths, const config::NetworkConfig& cfg);
  ~Network();

  // Bridge (created if missing, never disturbed if present), NAT table, ip_forward, dnsmasq.
  // Idempotent: called at lxcd start and before every container start.
  Status ensure();
  // Rewrites dnsmasq's reservations and host names from NICS and reloads it (SIGHUP);
  // re-applies every port forward. Call after any address or forward change.
  Status sync(const std::vector<db::NicRecord>& nics, const std::vector<db::PortForward>& forwards);
  // The first half of sync: reservations and host names only (a new container has no forwards).
  Status sync_hosts(const std::vector<db::NicRecord>& nics);
  // Drops the DHCP leases of MACS (a destroyed container's): dnsmasq only reads its lease file at
  // start, so it is stopped, the file rewritten, and started again.
  Status forget_leases(const std::vector<std::string>& macs);
  // Stops dnsmasq, removes the nftables table and the bridge.
  Status teardown();
  nlohmann::json show(const std::vector<db::NicRecord>& nics, const std::vector<db::PortForward>& forwards);

  const config::NetworkConfig& config() const { return cfg_; }
  net::Ipv4 gateway() const { return gateway_; }          // the bridge's address with the prefix
  uint32_t first_host() const { return first_; }        // allocation range, gateway excluded
  uint32_t last_host() const { return last_; }
  bool in_subnet(uint32_t addr) const;
  std::string nft_table() const;

 private:
  Network(const Paths& paths, const config::NetworkConfig& cfg, net::Ipv4 gw);
  Status start_dnsmasq_locked();
  void stop_dnsmasq_locked();
  void reload_dnsmasq_locked();
  void supervise();
  std::vector<std::string> dnsmasq_argv() const;
  void kill_stale_dnsmasq();

  Paths paths_;
  config::NetworkConfig cfg_;
  net::Ipv4 gateway_;
  uint32_t first_ = 0, last_ = 0;
  std::mutex mu_;
  std::mutex ensure_mu_;  // one ensure() at a time: parallel starts must not both create the bridge
  std::condition_variable cv_;
  pid_t dnsmasq_pid_ = 0;
  int dnsmasq_restarts_ = 0;
  bool want_dnsmasq_ = false;
  bool quit_ = false;
  std::thread supervisor_;
};

// A fresh locally administered unicast MAC: 02:5c:xx:xx:xx:xx.
std::string random_mac();

}  // namespace sysc::lxcd
