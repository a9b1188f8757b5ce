// get/set/unset of one dotted key ("init", "environment.container", "security.cap_drop") in the
// text of a NAME.conf, keeping every other line, comment and the order as they are (host side).
#include <cerrno>
#include <utility>

#include "config/config.h"
#include "config/keys.h"
#include "config/lines.h"

namespace sysc::config {

namespace {

using detail::LineKind;

struct KeyRef {
  std::string section;
  std::string name;
};

// "init" -> [container] init; "environment.container" -> [environment] container.
Result<KeyRef> resolve_key(const std::string& key) {
  size_t dot = key.find('.');
  // "net.0.ipv4" -> [net.0] ipv4: indexed sections take two components.
  if (key.rfind("net.", 0) == 0) dot = key.find('.', 4);
  KeyRef ref = dot == std::string::npos ? KeyRef{"container", key} : KeyRef{key.substr(0, dot), key.substr(dot + 1)};
  const auto* def = detail::find_key(detail::container_table(), ref.section, ref.name);
  if (def == nullptr || ref.name.empty()) return make_error("unknown key '" + key + "'", EINVAL);
  if (def->name_ok != nullptr) {
    Status ok = def->name_ok(ref.name);
    if (!ok) return make_error("unknown key '" + key + "': " + ok.error().message, EINVAL);
  }
  return ref;
}

// Where a key lives in the text: the lines setting it and the last header of its section.
struct Location {
  std::vector<size_t> key_lines;
  std::optional<size_t> section_begin;  // header line of the section's last occurrence
  size_t section_end = 0;               // one past its last line
};

Location locate(const std::vector<std::string>& lines, const KeyRef& ref) {
  Location loc;
  std::string section;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto info = detail::classify_line(lines[i], /*first=*/i == 0);
    if (info.kind == LineKind::Section) {
      if (section == ref.section && loc.section_begin) loc.section_end = i;
      section = info.section;
      if (section == ref.section) loc.section_begin = i;
    } else if (info.kind == LineKind::Key && section == ref.section && info.name == ref.name) {
      loc.key_lines.push_back(i);
    }
  }
  if (section == ref.section && loc.section_begin) loc.section_end = lines.size();
  return loc;
}

// Below the commented-out default of the key if the section shows one, else after the last
// non-blank line of the section.
size_t insertion_point(const std::vector<std::string>& lines, const Location& loc, const std::string& name) {
  size_t begin = *loc.section_begin;
  size_t at = begin + 1;
  for (size_t i = begin + 1; i < loc.section_end; ++i)
    if (!detail::trim(lines[i]).empty()) at = i + 1;
  for (size_t i = begin + 1; i < loc.section_end; ++i)
    if (detail::is_commented_key(lines[i], name)) at = i + 1;
  return at;
}

// Replace only the value on LINE, keeping indentation, spacing and a trailing '\r'.
std::string replace_value(const std::string& line, const std::string& value) {
  auto info = detail::classify_line(line);
  std::string before = line.substr(0, info.value_begin);
  if (!before.empty() && (before.back() == '=' || before.back() == ':')) before += ' ';
  return before + value + line.substr(info.value_end);
}

}  // namespace

Result<std::string> get_value(const std::string& content, const std::string& filename, const std::string& key) {
  KeyRef ref = TRY(resolve_key(key));
  auto lines = detail::split_lines(content);
  Location loc = locate(lines, ref);
  if (loc.key_lines.empty()) return make_error(key + " is not set in " + filename, ENOENT);
  return detail::classify_line(lines[loc.key_lines.front()], loc.key_lines.front() == 0).value;
}

Result<std::string> set_value(const std::string& content, const std::string& filename, const std::string& key,
                              const std::string& raw_value) {
  KeyRef ref = TRY(resolve_key(key));
  if (raw_value.find_first_of("\r\n") != std::string::npos)
    return make_error("value of " + key + " must be a single line", EINVAL);
  std::string value(detail::trim(raw_value));
  auto lines = detail::split_lines(content);
  Location loc = locate(lines, ref);
  std::string new_line = ref.name + " = " + value;
  if (!loc.key_lines.empty()) {
    lines[loc.key_lines.front()] = replace_value(lines[loc.key_lines.front()], value);
  } else if (loc.section_begin) {
    size_t at = insertion_point(lines, loc, ref.name);
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), new_line);
  } else {
    if (!lines.empty() && !detail::trim(lines.back()).empty()) lines.emplace_back();
    lines.push_back("[" + ref.section + "]");
    lines.push_back(new_line);
  }
  std::string result = detail::join_lines(lines);
  TRY(parse_container(result, filename));
  return result;
}

Result<std::string> unset_value(const std::string& content, const std::string&, const std::string& key) {
  KeyRef ref = TRY(resolve_key(key));
  auto lines = detail::split_lines(content);
  Location loc = locate(lines, ref);
  if (loc.key_lines.empty()) return content;
  for (auto it = loc.key_lines.rbegin(); it != loc.key_lines.rend(); ++it)
    lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(*it));
  return detail::join_lines(lines);
}

}  // namespace sysc::config
