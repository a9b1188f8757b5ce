// Resource limits: cross-key checks, kernel value conversions and JSON (pure logic, host side).
#include "runtime/resource_limits.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace sysc::runtime {

using nlohmann::json;

Status check_limits(const Limits& l) {
  if (l.memory_swap && !l.memory)
    return make_error(std::string(kKeyMemorySwap) + ": needs " + kKeyMemory +
                          " (swap is allowed on top of the memory limit; cgroup v1 can only limit the total)",
                      EINVAL);
  return {};
}

uint64_t v1_memsw_total(uint64_t memory, uint64_t swap) {
  return swap > UINT64_MAX - memory ? UINT64_MAX : memory + swap;
}

std::string v2_cpu_max(uint64_t quota_us) { return std::to_string(quota_us) + " " + std::to_string(kCpuPeriodUs); }

uint64_t v1_cpu_shares(uint32_t weight) {
  return std::clamp<uint64_t>(static_cast<uint64_t>(weight) * 1024 / kWeightDefault, 2, 262144);
}

uint32_t v1_blkio_weight(uint32_t weight) {
  return static_cast<uint32_t>(std::clamp<uint64_t>(static_cast<uint64_t>(weight) * 500 / kWeightDefault, 10, 1000));
}

Result<std::string> io_device_number(const std::string& device) {
  if (device.empty() || device.front() != '/') {
    unsigned maj = 0, min = 0;
    char tail = 0;
    if (sscanf(device.c_str(), "%u:%u%c", &maj, &min, &tail) != 2)
      return make_error("'" + device + "' is neither a /dev path nor MAJ:MIN", EINVAL);
    return std::to_string(maj) + ":" + std::to_string(min);
  }
  struct stat st;
  if (::stat(device.c_str(), &st) != 0) return sys_error(device);
  if (!S_ISBLK(st.st_mode)) return make_error(device + " is not a block device", ENOTBLK);
  return std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
}

namespace {

json bps_to_json(const std::vector<IoBps>& v) {
  json a = json::array();
  for (const auto& e : v) a.push_back({{"device", e.device}, {"bps", e.bps}});
  return a;
}

std::vector<IoBps> bps_from_json(const json& a) {
  std::vector<IoBps> v;
  for (const auto& e : a) v.push_back({e.at("device").get<std::string>(), e.at("bps").get<uint64_t>()});
  return v;
}

}  // namespace

json limits_to_json(const Limits& l) {
  json j = json::object();
  if (l.memory) j["memory"] = *l.memory;
  if (l.memory_swap) j["memory.swap"] = *l.memory_swap;
  if (l.cpu_quota_us) j["cpu"] = static_cast<double>(*l.cpu_quota_us) / static_cast<double>(kCpuPeriodUs);
  if (l.cpu_weight) j["cpu.weight"] = *l.cpu_weight;
  if (l.cpuset) j["cpuset"] = *l.cpuset;
  if (l.pids) j["pids"] = *l.pids;
  if (l.io_weight) j["io.weight"] = *l.io_weight;
  if (!l.io_read_bps.empty()) j["io.read_bps"] = bps_to_json(l.io_read_bps);
  if (!l.io_write_bps.empty()) j["io.write_bps"] = bps_to_json(l.io_write_bps);
  return j;
}

Result<Limits> limits_from_json(const json& j) {
  if (!j.is_object()) return make_error("limits: not a JSON object", EINVAL);
  try {
    Limits l;
    if (j.contains("memory")) l.memory = j.at("memory").get<uint64_t>();
    if (j.contains("memory.swap")) l.memory_swap = j.at("memory.swap").get<uint64_t>();
    // Rounded, not truncated: 0.29 * 100000 is 28999.99... in binary floating point.
    if (j.contains("cpu"))
      l.cpu_quota_us = static_cast<uint64_t>(j.at("cpu").get<double>() * static_cast<double>(kCpuPeriodUs) + 0.5);
    if (j.contains("cpu.weight")) l.cpu_weight = j.at("cpu.weight").get<uint32_t>();
    if (j.contains("cpuset")) l.cpuset = j.at("cpuset").get<std::string>();
    if (j.contains("pids")) l.pids = j.at("pids").get<uint64_t>();
    if (j.contains("io.weight")) l.io_weight = j.at("io.weight").get<uint32_t>();
    if (j.contains("io.read_bps")) l.io_read_bps = bps_from_json(j.at("io.read_bps"));
    if (j.contains("io.write_bps")) l.io_write_bps = bps_from_json(j.at("io.write_bps"));
    return l;
  } catch (const json::exception& e) {
    return make_error(std::string("limits: ") + e.what(), EINVAL);
  }
}

}  // namespace sysc::runtime
