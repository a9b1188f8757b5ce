// Result<T>: a value or an Error carrying errno plus a message that names the object.
// Used by every module below the CLI/daemon edges; no exceptions cross runtime/, db/, config/.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace sysc {

struct Error {
  int code = 0;          // errno value when the failure came from the kernel/libc, else 0
  std::string message;   // "web1: pivot_root: Invalid argument"

  // Prefix the message with context: Error{..,"mount: EPERM"}.context("web1") -> "web1: mount: EPERM".
  Error context(const std::string& prefix) const& { return Error{code, prefix + ": " + message}; }
  Error context(const std::string& prefix) && {
    message = prefix + ": " + message;
    return std::move(*this);
  }
};

// An Error from the current errno: "what: strerror(errno)".
inline Error sys_error(const std::string& what, int err = errno) {
  return Error{err, what + ": " + std::strerror(err)};
}
inline Error make_error(std::string message, int code = 0) { return Error{code, std::move(message)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  void value() const {}
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_;
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace sysc

// TRY(expr): evaluate a Result; on error return it from the enclosing function, else yield the value.
#define TRY(expr)                                   \
  ({                                                \
    auto _try_r = (expr);                           \
    if (!_try_r.ok()) return std::move(_try_r).error(); \
    std::move(_try_r).value();                      \
  })

// TRY_CTX(expr, prefix): like TRY, but prefixes the error message with context.
#define TRY_CTX(expr, prefix)                                           \
  ({                                                                    \
    auto _try_r = (expr);                                               \
    if (!_try_r.ok()) return std::move(_try_r).error().context(prefix); \
    std::move(_try_r).value();                                          \
  })
