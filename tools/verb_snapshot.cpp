// sysc snapshot create|list|restore|delete: snapshots of a container's root filesystem and
// config (/1.0/containers/NAME/snapshots).
#include <ctime>
#include <iostream>

#include "tools/client.h"
#include "tools/output.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kCreate = {
    "snapshot create", "NAME [SNAP] [-q]",
    "Snapshot the root filesystem and the config of NAME as SNAP (default: snap-YYYYMMDD-HHMMSS,\n"
    "UTC). On btrfs storage a read-only btrfs snapshot (atomic, also while running); on dir a\n"
    "copy of the rootfs, on overlay a copy of the upper layer (the image stays the lower layer).\n"
    "A running dir or overlay container is frozen (cgroup freezer) during the copy; when it\n"
    "cannot be frozen it is copied while it runs, with a warning.",
    "snapshot create web1\nsnapshot create web1 before-upgrade", {"NAME", "SNAP"}, 1, 0};
static const VerbSpec kList = {"snapshot list", "NAME [--format text|json]", "List the snapshots of NAME, oldest first.",
                               "snapshot list web1", {"NAME"}, 1, 0};
static const VerbSpec kRestore = {
    "snapshot restore", "NAME SNAP [--stop] [-q]",
    "Replace the root filesystem and the config of NAME with those of SNAP. The container keeps\n"
    "its MAC and IPv4 addresses. A running container is refused unless --stop is given: it is\n"
    "stopped, restored and started again.",
    "snapshot restore web1 before-upgrade\nsnapshot restore --stop web1 before-upgrade", {"NAME", "SNAP"}, 2, 0};
static const VerbSpec kDelete = {"snapshot delete", "NAME SNAP [-q]", "Delete the snapshot SNAP of NAME.",
                                 "snapshot delete web1 before-upgrade", {"NAME", "SNAP"}, 2, 0};

static void print_snapshot_help() {
  std::cout << "Usage: sysc snapshot create|list|restore|delete NAME [SNAP]\n\n"
               "  create    snapshot a container's root filesystem and config\n"
               "  list      list a container's snapshots\n"
               "  restore   put a container back to a snapshot\n"
               "  delete    delete a snapshot\n";
}

static std::string snap_url(const std::string& name, const std::string& snap, const std::string& suffix = "") {
  return container_url(name, "/snapshots/" + escape_segment(snap) + suffix);
}

static int create(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kCreate, opts, args, &a)) return *code;
  const std::string& name = a.positional[0];
  nlohmann::json body = nlohmann::json::object();
  if (a.positional.size() > 1) body["name"] = a.positional[1];
  auto r = Client(ctx.paths).request("POST", container_url(name, "/snapshots"), body);
  if (!r) return fail(r.error());
  if (r->json.contains("warning")) std::cerr << "sysc: warning: " << r->json.value("warning", "") << "\n";
  if (!a.vm["quiet"].as<bool>()) std::cout << "Snapshot " << r->json.value("name", "") << " of " << name << " created\n";
  return kExitOk;
}

static int list(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("format", po::value<std::string>()->default_value("text"), "text or json");
  VerbArgs a;
  if (auto code = parse_verb_args(kList, opts, args, &a)) return *code;
  auto r = Client(ctx.paths).request("GET", container_url(a.positional[0], "/snapshots"));
  if (!r) return fail(r.error());
  if (a.vm["format"].as<std::string>() == "json") {
    std::cout << r->json.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : r->json.at("snapshots")) {
    time_t t = s.value("created_at", 0LL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
    rows.push_back({s.value("name", ""), when, s.value("storage", ""), s.value("running", false) ? "yes" : "no"});
  }
  print_table({"SNAPSHOT", "CREATED", "STORAGE", "TAKEN RUNNING"}, rows);
  return kExitOk;
}

static int restore(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("stop", po::bool_switch(), "stop a running container first and start it again after");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kRestore, opts, args, &a)) return *code;
  const std::string& name = a.positional[0];
  auto r = Client(ctx.paths).request("POST", snap_url(name, a.positional[1], "/restore"),
                                     nlohmann::json{{"stop", a.vm["stop"].as<bool>()}});
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>())
    std::cout << "Restored " << name << " to " << a.positional[1]
              << (r->json.value("restarted", false) ? " (stopped and started again)" : "") << "\n";
  return kExitOk;
}

static int remove(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kDelete, opts, args, &a)) return *code;
  auto r = Client(ctx.paths).request("DELETE", snap_url(a.positional[0], a.positional[1]));
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>()) std::cout << "Deleted snapshot " << a.positional[1] << " of " << a.positional[0] << "\n";
  return kExitOk;
}

int verb_snapshot(const Context& ctx, const VerbArgv& args) {
  if (args.empty()) return print_snapshot_help(), kExitUsage;
  const std::string& sub = args[0];
  if (sub == "-h" || sub == "--help") return print_snapshot_help(), kExitOk;
  VerbArgv rest(args.begin() + 1, args.end());
  if (sub == "create") return create(ctx, rest);
  if (sub == "list") return list(ctx, rest);
  if (sub == "restore") return restore(ctx, rest);
  if (sub == "delete") return remove(ctx, rest);
  std::cerr << "sysc snapshot: unknown subcommand '" << sub << "'\n";
  print_snapshot_help();
  return kExitUsage;
}

}  // namespace sysc::cli
