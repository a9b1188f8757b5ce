// A progress display for long operations: a bar redrawn in place on a terminal (stderr), plain
// "NN% message" lines otherwise (logs, pipes), nothing when quiet.
#pragma once

#include <string>

namespace sysc::cli {

class ProgressLine {
 public:
  explicit ProgressLine(bool quiet);
  void show(int percent, const std::string& message);
  void done();  // ends a bar's line

 private:
  bool quiet_, tty_, drawn_ = false;
  int last_percent_ = -1;
  std::string last_message_;
};

}  // namespace sysc::cli
