// sysc start: start a stopped container (POST /1.0/containers/NAME/start).
#include <iostream>

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kStart = {
    "start",
    "NAME [-q]",
    "Start the container NAME: lxcd spawns its supervisor, which sets up the namespaces, cgroup,\n"
    "mounts and security policy and executes the container's init. Returns once init runs.",
    "start web1\n"
    "start -q web1",
    {"NAME"}, 1, /*name_index=*/0};

int verb_start(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kStart, opts, args, &a)) return *code;
  const std::string& name = a.positional[0];
  Client client(ctx.paths);
  auto r = client.request("POST", container_url(name, "/start"));
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>()) {
    std::cout << "Started " << name << " (init pid " << r->json.value("init_pid", 0) << ")\n";
    // What the tenant's free, top, uptime and nproc report: its own limits, or the host's values.
    if (r->json.contains("resource_view")) std::cout << "Resource view: " << r->json.value("resource_view", "") << "\n";
  }
  return kExitOk;
}

}  // namespace sysc::cli
