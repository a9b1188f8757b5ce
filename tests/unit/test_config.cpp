// Unit tests of config/: parsing, error reports with FILE:LINE, defaults, get/set/unset, signals.
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>

#include "config/config.h"

namespace sysc::config {
namespace {

ContainerConfig parse_ok(const std::string& text) {
  auto r = parse_container(text, "web1.conf");
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : ContainerConfig{};
}

std::string parse_err(const std::string& text) {
  auto r = parse_container(text, "web1.conf");
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, EINVAL);
  return r.error().message;
}

TEST(ConfigParse, EmptyFileGivesDefaults) {
  auto c = parse_ok("");
  EXPECT_EQ(c.init, std::vector<std::string>{"/sbin/init"});
  EXPECT_FALSE(c.halt_signal);
  EXPECT_FALSE(c.stop_timeout);
  EXPECT_EQ(c.ttys, 0);
  EXPECT_EQ(c.environment, (std::map<std::string, std::string>{{"container", "sysc"}}));
  EXPECT_TRUE(c.cap_drop.empty());
  EXPECT_TRUE(c.cap_keep.empty());
}

TEST(ConfigParse, DefaultContainerTextParsesToDefaults) {
  std::string text = default_container_text("web1", "debian");
  EXPECT_NE(text.find("web1"), std::string::npos);
  auto c = parse_ok(text);
  ContainerConfig d;
  EXPECT_EQ(c.init, d.init);
  EXPECT_EQ(c.halt_signal, d.halt_signal);
  EXPECT_EQ(c.stop_timeout, d.stop_timeout);
  EXPECT_EQ(c.ttys, d.ttys);
  EXPECT_EQ(c.environment, d.environment);
  EXPECT_EQ(c.cap_drop, d.cap_drop);
  EXPECT_EQ(c.cap_keep, d.cap_keep);
}

TEST(ConfigParse, DefaultTextShowsEveryKeyCommentedOut) {
  std::string text = default_container_text("web1", "busybox");
  for (const char* line : {"#init = /sbin/init", "#halt_signal = auto", "#stop_timeout = 30", "#ttys = 0",
                           "#container = sysc", "#cap_drop =", "#cap_keep ="})
    EXPECT_NE(text.find(std::string("\n") + line + "\n"), std::string::npos) << line;
  std::string global = default_global_text();
  EXPECT_NE(global.find("\n#parent = sysc\n"), std::string::npos);
  EXPECT_NE(global.find("\n#stop_timeout = 30\n"), std::string::npos);
}

TEST(ConfigParse, DefaultGlobalTextParsesToDefaults) {
  auto r = parse_global(default_global_text(), "sysc.conf");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cgroup_parent, "sysc");
  EXPECT_EQ(r->default_stop_timeout, 30);
}

TEST(ConfigParse, EveryContainerKey) {
  auto c = parse_ok(
      "[container]\n"
      "init = /bin/sh -c   'echo a; echo b'   # not a comment\n"
      "halt_signal = SIGRTMIN+3\n"
      "stop_timeout = 12\n"
      "ttys = 2\n"
      "[environment]\n"
      "LANG = C.UTF-8\n"
      "_x1 =\n"
      "[security]\n"
      "cap_drop = sys_module  net_raw\n"
      "cap_keep = sys_time\n");
  EXPECT_EQ(c.init, (std::vector<std::string>{"/bin/sh", "-c", "'echo", "a;", "echo", "b'", "#", "not", "a",
                                              "comment"}));
  ASSERT_TRUE(c.halt_signal);
  EXPECT_EQ(*c.halt_signal, SIGRTMIN + 3);
  EXPECT_EQ(c.stop_timeout, 12);
  EXPECT_EQ(c.ttys, 2);
  EXPECT_EQ(c.environment, (std::map<std::string, std::string>{{"container", "sysc"}, {"LANG", "C.UTF-8"}, {"_x1", ""}}));
  EXPECT_EQ(c.cap_drop, (std::vector<std::string>{"sys_module", "net_raw"}));
  EXPECT_EQ(c.cap_keep, (std::vector<std::string>{"sys_time"}));
}

TEST(ConfigParse, HaltSignalForms) {
  EXPECT_EQ(parse_ok("[container]\nhalt_signal = auto\n").halt_signal, std::nullopt);
  EXPECT_EQ(parse_ok("[container]\nhalt_signal = SIGPWR\n").halt_signal, SIGPWR);
  EXPECT_EQ(parse_ok("[container]\nhalt_signal = 10\n").halt_signal, 10);
  EXPECT_NE(parse_err("[container]\nhalt_signal = SIGFOO\n").find("bad value 'SIGFOO' for key 'halt_signal'"),
            std::string::npos);
}

TEST(ConfigParse, EnvironmentOverridesContainer) {
  auto c = parse_ok("[environment]\ncontainer = lxc\n");
  EXPECT_EQ(c.environment.at("container"), "lxc");
  EXPECT_EQ(c.environment.size(), 1u);
}

TEST(ConfigParse, CommentsIndentationCrlfAndBom) {
  auto c = parse_ok(
      "\xEF\xBB\xBF; semicolon comment\r\n"
      "# hash comment\r\n"
      "  [container]  ; trailing comment\r\n"
      "    ttys = 3\r\n"
      "\t  ; indented comment\r\n"
      "  stop_timeout=7");
  EXPECT_EQ(c.ttys, 3);
  EXPECT_EQ(c.stop_timeout, 7);
}

TEST(ConfigParse, LongValuesAreKept) {
  std::string value(500, 'x');
  auto c = parse_ok("[environment]\nLONG = " + value + "\n");
  EXPECT_EQ(c.environment.at("LONG"), value);
  std::string name(80, 'N');
  EXPECT_EQ(parse_ok("[environment]\n" + name + " = 1\n").environment.at(name), "1");
}

TEST(ConfigErrors, UnknownKeyHasFileAndLine) {
  std::string text = "# web1\n\n[container]\ninit = /sbin/init\n\n# comment\nfoo = bar\n";
  EXPECT_EQ(parse_err(text), "web1.conf:7: unknown key 'foo' in section [container]");
}

TEST(ConfigErrors, AllProblemsReportedWithLines) {
  std::string text =
      "[container]\n"          // 1
      "stop_timeout = 0\n"     // 2
      "ttys = 17\n"            // 3
      "[bogus]\n"              // 4
      "x = 1\n"                // 5
      "[container]\n"          // 6
      "stop_timeout = 5\n"     // 7
      "garbage line\n"         // 8
      "init = sbin/init\n"     // 9
      "[environment]\n"        // 10
      "1BAD = x\n";            // 11
  std::string expected =
      "web1.conf:2: bad value '0' for key 'stop_timeout' in section [container]: expected whole seconds from 1 to "
      "86400\n"
      "web1.conf:3: bad value '17' for key 'ttys' in section [container]: expected a number of ttys from 0 to 16\n"
      "web1.conf:4: unknown section [bogus] (known sections: container, environment, security, net.N, limits, autostart, ready)\n"
      "web1.conf:7: duplicate key 'stop_timeout' in section [container] (first set on line 2)\n"
      "web1.conf:8: syntax error: expected '[section]' or 'key = value', got 'garbage line'\n"
      "web1.conf:9: bad value 'sbin/init' for key 'init' in section [container]: expected the absolute path of the "
      "init program and its arguments, like /sbin/init\n"
      "web1.conf:11: bad name '1BAD' in section [environment]: variable names match [A-Za-z_][A-Za-z0-9_]*";
  EXPECT_EQ(parse_err(text), expected);
}

TEST(ConfigErrors, KeyOutsideSectionAndBadHeader) {
  std::string msg = parse_err("ttys = 1\n[container\n");
  EXPECT_NE(msg.find("web1.conf:1: key 'ttys' outside any section"), std::string::npos) << msg;
  EXPECT_NE(msg.find("web1.conf:2: syntax error: missing ']' in section header"), std::string::npos) << msg;
}

TEST(ConfigErrors, BadNumbers) {
  for (const char* v : {"abc", "-1", "1.5", " ", "99999999999", "86401", "10s"}) {
    auto r = parse_container(std::string("[container]\nstop_timeout = ") + v + "\n", "web1.conf");
    EXPECT_FALSE(r.ok()) << v;
  }
  EXPECT_EQ(parse_ok("[container]\nstop_timeout = 86400\n").stop_timeout, 86400);
}

TEST(ConfigErrors, BadCapabilityName) {
  std::string msg = parse_err("[security]\ncap_drop = net_raw frobnicate\n");
  EXPECT_EQ(msg,
            "web1.conf:2: bad value 'net_raw frobnicate' for key 'cap_drop' in section [security]: unknown capability "
            "'frobnicate' (use lowercase names without 'cap_', like sys_module net_raw)");
  EXPECT_NE(parse_err("[security]\ncap_keep = cap_sys_time\n").find("without the 'cap_' prefix"), std::string::npos);
  EXPECT_NE(parse_err("[security]\ncap_keep = SYS_TIME\n").find("unknown capability 'SYS_TIME'"), std::string::npos);
}

TEST(ConfigGlobal, ParsesKeys) {
  auto r = parse_global("[cgroup]\nparent = machines/sysc.d\n[defaults]\nstop_timeout = 9\n", "sysc.conf");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cgroup_parent, "machines/sysc.d");
  EXPECT_EQ(r->default_stop_timeout, 9);
}

TEST(ConfigGlobal, SocketGroup) {
  EXPECT_EQ(parse_global("", "sysc.conf")->socket_group, "");
  auto r = parse_global("[daemon]\nsocket_group = sysc-admins\n", "sysc.conf");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->socket_group, "sysc-admins");
  for (const char* v : {"-x", "a b", "a/b", "x:y"})
    EXPECT_FALSE(parse_global(std::string("[daemon]\nsocket_group = ") + v + "\n", "sysc.conf").ok()) << v;
}

TEST(ConfigGlobal, BadCgroupParent) {
  for (const char* v : {"../escape", "a/../b", "/abs", "a//b", "a/", "..", "a b", "."}) {
    auto r = parse_global(std::string("[cgroup]\nparent = ") + v + "\n", "sysc.conf");
    ASSERT_FALSE(r.ok()) << v;
    EXPECT_EQ(r.error().message.rfind(std::string("sysc.conf:2: bad value '") + v + "' for key 'parent'", 0), 0u)
        << r.error().message;
  }
  auto r = parse_global("[container]\ninit = /sbin/init\n", "sysc.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "sysc.conf:1: unknown section [container] (known sections: cgroup, defaults, network, resources, security, storage, templates, daemon)");
}

TEST(ConfigEdit, GetValue) {
  std::string text = "[container]\ninit = /bin/sh -c x\n[environment]\nFOO = a ; b\n";
  EXPECT_EQ(get_value(text, "web1.conf", "init").value(), "/bin/sh -c x");
  EXPECT_EQ(get_value(text, "web1.conf", "container.init").value(), "/bin/sh -c x");
  EXPECT_EQ(get_value(text, "web1.conf", "environment.FOO").value(), "a ; b");
  auto unset = get_value(text, "web1.conf", "ttys");
  ASSERT_FALSE(unset.ok());
  EXPECT_EQ(unset.error().code, ENOENT);
  EXPECT_EQ(unset.error().message, "ttys is not set in web1.conf");
  auto unknown = get_value(text, "web1.conf", "foo");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, EINVAL);
  EXPECT_EQ(unknown.error().message, "unknown key 'foo'");
  EXPECT_FALSE(get_value(text, "web1.conf", "security.nope").ok());
  EXPECT_FALSE(get_value(text, "web1.conf", "cgroup.parent").ok());
}

TEST(ConfigEdit, SetReplacesInPlaceKeepingComments) {
  std::string text =
      "# my container\n"
      "[container]\n"
      "; keep me\n"
      "  ttys   =  1   \n"
      "init = /sbin/init\n";
  auto r = set_value(text, "web1.conf", "ttys", "4");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), "# my container\n[container]\n; keep me\n  ttys   =  4   \ninit = /sbin/init\n");
  EXPECT_EQ(parse_ok(r.value()).ttys, 4);
}

TEST(ConfigEdit, SetInvalidValueIsAnError) {
  std::string text = "[container]\nttys = 1\n";
  auto r = set_value(text, "web1.conf", "ttys", "99");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_NE(r.error().message.find("web1.conf:2: bad value '99' for key 'ttys'"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(set_value(text, "web1.conf", "bogus", "1").ok());
  EXPECT_FALSE(set_value(text, "web1.conf", "init", "/bin/sh\nttys = 3").ok());
  EXPECT_FALSE(set_value(text, "web1.conf", "environment.9x", "1").ok());
}

TEST(ConfigEdit, SetInsertsBelowCommentedDefault) {
  std::string text = default_container_text("web1", "busybox");
  auto r = set_value(text, "web1.conf", "halt_signal", "SIGUSR1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_NE(r.value().find("#halt_signal = auto\nhalt_signal = SIGUSR1\n"), std::string::npos);
  EXPECT_EQ(parse_ok(r.value()).halt_signal, SIGUSR1);
  auto e = set_value(r.value(), "web1.conf", "environment.TERM", "linux");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_NE(e.value().find("#container = sysc\nTERM = linux\n"), std::string::npos) << e.value();
  EXPECT_EQ(parse_ok(e.value()).environment.at("TERM"), "linux");
}

TEST(ConfigEdit, SetInsertsAtEndOfSection) {
  std::string text = "[container]\nttys = 1\n\n[security]\ncap_drop = net_raw\n";
  auto r = set_value(text, "web1.conf", "stop_timeout", "5");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), "[container]\nttys = 1\nstop_timeout = 5\n\n[security]\ncap_drop = net_raw\n");
}

TEST(ConfigEdit, SetCreatesMissingSection) {
  std::string text = "# only a comment\n[container]\nttys = 1";
  auto r = set_value(text, "web1.conf", "security.cap_drop", "sys_module net_raw");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), "# only a comment\n[container]\nttys = 1\n\n[security]\ncap_drop = sys_module net_raw\n");
  EXPECT_EQ(parse_ok(r.value()).cap_drop, (std::vector<std::string>{"sys_module", "net_raw"}));
  auto empty = set_value("", "web1.conf", "init", "/bin/sh");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty.value(), "[container]\ninit = /bin/sh\n");
}

TEST(ConfigEdit, SetEmptyValueLine) {
  auto r = set_value("[security]\ncap_keep =\n", "web1.conf", "security.cap_keep", "sys_time");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), "[security]\ncap_keep = sys_time\n");
}

TEST(ConfigEdit, Unset) {
  std::string text = "[container]\n# note\nttys = 2\ninit = /bin/sh\n";
  auto r = unset_value(text, "web1.conf", "ttys");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "[container]\n# note\ninit = /bin/sh\n");
  auto again = unset_value(r.value(), "web1.conf", "ttys");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), r.value());
  EXPECT_FALSE(unset_value(text, "web1.conf", "nope").ok());
  EXPECT_EQ(get_value(r.value(), "web1.conf", "ttys").error().code, ENOENT);
}

TEST(ConfigKeys, ListsEveryKey) {
  std::vector<std::string> names;
  for (const auto& [key, desc] : container_keys()) {
    names.push_back(key);
    EXPECT_FALSE(desc.empty()) << key;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"init", "halt_signal", "stop_timeout", "ttys", "autostart", "restart",
                                             "environment.NAME", "security.cap_drop", "security.cap_keep",
                                             "security.privileged", "security.seccomp_profile",
                                             "security.syscalls.allow_compat", "net.N.type",
                                             "net.N.name", "net.N.mtu", "net.N.hwaddr", "net.N.ipv4", "limits.memory",
                                             "limits.memory.swap", "limits.cpu", "limits.cpu.weight", "limits.cpuset",
                                             "limits.pids", "limits.io.weight", "limits.io.read_bps",
                                             "limits.io.write_bps", "autostart.order", "autostart.delay",
                                             "autostart.after", "ready.command", "ready.timeout"}));
}

TEST(ConfigParse, AutostartRestartAndReadiness) {
  ContainerConfig d;
  EXPECT_FALSE(d.autostart);
  EXPECT_EQ(d.restart, RestartPolicy::No);
  EXPECT_EQ(d.ready_timeout, 120);
  auto c = parse_ok("[container]\nautostart = true\nrestart = on-failure\n"
                    "[autostart]\norder = -5\ndelay = 3\nafter = db, cache-1\n"
                    "[ready]\ncommand = test -e /run/ok\ntimeout = 7\n");
  EXPECT_TRUE(c.autostart);
  EXPECT_EQ(c.restart, RestartPolicy::OnFailure);
  EXPECT_EQ(c.autostart_order, -5);
  EXPECT_EQ(c.autostart_delay, 3);
  EXPECT_EQ(c.autostart_after, (std::vector<std::string>{"db", "cache-1"}));
  EXPECT_EQ(c.ready_command, (std::vector<std::string>{"test", "-e", "/run/ok"}));
  EXPECT_EQ(c.ready_timeout, 7);
  EXPECT_STREQ(to_string(RestartPolicy::Always), "always");
  for (const char* bad : {"[container]\nrestart = sometimes\n", "[container]\nautostart = maybe\n",
                          "[autostart]\nafter = Web_1\n", "[autostart]\ndelay = -1\n", "[ready]\ntimeout = 0\n"})
    EXPECT_FALSE(parse_container(bad, "x.conf").ok()) << bad;
  auto set = set_value("", "x.conf", "autostart.after", "db,cache");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set.value(), "[autostart]\nafter = db,cache\n");
}

TEST(Signals, Parse) {
  EXPECT_EQ(parse_signal("SIGUSR1"), SIGUSR1);
  EXPECT_EQ(parse_signal("USR1"), SIGUSR1);
  EXPECT_EQ(parse_signal("usr1"), SIGUSR1);
  EXPECT_EQ(parse_signal("sigpwr"), SIGPWR);
  EXPECT_EQ(parse_signal("10"), 10);
  EXPECT_EQ(parse_signal("SIGRTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_signal("RTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_signal("SIGRTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("SIGRTMAX-2"), SIGRTMAX - 2);
  EXPECT_EQ(parse_signal("SIGRTMAX"), SIGRTMAX);
  EXPECT_EQ(parse_signal(std::to_string(SIGRTMAX)), SIGRTMAX);
}

TEST(Signals, Rejects) {
  for (const std::string s : {"0", "", "SIG", "65536", "-1", "SIGFOO", "garbage", "SIGRTMIN-1", "SIGRTMAX+1",
                              "SIGRTMIN+", "USR1 ", "1x"})
    EXPECT_FALSE(parse_signal(s)) << s;
  EXPECT_FALSE(parse_signal(std::to_string(SIGRTMAX + 1)));
  EXPECT_FALSE(parse_signal("SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN + 1)));
}

TEST(Signals, Names) {
  EXPECT_EQ(signal_name(SIGUSR1), "SIGUSR1");
  EXPECT_EQ(signal_name(SIGPWR), "SIGPWR");
  EXPECT_EQ(signal_name(SIGRTMIN), "SIGRTMIN");
  EXPECT_EQ(signal_name(SIGRTMIN + 3), "SIGRTMIN+3");
  for (int sig = 1; sig <= SIGRTMAX; ++sig) {
    if (sig > SIGSYS && sig < SIGRTMIN) continue;  // reserved by the C library
    EXPECT_EQ(parse_signal(signal_name(sig)), sig) << sig;
  }
}

}  // namespace
}  // namespace sysc::config

namespace sysc::config {
namespace {

TEST(ConfigNetwork, NicSectionsParseByIndex) {
  auto c = parse_container("[net.0]\nipv4 = 10.213.117.20\nmtu = 1400\n[net.1]\ntype = none\nhwaddr = 02:5c:00:00:00:01\n",
                           "n.conf");
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->nics.size(), 2u);
  EXPECT_EQ(c->nics.at(0).ipv4, "10.213.117.20");
  EXPECT_EQ(c->nics.at(0).mtu, 1400);
  EXPECT_EQ(c->nics.at(0).type, "veth");
  EXPECT_EQ(c->nics.at(1).type, "none");
  EXPECT_EQ(c->nics.at(1).hwaddr, "02:5c:00:00:00:01");
}

TEST(ConfigNetwork, BadNicValuesAndSectionsAreErrors) {
  auto r = parse_container("[net.16]\ntype = veth\n[net.0]\nipv4 = 10.1.2.300\nhwaddr = 01:00:00:00:00:00\n", "n.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("n.conf:1: unknown section [net.16]"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("n.conf:4: bad value '10.1.2.300'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("n.conf:5: bad value '01:00:00:00:00:00'"), std::string::npos);
}

TEST(ConfigNetwork, DottedNicKeysEdit) {
  auto t = set_value("[container]\n", "n.conf", "net.0.ipv4", "10.213.117.9");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_NE(t->find("[net.0]\nipv4 = 10.213.117.9"), std::string::npos) << *t;
  EXPECT_EQ(*get_value(*t, "n.conf", "net.0.ipv4"), "10.213.117.9");
  EXPECT_FALSE(set_value(*t, "n.conf", "net.0.ipv4", "nope").ok());
}

TEST(ConfigNetwork, GlobalNetworkKeys) {
  auto g = parse_global("[network]\nbridge = br-test\naddress = 10.9.8.1/24\nnat = false\ndhcp = no\ndomain = vps.test\n",
                        "s.conf");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->network.bridge, "br-test");
  EXPECT_EQ(g->network.address, "10.9.8.1/24");
  EXPECT_FALSE(g->network.nat);
  EXPECT_FALSE(g->network.dhcp);
  EXPECT_EQ(g->network.domain, "vps.test");
  EXPECT_FALSE(parse_global("[network]\naddress = 10.9.8.1/31\n", "s.conf").ok());
  EXPECT_FALSE(parse_global("[network]\nbridge = a-very-long-bridge-name\n", "s.conf").ok());
}

}  // namespace
}  // namespace sysc::config

TEST(ConfigGlobal, StorageBackendAndTemplateMirrors) {
  auto g = sysc::config::parse_global("[storage]\nbackend = overlay\n[templates]\ndebian.mirror = http://mirror.example/debian\n",
                                      "sysc.conf");
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->storage_backend, "overlay");
  EXPECT_EQ(g->template_mirrors.at("debian"), "http://mirror.example/debian");
  auto bad = sysc::config::parse_global("[storage]\nbackend = zfs\n[templates]\nmirror = x\nBad.mirror = y\n", "sysc.conf");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("sysc.conf:2:"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("sysc.conf:4:"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("sysc.conf:5:"), std::string::npos) << bad.error().message;
}
