// Paths: computes the directory layout from one root.
#include "common/paths.h"

#include <cstdlib>
#include <climits>
#include <unistd.h>

namespace sysc {

Paths Paths::under(const std::string& root_in) {
  Paths p;
  std::string root = root_in;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root == "/") root.clear();
  p.root = root;
  p.config_dir = root + "/etc/sysc";
  p.global_conf = p.config_dir + "/sysc.conf";
  p.container_conf_dir = p.config_dir + "/containers";
  p.state_dir = root + "/var/lib/sysc";
  p.db_path = p.state_dir + "/sysc.db";
  p.containers_dir = p.state_dir + "/containers";
  p.cache_dir = root + "/var/cache/sysc";
  p.log_dir = root + "/var/log/sysc";
  p.run_dir = root + "/run/sysc";
  p.socket_path = p.run_dir + "/lxcd.sock";
  p.lock_path = p.run_dir + "/lxcd.lock";
  return p;
}

Paths Paths::from_cli(const std::string& root_flag) {
  if (!root_flag.empty()) return under(root_flag);
  const char* env = std::getenv("SYSC_ROOT");
  return under(env ? env : "");
}

std::string Paths::container_conf(const std::string& n) const { return container_conf_dir + "/" + n + ".conf"; }
std::string Paths::container_dir(const std::string& n) const { return containers_dir + "/" + n; }
std::string Paths::rootfs(const std::string& n) const { return container_dir(n) + "/rootfs"; }
std::string Paths::shim_dir(const std::string& n) const { return run_dir + "/" + n; }
std::string Paths::shim_socket(const std::string& n) const { return shim_dir(n) + "/shim.sock"; }
std::string Paths::shim_exit_file(const std::string& n) const { return shim_dir(n) + "/exit.json"; }
std::string Paths::shim_spec_file(const std::string& n) const { return shim_dir(n) + "/spec.json"; }
std::string Paths::console_log(const std::string& n) const { return log_dir + "/" + n + ".console.log"; }
std::string Paths::daemon_log() const { return log_dir + "/lxcd.log"; }

std::string self_exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string s(buf, static_cast<size_t>(n));
  auto slash = s.rfind('/');
  return slash == std::string::npos ? "." : s.substr(0, slash);
}

}  // namespace sysc
