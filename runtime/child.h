// The container child: a fully resolved plan (built before clone) and the ordered setup that
// runs in the new namespaces up to execve(init). Errors travel to the parent as {step, errno}.
#pragma once

#include <linux/filter.h>
#include <string>
#include <vector>

#include "runtime/mount_plan.h"
#include "runtime/security.h"
#include "runtime/userns.h"

namespace sysc::runtime {

// Everything the child reads. Built on the host side; the child only reads it (no allocation).
struct ChildPlan {
  std::string name;    // hostname
  std::string rootfs;  // host path
  // Overlay rootfs (enabled()): privileged, mounted with overlay_data; in a user namespace, built
  // by the child from the idmapped layers the parent sends (the lower layer, and the directory
  // holding upper and work), named relative to that directory.
  OverlayLayers overlay;
  std::string overlay_data;
  std::string overlay_upper_name, overlay_work_name;
  MountPlan mounts;
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char*> argv, envp;  // null-terminated, pointing into the storage vectors
  IdMap idmap;         // enabled(): the child is in a new user namespace with this map
  SecurityPolicy security;
  SeccompProgram seccomp;
  sock_fprog seccomp_prog{};

  void finalize();  // fills argv/envp/seccomp_prog from the storage; call after the last change
};

// The fixed record a failing child writes on the sync socket before _exit.
struct ChildFailure {
  int step = 0;        // index into kChildSteps
  int err = 0;         // errno
  char detail[96] = {};  // e.g. the mount target or the init path
};

// Sync protocol on a SOCK_SEQPACKET pair (parent side in container.cpp):
//   sync 1. parent -> child: one byte "go on" once the parent side is ready (in a user namespace
//           its id maps are written); with an idmapped rootfs the byte carries the detached
//           idmapped rootfs mount as SCM_RIGHTS, with an idmapped overlay the idmapped lower
//           layer and then the directory of upper and work. The child was cloned into its
//           cgroup2 cgroup and now moves itself into its v1 cgroups (cgroup::JoinPlan), then
//           goes on.
//   sync 2. child -> parent: a ChildFailure record, or EOF when execve closed the CLOEXEC socket
//
// Into namespaces made ahead (PremadeNamespaces, container.h) there is no sync 1: the parent
// wrote the id maps through the holder, made the idmapped mounts and the veths before the clone,
// and the child inherits the mounts as descriptors. The clone3 child joins the holder's user,
// network, IPC and UTS namespaces, makes the mount and pid namespaces (owned by the container's
// user namespace, as with clone3's own), forks the init with CLONE_PARENT (the supervisor stays
// its parent) and sends a kStepInitForked record with the init's pid and pidfd, then exits; the
// init waits for that record to be sent before it goes on. The first record is therefore this
// child's failure or the init's pid.
//   sync 2. as above, from the init.
enum ChildStep {
  kStepSync, kStepCgroupNs, kStepHostname, kStepPropagation, kStepRootfsBind, kStepMount,
  kStepPivotRoot, kStepOldRoot, kStepConsole, kStepLoopback, kStepSecurity, kStepExec,
  kStepUserns, kStepCgroup, kStepJoinNamespaces, kStepForkInit,
  kStepInitForked,  // not a failure: err is the init's pid, its pidfd comes as SCM_RIGHTS
};
const char* child_step_name(int step);

// The calling process's network namespace's loopback up, unless it already is: 0 or an errno.
int loopback_up_if_down();

// The scheduling policy (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE) and nice value the child of a
// start takes first thing, and with it the init: the supervisor's own, saved before it raises
// itself for the start (a child of a raised supervisor is reset to SCHED_OTHER and nice 0).
// Best effort: a negative nice needs CAP_SYS_NICE in the host's user namespace.
void set_child_sched(int policy, int nice);

// Runs in the child right after clone3. SELF_TASKS: the v1 `tasks` files it writes "0" to
// (cgroup::JoinPlan). Never returns.
[[noreturn]] void run_child(const ChildPlan& plan, const std::vector<std::string>& self_tasks, int sync_fd);
// The same, for a clone3 child born in no new namespace that joins those of HOLDER_PIDFD (see
// kStepInitForked above). MOUNT_FDS: the detached mounts sync 1 would have carried, -1 if none.
[[noreturn]] void run_child_in_premade(const ChildPlan& plan, const std::vector<std::string>& self_tasks, int sync_fd,
                                       int holder_pidfd, const int (&mount_fds)[2]);

}  // namespace sysc::runtime
