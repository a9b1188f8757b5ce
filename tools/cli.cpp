// The verb contract: shared argument parsing (Boost.PO), --help layout, error printing.
#include "tools/cli.h"

#include <algorithm>
#include <iostream>

#include "common/names.h"

namespace sysc::cli {

void print_verb_help(const VerbSpec& spec, const po::options_description& opts) {
  std::cout << "Usage: sysc " << spec.name << " " << spec.usage << "\n\n" << spec.description << "\n\n"
            << opts << "\nExamples:\n";
  std::string examples = spec.examples;
  size_t start = 0;
  while (start < examples.size()) {
    size_t end = examples.find('\n', start);
    if (end == std::string::npos) end = examples.size();
    std::cout << "  sysc " << examples.substr(start, end - start) << "\n";
    start = end + 1;
  }
}

void add_quiet_option(po::options_description& opts) {
  opts.add_options()("quiet,q", po::bool_switch(), "print nothing on success");
}

int fail(const Error& error) {
  std::cerr << "sysc: " << error.message << "\n";
  return kExitFailed;
}

int usage_error(const char* verb, const std::string& message) {
  std::cerr << "sysc " << verb << ": " << message << "\nTry 'sysc " << verb << " --help'.\n";
  return kExitUsage;
}

namespace {

// Checks the positional count; returns a usage message or "".
std::string check_positionals(const VerbSpec& spec, const VerbArgs& a) {
  size_t n = a.positional.size();
  if (n < spec.required) return "missing " + std::string(spec.positionals[n]);
  if (n > spec.positionals.size()) {
    std::string extra = "unexpected argument '" + a.positional[spec.positionals.size()] + "'";
    if (spec.takes_rest) extra += " (put the arguments after --)";
    return extra;
  }
  return "";
}

}  // namespace

std::optional<int> parse_verb_args(const VerbSpec& spec, po::options_description opts,
                                   const std::vector<std::string>& args, VerbArgs* out) {
  opts.add_options()("help,h", "show this help");
  // "--" ends option parsing; what follows is taken verbatim (Boost.PO never sees it).
  auto dashdash = std::find(args.begin(), args.end(), "--");
  std::vector<std::string> head(args.begin(), dashdash);
  if (dashdash != args.end()) {
    if (!spec.takes_rest) return usage_error(spec.name, "'--' is not accepted here");
    out->rest.assign(dashdash + 1, args.end());
  }
  po::options_description all;
  all.add(opts).add_options()("positional", po::value<std::vector<std::string>>());
  po::positional_options_description pos;
  pos.add("positional", -1);
  try {
    po::store(po::command_line_parser(head).options(all).positional(pos).run(), out->vm);
    po::notify(out->vm);
  } catch (const po::error& e) {
    return usage_error(spec.name, e.what());
  }
  if (out->vm.count("help")) {
    print_verb_help(spec, opts);
    return kExitOk;
  }
  if (out->vm.count("positional")) out->positional = out->vm["positional"].as<std::vector<std::string>>();
  if (auto msg = check_positionals(spec, *out); !msg.empty()) return usage_error(spec.name, msg);
  if (spec.name_index >= 0 && static_cast<size_t>(spec.name_index) < out->positional.size()) {
    if (auto st = validate_name(out->positional[spec.name_index]); !st) return fail(st.error());
  }
  return std::nullopt;
}

}  // namespace sysc::cli
