// The container console held by sysc-shim: the pty master, the size-capped console log, and the
// clients attached with `sysc console`. The master is always drained, even with no client,
// because an init blocks once the pty buffer is full.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sysc::shim {

class Console {
 public:
  static Result<Console> open(const std::string& log_path, long log_max);
  // The same in two steps: the pty pair (nothing container-specific), then the log.
  static Result<Console> open_pty();
  Status open_log(const std::string& log_path, long log_max);

  int master_fd() const { return master_.get(); }
  const std::string& slave_path() const { return slave_path_; }

  // Master readable: log and forward to every client. False when the master hung up
  // (no slave open: between two boots), which is not an error.
  bool on_master_readable();
  void add_client(UniqueFd fd);
  // Client readable: forward its input to the master. False: client gone (it is removed).
  bool on_client_readable(int fd);
  bool is_client(int fd) const;
  const std::vector<UniqueFd>& clients() const { return clients_; }
  void drop_client(int fd);
  void log_line(const std::string& text);  // a line from the supervisor itself ("sysc: rebooting")

 private:
  void write_log(const char* data, size_t n);

  UniqueFd master_;
  UniqueFd slave_keep_;  // keeps the master from hanging up while no init holds the slave
  std::string slave_path_;
  std::string log_path_;
  long log_max_ = 0;
  UniqueFd log_;
  long log_size_ = 0;
  std::vector<UniqueFd> clients_;
};

}  // namespace sysc::shim
