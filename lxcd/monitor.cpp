// The monitor thread of lxcd: epoll over shim watch connections.
#include "lxcd/monitor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace sysc::lxcd {

Monitor::Monitor(EventFn on_event, GoneFn on_gone)
    : on_event_(std::move(on_event)), on_gone_(std::move(on_gone)),
      epoll_(epoll_create1(EPOLL_CLOEXEC)), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_.get();
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  thread_ = std::thread([this] { run(); });
}

Monitor::~Monitor() {
  {
    std::lock_guard<std::mutex> g(mu_);
    quit_ = true;
  }
  uint64_t one = 1;
  ssize_t ignored = write(wake_.get(), &one, sizeof one);
  (void)ignored;
  thread_.join();
}

void Monitor::watch(const std::string& name, int shim_pid, ShimConnection conn) {
  std::lock_guard<std::mutex> g(mu_);
  int fd = conn.fd();
  watched_.emplace(fd, Watched{name, shim_pid, std::move(conn)});
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

void Monitor::run() {
  epoll_event evs[32];
  for (;;) {
    int n = epoll_wait(epoll_.get(), evs, 32, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == wake_.get()) {
        std::lock_guard<std::mutex> g(mu_);
        if (quit_) return;
        continue;
      }
      std::string name;
      int shim_pid = 0;
      std::vector<nlohmann::json> events;
      bool gone = false;
      {
        std::lock_guard<std::mutex> g(mu_);
        auto it = watched_.find(fd);
        if (it == watched_.end()) continue;
        name = it->second.name;
        shim_pid = it->second.shim_pid;
        // Drain what is there without blocking; a closed socket ends the watch.
        for (;;) {
          auto ev = it->second.conn.read(0);
          if (ev) {
            events.push_back(std::move(*ev));
            continue;
          }
          gone = ev.error().code != ETIMEDOUT;
          break;
        }
        if (gone) {
          epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
          watched_.erase(it);
        }
      }
      for (auto& ev : events) on_event_(name, shim_pid, ev);
      if (gone) on_gone_(name, shim_pid);
    }
  }
}

}  // namespace sysc::lxcd
