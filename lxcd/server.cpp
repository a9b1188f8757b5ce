// lxcd's HTTP edge: Beast parsing, routing to Manager, errors to status codes. API threads.
#include "lxcd/server.h"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cstdio>
#include <mutex>
#include <system_error>
#include <thread>
#include <unistd.h>

#include "common/fs.h"
#include "lxcd/api_request.h"

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

Reply dispatch(Manager& m, const ApiRequest& r, int cancel_fd) {
  const std::string& n = r.name;
  switch (r.op) {
    case Op::Version:
      return Reply{http::status::ok, {{"api_version", "1.0"}, {"version", SYSC_VERSION}, {"root", m.root()}}, ""};
    case Op::List: return from(m.list());
    case Op::Create: {
      auto res = m.create(CreateRequest{n, r.template_name, r.template_args, r.storage, r.no_cache, cancel_fd});
      if (res) m.events().publish(n, "created", "template " + r.template_name);
      return from(std::move(res), http::status::created);
    }
    case Op::Copy: {
      auto res = m.copy(n, r.target);
      if (res) m.events().publish(r.target, "created", "copy of " + n);
      return from(std::move(res), http::status::created);
    }
    case Op::Images: return from(m.images());
    case Op::ImageRefresh: return from(m.template_refresh(r.template_name, r.template_args, cancel_fd), http::status::created);
    case Op::ShutdownAll: return from(m.shutdown_all());
    case Op::Snapshots: return from(m.snapshots(n));
    case Op::SnapshotCreate: return from(m.snapshot_create(n, r.snapshot), http::status::created);
    case Op::SnapshotRestore: return from(m.snapshot_restore(n, r.snapshot, r.stop));
    case Op::SnapshotDelete: return from(m.snapshot_delete(n, r.snapshot));
    case Op::Export: return from(m.export_container(n, r.file, r.with_snapshots));
    case Op::Import: return from(m.import_container(r.file, r.name, r.storage), http::status::created);
    case Op::Info: return from(m.info(n));
    case Op::Destroy: return from(m.destroy(n, r.force));
    case Op::Start: return from(m.start(n));
    case Op::Stop: return from(m.stop(n, r.timeout, r.force));
    case Op::Restart: return from(m.restart(n, r.timeout, r.force));
    case Op::AttachInfo: return from(m.attach_info(n));
    case Op::ConsoleLog: {
      auto log = m.console_log(n);
      if (!log) return error_reply(log.error());
      return Reply{http::status::ok, {}, log->empty() ? std::string(" ") : *log};
    }
    case Op::ConfigShow: return from(m.config_show(n));
    case Op::ConfigGet: return from(m.config_get(n, r.key));
    case Op::ConfigSet: return from(m.config_set(n, r.key, r.value));
    case Op::ConfigUnset: return from(m.config_unset(n, r.key));
    case Op::Ports: return from(m.ports(n));
    case Op::PortAdd: return from(m.port_add(n, r.proto, r.host_port, r.container_port), http::status::created);
    case Op::PortRemove: return from(m.port_remove(n, r.proto, r.host_port));
    case Op::NetworkShow: return from(m.network_show());
    case Op::NetworkRemove: return from(m.network_remove());
    case Op::Console: break;  // handled before dispatch: it takes over the connection
    case Op::Events: break;   // likewise: a stream
  }
  return error_reply(make_error("no such endpoint", ENOENT));
}

// "Groups:" of /proc/PID/status: for kernels without SO_PEERGROUPS (before 4.13).
std::vector<gid_t> proc_groups(pid_t pid) {
  std::vector<gid_t> out;
  auto text = read_file("/proc/" + std::to_string(pid) + "/status");
  if (!text) return out;
  size_t at = text->find("\nGroups:");
  if (at == std::string::npos) return out;
  std::istringstream line(text->substr(at + 8, text->find('\n', at + 1) - at - 8));
  for (unsigned long g; line >> g;) out.push_back(static_cast<gid_t>(g));
  return out;
}

// Supplementary groups of the peer as the kernel recorded them at connect (SO_PEERGROUPS).
std::vector<gid_t> peer_groups(int fd, pid_t pid) {
  std::vector<gid_t> groups(64);
  for (int tries = 0; tries < 3; ++tries) {
    socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno == ENOPROTOOPT) return proc_groups(pid);
    if (errno != ERANGE) break;
    groups.resize(len / sizeof(gid_t) + 1);
  }
  return {};
}

// Root, or (with a socket group) a peer whose gid or supplementary groups include it.
bool peer_allowed(int fd, const std::optional<SocketGroup>& group) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  std::vector<gid_t> groups;
  if (cred.uid != 0 && group) groups = peer_groups(fd, cred.pid);
  return access_allowed(cred.uid, cred.gid, groups, group);
}

// The console upgrade: confirm, then hand a duplicate of this socket to the supervisor, which
// owns the byte stream from then on; this thread steps out of the way. Returns the error reply
// when the container cannot take a console client.
std::optional<Reply> upgrade_to_console(local::socket& sock, Manager& m, const std::string& name, unsigned version) {
  auto rec = m.info(name);
  if (!rec) return error_reply(rec.error());
  if ((*rec)["state"] != "RUNNING") return error_reply(make_error(name + ": not running", ESRCH));
  boost::system::error_code ec;
  http::response<http::empty_body> res{http::status::switching_protocols, version};
  res.set(http::field::connection, "Upgrade");
  res.set(http::field::upgrade, "sysc-console");
  http::write(sock, res, ec);
  if (ec) return std::nullopt;
  int dup = ::fcntl(sock.native_handle(), F_DUPFD_CLOEXEC, 0);
  Status st = m.console(name, dup);
  ::close(dup);
  if (!st) {
    std::string msg = "sysc: " + st.error().message + "\r\n";
    asio::write(sock, asio::buffer(msg), ec);
  }
  return std::nullopt;
}

// GET /1.0/events[?container=NAME]: a 200 header, then one JSON event per line for as long as the
// client keeps the connection open (no Content-Length: the body ends when the connection does).
void stream_events(local::socket& sock, Manager& m, const std::string& only) {
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

// POST /1.0/containers?progress=1: a 200 header, {"progress": N, "message": "..."} lines while the
// create runs, then one {"status": 201, "result": {...}} or {"status": 4xx/5xx, "error": "..."}.
// The header goes out with the first line, and the 100% line (nothing slow follows it) with the
// result: a create from the image cache is two writes.
void stream_create(local::socket& sock, Manager& m, const ApiRequest& r) {
  boost::system::error_code ec;
  std::string out = "HTTP/1.1 200 OK\r\nServer: lxcd/" SYSC_VERSION "\r\nContent-Type: application/x-ndjson\r\n"
                    "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
  auto send = [&](const std::string& line, bool hold) {
    out += line;
    if (hold || ec) return;
    asio::write(sock, asio::buffer(out), ec);
    out.clear();
  };
  std::vector<std::function<void()>> after_answer;
  CreateRequest cr{r.name, r.template_name, r.template_args, r.storage, r.no_cache, sock.native_handle()};
  cr.after_answer = &after_answer;
  cr.on_progress = [&](int pct, const std::string& msg) {
    if (ec) return;  // the client is gone: the template is being cancelled
    send(reply_text(json{{"progress", pct}, {"message", msg}}), pct >= 100);
  };
  auto res = m.create(cr);
  json last;
  if (res) {
    m.events().publish(r.name, "created", "template " + r.template_name);
    last = {{"status", 201}, {"result", *res}};
  } else {
    last = {{"status", static_cast<int>(status_for(res.error().code))}, {"error", res.error().message}};
  }
  send(reply_text(last), false);
  for (auto& f : after_answer) f();
}

// How long a client may stay silent while it sends its request. Each connection holds a thread
// and a descriptor: one that never finishes its request is let go after this. Applies to the
// request only; a console, an event stream or a wait may stay quiet as long as they like.
constexpr int kRequestIdleMs = 10000;

// The connection as Beast reads the request from it: each read waits at most kRequestIdleMs for
// data (a blocking socket's own receive timeout would not do: Asio waits again on EAGAIN).
struct RequestReader {
  local::socket& sock;
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    pollfd p{sock.native_handle(), POLLIN, 0};
    int ready;
    do ready = ::poll(&p, 1, kRequestIdleMs);
    while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      ec = asio::error::timed_out;
      return 0;
    }
    return sock.read_some(buffers, ec);
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    boost::system::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
};

void handle(local::socket sock, Manager& m, const std::optional<SocketGroup>& group) {
  boost::beast::flat_buffer buf;
  http::request<http::string_body> req;
  boost::system::error_code ec;
  RequestReader reader{sock};
  http::read(reader, buf, req, ec);
  if (ec) return;
  Reply reply;
  // The last line of defence of the daemon: no request may end the process.
  try {
    if (!peer_allowed(sock.native_handle(), group)) {
      reply = error_reply(make_error(group ? "permission denied: only root and members of group '" + group->name +
                                                 "' may use lxcd"
                                           : std::string("permission denied: only root may use lxcd"),
                                     EACCES));
      reply.status = http::status::forbidden;
    } else if (auto r = parse_request(std::string_view(req.method_string().data(), req.method_string().size()),
                                      std::string_view(req.target().data(), req.target().size()), req.body(),
                                      std::string_view(req[http::field::upgrade].data(), req[http::field::upgrade].size()));
               !r) {
      reply = error_reply(r.error());
    } else if (r->op == Op::Console) {
      auto err = upgrade_to_console(sock, m, r->name, req.version());
      if (!err) return;
      reply = std::move(*err);
    } else if (r->op == Op::Create && r->progress) {
      return stream_create(sock, m, *r);
    } else if (r->op == Op::Events) {
      return stream_events(sock, m, r->only);
    } else {
      reply = dispatch(m, *r, sock.native_handle());
    }
  } catch (const std::exception& e) {
    reply = error_reply(make_error(std::string("internal error: ") + e.what(), EIO));
  }
  http::response<http::string_body> res{reply.status, req.version()};
  res.set(http::field::server, "lxcd/" SYSC_VERSION);
  res.set(http::field::connection, "close");
  if (!reply.text.empty()) {
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = reply.text;
  } else {
    res.set(http::field::content_type, "application/json");
    res.body() = reply_text(reply.body);
  }
  res.prepare_payload();
  http::write(sock, res, ec);
}

// The threads that serve connections. Each blocks in accept(2) on the listening socket and
// serves the connection it got itself: no thread is created and no other thread woken per
// request (a thread per connection cost ~0.2 ms of clone, stack teardown and TLB shootdown, and
// handing the connection over could mean waking another CPU). A thread that takes a connection
// while no other waits starts one, so long connections (console, events, wait) never hold up
// the others; a thread done with its connection goes back to waiting unless kSpare others
// already do (the permanent one always goes back).
class Acceptors {
 public:
  Acceptors(int listen_fd, Manager& m, const std::optional<SocketGroup>& group)
      : listen_fd_(listen_fd), manager_(m), group_(group) {}

  // permanent: the caller's own thread (serve's), which never leaves.
  void run(bool permanent) {
    for (;;) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (!permanent && waiting_ >= kSpare) return;
        ++waiting_;
      }
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      const int err = errno;
      if (fd < 0) {
        // No connection was taken, so no thread is started for it: accept(2) fails at once when
        // lxcd is out of descriptors or memory, and a new thread per failure would multiply.
        {
          std::lock_guard<std::mutex> l(mu_);
          --waiting_;
        }
        // Out of descriptors or memory: do not spin on the pending connection.
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) ::usleep(10000);
        continue;
      }
      bool start_another;
      {
        std::lock_guard<std::mutex> l(mu_);
        start_another = --waiting_ == 0;
      }
      if (start_another) start_thread();
      local::socket sock(io_);
      boost::system::error_code ec;
      sock.assign(local(), fd, ec);
      if (ec) {
        ::close(fd);
        continue;
      }
      handle(std::move(sock), manager_, group_);
    }
  }

 private:
  // Out of threads (a pid or memory limit), lxcd goes on with the threads it has: this one
  // serves its connection, and a later one that finds no other waiting tries again.
  void start_thread() {
    try {
      std::thread([this] { run(/*permanent=*/false); }).detach();
    } catch (const std::system_error& e) {
      fprintf(stderr, "lxcd: cannot start a thread for connections: %s\n", e.what());
    }
  }

  static constexpr int kSpare = 2;
  const int listen_fd_;
  Manager& manager_;
  const std::optional<SocketGroup>& group_;
  asio::io_context io_;  // owns the sockets' reactor registrations; never run (blocking I/O only)
  std::mutex mu_;
  int waiting_ = 0;
};

}  // namespace

Status serve(const std::string& socket_path, Manager& manager, const std::optional<SocketGroup>& socket_group,
             const std::function<void()>& on_listening) {
  asio::io_context io;
  ::unlink(socket_path.c_str());
  boost::system::error_code ec;
  local::acceptor acceptor(io);
  acceptor.open(local(), ec);
  if (!ec) acceptor.bind(local::endpoint(socket_path), ec);
  if (!ec) acceptor.listen(512, ec);
  if (ec) return make_error("listen on " + socket_path + ": " + ec.message(), ec.value());
  // root:GROUP 0660 lets the group connect; the peer check below admits exactly the same people.
  if (socket_group && ::chown(socket_path.c_str(), 0, socket_group->gid) != 0)
    return sys_error("chown " + socket_path + " to group " + socket_group->name);
  if (::chmod(socket_path.c_str(), 0660) != 0) return sys_error("chmod " + socket_path);
  // Asio does not open sockets close-on-exec: without this every shim would inherit the
  // listening socket and keep it alive after lxcd is gone (clients would hang on it).
  ::fcntl(acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  if (on_listening) on_listening();
  // Never freed: the detached threads use it for as long as the process lives.
  auto* acceptors = new Acceptors(acceptor.native_handle(), manager, socket_group);
  acceptors->run(/*permanent=*/true);
  return {};
}

}  // namespace sysc::lxcd
