// sysc destroy: delete a container, its root filesystem and config (DELETE /1.0/containers/NAME).
#include <iostream>

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kDestroy = {
    "destroy",
    "NAME [--force] [-q]",
    "Destroy the container NAME: remove its root filesystem, its config file and its record.\n"
    "A running container is refused unless --force is given, which stops it first.",
    "destroy web1\n"
    "destroy --force web1",
    {"NAME"}, 1, /*name_index=*/0};

int verb_destroy(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("force,f", po::bool_switch(), "stop the container first if it is running");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kDestroy, opts, args, &a)) return *code;
  const std::string& name = a.positional[0];
  Client client(ctx.paths);
  auto r = client.request("DELETE", container_url(name, a.vm["force"].as<bool>() ? "?force=1" : ""));
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>()) std::cout << "Destroyed " << name << "\n";
  return kExitOk;
}

}  // namespace sysc::cli
