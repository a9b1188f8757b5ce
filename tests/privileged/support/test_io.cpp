// Shared test I/O helpers (see test_io.h).
#include "support/test_io.h"

#include <cerrno>
#include <csignal>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace sysc::test {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string cpus_allowed_list(const std::string& status) {
  const std::string key = "Cpus_allowed_list:";
  size_t at = status.find(key);
  if (at == std::string::npos) return "";
  size_t from = status.find_first_not_of(" \t", at + key.size());
  size_t end = status.find('\n', at);
  if (from == std::string::npos || from > end) return "";
  return status.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

bool drain(std::vector<std::pair<int, std::string*>> fds, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!fds.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    std::vector<pollfd> p;
    for (auto& f : fds) p.push_back({f.first, POLLIN, 0});
    if (poll(p.data(), p.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    for (size_t i = p.size(); i-- > 0;) {
      if (!p[i].revents) continue;
      char buf[4096];
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n > 0) fds[i].second->append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR) fds.erase(fds.begin() + static_cast<long>(i));
    }
  }
  return true;
}

bool read_until(int fd, std::string& seen, const std::string& text, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (seen.find(text) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    seen.append(buf, static_cast<size_t>(n));
  }
  return true;
}

int wait_exit(pid_t pid, bool timed_out) {
  if (timed_out) kill(pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return -2;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace sysc::test
