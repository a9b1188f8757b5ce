// Parsing sysc.conf and NAME.conf with inih into the typed structs (host side, no logging).
//
// inih drives the parse: our reader hands it one physical line per call and counts lines, and its
// handler applies each key through the key table. The reader classifies each line itself and
// passes inih a sanitized copy, because the library as built by Debian would otherwise
//  - cut values at " ;" (inline comments), though init command lines may contain ';',
//  - treat indented lines as continuations of the previous value (multi-line values),
//  - split lines longer than its 200-byte stack buffer and truncate names at 50 bytes.
// So names and values are taken from our own classification of the raw line, never from the
// strings inih passes to the handler; inih's part is the order of calls and the section state.
#include <ini.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "config/config.h"
#include "config/keys.h"
#include "config/lines.h"

namespace sysc::config {

namespace {

using detail::KeyDef;
using detail::LineInfo;
using detail::LineKind;

template <class Cfg>
struct ParseState {
  const std::vector<KeyDef<Cfg>>& table;
  const std::string& filename;
  std::vector<std::string> lines;
  size_t next = 0;          // index of the next line the reader returns
  LineInfo current;         // the line inih is processing
  bool handled = false;     // the handler ran for `current`
  std::string section;      // current section; empty before the first header
  bool section_ok = false;  // current section is known (keys of unknown ones are not reported again)
  std::map<std::pair<std::string, std::string>, int> seen;  // (section, name) -> first line
  std::vector<std::string> errors;
  Cfg cfg;

  int lineno() const { return static_cast<int>(next); }
  void error(const std::string& message) {
    errors.push_back(filename + ":" + std::to_string(lineno()) + ": " + message);
  }
};

// Keep ';' and '#' away from inih (inline comments); the text it sees is never used for data.
std::string sanitize(const std::string& s) {
  std::string out = s;
  for (char& ch : out)
    if (ch == ';' || ch == '#') ch = '_';
  return out;
}

// What inih gets for a line: "[section]", "name=value" (or "name=" if too long), or an empty line.
std::string line_for_inih(const LineInfo& info, size_t room) {
  std::string out;
  if (info.kind == LineKind::Section) out = "[" + sanitize(info.section) + "]";
  if (info.kind == LineKind::Key) {
    out = sanitize(info.name) + "=" + sanitize(info.value);
    if (out.size() > room) out = sanitize(info.name) + "=";
  }
  return out.size() > room ? std::string() : out;
}

template <class Cfg>
void enter_section(ParseState<Cfg>& st, const std::string& section) {
  st.section = section;
  st.section_ok = detail::known_section(st.table, section);
  if (!st.section_ok)
    st.error("unknown section [" + section + "] (known sections: " + detail::section_list(st.table) + ")");
}

template <class Cfg>
char* reader(char* buf, int num, void* stream) {
  auto& st = *static_cast<ParseState<Cfg>*>(stream);
  if (st.next >= st.lines.size() || num < 3) return nullptr;
  st.current = detail::classify_line(st.lines[st.next], /*first=*/st.next == 0);
  st.handled = false;
  ++st.next;
  if (st.current.kind == LineKind::Bad)
    st.error("syntax error: " + st.current.problem + ", got '" + std::string(detail::trim(st.lines[st.next - 1])) + "'");
  if (st.current.kind == LineKind::Section) enter_section(st, st.current.section);
  std::string text = line_for_inih(st.current, static_cast<size_t>(num) - 2);
  if (text.empty() && st.current.kind == LineKind::Key)
    st.error("key name too long: '" + st.current.name.substr(0, 64) + "...'");
  if (text.empty()) st.current.kind = LineKind::Blank;
  text += '\n';
  std::memcpy(buf, text.c_str(), text.size() + 1);
  return buf;
}

template <class Cfg>
void apply_key(ParseState<Cfg>& st, const LineInfo& line) {
  const std::string& sec = st.section;
  const KeyDef<Cfg>* def = detail::find_key(st.table, sec, line.name);
  if (def == nullptr) {
    st.error("unknown key '" + line.name + "' in section [" + sec + "]");
    return;
  }
  if (def->name_ok != nullptr) {
    Status ok = def->name_ok(line.name);
    if (!ok) {
      st.error("bad name '" + line.name + "' in section [" + sec + "]: " + ok.error().message);
      return;
    }
  }
  auto [it, inserted] = st.seen.emplace(std::make_pair(sec, line.name), st.lineno());
  if (!inserted) {
    st.error("duplicate key '" + line.name + "' in section [" + sec + "] (first set on line " +
             std::to_string(it->second) + ")");
    return;
  }
  int index = 0;
  detail::section_matches(def->section, sec, &index);
  Status applied = def->apply_indexed ? def->apply_indexed(st.cfg, index, line.value)
                                      : def->apply(st.cfg, line.name, line.value);
  if (!applied)
    st.error("bad value '" + line.value + "' for key '" + line.name + "' in section [" + sec +
             "]: " + applied.error().message);
}

template <class Cfg>
int handler(void* user, const char*, const char*, const char*) {
  auto& st = *static_cast<ParseState<Cfg>*>(user);
  if (st.current.kind != LineKind::Key || st.handled) return 1;
  st.handled = true;
  if (st.section.empty())
    st.error("key '" + st.current.name + "' outside any section (put it under a [section] header)");
  else if (st.section_ok)
    apply_key(st, st.current);
  return 1;
}

template <class Cfg>
Result<Cfg> parse(const std::vector<KeyDef<Cfg>>& table, const std::string& content, const std::string& filename) {
  ParseState<Cfg> st{table, filename};
  st.lines = detail::split_lines(content);
  // inih's own verdict is not used: every line it could object to was already reported by the
  // reader, with a better message, and the rest were turned into lines it accepts.
  int rc = ini_parse_stream(reader<Cfg>, &st, handler<Cfg>, &st);
  if (rc == -2) return make_error(filename + ": out of memory while parsing", ENOMEM);
  if (!st.errors.empty()) {
    std::string message;
    for (const auto& e : st.errors) message += (message.empty() ? "" : "\n") + e;
    return make_error(std::move(message), EINVAL);
  }
  return std::move(st.cfg);
}

}  // namespace

Result<GlobalConfig> parse_global(const std::string& content, const std::string& filename) {
  return parse(detail::global_table(), content, filename);
}

Result<ContainerConfig> parse_container(const std::string& content, const std::string& filename) {
  return parse(detail::container_table(), content, filename);
}

}  // namespace sysc::config
