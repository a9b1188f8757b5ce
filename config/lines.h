// Internal to config/: how one physical line of a config file is read, shared by the parser
// (which feeds inih) and by get/set/unset (which edit the text line by line).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sysc::config::detail {

enum class LineKind { Blank, Comment, Section, Key, Bad };

struct LineInfo {
  LineKind kind = LineKind::Blank;
  std::string section;      // Section: the name between the brackets, trimmed
  std::string name;         // Key: text before the first '=' or ':', trimmed
  std::string value;        // Key: text after it, trimmed; no inline comments (';' and '#' are data)
  size_t value_begin = 0;   // Key: offset of the value in the raw line (end of separator + blanks)
  size_t value_end = 0;     // Key: offset just past the value
  std::string problem;      // Bad: why the line is not understood
};

// Classify one physical line (without its '\n'). `first` strips a UTF-8 byte order mark.
LineInfo classify_line(std::string_view raw, bool first = false);

// A comment line that is a commented-out setting ("#stop_timeout = 30") of NAME.
bool is_commented_key(std::string_view raw, const std::string& name);

// Split into physical lines without their '\n'; a final line without '\n' is kept.
std::vector<std::string> split_lines(const std::string& content);
// Join lines, each followed by '\n'.
std::string join_lines(const std::vector<std::string>& lines);

std::string_view trim(std::string_view s);

}  // namespace sysc::config::detail
