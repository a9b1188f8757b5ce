// EventStream: `sysc events` in a child process, its lines parsed by a reader thread.
#include "support/event_stream.h"

#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace sysc::test {

EventStream::EventStream(const SyscEnv& env, const std::string& name) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], 1);
    std::vector<std::string> all = {SYSC_BIN, "--root", env.root(), "events", "--format", "json"};
    if (!name.empty()) all.push_back(name);
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(SYSC_BIN, argv.data());
    _exit(127);
  }
  close(out[1]);
  fd_ = out[0];
  reader_ = std::thread([this] {
    std::string buf;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd_, chunk, sizeof chunk)) > 0) {
      buf.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        auto ev = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
        buf.erase(0, nl + 1);
        std::lock_guard<std::mutex> g(mu_);
        if (ev.is_object()) events_.push_back(std::move(ev));
      }
    }
  });
  // The stream is open once the CLI blocks in read(2) on its socket to lxcd (it got the 200 header).
  for (int i = 0; i < 150; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream sc("/proc/" + std::to_string(pid_) + "/syscall");
    long nr = -1;
    std::string fd_hex;
    sc >> nr >> fd_hex;
    if (nr != 0 || fd_hex.empty()) continue;
    char link[256] = {};
    std::string fd_path = "/proc/" + std::to_string(pid_) + "/fd/" + std::to_string(std::stol(fd_hex, nullptr, 16));
    if (readlink(fd_path.c_str(), link, sizeof link - 1) > 0 && std::string(link).rfind("socket:", 0) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      break;
    }
  }
}

EventStream::~EventStream() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) close(fd_);
}

std::vector<nlohmann::json> EventStream::events() {
  std::lock_guard<std::mutex> g(mu_);
  return events_;
}

nlohmann::json EventStream::wait_for(const std::function<bool(const nlohmann::json&)>& pred, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& ev : events())
      if (pred(ev)) return ev;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return nullptr;
}

nlohmann::json EventStream::wait_for(const std::string& container, const std::string& event, int timeout_s) {
  return wait_for([&](const nlohmann::json& ev) { return ev.value("container", "") == container && ev.value("event", "") == event; },
                  timeout_s);
}

std::vector<std::string> EventStream::order_of(const std::string& event) {
  std::vector<std::string> out;
  for (const auto& ev : events())
    if (ev.value("event", "") == event) out.push_back(ev.value("container", ""));
  return out;
}

}  // namespace sysc::test
