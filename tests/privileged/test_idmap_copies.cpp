// New trees made from an unprivileged container whose rootfs ids are shifted on disk (idmapped
// mounts off): a copy, a snapshot restore and an export + import each end up with the ids the
// tree's own container needs (root inside owns its files), never with the source's host range.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "support/harness.h"

namespace sysc::test {
namespace {

const char* kShiftConf = "[security]\nidmapped_mounts = off\n";

struct Ids {
  long uid = -1, gid = -1;
  bool operator==(const Ids&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Ids& i) { return os << i.uid << ":" << i.gid; }

Ids ids_of(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return {};
  return {static_cast<long>(st.st_uid), static_cast<long>(st.st_gid)};
}

long host_base(SyscEnv& env, const std::string& name) {
  auto info = env.info(name);
  return info.contains("idmap") ? info["idmap"].value("host_base", -1L) : -1L;
}

bool shifted(SyscEnv& env, const std::string& name) {
  auto info = env.info(name);
  return info.contains("idmap") && info["idmap"].value("rootfs_shifted", false);
}

// An unprivileged busybox NAME, started once (so shifted), with /root/r (root's) and /root/u
// (uid and gid 1000) made inside, stopped again. Its range's base.
long make_shifted(SyscEnv& env, const std::string& name) {
  env.create_busybox(name);
  EXPECT_EQ(env.sysc({"config", "set", name, "security.privileged", "false"}).status, 0);
  auto r = env.sysc({"start", name});
  EXPECT_EQ(r.status, 0) << r.err;
  env.sh(name, "echo r > /root/r && echo u > /root/u && chown 1000:1000 /root/u");
  EXPECT_EQ(env.sysc({"stop", name}).status, 0);
  const long base = host_base(env, name);
  EXPECT_TRUE(shifted(env, name)) << env.info(name).dump();
  EXPECT_EQ(ids_of(env.rootfs(name) + "/root/u"), (Ids{base + 1000, base + 1000})) << "the test needs a shifted rootfs";
  return base;
}

// NAME runs (started here) and sees root's and uid 1000's files as such; on the host they are
// BASE and BASE+1000.
void expect_owned(SyscEnv& env, const std::string& name, long base) {
  auto r = env.sysc({"start", name});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env.sh(name, "stat -c %u:%g /root/r /root/u /bin/busybox; cat /root/r /root/u"),
            "0:0\n1000:1000\n0:0\nr\nu\n");
  EXPECT_EQ(ids_of(env.rootfs(name) + "/root/r"), (Ids{base, base}));
  EXPECT_EQ(ids_of(env.rootfs(name) + "/root/u"), (Ids{base + 1000, base + 1000}));
  EXPECT_EQ(ids_of(env.rootfs(name) + "/bin/busybox"), (Ids{base, base}));
  ASSERT_EQ(env.sysc({"stop", name}).status, 0);
}

TEST(IdmapCopies, CopyOfShiftedRootfsGetsTheCopysOwnRange) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env(kShiftConf);
  const long src = make_shifted(env, "cp-src");
  auto r = env.sysc({"copy", "cp-src", "cp-dst"});
  ASSERT_EQ(r.status, 0) << r.err;
  // Until its first start the copy is host root's, like a new container.
  EXPECT_EQ(ids_of(env.rootfs("cp-dst") + "/root/u"), (Ids{1000, 1000}));
  EXPECT_FALSE(env.info("cp-dst").contains("idmap"));
  ASSERT_EQ(env.sysc({"start", "cp-dst"}).status, 0);
  const long dst = host_base(env, "cp-dst");
  EXPECT_GE(std::labs(dst - src), 65536) << src << " " << dst;
  EXPECT_TRUE(shifted(env, "cp-dst"));
  ASSERT_EQ(env.sysc({"stop", "cp-dst"}).status, 0);
  expect_owned(env, "cp-dst", dst);
  expect_owned(env, "cp-src", src);  // the source keeps its own
  // A privileged copy of a shifted container: host root's ids.
  ASSERT_EQ(env.sysc({"copy", "cp-src", "cp-priv"}).status, 0);
  ASSERT_EQ(env.sysc({"config", "set", "cp-priv", "security.privileged", "true"}).status, 0);
  expect_owned(env, "cp-priv", 0);
  for (const char* n : {"cp-src", "cp-dst", "cp-priv"}) ASSERT_EQ(env.sysc({"destroy", "--force", n}).status, 0);
  EXPECT_TRUE(env.leftovers().empty()) << ::testing::PrintToString(env.leftovers());
}

// A snapshot of the shifted tree, restored after the container went privileged (and its ids
// back to host root's): the record follows the restored tree and the next start settles it.
TEST(IdmapCopies, RestoreOfShiftedSnapshotIntoPrivilegedContainer) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env(kShiftConf);
  const long base = make_shifted(env, "rs");
  ASSERT_EQ(env.sysc({"snapshot", "create", "rs", "shifted"}).status, 0);
  ASSERT_EQ(env.sysc({"config", "set", "rs", "security.privileged", "true"}).status, 0);
  expect_owned(env, "rs", 0);
  EXPECT_FALSE(shifted(env, "rs"));
  auto r = env.sysc({"snapshot", "restore", "rs", "shifted"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(shifted(env, "rs")) << "the record must describe the restored tree";
  EXPECT_EQ(ids_of(env.rootfs("rs") + "/root/u"), (Ids{base + 1000, base + 1000}));
  // The snapshot's config was privileged = false: set privileged again.
  ASSERT_EQ(env.sysc({"config", "set", "rs", "security.privileged", "true"}).status, 0);
  expect_owned(env, "rs", 0);
  // And back: restore the shifted snapshot, start unprivileged.
  ASSERT_EQ(env.sysc({"snapshot", "restore", "rs", "shifted"}).status, 0);
  expect_owned(env, "rs", base);
  ASSERT_EQ(env.sysc({"destroy", "--force", "rs"}).status, 0);
}

// Every member of the archive under a tree: "uid/gid path" lines from tar's listing.
std::vector<std::string> tree_owners(const std::string& file) {
  std::vector<std::string> out;
  std::string cmd = "tar -tvf '" + file + "' --numeric-owner";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char line[4096];
  while (fgets(line, sizeof line, p)) {
    std::istringstream ls(line);
    std::string mode, owner, size, date, time, path;
    ls >> mode >> owner >> size >> date >> time >> path;
    if (path.find("rootfs/") != std::string::npos) out.push_back(owner + " " + path);
  }
  pclose(p);
  return out;
}

// Export of a shifted rootfs and of a shifted snapshot: the archive holds the ids the container
// sees; an import next to the source is shifted into its own range at its first start.
TEST(IdmapCopies, ExportHoldsContainerIdsAndImportGetsItsOwnRange) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env(kShiftConf);
  const long base = make_shifted(env, "ex-src");
  ASSERT_EQ(env.sysc({"snapshot", "create", "ex-src", "s1"}).status, 0);
  const std::string file = env.root() + "/ex-src.tar.gz";
  auto r = env.sysc({"export", "ex-src", file, "--snapshots"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto owners = tree_owners(file);
  ASSERT_GT(owners.size(), 20u);
  int seen = 0;
  for (const auto& o : owners) {
    std::istringstream os(o);
    long uid = -1, gid = -1;
    char slash;
    os >> uid >> slash >> gid;
    EXPECT_LT(uid, 65536) << o;
    EXPECT_LT(gid, 65536) << o;
    if (o == "0/0 rootfs/root/r" || o == "1000/1000 rootfs/root/u" || o == "1000/1000 snapshots/s1/rootfs/root/u")
      ++seen;
  }
  EXPECT_EQ(seen, 3) << ::testing::PrintToString(owners);
  // The source is untouched by its export.
  EXPECT_EQ(ids_of(env.rootfs("ex-src") + "/root/u"), (Ids{base + 1000, base + 1000}));
  r = env.sysc({"import", file, "ex-imp"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ids_of(env.rootfs("ex-imp") + "/root/u"), (Ids{1000, 1000}));
  ASSERT_EQ(env.sysc({"start", "ex-imp"}).status, 0);
  const long imp = host_base(env, "ex-imp");
  EXPECT_GE(std::labs(imp - base), 65536) << base << " " << imp;
  ASSERT_EQ(env.sysc({"stop", "ex-imp"}).status, 0);
  expect_owned(env, "ex-imp", imp);
  ASSERT_EQ(env.sysc({"snapshot", "restore", "ex-imp", "s1"}).status, 0);
  expect_owned(env, "ex-imp", imp);
  for (const char* n : {"ex-src", "ex-imp"}) ASSERT_EQ(env.sysc({"destroy", "--force", n}).status, 0);
  EXPECT_TRUE(env.leftovers().empty()) << ::testing::PrintToString(env.leftovers());
}

}  // namespace
}  // namespace sysc::test
