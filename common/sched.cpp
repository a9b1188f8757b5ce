#include "common/sched.h"

#include <cerrno>
#include <cstdint>
#include <linux/sched.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sysc {

void ask_for_short_slice() {
  struct {  // struct sched_attr, first version (linux/sched/types.h clashes with glibc's sched.h)
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
  } attr{};
  static_assert(sizeof attr == 48, "SCHED_ATTR_SIZE_VER0");
  if (sched_getscheduler(0) != SCHED_OTHER) return;
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, 0);
  if (errno != 0 || nice < 0) return;
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  attr.sched_flags = SCHED_FLAG_RESET_ON_FORK;
  attr.sched_nice = nice;
  attr.sched_runtime = 100 * 1000;  // ns: the shortest the kernel takes
  (void)syscall(SYS_sched_setattr, 0, &attr, 0);
}

}  // namespace sysc
