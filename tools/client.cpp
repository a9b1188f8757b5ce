// The lxcd API client: Boost.Beast over a unix socket, synchronous and single-threaded (attach forks).
#include "tools/client.h"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <sys/un.h>

#include "tools/daemon_start.h"

namespace sysc::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using unix_socket = asio::local::stream_protocol;

// Answers are small JSON objects, except the console log, which lxcd caps well below this.
constexpr uint64_t kMaxBody = 64ull << 20;

struct Client::Connection {
  asio::io_context io;
  unix_socket::socket sock{io};
};

std::string container_url(const std::string& name, const std::string& suffix) {
  return "/1.0/containers/" + name + suffix;
}

std::string escape_segment(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

namespace {

int try_connect(unix_socket::socket& sock, const std::string& path) {
  boost::system::error_code ec;
  sock.connect(unix_socket::endpoint(path), ec);
  if (ec) sock.close();
  return ec ? ec.value() : 0;
}

http::request<http::string_body> make_request(http::verb verb, const std::string& target) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "sysc");
  req.set(http::field::user_agent, "sysc/" SYSC_VERSION);
  req.set(http::field::accept, "application/json");
  return req;
}

// METHOD TARGET with an optional JSON body, one request per connection.
http::request<http::string_body> json_request(std::string_view method, const std::string& target,
                                              const std::optional<nlohmann::json>& body) {
  auto req = make_request(http::string_to_verb(beast::string_view(method.data(), method.size())), target);
  req.set(http::field::connection, "close");
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = body->dump();
  }
  req.prepare_payload();
  return req;
}

// The server's {"error": ...} message, else a description of the status.
std::string error_message(const Response& r, std::string_view reason) {
  if (r.json.is_object() && r.json.contains("error") && r.json["error"].is_string())
    return r.json["error"].get<std::string>();
  std::string msg = "lxcd answered " + std::to_string(r.status) + " " + std::string(reason);
  if (!r.body.empty()) msg += ": " + r.body.substr(0, 200);
  return msg;
}

Error io_error(const char* what, const boost::system::error_code& ec) {
  if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == http::error::partial_message)
    return make_error(std::string(what) + ": lxcd closed the connection without answering (see its log)");
  return Error{ec.value(), std::string(what) + ": " + ec.message()};
}

Result<Response> to_response(http::response<http::string_body>& res) {
  Response out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  if (res[http::field::content_type].starts_with("application/json") ||
      (!out.body.empty() && (out.body[0] == '{' || out.body[0] == '[')))
    out.json = nlohmann::json::parse(out.body, nullptr, /*allow_exceptions=*/false);
  if (out.json.is_discarded()) out.json = nullptr;
  if (out.status < 200 || out.status > 299) return make_error(error_message(out, std::string_view(res.reason().data(), res.reason().size())));
  return out;
}

// Writes REQ on SOCK and reads the answer's header (and body, up to kMaxBody) into PARSER.
// A 1xx answer has no body: the read stops right after its header, later bytes stay in BUF.
template <class Socket>
Status exchange(Socket& sock, http::request<http::string_body>& req, beast::flat_buffer& buf,
                http::response_parser<http::string_body>& parser) {
  boost::system::error_code ec;
  http::write(sock, req, ec);
  if (ec) return io_error("sending the request to lxcd", ec);
  parser.body_limit(kMaxBody);
  http::read(sock, buf, parser, ec);
  if (ec) return io_error("reading lxcd's answer", ec);
  return {};
}

}  // namespace

Result<std::unique_ptr<Client::Connection>> Client::connect() {
  const std::string& path = paths_.socket_path;
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    return make_error("socket path too long for a unix socket: " + path, ENAMETOOLONG);
  auto conn = std::make_unique<Connection>();
  int err = try_connect(conn->sock, path);
  if ((err == ENOENT || err == ECONNREFUSED) && !tried_start_) {
    tried_start_ = true;
    TRY(start_daemon_and_wait(paths_));
    err = try_connect(conn->sock, path);
  }
  if (err == EACCES)
    return make_error(path + ": permission denied (lxcd's socket is for root and the group set as [daemon] socket_group)", err);
  if (err != 0) return sys_error("cannot connect to lxcd at " + path, err);
  return conn;
}

Result<Response> Client::request(std::string_view method, const std::string& target,
                                 const std::optional<nlohmann::json>& body) {
  auto req = json_request(method, target, body);
  auto conn = TRY(connect());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  TRY(exchange(conn->sock, req, buf, parser));
  return to_response(parser.get());
}

Result<Upgraded> Client::stream(const std::string& target, std::string_view method,
                                const std::optional<nlohmann::json>& body) {
  auto req = json_request(method, target, body);
  auto conn = TRY(connect());
  boost::system::error_code ec;
  http::write(conn->sock, req, ec);
  if (ec) return io_error("sending the request to lxcd", ec);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  http::read_header(conn->sock, buf, parser, ec);
  if (ec) return io_error("reading lxcd's answer", ec);
  if (parser.get().result_int() != 200) {
    http::read(conn->sock, buf, parser, ec);  // the error body
    auto r = to_response(parser.get());
    if (!r) return std::move(r).error();
    return make_error("lxcd answered " + std::to_string(r->status) + " instead of a stream");
  }
  Upgraded up;
  up.pending = beast::buffers_to_string(buf.data());
  up.fd = UniqueFd(conn->sock.release(ec));
  if (ec) return Error{ec.value(), "taking over the stream: " + ec.message()};
  int flags = fcntl(up.fd.get(), F_GETFL);
  if (flags >= 0) fcntl(up.fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  fcntl(up.fd.get(), F_SETFD, FD_CLOEXEC);
  return up;
}

Result<Upgraded> Client::upgrade(const std::string& target, const std::string& protocol) {
  auto req = make_request(http::verb::get, target);
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::upgrade, protocol);
  req.prepare_payload();
  auto conn = TRY(connect());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  TRY(exchange(conn->sock, req, buf, parser));
  auto& res = parser.get();
  if (res.result() != http::status::switching_protocols) {
    auto r = to_response(res);
    if (!r) return std::move(r).error();
    return make_error("lxcd did not switch protocols (status " + std::to_string(r->status) + ")");
  }
  Upgraded up;
  up.pending = beast::buffers_to_string(buf.data());
  boost::system::error_code ec;
  up.fd = UniqueFd(conn->sock.release(ec));
  if (ec) return Error{ec.value(), "taking over the console connection: " + ec.message()};
  // Plain blocking fd from here on, and not inherited by anything we might exec.
  int flags = fcntl(up.fd.get(), F_GETFL);
  if (flags >= 0) fcntl(up.fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  fcntl(up.fd.get(), F_SETFD, FD_CLOEXEC);
  return up;
}

}  // namespace sysc::cli
