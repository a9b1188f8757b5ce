// Running template scripts (templates/README.md has the contract) for `sysc create`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace sysc::lxcd {

// The directory holding the templates: $SYSC_TEMPLATE_DIR, else ../share/sysc/templates next to
// the lxcd executable (build tree), else the installed one.
std::string template_dir();

struct TemplateRun {
  std::string template_path;
  std::string name, rootfs;
  std::string cache_dir;  // "": the template runs without a cache (builds from its sources)
  std::string config_dir;  // exported as SYSC_CONFIG_DIR (templates read their own files there)
  std::vector<std::string> extra_args;  // after "--"
  // When this fd reports a hang-up (the client of `sysc create` went away: Ctrl-C), the template's
  // process group gets SIGTERM, then SIGKILL after 10 s, and the run fails with ECANCELED. -1: none.
  int cancel_fd = -1;
  // The template runs in its own process group; when set, its id is written here as soon as it
  // runs, so a restarted lxcd can end a template whose create was cut short (see recovery.cpp).
  std::string pgid_file;
};

// Runs it to completion; progress lines go to on_progress. Error: "template NAME failed (exit N): <last stderr lines>".
Status run_template(const TemplateRun& run, const std::function<void(int, const std::string&)>& on_progress);

}  // namespace sysc::lxcd
