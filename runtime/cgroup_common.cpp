// Cgroup parsers (mountinfo, /proc/PID/cgroup), layout detection, driver choice and the
// control-file helpers both drivers share. Host side only.
#include "runtime/cgroup.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <thread>
#include <unistd.h>

#include "common/fs.h"
#include "common/unique_fd.h"
#include "runtime/cgroup_internal.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace sysc::cgroup {

void allow_cpuset_cpus() {
  unsigned char all[8192 / 8];  // the kernel's largest NR_CPUS; it reads as many bits as it has
  memset(all, 0xff, sizeof all);
  (void)syscall(SYS_sched_setaffinity, 0, sizeof all, all);
}

const char* to_string(Layout l) {
  switch (l) {
    case Layout::Legacy: return "legacy";
    case Layout::Hybrid: return "hybrid";
    case Layout::Unified: return "unified";
  }
  return "unknown";
}

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
std::string unescape_octal(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() &&
        std::all_of(s.begin() + i + 1, s.begin() + i + 4, [](char c) { return c >= '0' && c <= '7'; })) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Super options of a v1 cgroup mount that are not controllers.
bool is_generic_option(const std::string& o) {
  static const std::set<std::string> kGeneric = {
      "rw",       "ro",          "relatime", "norelatime",     "strictatime", "noatime",
      "nodiratime", "nosuid",    "nodev",    "noexec",         "sync",        "async",
      "dirsync",  "lazytime",    "mand",     "silent",         "clone_children", "xattr",
      "noprefix", "none",        "cpuset_v2_mode", "favordynmods", ""};
  return kGeneric.count(o) != 0 || o.find('=') != std::string::npos;
}

Hierarchy v1_hierarchy(const std::string& mount_point, const std::string& super_opts) {
  Hierarchy h;
  h.mount_point = mount_point;
  for (const std::string& o : split(super_opts, ',')) {
    if (o.rfind("name=", 0) == 0) {
      h.name = o.substr(5);
    } else if (!is_generic_option(o)) {
      h.controllers.push_back(o);
    }
  }
  return h;
}

}  // namespace

std::vector<Hierarchy> parse_mountinfo(const std::string& mountinfo) {
  std::vector<Hierarchy> out;
  std::set<std::string> seen_devs;  // a bind mount of a hierarchy shares its major:minor
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    for (std::string tok; ls >> tok;) f.push_back(tok);
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
    auto sep = std::find(f.begin() + std::min<size_t>(f.size(), 6), f.end(), "-");
    if (f.size() < 6 || sep == f.end() || f.end() - sep < 3) continue;
    const std::string& fstype = *(sep + 1);
    const std::string super_opts = f.end() - sep >= 4 ? *(sep + 3) : "";
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    if (!seen_devs.insert(f[2]).second) continue;
    std::string mount_point = unescape_octal(f[4]);
    if (fstype == "cgroup2") {
      Hierarchy h;
      h.mount_point = mount_point;
      h.v2 = true;
      out.push_back(std::move(h));
    } else {
      out.push_back(v1_hierarchy(mount_point, super_opts));
    }
  }
  return out;
}

Layout detect_layout(const std::vector<Hierarchy>& hs, bool sys_fs_cgroup_is_cgroup2) {
  bool any_v1 = false, any_v2 = false;
  for (const Hierarchy& h : hs) {
    if (h.v2 && h.mount_point == "/sys/fs/cgroup") sys_fs_cgroup_is_cgroup2 = true;
    (h.v2 ? any_v2 : any_v1) = true;
  }
  if (sys_fs_cgroup_is_cgroup2) return Layout::Unified;
  if (any_v1 && any_v2) return Layout::Hybrid;
  if (any_v1) return Layout::Legacy;
  return any_v2 ? Layout::Unified : Layout::Legacy;
}

std::vector<std::pair<std::string, std::string>> parse_proc_cgroup(const std::string& content) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(content);
  std::string line;
  while (std::getline(in, line)) {
    // ID:KEY:PATH; the path itself may contain ':'.
    size_t c1 = line.find(':');
    if (c1 == std::string::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    out.emplace_back(line.substr(c1 + 1, c2 - c1 - 1), line.substr(c2 + 1));
  }
  return out;
}

Result<std::unique_ptr<Driver>> make_driver(const std::string& preference) {
  auto mi = read_file("/proc/self/mountinfo");
  if (!mi) return Error(mi.error()).context("cgroup detection");
  std::vector<Hierarchy> hs = parse_mountinfo(*mi);
  if (hs.empty()) return make_error("cgroup detection: no cgroup filesystem is mounted", ENOENT);
  struct statfs sfs {};
  bool root_v2 = ::statfs("/sys/fs/cgroup", &sfs) == 0 &&
                 static_cast<unsigned long>(sfs.f_type) == static_cast<unsigned long>(CGROUP2_SUPER_MAGIC);
  Layout layout = detect_layout(hs, root_v2);
  if (preference == "v2" && layout == Layout::Hybrid) {
    for (const Hierarchy& h : hs)
      if (h.v2) {
        std::unique_ptr<Driver> d = make_v2_driver(h.mount_point);
        return d;
      }
  }
  if (preference == "v2" && layout == Layout::Legacy)
    return make_error("cgroup driver v2: this host has no cgroup2 hierarchy", ENOENT);
  if (preference == "v1" && layout == Layout::Unified)
    return make_error("cgroup driver v1: this host is cgroup2-only", ENOENT);
  if (layout == Layout::Unified) {
    std::unique_ptr<Driver> d = make_v2_driver("/sys/fs/cgroup");
    return d;
  }
  std::unique_ptr<Driver> d = make_v1_driver(std::move(hs), layout);
  return d;
}

// ---- helpers shared by the drivers ----
namespace detail {

Status check_rel(const std::string& rel) {
  if (rel.empty()) return make_error("cgroup: empty cgroup path", EINVAL);
  for (const std::string& c : split(rel, '/')) {
    if (c.empty() || c == "." || c == "..")
      return make_error("cgroup " + rel + ": path must be relative without empty, '.' or '..' parts", EINVAL);
  }
  return {};
}

std::vector<std::string> rel_levels(const std::string& rel) {
  std::vector<std::string> out;
  std::string cur;
  for (const std::string& c : split(rel, '/')) {
    cur = cur.empty() ? c : cur + "/" + c;
    out.push_back(cur);
  }
  return out;
}

std::string join(const std::string& dir, const std::string& rel) {
  if (rel.empty()) return dir;
  if (!dir.empty() && dir.back() == '/') return dir + rel;
  return dir + "/" + rel;
}

std::string basename_of(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t pos = p.rfind('/');
  return pos == std::string::npos ? p : p.substr(pos + 1);
}

Result<std::string> read_trimmed(const std::string& path) {
  std::string s = TRY(read_file(path));
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return std::string();
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

Status write_control(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return sys_error("open " + path);
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("write '" + value + "' to " + path);
  if (static_cast<size_t>(n) != value.size()) return make_error("short write to " + path, EIO);
  return {};
}

Status make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return {};
  if (errno == EEXIST && is_dir(path)) return {};
  return sys_error("mkdir " + path);
}

CreatedDirs::~CreatedDirs() {
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) (void)::rmdir(it->c_str());
}

Result<bool> CreatedDirs::make(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) {
    dirs_.push_back(path);
    return true;
  }
  if (errno == EEXIST && is_dir(path)) return false;
  return sys_error("mkdir " + path);
}

bool CreatedDirs::created(const std::string& path) const {
  return std::find(dirs_.begin(), dirs_.end(), path) != dirs_.end();
}

bool ReadyParents::has(const std::string& rel) const {
  std::lock_guard<std::mutex> g(mu_);
  return std::find(ready_.begin(), ready_.end(), rel) != ready_.end();
}

void ReadyParents::add(const std::string& rel) {
  std::lock_guard<std::mutex> g(mu_);
  if (std::find(ready_.begin(), ready_.end(), rel) == ready_.end()) ready_.push_back(rel);
}

void ReadyParents::forget(const std::string& rel) {
  std::lock_guard<std::mutex> g(mu_);
  std::erase(ready_, rel);
}

Status create_through(ReadyParents& ready, const std::string& rel,
                      const std::function<Status(const std::vector<std::string>&, size_t)>& create_levels) {
  TRY(check_rel(rel));
  const std::vector<std::string> levels = rel_levels(rel);
  const std::string above = parent_rel(rel);
  if (!above.empty() && ready.has(above)) {
    Status st = create_levels(levels, levels.size() - 1);
    if (st || st.error().code != ENOENT) return st;
    ready.forget(above);
  }
  TRY(create_levels(levels, 0));
  if (!above.empty()) ready.add(above);
  return {};
}

std::string parent_rel(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_cgroup2_fs(const std::string& path) {
  struct statfs sfs {};
  return ::statfs(path.c_str(), &sfs) == 0 &&
         static_cast<unsigned long>(sfs.f_type) == static_cast<unsigned long>(CGROUP2_SUPER_MAGIC);
}

Result<uint64_t> parse_u64(const std::string& text, const std::string& what) {
  size_t b = text.find_first_not_of(" \t\r\n");
  if (b == std::string::npos || text[b] < '0' || text[b] > '9')
    return make_error(what + ": not a number: '" + text + "'", EINVAL);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str() + b, &end, 10);
  if (errno == ERANGE) return make_error(what + ": out of range: '" + text + "'", ERANGE);
  for (; *end; ++end) {
    if (*end != ' ' && *end != '\n' && *end != '\t' && *end != '\r')
      return make_error(what + ": not a number: '" + text + "'", EINVAL);
  }
  return static_cast<uint64_t>(v);
}

Result<uint64_t> parse_cpu_stat_usage_ns(const std::string& content, const std::string& what) {
  std::istringstream in(content);
  std::string key, value;
  while (in >> key >> value) {
    if (key == "usage_usec") return TRY(parse_u64(value, what)) * 1000;
  }
  return make_error(what + ": no usage_usec line", ENODATA);
}

Error limit_unavailable(const char* key, const std::string& controller, const std::string& where) {
  return make_error(std::string(key) + ": the " + controller + " controller is not available " + where, EOPNOTSUPP);
}

Status write_limit(const char* key, const std::string& dir, const std::string& file, const std::string& value,
                   const std::string& missing_why) {
  const std::string path = join(dir, file);
  if (is_dir(dir) && ::access(path.c_str(), F_OK) != 0)
    return make_error(std::string(key) + ": " + dir + " has no " + file + " (" + missing_why + ")", EOPNOTSUPP);
  TRY_CTX(write_control(path, value), key);
  return {};
}

std::optional<uint64_t> parse_keyed_u64(const std::string& content, const std::string& key) {
  std::istringstream in(content);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string k, v;
    if (!(fields >> k >> v) || k != key) continue;
    auto n = parse_u64(v, key);
    return n ? std::optional<uint64_t>(*n) : std::nullopt;
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_limit_value(const std::string& text) {
  size_t b = text.find_first_not_of(" \t\r\n");
  if (b != std::string::npos && text.compare(b, 3, "max") == 0) return LimitStats::kUnlimited;
  auto n = parse_u64(text, "limit");
  if (!n) return std::nullopt;
  // v1 reports "no limit" as the largest page-aligned value below 2^63 (memory) or 2^63-1.
  return *n >= (uint64_t{1} << 62) ? LimitStats::kUnlimited : *n;
}

std::optional<uint64_t> read_limit_value(const std::string& dir, const std::string& file) {
  auto text = read_file(join(dir, file));
  return text ? parse_limit_value(*text) : std::nullopt;
}

std::optional<uint64_t> read_u64_file(const std::string& dir, const std::string& file) {
  auto text = read_file(join(dir, file));
  if (!text) return std::nullopt;
  auto n = parse_u64(*text, file);
  return n ? std::optional<uint64_t>(*n) : std::nullopt;
}

std::optional<uint64_t> read_keyed_u64(const std::string& dir, const std::string& file, const std::string& key) {
  auto text = read_file(join(dir, file));
  return text ? parse_keyed_u64(*text, key) : std::nullopt;
}

Result<std::vector<pid_t>> read_procs(const std::string& dir) {
  auto content = read_file(join(dir, "cgroup.procs"));
  if (!content) {
    if (content.error().code == ENOENT || content.error().code == ENODEV) return std::vector<pid_t>{};
    return std::move(content).error();
  }
  std::vector<pid_t> out;
  std::istringstream in(*content);
  for (long p; in >> p;) out.push_back(static_cast<pid_t>(p));
  return out;
}

namespace {

void collect_dirs(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  out.push_back(dir);
  std::vector<std::string> subs;
  while (struct dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n == "." || n == "..") continue;
    std::string p = join(dir, n);
    if (de->d_type == DT_DIR || (de->d_type == DT_UNKNOWN && is_dir(p))) subs.push_back(p);
  }
  ::closedir(d);
  for (const std::string& s : subs) collect_dirs(s, out);
}

}  // namespace

std::vector<std::string> subtree_dirs(const std::string& dir) {
  std::vector<std::string> out;
  collect_dirs(dir, out);
  return out;
}

std::vector<pid_t> subtree_procs(const std::string& dir) {
  std::vector<pid_t> out;
  for (const std::string& d : subtree_dirs(dir)) {
    auto pids = read_procs(d);
    if (pids) out.insert(out.end(), pids->begin(), pids->end());
  }
  return out;
}

size_t kill_listed(const std::string& dir) {
  const pid_t self = ::getpid();
  auto before = read_procs(dir);
  if (!before) return 0;
  // Pin each listed process first; a pidfd keeps naming that process even if its number is
  // freed and reused.
  std::vector<std::pair<pid_t, UniqueFd>> pinned;
  for (pid_t p : *before) {
    if (p <= 1 || p == self) continue;
    UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, p, 0)));
    if (fd) pinned.emplace_back(p, std::move(fd));
  }
  // Still listed now means the pidfd names a member: if the pid had been reused by a host
  // process at pidfd_open, that process (alive, holding the number) is not in this cgroup.
  auto after = read_procs(dir);
  if (!after) return 0;
  size_t n = 0;
  for (auto& [p, fd] : pinned) {
    if (std::find(after->begin(), after->end(), p) == after->end()) continue;
    if (::syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0) == 0) ++n;
  }
  return n;
}

size_t kill_subtree(const std::string& dir) {
  size_t n = 0;
  for (const std::string& d : subtree_dirs(dir)) n += kill_listed(d);
  return n;
}

Status remove_subtree(const std::string& dir, Clock::time_point deadline) {
  std::vector<std::string> dirs = subtree_dirs(dir);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    for (;;) {
      if (::rmdir(it->c_str()) == 0 || errno == ENOENT) break;
      // EBUSY: the last tasks are still being released by the kernel.
      if (errno != EBUSY || Clock::now() >= deadline) return sys_error("rmdir " + *it);
      sleep_poll();
    }
  }
  return {};
}

void sleep_poll() { std::this_thread::sleep_for(kPollInterval); }

}  // namespace detail
}  // namespace sysc::cgroup
