// Request parsing of the lxcd API (pure: strings in, a typed request or a 4xx error out).
#include "lxcd/api_request.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "common/names.h"

namespace sysc::lxcd {

using nlohmann::json;

namespace {

constexpr int kMaxStopTimeout = 86400;

Error bad(const std::string& msg) { return make_error(msg, EINVAL); }
Error no_endpoint() { return make_error("no such endpoint", ENOENT); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return bad("bad %-escape in the request path");
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return bad("bad %-escape in the request path");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return bad("NUL byte in the request path");
    out += c;
  }
  return out;
}

bool query_flag(const std::string& query, const std::string& key) {
  std::string q = "&" + query + "&";
  return q.find("&" + key + "=1&") != std::string::npos || q.find("&" + key + "=true&") != std::string::npos;
}

// An optional integer member: absent -> nullopt; present but not an integer in [lo, hi] -> error.
Result<std::optional<int>> opt_int(const json& body, const char* key, long long lo, long long hi) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<int>();
  if (!it->is_number_integer()) return bad(std::string("\"") + key + "\" must be an integer");
  // Unsigned values above INT64_MAX compare as huge only through the unsigned accessor.
  if (it->is_number_unsigned() && it->get<unsigned long long>() > static_cast<unsigned long long>(hi))
    return bad(std::string("\"") + key + "\" must be from " + std::to_string(lo) + " to " + std::to_string(hi));
  long long v = it->get<long long>();
  if (v < lo || v > hi)
    return bad(std::string("\"") + key + "\" must be from " + std::to_string(lo) + " to " + std::to_string(hi));
  return std::optional<int>(static_cast<int>(v));
}

Result<bool> opt_bool(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean()) return bad(std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

Result<std::string> req_string(const json& body, const char* key, const char* what) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_string()) return bad(std::string(what) + ": body needs \"" + key + "\" (a string)");
  return it->get<std::string>();
}

Status stop_fields(const json& body, ApiRequest& r) {
  // The CLI accepts any timeout >= 0; beyond a day it is a day.
  auto t = TRY(opt_int(body, "timeout", 0, INT32_MAX));
  if (t) r.timeout = std::min(*t, kMaxStopTimeout);
  r.force = TRY(opt_bool(body, "force"));
  return {};
}

Status template_fields(const json& body, ApiRequest& r, const char* what) {
  r.template_name = TRY(req_string(body, "template", what));
  if (!validate_name(r.template_name)) return bad(std::string(what) + ": invalid template name '" + r.template_name + "'");
  if (auto it = body.find("template_args"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return bad(std::string(what) + ": \"template_args\" must be an array of strings");
    for (const auto& a : *it) {
      if (!a.is_string()) return bad(std::string(what) + ": \"template_args\" must be an array of strings");
      r.template_args.push_back(a.get<std::string>());
    }
  }
  return {};
}

Result<ApiRequest> parse_create(const json& body) {
  ApiRequest r;
  r.op = Op::Create;
  r.name = TRY(req_string(body, "name", "create"));
  TRY(validate_name(r.name));
  if (auto it = body.find("storage"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return bad("create: \"storage\" must be a string");
    r.storage = it->get<std::string>();
  }
  r.no_cache = TRY(opt_bool(body, "no_cache"));
  r.template_name = TRY(req_string(body, "template", "create"));
  if (auto it = body.find("template_args"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return bad("create: \"template_args\" must be an array of strings");
    for (const auto& a : *it) {
      if (!a.is_string()) return bad("create: \"template_args\" must be an array of strings");
      r.template_args.push_back(a.get<std::string>());
    }
  }
  return r;
}

// /1.0/containers/NAME[/SUB...]: p has at least 3 parts and p[2] is a valid name.
Result<ApiRequest> parse_container(std::string_view method, const std::vector<std::string>& p,
                                   const std::string& query, const json& body, std::string_view upgrade) {
  ApiRequest r;
  r.name = p[2];
  const std::string sub = p.size() > 3 ? p[3] : "";
  const size_t n = p.size();
  auto is = [&](const char* m) { return method == m; };
  if (n == 3 && is("GET")) return r.op = Op::Info, r;
  if (n == 3 && is("DELETE")) return r.op = Op::Destroy, r.force = query_flag(query, "force"), r;
  if (n == 4 && is("POST") && (sub == "start" || sub == "stop" || sub == "restart")) {
    r.op = sub == "start" ? Op::Start : sub == "stop" ? Op::Stop : Op::Restart;
    if (r.op != Op::Start) TRY(stop_fields(body, r));
    return r;
  }
  if (n == 4 && is("GET") && sub == "attach") return r.op = Op::AttachInfo, r;
  if (sub == "snapshots" && n == 4 && is("GET")) return r.op = Op::Snapshots, r;
  if (sub == "snapshots" && n == 4 && is("POST")) {
    if (auto it = body.find("name"); it != body.end() && !it->is_null()) {
      if (!it->is_string()) return bad("snapshot: \"name\" must be a string");
      r.snapshot = it->get<std::string>();
      if (!r.snapshot.empty() && !validate_name(r.snapshot)) return bad("snapshot: invalid name '" + r.snapshot + "'");
    }
    return r.op = Op::SnapshotCreate, r;
  }
  if (sub == "snapshots" && n >= 5 && !validate_name(p[4])) return bad("snapshot: invalid name '" + p[4] + "'");
  if (sub == "snapshots" && n == 6 && p[5] == "restore" && is("POST")) {
    r.snapshot = p[4];
    r.stop = TRY(opt_bool(body, "stop"));
    return r.op = Op::SnapshotRestore, r;
  }
  if (sub == "snapshots" && n == 5 && is("DELETE")) return r.op = Op::SnapshotDelete, r.snapshot = p[4], r;
  if (sub == "export" && n == 4 && is("POST")) {
    r.file = TRY(req_string(body, "file", "export"));
    if (r.file.empty() || r.file[0] != '/') return bad("export: \"file\" must be an absolute path");
    r.with_snapshots = TRY(opt_bool(body, "snapshots"));
    return r.op = Op::Export, r;
  }
  if (n == 4 && is("POST") && sub == "copy") {
    r.target = TRY(req_string(body, "name", "copy"));
    TRY(validate_name(r.target));
    return r.op = Op::Copy, r;
  }
  if (n == 4 && is("GET") && sub == "console" && upgrade == "sysc-console") return r.op = Op::Console, r;
  if (n == 5 && is("GET") && sub == "console" && p[4] == "log") return r.op = Op::ConsoleLog, r;
  if (sub == "config" && n == 4 && is("GET")) return r.op = Op::ConfigShow, r;
  if (sub == "config" && n == 5) {
    r.key = p[4];
    if (is("GET")) return r.op = Op::ConfigGet, r;
    if (is("DELETE")) return r.op = Op::ConfigUnset, r;
    if (is("PUT")) {
      auto it = body.find("value");
      if (it == body.end() || !it->is_string()) return bad("config: body must be {\"value\": \"...\"}");
      r.value = it->get<std::string>();
      return r.op = Op::ConfigSet, r;
    }
  }
  if (sub == "ports" && n == 4 && is("GET")) return r.op = Op::Ports, r;
  if (sub == "ports" && n == 4 && is("POST")) {
    r.op = Op::PortAdd;
    auto proto = body.find("proto");
    auto host = TRY(opt_int(body, "host_port", 1, 65535));
    if (proto == body.end() || !proto->is_string() || !host)
      return bad("ports: body needs \"proto\" and \"host_port\"");
    auto inner = TRY(opt_int(body, "container_port", 1, 65535));
    r.proto = proto->get<std::string>();
    r.host_port = *host;
    r.container_port = inner ? *inner : *host;
    return r;
  }
  if (sub == "ports" && n == 6 && is("DELETE")) {
    const std::string& port = p[5];
    int v = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || v > 65535) return bad("ports: bad port '" + port + "'");
      v = v * 10 + (c - '0');
    }
    if (v < 1 || v > 65535) return bad("ports: bad port '" + port + "'");
    r.op = Op::PortRemove;
    r.proto = p[4];
    r.host_port = v;
    return r;
  }
  return no_endpoint();
}

}  // namespace

Result<std::vector<std::string>> split_target(std::string_view target, std::string* query) {
  std::string_view path = target;
  if (auto q = path.find('?'); q != std::string_view::npos) {
    if (query) *query = std::string(path.substr(q + 1));
    path = path.substr(0, q);
  }
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    if (next > pos) parts.push_back(TRY(percent_decode(path.substr(pos, next - pos))));
    pos = next + 1;
  }
  return parts;
}

Result<ApiRequest> parse_request(std::string_view method, std::string_view target, std::string_view body_text,
                                 std::string_view upgrade) {
  std::string query;
  auto p = TRY(split_target(target, &query));
  json body = json::object();
  if (!body_text.empty()) {
    body = json::parse(body_text.begin(), body_text.end(), nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return bad("malformed JSON body");
    if (!body.is_object()) return bad("the body must be a JSON object");
  }
  if (p.empty() || p[0] != "1.0") return make_error("unknown API version (this lxcd speaks 1.0)", ENOENT);
  ApiRequest r;
  if (p.size() == 1 && method == "GET") return r.op = Op::Version, r;
  if (p.size() == 2 && p[1] == "network") {
    if (method == "GET") return r.op = Op::NetworkShow, r;
    if (method == "DELETE") return r.op = Op::NetworkRemove, r;
  }
  if (p.size() == 2 && p[1] == "images" && method == "GET") return r.op = Op::Images, r;
  if (p.size() == 2 && p[1] == "images" && method == "POST") {
    TRY(template_fields(body, r, "images"));
    return r.op = Op::ImageRefresh, r;
  }
  if (p.size() == 2 && p[1] == "import" && method == "POST") {
    r.file = TRY(req_string(body, "file", "import"));
    if (r.file.empty() || r.file[0] != '/') return bad("import: \"file\" must be an absolute path");
    for (const char* key : {"name", "storage"}) {
      auto it = body.find(key);
      if (it == body.end() || it->is_null()) continue;
      if (!it->is_string()) return bad(std::string("import: \"") + key + "\" must be a string");
      (std::string(key) == "name" ? r.name : r.storage) = it->get<std::string>();
    }
    if (!r.name.empty() && !validate_name(r.name)) return bad("import: invalid name '" + r.name + "'");
    return r.op = Op::Import, r;
  }
  if (p.size() == 2 && p[1] == "shutdown" && method == "POST") return r.op = Op::ShutdownAll, r;
  if (p.size() == 2 && p[1] == "events" && method == "GET") {
    if (auto at = ("&" + query).find("&container="); at != std::string::npos) {
      r.only = query.substr(at + 10);
      r.only = r.only.substr(0, r.only.find('&'));
      TRY(validate_name(r.only));
    }
    return r.op = Op::Events, r;
  }
  if (p.size() < 2 || p[1] != "containers") return no_endpoint();
  if (p.size() == 2 && method == "GET") return r.op = Op::List, r;
  if (p.size() == 2 && method == "POST") {
    auto c = TRY(parse_create(body));
    c.progress = query_flag(query, "progress");
    return c;
  }
  if (p.size() == 2) return no_endpoint();
  TRY(validate_name(p[2]));
  return parse_container(method, p, query, body, upgrade);
}

bool names_container(Op op) {
  switch (op) {
    case Op::Version:
    case Op::List:
    case Op::NetworkShow:
    case Op::NetworkRemove:
    case Op::Images:
    case Op::ImageRefresh:
    case Op::ShutdownAll:
    case Op::Events:
    case Op::Import:
      return false;
    case Op::Create:
    case Op::Info:
    case Op::Destroy:
    case Op::Start:
    case Op::Stop:
    case Op::Restart:
    case Op::AttachInfo:
    case Op::Console:
    case Op::ConsoleLog:
    case Op::ConfigShow:
    case Op::ConfigGet:
    case Op::ConfigSet:
    case Op::ConfigUnset:
    case Op::Ports:
    case Op::PortAdd:
    case Op::PortRemove:
    case Op::Copy:
    case Op::Snapshots:
    case Op::SnapshotCreate:
    case Op::SnapshotRestore:
    case Op::SnapshotDelete:
    case Op::Export:
      return true;
  }
  return true;  // not reached: every Op is listed above (-Wswitch names a new one)
}

std::string reply_text(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace sysc::lxcd
