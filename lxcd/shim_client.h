// lxcd's side of the shim: spawning sysc-shim for a start, and the line-JSON control socket.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <sys/types.h>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sysc::lxcd {

struct SpawnedShim {
  pid_t pid = 0;
  nlohmann::json status;  // {"ok":true,"init_pid":N,"started_at":T} or {"ok":false,"error":"..."}
};

// A sysc-shim spawned at the beginning of a start, while lxcd still prepares the container: the
// exec and the shim's own start-up run alongside that work. posix_spawn `shim_path spec_path`
// in a new session (it must outlive lxcd), with stdin on /dev/null, stdout/stderr on log_fd, the
// status pipe as fd 3 and the go pipe as fd 4. The shim reads nothing until spec_ready(), and
// clones nothing until cgroup_ready(); a launch destroyed before cgroup_ready() is called off:
// the shim sees EOF on fd 4 and stops before it clones anything (after spec_ready() it has opened
// the console log, appending, and its socket in the run dir), and is reaped.
class ShimLaunch {
 public:
  static Result<ShimLaunch> spawn(const std::string& shim_path, const std::string& spec_path, int log_fd);
  ShimLaunch(ShimLaunch&& o) noexcept;
  ShimLaunch& operator=(ShimLaunch&&) = delete;
  ~ShimLaunch();
  // The spec file is written: the shim reads it and sets up everything but the cgroup.
  void spec_ready();
  // The cgroup is made (runtime::prepare_cgroup): the shim starts the container; waits for its
  // status line.
  Result<SpawnedShim> cgroup_ready();
  pid_t pid() const { return pid_; }

 private:
  ShimLaunch() = default;
  void signal_shim();
  pid_t pid_ = 0;
  UniqueFd status_;  // read end of the shim's fd 3
  UniqueFd go_;      // write end of the shim's fd 4
};

// A connection to ROOT/run/sysc/NAME/shim.sock.
class ShimConnection {
 public:
  static Result<ShimConnection> connect(const std::string& socket_path);
  Status send(const nlohmann::json& request, int pass_fd = -1);
  // Next JSON line; timeout_ms < 0 waits forever. ETIMEDOUT / EPIPE (closed) as errors.
  Result<nlohmann::json> read(int timeout_ms);
  int fd() const { return fd_.get(); }
  // The supervisor's pid as the kernel saw it at connect (SO_PEERCRED), 0 if unknown.
  pid_t peer_pid() const;
  UniqueFd release_fd() { return std::move(fd_); }

 private:
  UniqueFd fd_;
  std::string buf_;
};

}  // namespace sysc::lxcd
