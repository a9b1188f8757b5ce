// sysc config show|get|set|unset: read and edit a container's config file through lxcd.
#include <iostream>

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kShow = {
    "config show", "NAME",
    "Print the config file of the container NAME as it is on disk (comments included).",
    "config show web1", {"NAME"}, 1, /*name_index=*/0};
static const VerbSpec kGet = {
    "config get", "NAME KEY",
    "Print the value of KEY in NAME's config file. KEY is dotted: a key without a dot lives in\n"
    "[container] (init, halt_signal, stop_timeout, ttys); others name their section\n"
    "(environment.container, security.cap_drop).",
    "config get web1 init\nconfig get web1 security.cap_drop", {"NAME", "KEY"}, 2, /*name_index=*/0};
static const VerbSpec kSet = {
    "config set", "NAME KEY VALUE",
    "Set KEY to VALUE in NAME's config file, keeping comments and order. The new file is\n"
    "validated first; an invalid value changes nothing. Takes effect at the next start.",
    "config set web1 stop_timeout 10\nconfig set web1 environment.TZ Europe/Paris\n"
    "config set web1 environment.OFFSET -- -1   (a VALUE starting with '-' goes after --)",
    {"NAME", "KEY", "VALUE"}, 2, /*name_index=*/0, /*takes_rest=*/true};
static const VerbSpec kUnset = {
    "config unset", "NAME KEY",
    "Remove KEY from NAME's config file, so its default applies. Takes effect at the next start.",
    "config unset web1 halt_signal", {"NAME", "KEY"}, 2, /*name_index=*/0};

static void print_config_help() {
  std::cout << "Usage: sysc config show|get|set|unset NAME [KEY [VALUE]]\n\n"
               "Show or change the config file of a container (changes take effect at the next start).\n\n"
               "  show NAME             print the whole file\n"
               "  get NAME KEY          print one value\n"
               "  set NAME KEY VALUE    set one value (validated before it is written)\n"
               "  unset NAME KEY        remove one key\n\n"
               "Run 'sysc config SUBCOMMAND --help' for details.\n\n"
               "Examples:\n  sysc config show web1\n  sysc config set web1 stop_timeout 10\n";
}

static std::string key_url(const std::string& name, const std::string& key) {
  return container_url(name, "/config/" + escape_segment(key));
}

static int run_sub(const Context& ctx, const VerbSpec& spec, const VerbArgv& args) {
  po::options_description opts("Options");
  VerbArgs a;
  if (auto code = parse_verb_args(spec, opts, args, &a)) return *code;
  auto p = a.positional;
  if (&spec == &kSet) {  // VALUE either third or alone after "--"
    if (p.size() + a.rest.size() != 3) return usage_error(spec.name, "expected NAME KEY VALUE");
    if (!a.rest.empty()) p.push_back(a.rest[0]);
  }
  Client client(ctx.paths);
  Result<Response> r = make_error("");
  if (&spec == &kShow)
    r = client.request("GET", container_url(p[0], "/config"));
  else if (&spec == &kGet)
    r = client.request("GET", key_url(p[0], p[1]));
  else if (&spec == &kSet)
    r = client.request("PUT", key_url(p[0], p[1]), nlohmann::json{{"value", p[2]}});
  else
    r = client.request("DELETE", key_url(p[0], p[1]));
  if (!r) return fail(r.error());
  if (&spec == &kShow) {
    std::string content = r->json.at("content").get<std::string>();
    std::cout << content << (content.empty() || content.back() == '\n' ? "" : "\n");
  } else if (&spec == &kGet) {
    std::cout << r->json.at("value").get<std::string>() << "\n";
  }
  return kExitOk;
}

int verb_config(const Context& ctx, const VerbArgv& args) {
  if (args.empty()) {
    print_config_help();
    return kExitUsage;
  }
  const std::string& sub = args[0];
  if (sub == "-h" || sub == "--help") return print_config_help(), kExitOk;
  VerbArgv rest(args.begin() + 1, args.end());
  if (sub == "show") return run_sub(ctx, kShow, rest);
  if (sub == "get") return run_sub(ctx, kGet, rest);
  if (sub == "set") return run_sub(ctx, kSet, rest);
  if (sub == "unset") return run_sub(ctx, kUnset, rest);
  return usage_error("config", "unknown subcommand '" + sub + "' (show, get, set or unset)");
}

}  // namespace sysc::cli
