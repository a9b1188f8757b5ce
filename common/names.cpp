// Container name validation.
#include "common/names.h"

namespace sysc {

Status validate_name(const std::string& name) {
  auto bad = [&](const char* why) {
    return make_error("invalid container name '" + name + "': " + why +
                          " (allowed: a lowercase letter or digit, then up to 62 lowercase "
                          "letters, digits or '-')",
                      EINVAL);
  };
  if (name.empty()) return bad("empty");
  if (name.size() > 63) return bad("longer than 63 characters");
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(name[0])) return bad("must start with a lowercase letter or digit");
  for (char c : name)
    if (!lower_alnum(c) && c != '-') return bad("contains a character that is not allowed");
  return {};
}

}  // namespace sysc
