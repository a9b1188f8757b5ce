// Running a host tool (cp, btrfs, tar...) to completion from a threaded daemon: posix_spawn,
// stdin from /dev/null, stdout discarded, the tail of stderr kept for the error message.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace sysc {

// argv[0] is looked up in the system directories (/usr/local/sbin ... /bin), not $PATH. Error (EIO): "WHAT: TOOL failed (exit N): <last stderr lines>";
// ENOENT when the tool is not installed.
Status run_command(const std::vector<std::string>& argv, const std::string& what);

}  // namespace sysc
