// Paths: every file location sysc uses, relocatable under one root (--root / SYSC_ROOT).
#pragma once

#include <string>

namespace sysc {

struct Paths {
  std::string root;           // "" for the host's real directories, else an absolute prefix
  std::string config_dir;     // ROOT/etc/sysc
  std::string global_conf;    // ROOT/etc/sysc/sysc.conf
  std::string container_conf_dir;  // ROOT/etc/sysc/containers
  std::string state_dir;      // ROOT/var/lib/sysc
  std::string db_path;        // ROOT/var/lib/sysc/sysc.db
  std::string containers_dir; // ROOT/var/lib/sysc/containers
  std::string cache_dir;      // ROOT/var/cache/sysc
  std::string log_dir;        // ROOT/var/log/sysc
  std::string run_dir;        // ROOT/run/sysc
  std::string socket_path;    // ROOT/run/sysc/lxcd.sock
  std::string lock_path;      // ROOT/run/sysc/lxcd.lock

  // `root` as given; empty means the host's real directories.
  static Paths under(const std::string& root);
  // --root value if non-empty, else $SYSC_ROOT, else "".
  static Paths from_cli(const std::string& root_flag);

  std::string container_conf(const std::string& name) const;  // .../containers/NAME.conf
  std::string container_dir(const std::string& name) const;   // .../containers/NAME
  std::string rootfs(const std::string& name) const;          // .../containers/NAME/rootfs
  std::string shim_dir(const std::string& name) const;        // ROOT/run/sysc/NAME
  std::string shim_socket(const std::string& name) const;     // ROOT/run/sysc/NAME/shim.sock
  std::string shim_exit_file(const std::string& name) const;  // ROOT/run/sysc/NAME/exit.json
  std::string shim_spec_file(const std::string& name) const;  // ROOT/run/sysc/NAME/spec.json
  std::string console_log(const std::string& name) const;     // ROOT/var/log/sysc/NAME.console.log
  std::string daemon_log() const;                             // ROOT/var/log/sysc/lxcd.log
};

// The directory holding the running executable (for finding lxcd, sysc-shim, templates).
std::string self_exe_dir();

}  // namespace sysc
