// Signal names for halt_signal: "SIGUSR1"/"usr1"/"10"/"SIGRTMIN+3" <-> numbers (host side).
// SIGRTMIN and SIGRTMAX are libc functions (glibc reserves the first real-time signals for
// itself), so they are always read at run time, never written as 34/64.
#include <csignal>
#include <cstring>
#include <string>

#include "config/config.h"

namespace sysc::config {

namespace {

std::optional<int> parse_number(const std::string& s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  int n = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + (ch - '0');
  }
  return n;
}

bool valid_signal(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return true;
  return sig > 0 && sig < SIGRTMIN && sigabbrev_np(sig) != nullptr;
}

// "RTMIN", "RTMIN+3", "RTMAX", "RTMAX-2" (already upper case, without "SIG").
std::optional<int> parse_realtime(const std::string& s) {
  bool min = s.starts_with("RTMIN"), max = s.starts_with("RTMAX");
  if (!min && !max) return std::nullopt;
  std::string rest = s.substr(5);
  int sig = min ? SIGRTMIN : SIGRTMAX;
  if (rest.empty()) return sig;
  if (rest[0] != (min ? '+' : '-')) return std::nullopt;
  auto off = parse_number(rest.substr(1));
  if (!off) return std::nullopt;
  sig = min ? sig + *off : sig - *off;
  if (sig < SIGRTMIN || sig > SIGRTMAX) return std::nullopt;
  return sig;
}

}  // namespace

std::optional<int> parse_signal(const std::string& s) {
  if (auto n = parse_number(s)) return valid_signal(*n) ? n : std::nullopt;
  std::string name;
  for (char ch : s) name += (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 'a' + 'A') : ch;
  if (name.starts_with("SIG")) name = name.substr(3);
  if (name.empty()) return std::nullopt;
  if (auto rt = parse_realtime(name)) return rt;
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr && name == abbrev) return sig;
  }
  return std::nullopt;
}

std::string signal_name(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX)
    return sig == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  const char* abbrev = sig > 0 ? sigabbrev_np(sig) : nullptr;
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(sig);
}

}  // namespace sysc::config
