// ProgressLine: terminal bar or plain lines on stderr.
#include "tools/progress.h"

#include <algorithm>
#include <cstdio>
#include <unistd.h>

namespace sysc::cli {

ProgressLine::ProgressLine(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1) {}

void ProgressLine::show(int percent, const std::string& message) {
  if (quiet_) return;
  percent = std::clamp(percent, 0, 100);
  if (percent == last_percent_ && message == last_message_) return;
  last_percent_ = percent;
  last_message_ = message;
  if (!tty_) {
    std::fprintf(stderr, "%3d%% %s\n", percent, message.c_str());
    return;
  }
  constexpr int kWidth = 30;
  int filled = percent * kWidth / 100;
  std::string bar(static_cast<size_t>(filled), '=');
  bar.resize(kWidth, ' ');
  std::string msg = message.size() > 60 ? message.substr(0, 57) + "..." : message;
  std::fprintf(stderr, "\r\033[K[%s] %3d%% %s", bar.c_str(), percent, msg.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::done() {
  if (drawn_) std::fputs("\r\033[K", stderr);
  drawn_ = false;
}

}  // namespace sysc::cli
