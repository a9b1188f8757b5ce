// Manager: lxcd's container operations (create, start, stop, destroy, info, attach, console,
// config), per-container locking, reconciliation with running shims. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/paths.h"
#include "common/result.h"
#include "config/config.h"
#include "db/store.h"
#include "lxcd/monitor.h"
#include "lxcd/network.h"
#include "runtime/spec.h"
#include "runtime/cgroup.h"

namespace sysc::lxcd {

using nlohmann::json;

// Error codes map to HTTP statuses at the API edge: EINVAL 400, ENOENT 404,
// EEXIST/EALREADY/ESRCH/EBUSY 409, anything else 500.
class Manager {
 public:
  Manager(Paths paths, config::GlobalConfig global, db::Store store, std::unique_ptr<cgroup::Driver> cg,
          std::string shim_path, int log_fd, std::unique_ptr<Network> network);

  // At daemon start: re-adopt running shims, record containers that died meanwhile.
  void reconcile();
  // At daemon start, after reconcile() and before serving (recovery.cpp): finish what a killed
  // lxcd left half done (creates are undone, destroys completed) and remove what belongs to no
  // running container of this root: run dirs, cgroups under the parent, host veths, mounts.
  void recover();

  Result<json> list();
  Result<json> info(const std::string& name);
  Result<json> create(const std::string& name, const std::string& tmpl, const std::vector<std::string>& args);
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
  void settle_exit(const std::string& name, int shim_pid, const std::string& reason);
  void cleanup_run_state(const std::string& name, int shim_pid);
  // The part of destroy after the directory was renamed to its trash name: config, logs, run
  // dir, the row and its addresses, the trash. Also what recover() runs for a destroy cut short.
  Status finish_destroy(const std::string& name);
  // Crash-safety markers (recovery.cpp): the trash name of a container being destroyed, and the
  // files of a create in progress inside its directory.
  std::string trash_dir(const std::string& name) const { return paths_.containers_dir + "/.destroy-" + name; }
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
  std::string cgroup_rel(const std::string& name) const { return global_.cgroup_parent + "/" + name; }
  json to_json(const db::ContainerRecord& r) const;
  // Records (or confirms) the addresses of the container's veth NICs; the runtime's view of them.
  Result<std::vector<runtime::NicSpec>> plan_nics(const std::string& name, const config::ContainerConfig& cfg);
  Status network_sync();
  std::map<std::string, std::string> first_addresses();  // container -> "10.x.y.z" of net.0

  Paths paths_;
  config::GlobalConfig global_;
  db::Store store_;
  std::unique_ptr<cgroup::Driver> cg_;
  std::string shim_path_;
  int log_fd_;
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
  std::unique_ptr<Network> net_;
  std::mutex net_mu_;  // serializes network_sync (files + nft transaction)
  Monitor monitor_;
};

}  // namespace sysc::lxcd
