// sysc info: one container's state, usage and paths (GET /1.0/containers/NAME).
#include <algorithm>
#include <ctime>
#include <iostream>

#include "tools/client.h"
#include "tools/format.h"
#include "tools/output.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kInfo = {
    "info",
    "NAME [--format text|json]",
    "Show the container NAME: state, template, init and supervisor pids, cgroup, memory and CPU\n"
    "usage (while running), start and creation times, how it last exited, and where its root\n"
    "filesystem and config file are. --format json prints the API's object.",
    "info web1\n"
    "info --format json web1",
    {"NAME"}, 1, /*name_index=*/0};

static std::string pid_text(const nlohmann::json& c, const char* key) {
  int64_t pid = c.value(key, int64_t{0});
  return pid > 0 ? std::to_string(pid) : "-";
}

static std::string text_or_dash(const nlohmann::json& c, const char* key) {
  if (!c.contains(key) || !c[key].is_string() || c[key].get<std::string>().empty()) return "-";
  return c[key].get<std::string>();
}

// "on-failure (2 restarts, next in 4 s)"
static std::string restart_text(const nlohmann::json& c) {
  if (!c.contains("restart")) return "-";
  std::string out = c.value("restart", "no");
  int count = c.value("restart_count", 0);
  double next = c.value("restart_next", 0.0);
  std::string extra = count > 0 ? std::to_string(count) + (count == 1 ? " restart" : " restarts") : "";
  if (next > 0) {
    long left = std::max(0L, static_cast<long>(next - static_cast<double>(time(nullptr)) + 0.999));
    extra += (extra.empty() ? "" : ", ") + std::string("next attempt in ") + std::to_string(left) + " s";
  }
  return extra.empty() ? out : out + " (" + extra + ")";
}

// "privileged", or the host ids root inside maps to: "1000000-1065535 (unprivileged)".
static std::string ids_text(const nlohmann::json& c) {
  if (!c.contains("privileged")) return "-";
  if (c.value("privileged", true)) return "privileged";
  if (!c.contains("idmap")) return "unprivileged (range given at the next start)";
  const auto& m = c["idmap"];
  uint64_t base = m.value("host_base", uint64_t{0}), size = m.value("size", uint64_t{0});
  return std::to_string(base) + "-" + std::to_string(base + size - 1) + " (unprivileged)";
}

static std::vector<std::pair<std::string, std::string>> info_fields(const nlohmann::json& c) {
  bool running = c.value("state", "") == "RUNNING";
  bool has_usage = running && c.contains("memory_bytes");
  return {
      {"Name", c.value("name", "")},
      {"State", c.value("state", "")},
      {"Template", text_or_dash(c, "template")},
      {"Init PID", pid_text(c, "init_pid")},
      {"Shim PID", pid_text(c, "shim_pid")},
      {"Cgroup", text_or_dash(c, "cgroup")},
      {"IPv4", text_or_dash(c, "ipv4")},
      {"Host ids", ids_text(c)},
      {"Memory", has_usage ? format_bytes(c.value("memory_bytes", uint64_t{0})) : "-"},
      {"CPU time", has_usage ? format_cpu_ns(c.value("cpu_ns", uint64_t{0})) : "-"},
      {"Started", running ? local_time(c.value("started_at", int64_t{0})) : "-"},
      {"Created", local_time(c.value("created_at", int64_t{0}))},
      {"Last exit", text_or_dash(c, "last_exit")},
      {"Autostart", c.contains("autostart") ? (c.value("autostart", false) ? "yes" : "no") : "-"},
      {"Restart", restart_text(c)},
      {"Resource view", text_or_dash(c, "resource_view")},
      {"Rootfs", text_or_dash(c, "rootfs")},
      {"Config", text_or_dash(c, "config_path")},
  };
}

int verb_info(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("format", po::value<std::string>()->default_value("text")->value_name("FMT"),
                     "text or json");
  VerbArgs a;
  if (auto code = parse_verb_args(kInfo, opts, args, &a)) return *code;
  std::string format = a.vm["format"].as<std::string>();
  if (!is_one_of(format, {"text", "json"})) return usage_error("info", "--format must be text or json");
  Client client(ctx.paths);
  auto r = client.request("GET", container_url(a.positional[0]));
  if (!r) return fail(r.error());
  if (format == "json")
    print_json(r->json);
  else
    print_fields(info_fields(r->json));
  return kExitOk;
}

}  // namespace sysc::cli
