// The device allowlist: its table, the v1 devices.allow lines, and the cgroup2 device program
// (hand-assembled BPF, loaded and attached with bpf(2)). Host side only (sysc-shim).
#include "runtime/devices.h"

#include <cstring>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sysc::devices {

namespace {

constexpr Rule kAllowlist[] = {
    {'c', kAny, kAny, "m"},  // mknod of any char node; opening it is decided by the rules below
    {'b', kAny, kAny, "m"},  // same for block nodes (no block device is ever readable)
    {'c', 1, 3, "rwm"},      // null
    {'c', 1, 5, "rwm"},      // zero
    {'c', 1, 7, "rwm"},      // full
    {'c', 1, 8, "rwm"},      // random
    {'c', 1, 9, "rwm"},      // urandom
    {'c', 5, 0, "rwm"},      // tty
    {'c', 5, 1, "rwm"},      // console
    {'c', 5, 2, "rwm"},      // ptmx
    {'c', 136, kAny, "rwm"}, // pts: the container's devpts and the console (a host pty slave)
    {'c', 10, 200, "rwm"},   // net/tun
    {'c', 10, 229, "rwm"},   // fuse
};

uint32_t access_mask(const char* access) {
  uint32_t m = 0;
  for (const char* p = access; *p; ++p) {
    if (*p == 'r') m |= BPF_DEVCG_ACC_READ;
    if (*p == 'w') m |= BPF_DEVCG_ACC_WRITE;
    if (*p == 'm') m |= BPF_DEVCG_ACC_MKNOD;
  }
  return m;
}
constexpr uint32_t kAllAccess = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

// ---- a minimal eBPF assembler: only the instruction forms the program uses ----
bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn load_u32(uint8_t dst, uint8_t src, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0); }
bpf_insn mov_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn mov_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn and_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm); }
bpf_insn rsh_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm); }
// Offset 0 is a placeholder: rule_block() points it at the end of the block.
bpf_insn jne_imm(uint8_t dst, int32_t imm) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, 0, imm); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

// Registers after the prologue.
constexpr uint8_t kCtx = BPF_REG_1, kAccess = BPF_REG_2, kType = BPF_REG_3, kMajor = BPF_REG_4,
                  kMinor = BPF_REG_5, kScratch = BPF_REG_6;

// One rule: every failed test jumps past the block to the next rule; falling through all of
// them reaches "return 1".
std::vector<bpf_insn> rule_block(const Rule& r) {
  std::vector<bpf_insn> b;
  // Device type: skipped for 'a'.
  if (r.type == 'c') b.push_back(jne_imm(kType, BPF_DEVCG_DEV_CHAR));
  if (r.type == 'b') b.push_back(jne_imm(kType, BPF_DEVCG_DEV_BLOCK));
  // Access: the requested bits must all be in the rule's ("rw" open of an "m" rule fails).
  if (uint32_t mask = access_mask(r.access); mask != kAllAccess) {
    b.push_back(mov_reg(kScratch, kAccess));
    b.push_back(and_imm(kScratch, static_cast<int32_t>(~mask & kAllAccess)));
    b.push_back(jne_imm(kScratch, 0));
  }
  // Major and minor, unless wildcards.
  if (r.major != kAny) b.push_back(jne_imm(kMajor, r.major));
  if (r.minor != kAny) b.push_back(jne_imm(kMinor, r.minor));
  // Match: allow.
  b.push_back(mov_imm(BPF_REG_0, 1));
  b.push_back(exit_insn());
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i].code == (BPF_JMP | BPF_JNE | BPF_K)) b[i].off = static_cast<int16_t>(b.size() - i - 1);
  }
  return b;
}

long bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); }

// Last non-empty line of a verifier log.
std::string last_line(const std::string& log) {
  size_t end = log.find_last_not_of("\n \0", std::string::npos, 3);
  if (end == std::string::npos) return "";
  size_t start = log.rfind('\n', end);
  return log.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

}  // namespace

std::span<const Rule> allowlist() { return kAllowlist; }

std::string to_v1_line(const Rule& r) {
  auto num = [](int32_t n) { return n == kAny ? std::string("*") : std::to_string(n); };
  return std::string(1, r.type) + " " + num(r.major) + ":" + num(r.minor) + " " + r.access;
}

std::vector<std::string> v1_lines(std::span<const Rule> rules) {
  std::vector<std::string> out;
  for (const Rule& r : rules) out.push_back(to_v1_line(r));
  return out;
}

std::vector<bpf_insn> assemble(std::span<const Rule> rules) {
  std::vector<bpf_insn> p = {
      // r2 = ctx->access_type: (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
      load_u32(kAccess, kCtx, offsetof(bpf_cgroup_dev_ctx, access_type)),
      // r3 = device type (low 16 bits), r2 = requested access (high 16 bits)
      mov_reg(kType, kAccess),
      and_imm(kType, 0xffff),
      rsh_imm(kAccess, 16),
      // r4 = major, r5 = minor
      load_u32(kMajor, kCtx, offsetof(bpf_cgroup_dev_ctx, major)),
      load_u32(kMinor, kCtx, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  for (const Rule& r : rules) {
    std::vector<bpf_insn> b = rule_block(r);
    p.insert(p.end(), b.begin(), b.end());
  }
  // No rule matched: deny.
  p.push_back(mov_imm(BPF_REG_0, 0));
  p.push_back(exit_insn());
  return p;
}

Result<UniqueFd> load(const std::vector<bpf_insn>& prog) {
  static const char kLicense[] = "GPL";
  auto attempt = [&](char* log, uint32_t log_size) {
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.expected_attach_type = BPF_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uint64_t>(prog.data());
    attr.insn_cnt = static_cast<uint32_t>(prog.size());
    attr.license = reinterpret_cast<uint64_t>(kLicense);
    std::strncpy(attr.prog_name, "sysc_devices", sizeof attr.prog_name - 1);
    attr.log_buf = reinterpret_cast<uint64_t>(log);
    attr.log_size = log_size;
    attr.log_level = log ? 1 : 0;
    return static_cast<int>(bpf(BPF_PROG_LOAD, attr));
  };
  int fd = attempt(nullptr, 0);
  if (fd >= 0) return UniqueFd(fd);
  const int err = errno;
  Error e = sys_error("load", err);
  // A verifier refusal: load again with a log, so the error says what it disliked.
  if (err == EINVAL || err == EACCES) {
    std::string log(1 << 16, '\0');
    int again = attempt(log.data(), static_cast<uint32_t>(log.size()));
    if (again >= 0) ::close(again);
    else if (std::string line = last_line(log.c_str()); !line.empty()) e.message += " (verifier: " + line + ")";
  }
  return e;
}

Result<ProgInfo> prog_info(int prog_fd) {
  bpf_prog_info info{};
  bpf_attr attr{};
  attr.info.bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.info.info_len = sizeof info;
  attr.info.info = reinterpret_cast<uint64_t>(&info);
  if (bpf(BPF_OBJ_GET_INFO_BY_FD, attr) != 0) return sys_error("program info");
  ProgInfo out;
  std::memcpy(out.tag.data(), info.tag, BPF_TAG_SIZE);
  out.name.assign(info.name, strnlen(info.name, sizeof info.name));
  return out;
}

Result<ProgInfo> prog_info_by_id(uint32_t id) {
  bpf_attr attr{};
  attr.prog_id = id;
  UniqueFd fd(static_cast<int>(bpf(BPF_PROG_GET_FD_BY_ID, attr)));
  if (!fd) return sys_error("program " + std::to_string(id));
  return prog_info(fd.get());
}

Result<std::vector<uint32_t>> attached_ids(const std::string& dir) {
  UniqueFd cg(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) return sys_error("open " + dir);
  std::vector<uint32_t> ids(16);
  for (;;) {
    bpf_attr attr{};
    attr.query.target_fd = static_cast<uint32_t>(cg.get());
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = reinterpret_cast<uint64_t>(ids.data());
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    if (bpf(BPF_PROG_QUERY, attr) == 0) {
      ids.resize(attr.query.prog_cnt);
      return ids;
    }
    // ENOSPC: more programs than room; prog_cnt now says how many.
    if (errno != ENOSPC || attr.query.prog_cnt <= ids.size()) return sys_error("query " + dir);
    ids.resize(attr.query.prog_cnt);
  }
}

Status attach_once(int prog_fd, const std::string& dir) {
  ProgInfo ours = TRY(prog_info(prog_fd));
  for (uint32_t id : TRY(attached_ids(dir))) {
    auto theirs = prog_info_by_id(id);
    if (theirs && theirs->tag == ours.tag && theirs->name == ours.name) return {};
  }
  UniqueFd cg(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) return sys_error("open " + dir);
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cg.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  // ALLOW_MULTI: the parent's program and the container's both run; every one must allow.
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, attr) != 0) return sys_error("attach to " + dir);
  return {};
}

}  // namespace sysc::devices
