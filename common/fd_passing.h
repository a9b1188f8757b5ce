// Descriptors sent along with a message on a unix socket (SCM_RIGHTS), up to kMaxPassedFds at a
// time. No allocation, no logging: usable in a child between clone and exec.
#pragma once

#include <cstddef>
#include <sys/types.h>

namespace sysc {

inline constexpr size_t kMaxPassedFds = 2;

// sendmsg(2) of LEN bytes of DATA with the COUNT descriptors FDS (COUNT <= kMaxPassedFds, 0 for
// none), MSG_NOSIGNAL, retried on EINTR. Its result: bytes sent, or -1 with errno.
ssize_t send_with_fds(int sock, const void* data, size_t len, const int* fds, size_t count);

// recvmsg(2) of up to LEN bytes into DATA; the descriptors that came along go into FDS (up to
// MAX of them, the rest of the MAX slots -1), close-on-exec. FLAGS are added to recvmsg's
// (MSG_DONTWAIT...); retried on EINTR. Its result: bytes received, 0 at EOF, or -1 with errno.
ssize_t recv_with_fds(int sock, void* data, size_t len, int* fds, size_t max, int flags = 0);

}  // namespace sysc
