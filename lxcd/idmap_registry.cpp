// The host-wide registry of claimed host id ranges (lxcd side, any thread: the flock serializes
// threads and processes alike).
#include "lxcd/idmap_registry.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/unique_fd.h"

namespace sysc::lxcd {

namespace {

bool overlaps(uint64_t base, uint64_t size, const RangeClaim& c) {
  return base < uint64_t{c.base} + c.size && c.base < base + size;
}

std::string absolute(const std::string& dir) {
  if (char* real = ::realpath(dir.c_str(), nullptr)) {
    std::string out = real;
    free(real);
    return out;
  }
  if (!dir.empty() && dir[0] == '/') return dir;
  char cwd[PATH_MAX];
  return ::getcwd(cwd, sizeof cwd) ? std::string(cwd) + "/" + dir : dir;
}

std::string describe(const RangeClaim& c) {
  return "host ids " + std::to_string(c.base) + "-" + std::to_string(uint64_t{c.base} + c.size - 1) + " are claimed by " +
         c.container + " of " + c.state_dir;
}

// Runs FN on the claims (read under the lock, those of vanished roots dropped) and writes them
// back if FN or the pruning changed them.
template <class F>
auto with_claims(const std::string& path, F fn) -> decltype(fn(std::declval<std::vector<RangeClaim>&>())) {
  std::string dir = path.substr(0, path.rfind('/'));
  std::string lock_path = path + ".lock";
  UniqueFd lock;
  // The lock file may be removed (with an empty registry and its directory) by whoever holds it:
  // a lock taken on a file that is no longer at its path locks nothing, so the lock is taken
  // again on the one there.
  for (int attempt = 0;; ++attempt) {
    if (!dir.empty()) TRY_CTX(mkdir_p(dir, 0700), "id range registry");
    lock = UniqueFd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock && errno == ENOENT && attempt < 100) continue;  // its directory went meanwhile
    if (!lock) return sys_error("id range registry: open " + lock_path);
    while (flock(lock.get(), LOCK_EX) != 0)
      if (errno != EINTR) return sys_error("id range registry: lock " + lock_path);
    struct stat held, named;
    if (::fstat(lock.get(), &held) != 0) return sys_error("id range registry: stat " + lock_path);
    if (::stat(lock_path.c_str(), &named) == 0 && named.st_dev == held.st_dev && named.st_ino == held.st_ino) break;
  }
  std::vector<RangeClaim> claims;
  if (auto text = read_file(path); text)
    claims = parse_claims(*text);
  else if (text.error().code != ENOENT)
    return std::move(text).error().context("id range registry");
  const std::string before = format_claims(claims);
  std::erase_if(claims, [](const RangeClaim& c) { return !path_exists(c.state_dir + "/sysc.db"); });
  auto out = fn(claims);
  if (!out) return out;
  std::sort(claims.begin(), claims.end(), [](const RangeClaim& a, const RangeClaim& b) { return a.base < b.base; });
  if (std::string after = format_claims(claims); after != before)
    TRY_CTX(write_file_atomic(path, after, 0600), "id range registry");
  return out;
}

}  // namespace

std::vector<RangeClaim> parse_claims(const std::string& text) {
  std::vector<RangeClaim> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    uint64_t base = 0, size = 0;
    RangeClaim c;
    if (!(in >> base >> size >> c.container)) continue;
    in >> std::ws;
    std::getline(in, c.state_dir);
    if (base == 0 || size == 0 || base + size > uint64_t{UINT32_MAX} + 1 || c.state_dir.empty() || c.state_dir[0] != '/')
      continue;
    c.base = static_cast<uint32_t>(base);
    c.size = static_cast<uint32_t>(size);
    out.push_back(std::move(c));
  }
  return out;
}

std::string format_claims(const std::vector<RangeClaim>& claims) {
  std::string out;
  for (const auto& c : claims)
    out += std::to_string(c.base) + " " + std::to_string(c.size) + " " + c.container + " " + c.state_dir + "\n";
  return out;
}

IdRegistry::IdRegistry(std::string path, const std::string& state_dir)
    : path_(std::move(path)), state_dir_(absolute(state_dir)) {}

Result<RangeClaim> IdRegistry::claim(const std::string& container, const std::vector<runtime::IdRange>& pool,
                                     uint32_t size, uint32_t wanted) {
  return with_claims(path_, [&](std::vector<RangeClaim>& claims) -> Result<RangeClaim> {
    auto mine = std::find_if(claims.begin(), claims.end(),
                             [&](const RangeClaim& c) { return c.state_dir == state_dir_ && c.container == container; });
    if (wanted != 0) {
      if (mine != claims.end() && mine->base == wanted && mine->size == size) return *mine;
      if (mine != claims.end()) claims.erase(mine);
      for (const auto& c : claims)
        if (overlaps(wanted, size, c)) return make_error(container + ": its " + describe(c), EEXIST);
      claims.push_back({wanted, size, container, state_dir_});
      return claims.back();
    }
    if (mine != claims.end() && mine->size == size) return *mine;
    if (mine != claims.end()) claims.erase(mine);
    for (const runtime::IdRange& r : pool) {
      for (uint64_t base = r.start; base + size <= r.end() && base + size <= uint64_t{UINT32_MAX} + 1; base += size) {
        if (base == 0) continue;  // host root's own ids are never a container's
        if (std::none_of(claims.begin(), claims.end(), [&](const RangeClaim& c) { return overlaps(base, size, c); })) {
          claims.push_back({static_cast<uint32_t>(base), size, container, state_dir_});
          return claims.back();
        }
      }
    }
    return make_error(container + ": no free range of " + std::to_string(size) +
                          " host ids left for another unprivileged container (claimed ranges: " + path_ + ")",
                      ENOSPC);
  });
}

Status IdRegistry::release(const std::string& container) {
  if (!path_exists(path_)) return {};  // nothing was ever claimed on this host
  return with_claims(path_, [&](std::vector<RangeClaim>& claims) -> Status {
    std::erase_if(claims, [&](const RangeClaim& c) { return c.state_dir == state_dir_ && c.container == container; });
    return {};
  });
}

Result<std::vector<std::string>> IdRegistry::reconcile(const std::vector<db::IdmapRecord>& records) {
  if (records.empty() && !path_exists(path_)) return std::vector<std::string>{};
  return with_claims(path_, [&](std::vector<RangeClaim>& claims) -> Result<std::vector<std::string>> {
    std::erase_if(claims, [&](const RangeClaim& c) { return c.state_dir == state_dir_; });
    std::vector<std::string> conflicts;
    for (const auto& r : records) {
      auto other = std::find_if(claims.begin(), claims.end(), [&](const RangeClaim& c) { return overlaps(r.host_base, r.size, c); });
      if (other != claims.end()) {
        conflicts.push_back(r.container + ": its " + describe(*other));
        continue;
      }
      claims.push_back({r.host_base, r.size, r.container, state_dir_});
    }
    return conflicts;
  });
}

Result<std::vector<RangeClaim>> IdRegistry::claims() {
  return with_claims(path_, [](std::vector<RangeClaim>& claims) -> Result<std::vector<RangeClaim>> { return claims; });
}

}  // namespace sysc::lxcd
