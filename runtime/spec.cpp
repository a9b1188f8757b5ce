// RuntimeSpec JSON (de)serialization and init detection; host side (lxcd and sysc-shim).
#include "runtime/spec.h"

#include <csignal>
#include <fcntl.h>
#include <linux/openat2.h>
#include <nlohmann/json.hpp>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace sysc::runtime {

using nlohmann::json;

std::string to_json(const RuntimeSpec& s) {
  json j = {{"name", s.name},           {"rootfs", s.rootfs},         {"init_argv", s.init_argv},
            {"init_env", s.init_env},   {"halt_signal", s.halt_signal}, {"stop_timeout", s.stop_timeout},
            {"cgroup", s.cgroup},       {"cgroup_driver", s.cgroup_driver},       {"cap_drop", s.cap_drop},     {"seccomp", seccomp_rules_to_json(s.seccomp)},
            {"run_dir", s.run_dir},     {"console_log", s.console_log},
            {"console_log_max", s.console_log_max}};
  if (s.overlay.enabled())
    j["overlay"] = {{"lower", s.overlay.lower}, {"upper", s.overlay.upper}, {"work", s.overlay.work}};
  j["seccomp_compat"] = s.seccomp_compat;
  if (!s.seccomp_filter.empty()) j["seccomp_filter"] = seccomp_filter_to_text(s.seccomp_filter);
  j["nics"] = json::array();
  for (const auto& n : s.nics)
    j["nics"].push_back({{"host_name", n.host_name}, {"name", n.name}, {"mac", n.mac}, {"mtu", n.mtu},
                         {"bridge", n.bridge}, {"address", n.address}, {"gateway", n.gateway}});
  j["limits"] = limits_to_json(s.limits);
  if (s.idmap.enabled())
    j["idmap"] = {{"host_uid", s.idmap.host_uid}, {"host_gid", s.idmap.host_gid}, {"count", s.idmap.count},
                  {"idmapped_rootfs", s.idmap.idmapped_rootfs}};
  j["lxcfs_dir"] = s.lxcfs_dir;
  j["lxcfs_files"] = s.lxcfs_files;
  return j.dump(2);
}

Result<RuntimeSpec> spec_from_json(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return make_error("runtime spec: not a JSON object", EINVAL);
  try {
    RuntimeSpec s;
    s.name = j.at("name").get<std::string>();
    s.rootfs = j.at("rootfs").get<std::string>();
    if (j.contains("overlay")) {
      const json& o = j.at("overlay");
      s.overlay = OverlayLayers{o.at("lower").get<std::string>(), o.at("upper").get<std::string>(),
                                o.at("work").get<std::string>()};
      if (s.overlay.upper.empty() || s.overlay.work.empty())
        return make_error("runtime spec: an overlay needs its upper and work directories", EINVAL);
    }
    s.init_argv = j.at("init_argv").get<std::vector<std::string>>();
    s.init_env = j.at("init_env").get<std::vector<std::string>>();
    s.halt_signal = j.at("halt_signal").get<int>();
    s.stop_timeout = j.at("stop_timeout").get<int>();
    s.cgroup = j.at("cgroup").get<std::string>();
    s.cgroup_driver = j.value("cgroup_driver", s.cgroup_driver);
    s.cap_drop = j.at("cap_drop").get<std::vector<std::string>>();
    s.seccomp = TRY(seccomp_rules_from_json(j.at("seccomp")));
    s.seccomp_compat = j.value("seccomp_compat", false);
    if (j.contains("seccomp_filter"))
      s.seccomp_filter = TRY(seccomp_filter_from_text(j.at("seccomp_filter").get<std::string>()));
    s.run_dir = j.at("run_dir").get<std::string>();
    s.console_log = j.at("console_log").get<std::string>();
    s.console_log_max = j.value("console_log_max", s.console_log_max);
    for (const auto& n : j.value("nics", json::array()))
      s.nics.push_back(NicSpec{n.at("host_name").get<std::string>(), n.at("name").get<std::string>(),
                               n.at("mac").get<std::string>(), n.at("mtu").get<int>(),
                               n.at("bridge").get<std::string>(), n.at("address").get<std::string>(),
                               n.at("gateway").get<std::string>()});
    if (j.contains("limits")) s.limits = TRY(limits_from_json(j.at("limits")));
    if (j.contains("idmap")) {
      const json& m = j.at("idmap");
      s.idmap = IdMap{m.at("host_uid").get<uint32_t>(), m.at("host_gid").get<uint32_t>(), m.at("count").get<uint32_t>(),
                      m.at("idmapped_rootfs").get<bool>()};
      if (s.idmap.enabled() && (s.idmap.host_uid == 0 || s.idmap.host_gid == 0))
        return make_error("runtime spec: an id map must not map root inside to host root", EINVAL);
    }
    s.lxcfs_dir = j.value("lxcfs_dir", "");
    s.lxcfs_files = j.value("lxcfs_files", std::vector<std::string>{});
    if (s.init_argv.empty()) return make_error("runtime spec: empty init command", EINVAL);
    return s;
  } catch (const json::exception& e) {
    return make_error(std::string("runtime spec: ") + e.what(), EINVAL);
  }
}

int detect_halt_signal(const std::string& rootfs, const std::string& init_path) {
  UniqueFd root(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string target = init_path;
  if (root) {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    std::string rel = init_path;
    while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
    UniqueFd f(static_cast<int>(syscall(SYS_openat2, root.get(), rel.c_str(), &how, sizeof how)));
    char buf[4096];
    std::string link = "/proc/self/fd/" + std::to_string(f.get());
    ssize_t n = f ? readlink(link.c_str(), buf, sizeof buf - 1) : -1;
    if (n > 0) target.assign(buf, static_cast<size_t>(n));
  }
  std::string base = target.substr(target.rfind('/') + 1);
  if (base == "busybox") return SIGUSR1;
  if (base.find("systemd") != std::string::npos) return SIGRTMIN + 3;
  if (base == "init") return SIGPWR;  // sysvinit; its template adds the powerfail line
  return SIGTERM;
}

}  // namespace sysc::runtime
