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

// posix_spawn `shim_path spec_path` in a new session (it must outlive lxcd), with stdin on
// /dev/null, stdout/stderr on log_fd and the status pipe as fd 3; waits for its status line.
Result<SpawnedShim> spawn_shim(const std::string& shim_path, const std::string& spec_path, int log_fd);

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
