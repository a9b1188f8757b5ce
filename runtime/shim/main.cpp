// sysc-shim: the per-container supervisor, spawned by lxcd as `sysc-shim` with a status pipe on
// fd 3 and a go pipe on fd 4, before the container it will run is prepared (or before it is even
// asked for: lxcd keeps spares, each of which also makes its run directory ahead). The go pipe brings
// the spec file's path once the file is written (2 bytes of length, then the path), then one
// byte once lxcd has made the container's cgroup. Resolves the whole plan before clone, then
// runs the Supervisor loop. Host side.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <climits>
#include <fcntl.h>
#include <optional>
#include <sched.h>
#include <linux/prctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <vector>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fs.h"
#include "runtime/child_plan.h"
#include "runtime/security.h"
#include "runtime/shim/supervisor.h"

using namespace sysc;

namespace {

constexpr int kStatusFd = 3;
constexpr int kGoFd = 4;

Result<UniqueFd> listen_on(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return make_error("socket path too long: " + path, ENAMETOOLONG);
  path.copy(addr.sun_path, path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sys_error("socket");
  ::unlink(path.c_str());
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return sys_error("bind " + path);
  chmod(path.c_str(), 0600);
  if (listen(fd.get(), 64) != 0) return sys_error("listen " + path);
  return fd;
}

// What a shim can make before it knows its container (a spare waits with it made): the cgroup
// driver for the default preference (the hierarchies, from /proc/self/mountinfo; lxcd too keeps
// its driver for its life) and the console's pty pair. libseccomp asks the kernel what it
// supports once per process: that is done here too.
//
// A spare given a run root (SYSC_SPARE_DIR, ROOT/run/sysc) also makes its run directory there,
// as .spare-PID: its control socket, bound and listening, and an empty spec.json. A start that
// takes the spare renames that directory to the container's and writes the spec into the file,
// so no inode is allocated on the start's path (on a disk-backed /run each costs tens to
// hundreds of microseconds). It is made as .spare-PID.tmp and renamed when complete: lxcd's
// rename succeeds only on a whole one. The socket keeps the name it was bound with, which
// `ss -x` and /proc/net/unix show (.spare-PID.tmp/shim.sock); connecting goes by the path.
struct Prepared {
  Result<std::unique_ptr<cgroup::Driver>> auto_driver = make_error("not made", ENOENT);
  std::string driver_name = "auto";  // of auto_driver
  // The container's cgroup as lxcd asked for it ahead of the spec (runtime::kGoMakeCgroup):
  // empty if it did not; else what making it gave.
  std::string early_cgroup;
  Status early_made;
  Result<shim::Console> console = make_error("not made", ENOENT);
  std::string spare_dir;   // ROOT/run/sysc/.spare-PID, empty if none was made
  UniqueFd spare_listen;   // listening on spare_dir/shim.sock
  struct stat spare_sock {};  // that socket file, to know it again under the container's name
  runtime::PremadeNamespaces premade;  // a spare's: the namespaces of an unprivileged start
};

void make_spare_dir(Prepared& p, const std::string& run_root) {
  const std::string dir = run_root + "/.spare-" + std::to_string(getpid());
  const std::string tmp = dir + ".tmp";
  // At SCHED_OTHER for these few calls: a task at SCHED_IDLE preempted while it holds the run
  // root's lock or a journal handle would hold up lxcd (its starts, its fsyncs) behind it.
  sched_param normal{}, idle{};
  const bool was_idle = sched_getscheduler(0) == SCHED_IDLE && sched_setscheduler(0, SCHED_OTHER, &normal) == 0;
  // Left by an earlier process of this pid (killed before it could remove them): not ours to keep.
  (void)remove_tree(tmp);
  (void)remove_tree(dir);
  if (::mkdir(tmp.c_str(), 0700) == 0) {
    auto fd = listen_on(tmp + "/shim.sock");
    UniqueFd spec(::open((tmp + "/spec.json").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd && spec && ::stat((tmp + "/shim.sock").c_str(), &p.spare_sock) == 0 && ::rename(tmp.c_str(), dir.c_str()) == 0) {
      p.spare_dir = dir;
      p.spare_listen = std::move(*fd);
    } else {
      (void)remove_tree(tmp);
    }
  }
  if (was_idle) sched_setscheduler(0, SCHED_IDLE, &idle);
}

Prepared prepare() {
  Prepared p;
  p.auto_driver = cgroup::make_driver("auto");
  p.console = shim::Console::open_pty();
  runtime::probe_seccomp();
  if (const char* root = getenv("SYSC_SPARE_DIR"); root && *root == '/') {
    make_spare_dir(p, root);
    // At SCHED_OTHER too: making a network namespace takes the kernel's network locks, which a
    // task at SCHED_IDLE could hold for long. Without them the start makes its own.
    sched_param normal{}, idle{};
    const bool was_idle = sched_getscheduler(0) == SCHED_IDLE && sched_setscheduler(0, SCHED_OTHER, &normal) == 0;
    if (auto ns = runtime::PremadeNamespaces::make(); ns) p.premade = std::move(*ns);
    if (was_idle) sched_setscheduler(0, SCHED_IDLE, &idle);
  }
  unsetenv("SYSC_SPARE_DIR");
  return p;
}

// MSG is "DRIVER\nREL\nREADY" (ShimLaunch::make_cgroup): REL made with that driver as
// cgroup::Driver::create does it, only its own level when READY is 1 (lxcd's driver set up those
// above). The outcome waits for the go in early_made.
void make_early_cgroup(Prepared& pre, const std::string& msg) {
  const size_t nl = msg.find('\n');
  const size_t nl2 = nl == std::string::npos ? nl : msg.find('\n', nl + 1);
  const std::string driver = msg.substr(0, nl);
  const std::string rel = nl == std::string::npos ? std::string() : msg.substr(nl + 1, nl2 - nl - 1);
  const bool parents_ready = nl2 != std::string::npos && msg.compare(nl2 + 1, std::string::npos, "1") == 0;
  if (driver != pre.driver_name || !pre.auto_driver) {
    pre.auto_driver = cgroup::make_driver(driver);
    pre.driver_name = driver;
  }
  if (rel.empty() || !pre.auto_driver) return;  // made after the go, or its failure reported then
  pre.early_cgroup = rel;
  if (parents_ready) (*pre.auto_driver)->parents_ready(rel);
  pre.early_made = (*pre.auto_driver)->create(rel);
}

// The control socket in RUN_DIR: the spare's, when lxcd renamed its directory to RUN_DIR; else a
// new one (and the spare's directory, if lxcd did not take it, goes).
Result<UniqueFd> control_socket(const std::string& run_dir, Prepared& pre) {
  if (pre.spare_listen) {
    struct stat st {};
    if (::stat((run_dir + "/shim.sock").c_str(), &st) == 0 && st.st_dev == pre.spare_sock.st_dev &&
        st.st_ino == pre.spare_sock.st_ino)
      return std::move(pre.spare_listen);
    pre.spare_listen.reset();
    (void)remove_tree(pre.spare_dir);
  }
  return listen_on(run_dir + "/shim.sock");
}

Result<int> run(const std::string& spec_path, Prepared& pre) {
  runtime::RuntimeSpec spec = TRY(runtime::spec_from_json(TRY(read_file(spec_path))));
  auto cg = TRY_CTX(spec.cgroup_driver == pre.driver_name && pre.auto_driver ? std::move(pre.auto_driver)
                                                                            : cgroup::make_driver(spec.cgroup_driver),
                    spec.name + ": start failed at cgroup setup");
  // Made ahead only when it is this start's.
  std::optional<Status> early;
  if (!pre.early_cgroup.empty() && pre.early_cgroup == spec.cgroup) early = std::move(pre.early_made);
  else if (!pre.early_cgroup.empty()) (void)cg->destroy(pre.early_cgroup);
  auto console = TRY_CTX(pre.console ? std::move(pre.console) : shim::Console::open_pty(),
                         spec.name + ": start failed at console");
  TRY_CTX(console.open_log(spec.console_log, spec.console_log_max), spec.name + ": start failed at console");
  // The console belongs to the container's root (group tty, 5), so its init can open it.
  if (spec.idmap.enabled() && ::chown(console.slave_path().c_str(), spec.idmap.host_uid, spec.idmap.host_gid + 5) != 0)
    return sys_error(spec.name + ": start failed at console: chown " + console.slave_path());
  auto plan = TRY_CTX(runtime::make_child_plan(spec, cg->container_mounts(), console.slave_path()),
                      spec.name + ": start failed at plan");
  auto listen_fd = TRY_CTX(control_socket(spec.run_dir, pre), spec.name + ": start failed at control socket");
  shim::Supervisor sup(std::move(spec), std::move(plan), std::move(cg), std::move(console), std::move(listen_fd),
                       std::move(pre.premade));
  return sup.run(kStatusFd, kGoFd, std::move(early));
}

// lxcd raises its own descriptor limit (a connection per running container) and passes the soft
// limit it inherited in SYSC_NOFILE_SOFT: the container gets that one back, as without lxcd.
void restore_fd_limit() {
  const char* v = getenv("SYSC_NOFILE_SOFT");
  if (!v) return;
  char* end = nullptr;
  unsigned long long soft = strtoull(v, &end, 10);
  rlimit lim{};
  if (end != v && *end == '\0' && getrlimit(RLIMIT_NOFILE, &lim) == 0 && soft <= lim.rlim_max) {
    lim.rlim_cur = soft;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  unsetenv("SYSC_NOFILE_SOFT");
}

// Exactly SIZE bytes from FD; false on EOF (the start was called off, or lxcd is gone) or error.
bool read_exactly(int fd, void* buf, size_t size) {
  auto* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// `ps` and the tests know a supervisor by the spec file on its command line; it was spawned
// without one, so the command line becomes "sysc-shim SPEC" now. The kernel reads a command line
// from anonymous memory only, and PR_SET_MM_MAP (the whole map, as /proc/self/stat has it) needs
// no capability, where the single PR_SET_MM_ARG_* need CAP_SYS_RESOURCE. Best effort.
void show_spec_in_cmdline(const std::string& spec_path) {
  static const char kName[] = "sysc-shim";
  const size_t size = sizeof kName + spec_path.size() + 1;
  if (size > 8192) return;
  void* area = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return;
  auto* cmdline = static_cast<char*>(area);
  memcpy(cmdline, kName, sizeof kName);
  memcpy(cmdline + sizeof kName, spec_path.c_str(), spec_path.size() + 1);
  const auto start = reinterpret_cast<unsigned long>(cmdline);
  auto stat = read_file("/proc/self/stat");
  size_t paren = stat ? stat->rfind(')') : std::string::npos;
  std::vector<unsigned long long> field(4, 0);  // field[n]: field n of proc_pid_stat(5), from 4 on
  if (paren != std::string::npos && paren + 4 < stat->size()) {
    const char* p = stat->c_str() + paren + 4;  // past ") S "
    char* end = nullptr;
    for (unsigned long long v = strtoull(p, &end, 10); end != p; v = strtoull(p, &end, 10)) {
      field.push_back(v);
      p = end;
    }
  }
  if (field.size() > 51) {
    prctl_mm_map map{};
    map.start_code = field[26];
    map.end_code = field[27];
    map.start_stack = field[28];
    map.start_data = field[45];
    map.end_data = field[46];
    map.start_brk = field[47];
    map.brk = reinterpret_cast<unsigned long>(sbrk(0));
    map.arg_start = start;
    map.arg_end = start + size;
    map.env_start = field[50];
    map.env_end = field[51];
    map.exe_fd = static_cast<uint32_t>(-1);
    if (prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0) == 0) return;
  }
  // The new area lies below the old one (on the stack): start <= end holds at each step.
  if (prctl(PR_SET_MM, PR_SET_MM_ARG_START, start, 0, 0) == 0) prctl(PR_SET_MM, PR_SET_MM_ARG_END, start + size, 0, 0);
}

}  // namespace

int main(int argc, char** argv) {
  // `sysc-shim SPEC` is how an lxcd from before the spare spawned it (still running during an
  // upgrade): the path on the command line, one byte on the go pipe when the file is written.
  if (argc > 2 || fcntl(kGoFd, F_GETFD) < 0) {
    fprintf(stderr, "usage: sysc-shim (started by lxcd: status pipe on fd 3, go pipe on fd 4)\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  restore_fd_limit();
  // Only stdio, the status and the go pipe are ours; anything else leaked from the spawner goes now.
  syscall(SYS_close_range, kGoFd + 1, ~0U, 0);
  if (chdir("/") != 0) return 1;
  Prepared pre = prepare();
  // Wait for lxcd's go: the spec file is written. EOF means the start was called off before
  // that (a configuration error, lxcd gone): nothing to report; the spare's directory goes,
  // unless lxcd took it (then lxcd removes it as the container's run directory).
  std::string spec_path;
  auto called_off = [&] {
    if (!pre.spare_dir.empty()) (void)remove_tree(pre.spare_dir);  // unless lxcd took it (then it is gone)
    if (!pre.early_cgroup.empty() && pre.auto_driver) (void)(*pre.auto_driver)->destroy(pre.early_cgroup);
    return 0;
  };
  if (argc == 2) {
    char go = 0;
    if (!read_exactly(kGoFd, &go, 1)) return called_off();
    spec_path = argv[1];
  } else {
    uint16_t len = 0;
    if (!read_exactly(kGoFd, &len, sizeof len)) return called_off();
    if (len == runtime::kGoMakeCgroup) {
      // The container's cgroup, made now while lxcd writes the spec; its limits, from the spec,
      // are written after the go.
      if (!read_exactly(kGoFd, &len, sizeof len) || len == 0 || len > PATH_MAX) return called_off();
      std::string msg(len, '\0');
      if (!read_exactly(kGoFd, msg.data(), len)) return called_off();
      make_early_cgroup(pre, msg);
      if (!read_exactly(kGoFd, &len, sizeof len)) return called_off();
    }
    if (len == 0 || len > PATH_MAX) return called_off();
    spec_path.assign(len, '\0');
    if (!read_exactly(kGoFd, spec_path.data(), len)) return called_off();
  }
  show_spec_in_cmdline(spec_path);
  Result<int> r = make_error("spare supervisor: still at idle priority", EPERM);
  // A spare waited at SCHED_IDLE and lxcd has set it back; the container's init inherits the
  // policy, so make sure.
  sched_param normal{};
  if (sched_getscheduler(0) != SCHED_IDLE || sched_setscheduler(0, SCHED_OTHER, &normal) == 0) r = run(spec_path, pre);
  if (!r) {
    if (!pre.spare_dir.empty()) (void)remove_tree(pre.spare_dir);  // if lxcd did not take it
    // Failed before the Supervisor could report: tell lxcd on the status pipe.
    std::string msg = r.error().message;
    std::string line = "{\"ok\":false,\"error\":" + std::string("\"");
    for (char c : msg) {
      if (c == '"' || c == '\\') line += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) line += c;
    }
    line += "\"}\n";
    ssize_t ignored = write(kStatusFd, line.data(), line.size());
    (void)ignored;
    fprintf(stderr, "sysc-shim: %s\n", msg.c_str());
    return 1;
  }
  return *r;
}
