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
};

const std::vector<KeyDef<ContainerConfig>>& container_table();
const std::vector<KeyDef<GlobalConfig>>& global_table();

// The row for SECTION/NAME, or nullptr. A row with name == nullptr matches any name in its section
// (name_ok then decides whether the name is acceptable).
template <class Cfg>
const KeyDef<Cfg>* find_key(const std::vector<KeyDef<Cfg>>& table, const std::string& section,
                            const std::string& name) {
  for (const auto& def : table)
    if (section == def.section && (def.name == nullptr || name == def.name)) return &def;
  return nullptr;
}

template <class Cfg>
bool known_section(const std::vector<KeyDef<Cfg>>& table, const std::string& section) {
  for (const auto& def : table)
    if (section == def.section) return true;
  return false;
}

// "container, environment, security": for error messages.
template <class Cfg>
std::string section_list(const std::vector<KeyDef<Cfg>>& table) {
  std::string out;
  for (const auto& def : table) {
    std::string s = def.section;
    if (out == s || out.ends_with(", " + s)) continue;
    out += (out.empty() ? "" : ", ") + s;
  }
  return out;
}

}  // namespace sysc::config::detail
