// Manager operations that lay out root filesystems: create (image + storage backend), copy,
// the image list and refresh, and removing images nobody needs any more.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "common/command.h"
#include "common/fs.h"
#include "common/names.h"
#include "common/scope_exit.h"
#include "common/unique_fd.h"
#include "lxcd/btrfs.h"
#include "lxcd/idmap.h"
#include "lxcd/manager.h"
#include "lxcd/snapshots.h"
#include "lxcd/storage.h"
#include "lxcd/templates.h"

namespace sysc::lxcd {

namespace {

bool has_option(const std::vector<std::string>& args, const std::string& opt) {
  for (const auto& a : args) {
    if (a == "--") return false;
    if (a == opt || a.rfind(opt + "=", 0) == 0) return true;
  }
  return false;
}

Result<std::string> template_path(const std::string& name, const std::string& tmpl) {
  if (!validate_name(tmpl)) return make_error(name + ": invalid template name '" + tmpl + "'", EINVAL);
  std::string path = template_dir() + "/" + tmpl;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || access(path.c_str(), X_OK) != 0)
    return make_error(name + ": no template named '" + tmpl + "' in " + template_dir(), EINVAL);
  return path;
}

}  // namespace

std::vector<std::string> Manager::effective_template_args(const std::string& tmpl,
                                                          const std::vector<std::string>& args) const {
  std::vector<std::string> out = args;
  auto mirror = global_.template_mirrors.find(tmpl);
  if (mirror != global_.template_mirrors.end() && !has_option(args, "--mirror"))
    out.insert(out.begin(), {"--mirror", mirror->second});
  return out;
}

Result<Image> Manager::image_for(const std::string& name, const std::string& tmpl, const std::vector<std::string>& args,
                                 bool fresh, int cancel_fd, const std::string& pgid_file,
                                 const std::function<void(int, const std::string&)>& on_progress) {
  auto build = [&](const std::string& rootfs) -> Status {
    std::string tpath = TRY(template_path(name, tmpl));  // only a build needs it: a cached image is used as is
    TemplateRun run{tpath, name, rootfs, fresh ? "" : paths_.cache_dir + "/" + tmpl, paths_.config_dir, args, cancel_fd};
    run.pgid_file = pgid_file;
    if (!run.cache_dir.empty()) TRY(mkdir_p(run.cache_dir, 0700));
    // The template's own percentages fill the first 80% of the create.
    return run_template(run, [&](int pct, const std::string& msg) {
      if (on_progress) on_progress(std::clamp(pct, 0, 100) * 80 / 100, tmpl + ": " + msg);
    });
  };
  return TRY_CTX(images_.get_or_build(tmpl, args, fresh, build), name + ": create failed");
}

Result<std::string> Manager::btrfs_image(const Image& img) {
  std::string dir = paths_.state_dir + "/images";
  std::string path = dir + "/" + img.id;
  if (btrfs::is_subvolume(path)) return path;  // made once under the lock (renamed when complete), never changed
  std::lock_guard<std::mutex> g(images_mu_);
  if (btrfs::is_subvolume(path)) return path;
  TRY(mkdir_p(dir, 0700));
  std::string tmp = dir + "/.tmp-" + img.id;
  if (btrfs::is_subvolume(tmp)) TRY(btrfs::delete_subvolume(tmp));
  TRY(btrfs::create_subvolume(tmp));
  Status st = run_command({"cp", "-a", "--reflink=auto", "--", img.rootfs + "/.", tmp + "/"}, "copy image " + img.id + " to btrfs");
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) st = sys_error("rename " + tmp);
  if (!st) {
    (void)btrfs::delete_subvolume(tmp);
    return std::move(st).error();
  }
  return path;
}

Result<json> Manager::create(const CreateRequest& req) {
  const std::string& name = req.name;
  TRY(validate_name(name));
  TRY(template_path(name, req.tmpl));
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  if (TRY(store_.get(name))) return make_error(name + ": already exists", EEXIST);
  std::string dir = paths_.container_dir(name);
  if (path_exists(dir)) return make_error(name + ": " + dir + " already exists (left over from an earlier container?)", EEXIST);
  TRY_CTX(mkdir_p(paths_.containers_dir, 0711), name);
  auto backend = TRY_CTX(storage::choose(req.storage.empty() ? global_.storage_backend : req.storage, paths_.state_dir), name);
  std::vector<std::string> args = effective_template_args(req.tmpl, req.args);
  // The directory laid out ahead for this backend, else made now; the next one is laid out once
  // this create has ended, whatever its outcome.
  auto later = [&req](std::function<void()> f) {
    if (req.after_answer) req.after_answer->push_back(std::move(f));
    else f();
  };
  ScopeExit want_layout([&later, this, backend] { later([this, backend] { layout_spares_.want(backend); }); });
  const bool laid_out = layout_spares_.take(backend, dir);
  if (!laid_out && ::mkdir(dir.c_str(), 0700) != 0) return sys_error(name + ": create " + dir);
  // From here every failure removes what this create made: no half-created container.
  std::string conf = paths_.container_conf(name);
  bool wrote_conf = false, inserted = false;
  auto undo = [&](Error e) {
    if (inserted) (void)store_.remove(name);
    (void)storage::remove(dir);
    if (wrote_conf) ::unlink(conf.c_str());
    return e;
  };
  // Crash safety: until the row is inserted, DIR is a create in progress. The marker says
  // whether the config file is this create's; a restarted lxcd ends a template still running
  // (its process group is in the pgid file) and removes both (Manager::recover). Recovery undoes
  // any directory without a row, marker or not, so the marker needs no fsync of its own: it
  // lives in the page cache through an lxcd crash, and after a power loss a marker lost with it
  // only leaves the config file, which the next create of the name takes as its own.
  if (auto st = mark_create(name, !path_exists(conf)); !st) return undo(std::move(st).error().context(name));
  auto progress = [&](int pct, const std::string& msg) {
    if (req.on_progress) req.on_progress(pct, msg);
  };
  progress(0, "image of " + req.tmpl + (req.no_cache ? " (rebuilding)" : ""));
  auto img = image_for(name, req.tmpl, args, req.no_cache, req.cancel_fd, template_pgid_file(name), req.on_progress);
  if (!img) return undo(std::move(img).error());
  std::string source = img->rootfs;
  if (backend == storage::Backend::Btrfs) {
    auto sub = btrfs_image(*img);
    if (!sub) return undo(std::move(sub).error().context(name + ": create failed"));
    source = *sub;
  }
  // The next btrfs create of this image finds a spare snapshot, made once this one has ended.
  ScopeExit want_spare([&later, this, id = img->id] { later([this, id] { btrfs_spares_.want(id); }); },
                       /*armed=*/backend == storage::Backend::Btrfs);
  // Overlay lays out four empty directories: no step worth a line of its own.
  if (backend != storage::Backend::Overlay) progress(85, std::string("root filesystem (") + storage::to_string(backend) + ")");
  // btrfs: the image's spare snapshot, when one is ready, else a snapshot made now.
  bool placed = backend == storage::Backend::Btrfs && btrfs_spares_.take(img->id, storage::Layout(dir).rootfs);
  if (!placed) {
    Status st = laid_out ? storage::fill(backend, source, dir) : storage::create(backend, source, dir);
    if (!st) return undo(std::move(st).error().context(name + ": create failed"));
  }
  if (auto st = storage::personalize(backend, dir, img->rootfs, name, /*reset_machine=*/true); !st)
    return undo(std::move(st).error().context(name + ": create failed"));
  if (auto st = mkdir_p(paths_.container_conf_dir, 0755); !st) return undo(std::move(st).error().context(name));
  std::string conf_text;  // what this create wrote, if it wrote the config
  if (!path_exists(conf)) {
    conf_text = config::default_container_text(name, req.tmpl);
    if (auto st = write_file_atomic(conf, conf_text, 0644, /*durable=*/false); !st)
      return undo(std::move(st).error().context(name));
    wrote_conf = true;
  }
  // The one write barrier, right before the commit point (the row): an fsync of the config file
  // this create wrote (else of its directory). On a journaling filesystem (ext4, xfs) it commits
  // every metadata change made so far (the directories, the identity files, the config's
  // rename) with the config's data, so after a power loss a row that survived has its files.
  // The row is as durable as every write of the database (WAL, synchronous=NORMAL); an lxcd
  // crash loses nothing written.
  // On btrfs, with the database in the subvolume that holds the container's directory and
  // copy-on-write (no chattr +C: a NOCOW file is rewritten in place, outside any transaction),
  // the filesystem itself orders the row after the rootfs subvolume: its transactions commit in
  // order, a snapshot made here commits its own, and a rename of a subvolume (a rootfs taken
  // from a spare) turns any fsync in its transaction into a full commit. (The rootfs's
  // personalized files, as on btrfs before, are only as durable as btrfs's commit interval.)
  // A config file written here holds only commented-out defaults: losing it changes nothing.
  // So no barrier there; elsewhere a btrfs create syncs its directory too, which commits the
  // rename.
  if (!(backend == storage::Backend::Btrfs && btrfs::orders_after(paths_.db_path, dir))) {
    if (backend == storage::Backend::Btrfs || !wrote_conf)
      if (auto st = sync_path(dir); !st) return undo(std::move(st).error().context(name));
    if (wrote_conf)
      if (auto st = sync_path(conf); !st) return undo(std::move(st).error().context(name));
  }
  db::ContainerRecord rec;
  rec.name = name;
  rec.template_name = req.tmpl;
  rec.rootfs = paths_.rootfs(name);
  rec.created_at = time(nullptr);
  rec.storage = storage::to_string(backend);
  rec.image = img->id;
  if (auto st = store_.insert(rec); !st) return undo(std::move(st).error());
  inserted = true;
  unmark_create(name);  // the row is the commit point: the create is done
  if (img->built) ::unlink(template_pgid_file(name).c_str());  // only a template run writes it
  // Addresses are given at create time and kept for the container's life.
  auto cfg = wrote_conf ? config::parse_container(conf_text, conf) : load_config(name);
  if (!cfg && wrote_conf) cfg = std::move(cfg).error().context(name + ": invalid configuration");
  auto nics = cfg ? plan_nics(name, *cfg) : Result<std::vector<runtime::NicSpec>>(cfg.error());
  if (!nics) return undo(std::move(nics).error());
  if (!nics->empty()) (void)network_sync(/*forwards=*/false);  // its reservation for dnsmasq
  if (img->built) remove_unused_images();  // a new build may leave older ones unused
  progress(100, "created");
  return to_json(rec);
}

Result<json> Manager::copy(const std::string& src, const std::string& dst) {
  TRY(validate_name(dst));
  if (src == dst) return make_error(dst + ": copy onto itself", EINVAL);
  // Both locks, always in name order: two copies the other way round cannot deadlock.
  auto l1 = lock_for(std::min(src, dst)), l2 = lock_for(std::max(src, dst));
  std::lock_guard<std::mutex> g1(*l1), g2(*l2);
  auto from = TRY(record(src));
  if (from.state != db::State::Stopped) return make_error(src + ": is running; stop it before copying", EBUSY);
  if (TRY(store_.get(dst))) return make_error(dst + ": already exists", EEXIST);
  std::string dir = paths_.container_dir(dst), conf = paths_.container_conf(dst);
  if (path_exists(dir) || path_exists(conf))
    return make_error(dst + ": " + (path_exists(dir) ? dir : conf) + " already exists", EEXIST);
  auto backend = TRY_CTX(storage::parse(from.storage), src);
  std::string lower;
  if (backend == storage::Backend::Overlay) lower = TRY_CTX(images_.find(from.image), src + ": its image").rootfs;
  auto src_conf = read_file(paths_.container_conf(src));
  if (::mkdir(dir.c_str(), 0700) != 0) return sys_error(dst + ": create " + dir);
  bool wrote_conf = false, inserted = false;
  auto undo = [&](Error e) {
    if (inserted) (void)store_.remove(dst);
    (void)storage::remove(dir);
    if (wrote_conf) ::unlink(conf.c_str());
    return e;
  };
  // Crash safety as for create: until the row exists this is a copy in progress, and the config
  // file (written below) is always this copy's own.
  if (auto st = mark_create(dst, /*conf_is_ours=*/true); !st) return undo(std::move(st).error().context(dst));
  if (auto st = storage::copy(backend, paths_.container_dir(src), dir); !st) return undo(std::move(st).error().context(dst + ": copy failed"));
  // A rootfs shifted into SRC's range (or half-way there or back) is SRC's only: the copy's ids go
  // back to host root's, and its first unprivileged start maps or shifts them into its own range.
  if (auto st = unshift_copy_of(store_, src, storage::Layout(dir).rootfs); !st) return undo(std::move(st).error().context(dst + ": copy failed"));
  if (auto st = storage::personalize(backend, dir, lower, dst, /*reset_machine=*/true); !st)
    return undo(std::move(st).error().context(dst + ": copy failed"));
  // The copy's own MAC and address: fixed ones in the source's config would collide.
  std::string text = src_conf ? *src_conf : config::default_container_text(dst, from.template_name);
  if (auto cfg = config::parse_container(text, conf); cfg) {
    for (const auto& [i, nic] : cfg->nics) {
      std::string prefix = "net." + std::to_string(i) + ".";
      if (!nic.hwaddr.empty())
        if (auto t = config::unset_value(text, conf, prefix + "hwaddr"); t) text = std::move(*t);
      if (nic.ipv4 != "auto")
        if (auto t = config::unset_value(text, conf, prefix + "ipv4"); t) text = std::move(*t);
    }
  }
  if (auto st = write_file_atomic(conf, text, 0644, /*durable=*/false); !st) return undo(std::move(st).error().context(dst));
  wrote_conf = true;
  if (auto st = sync_path(conf); !st) return undo(std::move(st).error().context(dst));  // as in create
  db::ContainerRecord rec;
  rec.name = dst;
  rec.template_name = from.template_name;
  rec.rootfs = paths_.rootfs(dst);
  rec.created_at = time(nullptr);
  rec.storage = from.storage;
  rec.image = from.image;
  if (auto st = store_.insert(rec); !st) return undo(std::move(st).error());
  inserted = true;
  unmark_create(dst);
  auto cfg = load_config(dst);
  auto nics = cfg ? plan_nics(dst, *cfg) : Result<std::vector<runtime::NicSpec>>(cfg.error());
  if (!nics) return undo(std::move(nics).error());
  if (!nics->empty()) (void)network_sync(/*forwards=*/false);
  return to_json(rec);
}

Result<json> Manager::images() {
  std::map<std::string, std::vector<std::string>> users;
  for (const auto& r : TRY(store_.list()))
    if (!r.image.empty()) users[r.image].push_back(r.name);
  json arr = json::array();
  std::string last_key;
  for (const auto& img : TRY(images_.list())) {
    arr.push_back({{"id", img.id},
                   {"template", img.template_name},
                   {"args", img.args},
                   {"created_at", img.created_at},
                   {"current", img.key != last_key},
                   {"containers", users[img.id]}});
    last_key = img.key;
  }
  json templates = json::array();
  if (DIR* d = opendir(template_dir().c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      std::string p = template_dir() + "/" + n;
      if (validate_name(n) && access(p.c_str(), X_OK) == 0 && !path_exists(p + "/.")) templates.push_back(n);
    }
    closedir(d);
  }
  std::sort(templates.begin(), templates.end());
  return json{{"templates", templates}, {"images", arr}, {"template_dir", template_dir()}};
}

Result<json> Manager::template_refresh(const std::string& tmpl, const std::vector<std::string>& args, int cancel_fd) {
  TRY(template_path("image", tmpl));
  std::vector<std::string> eff = effective_template_args(tmpl, args);
  // The template sees a neutral name: every container made from the image gets its own later.
  Image img = TRY(image_for("image", tmpl, eff, /*fresh=*/true, cancel_fd, ""));
  remove_unused_images();
  return json{{"id", img.id}, {"template", img.template_name}, {"args", img.args}, {"created_at", img.created_at}};
}

void Manager::remove_unused_images() {
  std::lock_guard<std::mutex> g(images_mu_);
  std::set<std::string> used;
  if (auto all = store_.list(); all) {
    for (const auto& r : *all)
      if (r.storage == "overlay") {
        used.insert(r.image);  // its lower layer; dir and btrfs copies stand alone
        // Its snapshots' upper layers need their image too (the same one, unless recorded otherwise).
        for (const auto& s : snapshots::list(paths_.container_dir(r.name)))
          if (!s.value("image", "").empty()) used.insert(s.value("image", ""));
      }
  } else {
    return;  // without the list nothing can be proven unused
  }
  auto list = images_.list();
  if (!list) return;
  std::set<std::string> keep;
  std::string last_key;
  for (const auto& img : *list) {
    // The newest build of each key stays (the cache); older ones only while a container uses them.
    bool newest = img.key != last_key;
    last_key = img.key;
    if (newest || used.count(img.id)) {
      keep.insert(img.id);
      continue;
    }
    if (Status st = images_.remove(img.id); !st) fprintf(stderr, "lxcd: image %s: %s\n", img.id.c_str(), st.error().message.c_str());
  }
  // btrfs copies of images and their spare snapshots: only while their image is kept. A copy or
  // a spare half made is not being made now (its maker holds images_mu_): it is a leftover.
  std::string bdir = paths_.state_dir + "/images";
  if (DIR* d = opendir(bdir.c_str())) {
    std::vector<std::string> gone;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      bool half_made = n.rfind(".tmp-", 0) == 0;  // an image copy cut short (btrfs_image)
      bool half_spare = false;
      std::string spare_of = BtrfsSpares::image_of(n, &half_spare);
      if (n[0] != '.' ? !keep.count(n) : half_made || half_spare || (!spare_of.empty() && !keep.count(spare_of)))
        gone.emplace_back(bdir + "/" + n);
    }
    closedir(d);
    for (const auto& p : gone)
      if (btrfs::is_subvolume(p)) (void)btrfs::delete_subvolume(p);
  }
}

}  // namespace sysc::lxcd
