// Host id ranges of unprivileged containers: /etc/subuid parsing, the pool, the Store's
// allocation (non-overlapping, stable, released with the container) and the runtime spec field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "db/store.h"
#include "runtime/idmap.h"
#include "runtime/mount_plan.h"
#include "runtime/spec.h"

namespace sysc {
namespace {

using runtime::IdRange;

TEST(Idmap, ParsesRootsSubidEntriesByNameOrId) {
  const std::string text =
      "alice:100000:65536\n"
      "root:200000:131072\n"
      "# a comment\n"
      "0:500000:65536\r\n"
      "root:bad:1\n"
      "root:700000:0\n"
      "root:4294900000:100000\n"
      "rootx:900000:65536\n";
  auto r = runtime::parse_subid(text, "root", 0);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], (IdRange{200000, 131072}));
  EXPECT_EQ(r[1], (IdRange{500000, 65536}));
  EXPECT_TRUE(runtime::parse_subid(text, "bob", 1000).empty());
}

TEST(Idmap, IntersectsAndMergesRanges) {
  auto r = runtime::intersect_ranges({{100000, 200000}, {1000000, 65536}}, {{150000, 1000000}});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], (IdRange{150000, 150000}));
  EXPECT_EQ(r[1], (IdRange{1000000, 65536}));
  EXPECT_TRUE(runtime::intersect_ranges({{0, 10}}, {{10, 10}}).empty());
}

class IdPoolFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sysc-idpool-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    unlink((dir_ + "/subuid").c_str());
    unlink((dir_ + "/subgid").c_str());
    rmdir(dir_.c_str());
  }
  void write(const char* file, const std::string& text) { std::ofstream(dir_ + "/" + file) << text; }
  Result<runtime::IdPool> pool() { return runtime::read_id_pool(dir_ + "/subuid", dir_ + "/subgid"); }
  std::string dir_;
};

TEST_F(IdPoolFiles, WithoutEntriesForRootTheDefaultIsUsedAndSaidSo) {
  write("subuid", "alice:100000:65536\n");  // subgid missing altogether
  auto p = pool();
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->is_default);
  ASSERT_EQ(p->ranges.size(), 1u);
  EXPECT_EQ(p->ranges[0], runtime::kDefaultIdPool);
  EXPECT_NE(p->source.find("1000000"), std::string::npos) << p->source;
}

TEST_F(IdPoolFiles, RootsEntriesCommonToBothFilesAreThePool) {
  write("subuid", "root:100000:1000000\n");
  write("subgid", "root:300000:1000000\n");
  auto p = pool();
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_FALSE(p->is_default);
  ASSERT_EQ(p->ranges.size(), 1u);
  EXPECT_EQ(p->ranges[0], (IdRange{300000, 800000}));
}

TEST_F(IdPoolFiles, TooFewCommonIdsIsAnErrorNamingTheFiles) {
  write("subuid", "root:100000:65536\n");
  write("subgid", "root:120000:65536\n");
  auto p = pool();
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find(dir_ + "/subgid"), std::string::npos) << p.error().message;
}

db::Store fresh_store(const std::vector<std::string>& names) {
  auto s = db::Store::open(":memory:");
  EXPECT_TRUE(s.ok());
  for (const auto& n : names) {
    db::ContainerRecord r;
    r.name = n;
    r.template_name = "busybox";
    r.rootfs = "/x";
    EXPECT_TRUE(s->insert(r).ok());
  }
  return std::move(*s);
}

TEST(IdmapStore, RangesAreDisjointStableAndReleasedWithTheContainer) {
  db::Store s = fresh_store({"a", "b", "c"});
  const std::vector<db::IdPoolRange> pool = {{1000000, 3 * 65536}};
  auto a = s.allocate_idmap("a", pool, 65536);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = s.allocate_idmap("b", pool, 65536);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->host_base, 1000000u);
  EXPECT_EQ(b->host_base, 1000000u + 65536);
  EXPECT_EQ(s.allocate_idmap("a", pool, 65536)->host_base, a->host_base);  // stable
  ASSERT_TRUE(s.set_rootfs_shift("a", a->host_base, false).ok());
  auto again = s.idmap("a");
  ASSERT_TRUE(again.ok() && *again);
  EXPECT_EQ((*again)->rootfs_shift, a->host_base);
  EXPECT_FALSE((*again)->shift_complete);
  ASSERT_TRUE(s.remove("a").ok());
  EXPECT_FALSE(*s.idmap("a"));
  // The freed range is the lowest free one again; a full pool is ENOSPC.
  EXPECT_EQ(s.allocate_idmap("c", pool, 65536)->host_base, 1000000u);
  db::Store t = fresh_store({"x", "y"});
  ASSERT_TRUE(t.allocate_idmap("x", {{1000000, 65536}}, 65536).ok());
  auto full = t.allocate_idmap("y", {{1000000, 65536}}, 65536);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ENOSPC);
  // A differently aligned pool later still never overlaps an existing range.
  auto y = t.allocate_idmap("y", {{1000000 + 100, 4 * 65536}}, 65536);
  ASSERT_TRUE(y.ok());
  EXPECT_GE(y->host_base, 1000000u + 65536);
}

TEST(IdmapSpec, RoundTripsThroughJsonAndRefusesHostRoot) {
  runtime::RuntimeSpec spec;
  spec.name = "u";
  spec.init_argv = {"/sbin/init"};
  spec.idmap = runtime::IdMap{1065536, 1065536, 65536, true};
  auto back = runtime::spec_from_json(runtime::to_json(spec));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->idmap.host_uid, 1065536u);
  EXPECT_EQ(back->idmap.count, 65536u);
  EXPECT_TRUE(back->idmap.idmapped_rootfs);
  spec.idmap.host_uid = 0;
  EXPECT_FALSE(runtime::spec_from_json(runtime::to_json(spec)).ok());
  spec.idmap = {};
  EXPECT_FALSE(runtime::spec_from_json(runtime::to_json(spec))->idmap.enabled());
}

}  // namespace
}  // namespace sysc

// The overlay's layers: one directory holds upper and work, and that is what gets idmapped.
TEST(OverlayLayers, DirAndSiblings) {
  sysc::runtime::OverlayLayers o{"/img/rootfs", "/c/web1/upper", "/c/web1/work"};
  EXPECT_EQ(o.dir(), "/c/web1");
  EXPECT_TRUE(o.siblings());
  o.work = "/c/web2/work";
  EXPECT_FALSE(o.siblings());
  o.work = "/c/web1/x/work";
  EXPECT_FALSE(o.siblings());
  o = {"/img/rootfs", "upper", "work"};  // no directory named
  EXPECT_EQ(o.dir(), "");
  EXPECT_FALSE(o.siblings());
}
