// sysc create: make a new container from a template (POST /1.0/containers).
#include <iostream>

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kCreate = {
    "create",
    "TEMPLATE NAME [-q] [-- TEMPLATE-ARGS...]",
    "Create the container NAME from TEMPLATE: lxcd runs the template to build the root filesystem\n"
    "(cached per template, release and arch, so the second create is fast) and writes a commented\n"
    "config file for NAME. Arguments after -- go to the template unchanged.\n"
    "NAME: a lowercase letter or digit, then up to 62 lowercase letters, digits or '-'.",
    "create busybox web1\n"
    "create debian db1 -- --release bookworm",
    {"TEMPLATE", "NAME"}, 2, /*name_index=*/1, /*takes_rest=*/true};

int verb_create(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kCreate, opts, args, &a)) return *code;
  const std::string& tmpl = a.positional[0];
  const std::string& name = a.positional[1];
  nlohmann::json body = {{"name", name}, {"template", tmpl}, {"template_args", a.rest}};
  Client client(ctx.paths);
  auto r = client.request("POST", "/1.0/containers", body);
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>()) std::cout << "Created " << name << " from " << tmpl << "\n";
  return kExitOk;
}

}  // namespace sysc::cli
