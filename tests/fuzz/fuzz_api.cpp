// libFuzzer target: lxcd's request parser never crashes on any method, target or body, what it
// accepts is well-formed, and every error it returns serialises as a JSON reply.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/names.h"
#include "lxcd/api_request.h"

using sysc::lxcd::Op;

namespace {

// Input: "METHOD\nTARGET\nUPGRADE\nBODY..." (missing lines are empty).
std::string next_line(std::string& rest) {
  size_t nl = rest.find('\n');
  std::string line = rest.substr(0, nl);
  rest = nl == std::string::npos ? "" : rest.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string rest(reinterpret_cast<const char*>(data), size);
  std::string method = next_line(rest);
  std::string target = next_line(rest);
  std::string upgrade = next_line(rest);
  auto r = sysc::lxcd::parse_request(method, target, rest, upgrade);
  if (!r) {
    // The server sends every error as {"error": MESSAGE}: it must serialise, whatever bytes it quotes.
    (void)sysc::lxcd::reply_text(nlohmann::json{{"error", r.error().message}});
    int code = r.error().code;
    if (code != EINVAL && code != ENOENT) __builtin_trap();  // a parse error is always 400 or 404
    return 0;
  }
  // Container operations carry a valid name (import's is optional); numbers are in range.
  bool named = sysc::lxcd::names_container(r->op) || (r->op == Op::Import && !r->name.empty());
  if (named && !sysc::validate_name(r->name).ok()) __builtin_trap();
  if (r->op == Op::Events && !r->only.empty() && !sysc::validate_name(r->only).ok()) __builtin_trap();
  if (r->timeout && (*r->timeout < 0 || *r->timeout > 86400)) __builtin_trap();
  if (r->op == Op::PortAdd && (r->host_port < 1 || r->host_port > 65535 || r->container_port < 1 ||
                               r->container_port > 65535))
    __builtin_trap();
  if (r->op == Op::PortRemove && (r->host_port < 1 || r->host_port > 65535)) __builtin_trap();
  return 0;
}
