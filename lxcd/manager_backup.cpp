// Manager operations on backups: export a stopped container (optionally with its snapshots) to a
// tarball on the host, import one as a new container. The tarball (gzip, or xz for *.xz/*.txz):
//   sysc-export.json   {"format": 1, "name", "template", "storage", "created_at", "exported_at",
//                       "snapshots": [...], "idmap_size", "rootfs_shift"}
//   config             the container's config file
//   rootfs/            the whole root filesystem (overlay: the merged view of image + upper layer)
//   snapshots/SNAP/{config,snapshot.json,rootfs/}   with --snapshots, each as a whole tree too
// GNU tar with --numeric-owner --xattrs --acls keeps owners, modes, set-id bits, xattrs and ACLs.
// Owners (ACLs and file capabilities too) are those the container sees, also for a rootfs whose
// ids are shifted into an unprivileged container's range. Only a tree whose shift was cut short
// keeps its ids on disk; its "rootfs_shift" (sysc-export.json, or its snapshot.json) says where
// the range starts, and import shifts it back.
#include <atomic>
#include <ctime>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/command.h"
#include "common/fs.h"
#include "common/names.h"
#include "common/scope_exit.h"
#include "lxcd/btrfs.h"
#include "lxcd/manager.h"
#include "lxcd/snapshots.h"
#include "lxcd/storage.h"
#include "runtime/idmap.h"
#include "runtime/userns.h"

namespace sysc::lxcd {

namespace {

constexpr int kFormat = 1;
// The ids on disk of a tree: host root's, shifted into the container's range, or a mix of both
// (a shift either way was cut short).
enum class TreeIds { Plain, Shifted, Mixed };
const std::vector<std::string> kTarOptions = {"--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Status check_file_arg(const std::string& file, const std::string& what) {
  if (file.empty() || file[0] != '/') return make_error(what + ": the file must be an absolute path, not '" + file + "'", EINVAL);
  return {};
}

// The config text without fixed hwaddr/ipv4 (they belong to the container it was made from).
std::string without_fixed_addresses(std::string text, const std::string& path) {
  if (auto cfg = config::parse_container(text, path); cfg)
    for (const auto& [i, nic] : cfg->nics) {
      std::string prefix = "net." + std::to_string(i) + ".";
      if (!nic.hwaddr.empty())
        if (auto t = config::unset_value(text, path, prefix + "hwaddr"); t) text = std::move(*t);
      if (nic.ipv4 != "auto")
        if (auto t = config::unset_value(text, path, prefix + "ipv4"); t) text = std::move(*t);
    }
  return text;
}

}  // namespace

Result<json> Manager::export_container(const std::string& name, const std::string& file, bool with_snapshots) {
  TRY(check_file_arg(file, name + ": export"));
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  auto rec = TRY(record(name));
  if (rec.state != db::State::Stopped)
    return make_error(name + ": is running; stop it before exporting (a copy of a running container is not consistent)",
                      EBUSY);
  auto backend = TRY_CTX(storage::parse(rec.storage), name);
  std::string dir = paths_.container_dir(name);
  std::string lower;
  if (backend == storage::Backend::Overlay) lower = TRY_CTX(images_.find(rec.image), name + ": export: its image").rootfs;
  std::vector<json> snaps = with_snapshots ? snapshots::list(dir) : std::vector<json>{};
  json meta = {{"format", kFormat}, {"name", name}, {"template", rec.template_name}, {"storage", rec.storage},
               {"created_at", rec.created_at}, {"exported_at", time(nullptr)}, {"snapshots", json::array()}};
  // Trees go into the archive with the ids the container sees: a tree shifted into the range is
  // read by tar in a user namespace of that range. A tree whose shift was cut short holds both
  // kinds of ids: it goes in as it is, and its rootfs_shift tells import to shift it back.
  auto idmap = TRY(store_.idmap(name));
  auto state_of = [&](uint32_t shift, bool complete) {
    if (shift == 0 && complete) return TreeIds::Plain;
    return idmap && shift == idmap->host_base && complete ? TreeIds::Shifted : TreeIds::Mixed;
  };
  if (idmap) meta["idmap_size"] = idmap->size;
  const TreeIds live_ids = idmap ? state_of(idmap->rootfs_shift, idmap->shift_complete) : TreeIds::Plain;
  if (live_ids == TreeIds::Mixed) meta["rootfs_shift"] = idmap->host_base;
  // A staging directory with the files and empty mount points; the trees are mounted on those in a
  // private mount namespace that ends with the archive (nothing is ever mounted in lxcd's namespace).
  std::string stage = paths_.containers_dir + "/.export-" + name;
  (void)remove_tree(stage);
  std::string tmp_file = file + ".tmp-sysc";
  auto done = [&](Status st) -> Status {
    (void)remove_tree(stage);
    if (!st) ::unlink(tmp_file.c_str());
    return st;
  };
  std::string script = "set -e\ncd " + quote(stage) + "\n";
  std::vector<std::pair<std::string, TreeIds>> trees;  // relative to the stage
  std::vector<std::string> files = {"sysc-export.json", "config"};
  auto mount_tree = [&](const std::string& tree_dir, const std::string& mp) {
    if (backend == storage::Backend::Overlay)  // read-only: both as lower layers, whiteouts honoured
      script += "mount -t overlay -o ro,userxattr,lowerdir=" + quote(tree_dir + ":" + lower) + " overlay " + quote(mp) + "\n";
    else
      script += "mount --bind " + quote(tree_dir) + " " + quote(mp) + "\n";
  };
  // The user namespace's root reads the shifted trees: it must pass through the stage's
  // directories (search only; the files there stay root's own).
  auto stage_dir = [](const std::string& path) -> Status {
    TRY(mkdir_p(path, 0711));
    if (::chmod(path.c_str(), 0711) != 0) return sys_error("chmod " + path);
    return {};
  };
  auto stage_files = [&]() -> Status {
    TRY(stage_dir(stage));
    TRY(stage_dir(stage + "/rootfs"));
    auto conf = read_file(paths_.container_conf(name));
    TRY(write_file_atomic(stage + "/config", conf ? *conf : std::string(), 0600, false));
    storage::Layout l(dir);
    mount_tree(backend == storage::Backend::Overlay ? l.upper : l.rootfs, stage + "/rootfs");
    trees.emplace_back("rootfs", live_ids);
    for (json s : snaps) {
      std::string sn = s.value("name", ""), sd = snapshots::dir_of(dir, sn), rel = "snapshots/" + sn, to = stage + "/" + rel;
      TRY(stage_dir(stage + "/snapshots"));
      TRY(stage_dir(to));
      TRY(stage_dir(to + "/rootfs"));
      auto sconf = read_file(sd + "/config");
      TRY(write_file_atomic(to + "/config", sconf ? *sconf : std::string(), 0600, false));
      TreeIds ids = state_of(s.value("rootfs_shift", 0u), s.value("shift_complete", true));
      s.erase("shift_complete");
      s.erase("rootfs_shift");
      if (ids == TreeIds::Mixed) s["rootfs_shift"] = idmap ? idmap->host_base : 0u;
      TRY(write_file_atomic(to + "/snapshot.json", s.dump(2) + "\n", 0600, false));
      // A snapshot's tree where the layout expects the live one: NAME/snapshots/SNAP/{rootfs,upper}.
      mount_tree(sd + "/" + snapshots::tree_name(backend), to + "/rootfs");
      trees.emplace_back(rel + "/rootfs", ids);
      files.push_back(rel + "/config");
      files.push_back(rel + "/snapshot.json");
      meta["snapshots"].push_back(sn);
    }
    TRY(write_file_atomic(stage + "/sysc-export.json", meta.dump(2) + "\n", 0600, false));
    return {};
  };
  if (Status st = stage_files(); !st) {
    (void)remove_tree(stage);
    return std::move(st).error().context(name + ": export");
  }
  // One uncompressed archive, appended to tree by tree (each as root, or as the range's root),
  // then compressed.
  UniqueFd userns;
  std::string tar_opts;
  for (const auto& o : kTarOptions) tar_opts += " " + quote(o);
  script += "tar -cf archive.tar" + tar_opts;
  for (const auto& f : files) script += " " + quote(f);
  script += "\n";
  for (const auto& [tree, ids] : trees) {
    if (ids != TreeIds::Shifted) {
      script += "tar -rf archive.tar" + tar_opts + " " + quote(tree) + "\n";
      continue;
    }
    if (!userns) {
      auto ns = runtime::make_userns(runtime::IdMap{idmap->host_base, idmap->host_base, idmap->size, false});
      if (!ns) {
        (void)remove_tree(stage);
        return std::move(ns).error().context(name + ": export");
      }
      userns = std::move(*ns);
      std::string owner = std::to_string(idmap->host_base);
      script += "chmod 0600 archive.tar && chown " + owner + ":" + owner + " archive.tar\n";
    }
    script += "nsenter --user=/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(userns.get()) +
              " tar -rf archive.tar" + tar_opts + " " + quote(tree) + "\n";
  }
  bool xz = file.ends_with(".xz") || file.ends_with(".txz");
  script += std::string(xz ? "xz" : "gzip") + " -c archive.tar > " + quote(tmp_file) + "\n";
  Status st = run_command({"unshare", "-m", "--propagation", "private", "sh", "-c", script}, name + ": export to " + file);
  if (st && ::rename(tmp_file.c_str(), file.c_str()) != 0) st = sys_error(name + ": export: rename to " + file);
  TRY(done(std::move(st)));
  struct stat sb{};
  ::stat(file.c_str(), &sb);
  return json{{"name", name}, {"file", file}, {"bytes", static_cast<int64_t>(sb.st_size)}, {"snapshots", meta["snapshots"]}};
}

Result<json> Manager::import_container(const std::string& file, const std::string& name_arg, const std::string& storage) {
  TRY(check_file_arg(file, "import"));
  if (!path_exists(file)) return make_error("import: " + file + ": no such file", ENOENT);
  if (!name_arg.empty()) TRY(validate_name(name_arg));
  TRY(mkdir_p(paths_.containers_dir, 0711));
  static std::atomic<int> counter{0};
  std::string stage = paths_.containers_dir + "/.import-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  (void)remove_tree(stage);
  if (::mkdir(stage.c_str(), 0700) != 0) return sys_error("import: mkdir " + stage);
  ScopeExit cleanup([&stage] { (void)remove_tree(stage); });
  std::vector<std::string> tar = {"tar", "-C", stage, "-xf", file};
  tar.insert(tar.end(), kTarOptions.begin(), kTarOptions.end());
  TRY(run_command(tar, "import " + file));
  auto meta_text = TRY_CTX(read_file(stage + "/sysc-export.json"), "import " + file + ": not a sysc export");
  json meta = json::parse(meta_text, nullptr, false);
  if (!meta.is_object() || !meta.contains("format") || !meta.contains("name"))
    return make_error("import " + file + ": sysc-export.json is unreadable", EINVAL);
  if (meta.value("format", 0) != kFormat)
    return make_error("import " + file + ": export format " + std::to_string(meta.value("format", 0)) +
                          " (this sysc reads format " + std::to_string(kFormat) + ")", EINVAL);
  const std::string old_name = meta.value("name", "");
  const std::string name = name_arg.empty() ? old_name : name_arg;
  TRY(validate_name(name));
  if (!path_exists(stage + "/rootfs/.")) return make_error("import " + file + ": the export has no rootfs", EINVAL);
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  if (TRY(store_.get(name))) return make_error(name + ": already exists", EEXIST);
  std::string dir = paths_.container_dir(name), conf = paths_.container_conf(name);
  if (path_exists(dir) || path_exists(conf))
    return make_error(name + ": " + (path_exists(dir) ? dir : conf) + " already exists", EEXIST);
  // Overlay needs an image for its lower layer, which an export does not carry: dir or btrfs.
  std::string wanted = storage.empty() ? global_.storage_backend : storage;
  if (storage.empty() && wanted == "overlay") wanted = "auto";
  auto backend = TRY_CTX(storage::choose(wanted, paths_.state_dir), name + ": import");
  if (backend == storage::Backend::Overlay)
    return make_error(name + ": import: overlay storage needs an image as its lower layer; use --storage dir or btrfs", EINVAL);
  // Ids shifted into the old container's range go back to host root's: the new container gets its own.
  const uint32_t size = meta.value("idmap_size", 0u);
  auto unshift = [&](const std::string& tree, uint32_t shift) -> Status {
    if (shift != 0 && size != 0) TRY(runtime::shift_tree(tree, shift, 0, size));
    return {};
  };
  if (::mkdir(dir.c_str(), 0700) != 0) return sys_error(name + ": import: create " + dir);
  bool wrote_conf = false, inserted = false;
  auto undo = [&](Error e) {
    if (inserted) (void)store_.remove(name);
    (void)storage::remove(dir);
    if (wrote_conf) ::unlink(conf.c_str());
    return e.context(name + ": import");
  };
  auto materialize = [&]() -> Status {
    TRY(unshift(stage + "/rootfs", meta.value("rootfs_shift", 0u)));
    TRY(storage::adopt(backend, stage + "/rootfs", storage::Layout(dir).rootfs, false));
    for (const auto& sn : meta.value("snapshots", std::vector<std::string>{})) {
      TRY(validate_name(sn));
      std::string from = stage + "/snapshots/" + sn, to = snapshots::dir_of(dir, sn);
      auto sj = TRY(read_file(from + "/snapshot.json"));
      json s = json::parse(sj, nullptr, false);
      if (!s.is_object()) return make_error("snapshot " + sn + ": unreadable snapshot.json", EINVAL);
      TRY(unshift(from + "/rootfs", s.value("rootfs_shift", 0u)));
      s.erase("rootfs_shift");
      s.erase("shift_complete");
      s["storage"] = storage::to_string(backend);
      s["image"] = "";
      TRY(mkdir_p(to, 0700));
      TRY(storage::adopt(backend, from + "/rootfs", to + "/rootfs", /*readonly=*/backend == storage::Backend::Btrfs));
      auto sconf = read_file(from + "/config");
      TRY(write_file_atomic(to + "/config", sconf ? *sconf : std::string()));
      TRY(write_file_atomic(to + "/snapshot.json", s.dump(2) + "\n"));
    }
    if (name != old_name) TRY(storage::personalize(backend, dir, "", name, /*reset_machine=*/true));
    TRY(mkdir_p(paths_.container_conf_dir, 0755));
    auto text = read_file(stage + "/config");
    std::string t = text ? *text : config::default_container_text(name, meta.value("template", ""));
    if (name != old_name) t = without_fixed_addresses(t, conf);
    TRY(write_file_atomic(conf, t));
    wrote_conf = true;
    return {};
  };
  if (Status st = materialize(); !st) return undo(std::move(st).error());
  db::ContainerRecord rec;
  rec.name = name;
  rec.template_name = meta.value("template", "");
  rec.rootfs = paths_.rootfs(name);
  rec.created_at = time(nullptr);
  rec.storage = storage::to_string(backend);
  if (auto st = store_.insert(rec); !st) return undo(std::move(st).error());
  inserted = true;
  auto cfg = load_config(name);
  auto nics = cfg ? plan_nics(name, *cfg) : Result<std::vector<runtime::NicSpec>>(cfg.error());
  if (!nics) return undo(std::move(nics).error());
  (void)network_sync();
  events_.publish(name, "created", "import of " + file);
  json out = to_json(rec);
  out["imported_from"] = old_name;
  out["snapshots"] = meta.value("snapshots", json::array());
  return out;
}

void Manager::remove_stale_backups() {
  std::vector<std::string> stale;
  if (DIR* d = opendir(paths_.containers_dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::string n = e->d_name; n.starts_with(".export-") || n.starts_with(".import-"))
        stale.push_back(paths_.containers_dir + "/" + n);
    closedir(d);
  }
  for (const auto& p : stale) (void)remove_tree(p);
}

}  // namespace sysc::lxcd
