// sysc network show|remove: the bridge, its subnet, dnsmasq and the address table (/1.0/network).
#include <iostream>

#include "tools/client.h"
#include "tools/output.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kShow = {
    "network show", "[--format text|json]",
    "Show the bridge, its subnet and gateway, NAT, dnsmasq's state and every recorded address and\n"
    "port forward.",
    "network show\nnetwork show --format json", {}, 0};
static const VerbSpec kRemove = {
    "network remove", "",
    "Stop dnsmasq, remove sysc's nftables table and delete the bridge. Refused while a container\n"
    "runs. Addresses stay recorded; the next start brings everything back.",
    "network remove", {}, 0};

static void print_network_help() {
  std::cout << "Usage: sysc network show|remove\n\n"
               "  show     the bridge, subnet, dnsmasq and address table\n"
               "  remove   take the bridge, NAT table and dnsmasq down (no container may run)\n";
}

static int show(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("format", po::value<std::string>()->default_value("text"), "text or json");
  VerbArgs a;
  if (auto code = parse_verb_args(kShow, opts, args, &a)) return *code;
  Client client(ctx.paths);
  auto r = client.request("GET", "/1.0/network");
  if (!r) return fail(r.error());
  const auto& j = r->json;
  if (a.vm["format"].as<std::string>() == "json") {
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  const auto& d = j.at("dnsmasq");
  std::cout << "Bridge:   " << j.value("bridge", "") << (j.value("bridge_present", false) ? "" : " (absent)") << "\n"
            << "Address:  " << j.value("address", "") << " (subnet " << j.value("subnet", "") << ")\n"
            << "MTU:      " << j.value("mtu", 0) << "\n"
            << "NAT:      " << (j.value("nat", false) ? "on (nftables table " + j.value("nft_table", "") + ")" : "off")
            << "\n"
            << "DNS/DHCP: "
            << (!d.value("enabled", false) ? std::string("off")
                : d.value("running", false) ? "dnsmasq running (pid " + std::to_string(d.value("pid", 0)) + ")"
                                            : std::string("dnsmasq not running"))
            << ", domain " << j.value("domain", "") << "\n\n";
  std::vector<std::string> header = {"CONTAINER", "NIC", "MAC", "IPV4"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : j.at("addresses"))
    rows.push_back({n.value("container", ""), "net." + std::to_string(n.value("nic", 0)), n.value("mac", ""),
                    n.value("ipv4", "")});
  print_table(header, rows);
  if (!j.at("port_forwards").empty()) {
    std::cout << "\n";
    std::vector<std::vector<std::string>> f;
    for (const auto& p : j.at("port_forwards"))
      f.push_back({p.value("container", ""), p.value("proto", ""), std::to_string(p.value("host_port", 0)),
                   std::to_string(p.value("container_port", 0))});
    print_table({"CONTAINER", "PROTO", "HOST-PORT", "CONTAINER-PORT"}, f);
  }
  return kExitOk;
}

int verb_network(const Context& ctx, const VerbArgv& args) {
  if (args.empty()) return print_network_help(), kExitUsage;
  const std::string& sub = args[0];
  if (sub == "-h" || sub == "--help") return print_network_help(), kExitOk;
  VerbArgv rest(args.begin() + 1, args.end());
  if (sub == "show") return show(ctx, rest);
  if (sub == "remove") {
    po::options_description opts("Options");
    VerbArgs a;
    if (auto code = parse_verb_args(kRemove, opts, rest, &a)) return *code;
    auto r = Client(ctx.paths).request("DELETE", "/1.0/network");
    return r ? kExitOk : fail(r.error());
  }
  return usage_error("network", "unknown subcommand '" + sub + "' (show or remove)");
}

}  // namespace sysc::cli
