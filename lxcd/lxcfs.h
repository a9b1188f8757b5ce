// Lxcfs: lxcd runs and supervises one lxcfs (FUSE) per sysc root, mounted at RUN_DIR/.lxcfs. The
// mount outlives lxcd (running containers have its files bound in): a restarted lxcd adopts a
// live mount instead of starting a second lxcfs. When lxcfs dies it is unmounted and restarted.
#pragma once

#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

#include "common/paths.h"
#include "common/unique_fd.h"
#include "config/config.h"

namespace sysc::lxcd {

// What a container started now gets: lxcfs's mount point and the files below it to bind over
// its own, or nothing and why ("host (lxcfs not available)").
struct ResourceView {
  std::string dir;
  std::vector<std::string> files;  // "proc/meminfo", ..., "sys/devices/system/cpu/online"
  std::string description;         // "lxcfs" or "host (REASON)"
};

class Lxcfs {
 public:
  Lxcfs(const Paths& paths, const config::ResourcesConfig& cfg, int log_fd);
  ~Lxcfs();
  Lxcfs(const Lxcfs&) = delete;
  Lxcfs& operator=(const Lxcfs&) = delete;

  // Adopts or starts lxcfs (never fatal: without it containers see the host's values), then
  // watches it on a thread.
  void start();
  ResourceView view();
  std::string mount_point() const { return dir_; }

  // L's view, or the host's when lxcd runs without lxcfs (L null: disabled in sysc.conf).
  static ResourceView view_of(Lxcfs* l);
  // For `sysc info`: a running container's view as it was started (its spec.json at SPEC_PATH),
  // a stopped one's as a start now would give it.
  static std::string describe(Lxcfs* l, bool running, const std::string& spec_path);

 private:
  bool live() const;             // mounted here by lxcfs and answering
  std::string launch();          // "" or why lxcfs could not be started
  void adopt_or_launch();
  void watch();

  std::string dir_, pidfile_;
  config::ResourcesConfig cfg_;
  int log_fd_;
  std::mutex mu_;
  pid_t pid_ = 0;        // the lxcfs process (0: none known)
  bool own_child_ = false;
  std::string problem_;  // why there is no lxcfs view ("" when there is one)
  UniqueFd stop_;        // eventfd: ends the watcher
  std::thread watcher_;
};

}  // namespace sysc::lxcd
