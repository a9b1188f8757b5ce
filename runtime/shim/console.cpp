// Console pty, log rotation and client fan-out for sysc-shim (host side, single-threaded).
#include "runtime/shim/console.h"

#include <algorithm>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

namespace sysc::shim {

Result<Console> Console::open(const std::string& log_path, long log_max) {
  Console c = TRY(open_pty());
  TRY(c.open_log(log_path, log_max));
  return c;
}

Result<Console> Console::open_pty() {
  Console c;
  c.master_.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  if (!c.master_) return sys_error("console: posix_openpt");
  if (grantpt(c.master_.get()) != 0 || unlockpt(c.master_.get()) != 0) return sys_error("console: unlockpt");
  char name[128];
  if (ptsname_r(c.master_.get(), name, sizeof name) != 0) return sys_error("console: ptsname");
  c.slave_path_ = name;
  c.slave_keep_.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!c.slave_keep_) return sys_error("console: open " + c.slave_path_);
  // Raw-ish defaults: the container's getty/shell sets its own modes; output must not be mangled.
  termios t;
  if (tcgetattr(c.slave_keep_.get(), &t) == 0) {
    t.c_oflag |= ONLCR | OPOST;
    tcsetattr(c.slave_keep_.get(), TCSANOW, &t);
  }
  return c;
}

Status Console::open_log(const std::string& log_path, long log_max) {
  log_path_ = log_path;
  log_max_ = log_max;
  log_.reset(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log_) return sys_error("console: open log " + log_path);
  struct stat st;
  if (fstat(log_.get(), &st) == 0) log_size_ = st.st_size;
  return {};
}

void Console::write_log(const char* data, size_t n) {
  if (!log_) return;
  if (log_max_ > 0 && log_size_ + static_cast<long>(n) > log_max_) {
    // Rotate: keep one previous file, so the log never exceeds about twice the cap.
    std::string old = log_path_ + ".1";
    ::rename(log_path_.c_str(), old.c_str());
    log_.reset(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640));
    log_size_ = 0;
    if (!log_) return;
  }
  ssize_t w = ::write(log_.get(), data, n);
  if (w > 0) log_size_ += w;
}

void Console::log_line(const std::string& text) {
  std::string line = "\r\n[sysc] " + text + "\r\n";
  write_log(line.data(), line.size());
  for (auto& c : clients_) {
    ssize_t ignored = ::write(c.get(), line.data(), line.size());
    (void)ignored;
  }
}

bool Console::on_master_readable() {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(master_.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;  // EIO: no slave open right now
    }
    if (n == 0) return false;
    write_log(buf, static_cast<size_t>(n));
    for (size_t i = 0; i < clients_.size();) {
      // A slow client must not stall the container: it loses output rather than blocking us.
      ssize_t w = ::send(clients_[i].get(), buf, static_cast<size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        clients_.erase(clients_.begin() + static_cast<long>(i));
        continue;
      }
      ++i;
    }
  }
}

void Console::add_client(UniqueFd fd) { clients_.push_back(std::move(fd)); }

bool Console::is_client(int fd) const {
  return std::any_of(clients_.begin(), clients_.end(), [fd](const UniqueFd& c) { return c.get() == fd; });
}

void Console::drop_client(int fd) {
  std::erase_if(clients_, [fd](const UniqueFd& c) { return c.get() == fd; });
}

bool Console::on_client_readable(int fd) {
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n <= 0) {
    drop_client(fd);
    return false;
  }
  size_t off = 0;
  while (off < static_cast<size_t>(n)) {
    ssize_t w = ::write(master_.get(), buf + off, static_cast<size_t>(n) - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;  // full or hung up: typed input is dropped, never blocks the supervisor
    }
    off += static_cast<size_t>(w);
  }
  return true;
}

}  // namespace sysc::shim
