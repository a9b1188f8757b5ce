// libFuzzer target: the config parsers and editors never crash or misbehave on any input
// (container and global files, get/set/unset of dotted keys on arbitrary text).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)sysc::config::parse_container(text, "fuzz.conf");
  (void)sysc::config::parse_global(text, "sysc.conf");
  // The first line (if any) is a key, the second a value; the rest is the file to edit.
  size_t nl = text.find('\n');
  std::string key = text.substr(0, nl == std::string::npos ? text.size() : nl);
  std::string rest = nl == std::string::npos ? "" : text.substr(nl + 1);
  size_t nl2 = rest.find('\n');
  std::string value = rest.substr(0, nl2 == std::string::npos ? rest.size() : nl2);
  std::string file = nl2 == std::string::npos ? "" : rest.substr(nl2 + 1);
  if (auto set = sysc::config::set_value(file, "fuzz.conf", key, value); set.ok()) {
    // Whatever set_value accepted must parse and read back.
    if (!sysc::config::parse_container(*set, "fuzz.conf").ok()) __builtin_trap();
    if (!sysc::config::get_value(*set, "fuzz.conf", key).ok()) __builtin_trap();
  }
  (void)sysc::config::unset_value(file, "fuzz.conf", key);
  (void)sysc::config::get_value(file, "fuzz.conf", key);
  (void)sysc::config::parse_signal(key);
  return 0;
}
