// Store: the SQLite inventory of containers. All SQL of sysc lives in db/.
// Thread-safe: one connection guarded by a mutex (lxcd is multi-threaded).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace sysc::db {

enum class State { Stopped, Starting, Running, Stopping };
const char* to_string(State s);                          // "STOPPED", "STARTING", "RUNNING", "STOPPING"
std::optional<State> state_from_string(const std::string& s);

struct ContainerRecord {
  std::string name;
  std::string template_name;
  std::string rootfs;
  int64_t created_at = 0;  // unix seconds
  State state = State::Stopped;
  int init_pid = 0;        // host pid of the container's init, 0 when stopped
  int shim_pid = 0;        // host pid of its sysc-shim, 0 when stopped
  int64_t started_at = 0;  // unix seconds of the last successful start, 0 never
  std::string last_exit;   // why it last stopped: "halted", "killed by SIGKILL", "start failed at mount /proc: ..."
  std::string storage = "dir";  // storage backend of its rootfs: dir | overlay | btrfs
  std::string image;            // image build it was made from ("KEY-BUILD" under the image store), "" none
};

// One network interface of a container: its stable MAC and IPv4 address (host byte order, 0 = none).
struct NicRecord {
  std::string container;
  int index = 0;  // N of [net.N]
  std::string mac;
  uint32_t ipv4 = 0;
};

// A port forward from the host to a container: PROTO HOST_PORT -> CONTAINER:CONTAINER_PORT.
struct PortForward {
  std::string proto;  // "tcp" | "udp"
  int host_port = 0;
  std::string container;
  int container_port = 0;
};

// The host id range of an unprivileged container and the state of its rootfs ids on disk.
struct IdmapRecord {
  std::string container;
  uint32_t host_base = 0;       // uid and gid 0 inside are this id on the host
  uint32_t size = 0;            // ids in the range
  uint32_t rootfs_shift = 0;    // ids on disk start here (0: not shifted, host root's own)
  bool shift_complete = true;   // false: a shift to rootfs_shift was interrupted; redo it
};
// Where ranges may be allocated: [start, start+count).
struct IdPoolRange {
  uint64_t start = 0;
  uint64_t count = 0;
};

class Store {
 public:
  // Opens (creating) the database, sets WAL and a busy timeout, runs pending migrations
  // (PRAGMA user_version). ":memory:" works for tests.
  static Result<Store> open(const std::string& path);
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  int schema_version();
  // Error with code EEXIST and message "NAME: already exists" if the name is taken.
  Status insert(const ContainerRecord& rec);
  Result<std::optional<ContainerRecord>> get(const std::string& name);
  Result<std::vector<ContainerRecord>> list();  // ordered by name
  // Error with code ENOENT "NAME: no such container" if missing (same for the others below).
  Status set_running(const std::string& name, State state, int init_pid, int shim_pid, int64_t started_at);
  Status set_state(const std::string& name, State state);
  // Marks STOPPED, clears pids, stores the reason.
  Status record_exit(const std::string& name, const std::string& last_exit);
  // Removes the container with its NICs (addresses released) and port forwards.
  Status remove(const std::string& name);

  // IPAM. Records NIC INDEX of CONTAINER with MAC and an address: `wanted` if non-zero (EEXIST
  // naming the holder when taken), else the lowest free one in [first, last]. Existing
  // records are returned unchanged (stable across starts). Unique also across processes.
  // `reserved` (the gateway) is never handed out.
  Result<NicRecord> allocate_nic(const std::string& container, int index, const std::string& mac, uint32_t wanted,
                                 uint32_t first, uint32_t last, uint32_t reserved = 0);
  Result<std::vector<NicRecord>> nics(const std::string& container);  // "" = all, by address
  Status remove_nic(const std::string& container, int index);
  // A MAC set in the config replaces the recorded one (EEXIST if another NIC has it).
  Status set_nic_mac(const std::string& container, int index, const std::string& mac);
  // EEXIST ("tcp/8080 is already forwarded to web1:80") when the host port is taken.
  Status add_port_forward(const PortForward& f);
  Status remove_port_forward(const std::string& container, const std::string& proto, int host_port);
  Result<std::vector<PortForward>> port_forwards(const std::string& container);  // "" = all

  // Host id ranges (db/idmap.cpp). The container's range, allocated on first call at the
  // lowest free multiple of SIZE from the start of a POOL range that overlaps no other
  // container's range (ENOSPC when the pool is full); later calls return it unchanged.
  // Released with the container (remove()).
  Result<IdmapRecord> allocate_idmap(const std::string& container, const std::vector<IdPoolRange>& pool, uint32_t size);
  Result<std::optional<IdmapRecord>> idmap(const std::string& container);
  Result<std::vector<IdmapRecord>> idmaps();  // every range, by host_base
  Status set_rootfs_shift(const std::string& container, uint32_t shift, bool complete);
  // Forgets CONTAINER's range (none: nothing to do); the next allocate_idmap gives it a new one.
  Status remove_idmap(const std::string& container);

  // Containers made before unprivileged became the default (migration 5), whose config still has
  // to say security.privileged = true; done_privileged_pin drops one once its config says so.
  Result<std::vector<std::string>> privileged_pins();
  Status done_privileged_pin(const std::string& container);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sysc::db
