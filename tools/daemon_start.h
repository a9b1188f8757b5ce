// Starting lxcd on demand: spawn it fully detached, then wait for its socket.
#pragma once

#include "common/paths.h"
#include "common/result.h"

namespace sysc::cli {

// Called when lxcd's socket is missing or refuses connections. Only root may start lxcd.
// The binary is $SYSC_LXCD, else lxcd beside this executable, else the installed one.
// Races with other starters are fine: a losing lxcd exits quietly and we wait for the winner.
Status start_daemon_and_wait(const Paths& paths);

}  // namespace sysc::cli
