// sysc copy: a new container from a stopped one (POST /1.0/containers/SRC/copy).
#include <iostream>

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kCopy = {
    "copy",
    "SRC DST [-q]",
    "Make the container DST from the stopped container SRC: the same files and configuration, on\n"
    "the same storage backend (a copy for dir, the same image plus a copied upper layer for\n"
    "overlay, a snapshot for btrfs), with DST's own hostname, MAC address, IPv4 address, an empty\n"
    "machine-id (systemd makes a new one at boot) and no SSH host keys (made anew at boot).\n"
    "Fixed hwaddr/ipv4 settings of SRC are not copied.",
    "copy web1 web2",
    {"SRC", "DST"}, 2, /*name_index=*/1};

int verb_copy(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kCopy, opts, args, &a)) return *code;
  const std::string& src = a.positional[0];
  const std::string& dst = a.positional[1];
  auto r = Client(ctx.paths).request("POST", "/1.0/containers/" + src + "/copy", nlohmann::json{{"name", dst}});
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>()) std::cout << "Copied " << src << " to " << dst << "\n";
  return kExitOk;
}

}  // namespace sysc::cli
