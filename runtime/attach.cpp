// sysc attach: the plan built before forking (parent side, allocates) and the two forked
// children (child1 joins the cgroups and the namespaces, child2 runs inside and execs); the
// children are async-signal-safe only and report failures as a fixed {step, errno} record.
#include "runtime/attach.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <iterator>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/sched.h"
#include "common/unique_fd.h"
#include "runtime/attach_internal.h"
#include "runtime/cgroup.h"

namespace sysc::runtime {

namespace {

using attach_detail::Pty;
using attach_detail::RawMode;
using attach_detail::SignalRelay;

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr size_t kPasswdMax = 64 * 1024;

// The children's steps, in order; the index travels back in the failure record.
enum Step : int {
  kDumpable, kPdeathsig, kStdio, kCgroup, kSetns, kFork, kSetsid, kCtty, kChdir, kSetgroups,
  kSetgid, kSetuid, kCapBset, kCapInheritable, kSeccomp, kSecurity, kExec, kStepCount
};
const char* const kStepNames[] = {
    "prctl(PR_SET_DUMPABLE)", "prctl(PR_SET_PDEATHSIG)", "dup2", "join cgroup", "setns", "fork",
    "setsid", "TIOCSCTTY", "chdir /", "setgroups", "setresgid", "setresuid",
    "capability bounding set", "inheritable capabilities", "seccomp", "security", "exec"};
static_assert(std::size(kStepNames) == kStepCount);

struct ChildReport {
  int32_t step;
  int32_t err;
  int32_t arg;  // kCgroup: index of the v1 tasks file
};

// Everything the children use, built before the fork; the children only read it (and fill the
// fixed buffers), so they never allocate.
struct Plan {
  pid_t parent = 0;
  int pidfd = -1;
  int setns_flags = 0;
  bool joins_userns = false;
  // The init's cgroups (host paths): child1 is cloned into the cgroup2 one and moves itself
  // into the v1 ones (writes "0" to their tasks files).
  attach_detail::CgroupJoin cgroups;
  std::vector<std::string> argv_store, env_store;
  std::vector<char*> argv, envp;
  std::vector<char*> script_argv;  // "/bin/sh", <path>, argv[1..]: execvpe's ENOEXEC fallback
  bool login_shell = false;        // argv was empty: root's shell from the container's passwd
  std::vector<char> passwd;        // buffer for the container's /etc/passwd
  char shell[256] = "/bin/sh";
  char shell_arg0[64] = "-sh";
  const SecurityPolicy* security = nullptr;
  SeccompProgram seccomp;
  sock_fprog fprog{};
  int slave = -1, master = -1, report = -1;
  // What child1 puts on fds 0, 1, 2 (the pty slave, or pipes for the caller's terminals; -1: the
  // CLI's own fd stays) and the CLI's ends of those pipes, which child1 closes.
  int stdio[3] = {-1, -1, -1};
  int relay_ends[3] = {-1, -1, -1};
};

// ---- child side (after fork): async-signal-safe only --------------------------------------

volatile pid_t g_child2 = 0;

void relay_to_child2(int sig) {
  if (g_child2 > 0) kill(g_child2, sig);
}

[[noreturn]] void fail(const Plan& p, Step step, int err, int arg = -1) {
  ChildReport r{step, err, arg};
  ssize_t n = write(p.report, &r, sizeof r);
  (void)n;
  _exit(127);
}

// "0" moves the calling thread, and child1 is single-threaded: no migration by pid, whose
// global lock waits for an RCU grace period.
void join_cgroups(const Plan& p) {
  for (size_t i = 0; i < p.cgroups.tasks.size(); ++i) {
    int fd = open(p.cgroups.tasks[i].c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) fail(p, kCgroup, errno, static_cast<int>(i));
    close(fd);
  }
}

// Root's login shell from the container's /etc/passwd (the mount namespace is the container's
// now). Anything odd (not a regular file, no root line, relative path) keeps /bin/sh.
void resolve_login_shell(Plan& p) {
  int fd = open("/etc/passwd", O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return;
  struct stat st;
  ssize_t n = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = read(fd, p.passwd.data(), p.passwd.size() - 1);
  close(fd);
  if (n <= 0) return;
  p.passwd[n] = '\0';
  for (char* line = p.passwd.data(); line && *line;) {
    char* next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (strncmp(line, "root:", 5) == 0) {
      char* field = line;
      for (int i = 0; i < 6 && field; ++i) field = strchr(field, ':') ? strchr(field, ':') + 1 : nullptr;
      if (field && field[0] == '/' && strlen(field) < sizeof p.shell) {
        strcpy(p.shell, field);
        const char* base = strrchr(field, '/') + 1;
        if (strlen(base) + 2 <= sizeof p.shell_arg0 && *base) {
          p.shell_arg0[0] = '-';
          strcpy(p.shell_arg0 + 1, base);
        }
      }
      return;
    }
    line = next;
  }
}

const char* env_path(char* const* envp) {
  for (; *envp; ++envp)
    if (strncmp(*envp, "PATH=", 5) == 0) return *envp + 5;
  return "/usr/bin:/bin";
}

void try_exec(Plan& p, const char* path) {
  execve(path, p.argv.data(), p.envp.data());
  if (errno == ENOEXEC) {  // a script without #!: run it with /bin/sh, as execvpe does
    p.script_argv[1] = const_cast<char*>(path);
    execve("/bin/sh", p.script_argv.data(), p.envp.data());
    errno = ENOEXEC;
  }
}

// execvpe semantics, with the PATH of the new environment, not the CLI's.
int exec_command(Plan& p) {
  const char* file = p.argv[0];
  if (strchr(file, '/')) {
    try_exec(p, file);
    return errno;
  }
  bool eacces = false;
  char buf[4096];
  size_t flen = strlen(file);
  for (const char* dir = env_path(p.envp.data());; ++dir) {
    const char* end = strchrnul(dir, ':');
    size_t dlen = static_cast<size_t>(end - dir);
    if (dlen + flen + 2 <= sizeof buf) {
      memcpy(buf, dir, dlen);
      size_t off = dlen;
      if (dlen > 0) buf[off++] = '/';
      memcpy(buf + off, file, flen + 1);
      try_exec(p, buf);
      if (errno == EACCES) eacces = true;
      else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT)
        return errno;
    }
    if (*end == '\0') break;
    dir = end;
  }
  return eacces ? EACCES : ENOENT;
}

int exec_login_shell(Plan& p) {
  char* argv[] = {p.shell_arg0, nullptr};
  execve(p.shell, argv, p.envp.data());
  int err = errno;
  if (err == ENOENT && strcmp(p.shell, "/bin/sh") != 0) {
    char* sh_argv[] = {const_cast<char*>("-sh"), nullptr};
    execve("/bin/sh", sh_argv, p.envp.data());
  }
  return err;
}

void reset_signals() {
  struct sigaction sa{};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &sa, nullptr);  // EINVAL for KILL/STOP: fine
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void close_extra_fds() {
  // CLOEXEC rather than close: the report pipe must stay usable until the exec.
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  for (int fd = 3; fd < 65536; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

Step security_step(const char* name) {
  for (Step s : {kCapBset, kCapInheritable, kSeccomp})
    if (name && strcmp(name, kStepNames[s]) == 0) return s;
  return kSecurity;
}

// child2: in every namespace of the container (pid included), in its cgroups, still root of the
// host's credentials; the mount namespace's root is the container's root.
[[noreturn]] void run_child2(Plan& p) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // the command dies with the CLI
  if (setsid() < 0) fail(p, kSetsid, errno);
  // fds 0-2 are already the slave (child1 put them there): it becomes the controlling terminal.
  if (p.slave >= 0 && ioctl(p.slave, TIOCSCTTY, 0) != 0) fail(p, kCtty, errno);
  if (chdir("/") != 0) fail(p, kChdir, errno);
  // setgroups is denied in a user namespace whose setgroups file says "deny": keep going there.
  if (setgroups(0, nullptr) != 0 && !(p.joins_userns && errno == EPERM)) fail(p, kSetgroups, errno);
  if (setresgid(0, 0, 0) != 0) fail(p, kSetgid, errno);
  if (setresuid(0, 0, 0) != 0) fail(p, kSetuid, errno);
  // In a user namespace that was a change of credentials (host root -> the container's root),
  // which cleared the parent-death signal: arm it again.
  if (p.joins_userns && prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(p, kPdeathsig, errno);
  if (p.login_shell) resolve_login_shell(p);
  reset_signals();
  close_extra_fds();
  const char* step = nullptr;
  if (int err = apply_security_in_child(*p.security, &p.fprog, &step)) fail(p, security_step(step), err);
  // Seccomp is loaded: nothing but the exec from here.
  fail(p, kExec, p.login_shell ? exec_login_shell(p) : exec_command(p));
}

// child1: still in the host's namespaces; it joins the container's cgroups (host paths, so
// before the cgroup namespace), then its namespaces, and forks child2 into the pid namespace.
[[noreturn]] void run_child1(Plan& p) {
  // Before anything else: nothing inside may ptrace us or open /proc/PID/exe of a host binary.
  if (prctl(PR_SET_DUMPABLE, 0) != 0) fail(p, kDumpable, errno);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(p, kPdeathsig, errno);
  if (getppid() != p.parent) _exit(127);  // the CLI died before PDEATHSIG was armed
  if (p.master >= 0) close(p.master);
  for (int fd : p.relay_ends)
    if (fd >= 0) close(fd);
  // The caller's terminals never enter the container: they are replaced on fds 0-2 here, before
  // setns, so neither child2 nor anything it execs ever holds one (TIOCSTI would let it type
  // into the caller's shell). Must stay before the fork of child2.
  for (int fd = 0; fd < 3; ++fd) {
    if (p.stdio[fd] < 0) continue;
    // Already in place (the CLI was started with that fd closed): dup2 would keep CLOEXEC.
    int r = p.stdio[fd] == fd ? fcntl(fd, F_SETFD, 0) : dup2(p.stdio[fd], fd);
    if (r < 0) fail(p, kStdio, errno);
  }
  // The CLI's short slice was reset by the fork; this process is as short-lived (the command it
  // forks gets the default again).
  ask_for_short_slice();
  join_cgroups(p);
  cgroup::allow_cpuset_cpus();  // the container's CPUs, not the caller's mask
  if (setns(p.pidfd, p.setns_flags) != 0) fail(p, kSetns, errno);
  // Signals are still blocked (the parent blocked them before the fork): a relayed one stays
  // pending until g_child2 is known.
  struct sigaction sa{};
  sa.sa_handler = relay_to_child2;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(sig, &sa, nullptr);
  pid_t child = fork();
  if (child < 0) fail(p, kFork, errno);
  if (child == 0) run_child2(p);
  g_child2 = child;
  close(p.report);
  // Only child2 holds the slave / the pipes now: the master hangs up and the output pipes reach
  // EOF when it is done.
  for (int fd = 0; fd < 3; ++fd) {
    if (p.stdio[fd] < 0) continue;
    close(p.stdio[fd]);
    close(fd);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int status = 0;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) _exit(127);
  _exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}

// ---- parent side: building the plan --------------------------------------------------------

std::string proc_path(pid_t pid, const char* what) { return "/proc/" + std::to_string(pid) + "/" + what; }

// "\040" and friends in mountinfo fields.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct CgroupMount {
  std::string root, mount_point;
  std::vector<std::string> options;  // super options: controllers, name=..., rw
  bool v2 = false;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

std::vector<CgroupMount> cgroup_mounts(const std::string& mountinfo) {
  std::vector<CgroupMount> out;
  for (const auto& line : split(mountinfo, '\n')) {
    auto f = split(line, ' ');
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash < 5 || dash + 3 >= f.size()) continue;
    const std::string& type = f[dash + 1];
    if (type != "cgroup" && type != "cgroup2") continue;
    out.push_back({unescape_mountinfo(f[3]), unescape_mountinfo(f[4]), split(f[dash + 3], ','), type == "cgroup2"});
  }
  return out;
}

bool has_all(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  for (const auto& w : want)
    if (std::find(have.begin(), have.end(), w) == have.end()) return false;
  return true;
}

bool path_below(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path.compare(0, root.size(), root) == 0 && (path.size() == root.size() || path[root.size()] == '/');
}

Result<attach_detail::CgroupJoin> cgroup_join(pid_t init_pid) {
  std::string mountinfo = TRY_CTX(read_file("/proc/self/mountinfo"), "cgroups");
  std::string proc_cgroup = TRY_CTX(read_file(proc_path(init_pid, "cgroup")), "cgroups");
  return attach_detail::cgroup_join_paths(mountinfo, proc_cgroup);
}

Result<bool> same_namespace(pid_t pid, const char* ns) {
  struct stat mine{}, theirs{};
  std::string self = std::string("/proc/self/ns/") + ns, other = proc_path(pid, "ns/") + ns;
  if (stat(self.c_str(), &mine) != 0) return sys_error("stat " + self);
  if (stat(other.c_str(), &theirs) != 0) return sys_error("stat " + other);
  return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
}

bool has_key(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) return true;
  return false;
}

// argv/envp as char* arrays. The container's env entries win over the defaults.
void build_command(const AttachSpec& spec, bool tty, Plan& p) {
  p.login_shell = spec.argv.empty();
  p.argv_store = spec.argv;
  p.env_store = spec.env;
  if (!has_key(p.env_store, "PATH")) p.env_store.push_back(kDefaultPath);
  if (!has_key(p.env_store, "HOME")) p.env_store.push_back("HOME=/root");
  if (tty && !has_key(p.env_store, "TERM")) {
    const char* term = getenv("TERM");
    p.env_store.push_back(std::string("TERM=") + (term && *term ? term : "xterm"));
  }
  for (auto& s : p.argv_store) p.argv.push_back(s.data());
  p.argv.push_back(nullptr);
  for (auto& s : p.env_store) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  p.script_argv = {const_cast<char*>("/bin/sh"), nullptr};
  for (size_t i = 1; i < p.argv.size(); ++i) p.script_argv.push_back(p.argv[i]);  // ends with nullptr
  if (spec.argv.empty()) p.script_argv.push_back(nullptr);
  if (p.login_shell) p.passwd.resize(kPasswdMax);
}

Result<UniqueFd> open_init(const AttachSpec& spec) {
  if (spec.init_pid <= 1) return make_error("no init pid", EINVAL);
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, spec.init_pid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) return make_error("the container's init (pid " + std::to_string(spec.init_pid) + ") is not running", ESRCH);
    return sys_error("pidfd_open");
  }
  return pidfd;
}

// Namespaces to join. The user namespace only when it differs: joining one's own is EINVAL.
Result<int> setns_flags(pid_t pid, bool* joins_userns) {
  if (TRY(same_namespace(pid, "pid")))
    return make_error("pid " + std::to_string(pid) + " shares the host's pid namespace, not a container's init", EINVAL);
  *joins_userns = !TRY(same_namespace(pid, "user"));
  return (*joins_userns ? CLONE_NEWUSER : 0) | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP;
}

bool use_tty(AttachSpec::Tty mode) {
  if (mode == AttachSpec::Tty::Always) return true;
  if (mode == AttachSpec::Tty::Never) return false;
  return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
}

Error child_error(const Plan& p, const ChildReport& r) {
  std::string step = r.step >= 0 && r.step < kStepCount ? kStepNames[r.step] : "step " + std::to_string(r.step);
  if (r.step == kCgroup && r.arg >= 0 && static_cast<size_t>(r.arg) < p.cgroups.tasks.size()) step += " " + p.cgroups.tasks[r.arg];
  if (r.step == kExec) step += p.login_shell ? " login shell" : std::string(" ") + p.argv[0];
  return sys_error(step, r.err);
}

// Kills and reaps child1 unless released: no half-started attach survives an error.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
};

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

// The command's stdio, owned by the CLI: a pty (TTY mode), or pipes for the caller's terminals.
struct Stdio {
  Pty pty;
  attach_detail::StdioPipes pipes;
};

// A pty made by the CLI in the devpts of a user-namespaced container belongs to host root, which
// is nobody inside: hand it to the container's root (uid 0 in the init's uid_map).
Status give_pty_to_container_root(pid_t init_pid, int slave) {
  std::string map = TRY(read_file(proc_path(init_pid, "uid_map")));
  std::istringstream in(map);
  for (long inside, host, count; in >> inside >> host >> count;) {
    if (inside != 0) continue;
    if (fchown(slave, static_cast<uid_t>(host), static_cast<gid_t>(-1)) != 0) return sys_error("chown pty");
    return {};
  }
  return {};
}

// Everything that allocates or reads /proc, before the fork.
Result<Stdio> build_plan(const AttachSpec& spec, int pidfd, bool tty, Plan& p) {
  p.parent = getpid();
  p.pidfd = pidfd;
  p.setns_flags = TRY_CTX(setns_flags(spec.init_pid, &p.joins_userns), "namespaces");
  p.cgroups = spec.cgroups ? *spec.cgroups : TRY(cgroup_join(spec.init_pid));
  build_command(spec, tty, p);
  p.security = &spec.security;
  p.seccomp = TRY(seccomp_program(spec.security, spec.seccomp_filter));
  p.fprog = p.seccomp.prog();
  Stdio io;
  if (tty) io.pty = TRY_CTX(attach_detail::open_pty(spec.init_pid, isatty(STDIN_FILENO) ? STDIN_FILENO : STDOUT_FILENO), "pty");
  else io.pipes = TRY_CTX(attach_detail::open_stdio_pipes(), "stdio");
  if (tty && p.joins_userns && io.pty.in_container) TRY_CTX(give_pty_to_container_root(spec.init_pid, io.pty.slave.get()), "pty");
  // Every /proc/PID read above was of this very process if it is still alive now (the cgroup
  // paths lxcd gave come from its own read before this pidfd was opened: those of the init it
  // checked belongs to the container).
  if (syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) != 0) return make_error("the container's init exited", ESRCH);
  p.master = io.pty.master.get();
  p.slave = io.pty.slave.get();
  for (int fd = 0; fd < 3; ++fd) p.stdio[fd] = tty ? p.slave : io.pipes.child[fd].get();
  p.relay_ends[0] = io.pipes.in.get();
  p.relay_ends[1] = io.pipes.out.get();
  p.relay_ends[2] = io.pipes.err.get();
  return io;
}

// Sync: the only message is the failure record; EOF means child2 exec'd (its end is CLOEXEC)
// and child1 closed its own.
Status read_report(int fd, const Plan& p) {
  ChildReport r{};
  ssize_t n;
  while ((n = read(fd, &r, sizeof r)) < 0 && errno == EINTR) {
  }
  if (n == sizeof r) return child_error(p, r);
  return {};
}

Result<int> run(Plan& p, Stdio& io, bool tty) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return sys_error("pipe");
  UniqueFd report_r(pipefd[0]), report_w(pipefd[1]);
  p.report = report_w.get();
  UniqueFd cgroup_dir;
  if (!p.cgroups.clone_into.empty()) {
    cgroup_dir.reset(open(p.cgroups.clone_into.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cgroup_dir) return sys_error(std::string(kStepNames[kCgroup]) + ": open " + p.cgroups.clone_into);
  }
  SignalRelay sig;
  TRY(sig.start());  // before the fork: a signal in between is pending, not lost or fatal
  ChildGuard guard;
  // A fork that is born in the init's cgroup2 cgroup (child1 then moves itself into the v1 ones).
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD | (cgroup_dir ? CLONE_INTO_CGROUP : 0);
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.cgroup = cgroup_dir ? static_cast<uint64_t>(cgroup_dir.get()) : 0;
  guard.pid = static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
  if (guard.pid < 0) return sys_error(cgroup_dir ? std::string(kStepNames[kCgroup]) + ": clone3 into " + p.cgroups.clone_into : "clone3");
  if (guard.pid == 0) run_child1(p);
  UniqueFd child_pidfd(pidfd);
  cgroup_dir.reset();
  report_w.reset();
  io.pty.slave.reset();
  for (auto& fd : io.pipes.child) fd.reset();
  TRY(read_report(report_r.get(), p));
  TRY(sig.open());
  RawMode raw;
  if (tty && isatty(STDIN_FILENO)) TRY(raw.enter(STDIN_FILENO));
  int status = tty                  ? TRY(attach_detail::relay_and_wait(guard.pid, child_pidfd.get(), io.pty.master.get(), sig))
               : io.pipes.relayed() ? TRY(attach_detail::relay_pipes_and_wait(guard.pid, child_pidfd.get(), io.pipes, sig))
                                    : TRY(attach_detail::wait_child(guard.pid, child_pidfd.get(), sig));
  guard.pid = -1;  // reaped
  return exit_code(status);
}

}  // namespace

attach_detail::CgroupJoin attach_detail::cgroup_join_paths(const std::string& mountinfo, const std::string& proc_cgroup) {
  auto mounts = cgroup_mounts(mountinfo);
  CgroupJoin out;
  for (const auto& [key, path] : cgroup::parse_proc_cgroup(proc_cgroup)) {
    auto want = split(key, ',');
    const CgroupMount* best = nullptr;
    for (const auto& m : mounts) {
      if (m.v2 != key.empty() || (!m.v2 && !has_all(m.options, want)) || !path_below(path, m.root)) continue;
      if (!best || m.root.size() > best->root.size()) best = &m;  // the mount closest to the path
    }
    if (!best) continue;  // not mounted here: cannot be joined
    std::string rel = best->root == "/" ? path : path.substr(best->root.size());
    std::string dir = best->mount_point + (rel == "/" ? "" : rel);
    if (best->v2) {
      out.clone_into = dir;
    } else if (std::string file = dir + "/tasks"; std::find(out.tasks.begin(), out.tasks.end(), file) == out.tasks.end()) {
      out.tasks.push_back(file);
    }
  }
  return out;
}

Result<int> attach_run(const AttachSpec& spec) {
  auto r = [&]() -> Result<int> {
    UniqueFd pidfd = TRY(open_init(spec));
    const bool tty = use_tty(spec.tty);
    Plan plan;
    Stdio io = TRY(build_plan(spec, pidfd.get(), tty, plan));
    return run(plan, io, tty);
  }();
  if (!r.ok()) return std::move(r).error().context(spec.name + ": attach");
  return r;
}

}  // namespace sysc::runtime
