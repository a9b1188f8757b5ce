// Who may use lxcd's socket: root, and with `[daemon] socket_group` the members of that group
// (socket root:GROUP 0660, peer credentials checked); everyone else is refused.
#include <gtest/gtest.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "support/harness.h"

namespace sysc::test {
namespace {

int run(const std::string& cmd) {
  int st = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class SocketAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    std::string id = std::to_string(getpid() % 100000);
    group_ = "sysctg" + id;
    user_ = "sysctu" + id;
    other_group_ = "sysctx" + id;
    ASSERT_EQ(run("groupadd " + group_), 0);
    ASSERT_EQ(run("groupadd " + other_group_), 0);
    made_ = true;
    ASSERT_EQ(run("useradd -M -N -g " + other_group_ + " -s /usr/sbin/nologin " + user_), 0);
    gid_ = getgrnam(group_.c_str())->gr_gid;
    other_gid_ = getgrnam(other_group_.c_str())->gr_gid;
    uid_ = getpwnam(user_.c_str())->pw_uid;
    env_ = std::make_unique<SyscEnv>("[daemon]\nsocket_group = " + group_ + "\n");
    ASSERT_EQ(env_->sysc({"list"}).status, 0);  // root starts lxcd
  }
  void TearDown() override {
    env_.reset();
    if (made_) {
      run("userdel " + user_);
      run("groupdel " + group_);
      run("groupdel " + other_group_);
    }
  }
  // `sysc ... list` as the test user with primary group GID and supplementary GROUPS ("" = none).
  RunResult list_as(gid_t gid, const std::string& groups) {
    std::vector<std::string> prefix = {"setpriv", "--reuid=" + std::to_string(uid_), "--regid=" + std::to_string(gid)};
    prefix.push_back(groups.empty() ? "--clear-groups" : "--groups=" + groups);
    return env_->sysc_as(prefix, {"list"});
  }
  std::string socket() const { return env_->root() + "/run/sysc/lxcd.sock"; }

  std::string group_, user_, other_group_;
  gid_t gid_ = 0, other_gid_ = 0;
  uid_t uid_ = 0;
  bool made_ = false;
  std::unique_ptr<SyscEnv> env_;
};

TEST_F(SocketAccess, SocketBelongsToRootAndTheGroup) {
  struct stat st;
  ASSERT_EQ(stat(socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, gid_);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(SocketAccess, UserOutsideTheGroupIsRefused) {
  auto r = list_as(other_gid_, "");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
  // Even past the file permissions, lxcd itself refuses the peer with a clear 403.
  ASSERT_EQ(chmod(socket().c_str(), 0666), 0);
  r = list_as(other_gid_, "");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("only root and members of group '" + group_ + "'"), std::string::npos) << r.err;
}

TEST_F(SocketAccess, MembersOfTheGroupAreAdmitted) {
  auto r = list_as(other_gid_, std::to_string(gid_));  // supplementary group
  EXPECT_EQ(r.status, 0) << r.err;
  r = list_as(gid_, "");  // primary group
  EXPECT_EQ(r.status, 0) << r.err;
  // And the group as the system records it (usermod), as a login would get it.
  ASSERT_EQ(run("usermod -a -G " + group_ + " " + user_), 0);
  r = env_->sysc_as({"setpriv", "--reuid=" + std::to_string(uid_), "--regid=" + std::to_string(other_gid_), "--init-groups"},
                    {"list"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(SocketAccessConfig, UnknownGroupStopsLxcdWithAClearError) {
  SYSC_REQUIRE_ROOT();
  SyscEnv env("[daemon]\nsocket_group = sysc-no-such-group-x\n");
  auto r = env.sysc({"list"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("no group named 'sysc-no-such-group-x'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sysc::test
