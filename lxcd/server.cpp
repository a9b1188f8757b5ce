// lxcd's HTTP edge: Beast parsing, routing to Manager, errors to status codes. API threads.
#include "lxcd/server.h"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace sysc::lxcd {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;

namespace {

struct Reply {
  http::status status = http::status::ok;
  json body = json::object();
  std::string text;  // non-empty: a text/plain body instead of JSON
};

http::status status_for(int code) {
  switch (code) {
    case EINVAL: return http::status::bad_request;
    case ENOENT: return http::status::not_found;
    case EEXIST: case EALREADY: case ESRCH: case EBUSY: return http::status::conflict;
    default: return http::status::internal_server_error;
  }
}

Reply error_reply(const Error& e) { return Reply{status_for(e.code), json{{"error", e.message}}, ""}; }
Reply from(Result<json> r, http::status ok = http::status::ok) {
  return r ? Reply{ok, std::move(*r), ""} : error_reply(r.error());
}
Reply from(Status s) { return s ? Reply{} : error_reply(s.error()); }

std::vector<std::string> split_path(const std::string& target, std::string* query) {
  std::string path = target;
  if (auto q = path.find('?'); q != std::string::npos) {
    *query = path.substr(q + 1);
    path.resize(q);
  }
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) parts.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return parts;
}

bool query_flag(const std::string& query, const std::string& key) {
  return ("&" + query + "&").find("&" + key + "=1&") != std::string::npos ||
         ("&" + query + "&").find("&" + key + "=true&") != std::string::npos;
}

std::optional<int> opt_int(const json& body, const char* key) {
  if (body.is_object() && body.contains(key) && body[key].is_number_integer()) return body[key].get<int>();
  return std::nullopt;
}

std::string str_field(const json& body, const char* key) {
  return body.is_object() && body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : "";
}
bool bool_field(const json& body, const char* key) {
  return body.is_object() && body.contains(key) && body[key].is_boolean() && body[key].get<bool>();
}

Reply route_container(Manager& m, http::verb verb, const std::vector<std::string>& p, const std::string& query,
                      const json& body) {
  const std::string& name = p[2];
  std::string sub = p.size() > 3 ? p[3] : "";
  bool force = body.is_object() && body.value("force", false);
  if (sub.empty() && verb == http::verb::get) return from(m.info(name));
  if (sub.empty() && verb == http::verb::delete_) return from(m.destroy(name, query_flag(query, "force")));
  if (sub == "start" && verb == http::verb::post) return from(m.start(name));
  if (sub == "stop" && verb == http::verb::post) return from(m.stop(name, opt_int(body, "timeout"), force));
  if (sub == "copy" && verb == http::verb::post) {
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
      return error_reply(make_error("copy: body needs \"name\" (the new container)", EINVAL));
    auto r = m.copy(name, body["name"].get<std::string>());
    if (r) m.events().publish(body["name"].get<std::string>(), "created", "copy of " + name);
    return from(std::move(r), http::status::created);
  }
  if (sub == "snapshots" && p.size() == 4 && verb == http::verb::get) return from(m.snapshots(name));
  if (sub == "snapshots" && p.size() == 4 && verb == http::verb::post)
    return from(m.snapshot_create(name, str_field(body, "name")), http::status::created);
  if (sub == "snapshots" && p.size() == 6 && p[5] == "restore" && verb == http::verb::post)
    return from(m.snapshot_restore(name, p[4], bool_field(body, "stop")));
  if (sub == "snapshots" && p.size() == 5 && verb == http::verb::delete_) return from(m.snapshot_delete(name, p[4]));
  if (sub == "export" && p.size() == 4 && verb == http::verb::post) {
    if (str_field(body, "file").empty()) return error_reply(make_error("export: body needs \"file\"", EINVAL));
    return from(m.export_container(name, str_field(body, "file"), bool_field(body, "snapshots")));
  }
  if (sub == "restart" && verb == http::verb::post) return from(m.restart(name, opt_int(body, "timeout"), force));
  if (sub == "attach" && verb == http::verb::get) return from(m.attach_info(name));
  if (sub == "ports" && p.size() == 4 && verb == http::verb::get) return from(m.ports(name));
  if (sub == "ports" && p.size() == 4 && verb == http::verb::post) {
    auto host = opt_int(body, "host_port");
    auto inner = opt_int(body, "container_port");
    if (!body.is_object() || !body.contains("proto") || !body["proto"].is_string() || !host)
      return error_reply(make_error("ports: body needs \"proto\" and \"host_port\"", EINVAL));
    return from(m.port_add(name, body["proto"].get<std::string>(), *host, inner ? *inner : *host), http::status::created);
  }
  if (sub == "ports" && p.size() == 6 && verb == http::verb::delete_) {
    int port = std::atoi(p[5].c_str());
    if (port <= 0) return error_reply(make_error("ports: bad port '" + p[5] + "'", EINVAL));
    return from(m.port_remove(name, p[4], port));
  }
  if (sub == "console" && p.size() == 5 && p[4] == "log" && verb == http::verb::get) {
    auto log = m.console_log(name);
    if (!log) return error_reply(log.error());
    return Reply{http::status::ok, {}, log->empty() ? std::string(" ") : *log};
  }
  if (sub == "config" && p.size() == 4 && verb == http::verb::get) return from(m.config_show(name));
  if (sub == "config" && p.size() == 5) {
    if (verb == http::verb::get) return from(m.config_get(name, p[4]));
    if (verb == http::verb::delete_) return from(m.config_unset(name, p[4]));
    if (verb == http::verb::put) {
      if (!body.is_object() || !body.contains("value") || !body["value"].is_string())
        return error_reply(make_error("config: body must be {\"value\": \"...\"}", EINVAL));
      return from(m.config_set(name, p[4], body["value"].get<std::string>()));
    }
  }
  return error_reply(make_error("no such endpoint", ENOENT));
}

Reply route(Manager& m, const http::request<http::string_body>& req, int cancel_fd) {
  std::string query;
  auto p = split_path(std::string(req.target()), &query);
  json body = json::object();
  if (!req.body().empty()) {
    body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded()) return error_reply(make_error("malformed JSON body", EINVAL));
  }
  if (p.empty() || p[0] != "1.0") return error_reply(make_error("unknown API version (this lxcd speaks 1.0)", ENOENT));
  if (p.size() == 1) return Reply{http::status::ok, {{"api_version", "1.0"}, {"version", SYSC_VERSION}, {"root", m.root()}}, ""};
  if (p[1] == "shutdown" && p.size() == 2 && req.method() == http::verb::post) return from(m.shutdown_all());
  if (p[1] == "network" && p.size() == 2 && req.method() == http::verb::get) return from(m.network_show());
  if (p[1] == "images" && p.size() == 2 && req.method() == http::verb::get) return from(m.images());
  if (p[1] == "images" && p.size() == 2 && req.method() == http::verb::post) {
    if (!body.is_object() || !body.contains("template") || !body["template"].is_string())
      return error_reply(make_error("images: body needs \"template\"", EINVAL));
    try {
      return from(m.template_refresh(body["template"].get<std::string>(),
                                     body.value("template_args", std::vector<std::string>{}), cancel_fd),
                  http::status::created);
    } catch (const json::exception& e) {
      return error_reply(make_error(std::string("images: ") + e.what(), EINVAL));
    }
  }
  if (p[1] == "import" && p.size() == 2 && req.method() == http::verb::post) {
    if (str_field(body, "file").empty()) return error_reply(make_error("import: body needs \"file\"", EINVAL));
    return from(m.import_container(str_field(body, "file"), str_field(body, "name"), str_field(body, "storage")),
                http::status::created);
  }
  if (p[1] == "network" && p.size() == 2 && req.method() == http::verb::delete_) return from(m.network_remove());
  if (p[1] != "containers") return error_reply(make_error("no such endpoint", ENOENT));
  if (p.size() == 2 && req.method() == http::verb::get) return from(m.list());
  if (p.size() == 2 && req.method() == http::verb::post) {
    if (!body.is_object() || !body.contains("name") || !body.contains("template"))
      return error_reply(make_error("create: body needs \"name\" and \"template\"", EINVAL));
    try {
      CreateRequest cr{body["name"].get<std::string>(), body["template"].get<std::string>(),
                       body.value("template_args", std::vector<std::string>{}), body.value("storage", ""),
                       body.value("no_cache", false), cancel_fd};
      auto r = m.create(cr);
      if (r) m.events().publish(cr.name, "created", "template " + cr.tmpl);
      return from(std::move(r), http::status::created);
    } catch (const json::exception& e) {
      return error_reply(make_error(std::string("create: ") + e.what(), EINVAL));
    }
  }
  return route_container(m, req.method(), p, query, body);
}

bool peer_is_root(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == 0;
}

// GET /1.0/events[?container=NAME]: a 200 header, then one JSON event per line for as long as the
// client keeps the connection open (no Content-Length: the body ends when the connection does).
void stream_events(local::socket& sock, Manager& m, const std::string& query) {
  std::string only;
  if (auto at = ("&" + query).find("&container="); at != std::string::npos) {
    only = query.substr(at + 10);
    only = only.substr(0, only.find('&'));
  }
  auto sub = m.events().subscribe();
  std::string head = "HTTP/1.1 200 OK\r\nServer: lxcd/" SYSC_VERSION "\r\nContent-Type: application/x-ndjson\r\n"
                     "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
  boost::system::error_code ec;
  asio::write(sock, asio::buffer(head), ec);
  while (!ec && !sub->overflowed()) {
    if (auto ev = sub->next(1000)) {
      if (!only.empty() && ev->value("container", "") != only) continue;
      std::string line = ev->dump() + "\n";
      asio::write(sock, asio::buffer(line), ec);
      continue;
    }
    // Nothing to send: has the client gone away?
    pollfd p{sock.native_handle(), POLLRDHUP, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) break;
  }
  m.events().unsubscribe(sub);
}

void handle(local::socket sock, Manager& m) {
  boost::beast::flat_buffer buf;
  http::request<http::string_body> req;
  boost::system::error_code ec;
  http::read(sock, buf, req, ec);
  if (ec) return;
  Reply reply;
  bool upgrade = false;
  if (!peer_is_root(sock.native_handle())) {
    reply = error_reply(make_error("permission denied: only root may use lxcd", EACCES));
    reply.status = http::status::forbidden;
  } else {
    std::string query;
    auto p = split_path(std::string(req.target()), &query);
    upgrade = p.size() == 4 && p[0] == "1.0" && p[1] == "containers" && p[3] == "console" &&
              req[http::field::upgrade] == "sysc-console";
    if (p.size() == 2 && p[0] == "1.0" && p[1] == "events" && req.method() == http::verb::get)
      return stream_events(sock, m, query);
    if (upgrade) {
      auto rec = m.info(p[2]);
      if (rec && (*rec)["state"] == "RUNNING") {
        // Confirm first, then hand a duplicate of this socket to the supervisor, which owns the
        // byte stream from then on; this thread steps out of the way.
        http::response<http::empty_body> res{http::status::switching_protocols, req.version()};
        res.set(http::field::connection, "Upgrade");
        res.set(http::field::upgrade, "sysc-console");
        http::write(sock, res, ec);
        if (ec) return;
        int dup = ::fcntl(sock.native_handle(), F_DUPFD_CLOEXEC, 0);
        Status st = m.console(p[2], dup);
        ::close(dup);
        if (!st) {
          std::string msg = "sysc: " + st.error().message + "\r\n";
          asio::write(sock, asio::buffer(msg), ec);
        }
        return;
      }
      reply = rec ? error_reply(make_error(p[2] + ": not running", ESRCH)) : error_reply(rec.error());
    } else {
      reply = route(m, req, sock.native_handle());
    }
  }
  http::response<http::string_body> res{reply.status, req.version()};
  res.set(http::field::server, "lxcd/" SYSC_VERSION);
  res.set(http::field::connection, "close");
  if (!reply.text.empty()) {
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = reply.text;
  } else {
    res.set(http::field::content_type, "application/json");
    res.body() = reply.body.dump() + "\n";
  }
  res.prepare_payload();
  http::write(sock, res, ec);
}

}  // namespace

Status serve(const std::string& socket_path, Manager& manager, const std::function<void()>& on_listening) {
  asio::io_context io;
  ::unlink(socket_path.c_str());
  boost::system::error_code ec;
  local::acceptor acceptor(io);
  acceptor.open(local(), ec);
  if (!ec) acceptor.bind(local::endpoint(socket_path), ec);
  if (!ec) acceptor.listen(512, ec);
  if (ec) return make_error("listen on " + socket_path + ": " + ec.message(), ec.value());
  ::chmod(socket_path.c_str(), 0660);
  // Asio does not open sockets close-on-exec: without this every shim would inherit the
  // listening socket and keep it alive after lxcd is gone (clients would hang on it).
  ::fcntl(acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  if (on_listening) on_listening();
  for (;;) {
    local::socket sock(io);
    acceptor.accept(sock, ec);
    if (ec) continue;
    ::fcntl(sock.native_handle(), F_SETFD, FD_CLOEXEC);
    std::thread([s = std::move(sock), &manager]() mutable { handle(std::move(s), manager); }).detach();
  }
}

}  // namespace sysc::lxcd
