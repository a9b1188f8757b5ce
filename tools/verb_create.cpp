// sysc create: make a new container from a template (POST /1.0/containers).
#include <cerrno>
#include <iostream>
#include <unistd.h>

#include "tools/progress.h"

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kCreate = {
    "create",
    "TEMPLATE NAME [--storage dir|overlay|btrfs] [--no-cache] [-q] [-- TEMPLATE-ARGS...]",
    "Create the container NAME from TEMPLATE. The first create of a template with given arguments\n"
    "runs the template once into an image (see 'sysc template list'); later creates of the same\n"
    "template and arguments are made from that image without running the template again. Each\n"
    "container gets its own hostname, an empty machine-id and no SSH host keys, and a commented\n"
    "config file. Arguments after -- go to the template unchanged.\n"
    "Storage: dir (a full copy, reflinked where possible), overlay (the image as a read-only lower\n"
    "layer, fastest to create), btrfs (a snapshot; the state directory must be on btrfs); the\n"
    "default is [storage] backend of sysc.conf (auto: btrfs on btrfs, else dir).\n"
    "Ctrl-C while the template runs cancels the create and leaves nothing behind.\n"
    "NAME: a lowercase letter or digit, then up to 62 lowercase letters, digits or '-'.",
    "create busybox web1\n"
    "create busybox web2 --storage overlay\n"
    "create debian db1 -- --release bookworm\n"
    "create debian db2 --no-cache -- --release bookworm",
    {"TEMPLATE", "NAME"}, 2, /*name_index=*/1, /*takes_rest=*/true};

int verb_create(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  add_quiet_option(opts);
  opts.add_options()("storage", po::value<std::string>()->default_value(""), "dir, overlay or btrfs (default: sysc.conf)")(
      "no-cache", po::bool_switch(), "rebuild the image from the template's sources (downloads again)");
  VerbArgs a;
  if (auto code = parse_verb_args(kCreate, opts, args, &a)) return *code;
  const std::string& tmpl = a.positional[0];
  const std::string& name = a.positional[1];
  nlohmann::json body = {{"name", name}, {"template", tmpl}, {"template_args", a.rest},
                         {"storage", a.vm["storage"].as<std::string>()}, {"no_cache", a.vm["no-cache"].as<bool>()}};
  bool quiet = a.vm["quiet"].as<bool>();
  // The create streams its progress (template, image, root filesystem) and then its result.
  auto s = Client(ctx.paths).stream("/1.0/containers?progress=1", "POST", body);
  if (!s) return fail(s.error());
  ProgressLine progress(quiet);
  std::string buf = std::move(s->pending);
  nlohmann::json last;
  // The status line is the last one: once it is here, the create is over. lxcd closes the
  // connection right after it, but a thread it woke just before (a btrfs image's spare
  // snapshot) may take the CPU first: the close is not waited for.
  for (;;) {
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      auto j = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
      buf.erase(0, nl + 1);
      if (!j.is_object()) continue;
      if (j.contains("progress")) progress.show(j.value("progress", 0), j.value("message", ""));
      if (j.contains("status")) last = j;
    }
    if (last.is_object()) break;
    char chunk[4096];
    ssize_t n = read(s->fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  progress.done();
  if (!last.is_object()) return fail(make_error(name + ": lxcd closed the connection before the create finished", EIO));
  if (last.value("status", 500) / 100 != 2) return fail(make_error(last.value("error", "create failed"), EIO));
  if (!quiet)
    std::cout << "Created " << name << " from " << tmpl << " (storage "
              << last["result"].value("storage", "dir") << ")\n";
  return kExitOk;
}

}  // namespace sysc::cli
