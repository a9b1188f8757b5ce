// The verbs main dispatches to; each lives in its own verb_*.cpp. ARGS are the words after the verb.
#pragma once

#include <string>
#include <vector>

#include "tools/cli.h"

namespace sysc::cli {

using VerbArgv = std::vector<std::string>;

int verb_create(const Context& ctx, const VerbArgv& args);
int verb_start(const Context& ctx, const VerbArgv& args);
int verb_stop(const Context& ctx, const VerbArgv& args);
int verb_restart(const Context& ctx, const VerbArgv& args);
int verb_attach(const Context& ctx, const VerbArgv& args);
int verb_console(const Context& ctx, const VerbArgv& args);
int verb_list(const Context& ctx, const VerbArgv& args);
int verb_info(const Context& ctx, const VerbArgv& args);
int verb_destroy(const Context& ctx, const VerbArgv& args);
int verb_config(const Context& ctx, const VerbArgv& args);
int verb_port(const Context& ctx, const VerbArgv& args);
int verb_network(const Context& ctx, const VerbArgv& args);
int verb_copy(const Context& ctx, const VerbArgv& args);
int verb_snapshot(const Context& ctx, const VerbArgv& args);
int verb_export(const Context& ctx, const VerbArgv& args);
int verb_import(const Context& ctx, const VerbArgv& args);
int verb_template(const Context& ctx, const VerbArgv& args);
int verb_events(const Context& ctx, const VerbArgv& args);
int verb_shutdown_all(const Context& ctx, const VerbArgv& args);

}  // namespace sysc::cli
