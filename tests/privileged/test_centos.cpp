// The centos template end to end through the CLI, offline: a local RPM repository of a tiny
// busybox-based distribution (tests/templates/make_rpm_repo.sh: rpmbuild + createrepo_c) is
// installed by the host's dnf into the rootfs, from the repo file in the env's config dir or
// one named with --repo-file; the container boots busybox init from the RPMs, the rpm database
// in the rootfs lists what dnf installed, and a repository that is not there fails the create
// naming it, leaving nothing behind.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/test_io.h"

namespace sysc::test {
namespace {

namespace fs = std::filesystem;

const fs::path kMakeRepo = fs::path(SYSC_SOURCE_DIR) / "tests/templates/make_rpm_repo.sh";
const std::vector<std::string> kPackages = {"sysctest-filesystem", "sysctest-busybox", "sysctest-base",
                                            "sysctest-release"};

// Runs a shell command; returns its exit status and sets *out to stdout and stderr together.
int shell(const std::string& cmd, std::string* out) {
  out->clear();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string repo_file(const std::string& id, const std::string& baseurl) {
  return "[" + id + "]\nname=sysc test distribution (" + id + ")\nbaseurl=" + baseurl + "\ngpgcheck=0\n";
}

class Centos : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    char tmpl[] = "/tmp/sysc-centos-repo-XXXXXX";
    if (!mkdtemp(tmpl)) {
      setup_error_ = "mkdtemp failed";
      return;
    }
    work_ = tmpl;
    std::string out;
    if (shell("bash " + kMakeRepo.string() + " " + work_ + "/repo", &out) != 0) {
      setup_error_ = "make_rpm_repo.sh: " + out;
      return;
    }
    env_ = new SyscEnv();
    // The default place: SYSC_CONFIG_DIR/templates/centos.repo; $basearch is expanded by dnf.
    fs::create_directories(env_->root() + "/etc/sysc/templates");
    write_text(env_->root() + "/etc/sysc/templates/centos.repo",
               repo_file("sysctest", "file://" + work_ + "/repo/$basearch"));
    write_text(work_ + "/alt.repo", repo_file("sysctest-alt", "file://" + work_ + "/repo/$basearch"));
    write_text(work_ + "/broken.repo", repo_file("broken-sysc-repo", "file://" + work_ + "/no-such-repo"));
  }

  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
    if (!work_.empty()) {
      std::error_code ec;
      fs::remove_all(work_, ec);
    }
  }

  void SetUp() override {
    SYSC_REQUIRE_ROOT();
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_NE(env_, nullptr);
  }

  static RunResult create(const std::string& name, std::vector<std::string> template_args) {
    std::vector<std::string> args = {"create", "centos", name, "--", "--"};
    args.insert(args.end(), template_args.begin(), template_args.end());
    return env_->sysc(args, "", 300);
  }

  // What the rpm database in the rootfs says is installed (host rpm, --root).
  static std::string rpm_qa(const std::string& rootfs) {
    std::string out;
    shell("HOME=" + work_ + " rpm --root " + rootfs + " --dbpath /var/lib/rpm -qa --qf '%{NAME}\\n' | sort", &out);
    return out;
  }

  static std::vector<std::string> cache_entries() {
    std::vector<std::string> entries;
    fs::path base = fs::path(env_->root()) / "var/cache/sysc/centos";
    std::error_code ec;
    for (auto& e : fs::recursive_directory_iterator(base, ec))
      if (e.is_regular_file() && e.path().filename() == "info") entries.push_back(e.path().parent_path().string());
    return entries;
  }

  static SyscEnv* env_;
  static std::string work_, setup_error_;
};

SyscEnv* Centos::env_ = nullptr;
std::string Centos::work_, Centos::setup_error_;

std::string sorted_packages() {
  std::vector<std::string> v = kPackages;
  std::sort(v.begin(), v.end());
  std::string s;
  for (auto& p : v) s += p + "\n";
  return s;
}

TEST_F(Centos, DefaultRepoFileBootstrapsBootsAndDestroysCleanly) {
  RunResult r = create("c1", {"--packages-only", "sysctest-release"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::string rootfs = env_->rootfs("c1");
  // dnf resolved the dependencies and rpm recorded every package where the image's rpm looks.
  EXPECT_EQ(rpm_qa(rootfs), sorted_packages());
  // The %post scriptlet ran inside the new root with the packaged busybox sh.
  EXPECT_EQ(read_text(rootfs + "/var/lib/sysctest/post-ran"), "sysctest-base 1.0 post scriptlet\n");
  // dnf's cache stays in the template's cache dir, never in the image.
  EXPECT_FALSE(fs::exists(rootfs + "/var/cache/dnf"));
  EXPECT_TRUE(fs::is_directory(env_->root() + "/var/cache/sysc/centos/dnf"));
  EXPECT_EQ(read_text(rootfs + "/etc/hostname"), "c1\n");
  EXPECT_EQ(cache_entries().size(), 1u);

  r = env_->sysc({"start", "c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(env_->wait_state("c1", "RUNNING")) << env_->info("c1").dump();
  r = env_->sysc({"attach", "c1", "--", "cat", "/etc/os-release"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ID=sysctest\n"), std::string::npos) << r.out;
  EXPECT_EQ(env_->sysc({"attach", "c1", "--", "cat", "/proc/1/comm"}).out, "init\n");
  EXPECT_EQ(env_->sysc({"attach", "c1", "--", "hostname"}).out, "c1\n");

  r = env_->sysc({"stop", "c1", "--timeout", "20"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(env_->state("c1"), "STOPPED");
  r = env_->sysc({"destroy", "c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(env_->root() + "/var/lib/sysc/containers/c1"));
  EXPECT_NE(env_->sysc({"info", "c1"}).status, 0);
  EXPECT_TRUE(env_->leftovers("c1").empty()) << ::testing::PrintToString(env_->leftovers("c1"));
}

TEST_F(Centos, RepoFileOptionOverridesTheDefaultAndTheCacheIsReused) {
  RunResult r = create("c2", {"--repo-file", work_ + "/alt.repo", "--packages-only", "sysctest-release"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(rpm_qa(env_->rootfs("c2")), sorted_packages());
  // A second image, built from the other repo file (its repository id is in the entry's info).
  bool alt = false;
  for (auto& e : cache_entries()) alt |= read_text(e + "/info").find("repositories=sysctest-alt\n") != std::string::npos;
  EXPECT_TRUE(alt);
  size_t entries = cache_entries().size();
  // The same inputs again: copied from the cache, no new image.
  r = create("c3", {"--repo-file", work_ + "/alt.repo", "--packages-only", "sysctest-release"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(cache_entries().size(), entries);
  EXPECT_EQ(read_text(env_->rootfs("c3") + "/etc/hostname"), "c3\n");
  EXPECT_EQ(rpm_qa(env_->rootfs("c3")), sorted_packages());
  for (const char* name : {"c2", "c3"}) EXPECT_EQ(env_->sysc({"destroy", name}).status, 0) << name;
}

TEST_F(Centos, MissingRepositoryFailsNamingItAndLeavesNothing) {
  RunResult r = create("bad", {"--repo-file", work_ + "/broken.repo", "--packages-only", "sysctest-release"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("broken-sysc-repo"), std::string::npos) << r.err;
  EXPECT_NE(env_->sysc({"info", "bad"}).status, 0);
  EXPECT_FALSE(fs::exists(env_->root() + "/var/lib/sysc/containers/bad"));
  EXPECT_FALSE(fs::exists(env_->root() + "/etc/sysc/containers/bad.conf"));
  // No half-built image next to the entries, and dnf's cache is back in the template's cache.
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(env_->root() + "/var/cache/sysc/centos", ec))
    EXPECT_EQ(e.path().filename().string().rfind(".build-", 0), std::string::npos) << e.path();
  EXPECT_TRUE(fs::is_directory(env_->root() + "/var/cache/sysc/centos/dnf"));

  // A repo file that does not exist is named too.
  r = create("bad", {"--repo-file", work_ + "/nonexistent.repo"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(work_ + "/nonexistent.repo"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(env_->root() + "/var/lib/sysc/containers/bad"));
}

}  // namespace
}  // namespace sysc::test
