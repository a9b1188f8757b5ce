// The API server: HTTP/1.1 on a unix socket (Boost.Beast), each connection served by the thread
// that accepted it (a pool that grows while connections are long), JSON bodies, versioned routes
// (/1.0/...). Only root, and the members of the socket group when one is configured, may talk
// to it (SO_PEERCRED, SO_PEERGROUPS).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/result.h"
#include "lxcd/access.h"
#include "lxcd/manager.h"

namespace sysc::lxcd {

// Binds socket_path (root:GROUP or root:root, mode 0660), calls on_listening once it accepts
// connections, and serves until the process ends.
Status serve(const std::string& socket_path, Manager& manager, const std::optional<SocketGroup>& socket_group,
             const std::function<void()>& on_listening = {});

}  // namespace sysc::lxcd
