// sysc console: the container's console over an upgraded lxcd connection (raw terminal, escape
// keys), or its log with --log.
#include <csignal>
#include <iostream>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include "tools/client.h"
#include "tools/console_escape.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kConsole = {
    "console",
    "NAME [--log]",
    "Connect this terminal to the console of the running container NAME (its /dev/console).\n"
    "Type Ctrl-a q to detach, Ctrl-a a to send a Ctrl-a. The session ends by itself when the\n"
    "container stops. Without a terminal, stdin is sent as is and its end detaches.\n"
    "--log prints what the console has shown so far (also after the container stopped).",
    "console web1\n"
    "console --log web1",
    {"NAME"}, 1, /*name_index=*/0};

namespace {

// The terminal state to put back; a signal handler may use it, so it is plain static data.
struct termios g_saved_termios;
volatile sig_atomic_t g_raw = 0;

void restore_terminal() {
  if (g_raw) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  g_raw = 0;
}

// Restores the terminal, then dies of the same signal (it is re-delivered once we return).
void on_fatal_signal(int sig) {
  restore_terminal();
  signal(sig, SIG_DFL);
  raise(sig);
}

// Raw mode for the lifetime of the object, restored on every return path and on fatal signals.
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM}) sigaction(sig, &sa, nullptr);
    struct termios raw = g_saved_termios;
    cfmakeraw(&raw);
    g_raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() { restore_terminal(); }
  bool active() const { return g_raw; }
};

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

enum class End { Detached, Closed, Error };

// Copies stdin to the socket (through the escape filter when interactive) and the socket to stdout.
End pump(int sock, bool interactive) {
  ConsoleEscape escape;
  char buf[4096];
  while (true) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sock, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return End::Error;
    }
    if (fds[1].revents) {
      ssize_t n = read(sock, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return End::Closed;
      if (!write_all(STDOUT_FILENO, buf, static_cast<size_t>(n))) return End::Error;
    }
    if (fds[0].revents) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return End::Detached;
      std::string out;
      bool detach = interactive ? escape.feed({buf, static_cast<size_t>(n)}, &out)
                                : (out.assign(buf, static_cast<size_t>(n)), false);
      if (!out.empty() && !write_all(sock, out.data(), out.size())) return End::Closed;
      if (detach) return End::Detached;
    }
  }
}

int show_log(Client& client, const std::string& name) {
  auto r = client.request("GET", container_url(name, "/console/log"));
  if (!r) return fail(r.error());
  std::cout << r->body << std::flush;
  return kExitOk;
}

int connect_console(Client& client, const std::string& name) {
  auto up = client.upgrade(container_url(name, "/console"), "sysc-console");
  if (!up) return fail(up.error());
  signal(SIGPIPE, SIG_IGN);  // a closed console must be a write error, not a silent death
  std::cerr << "Connected to " << name << "'s console. Type Ctrl-a q to detach.\n";
  End end;
  {
    RawTerminal term;
    if (!up->pending.empty()) write_all(STDOUT_FILENO, up->pending.data(), up->pending.size());
    end = pump(up->fd.get(), term.active());
  }
  if (end == End::Detached) std::cerr << "\nDetached from " << name << "'s console.\n";
  if (end == End::Closed) std::cerr << "\n" << name << "'s console closed (the container stopped).\n";
  if (end == End::Error) return fail(sys_error(name + ": console"));
  return kExitOk;
}

}  // namespace

int verb_console(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("log,l", po::bool_switch(), "print the console log instead of connecting");
  VerbArgs a;
  if (auto code = parse_verb_args(kConsole, opts, args, &a)) return *code;
  Client client(ctx.paths);
  if (a.vm["log"].as<bool>()) return show_log(client, a.positional[0]);
  return connect_console(client, a.positional[0]);
}

}  // namespace sysc::cli
