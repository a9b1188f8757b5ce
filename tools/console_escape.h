// The console's escape keys (header-only, pure): Ctrl-a q detaches, Ctrl-a a sends a Ctrl-a.
#pragma once

#include <string>
#include <string_view>

namespace sysc::cli {

class ConsoleEscape {
 public:
  static constexpr char kPrefix = '\x01';  // Ctrl-a

  // Appends to OUT the bytes of IN that go to the container; returns true when the user asked to
  // detach (the bytes after "Ctrl-a q" are dropped). A Ctrl-a may end one read and its command
  // start the next. Ctrl-a followed by anything other than q/a is sent as typed.
  bool feed(std::string_view in, std::string* out) {
    for (char c : in) {
      if (!pending_) {
        if (c == kPrefix)
          pending_ = true;
        else
          out->push_back(c);
        continue;
      }
      pending_ = false;
      if (c == 'q' || c == 'Q') return true;
      if (c == 'a' || c == kPrefix) {
        out->push_back(kPrefix);
        continue;
      }
      out->push_back(kPrefix);
      out->push_back(c);
    }
    return false;
  }

 private:
  bool pending_ = false;
};

}  // namespace sysc::cli
