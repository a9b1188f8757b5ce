// Unit tests for the device allowlist: its v1 lines, and the cgroup2 device program run through
// a tiny interpreter of the few eBPF instructions the assembler emits, checked against the v1
// matching rules for every device class the allowlist and its neighbours touch.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "runtime/devices.h"

using namespace sysc;
using namespace sysc::devices;

namespace {

// Executes PROG on a bpf_cgroup_dev_ctx; fails the test on an instruction it does not know,
// a backward or out-of-range jump, or falling off the end.
int run(const std::vector<bpf_insn>& prog, const bpf_cgroup_dev_ctx& ctx) {
  uint64_t r[11] = {};
  const auto* mem = reinterpret_cast<const uint8_t*>(&ctx);
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const bpf_insn& i = prog[pc];
    switch (i.code) {
      case BPF_LDX | BPF_MEM | BPF_W: {
        EXPECT_EQ(i.src_reg, BPF_REG_1);
        EXPECT_TRUE(i.off >= 0 && i.off + 4 <= static_cast<int>(sizeof ctx) && i.off % 4 == 0) << i.off;
        uint32_t v;
        std::memcpy(&v, mem + i.off, 4);
        r[i.dst_reg] = v;
        break;
      }
      case BPF_ALU64 | BPF_MOV | BPF_X: r[i.dst_reg] = r[i.src_reg]; break;
      case BPF_ALU64 | BPF_MOV | BPF_K: r[i.dst_reg] = static_cast<uint64_t>(static_cast<int64_t>(i.imm)); break;
      case BPF_ALU64 | BPF_AND | BPF_K: r[i.dst_reg] &= static_cast<uint64_t>(static_cast<int64_t>(i.imm)); break;
      case BPF_ALU64 | BPF_RSH | BPF_K: r[i.dst_reg] >>= i.imm; break;
      case BPF_JMP | BPF_JNE | BPF_K:
        EXPECT_GE(i.off, 0);
        EXPECT_LT(pc + 1 + i.off, prog.size());
        if (r[i.dst_reg] != static_cast<uint64_t>(static_cast<int64_t>(i.imm))) pc += i.off;
        break;
      case BPF_JMP | BPF_EXIT: return static_cast<int>(r[0]);
      default: ADD_FAILURE() << "unknown opcode " << int(i.code) << " at " << pc; return -1;
    }
  }
  ADD_FAILURE() << "fell off the end";
  return -1;
}

// The v1 devices cgroup's rule: some entry matches type, major, minor and holds every
// requested access bit.
bool v1_allows(char type, uint32_t major, uint32_t minor, const std::string& access) {
  for (const Rule& r : allowlist()) {
    if (r.type != 'a' && r.type != type) continue;
    if (r.major != kAny && static_cast<uint32_t>(r.major) != major) continue;
    if (r.minor != kAny && static_cast<uint32_t>(r.minor) != minor) continue;
    bool all = true;
    for (char c : access) all = all && std::string(r.access).find(c) != std::string::npos;
    if (all) return true;
  }
  return false;
}

bpf_cgroup_dev_ctx ctx(char type, uint32_t major, uint32_t minor, const std::string& access) {
  uint32_t acc = 0;
  for (char c : access) acc |= c == 'r' ? BPF_DEVCG_ACC_READ : c == 'w' ? BPF_DEVCG_ACC_WRITE : BPF_DEVCG_ACC_MKNOD;
  uint32_t dev = type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
  return {acc << 16 | dev, major, minor};
}

}  // namespace

TEST(Devices, AllowlistRendersToExactV1Lines) {
  EXPECT_EQ(v1_lines(allowlist()),
            (std::vector<std::string>{"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                                      "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
                                      "c 10:200 rwm", "c 10:229 rwm"}));
  EXPECT_EQ(to_v1_line({'a', kAny, kAny, "rwm"}), "a *:* rwm");
  EXPECT_EQ(to_v1_line({'b', 7, kAny, "r"}), "b 7:* r");
  EXPECT_EQ(to_v1_line({'c', kAny, 4, "rw"}), "c *:4 rw");
}

TEST(Devices, ProgramShape) {
  auto p = assemble(allowlist());
  // Prologue 6; "allow" is 2 (r0 = 1, exit): mknod-any rules 6 each (type, 3 for access,
  // allow); exact rules 5 (type, major, minor, allow); 136:* 4; the final deny 2.
  EXPECT_EQ(p.size(), 6u + 2 * 6 + 10 * 5 + 4 + 2);
  EXPECT_LE(p.size(), 4096u);  // far below BPF_MAXINSNS
  EXPECT_EQ(p.front().code, BPF_LDX | BPF_MEM | BPF_W);
  EXPECT_EQ(p[p.size() - 2].code, BPF_ALU64 | BPF_MOV | BPF_K);
  EXPECT_EQ(p[p.size() - 2].imm, 0);  // default deny
  EXPECT_EQ(p.back().code, BPF_JMP | BPF_EXIT);
  // The empty list denies everything.
  auto none = assemble({});
  EXPECT_EQ(none.size(), 8u);
  EXPECT_EQ(run(none, ctx('c', 1, 3, "rw")), 0);
}

TEST(Devices, ProgramAgreesWithV1Rules) {
  auto p = assemble(allowlist());
  const std::vector<std::pair<uint32_t, uint32_t>> nums = {
      {1, 3},   {1, 5},   {1, 7},   {1, 8},   {1, 9},  {1, 1}, {1, 2},  {1, 11}, {5, 0},   {5, 1},
      {5, 2},   {5, 3},   {136, 0}, {136, 7}, {137, 0}, {4, 0}, {7, 0}, {8, 0},  {10, 237}, {10, 200},
      {10, 229}, {10, 201}, {0, 0},  {3, 1},   {200, 10}, {253, 0}};
  int checked = 0;
  for (char type : {'c', 'b'})
    for (auto [maj, min] : nums)
      for (const char* acc : {"r", "w", "m", "rw", "rm", "wm", "rwm"}) {
        const bool want = v1_allows(type, maj, min, acc);
        EXPECT_EQ(run(p, ctx(type, maj, min, acc)), want ? 1 : 0)
            << type << " " << maj << ":" << min << " " << acc;
        ++checked;
      }
  EXPECT_EQ(checked, 2 * 26 * 7);
  // The cases the review named, spelled out.
  EXPECT_EQ(run(p, ctx('c', 10, 237, "m")), 1);   // mknod loop-control: allowed
  EXPECT_EQ(run(p, ctx('c', 10, 237, "rw")), 0);  // opening it: denied
  EXPECT_EQ(run(p, ctx('c', 7, 0, "r")), 0);      // host text console (vcs)
  EXPECT_EQ(run(p, ctx('b', 7, 0, "r")), 0);      // loop0
  EXPECT_EQ(run(p, ctx('c', 136, 3, "rw")), 1);   // a pts, e.g. the console
  EXPECT_EQ(run(p, ctx('c', 1, 3, "rw")), 1);     // null
}
