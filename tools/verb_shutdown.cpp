// sysc shutdown-all: stop every running container (POST /1.0/shutdown), for host shutdown.
#include <iostream>

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kShutdownAll = {
    "shutdown-all",
    "[-q]",
    "Stop every running container as 'sysc stop' does, in the reverse of the autostart sequence:\n"
    "highest autostart.order first, and a container before those it names in autostart.after.\n"
    "Containers of the same step stop in parallel, each with its own stop timeout. Pending\n"
    "restarts of the restart policy are cancelled. The sysc-containers systemd unit runs this\n"
    "at host shutdown.",
    "shutdown-all",
    {}, 0};

int verb_shutdown_all(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kShutdownAll, opts, args, &a)) return *code;
  Client client(ctx.paths);
  auto r = client.request("POST", "/1.0/shutdown", nlohmann::json::object());
  if (!r) return fail(r.error());
  int code = kExitOk;
  for (const auto& f : r->json.value("failed", nlohmann::json::array())) {
    std::cerr << "sysc: " << f.value("error", f.value("name", "?") + ": stop failed") << "\n";
    code = kExitFailed;
  }
  if (!a.vm["quiet"].as<bool>())
    for (const auto& n : r->json.value("stopped", nlohmann::json::array())) std::cout << "Stopped " << n.get<std::string>() << "\n";
  return code;
}

}  // namespace sysc::cli
