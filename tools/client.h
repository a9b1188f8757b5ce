// The lxcd API client: JSON over HTTP/1.1 on lxcd's unix socket, one connection per request.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/paths.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace sysc::cli {

struct Response {
  int status = 0;
  nlohmann::json json;  // the parsed body when it is JSON, else null
  std::string body;     // the raw body (text/plain answers such as the console log)
};

// A connection switched away from HTTP: the raw socket plus any bytes the server already sent
// after the 101 header (they must be shown before anything read from the fd).
struct Upgraded {
  UniqueFd fd;
  std::string pending;
};

class Client {
 public:
  // Starts lxcd (as root) when its socket is missing or refuses connections.
  explicit Client(Paths paths) : paths_(std::move(paths)) {}

  // A non-2xx answer is an Error carrying the server's "error" message.
  Result<Response> request(std::string_view method, const std::string& target,
                           const std::optional<nlohmann::json>& body = std::nullopt);
  // GET TARGET of a streaming endpoint (/1.0/events): after a 200 header the socket carries the
  // body for as long as the server sends it. A non-2xx answer is an Error as for request().
  // METHOD and BODY as for request(): POST /1.0/containers?progress=1 streams a create's progress.
  Result<Upgraded> stream(const std::string& target, std::string_view method = "GET",
                          const std::optional<nlohmann::json>& body = std::nullopt);
  // Sends Connection: Upgrade / Upgrade: PROTOCOL and expects 101 Switching Protocols.
  Result<Upgraded> upgrade(const std::string& target, const std::string& protocol);

 private:
  struct Connection;
  Result<std::unique_ptr<Connection>> connect();

  Paths paths_;
  bool tried_start_ = false;
};

// "/1.0/containers/NAME" + SUFFIX; NAME must already be validated (it needs no escaping).
std::string container_url(const std::string& name, const std::string& suffix = "");
// Percent-encodes everything but unreserved characters, for one path segment (a config key).
std::string escape_segment(std::string_view s);

}  // namespace sysc::cli
