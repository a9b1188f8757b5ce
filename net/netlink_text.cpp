// Pure text helpers declared in net/netlink.h: IPv4 parse/format and host veth names. No kernel calls.
#include <cstdio>

#include "net/netlink.h"

namespace sysc::net {
namespace {

// Parses a decimal number of 1..MAX_DIGITS digits at TEXT[POS..]; advances POS. No signs, no spaces.
bool parse_decimal(const std::string& text, size_t& pos, int max_digits, unsigned& out) {
  size_t start = pos;
  unsigned v = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && int(pos - start) < max_digits)
    v = v * 10 + unsigned(text[pos++] - '0');
  if (pos == start) return false;
  if (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') return false;  // too many digits
  out = v;
  return true;
}

// 32-bit FNV-1a: fixed by definition, so names stay stable across builds, compilers and hosts
// (std::hash promises none of that).
uint32_t fnv1a(const std::string& bytes) {
  uint32_t h = 2166136261u;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

Result<Ipv4> parse_ipv4(const std::string& text) {
  auto bad = [&](const char* why) {
    return make_error("invalid IPv4 address '" + text + "': " + why, EINVAL);
  };
  size_t pos = 0;
  uint32_t addr = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (pos >= text.size() || text[pos] != '.') return bad("expected four dotted decimal octets");
      ++pos;
    }
    unsigned octet = 0;
    if (!parse_decimal(text, pos, 3, octet)) return bad("expected four dotted decimal octets");
    if (octet > 255) return bad("octet greater than 255");
    addr = (addr << 8) | octet;
  }
  Ipv4 out{addr, 32};
  if (pos == text.size()) return out;
  if (text[pos] != '/') return bad("unexpected characters after the address");
  ++pos;
  unsigned prefix = 0;
  if (!parse_decimal(text, pos, 2, prefix) || pos != text.size()) return bad("prefix is not a number");
  if (prefix > 32) return bad("prefix greater than 32");
  out.prefix = int(prefix);
  return out;
}

std::string format_ipv4(uint32_t addr) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
                addr & 0xff);
  return buf;
}

std::string format_cidr(const Ipv4& a) { return format_ipv4(a.addr) + "/" + std::to_string(a.prefix); }

// NIC 0 of a container whose name fits gets "sc-<name>" (at most 15 = IFNAMSIZ-1 characters).
// Every other case gets "sc-" + the first (up to) 7 characters of the name + "_" + 4 hex digits of
// FNV-1a(name, NUL, nic index), folded to 16 bits: "sc-webserv_3fa2".
// Why '_': container names are [a-z0-9-], so a hashed name can never equal a plain one (with '-'
// the container "webserv-3fa2" would collide with a hashed long name). Two hashed names can only
// collide if they share their first 7 characters and the 16-bit hash (1 in 65536 per such pair);
// callers creating a veth still treat "already exists" as an error, never as success.
std::string host_veth_name(const std::string& container, int nic_index) {
  if (nic_index == 0 && container.size() <= 12) return "sc-" + container;
  uint32_t h = fnv1a(container + std::string(1, '\0') + std::to_string(nic_index));
  char hex[5];
  std::snprintf(hex, sizeof hex, "%04x", ((h >> 16) ^ h) & 0xffff);
  return "sc-" + container.substr(0, 7) + "_" + hex;
}

}  // namespace sysc::net
