// The verb contract: what main hands every verb, the shared argument parsing, exit codes.
#pragma once

#include <boost/program_options.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/paths.h"
#include "common/result.h"

namespace sysc::cli {

namespace po = boost::program_options;

// 0 success, 1 the operation failed, 2 the command line was wrong.
enum ExitCode { kExitOk = 0, kExitFailed = 1, kExitUsage = 2 };

struct Context {
  std::string root_flag;  // --root as given, "" when not given
  Paths paths;            // from --root, else $SYSC_ROOT, else the host's directories
};

// What a verb accepts; drives --help, positional counting and name validation.
struct VerbSpec {
  const char* name;         // "stop", or "config set" for a sub-verb
  const char* usage;        // "NAME [--timeout S] [--force]"
  const char* description;  // what it does, several lines allowed
  const char* examples;     // one example per line, without the leading "sysc "
  std::vector<const char*> positionals;  // names shown in messages: {"NAME"}, {"TEMPLATE", "NAME"}
  size_t required = 0;      // how many of `positionals` must be given
  int name_index = -1;      // index of the container NAME among the positionals, -1 if none
  bool takes_rest = false;  // accepts "-- ARGS..." (taken verbatim, also "-c" and "--x")
};

struct VerbArgs {
  po::variables_map vm;
  std::vector<std::string> positional;
  std::vector<std::string> rest;  // everything after the first "--"
};

// Parses ARGS for SPEC with OPTS (-h/--help added). Returns an exit code when the verb should end
// now (help printed: 0; usage error printed: 2; invalid container name: 1), nullopt to go on.
std::optional<int> parse_verb_args(const VerbSpec& spec, po::options_description opts,
                                   const std::vector<std::string>& args, VerbArgs* out);

void print_verb_help(const VerbSpec& spec, const po::options_description& opts);

// Adds -q/--quiet ("print nothing on success") to OPTS.
void add_quiet_option(po::options_description& opts);

// Prints "sysc: MESSAGE" to stderr; returns kExitFailed.
int fail(const Error& error);
// Prints "sysc VERB: MESSAGE" and a --help hint to stderr; returns kExitUsage.
int usage_error(const char* verb, const std::string& message);

}  // namespace sysc::cli
