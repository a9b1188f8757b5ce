// sysc port add|list|remove: port forwards from the host to a container (…/ports of the API).
#include <iostream>

#include "tools/client.h"
#include "tools/output.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kAdd = {
    "port add", "NAME tcp|udp HOSTPORT [CONTAINERPORT]",
    "Forward HOSTPORT of this host (any address) to CONTAINERPORT (default: the same) of NAME's\n"
    "first address, with nftables DNAT rules in sysc's own table. The forward is recorded, applied\n"
    "at once, restored when lxcd restarts and removed when the container is destroyed. A host port\n"
    "that is already forwarded is refused.",
    "port add web1 tcp 8080 80\nport add dns1 udp 5353 53", {"NAME", "PROTO", "HOSTPORT", "CONTAINERPORT"}, 3,
    /*name_index=*/0};
static const VerbSpec kList = {"port list", "NAME", "List the port forwards of NAME.", "port list web1", {"NAME"}, 1,
                               /*name_index=*/0};
static const VerbSpec kRemove = {"port remove", "NAME tcp|udp HOSTPORT", "Remove a port forward of NAME.",
                                 "port remove web1 tcp 8080", {"NAME", "PROTO", "HOSTPORT"}, 3, /*name_index=*/0};

static void print_port_help() {
  std::cout << "Usage: sysc port add|list|remove NAME ...\n\n"
               "Forward ports of this host to a container.\n\n"
               "  add NAME tcp|udp HOSTPORT [CONTAINERPORT]\n"
               "  list NAME\n"
               "  remove NAME tcp|udp HOSTPORT\n\n"
               "Run 'sysc port SUBCOMMAND --help' for details.\n";
}

static std::optional<int> port_arg(const std::string& s) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end || v < 1 || v > 65535) return std::nullopt;
  return static_cast<int>(v);
}

static int run_port(const Context& ctx, const VerbSpec& spec, const VerbArgv& args) {
  po::options_description opts("Options");
  VerbArgs a;
  if (auto code = parse_verb_args(spec, opts, args, &a)) return *code;
  const auto& p = a.positional;
  Client client(ctx.paths);
  if (&spec == &kList) {
    auto r = client.request("GET", container_url(p[0], "/ports"));
    if (!r) return fail(r.error());
    std::vector<std::string> header = {"PROTO", "HOST-PORT", "CONTAINER-PORT"};
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : r->json.at("port_forwards"))
      rows.push_back({f.at("proto").get<std::string>(), std::to_string(f.at("host_port").get<int>()),
                      std::to_string(f.at("container_port").get<int>())});
    print_table(header, rows);
    return kExitOk;
  }
  if (p[1] != "tcp" && p[1] != "udp") return usage_error(spec.name, "protocol must be tcp or udp, not '" + p[1] + "'");
  auto host = port_arg(p[2]);
  auto inner = p.size() > 3 ? port_arg(p[3]) : host;
  if (!host || !inner) return usage_error(spec.name, "ports are numbers from 1 to 65535");
  Result<Response> r = make_error("");
  if (&spec == &kAdd)
    r = client.request("POST", container_url(p[0], "/ports"),
                       nlohmann::json{{"proto", p[1]}, {"host_port", *host}, {"container_port", *inner}});
  else
    r = client.request("DELETE", container_url(p[0], "/ports/" + p[1] + "/" + std::to_string(*host)));
  if (!r) return fail(r.error());
  return kExitOk;
}

int verb_port(const Context& ctx, const VerbArgv& args) {
  if (args.empty()) return print_port_help(), kExitUsage;
  const std::string& sub = args[0];
  if (sub == "-h" || sub == "--help") return print_port_help(), kExitOk;
  VerbArgv rest(args.begin() + 1, args.end());
  if (sub == "add") return run_port(ctx, kAdd, rest);
  if (sub == "list") return run_port(ctx, kList, rest);
  if (sub == "remove") return run_port(ctx, kRemove, rest);
  return usage_error("port", "unknown subcommand '" + sub + "' (add, list or remove)");
}

}  // namespace sysc::cli
