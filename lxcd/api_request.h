// The lxcd API's requests as typed values: method + target + JSON body -> ApiRequest, or an
// error whose code maps to a 4xx status. Pure (no I/O, no Manager), so it is fuzzed on its own.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sysc::lxcd {

enum class Op {
  Version,        // GET /1.0
  List,           // GET /1.0/containers
  Create,         // POST /1.0/containers
  Info,           // GET /1.0/containers/NAME
  Destroy,        // DELETE /1.0/containers/NAME[?force=1]
  Start,          // POST .../start
  Stop,           // POST .../stop
  Restart,        // POST .../restart
  AttachInfo,     // GET .../attach
  Console,        // GET .../console with Upgrade: sysc-console
  ConsoleLog,     // GET .../console/log
  ConfigShow,     // GET .../config
  ConfigGet,      // GET .../config/KEY
  ConfigSet,      // PUT .../config/KEY {"value": "..."}
  ConfigUnset,    // DELETE .../config/KEY
  Ports,          // GET .../ports
  PortAdd,        // POST .../ports
  PortRemove,     // DELETE .../ports/PROTO/HOSTPORT
  NetworkShow,    // GET /1.0/network
  NetworkRemove,  // DELETE /1.0/network
  Copy,           // POST .../copy {"name": "DST"}
  Images,         // GET /1.0/images
  ImageRefresh,   // POST /1.0/images {"template": ..., "template_args": [...]}
  ShutdownAll,    // POST /1.0/shutdown
  Events,         // GET /1.0/events[?container=NAME]: a stream
  Snapshots,        // GET .../snapshots
  SnapshotCreate,   // POST .../snapshots {"name": SNAP (optional)}
  SnapshotRestore,  // POST .../snapshots/SNAP/restore {"stop": false}
  SnapshotDelete,   // DELETE .../snapshots/SNAP
  Export,           // POST .../export {"file": PATH, "snapshots": false}
  Import,           // POST /1.0/import {"file": PATH, "name": NAME (optional), "storage": ""}
};

struct ApiRequest {
  Op op = Op::Version;
  std::string name;  // the container (a valid name) for every container operation
  std::string template_name;
  std::vector<std::string> template_args;
  std::string key, value;      // config
  std::optional<int> timeout;  // stop/restart, 0..86400
  bool force = false;          // stop/restart/destroy
  std::string proto;           // ports: "tcp" | "udp"
  int host_port = 0, container_port = 0;
  std::string storage;         // create: "" = the configured default
  bool no_cache = false;       // create
  bool progress = false;       // create with ?progress=1: a stream of progress lines, then the result
  std::string target;          // copy: the new container
  std::string only;            // events: one container's, "" = all
  std::string snapshot;        // snapshots: SNAP ("" on create: named after the time)
  std::string file;            // export/import: absolute path on the host
  bool stop = false;           // snapshot restore of a running container: stop, restore, start
  bool with_snapshots = false; // export
};

// Percent-decoded path segments of TARGET (the query after '?' goes to *query). Error (EINVAL)
// on a bad %-escape or a NUL byte.
Result<std::vector<std::string>> split_target(std::string_view target, std::string* query);

// Errors: EINVAL (400) for malformed bodies, names and values; ENOENT (404) for unknown
// endpoints and API versions. `upgrade` is the request's Upgrade header ("" if none).
Result<ApiRequest> parse_request(std::string_view method, std::string_view target, std::string_view body,
                                 std::string_view upgrade = "");

// Whether OP acts on one container named in ApiRequest::name (always a valid name then). Import
// may name its new container ("" = the archive's name); the host-wide operations name none.
bool names_container(Op op);

// A reply body as sent: compact JSON and a newline. Strings that are not UTF-8 (an error quoting
// request bytes) are repaired, never an exception.
std::string reply_text(const nlohmann::json& body);

}  // namespace sysc::lxcd
