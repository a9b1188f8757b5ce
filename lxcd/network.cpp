// lxcd's network: bridge via libnl, NAT/port forwards via libnftables, dnsmasq supervised by one
// thread (restarted with backoff when it dies). Runs on API threads and its supervisor thread.
#include "lxcd/network.h"

#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <spawn.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>

#include "common/fs.h"
#include "common/unique_fd.h"
#include "net/nft.h"

extern char** environ;

namespace sysc::lxcd {

namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";

uint32_t mask_of(int prefix) { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }

}  // namespace

std::string random_mac() {
  unsigned char b[4] = {};
  if (getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b))
    for (auto& x : b) x = static_cast<unsigned char>(rand());
  char out[18];
  snprintf(out, sizeof out, "02:5c:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]);
  return out;
}

Result<std::unique_ptr<Network>> Network::create(const Paths& paths, const config::NetworkConfig& cfg) {
  auto gw = TRY_CTX(net::parse_ipv4(cfg.address), "network address");
  return std::unique_ptr<Network>(new Network(paths, cfg, gw));
}

Network::Network(const Paths& paths, const config::NetworkConfig& cfg, net::Ipv4 gw)
    : paths_(paths), cfg_(cfg), gateway_(gw) {
  uint32_t mask = mask_of(gw.prefix);
  uint32_t netaddr = gw.addr & mask;
  first_ = netaddr + 1;
  last_ = (netaddr | ~mask) - 1;
  supervisor_ = std::thread([this] { supervise(); });
}

Network::~Network() {
  {
    std::lock_guard<std::mutex> g(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  supervisor_.join();  // dnsmasq keeps running: like the containers, it outlives lxcd
}

bool Network::in_subnet(uint32_t addr) const {
  uint32_t mask = mask_of(gateway_.prefix);
  return (addr & mask) == (gateway_.addr & mask) && addr >= first_ && addr <= last_;
}

std::string Network::nft_table() const {
  std::string t = "sysc_" + cfg_.bridge;
  for (char& c : t)
    if (c == '-') c = '_';
  return t;
}

Status Network::ensure() {
  std::lock_guard<std::mutex> serial(ensure_mu_);
  auto nl = TRY_CTX(net::Netlink::open(), "network");
  TRY_CTX(nl.ensure_bridge(cfg_.bridge, gateway_, cfg_.mtu), "network: bridge " + cfg_.bridge);
  if (cfg_.nat) {
    // Created once per boot of the table; later calls keep it (and its port forwards) intact.
    if (!TRY_CTX(net::table_exists(nft_table()), "network: nftables")) {
      net::Ipv4 subnet{gateway_.addr & mask_of(gateway_.prefix), gateway_.prefix};
      TRY_CTX(net::apply_nat(nft_table(), cfg_.bridge, subnet), "network: nftables");
    }
    // Forwarding is needed for NAT to route container traffic out; it is a host-wide switch.
    auto fwd = read_file("/proc/sys/net/ipv4/ip_forward");
    if (fwd && fwd->rfind("1", 0) != 0) {
      UniqueFd f(::open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC));
      if (!f || ::write(f.get(), "1\n", 2) != 2) return sys_error("network: enable /proc/sys/net/ipv4/ip_forward");
      fprintf(stderr, "lxcd: network: enabled IPv4 forwarding (net.ipv4.ip_forward=1) for NAT\n");
    }
  }
  if (cfg_.dhcp) {
    std::lock_guard<std::mutex> g(mu_);
    if (!want_dnsmasq_) {
      kill_stale_dnsmasq();
      want_dnsmasq_ = true;
      TRY(start_dnsmasq_locked());
      cv_.notify_all();
    }
  }
  return {};
}

std::vector<std::string> Network::dnsmasq_argv() const {
  uint32_t mask = mask_of(gateway_.prefix);
  std::string gw = net::format_ipv4(gateway_.addr);
  return {kDnsmasq,
          "--keep-in-foreground",
          "--conf-file=/dev/null",
          "--no-hosts",
          "--strict-order",
          "--bind-interfaces",
          "--except-interface=lo",
          "--interface=" + cfg_.bridge,
          "--listen-address=" + gw,
          "--pid-file=" + paths_.run_dir + "/dnsmasq.pid",
          "--dhcp-leasefile=" + paths_.state_dir + "/dnsmasq.leases",
          // "static": addresses only for reserved MACs, so DHCP hands out exactly the recorded ones.
          "--dhcp-range=" + net::format_ipv4(gateway_.addr & mask) + ",static," + net::format_ipv4(mask) + ",1h",
          "--dhcp-hostsfile=" + paths_.run_dir + "/dnsmasq.dhcp-hosts",
          "--addn-hosts=" + paths_.run_dir + "/dnsmasq.hosts",
          "--dhcp-authoritative",
          "--dhcp-no-override",
          "--domain=" + cfg_.domain,
          "--local=/" + cfg_.domain + "/",
          "--expand-hosts",
          "--log-facility=-"};
}

Status Network::start_dnsmasq_locked() {
  for (const char* f : {"/dnsmasq.dhcp-hosts", "/dnsmasq.hosts"})
    if (!path_exists(paths_.run_dir + f)) TRY(write_file_atomic(paths_.run_dir + f, "", 0644));
  auto args = dnsmasq_argv();
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, kDnsmasq, &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sys_error("network: start " + std::string(kDnsmasq), rc);
  dnsmasq_pid_ = pid;
  return {};
}

void Network::supervise() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return quit_ || dnsmasq_pid_ > 0; });
    if (quit_) return;
    pid_t pid = dnsmasq_pid_;
    lk.unlock();
    int st = 0;
    // Poll rather than block, so lxcd can shut down without killing dnsmasq.
    pid_t r = 0;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::lock_guard<std::mutex> g(mu_);
      if (quit_) return;
    }
    lk.lock();
    // Stopped or replaced on purpose (teardown, lease cleanup): not a crash.
    if (dnsmasq_pid_ != pid) continue;
    dnsmasq_pid_ = 0;
    if (!want_dnsmasq_ || quit_) continue;
    // Died on its own: restart with a backoff (1 s, 2 s, ... 30 s).
    int delay = std::min(30, 1 << std::min(dnsmasq_restarts_, 5));
    ++dnsmasq_restarts_;
    fprintf(stderr, "lxcd: network: dnsmasq (pid %d) exited (status %d); restarting in %d s\n", pid, st, delay);
    if (cv_.wait_for(lk, std::chrono::seconds(delay), [&] { return quit_ || !want_dnsmasq_; })) continue;
    if (Status s = start_dnsmasq_locked(); !s) fprintf(stderr, "lxcd: %s\n", s.error().message.c_str());
  }
}

void Network::kill_stale_dnsmasq() {
  // A dnsmasq left by an earlier lxcd of this root (it outlives lxcd, like the containers).
  auto text = read_file(paths_.run_dir + "/dnsmasq.pid");
  if (!text) return;
  int pid = atoi(text->c_str());
  auto cmd = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  if (pid <= 0 || !cmd || cmd->find("--pid-file=" + paths_.run_dir + "/dnsmasq.pid") == std::string::npos) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) {
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!stat || stat->find(") Z ") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// SIGHUP makes dnsmasq re-read both files, but kills it if sent before it installed its handler
// (right after a start): wait until /proc says the signal is caught.
void Network::reload_dnsmasq_locked() {
  for (int i = 0; i < 200; ++i) {
    auto status = read_file("/proc/" + std::to_string(dnsmasq_pid_) + "/status");
    if (!status) return;
    auto pos = status->find("SigCgt:\t");
    if (pos != std::string::npos) {
      unsigned long long caught = std::strtoull(status->c_str() + pos + 8, nullptr, 16);
      if (caught & (1ull << (SIGHUP - 1))) {
        kill(dnsmasq_pid_, SIGHUP);
        return;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Network::stop_dnsmasq_locked() {
  want_dnsmasq_ = false;
  if (dnsmasq_pid_ > 0) {
    kill(dnsmasq_pid_, SIGTERM);
    int st;
    for (int i = 0; i < 100 && waitpid(dnsmasq_pid_, &st, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    dnsmasq_pid_ = 0;
  }
  kill_stale_dnsmasq();
  cv_.notify_all();
}

Status Network::sync_hosts(const std::vector<db::NicRecord>& nics) {
  std::string dhcp, hosts;
  for (const auto& n : nics) {
    if (!n.ipv4) continue;
    std::string ip = net::format_ipv4(n.ipv4);
    dhcp += n.mac + "," + ip + (n.index == 0 ? "," + n.container : "") + "\n";
    if (n.index == 0) hosts += ip + " " + n.container + "." + cfg_.domain + " " + n.container + "\n";
  }
  TRY_CTX(write_file_atomic(paths_.run_dir + "/dnsmasq.dhcp-hosts", dhcp, 0644, /*durable=*/false), "network");
  TRY_CTX(write_file_atomic(paths_.run_dir + "/dnsmasq.hosts", hosts, 0644, /*durable=*/false), "network");
  std::lock_guard<std::mutex> g(mu_);
  if (dnsmasq_pid_ > 0) reload_dnsmasq_locked();
  return {};
}

Status Network::sync(const std::vector<db::NicRecord>& nics, const std::vector<db::PortForward>& forwards) {
  TRY(sync_hosts(nics));
  std::map<std::string, uint32_t> first_addr;
  for (const auto& n : nics)
    if (n.ipv4) first_addr.emplace(n.container, n.ipv4);
  if (!cfg_.nat || !TRY_CTX(net::table_exists(nft_table()), "network: nftables")) return {};  // not up yet
  std::vector<net::PortForward> rules;
  for (const auto& f : forwards) {
    auto it = first_addr.find(f.container);
    if (it != first_addr.end()) rules.push_back({f.proto, f.host_port, it->second, f.container_port});
  }
  TRY_CTX(net::set_port_forwards(nft_table(), rules), "network: port forwards");
  return {};
}

Status Network::forget_leases(const std::vector<std::string>& macs) {
  std::string path = paths_.state_dir + "/dnsmasq.leases";
  auto text = read_file(path);
  if (!text || macs.empty()) return {};
  // Lease lines: "EXPIRY MAC IP NAME CLIENT-ID".
  auto held = [&](const std::string& line) {
    for (const auto& m : macs)
      if (line.find(" " + m + " ") != std::string::npos) return true;
    return false;
  };
  std::string kept;
  bool changed = false;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t nl = text->find('\n', pos);
    std::string line = text->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos + 1);
    pos = nl == std::string::npos ? text->size() : nl + 1;
    if (held(line)) changed = true;
    else kept += line;
  }
  if (!changed) return {};
  std::lock_guard<std::mutex> g(mu_);
  bool running = want_dnsmasq_;
  if (running) stop_dnsmasq_locked();
  TRY_CTX(write_file_atomic(path, kept, 0644), "network");
  if (running) {
    want_dnsmasq_ = true;
    TRY(start_dnsmasq_locked());
    cv_.notify_all();
  }
  return {};
}

Status Network::teardown() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_dnsmasq_locked();
  }
  TRY_CTX(net::remove_table(nft_table()), "network");
  auto nl = TRY_CTX(net::Netlink::open(), "network");
  TRY_CTX(nl.delete_link(cfg_.bridge), "network");
  return {};
}

nlohmann::json Network::show(const std::vector<db::NicRecord>& nics, const std::vector<db::PortForward>& forwards) {
  nlohmann::json addrs = nlohmann::json::array(), fwds = nlohmann::json::array();
  for (const auto& n : nics)
    addrs.push_back({{"container", n.container}, {"nic", n.index}, {"mac", n.mac},
                     {"ipv4", n.ipv4 ? net::format_ipv4(n.ipv4) : ""}});
  for (const auto& f : forwards)
    fwds.push_back({{"container", f.container}, {"proto", f.proto}, {"host_port", f.host_port},
                    {"container_port", f.container_port}});
  bool bridge_up = false;
  if (auto nl = net::Netlink::open(); nl) bridge_up = nl->link_exists(cfg_.bridge);
  std::lock_guard<std::mutex> g(mu_);
  return {{"bridge", cfg_.bridge},
          {"bridge_present", bridge_up},
          {"address", cfg_.address},
          {"subnet", net::format_ipv4(gateway_.addr & mask_of(gateway_.prefix)) + "/" + std::to_string(gateway_.prefix)},
          {"mtu", cfg_.mtu},
          {"nat", cfg_.nat},
          {"nft_table", cfg_.nat ? nft_table() : ""},
          {"domain", cfg_.domain},
          {"dnsmasq", {{"enabled", cfg_.dhcp}, {"running", dnsmasq_pid_ > 0}, {"pid", dnsmasq_pid_},
                       {"restarts", dnsmasq_restarts_}}},
          {"addresses", addrs},
          {"port_forwards", fwds}};
}

}  // namespace sysc::lxcd
