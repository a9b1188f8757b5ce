// Printing to stdout: JSON documents, tables, "Key: value" blocks, and local times.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace sysc::cli {

void print_json(const nlohmann::json& doc);  // pretty, two-space indent
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
void print_fields(const std::vector<std::pair<std::string, std::string>>& fields);

// Epoch seconds as local time with strftime FORMAT; 0 (never) -> "-".
std::string local_time(int64_t epoch, const char* format = "%Y-%m-%d %H:%M:%S");

// Format choices of list/info: returns false when VALUE is none of ALLOWED.
bool is_one_of(const std::string& value, const std::vector<std::string>& allowed);

}  // namespace sysc::cli
