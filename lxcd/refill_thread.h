// The background thread behind lxcd's spares (btrfs_spares.h, layout_spares.h): a thread of its
// own, started at the first want(), that calls REFILL once for each key wanted (a key wanted
// again before its turn counts once). Destruction stops it after the refill in progress and
// joins it. Without a thread (none could be started) a want is dropped: the callers go on
// without what the refills would have made ahead.
#pragma once

#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

namespace sysc::lxcd {

template <class Key>
class RefillThread {
 public:
  RefillThread(const char* what, std::function<void(const Key&)> refill) : what_(what), refill_(std::move(refill)) {}
  ~RefillThread() {
    {
      std::lock_guard<std::mutex> g(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  RefillThread(const RefillThread&) = delete;
  RefillThread& operator=(const RefillThread&) = delete;

  // Called from destructors: nothing may escape.
  void want(Key key) {
    std::lock_guard<std::mutex> g(mu_);
    if (!thread_.joinable()) {
      try {
        thread_ = std::thread([this] { run(); });
      } catch (const std::exception& e) {
        fprintf(stderr, "lxcd: %s: no thread: %s\n", what_, e.what());
        return;
      }
    }
    wanted_.insert(std::move(key));
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [this] { return quit_ || !wanted_.empty(); });
      if (quit_) return;
      Key key = *wanted_.begin();
      wanted_.erase(wanted_.begin());
      l.unlock();
      refill_(key);
      l.lock();
    }
  }

  const char* what_;
  std::function<void(const Key&)> refill_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<Key> wanted_;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace sysc::lxcd
