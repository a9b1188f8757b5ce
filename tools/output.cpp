// Printing to stdout: JSON documents, tables, "Key: value" blocks, and local times.
#include "tools/output.h"

#include <algorithm>
#include <ctime>
#include <iostream>

#include "tools/format.h"

namespace sysc::cli {

void print_json(const nlohmann::json& doc) { std::cout << doc.dump(2) << "\n"; }

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::cout << render_table(header, rows);
}

void print_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::cout << render_fields(fields);
}

std::string local_time(int64_t epoch, const char* format) {
  if (epoch <= 0) return "-";
  time_t t = static_cast<time_t>(epoch);
  struct tm tm;
  if (!localtime_r(&t, &tm)) return std::to_string(epoch);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

bool is_one_of(const std::string& value, const std::vector<std::string>& allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

}  // namespace sysc::cli
