// The child's plan made from a runtime spec (runtime/child_plan.h), without a kernel: which
// seccomp program the child loads, and what it mounts and execs.
#include <gtest/gtest.h>
#include <linux/seccomp.h>

#include "runtime/child_plan.h"
#include "runtime/seccomp_profile.h"
#include "runtime/security.h"

namespace sysc::runtime {
namespace {

RuntimeSpec busybox_spec() {
  RuntimeSpec spec;
  spec.name = "plan1";
  spec.rootfs = "/var/lib/sysc/containers/plan1/rootfs";
  spec.init_argv = {"/sbin/init"};
  spec.init_env = {"TERM=linux"};
  spec.seccomp = default_seccomp_rules();
  return spec;
}

// The supervisor loads the program lxcd compiled and wrote into the spec, as it is: here one that
// allows every call, which the spec's rules (the defaults, which deny some) never compile to.
TEST(ChildPlan, TheChildLoadsTheSpecsProgramNotOneCompiledFromItsRules) {
  RuntimeSpec spec = busybox_spec();
  spec.seccomp_filter = {sock_filter{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW}};
  auto plan = make_child_plan(spec, {}, "/dev/pts/9");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(seccomp_filter_to_text(plan->seccomp.filter), seccomp_filter_to_text(spec.seccomp_filter));
  EXPECT_EQ(plan->security.seccomp.size(), spec.seccomp.size());

  // A spec without a program (written by an lxcd from before it compiled one): the rules,
  // compiled by the supervisor.
  spec.seccomp_filter.clear();
  plan = make_child_plan(spec, {}, "/dev/pts/9");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  auto compiled = compile_seccomp(plan->security);
  ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  EXPECT_GT(compiled->filter.size(), 1u);
  EXPECT_EQ(seccomp_filter_to_text(plan->seccomp.filter), seccomp_filter_to_text(compiled->filter));
}

TEST(ChildPlan, MountsTheCgroupsAndTheConsoleAndExecsTheInit) {
  RuntimeSpec spec = busybox_spec();
  MountStep cgroups;
  cgroups.target = "sys/fs/cgroup";
  cgroups.fstype = "cgroup2";
  auto plan = make_child_plan(spec, {cgroups}, "/dev/pts/9");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  bool has_cgroups = false, has_console = false;
  for (const MountStep& s : plan->mounts) {
    has_cgroups |= s.target == "sys/fs/cgroup" && s.fstype == "cgroup2";
    has_console |= s.target == "dev/console" && s.source == "/dev/pts/9";
  }
  EXPECT_TRUE(has_cgroups);
  EXPECT_TRUE(has_console);
  plan->finalize();
  ASSERT_EQ(plan->argv.size(), 2u);
  EXPECT_STREQ(plan->argv[0], "/sbin/init");
  EXPECT_EQ(plan->argv[1], nullptr);
}

TEST(ChildPlan, RefusesOverlayLayersThatAreNotSiblings) {
  RuntimeSpec spec = busybox_spec();
  spec.overlay = {"/images/x/rootfs", "/c/plan1/overlay/upper", "/c/plan1/elsewhere/work"};
  auto plan = make_child_plan(spec, {}, "/dev/pts/9");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message.find("siblings"), std::string::npos) << plan.error().message;
}

}  // namespace
}  // namespace sysc::runtime
