// sysc list: all containers as a table or as the API's JSON array (GET /1.0/containers).
#include <iostream>

#include "tools/client.h"
#include "tools/output.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kList = {
    "list",
    "[--format table|json]",
    "List all containers, sorted by name, with their state, init pid (as seen from the host),\n"
    "template and creation time. --format json prints the API's array of container objects.",
    "list\n"
    "list --format json",
    {}, 0};

static std::vector<std::string> list_row(const nlohmann::json& c) {
  int64_t pid = c.value("init_pid", int64_t{0});
  std::string ip = c.value("ipv4", "");
  return {c.value("name", ""), c.value("state", ""), pid > 0 ? std::to_string(pid) : "-", ip.empty() ? "-" : ip,
          c.value("template", ""), local_time(c.value("created_at", int64_t{0}), "%Y-%m-%d %H:%M")};
}

int verb_list(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()("format", po::value<std::string>()->default_value("table")->value_name("FMT"),
                     "table or json");
  VerbArgs a;
  if (auto code = parse_verb_args(kList, opts, args, &a)) return *code;
  std::string format = a.vm["format"].as<std::string>();
  if (!is_one_of(format, {"table", "json"})) return usage_error("list", "--format must be table or json");
  Client client(ctx.paths);
  auto r = client.request("GET", "/1.0/containers");
  if (!r) return fail(r.error());
  const nlohmann::json& containers = r->json.at("containers");
  if (format == "json") {
    print_json(containers);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : containers) rows.push_back(list_row(c));
  print_table({"NAME", "STATE", "INIT-PID", "IPV4", "TEMPLATE", "CREATED"}, rows);
  return kExitOk;
}

}  // namespace sysc::cli
