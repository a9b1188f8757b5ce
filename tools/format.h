// Pure text formatting for CLI output (header-only so unit tests can use it): sizes, durations,
// aligned tables and "Key: value" blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace sysc::cli {

// 512 -> "512 B", 1258291 -> "1.2 MiB" (binary units, one decimal).
inline std::string format_bytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    u++;
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

// Nanoseconds of CPU time as seconds with two decimals: 420000000 -> "0.42 s".
inline std::string format_cpu_ns(uint64_t ns) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

// Columns separated by three spaces, each as wide as its widest cell; the last column is not
// padded (no trailing blanks). Every line ends with '\n'.
inline std::string render_table(const std::vector<std::string>& header,
                                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  auto measure = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size() && i < width.size(); i++) width[i] = std::max(width[i], r[i].size());
  };
  measure(header);
  for (auto& r : rows) measure(r);
  std::string out;
  auto emit = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < width.size(); i++) {
      const std::string cell = i < r.size() ? r[i] : "";
      out += cell;
      if (i + 1 < width.size()) out += std::string(width[i] - cell.size() + 3, ' ');
    }
    out += '\n';
  };
  emit(header);
  for (auto& r : rows) emit(r);
  return out;
}

// "Key:" padded so the values line up: {{"Name","web1"},{"Init PID","42"}} ->
// "Name:     web1\nInit PID: 42\n".
inline std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (auto& f : fields) width = std::max(width, f.first.size());
  std::string out;
  for (auto& [key, value] : fields) out += key + ":" + std::string(width - key.size() + 1, ' ') + value + "\n";
  return out;
}

}  // namespace sysc::cli
