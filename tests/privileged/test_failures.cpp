// Failures say where they happened and leave nothing behind: failed starts, failed creates, bad
// configuration (file:line), bad names at the CLI and at the API.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/harness.h"

namespace sysc::test {
namespace {

class Failures : public ::testing::Test {
 protected:
  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    env_ = std::make_unique<SyscEnv>();
  }
  std::string conf(const std::string& name) { return env_->root() + "/etc/sysc/containers/" + name + ".conf"; }
  // One raw HTTP request on lxcd's socket; returns the status line and body.
  std::string raw_request(const std::string& request) {
    env_->sysc({"list"});  // make sure lxcd runs
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = env_->root() + "/run/sysc/lxcd.sock";
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return "connect failed";
    }
    EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(fd);
    return out;
  }
  std::unique_ptr<SyscEnv> env_;
};

TEST_F(Failures, StartFailingAtExecSaysWhereAndLeavesNothing) {
  env_->create_busybox("bad1");
  ASSERT_EQ(env_->sysc({"config", "set", "bad1", "init", "/sbin/nonexistent-init"}).status, 0);
  auto r = env_->sysc({"start", "bad1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("bad1: start failed at execve /sbin/nonexistent-init: No such file or directory"),
            std::string::npos) << r.err;
  EXPECT_EQ(env_->state("bad1"), "STOPPED");
  EXPECT_NE(env_->info("bad1").value("last_exit", "").find("start failed at execve"), std::string::npos);
  EXPECT_TRUE(env_->leftovers("bad1").empty()) << ::testing::PrintToString(env_->leftovers("bad1"));
}

TEST_F(Failures, StartFailingHalfwayThroughTheMountsLeavesNothing) {
  env_->create_busybox("bad2");
  // /dev as a regular file: /proc and /sys are mounted by then, the /dev tmpfs cannot be.
  std::string dev = env_->rootfs("bad2") + "/dev";
  std::filesystem::remove_all(dev);
  std::ofstream(dev) << "not a directory";
  auto r = env_->sysc({"start", "bad2"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("bad2: start failed at mount /dev: Not a directory"), std::string::npos) << r.err;
  EXPECT_TRUE(env_->leftovers("bad2").empty()) << ::testing::PrintToString(env_->leftovers("bad2"));
  // Repaired, it starts.
  std::filesystem::remove(dev);
  std::filesystem::create_directory(dev);
  auto ok = env_->sysc({"start", "bad2"});
  EXPECT_EQ(ok.status, 0) << ok.err;
}

// lxcd reaches a supervisor by ROOT/run/sysc/NAME/shim.sock: a start whose path is longer than a
// unix socket's address holds is refused before anything is made, naming the container and the
// limit; a shorter name in the same root starts.
TEST_F(Failures, StartRefusesAControlSocketPathLongerThanASocketAddress) {
  env_ = std::make_unique<SyscEnv>("", 60);
  const std::string name = "sock" + std::string(36, 'x');
  ASSERT_GE((env_->root() + "/run/sysc/" + name + "/shim.sock").size(), sizeof(sockaddr_un{}.sun_path));
  env_->create_busybox(name);
  auto r = env_->sysc({"start", name});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(name + ": start failed: its control socket path " + env_->root() + "/run/sysc/" + name),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("longer than a unix socket's 107 bytes"), std::string::npos) << r.err;
  EXPECT_EQ(env_->state(name), "STOPPED");
  EXPECT_TRUE(env_->leftovers(name).empty()) << ::testing::PrintToString(env_->leftovers(name));
  env_->create_busybox("short1");
  r = env_->sysc({"start", "short1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->sysc({"attach", "short1", "--", "true"}).status, 0);
}

TEST_F(Failures, SymlinkInTheRootfsCannotRedirectAMountToTheHost) {
  env_->create_busybox("bad3");
  // A tenant plants run -> a host directory; the runtime must resolve inside the rootfs.
  char tmpl[] = "/tmp/sysc-victim-XXXXXX";
  std::string victim = mkdtemp(tmpl);
  std::string run = env_->rootfs("bad3") + "/run";
  std::filesystem::remove_all(run);
  std::filesystem::create_directory_symlink(victim, run);
  // The link resolves inside the rootfs, where its target does not exist: the start fails
  // cleanly instead of mounting over (or creating run/lock in) the host directory.
  auto r = env_->sysc({"start", "bad3"});
  EXPECT_NE(r.err.find("bad3: start failed at mount /run"), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::is_empty(victim));
  EXPECT_TRUE(env_->leftovers("bad3").empty());
  env_->sysc({"stop", "--force", "bad3"});
  std::filesystem::remove_all(victim);
}

TEST_F(Failures, UnknownConfigKeyIsReportedWithFileAndLine) {
  env_->create_busybox("bad4");
  std::ofstream(conf("bad4"), std::ios::app) << "\n[container]\nfrobnicate = yes\n";
  auto r = env_->sysc({"start", "bad4"});
  EXPECT_NE(r.status, 0);
  // file:line of the bad key, whatever the default file's length.
  std::ifstream in(conf("bad4"));
  std::string line;
  int n = 0, at = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("frobnicate", 0) == 0) at = n;
  }
  std::string where = conf("bad4") + ":" + std::to_string(at) + ": unknown key 'frobnicate'";
  EXPECT_NE(r.err.find(where), std::string::npos) << r.err << "\nexpected: " << where;
  // lxcd spawns the supervisor before it reads the config; the failed start called it off and
  // collected it: no supervisor left running or unreaped (leftovers checks lxcd's children).
  EXPECT_EQ(env_->state("bad4"), "STOPPED");
  EXPECT_TRUE(env_->leftovers("bad4").empty()) << ::testing::PrintToString(env_->leftovers("bad4"));
  auto set = env_->sysc({"config", "set", "bad4", "nosuchkey", "1"});
  EXPECT_NE(set.status, 0);
  EXPECT_NE(set.err.find("unknown key 'nosuchkey'"), std::string::npos) << set.err;
  auto bad_value = env_->sysc({"config", "set", "bad4", "stop_timeout", "soon"});
  EXPECT_NE(bad_value.status, 0);
}

TEST_F(Failures, ConfigSetKeepsCommentsAndGetReadsBack) {
  env_->create_busybox("cfg1");
  std::ofstream(conf("cfg1"), std::ios::app) << "# admin note: keep me\n";
  ASSERT_EQ(env_->sysc({"config", "set", "cfg1", "stop_timeout", "7"}).status, 0);
  auto get = env_->sysc({"config", "get", "cfg1", "stop_timeout"});
  EXPECT_EQ(get.out, "7\n");
  auto show = env_->sysc({"config", "show", "cfg1"});
  EXPECT_NE(show.out.find("# admin note: keep me"), std::string::npos);
  EXPECT_NE(show.out.find("stop_timeout = 7"), std::string::npos) << show.out;
}

TEST_F(Failures, BadNamesAreRefusedEverywhere) {
  for (const std::string& name : std::vector<std::string>{"../etc", "Web1", "a/b", ".", std::string(64, 'a'), "web_1", ""}) {
    auto r = env_->sysc({"create", "busybox", name});
    EXPECT_NE(r.status, 0) << "accepted '" << name << "'";
    EXPECT_NE(r.err.find("invalid container name"), std::string::npos) << name << ": " << r.err;
  }
  EXPECT_NE(env_->sysc({"create", "busybox", "--", "-x"}).status, 0);
  EXPECT_EQ(env_->sysc({"create", "busybox", std::string(63, 'a')}).status, 0);
  // The API checks too, not only the CLI.
  std::string body = R"({"name":"../../etc","template":"busybox"})";
  auto resp = raw_request("POST /1.0/containers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_NE(resp.find("400"), std::string::npos) << resp;
  EXPECT_NE(resp.find("invalid container name"), std::string::npos) << resp;
  auto get = raw_request("GET /1.0/containers/..%2f..%2fetc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(get.find("400"), std::string::npos) << get;
  auto junk = raw_request("POST /1.0/containers HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{{{{");
  EXPECT_NE(junk.find("400"), std::string::npos) << junk;
}

TEST_F(Failures, FailedCreateLeavesNoContainerBehind) {
  auto r = env_->sysc({"create", "busybox", "bad5", "--", "--release", "no-such-release"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("bad5"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(env_->root() + "/var/lib/sysc/containers/bad5"));
  EXPECT_FALSE(std::filesystem::exists(conf("bad5")));
  EXPECT_NE(env_->sysc({"info", "bad5"}).status, 0);
  auto unknown = env_->sysc({"create", "no-such-template", "bad6"});
  EXPECT_NE(unknown.status, 0);
  EXPECT_NE(unknown.err.find("no template named"), std::string::npos) << unknown.err;
  env_->create_busybox("dup1");
  auto dup = env_->sysc({"create", "busybox", "dup1"});
  EXPECT_NE(dup.status, 0);
  EXPECT_NE(dup.err.find("already exists"), std::string::npos) << dup.err;
}

TEST_F(Failures, OperationsOnMissingOrStoppedContainersExplainThemselves) {
  auto r = env_->sysc({"start", "ghost"});
  EXPECT_NE(r.err.find("ghost: no such container"), std::string::npos) << r.err;
  env_->create_busybox("idle1");
  r = env_->sysc({"stop", "idle1"});
  EXPECT_NE(r.err.find("idle1: not running"), std::string::npos) << r.err;
  r = env_->sysc({"attach", "idle1", "--", "true"});
  EXPECT_NE(r.err.find("idle1: not running"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sysc::test
