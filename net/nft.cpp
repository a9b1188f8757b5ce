// sysc's own nftables table through libnftables (net/nft.h). Host side only (lxcd).
// Every script is built from validated names and numbers, so no caller text reaches nft unchecked.
#include "net/nft.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <sstream>

#include <nftables/libnftables.h>

namespace sysc::net {
namespace {

struct NftCtxDeleter {
  void operator()(nft_ctx* c) const {
    if (c) nft_ctx_free(c);
  }
};
using NftCtxPtr = std::unique_ptr<nft_ctx, NftCtxDeleter>;

Status check_table_name(const std::string& t) {
  bool ok = !t.empty() && t.size() <= 32 && std::isalpha(static_cast<unsigned char>(t[0]));
  for (char c : t) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!ok) return make_error("invalid nftables table name '" + t + "' (allowed: [A-Za-z][A-Za-z0-9_]{0,31})", EINVAL);
  return {};
}

Status check_ifname(const std::string& n) {
  bool ok = !n.empty() && n.size() <= 15;
  for (char c : n) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  if (!ok) return make_error("invalid interface name '" + n + "' for nftables", EINVAL);
  return {};
}

// nft's error text is "Error: <msg>\n<command>\n<carets>\n"; keep the message and the command.
std::string condense(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" ^~") == std::string::npos) continue;
    out += (out.empty() ? "" : " in: ") + line;
  }
  return out.empty() ? "nft failed without a message" : out;
}

// libnftables gives no errno; recover the common ones from the kernel's message.
int guess_errno(const std::string& msg) {
  for (int e : {EPERM, ENOENT, EEXIST, EBUSY, EINVAL, EOPNOTSUPP, ENOMEM})
    if (msg.find(std::strerror(e)) != std::string::npos) return e;
  return EIO;
}

// Runs SCRIPT as one nft batch (atomic: all commands apply or none).
Status run_nft(const std::string& what, const std::string& script, std::string* output = nullptr) {
  NftCtxPtr ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return make_error(what + ": nft_ctx_new failed", ENOMEM);
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0)
    return make_error(what + ": cannot buffer nft output", ENOMEM);
  if (nft_run_cmd_from_buffer(ctx.get(), script.c_str()) != 0) {
    const char* err = nft_ctx_get_error_buffer(ctx.get());
    std::string msg = condense(err ? err : "");
    return make_error(what + ": " + msg, guess_errno(msg));
  }
  if (output) {
    const char* out = nft_ctx_get_output_buffer(ctx.get());
    *output = out ? out : "";
  }
  return {};
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string network_of(const Ipv4& subnet) {
  uint32_t mask = subnet.prefix == 0 ? 0 : ~uint32_t(0) << (32 - subnet.prefix);
  return format_cidr(Ipv4{subnet.addr & mask, subnet.prefix});
}

Status check_forward(const PortForward& f) {
  auto port_ok = [](int p) { return p >= 1 && p <= 65535; };
  if ((f.proto != "tcp" && f.proto != "udp") || !port_ok(f.host_port) || !port_ok(f.container_port))
    return make_error("invalid port forward " + f.proto + " " + std::to_string(f.host_port) + " -> " +
                          format_ipv4(f.container_addr) + ":" + std::to_string(f.container_port),
                      EINVAL);
  return {};
}

}  // namespace

Status apply_nat(const std::string& table, const std::string& bridge, const Ipv4& subnet) {
  TRY(check_table_name(table));
  TRY(check_ifname(bridge));
  const std::string t = "ip " + table;
  const std::string br = quoted(bridge);
  const std::string net = network_of(subnet);
  std::string s;
  s += "add table " + t + "\n";
  s += "flush table " + t + "\n";
  s += "add chain " + t + " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n";
  s += "add chain " + t + " prerouting { type nat hook prerouting priority dstnat; policy accept; }\n";
  s += "add chain " + t + " output { type nat hook output priority -100; policy accept; }\n";
  s += "add chain " + t + " forward { type filter hook forward priority filter; policy accept; }\n";
  // Containers reach the outside world with the host's address.
  s += "add rule " + t + " postrouting ip saddr " + net + " oifname != " + br + " masquerade\n";
  // Hairpin: a container reaching a port forward that lands on the same bridge must see the
  // reply come from the host, so the DNATed connection is masqueraded too.
  s += "add rule " + t + " postrouting ip saddr " + net + " ip daddr " + net + " ct status dnat counter masquerade\n";
  s += "add rule " + t + " forward iifname " + br + " accept\n";
  s += "add rule " + t + " forward oifname " + br + " accept\n";
  return run_nft("nft table " + table + ": apply NAT for " + bridge + " " + net, s);
}

Status set_port_forwards(const std::string& table, const std::vector<PortForward>& forwards) {
  TRY(check_table_name(table));
  const std::string t = "ip " + table;
  std::string s = "flush chain " + t + " prerouting\nflush chain " + t + " output\n";
  for (const PortForward& f : forwards) {
    TRY_CTX(check_forward(f), "nft table " + table);
    // Only traffic addressed to the host itself: a container connecting to some remote
    // host:PORT must not be caught by a forward of the same port.
    std::string match = "fib daddr type local " + f.proto + " dport " + std::to_string(f.host_port);
    std::string action = "dnat to " + format_ipv4(f.container_addr) + ":" + std::to_string(f.container_port);
    s += "add rule " + t + " prerouting " + match + " " + action + "\n";
    s += "add rule " + t + " output " + match + " " + action + "\n";
  }
  return run_nft("nft table " + table + ": set port forwards", s);
}

// "add" before "delete" makes the batch succeed whether or not the table exists
// (nft 1.0.6 has no "destroy").
Status remove_table(const std::string& table) {
  TRY(check_table_name(table));
  return run_nft("nft table " + table + ": remove", "add table ip " + table + "\ndelete table ip " + table + "\n");
}

Result<std::string> list_table(const std::string& table) {
  TRY(check_table_name(table));
  std::string out;
  TRY(run_nft("nft table " + table + ": list", "list table ip " + table + "\n", &out));
  return out;
}

Result<bool> table_exists(const std::string& table) {
  TRY(check_table_name(table));
  std::string out;
  TRY(run_nft("nft table " + table + ": list tables", "list tables ip\n", &out));
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (line == "table ip " + table) return true;
  return false;
}

}  // namespace sysc::net
