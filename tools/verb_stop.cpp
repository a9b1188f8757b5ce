// sysc stop and sysc restart: they share the halt-then-kill options (--timeout, --force).
#include <iostream>

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kStop = {
    "stop",
    "NAME [--timeout S] [--force] [-q]",
    "Stop the container NAME: send its init the halt signal it understands (systemd SIGRTMIN+3,\n"
    "sysvinit SIGPWR, busybox SIGUSR1, or the configured halt_signal), wait up to the timeout for\n"
    "a clean shutdown, then SIGKILL. --force kills at once.",
    "stop web1\n"
    "stop --timeout 5 web1\n"
    "stop --force web1",
    {"NAME"}, 1, /*name_index=*/0};

static const VerbSpec kRestart = {
    "restart",
    "NAME [--timeout S] [--force] [-q]",
    "Restart the container NAME: stop it as 'sysc stop' does (halt signal, wait up to the\n"
    "timeout, then SIGKILL; --force kills at once), then start it again.",
    "restart web1\n"
    "restart --force web1",
    {"NAME"}, 1, /*name_index=*/0};

static po::options_description stop_options() {
  po::options_description opts("Options");
  opts.add_options()
      ("timeout,t", po::value<int>()->value_name("S"),
       "seconds to wait for a clean shutdown before SIGKILL (default: the container's stop_timeout)")
      ("force,f", po::bool_switch(), "SIGKILL at once, no clean shutdown");
  add_quiet_option(opts);
  return opts;
}

static nlohmann::json stop_body(const po::variables_map& vm) {
  nlohmann::json body = nlohmann::json::object();
  if (vm.count("timeout")) body["timeout"] = vm["timeout"].as<int>();
  if (vm["force"].as<bool>()) body["force"] = true;
  return body;
}

int verb_stop(const Context& ctx, const VerbArgv& args) {
  VerbArgs a;
  if (auto code = parse_verb_args(kStop, stop_options(), args, &a)) return *code;
  if (a.vm.count("timeout") && a.vm["timeout"].as<int>() < 0) return usage_error("stop", "--timeout must be >= 0");
  const std::string& name = a.positional[0];
  Client client(ctx.paths);
  auto r = client.request("POST", container_url(name, "/stop"), stop_body(a.vm));
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>()) {
    std::string last = r->json.is_object() && r->json.contains("last_exit") && r->json["last_exit"].is_string()
                           ? r->json["last_exit"].get<std::string>() : "";
    std::cout << "Stopped " << name << (last.empty() ? "" : " (" + last + ")") << "\n";
  }
  return kExitOk;
}

int verb_restart(const Context& ctx, const VerbArgv& args) {
  VerbArgs a;
  if (auto code = parse_verb_args(kRestart, stop_options(), args, &a)) return *code;
  if (a.vm.count("timeout") && a.vm["timeout"].as<int>() < 0) return usage_error("restart", "--timeout must be >= 0");
  const std::string& name = a.positional[0];
  Client client(ctx.paths);
  auto r = client.request("POST", container_url(name, "/restart"), stop_body(a.vm));
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>())
    std::cout << "Restarted " << name << " (init pid " << r->json.value("init_pid", 0) << ")\n";
  return kExitOk;
}

}  // namespace sysc::cli
