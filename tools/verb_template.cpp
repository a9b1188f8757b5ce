// sysc template list|refresh: templates and their cached images (/1.0/images).
#include <ctime>
#include <iostream>

#include "tools/client.h"
#include "tools/output.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kList = {
    "template list", "[--format text|json]",
    "Show the installed templates and the images built from them: one image per template and\n"
    "arguments (the newest build is the one new containers use; older builds stay while overlay\n"
    "containers still use them as their lower layer).",
    "template list", {}, 0};
static const VerbSpec kRefresh = {
    "template refresh", "TEMPLATE [-- TEMPLATE-ARGS...]",
    "Rebuild the image of TEMPLATE with these arguments from the template's sources (the Debian\n"
    "mirror for debian: it downloads again). Containers made later use the new image; existing\n"
    "containers are not changed.",
    "template refresh busybox\ntemplate refresh debian -- --release bookworm", {"TEMPLATE"}, 1, -1, true};

static void print_template_help() {
  std::cout << "Usage: sysc template list|refresh\n\n"
               "  list      installed templates and their cached images\n"
               "  refresh   rebuild the image of a template (and arguments)\n";
}

static std::string join(const nlohmann::json& arr) {
  std::string s;
  for (const auto& a : arr) s += (s.empty() ? "" : " ") + a.get<std::string>();
  return s;
}

static int list(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("format", po::value<std::string>()->default_value("text"), "text or json");
  VerbArgs a;
  if (auto code = parse_verb_args(kList, opts, args, &a)) return *code;
  auto r = Client(ctx.paths).request("GET", "/1.0/images");
  if (!r) return fail(r.error());
  const auto& j = r->json;
  if (a.vm["format"].as<std::string>() == "json") {
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "Templates (" << j.value("template_dir", "") << "): " << join(j.at("templates")) << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& img : j.at("images")) {
    time_t t = img.value("created_at", 0LL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
    rows.push_back({img.value("template", ""), join(img.at("args")), img.value("id", ""), when,
                    img.value("current", false) ? "yes" : "no", join(img.at("containers"))});
  }
  print_table({"TEMPLATE", "ARGS", "IMAGE", "BUILT", "CURRENT", "USED BY"}, rows);
  return kExitOk;
}

static int refresh(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kRefresh, opts, args, &a)) return *code;
  nlohmann::json body = {{"template", a.positional[0]}, {"template_args", a.rest}};
  auto r = Client(ctx.paths).request("POST", "/1.0/images", body);
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>()) std::cout << "Built image " << r->json.value("id", "") << "\n";
  return kExitOk;
}

int verb_template(const Context& ctx, const VerbArgv& args) {
  if (args.empty()) return print_template_help(), kExitUsage;
  const std::string& sub = args[0];
  if (sub == "-h" || sub == "--help") return print_template_help(), kExitOk;
  VerbArgv rest(args.begin() + 1, args.end());
  if (sub == "list") return list(ctx, rest);
  if (sub == "refresh") return refresh(ctx, rest);
  std::cerr << "sysc template: unknown subcommand '" << sub << "'\n";
  print_template_help();
  return kExitUsage;
}

}  // namespace sysc::cli
