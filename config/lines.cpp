// Internal to config/: classification of config file lines (comments, [section], key = value).
#include "config/lines.h"

namespace sysc::config::detail {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Comments start only at the beginning of a line (after blanks): values may contain ';' and '#',
// which matters for init command lines and environment values.
LineInfo classify_line(std::string_view raw, bool first) {
  LineInfo info;
  size_t base = 0;
  if (first && raw.substr(0, 3) == "\xEF\xBB\xBF") base = 3;
  std::string_view s = trim(raw.substr(base));
  if (s.empty()) return info;
  if (s.front() == ';' || s.front() == '#') {
    info.kind = LineKind::Comment;
    return info;
  }
  if (s.front() == '[') {
    size_t close = s.find(']');
    std::string_view rest = close == std::string_view::npos ? s : trim(s.substr(close + 1));
    if (close == std::string_view::npos) {
      info.kind = LineKind::Bad;
      info.problem = "missing ']' in section header";
    } else if (!rest.empty() && rest.front() != ';' && rest.front() != '#') {
      info.kind = LineKind::Bad;
      info.problem = "unexpected text after section header";
    } else {
      info.kind = LineKind::Section;
      info.section = std::string(trim(s.substr(1, close - 1)));
    }
    return info;
  }
  size_t sep = s.find_first_of("=:");
  if (sep == std::string_view::npos || trim(s.substr(0, sep)).empty()) {
    info.kind = LineKind::Bad;
    info.problem = sep == std::string_view::npos ? "expected '[section]' or 'key = value'" : "missing key name";
    return info;
  }
  info.kind = LineKind::Key;
  info.name = std::string(trim(s.substr(0, sep)));
  // Offsets into raw: s starts after base + leading blanks.
  size_t s_off = static_cast<size_t>(s.data() - raw.data());
  size_t vb = sep + 1;
  while (vb < s.size() && is_blank(s[vb])) ++vb;
  info.value = std::string(s.substr(vb));
  info.value_begin = s_off + vb;
  info.value_end = s_off + s.size();
  return info;
}

bool is_commented_key(std::string_view raw, const std::string& name) {
  std::string_view s = trim(raw);
  if (s.empty() || (s.front() != '#' && s.front() != ';')) return false;
  while (!s.empty() && (s.front() == '#' || s.front() == ';')) s.remove_prefix(1);
  s = trim(s);
  // Prose mentions keys too ("init: the program..."), so only "NAME =" counts.
  if (s.substr(0, name.size()) != name) return false;
  s = trim(s.substr(name.size()));
  return !s.empty() && s.front() == '=';
}

std::vector<std::string> split_lines(const std::string& content) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(content.substr(pos));
      break;
    }
    lines.push_back(content.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += l;
    out += '\n';
  }
  return out;
}

}  // namespace sysc::config::detail
