// Internal to config/: the key tables. Each row maps one key (section + name) to the parser that
// fills its typed field, like systemd-nspawn's gperf table; every key string lives here.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace sysc::config::detail {

template <class Cfg>
struct KeyDef {
  const char* section;
  const char* name;  // nullptr: any name accepted by name_ok (the [environment] section)
  // Parse VALUE into the field. The error message is only the reason ("expected ..."): the caller
  // adds file, line, key and value.
  Status (*apply)(Cfg& cfg, const std::string& name, const std::string& value);
  const char* description;
  Status (*name_ok)(const std::string& name) = nullptr;
  // For sections "PREFIX.*" ([net.0], [net.1]): called with N instead of `apply`.
  Status (*apply_indexed)(Cfg& cfg, int index, const std::string& value) = nullptr;
};

// "net.*" matches "net.0" .. "net.15"; other sections match exactly. *index gets N.
inline bool section_matches(const char* def_section, const std::string& section, int* index = nullptr) {
  std::string d = def_section;
  if (!d.ends_with(".*")) return section == d;
  std::string prefix = d.substr(0, d.size() - 1);
  if (section.rfind(prefix, 0) != 0) return false;
  std::string n = section.substr(prefix.size());
  if (n.empty() || n.size() > 2 || (n.size() == 2 && n[0] == '0')) return false;
  for (char c : n)
    if (c < '0' || c > '9') return false;
  int v = std::stoi(n);
  if (v > 15) return false;
  if (index) *index = v;
  return true;
}

const std::vector<KeyDef<ContainerConfig>>& container_table();
const std::vector<KeyDef<GlobalConfig>>& global_table();

// The row for SECTION/NAME, or nullptr. A row with name == nullptr matches any name in its section
// (name_ok then decides whether the name is acceptable).
template <class Cfg>
const KeyDef<Cfg>* find_key(const std::vector<KeyDef<Cfg>>& table, const std::string& section,
                            const std::string& name) {
  for (const auto& def : table)
    if (section_matches(def.section, section) && (def.name == nullptr || name == def.name)) return &def;
  return nullptr;
}

template <class Cfg>
bool known_section(const std::vector<KeyDef<Cfg>>& table, const std::string& section) {
  for (const auto& def : table)
    if (section_matches(def.section, section)) return true;
  return false;
}

// "container, environment, security": for error messages.
template <class Cfg>
std::string section_list(const std::vector<KeyDef<Cfg>>& table) {
  std::string out;
  for (const auto& def : table) {
    std::string s = def.section;
    if (s.ends_with(".*")) s.replace(s.size() - 1, 1, "N");
    if (out == s || out.ends_with(", " + s)) continue;
    out += (out.empty() ? "" : ", ") + s;
  }
  return out;
}

}  // namespace sysc::config::detail
