// Manager operations on snapshots: create (a running dir/overlay container frozen during the
// copy), list, restore (optionally stopping and starting the container around it), delete. Each holds the container's lock for its whole duration.
#include <ctime>
#include <optional>

#include "common/fs.h"
#include "common/names.h"
#include "lxcd/freeze.h"
#include "lxcd/manager.h"
#include "lxcd/snapshots.h"
#include "lxcd/storage.h"

namespace sysc::lxcd {

namespace {

constexpr int kFreezeTimeoutMs = 5000;

std::string time_name(int64_t now) {
  char buf[32];
  struct tm tm;
  time_t t = static_cast<time_t>(now);
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "snap-%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

Result<json> Manager::snapshot_create(const std::string& name, const std::string& snap_arg) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  auto rec = TRY(record(name));
  auto backend = TRY_CTX(storage::parse(rec.storage), name);
  std::string dir = paths_.container_dir(name);
  int64_t now = time(nullptr);
  std::string snap = snap_arg;
  if (snap.empty()) {
    snap = time_name(now);
    for (int n = 2; path_exists(snapshots::dir_of(dir, snap)); ++n) snap = time_name(now) + "-" + std::to_string(n);
  }
  if (Status st = validate_name(snap); !st) return make_error(name + ": snapshot: " + st.error().message, EINVAL);
  json meta = {{"created_at", now}, {"storage", rec.storage}, {"image", rec.image}, {"template", rec.template_name}};
  if (auto idmap = TRY(store_.idmap(name)))  // the ids on disk as they are now, for a restore
    meta["rootfs_shift"] = idmap->rootfs_shift, meta["shift_complete"] = idmap->shift_complete;
  bool running = rec.state != db::State::Stopped;
  meta["running"] = running;
  auto conf = read_file(paths_.container_conf(name));
  // btrfs snapshots are atomic; a copy of a running container is made with it frozen.
  std::optional<CgroupFreeze> freeze;
  if (running && backend != storage::Backend::Btrfs) freeze.emplace(cg_->paths(cgroup_rel(name)), kFreezeTimeoutMs);
  const bool unfrozen_copy = freeze && !freeze->frozen();
  if (freeze) meta["frozen"] = freeze->frozen();
  Status taken = snapshots::take(backend, dir, snap, meta, conf ? *conf : std::string());
  freeze.reset();  // thaw
  if (!taken) return std::move(taken).error().context(name + ": snapshot " + snap);
  json out = TRY_CTX(snapshots::read(dir, snap), name);
  if (unfrozen_copy)
    out["warning"] = name + " was running and could not be frozen: its files were copied while it wrote to them, so "
                            "the snapshot may be inconsistent (stop it first, or use btrfs storage)";
  events_.publish(name, "snapshot-created", snap);
  return out;
}

Result<json> Manager::snapshots(const std::string& name) {
  TRY(record(name));
  json arr = json::array();
  for (auto& j : snapshots::list(paths_.container_dir(name))) arr.push_back(std::move(j));
  return json{{"snapshots", arr}};
}

Result<json> Manager::snapshot_restore(const std::string& name, const std::string& snap, bool stop) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  auto rec = TRY(record(name));
  TRY(validate_name(snap));
  auto backend = TRY_CTX(storage::parse(rec.storage), name);
  std::string dir = paths_.container_dir(name);
  json meta = TRY_CTX(snapshots::read(dir, snap), name);
  if (meta.value("storage", rec.storage) != rec.storage)
    return make_error(name + ": snapshot " + snap + " was taken on " + meta.value("storage", "") + " storage", EINVAL);
  const bool was_running = rec.state != db::State::Stopped;
  if (was_running && !stop)
    return make_error(name + ": is running; stop it before restoring a snapshot, or pass --stop", EBUSY);
  cancel_restart(name);
  if (was_running) {
    TRY(stop_locked(rec, std::nullopt, false));
    if (TRY(record(name)).state != db::State::Stopped) return make_error(name + ": restore: it did not stop", EBUSY);
  }
  std::string conf_path = paths_.container_conf(name);
  auto old_conf = read_file(conf_path);
  auto snap_conf = read_file(snapshots::dir_of(dir, snap) + "/config");
  // The config is replaced just before the trees are exchanged; if the exchange fails, it is put back.
  // The ids on disk become the snapshot's (not shifted when it records none). Until the exchange is
  // done the live tree may be either one, so the record says "a shift to the snapshot's state was
  // cut short" meanwhile: from any mix of host root's and the range's ids, the next start settles it.
  auto idmap = TRY(store_.idmap(name));
  const uint32_t snap_shift = meta.value("rootfs_shift", 0u);
  const bool snap_complete = meta.value("shift_complete", true);
  bool wrote_conf = false;
  auto before_swap = [&]() -> Status {
    if (idmap) TRY(store_.set_rootfs_shift(name, snap_shift, false));
    if (!snap_conf) return {};
    TRY(write_file_atomic(conf_path, *snap_conf));
    wrote_conf = true;
    return {};
  };
  Status st = snapshots::restore(backend, dir, snap, before_swap);
  if (!st) {
    if (wrote_conf && old_conf) (void)write_file_atomic(conf_path, *old_conf);
    if (idmap) (void)store_.set_rootfs_shift(name, idmap->rootfs_shift, idmap->shift_complete);
    return std::move(st).error().context(name + ": restore " + snap);
  }
  if (idmap) TRY_CTX(store_.set_rootfs_shift(name, snap_shift, snap_complete), name + ": restored " + snap);
  events_.publish(name, "snapshot-restored", snap);
  json out = {{"name", name}, {"snapshot", snap}, {"restarted", false}};
  if (was_running) {
    auto started = start_locked(TRY(record(name)));
    if (!started) return std::move(started).error().context(name + ": restored " + snap + " but the start failed");
    out["restarted"] = true;
  }
  return out;
}

Status Manager::snapshot_delete(const std::string& name, const std::string& snap) {
  auto lock = lock_for(name);
  std::lock_guard<std::mutex> g(*lock);
  TRY(record(name));
  TRY(validate_name(snap));
  TRY_CTX(snapshots::remove(paths_.container_dir(name), snap), name);
  events_.publish(name, "snapshot-deleted", snap);
  return {};
}

}  // namespace sysc::lxcd
