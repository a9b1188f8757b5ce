// cgroup freezing for snapshots (API threads; the container's lock is held by the caller).
#include "lxcd/freeze.h"

#include <chrono>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

#include "common/fs.h"
#include "common/unique_fd.h"

namespace sysc::lxcd {

namespace {

bool write_control(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  return fd && ::write(fd.get(), value.data(), value.size()) == static_cast<ssize_t>(value.size());
}

// Polls until PRED holds or TIMEOUT_MS passed.
template <typename Pred>
bool wait_for(Pred pred, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

CgroupFreeze::CgroupFreeze(const std::vector<std::string>& dirs, int timeout_ms) {
  for (const auto& d : dirs) {
    if (path_exists(d + "/cgroup.freeze")) {  // cgroup2: cgroup.events says "frozen 1" once done
      if (!write_control(d + "/cgroup.freeze", "1")) continue;
      auto done = [&] {
        auto ev = read_file(d + "/cgroup.events");
        return ev && ev->find("frozen 1") != std::string::npos;
      };
      if (wait_for(done, timeout_ms)) {
        thaw_file_ = d + "/cgroup.freeze", thaw_value_ = "0";
        return;
      }
      (void)write_control(d + "/cgroup.freeze", "0");
    } else if (path_exists(d + "/freezer.state")) {  // v1: FREEZING until every task is frozen
      if (!write_control(d + "/freezer.state", "FROZEN")) continue;
      auto done = [&] {
        auto st = read_file(d + "/freezer.state");
        return st && st->rfind("FROZEN", 0) == 0;
      };
      if (wait_for(done, timeout_ms)) {
        thaw_file_ = d + "/freezer.state", thaw_value_ = "THAWED";
        return;
      }
      (void)write_control(d + "/freezer.state", "THAWED");
    }
  }
}

CgroupFreeze::~CgroupFreeze() {
  if (!thaw_file_.empty()) (void)write_control(thaw_file_, thaw_value_);
}

}  // namespace sysc::lxcd
