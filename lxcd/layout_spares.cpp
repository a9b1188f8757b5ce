// Spare container directories: see layout_spares.h.
#include "lxcd/layout_spares.h"

#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"

namespace sysc::lxcd {

LayoutSpares::LayoutSpares(std::string containers_dir) : dir_(std::move(containers_dir)) {}

LayoutSpares::~LayoutSpares() {
  {
    std::lock_guard<std::mutex> g(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string LayoutSpares::path(const std::string& containers_dir, storage::Backend b) {
  return containers_dir + "/" + kPrefix + storage::to_string(b);
}

bool LayoutSpares::take(storage::Backend b, const std::string& dst) {
  // No lock: the rename is atomic, and never replaces DST (an empty directory would be).
  return ::renameat2(AT_FDCWD, path(dir_, b).c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) == 0;
}

void LayoutSpares::want(storage::Backend b) {
  std::lock_guard<std::mutex> g(mu_);
  // Called from a destructor: nothing may escape. Without the thread creates make their own.
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::exception& e) {
      fprintf(stderr, "lxcd: spare container directories: no thread: %s\n", e.what());
      return;
    }
  }
  wanted_.insert(b);
  cv_.notify_one();
}

void LayoutSpares::run() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [this] { return quit_ || !wanted_.empty(); });
    if (quit_) return;
    const storage::Backend b = *wanted_.begin();
    wanted_.erase(wanted_.begin());
    l.unlock();
    refill(b);
    l.lock();
  }
}

void LayoutSpares::refill(storage::Backend b) {
  const std::string spare = path(dir_, b), tmp = spare + ".tmp";
  struct stat st {};
  if (::lstat(spare.c_str(), &st) == 0) return;  // ready
  (void)remove_tree(tmp);                         // left by a refill that failed mid-way
  Status made = ::mkdir(tmp.c_str(), 0700) == 0 ? storage::lay_out(b, tmp) : sys_error("mkdir " + tmp);
  if (made && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, spare.c_str(), RENAME_NOREPLACE) != 0)
    made = sys_error("rename " + tmp + " to " + spare);
  if (!made) {
    // Creates go on without a spare, each laying out its own directory.
    fprintf(stderr, "lxcd: spare container directory for %s: %s\n", storage::to_string(b), made.error().message.c_str());
    (void)remove_tree(tmp);
  }
}

}  // namespace sysc::lxcd
