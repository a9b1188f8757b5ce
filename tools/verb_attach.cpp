// sysc attach: run a command in a running container from this process (GET .../attach, then
// runtime::attach_run, which forks; the CLI is single-threaded so that is safe).
#include <iostream>
#include <optional>
#include <sys/stat.h>

#include "runtime/attach.h"
#include "runtime/security.h"
#include "tools/client.h"
#include "tools/verbs.h"

namespace sysc::cli {

static const VerbSpec kAttach = {
    "attach",
    "NAME [-t|-T] [--env K=V]... [-- CMD [ARGS...]]",
    "Run CMD inside the running container NAME: join its namespaces and cgroup, with the same\n"
    "capability bounding set and seccomp filter as its init, a clean environment (the container's\n"
    "plus --env) and cwd /. Without CMD, root's shell from the container's /etc/passwd.\n"
    "Everything after -- is the command, taken verbatim. Exits with the command's exit code\n"
    "(128+N when it was killed by signal N).",
    "attach web1\n"
    "attach web1 -- ps aux\n"
    "attach -T --env LANG=C.UTF-8 web1 -- sh -c 'echo $LANG'",
    {"NAME"}, 1, /*name_index=*/0, /*takes_rest=*/true};

// ENV with each of EXTRA ("K=V") replacing an entry of the same key, or appended.
static Result<std::vector<std::string>> merge_env(std::vector<std::string> env, const std::vector<std::string>& extra) {
  for (const auto& kv : extra) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return make_error("--env expects KEY=VALUE, got '" + kv + "'", EINVAL);
    std::string prefix = kv.substr(0, eq + 1);
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(prefix); });
    env.push_back(kv);
  }
  return env;
}

// lxcd's paths of the init's cgroups, if this process sees the same mounts (its mount namespace).
// (the same mount namespace, and the same root directory: not a chroot).
static std::optional<runtime::attach_detail::CgroupJoin> cgroups_from(const nlohmann::json& j) {
  auto c = j.find("cgroups");
  if (c == j.end() || !c->is_object()) return std::nullopt;
  auto dev_ino = [](const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0 ? std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) : std::string();
  };
  try {
    const std::string ns = dev_ino("/proc/self/ns/mnt"), root = dev_ino("/");
    if (ns.empty() || root.empty() || c->value("mount_ns", "") != ns || c->value("root", "") != root) return std::nullopt;
    runtime::attach_detail::CgroupJoin join{c->value("clone_into", ""), c->value("tasks", std::vector<std::string>{})};
    if (join.clone_into.empty() && join.tasks.empty()) return std::nullopt;
    return join;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // found here instead
  }
}

static Result<runtime::AttachSpec> make_spec(const nlohmann::json& j, const VerbArgs& a) {
  runtime::AttachSpec spec;
  spec.name = a.positional[0];
  spec.init_pid = j.at("init_pid").get<pid_t>();
  if (spec.init_pid <= 0) return make_error(spec.name + ": lxcd reported no init pid");
  auto extra = a.vm.count("env") ? a.vm["env"].as<std::vector<std::string>>() : std::vector<std::string>{};
  spec.env = TRY(merge_env(j.value("env", std::vector<std::string>{}), extra));
  spec.security.cap_drop = TRY_CTX(runtime::cap_numbers(j.value("cap_drop", std::vector<std::string>{})), spec.name);
  spec.security.seccomp = TRY_CTX(runtime::seccomp_rules_from_json(j.value("seccomp", nlohmann::json())), spec.name);
  spec.security.allow_compat = j.value("seccomp_compat", false);
  // The program lxcd compiled from those rules (an older lxcd sends none: compiled here then).
  if (auto prog = j.find("seccomp_filter"); prog != j.end() && prog->is_string())
    spec.seccomp_filter = TRY_CTX(runtime::seccomp_filter_from_text(prog->get<std::string>()), spec.name + ": lxcd's answer");
  spec.cgroups = cgroups_from(j);
  spec.argv = a.rest;
  if (a.vm["tty"].as<bool>()) spec.tty = runtime::AttachSpec::Tty::Always;
  if (a.vm["no-tty"].as<bool>()) spec.tty = runtime::AttachSpec::Tty::Never;
  return spec;
}

int verb_attach(const Context& ctx, const VerbArgv& args) {
  po::options_description opts("Options");
  opts.add_options()
      ("tty,t", po::bool_switch(), "always allocate a pseudo-terminal")
      ("no-tty,T", po::bool_switch(), "never allocate one (default: only when stdin and stdout are terminals)")
      ("env,e", po::value<std::vector<std::string>>()->composing()->value_name("K=V"),
       "set an environment variable (repeatable)");
  VerbArgs a;
  if (auto code = parse_verb_args(kAttach, opts, args, &a)) return *code;
  if (a.vm["tty"].as<bool>() && a.vm["no-tty"].as<bool>()) return usage_error("attach", "-t and -T exclude each other");
  if (a.vm.count("env")) {
    if (auto ok = merge_env({}, a.vm["env"].as<std::vector<std::string>>()); !ok) return usage_error("attach", ok.error().message);
  }
  Client client(ctx.paths);
  auto r = client.request("GET", container_url(a.positional[0], "/attach"));
  if (!r) return fail(r.error());
  auto spec = make_spec(r->json, a);
  if (!spec) return fail(spec.error());
  auto code = runtime::attach_run(*spec);
  if (!code) return fail(code.error());
  return *code;
}

}  // namespace sysc::cli
