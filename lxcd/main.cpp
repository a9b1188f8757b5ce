// lxcd: the sysc manager daemon. One instance per root (flock), owns the database and config,
// re-adopts running shims, then serves the API. Never clones containers itself.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <optional>
#include <sys/resource.h>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "common/fs.h"
#include "common/paths.h"
#include "lxcd/manager.h"
#include "lxcd/server.h"

using namespace sysc;

namespace {

void usage(FILE* f) {
  fprintf(f,
          "usage: lxcd [--root DIR]\n"
          "The sysc manager daemon. `sysc` starts it on demand; on hosts with systemd it runs as a unit.\n"
          "  --root DIR   keep all state under DIR (default: $SYSC_ROOT, else the host's /etc, /var, /run)\n");
}

Result<config::GlobalConfig> load_global(const Paths& paths) {
  TRY(mkdir_p(paths.config_dir, 0755));
  if (!path_exists(paths.global_conf)) TRY(write_file_atomic(paths.global_conf, config::default_global_text()));
  return config::parse_global(TRY(read_file(paths.global_conf)), paths.global_conf);
}

// [daemon] socket_group as a gid; a group that does not exist is an error, not a silent "root only".
Result<std::optional<lxcd::SocketGroup>> socket_group(const config::GlobalConfig& global, const Paths& paths) {
  if (global.socket_group.empty()) return std::optional<lxcd::SocketGroup>();
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  int rc = getgrnam_r(global.socket_group.c_str(), &gr, buf.data(), buf.size(), &found);
  if (rc != 0) return sys_error(paths.global_conf + ": [daemon] socket_group: look up group '" + global.socket_group + "'", rc);
  if (!found) return make_error(paths.global_conf + ": [daemon] socket_group: no group named '" + global.socket_group + "'", ENOENT);
  return std::optional<lxcd::SocketGroup>(lxcd::SocketGroup{found->gr_gid, global.socket_group});
}

// A connection per running container (its monitor watch) plus a few per request: a thousand
// containers need more descriptors than the usual soft limit of 1024. The soft limit goes up to
// the hard one; the shims give their containers the inherited value back (SYSC_NOFILE_SOFT).
void raise_fd_limit() {
  unsetenv("SYSC_NOFILE_SOFT");
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  std::string inherited = std::to_string(lim.rlim_cur);
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) == 0) setenv("SYSC_NOFILE_SOFT", inherited.c_str(), 1);
}

Result<int> run(const Paths& paths) {
  for (const auto& d : {paths.run_dir, paths.state_dir, paths.log_dir, paths.cache_dir, paths.container_conf_dir})
    TRY(mkdir_p(d, 0755));
  ::chmod(paths.run_dir.c_str(), 0711);
  // One lxcd per root: a second one (two CLIs racing to start it) leaves quietly.
  UniqueFd lock(::open(paths.lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return sys_error("open " + paths.lock_path);
  if (flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return 0;
    return sys_error("lock " + paths.lock_path);
  }
  // The lock file names the holder, for scripts and tests.
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(lock.get(), 0) != 0 || pwrite(lock.get(), pid.data(), pid.size(), 0) < 0)
    return sys_error("write " + paths.lock_path);
  auto global = TRY(load_global(paths));
  auto group = TRY(socket_group(global, paths));
  auto store = TRY(db::Store::open(paths.db_path));
  auto cg = TRY(cgroup::make_driver(global.cgroup_driver));
  std::string shim = self_exe_dir() + "/sysc-shim";
  if (access(shim.c_str(), X_OK) != 0) return make_error("supervisor binary not found: " + shim, ENOENT);
  UniqueFd log(::open(paths.daemon_log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log) return sys_error("open " + paths.daemon_log());
  cgroup::Layout layout = cg->layout();
  auto network = TRY(lxcd::Network::create(paths, global.network));
  lxcd::Manager manager(paths, global, std::move(store), std::move(cg), shim, log.get(), std::move(network));
  // Before reconcile: a live lxcfs mount of this root (running containers use it) is adopted.
  lxcd::Lxcfs lxcfs(paths, global.resources, log.get());
  if (global.resources.lxcfs) {
    lxcfs.start();
    manager.set_lxcfs(&lxcfs);
  }
  manager.reconcile();
  manager.recover();  // before serving: nothing else touches containers yet
  // Never fatal: containers without a veth still work, and the next start retries.
  if (Status st = manager.network_up(); !st) fprintf(stderr, "lxcd: %s (continuing)\n", st.error().message.c_str());
  fprintf(stderr, "lxcd: serving on %s (cgroup driver: %s)\n", paths.socket_path.c_str(), cgroup::to_string(layout));
  TRY(lxcd::serve(paths.socket_path, manager, group, [&manager] { manager.start_hosting(); }));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string root;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--root" && i + 1 < argc) {
      root = argv[++i];
    } else if (a.rfind("--root=", 0) == 0) {
      root = a.substr(7);
    } else {
      fprintf(stderr, "lxcd: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (geteuid() != 0) {
    fprintf(stderr, "lxcd: must run as root\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stderr, nullptr, _IOLBF, 0);
  raise_fd_limit();
  auto r = run(Paths::from_cli(root));
  if (!r) {
    fprintf(stderr, "lxcd: %s\n", r.error().message.c_str());
    return 1;
  }
  return *r;
}
