// Manager: lxcd's container operations (create, start, stop, destroy, info, attach, console,
// config), per-container locking, reconciliation with running shims. Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "common/paths.h"
#include "common/result.h"
#include "config/config.h"
#include "db/store.h"
#include "lxcd/btrfs_spares.h"
#include "lxcd/idmap_registry.h"
#include "lxcd/layout_spares.h"
#include "lxcd/images.h"
#include "lxcd/events.h"
#include "lxcd/lxcfs.h"
#include "lxcd/monitor.h"
#include "lxcd/network.h"
#include "lxcd/shim_client.h"
#include "runtime/security.h"
#include "runtime/spec.h"
#include "runtime/cgroup.h"

namespace sysc::lxcd {

using nlohmann::json;

struct CreateRequest {
  std::string name, tmpl;
  std::vector<std::string> args;  // template arguments, verbatim
  std::string storage;            // "" = [storage] backend of sysc.conf
  bool no_cache = false;          // build a fresh image from the template's sources
  int cancel_fd = -1;             // the client's connection: a hang-up cancels the template
  std::function<void(int, const std::string&)> on_progress;  // percent, what happens now
  // Set: what the create leaves for after its answer (waking the threads that make the spares
  // of the next create: a wake-up costs the waker tens of microseconds on a virtual machine),
  // to be run by the caller once the answer is written. Unset: the create runs it itself.
  std::vector<std::function<void()>>* after_answer = nullptr;
};

// Error codes map to HTTP statuses at the API edge: EINVAL 400, ENOENT 404,
// EEXIST/EALREADY/ESRCH/EBUSY 409, anything else 500.
class Manager {
 public:
  Manager(Paths paths, config::GlobalConfig global, db::Store store, std::unique_ptr<cgroup::Driver> cg,
          std::string shim_path, int log_fd, std::unique_ptr<Network> network);

  ~Manager();  // stops the hosting threads (hosting.cpp)

  // At daemon start: re-adopt running shims, record containers that died meanwhile.
  void reconcile();
  // At daemon start, after reconcile() and before serving (recovery.cpp): finish what a killed
  // lxcd left half done (creates are undone, destroys completed) and remove what belongs to no
  // running container of this root: run dirs, cgroups under the parent, host veths, mounts.
  void recover();

  Result<json> list();
  Result<json> info(const std::string& name);
  Result<json> create(const CreateRequest& req);
  // A new container DST from the stopped SRC: same files, its own hostname, MAC, address, machine-id.
  Result<json> copy(const std::string& src, const std::string& dst);
  // Snapshots (manager_snapshots.cpp). SNAP "" = a name from the current time. A running dir or
  // overlay container is frozen (cgroup freezer) during the copy; if that fails it is copied
  // while it runs and the answer carries a "warning".
  Result<json> snapshot_create(const std::string& name, const std::string& snap);
  Result<json> snapshots(const std::string& name);
  // Refused while running unless STOP: then stopped, restored and started again.
  Result<json> snapshot_restore(const std::string& name, const std::string& snap, bool stop);
  Status snapshot_delete(const std::string& name, const std::string& snap);
  // Backups (manager_backup.cpp): a tarball FILE on the host; the container must be stopped.
  Result<json> export_container(const std::string& name, const std::string& file, bool with_snapshots);
  // A new container from FILE, named NAME ("" = the name in the tarball), on STORAGE.
  Result<json> import_container(const std::string& file, const std::string& name, const std::string& storage);
  Result<json> images();  // templates available and image builds with the containers using them
  Result<json> template_refresh(const std::string& tmpl, const std::vector<std::string>& args, int cancel_fd);
  Result<json> start(const std::string& name);
  Result<json> stop(const std::string& name, std::optional<int> timeout, bool force);
  Result<json> restart(const std::string& name, std::optional<int> timeout, bool force);
  Status destroy(const std::string& name, bool force);
  Result<json> attach_info(const std::string& name);
  // Hands the client's socket to the container's supervisor as a console client.
  Status console(const std::string& name, int client_fd);
  Result<std::string> console_log(const std::string& name);
  Result<json> config_show(const std::string& name);
  Result<json> config_get(const std::string& name, const std::string& key);
  Result<json> config_set(const std::string& name, const std::string& key, const std::string& value);
  Status config_unset(const std::string& name, const std::string& key);
  std::string root() const { return paths_.root; }
  // lxcfs's view for the containers started from now on (nullptr: the host's values).
  void set_lxcfs(Lxcfs* lxcfs) { lxcfs_ = lxcfs; }

  // Long-lived hosting (hosting.cpp). Once the API listens: autostart (once per host boot, in a
  // background thread) and the ticker thread (restart policy timers, OOM-kill polling).
  void start_hosting();
  // Stops every running container in the reverse autostart sequence, a wave at a time (each
  // container in a wave in parallel, with its own stop timeout). {"stopped": [...], "failed": [...]}
  Result<json> shutdown_all();
  EventBus& events() { return events_; }

  // Networking: the bridge and its services, port forwards.
  Status network_up();  // at daemon start: bridge, NAT, dnsmasq, reservations, forwards
  Result<json> network_show();
  Status network_remove();  // refused while a container runs
  Result<json> ports(const std::string& name);
  Result<json> port_add(const std::string& name, const std::string& proto, int host_port, int container_port);
  Status port_remove(const std::string& name, const std::string& proto, int host_port);

 private:
  std::shared_ptr<std::mutex> lock_for(const std::string& name);
  Result<db::ContainerRecord> record(const std::string& name);
  Result<config::ContainerConfig> load_config(const std::string& name);
  Result<json> start_locked(const db::ContainerRecord& rec);
  Result<json> stop_locked(const db::ContainerRecord& rec, std::optional<int> timeout, bool force);
  void on_shim_event(const std::string& name, int shim_pid, const json& ev);
  void on_shim_gone(const std::string& name, int shim_pid);
  // After a shim ended: record the reason (if this shim is still the recorded one) and clean up.
  // An exit the record still called RUNNING was not asked for: the restart policy hears of it.
  void settle_exit(const std::string& name, int shim_pid, const std::string& reason);
  void cleanup_run_state(const std::string& name, int shim_pid);
  // The part of destroy after the directory was renamed to its trash name: config, logs, run
  // dir, the row and its addresses, the trash. Also what recover() runs for a destroy cut short.
  Status finish_destroy(const std::string& name);
  // Crash-safety markers (recovery.cpp): the trash name of a container being destroyed, and the
  // marks of a create in progress on and in its directory.
  std::string trash_dir(const std::string& name) const { return paths_.containers_dir + "/.destroy-" + name; }
  // A create (or copy) in progress marks its directory with whether the config file is its own.
  // The mark is an extended attribute of the directory (no inode to allocate), or the file
  // .sysc-create in it where the filesystem takes no trusted.* attributes.
  Status mark_create(const std::string& name, bool conf_is_ours);
  void unmark_create(const std::string& name);
  bool create_owns_conf(const std::string& name);
  std::string create_marker(const std::string& name) const { return paths_.container_dir(name) + "/.sysc-create"; }
  std::string template_pgid_file(const std::string& name) const {
    return paths_.container_dir(name) + "/.sysc-template-pgid";
  }
  // recover() steps (recovery.cpp).
  void recover_run_dirs(const std::vector<std::string>& running);
  void recover_container_dirs();
  void undo_create(const std::string& name);
  void recover_cgroups(const std::vector<std::string>& running);
  void recover_veths(const std::vector<std::string>& running);
  void recover_mounts(const std::vector<std::string>& running);
  void keep_privileged();
  void recover_idmap_claims();
  std::string cgroup_rel(const std::string& name) const { return global_.cgroup_parent + "/" + name; }
  // The levels above the containers' cgroups made and set up by lxcd's driver (once, through a
  // probe cgroup made and removed again): supervisors told so make only a container's own level.
  bool cgroup_parents_ready();
  json to_json(const db::ContainerRecord& r) const;
  // Records (or confirms) the addresses of the container's veth NICs; the runtime's view of them.
  Result<std::vector<runtime::NicSpec>> plan_nics(const std::string& name, const config::ContainerConfig& cfg);
  Status network_sync(bool forwards = true);  // forwards=false: dnsmasq's files only
  // Storage (manager_storage.cpp).
  std::vector<std::string> effective_template_args(const std::string& tmpl, const std::vector<std::string>& args) const;
  Result<Image> image_for(const std::string& name, const std::string& tmpl, const std::vector<std::string>& args,
                          bool fresh, int cancel_fd, const std::string& pgid_file,
                          const std::function<void(int, const std::string&)>& on_progress = {});
  Result<std::string> btrfs_image(const Image& img);  // the image as a subvolume on the state filesystem
  void remove_unused_images();
  void remove_stale_backups();  // staging dirs of exports/imports cut short by a crash
  // Where the init program is looked up on the host (halt signal detection): the rootfs, or for
  // overlay the upper layer when it has the init, else the image.
  std::string host_view_rootfs(const db::ContainerRecord& rec, const std::string& init);
  std::map<std::string, std::string> first_addresses();  // container -> "10.x.y.z" of net.0

  // Hosting (hosting.cpp). A container stopped without being asked to (its record said RUNNING):
  // the restart policy decides. Called with the container's lock held.
  void load_boot_state();  // constructor: boot_id_, new_boot_
  void on_unrequested_exit(const db::ContainerRecord& before, const std::string& reason);
  bool cancel_restart(const std::string& name);  // true if one was pending
  void on_started(const std::string& name, int shim_pid, int init_pid);  // events, OOM baseline
  void hosting_info(const std::string& name, json& j);
  void run_autostart();
  void wait_ready(const std::string& dep, const std::string& dependent);
  void attempt_restart(const std::string& name);
  void tick();
  void poll_oom();
  bool hosting_sleep(int ms);  // false when lxcd is quitting

  struct RestartState {
    int count = 0;             // restarts done by the policy (since lxcd started)
    int failures = 0;          // consecutive unrequested exits, for the backoff
    int64_t next_at_ms = 0;    // unix ms of the pending attempt, 0 none
    std::string reason;        // why it stopped
  };
  EventBus events_;
  std::mutex hosting_mu_;
  std::condition_variable hosting_cv_;
  bool quit_ = false;
  bool shutting_down_ = false;
  bool hosting_started_ = false;
  std::string boot_id_;
  bool new_boot_ = true;  // no autostart recorded for this boot id yet
  std::map<std::string, RestartState> restarts_;
  std::map<std::string, std::pair<int, uint64_t>> oom_seen_;  // name -> (shim pid, OOM kills seen)

  Paths paths_;
  config::GlobalConfig global_;
  db::Store store_;
  IdRegistry idmaps_;  // host-wide claims of id ranges ([security] idmap_registry)
  std::unique_ptr<cgroup::Driver> cg_;
  std::string shim_path_;
  int log_fd_;
  ShimPool shims_;  // the spare supervisor for the next start
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
  // attach_info's answers (the init pid aside), with the texts of the two files each was made
  // from: the container's config and its spec file.
  struct AttachAnswer {
    std::string conf, spec;
    json answer;
  };
  std::mutex attach_mu_;
  std::map<std::string, AttachAnswer> attach_cache_;
  std::string mountinfo_;  // lxcd's /proc/self/mountinfo (attach_mu_), read again when it changed:
  UniqueFd mountinfo_fd_;  // polled for that
  std::map<std::string, json> cgroups_answers_;  // attach_cgroups' answers by PROC_CGROUP, for mountinfo_
  // Compiled seccomp programs by their rules (and allow_compat): a start puts its policy's into
  // the spec, so the supervisor does not compile it on the start's path; an attach sends it.
  std::mutex seccomp_mu_;
  std::map<std::string, std::vector<sock_filter>> seccomp_programs_;
  Result<std::vector<sock_filter>> seccomp_program(const runtime::SecurityPolicy& policy);
  // The "cgroups" of an attach answer: where the init's cgroups (PROC_CGROUP, its /proc/PID/cgroup)
  // are in lxcd's mount namespace, which is named too; null if that cannot be known.
  json attach_cgroups(const std::string& proc_cgroup);
  std::unique_ptr<Network> net_;
  std::mutex net_mu_;  // serializes network_sync (files + nft transaction)
  std::mutex parents_mu_;
  bool parents_ready_ = false;  // cgroup_parents_ready() succeeded once
  ImageStore images_;
  std::mutex images_mu_;  // image removal and btrfs image copies
  BtrfsSpares btrfs_spares_;  // a snapshot of each btrfs image copy, made ahead of the next create
  LayoutSpares layout_spares_;  // an empty container directory per backend, laid out ahead likewise
  Monitor monitor_;
  Lxcfs* lxcfs_ = nullptr;
  std::thread ticker_, autostart_;  // last: they stop before anything they use is destroyed
};

}  // namespace sysc::lxcd
