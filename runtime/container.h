// Starting a container from the supervisor (sysc-shim): clone3 into new namespaces, place the
// child in its cgroups, run the numbered sync protocol, and report {step, errno} failures.
// With plan.idmap enabled the clone makes a user namespace too: the parent writes its id maps,
// chowns the cgroup's delegation files to the mapped root and, for an idmapped rootfs, sends the
// detached idmapped mount along with sync 1.
#pragma once

#include <functional>
#include <string>
#include <sys/types.h>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/cgroup.h"
#include "runtime/child.h"

namespace sysc::runtime {

struct StartedInit {
  pid_t pid = 0;
  UniqueFd pidfd;
};

// Namespaces made ahead of a start, by a spare supervisor while it waits for one: a user
// namespace without id maps yet, and network, IPC and UTS namespaces it owns, held by a child
// that only waits. A start of an unprivileged container writes the id maps through that child
// and joins the four instead of making them in its clone3 (the network namespace alone costs
// about half a millisecond). Of no use to a privileged container: their owner must be the host's
// user namespace. Destroying it ends the holder (what joined them keeps them).
class PremadeNamespaces {
 public:
  static Result<PremadeNamespaces> make();
  PremadeNamespaces() = default;
  PremadeNamespaces(PremadeNamespaces&& o) noexcept { *this = std::move(o); }
  PremadeNamespaces& operator=(PremadeNamespaces&& o) noexcept;
  PremadeNamespaces(const PremadeNamespaces&) = delete;
  PremadeNamespaces& operator=(const PremadeNamespaces&) = delete;
  ~PremadeNamespaces() { reset(); }

  explicit operator bool() const { return holder_ > 0; }
  bool alive() const;  // the holder still waits (its namespaces can be joined)
  pid_t holder() const { return holder_; }
  int holder_pidfd() const { return pidfd_.get(); }
  void reset();  // ends and reaps the holder

 private:
  pid_t holder_ = 0;
  UniqueFd pidfd_;
  UniqueFd release_;  // the holder waits for EOF on the other end
};

// On failure the half-started child is killed and reaped and the cgroup removed; the message is
// "start failed at <step>[ <detail>]: <strerror>".
// LIMITS are written to the cgroup right after it is made, before the child is placed in it:
// init never runs unlimited, not even for a moment.
// parent_setup runs between the cgroup placement and sync 1, with the child's host pid (its
// network namespace exists, its init has not run): the veth pairs are made there.
// cgroup_made: the cgroup's directories exist already (the shim made them while lxcd wrote the
// spec); LIMITS are written and the delegation done here (prepare_cgroup with MADE).
// PREMADE (for an unprivileged container, a live holder): its namespaces are joined instead of
// made, and parent_setup gets the holder's pid (the network namespace is the holder's).
Result<StartedInit> start_container(const ChildPlan& plan, cgroup::Driver& cg, const std::string& cgroup_rel,
                                    const Limits& limits,
                                    const std::function<Status(pid_t)>& parent_setup = nullptr,
                                    bool cgroup_made = false, const PremadeNamespaces* premade = nullptr);

// The cgroup of a start, made (unless MADE: its directories exist already), limited and
// delegated (to the host ids of the container's root when IDMAP is enabled); on failure, what
// was made is removed. "start failed at <step>" errors.
Status prepare_cgroup(cgroup::Driver& cg, const std::string& cgroup_rel, const Limits& limits, const IdMap& idmap,
                      bool made = false);

}  // namespace sysc::runtime
