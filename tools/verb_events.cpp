// sysc events: follow lxcd's event stream (GET /1.0/events), one line per event, until Ctrl-C.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include "tools/client.h"
#include "tools/output.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kEvents = {
    "events",
    "[NAME] [--format text|json]",
    "Print lifecycle events as they happen, until interrupted: created, started, stopped,\n"
    "destroyed, reboot (from inside), restart (by the restart policy), oom (a process was killed\n"
    "by the OOM killer), ready-timeout (autostart went on without a ready dependency).\n"
    "With NAME only that container's. --format json prints each event as the API sends it:\n"
    "{\"time\": UNIX_SECONDS, \"container\": ..., \"event\": ..., \"detail\": ...}.",
    "events\n"
    "events web1\n"
    "events --format json",
    {"NAME"}, 0, /*name_index=*/0};

static std::string human(const nlohmann::json& ev) {
  double t = ev.value("time", 0.0);
  char ms[8];
  snprintf(ms, sizeof ms, ".%03d", static_cast<int>(std::fmod(t, 1.0) * 1000));
  std::string line = local_time(static_cast<int64_t>(t)) + ms + "  " + ev.value("container", "") + "  " +
                     ev.value("event", "");
  std::string detail = ev.value("detail", "");
  return detail.empty() ? line : line + ": " + detail;
}

int verb_events(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("format", po::value<std::string>()->default_value("text")->value_name("FMT"), "text or json");
  VerbArgs a;
  if (auto code = parse_verb_args(kEvents, opts, args, &a)) return *code;
  std::string format = a.vm["format"].as<std::string>();
  if (!is_one_of(format, {"text", "json"})) return usage_error("events", "--format must be text or json");
  std::string target = "/1.0/events";
  if (!a.positional.empty()) target += "?container=" + a.positional[0];
  Client client(ctx.paths);
  auto s = client.stream(target);
  if (!s) return fail(s.error());
  std::string buf = std::move(s->pending);
  for (;;) {
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      auto ev = nlohmann::json::parse(line, nullptr, false);
      if (!ev.is_object()) continue;
      std::cout << (format == "json" ? ev.dump() : human(ev)) << std::endl;  // flushed: often piped
    }
    char chunk[4096];
    ssize_t n = read(s->fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  return fail(make_error("lxcd closed the event stream"));
}

}  // namespace sysc::cli
