// Container names: one strict pattern, checked at every edge (CLI, API, config file names).
#pragma once

#include <string>

#include "common/result.h"

namespace sysc {

// [a-z0-9][a-z0-9-]{0,62}; the error explains the rule and quotes the refused name.
Status validate_name(const std::string& name);

}  // namespace sysc
