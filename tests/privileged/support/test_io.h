// Small I/O helpers shared by the privileged tests: whole-file reads, draining pipes and ptys
// with a deadline, waiting for a child's exit code.
#pragma once

#include <chrono>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace sysc::test {

std::string read_text(const std::string& path);  // "" when unreadable
void write_text(const std::string& path, const std::string& text);
// The value of "Cpus_allowed_list:" in STATUS (a /proc/PID/status text), e.g. "0-1"; "" if absent.
std::string cpus_allowed_list(const std::string& status);
// Reads every fd into its string until all hit EOF/EIO or the deadline passes; true if all finished.
bool drain(std::vector<std::pair<int, std::string*>> fds, std::chrono::seconds limit);
// Reads fd into `seen` until it contains `text`; false on EOF or after timeout_ms.
bool read_until(int fd, std::string& seen, const std::string& text, int timeout_ms = 10000);
// The exit code (128+N for signal N) of child PID; with timed_out it is killed first and -2 returned.
int wait_exit(pid_t pid, bool timed_out);

}  // namespace sysc::test
