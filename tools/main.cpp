// sysc entry point: global options (--root, --help, --version) and the verb table.
#include <boost/program_options.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/sched.h"
#include "tools/cli.h"
#include "tools/verbs.h"

namespace sysc::cli {
namespace {

struct Verb {
  const char* name;
  const char* summary;
  int (*run)(const Context&, const VerbArgv&);
};

const Verb kVerbs[] = {
    {"create", "create a container from a template", verb_create},
    {"start", "start a container", verb_start},
    {"stop", "stop a running container (halt signal, then SIGKILL)", verb_stop},
    {"restart", "stop and start a container", verb_restart},
    {"attach", "run a command or a shell inside a running container", verb_attach},
    {"console", "connect to a container's console, or show its log", verb_console},
    {"list", "list containers", verb_list},
    {"info", "show a container's state and resource usage", verb_info},
    {"destroy", "delete a container and its root filesystem", verb_destroy},
    {"config", "show or change a container's configuration", verb_config},
    {"port", "forward host ports to a container", verb_port},
    {"network", "show or remove the bridge, NAT and DHCP/DNS", verb_network},
    {"copy", "make a new container from a stopped one", verb_copy},
    {"snapshot", "create, list, restore or delete snapshots of a container", verb_snapshot},
    {"export", "write a stopped container to a tarball (a backup)", verb_export},
    {"import", "make a new container from an exported tarball", verb_import},
    {"template", "list templates and their cached images, or rebuild an image", verb_template},
    {"events", "print lifecycle events (start, stop, OOM, ...) as they happen", verb_events},
    {"shutdown-all", "stop every running container, in reverse autostart order", verb_shutdown_all},
};

po::options_description global_options() {
  po::options_description opts("Global options (before the command)");
  opts.add_options()
      ("root", po::value<std::string>()->value_name("DIR"),
       "keep all state under DIR instead of the host's directories (default: $SYSC_ROOT)")
      ("help,h", "show this help")
      ("version", "show the version");
  return opts;
}

void print_main_help(std::ostream& out) {
  out << "Usage: sysc [--root DIR] COMMAND [ARGS...]\n\n"
         "Manage system containers through the lxcd daemon (started on demand when run as root).\n\n"
         "Commands:\n";
  for (const Verb& v : kVerbs) out << "  " << v.name << std::string(std::max<size_t>(14 - std::string(v.name).size(), 1), ' ') << v.summary << "\n";
  out << "\n" << global_options() << "\nRun 'sysc COMMAND --help' for a command's options and examples.\n";
}

const Verb* find_verb(const std::string& name) {
  for (const Verb& v : kVerbs)
    if (name == v.name) return &v;
  return nullptr;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

int unknown_verb(const std::string& name) {
  std::cerr << "sysc: unknown command '" << name << "'";
  for (const Verb& v : kVerbs)
    if (edit_distance(name, v.name) <= 2) {
      std::cerr << "; did you mean '" << v.name << "'?";
      break;
    }
  std::cerr << "\nRun 'sysc --help' for the list of commands.\n";
  return kExitUsage;
}

// Index of the command word: the first argument that is neither a global option nor its value.
size_t verb_index(const std::vector<std::string>& args) {
  size_t i = 0;
  while (i < args.size() && !args[i].empty() && args[i][0] == '-') i += (args[i] == "--root") ? 2 : 1;
  return std::min(i, args.size());
}

int run(const std::vector<std::string>& args) {
  size_t vi = verb_index(args);
  po::variables_map vm;
  po::store(po::command_line_parser(std::vector<std::string>(args.begin(), args.begin() + vi))
                .options(global_options()).run(), vm);
  po::notify(vm);
  if (vm.count("version")) {
    std::cout << "sysc " SYSC_VERSION "\n";
    return kExitOk;
  }
  bool help = vm.count("help") > 0;
  if (vi == args.size()) {
    print_main_help(help ? std::cout : std::cerr);
    return help ? kExitOk : kExitUsage;
  }
  Context ctx;
  ctx.root_flag = vm.count("root") ? vm["root"].as<std::string>() : "";
  ctx.paths = Paths::from_cli(ctx.root_flag);
  std::string name = args[vi];
  VerbArgv rest(args.begin() + vi + 1, args.end());
  if (name == "help") {  // "sysc help [COMMAND]"
    if (rest.empty()) return print_main_help(std::cout), kExitOk;
    name = rest[0];
    rest = {"--help"};
  }
  const Verb* verb = find_verb(name);
  if (!verb) return unknown_verb(name);
  if (help) rest.insert(rest.begin(), "--help");
  return verb->run(ctx, rest);
}

}  // namespace
}  // namespace sysc::cli

int main(int argc, char** argv) {
  using namespace sysc::cli;
  // A call mostly waits for lxcd, then has a few hundred microseconds of work left: woken on a
  // CPU where a container's init has just started, at the default slice it waited for the init
  // to block while the other CPU idled (up to 0.5 ms after a start's answer, measured).
  sysc::ask_for_short_slice();
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const po::error& e) {
    std::cerr << "sysc: " << e.what() << "\nRun 'sysc --help' for usage.\n";
    return kExitUsage;
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "sysc: unexpected answer from lxcd: " << e.what() << "\n";
    return kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << "sysc: " << e.what() << "\n";
    return kExitFailed;
  }
}
