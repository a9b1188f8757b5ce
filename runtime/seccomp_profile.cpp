// Seccomp rules: defaults, the profile file parser, JSON (host side).
#include "runtime/seccomp_profile.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <seccomp.h>
#include <sstream>
#include <sys/mount.h>

#include "common/fs.h"

namespace sysc::runtime {

namespace {

// Denied with EPERM: loading kernel code, replacing the kernel, escaping the mount namespace by
// file handle, raw port I/O, swap on host devices.
const char* const kDenyEperm[] = {
    "kexec_load", "kexec_file_load", "open_by_handle_at", "init_module", "finit_module",
    "delete_module", "iopl", "ioperm", "swapon", "swapoff",
};
// Keyrings are not namespaced: ENOSYS makes systemd and friends fall back as on a kernel
// without CONFIG_KEYS instead of failing.
const char* const kDenyEnosys[] = {"keyctl", "add_key", "request_key"};

Error bad(const std::string& filename, int line, const std::string& what) {
  return make_error(filename + ":" + std::to_string(line) + ": " + what, EINVAL);
}

}  // namespace

std::vector<SeccompRule> default_seccomp_rules() {
  std::vector<SeccompRule> rules;
  for (const char* n : kDenyEperm) rules.push_back({n, EPERM});
  for (const char* n : kDenyEnosys) rules.push_back({n, ENOSYS});
  // A forced umount can pull a filesystem out from under the host's users of it.
  rules.push_back({"umount2", EPERM, 1, MNT_FORCE, MNT_FORCE});
  return rules;
}

Result<int> parse_errno(const std::string& s) {
  int n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (!s.empty() && ec == std::errc() && ptr == s.data() + s.size()) {
    if (n >= 1 && n <= 4095) return n;
  } else {
    for (int e = 1; e < 4096; ++e)
      if (const char* name = strerrorname_np(e); name && s == name) return e;
  }
  return make_error("expected an errno name like EPERM or ENOSYS, or a number from 1 to 4095", EINVAL);
}

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : std::to_string(err);
}

Status apply_seccomp_profile(std::vector<SeccompRule>& rules, const std::string& content,
                             const std::string& filename) {
  std::istringstream in(content);
  int lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    if (w.empty()) continue;
    const std::string& verb = w[0];
    if (verb != "deny" && verb != "allow")
      return bad(filename, lineno, "unknown directive '" + verb + "' (expected: deny SYSCALL [ERRNO] | allow SYSCALL)");
    if (w.size() < 2 || (verb == "allow" && w.size() > 2) || w.size() > 3)
      return bad(filename, lineno, "expected: deny SYSCALL [ERRNO] | allow SYSCALL");
    const std::string& name = w[1];
    if (seccomp_syscall_resolve_name(name.c_str()) == __NR_SCMP_ERROR)
      return bad(filename, lineno, "unknown system call '" + name + "'");
    std::erase_if(rules, [&](const SeccompRule& r) { return r.syscall == name; });
    if (verb == "allow") continue;
    int err = EPERM;
    if (w.size() == 3) {
      auto e = parse_errno(w[2]);
      if (!e) return bad(filename, lineno, "bad errno '" + w[2] + "': " + e.error().message);
      err = *e;
    }
    rules.push_back({name, err});
  }
  return {};
}

Status apply_seccomp_profile_file(std::vector<SeccompRule>& rules, const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::move(text).error().context("seccomp profile");
  return apply_seccomp_profile(rules, *text, path);
}

nlohmann::json seccomp_rules_to_json(const std::vector<SeccompRule>& rules) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : rules) {
    nlohmann::json j = {{"syscall", r.syscall}, {"errno", r.err}};
    if (r.arg_index >= 0) {
      j["arg"] = r.arg_index;
      j["mask"] = r.arg_mask;
      j["value"] = r.arg_value;
    }
    arr.push_back(j);
  }
  return arr;
}

Result<std::vector<SeccompRule>> seccomp_rules_from_json(const nlohmann::json& j) {
  if (!j.is_array()) return make_error("seccomp rules: expected an array", EINVAL);
  std::vector<SeccompRule> out;
  try {
  for (const auto& r : j) {
    if (!r.is_object() || !r.contains("syscall") || !r["syscall"].is_string())
      return make_error("seccomp rules: each rule needs a syscall name", EINVAL);
    SeccompRule rule;
    rule.syscall = r["syscall"].get<std::string>();
    rule.err = r.value("errno", EPERM);
    rule.arg_index = r.value("arg", -1);
    rule.arg_mask = r.value("mask", uint64_t{0});
    rule.arg_value = r.value("value", uint64_t{0});
    if (rule.err < 1 || rule.err > 4095 || rule.arg_index < -1 || rule.arg_index > 5)
      return make_error("seccomp rules: bad rule for " + rule.syscall, EINVAL);
    out.push_back(rule);
  }
  } catch (const nlohmann::json::exception& e) {
    return make_error(std::string("seccomp rules: ") + e.what(), EINVAL);
  }
  return out;
}

std::string seccomp_filter_to_text(const std::vector<sock_filter>& filter) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(filter.size() * 16);
  auto put = [&](uint32_t v, int digits) {
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(v >> shift) & 0xf];
  };
  for (const sock_filter& f : filter) {
    put(f.code, 4);
    put(f.jt, 2);
    put(f.jf, 2);
    put(f.k, 8);
  }
  return out;
}

Result<std::vector<sock_filter>> seccomp_filter_from_text(std::string_view text) {
  const size_t count = text.size() / 16;
  if (text.size() % 16 != 0 || count == 0 || count > BPF_MAXINSNS)
    return make_error("seccomp program: expected 1 to " + std::to_string(BPF_MAXINSNS) +
                          " instructions of 16 hex digits, got " + std::to_string(text.size()) + " characters",
                      EINVAL);
  bool ok = true;
  size_t pos = 0;
  auto get = [&](int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const char c = text[pos++];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) ok = false;
      v = (v << 4) | static_cast<uint32_t>(d & 0xf);
    }
    return v;
  };
  std::vector<sock_filter> out(count);
  for (sock_filter& f : out) {
    f.code = static_cast<uint16_t>(get(4));
    f.jt = static_cast<uint8_t>(get(2));
    f.jf = static_cast<uint8_t>(get(2));
    f.k = get(8);
  }
  if (!ok) return make_error("seccomp program: not a hex string", EINVAL);
  return out;
}

}  // namespace sysc::runtime
