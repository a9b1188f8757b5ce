// Resource limits of one container (the [limits] section of NAME.conf, typed): what they mean,
// the kernel values they turn into on cgroup v1 and v2, and their JSON form (spec, info).
// Pure logic, host side (lxcd, sysc-shim). The cgroup drivers write them (Driver::apply_limits).
// (Not named limits.h: sysc-shim has runtime/ on its include path, where it would shadow <limits.h>.)
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace sysc::runtime {

// CFS period for the cpu limit: quota and period are written together, so "cpu = 1.5" is
// 150000 us of CPU time in every 100000 us, on v1 and v2 alike.
inline constexpr uint64_t kCpuPeriodUs = 100000;
// Kernel bounds (cfs_quota_us has a 1 ms minimum; the upper bounds are sysc's, generous).
inline constexpr uint64_t kCpuQuotaMinUs = 1000;
inline constexpr uint64_t kCpuQuotaMaxUs = 1024 * kCpuPeriodUs;  // 1024 CPUs
inline constexpr uint32_t kWeightMin = 1, kWeightMax = 10000, kWeightDefault = 100;
inline constexpr uint64_t kPidsMax = 4194304;  // PID_MAX_LIMIT

// The dotted key names, as in config/keys.cpp's [limits] rows (a unit test checks they match);
// errors name the key so the user knows which line to change.
inline constexpr const char* kKeyMemory = "limits.memory";
inline constexpr const char* kKeyMemorySwap = "limits.memory.swap";
inline constexpr const char* kKeyCpu = "limits.cpu";
inline constexpr const char* kKeyCpuWeight = "limits.cpu.weight";
inline constexpr const char* kKeyCpuset = "limits.cpuset";
inline constexpr const char* kKeyPids = "limits.pids";
inline constexpr const char* kKeyIoWeight = "limits.io.weight";
inline constexpr const char* kKeyIoReadBps = "limits.io.read_bps";
inline constexpr const char* kKeyIoWriteBps = "limits.io.write_bps";

// One device's bandwidth cap: "/dev/vda 10M" (a block device path, resolved when applied) or
// "254:0 10M" (its numbers).
struct IoBps {
  std::string device;
  uint64_t bps = 0;  // bytes per second
  bool operator==(const IoBps&) const = default;
};

// Every field unset = nothing is written (the kernel defaults: unlimited). The same meaning on
// both cgroup versions; the drivers convert.
struct Limits {
  std::optional<uint64_t> memory;        // bytes of RAM (page cache included)
  std::optional<uint64_t> memory_swap;   // bytes of swap allowed ON TOP of memory (needs memory)
  std::optional<uint64_t> cpu_quota_us;  // CPU time per kCpuPeriodUs: 1.5 CPUs = 150000
  std::optional<uint32_t> cpu_weight;    // share of contended CPU, kWeightMin..kWeightMax, default 100
  std::optional<std::string> cpuset;     // CPUs it may run on: "0-1", "0,2", "0-3,6"
  std::optional<uint64_t> pids;          // tasks (processes and threads), 1..kPidsMax
  std::optional<uint32_t> io_weight;     // share of contended block I/O, kWeightMin..kWeightMax, default 100
  std::vector<IoBps> io_read_bps;        // per-device read bandwidth caps (v1 blkio.throttle, v2 io.max)
  std::vector<IoBps> io_write_bps;       // per-device write bandwidth caps

  bool empty() const {
    return !memory && !memory_swap && !cpu_quota_us && !cpu_weight && !cpuset && !pids && !io_weight &&
           io_read_bps.empty() && io_write_bps.empty();
  }
  bool operator==(const Limits&) const = default;
};

// Combinations the kernel cannot express the same way on both versions: memory.swap without
// memory (v1 only knows memory+swap as one total). "limits.memory.swap: ..." on failure.
Status check_limits(const Limits& l);

// v1 memory.memsw.limit_in_bytes: memory + swap (saturating).
uint64_t v1_memsw_total(uint64_t memory, uint64_t swap);
// v2 cpu.max: "150000 100000".
std::string v2_cpu_max(uint64_t quota_us);
// v1 cpu.shares from a weight: weight * 1024 / 100 (100 -> 1024, the v1 default), clamped to
// the kernel's 2..262144 (systemd's conversion).
uint64_t v1_cpu_shares(uint32_t weight);
// v1 blkio.weight from a weight: weight * 500 / 100 (100 -> 500, the v1 default), clamped to
// the kernel's 10..1000.
uint32_t v1_blkio_weight(uint32_t weight);

// "MAJ:MIN" of DEVICE: a block device path (stat'ed now) or "MAJ:MIN" as given.
Result<std::string> io_device_number(const std::string& device);

// JSON with the config key names without "limits." ({"memory": 67108864, "cpu": 1.5, ...});
// unset fields are left out. from_json accepts what to_json wrote.
nlohmann::json limits_to_json(const Limits& l);
Result<Limits> limits_from_json(const nlohmann::json& j);

}  // namespace sysc::runtime
