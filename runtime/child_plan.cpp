// The child's plan made from a runtime spec (see child_plan.h).
#include "runtime/child_plan.h"

#include "runtime/mounts.h"
#include "runtime/security.h"

namespace sysc::runtime {

Result<ChildPlan> make_child_plan(const RuntimeSpec& spec, const MountPlan& cgroup_mounts, const std::string& console_pty) {
  ChildPlan plan;
  plan.name = spec.name;
  plan.rootfs = spec.rootfs;
  plan.overlay = spec.overlay;
  if (spec.overlay.enabled()) {
    auto base = [&](const std::string& p) { return p.substr(spec.overlay.dir().size() + 1); };
    if (!spec.overlay.siblings())
      return make_error("overlay upper and work directories must be siblings: " + spec.overlay.upper + ", " +
                            spec.overlay.work, EINVAL);
    plan.overlay_upper_name = base(spec.overlay.upper);
    plan.overlay_work_name = base(spec.overlay.work);
    // userxattr: the overlay's own xattrs in the user.overlay.* namespace, which an overlay made
    // in a user namespace must use: one upper layer works privileged and unprivileged.
    plan.overlay_data = "lowerdir=" + spec.overlay.lower + ",upperdir=" + spec.overlay.upper +
                        ",workdir=" + spec.overlay.work + ",userxattr";
  }
  plan.idmap = spec.idmap;
  plan.mounts = base_mount_plan(console_pty, cgroup_mounts, spec.idmap.enabled());
  auto lxcfs = lxcfs_mount_plan(spec.lxcfs_dir, spec.lxcfs_files);
  plan.mounts.insert(plan.mounts.end(), lxcfs.begin(), lxcfs.end());
  plan.argv_storage = spec.init_argv;
  plan.env_storage = spec.init_env;
  plan.security.cap_drop = TRY(cap_numbers(spec.cap_drop));
  plan.security.seccomp = spec.seccomp;
  plan.security.allow_compat = spec.seccomp_compat;
  plan.seccomp = TRY(seccomp_program(plan.security, spec.seccomp_filter));
  return plan;
}

}  // namespace sysc::runtime
