// sysc export / import: a container (and optionally its snapshots) to and from a tarball on the
// host (POST /1.0/containers/NAME/export, POST /1.0/import). lxcd reads and writes the file.
#include <filesystem>
#include <iostream>

#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kExport = {
    "export", "NAME FILE [--snapshots] [-q]",
    "Write the stopped container NAME to the tarball FILE (xz when FILE ends in .xz or .txz, else\n"
    "gzip): its config, its whole root filesystem (for overlay: the image and upper layer merged)\n"
    "with owners, modes, xattrs and ACLs, and with --snapshots its snapshots. A running container\n"
    "is refused: stop it (or snapshot it and export later) for a consistent copy.",
    "export web1 /srv/backup/web1.tar.gz\nexport web1 /srv/backup/web1.tar.xz --snapshots", {"NAME", "FILE"}, 2, 0};
static const VerbSpec kImport = {
    "import", "FILE [NAME] [--storage dir|btrfs|auto] [-q]",
    "Make a new container from a tarball written by 'sysc export', named NAME or as in the\n"
    "tarball (refused if it exists). It goes on the default storage backend or --storage; overlay\n"
    "falls back to auto (btrfs or dir), as an export carries no image. It gets new MAC and IPv4\n"
    "addresses unless its config fixes them. Under a new name it also gets its own hostname and\n"
    "machine-id, and fixed addresses are dropped (as 'sysc copy'). Nothing is left behind when it\n"
    "fails.",
    "import /srv/backup/web1.tar.gz\nimport /srv/backup/web1.tar.gz web1-restored", {"FILE", "NAME"}, 1, 1};

static std::string absolute(const std::string& file) {
  std::error_code ec;
  auto p = std::filesystem::absolute(file, ec);
  return ec ? file : p.lexically_normal().string();
}

int verb_export(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("snapshots", po::bool_switch(), "include the container's snapshots");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kExport, opts, args, &a)) return *code;
  const std::string& name = a.positional[0];
  std::string file = absolute(a.positional[1]);
  auto r = Client(ctx.paths).request("POST", container_url(name, "/export"),
                                     nlohmann::json{{"file", file}, {"snapshots", a.vm["snapshots"].as<bool>()}});
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>())
    std::cout << "Exported " << name << " to " << file << " (" << r->json.value("bytes", 0LL) << " bytes, "
              << r->json.value("snapshots", nlohmann::json::array()).size() << " snapshots)\n";
  return kExitOk;
}

int verb_import(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("storage", po::value<std::string>()->default_value(""), "dir, btrfs or auto");
  add_quiet_option(opts);
  VerbArgs a;
  if (auto code = parse_verb_args(kImport, opts, args, &a)) return *code;
  nlohmann::json body = {{"file", absolute(a.positional[0])}, {"storage", a.vm["storage"].as<std::string>()}};
  if (a.positional.size() > 1) body["name"] = a.positional[1];
  auto r = Client(ctx.paths).request("POST", "/1.0/import", body);
  if (!r) return fail(r.error());
  if (!a.vm["quiet"].as<bool>())
    std::cout << "Imported " << r->json.value("name", "") << " (storage " << r->json.value("storage", "") << ")\n";
  return kExitOk;
}

}  // namespace sysc::cli
