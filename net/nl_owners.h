// RAII owners for libnl objects and the libnl-error -> sysc::Error conversion. Host side only.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include "common/result.h"

namespace sysc::net {

template <auto Free>
struct NlDeleter {
  template <class T>
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using NlSockPtr = std::unique_ptr<nl_sock, NlDeleter<&nl_socket_free>>;
using LinkPtr = std::unique_ptr<rtnl_link, NlDeleter<&rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, NlDeleter<&rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, NlDeleter<&rtnl_route_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlDeleter<&nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, NlDeleter<&nl_cache_free>>;

// libnl reports its own NLE_* codes; map the ones callers may branch on back to errno.
inline int nl_to_errno(int nle) {
  switch (std::abs(nle)) {
    case NLE_PERM: return EPERM;
    case NLE_NOACCESS: return EACCES;
    case NLE_EXIST: return EEXIST;
    case NLE_OBJ_NOTFOUND: return ENOENT;
    case NLE_NODEV: return ENODEV;
    case NLE_BUSY: return EBUSY;
    case NLE_INVAL: return EINVAL;
    case NLE_RANGE: return ERANGE;
    case NLE_NOMEM: return ENOMEM;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_AGAIN: return EAGAIN;
    case NLE_INTR: return EINTR;
    default: return EIO;
  }
}

// "what: <libnl message>", e.g. "sc-web1: move to netns of 4242: Operation not permitted".
inline Error nl_error(const std::string& what, int nle) {
  return Error{nl_to_errno(nle), what + ": " + nl_geterror(std::abs(nle))};
}

}  // namespace sysc::net
