// The host-wide registry of id ranges on a file in a temporary directory: claims are disjoint
// across state roots, kept for a container, released; claims of roots that are gone are dropped.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "common/fs.h"
#include "lxcd/idmap_registry.h"

namespace fs = std::filesystem;
using sysc::lxcd::IdRegistry;
using sysc::lxcd::RangeClaim;

namespace {

class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sysc-idreg-XXXXXX";
    dir_ = mkdtemp(tmpl);
    for (const char* r : {"a", "b"}) {
      fs::create_directories(dir_ + "/" + r);
      std::ofstream(dir_ + "/" + r + "/sysc.db") << "";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string reg() const { return dir_ + "/registry/ranges"; }
  std::string dir_;
  const std::vector<sysc::runtime::IdRange> pool_{{100000, 4 * 65536}};
};

TEST(RegistryText, RoundTripsAndSkipsMalformedLines) {
  std::string text = "100000 65536 web /var/lib/sysc\n165536 65536 db /srv/my root/var/lib/sysc\n";
  auto claims = sysc::lxcd::parse_claims(text + "0 65536 x /a\n5 0 x /a\nnonsense\n7 7 x relative\n");
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[1], (RangeClaim{165536, 65536, "db", "/srv/my root/var/lib/sysc"}));
  EXPECT_EQ(sysc::lxcd::format_claims(claims), text);
}

TEST_F(Registry, RootsGetDisjointRangesThatAreKeptAndReleased) {
  IdRegistry a(reg(), dir_ + "/a"), b(reg(), dir_ + "/b");
  auto aw = a.claim("web", pool_, 65536);
  auto bw = b.claim("web", pool_, 65536);
  ASSERT_TRUE(aw && bw);
  EXPECT_EQ(aw->base, 100000u);
  EXPECT_EQ(bw->base, 165536u);
  EXPECT_EQ(a.claim("web", pool_, 65536)->base, 100000u);  // found again (no record written yet)
  // The range a record names: kept when it is free or already this container's, else EEXIST.
  EXPECT_EQ(a.claim("web", pool_, 65536, 100000)->base, 100000u);
  auto taken = a.claim("db", pool_, 65536, 165536);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, EEXIST);
  EXPECT_NE(taken.error().message.find("web of " + dir_ + "/b"), std::string::npos) << taken.error().message;
  ASSERT_TRUE(b.release("web"));
  EXPECT_EQ(a.claim("db", pool_, 65536)->base, 165536u);  // the lowest free one again
  auto all = a.claims();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(Registry, PoolRunsOutWithEnospc) {
  IdRegistry a(reg(), dir_ + "/a");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(a.claim("c" + std::to_string(i), pool_, 65536));
  auto full = a.claim("c4", pool_, 65536);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ENOSPC);
}

TEST_F(Registry, GoneRootsAndUnrecordedClaimsAreDropped) {
  IdRegistry a(reg(), dir_ + "/a"), b(reg(), dir_ + "/b");
  ASSERT_TRUE(a.claim("kept", pool_, 65536));
  ASSERT_TRUE(a.claim("lost", pool_, 65536));  // lxcd died before recording it
  ASSERT_TRUE(b.claim("web", pool_, 65536));
  // A's database says: only "kept", and "moved" whose range nobody else claims.
  std::vector<sysc::db::IdmapRecord> records = {{"kept", 100000, 65536, 0, true}, {"moved", 362144, 65536, 0, true}};
  auto conflicts = a.reconcile(records);
  ASSERT_TRUE(conflicts);
  EXPECT_TRUE(conflicts->empty());
  auto text = sysc::read_file(reg());
  ASSERT_TRUE(text);
  EXPECT_EQ(text->find(" lost "), std::string::npos) << *text;
  EXPECT_NE(text->find("362144 65536 moved "), std::string::npos) << *text;
  // A record whose range another root claims is named, not claimed.
  conflicts = a.reconcile({{"kept", 100000, 65536, 0, true}, {"clash", 231072, 65536, 0, true}});
  ASSERT_TRUE(conflicts);
  ASSERT_EQ(conflicts->size(), 1u);
  EXPECT_NE((*conflicts)[0].find("clash: its host ids 231072-296607 are claimed by web of " + dir_ + "/b"),
            std::string::npos)
      << (*conflicts)[0];
  // B's root goes away: its claims are dropped by the next change.
  fs::remove_all(dir_ + "/b");
  EXPECT_EQ(a.claim("new", pool_, 65536)->base, 165536u);
  text = sysc::read_file(reg());
  EXPECT_EQ(text->find(dir_ + "/b"), std::string::npos) << *text;
}

// Whoever removes an empty registry does it holding the lock (the benchmark's cleanup does); a
// claim that was waiting for that lock then takes it again on the new file, and is kept.
TEST_F(Registry, AClaimWaitingWhileTheRegistryIsRemovedLocksItsNewFile) {
  IdRegistry a(reg(), dir_ + "/a");
  ASSERT_TRUE(a.claim("first", pool_, 65536));
  ASSERT_TRUE(a.release("first"));
  int held = open((reg() + ".lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX), 0);
  auto waiting = std::async(std::launch::async, [&] { return a.claim("web", pool_, 65536); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);  // blocked on the lock
  fs::remove_all(dir_ + "/registry");
  close(held);  // the waiting claim gets the old file's lock, sees it gone, and starts over
  auto got = waiting.get();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->base, 100000u);
  auto text = sysc::read_file(reg());
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("100000 65536 web "), std::string::npos) << *text;
  EXPECT_TRUE(fs::exists(reg() + ".lock"));
}

}  // namespace
