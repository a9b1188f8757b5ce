// ScopeExit: runs a function when it goes out of scope, however the scope ends (a return, an
// early return through TRY, an exception), while it is armed. The function must not throw.
#pragma once

#include <utility>

namespace sysc {

template <class F>
class ScopeExit {
 public:
  explicit ScopeExit(F f, bool armed = true) : f_(std::move(f)), armed_(armed) {}
  ~ScopeExit() {
    if (armed_) f_();
  }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  void arm() { armed_ = true; }
  void dismiss() { armed_ = false; }

 private:
  F f_;
  bool armed_;
};

}  // namespace sysc
