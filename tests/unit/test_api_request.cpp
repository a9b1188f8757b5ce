// lxcd's request parser (lxcd/api_request.cpp) and the socket access rule (lxcd/access.h).
#include <gtest/gtest.h>

#include "lxcd/access.h"
#include "lxcd/api_request.h"

namespace sysc::lxcd {
namespace {

TEST(ApiRequest, RoutesEachEndpoint) {
  EXPECT_EQ(parse_request("GET", "/1.0", "")->op, Op::Version);
  EXPECT_EQ(parse_request("GET", "/1.0/containers", "")->op, Op::List);
  auto c = parse_request("POST", "/1.0/containers", R"({"name":"web1","template":"busybox","template_args":["-r","x"]})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->op, Op::Create);
  EXPECT_EQ(c->name, "web1");
  EXPECT_EQ(c->template_name, "busybox");
  EXPECT_EQ(c->template_args, (std::vector<std::string>{"-r", "x"}));
  auto d = parse_request("DELETE", "/1.0/containers/web1?force=1", "");
  EXPECT_EQ(d->op, Op::Destroy);
  EXPECT_TRUE(d->force);
  EXPECT_FALSE(parse_request("DELETE", "/1.0/containers/web1", "")->force);
  auto s = parse_request("POST", "/1.0/containers/web1/stop", R"({"timeout": 5, "force": true})");
  EXPECT_EQ(s->op, Op::Stop);
  EXPECT_EQ(s->timeout, 5);
  EXPECT_TRUE(s->force);
  EXPECT_EQ(parse_request("POST", "/1.0/containers/web1/restart", R"({"timeout": 999999})")->timeout, 86400);
  EXPECT_EQ(parse_request("GET", "/1.0/containers/web1/console", "", "sysc-console")->op, Op::Console);
  EXPECT_EQ(parse_request("GET", "/1.0/containers/web1/console", "").error().code, ENOENT);
  EXPECT_EQ(parse_request("GET", "/1.0/containers/web1/console/log", "")->op, Op::ConsoleLog);
  auto set = parse_request("PUT", "/1.0/containers/web1/config/environment.A%2DB", R"({"value":"1"})");
  EXPECT_EQ(set->op, Op::ConfigSet);
  EXPECT_EQ(set->key, "environment.A-B");
  EXPECT_EQ(set->value, "1");
  auto port = parse_request("POST", "/1.0/containers/web1/ports", R"({"proto":"tcp","host_port":8080})");
  EXPECT_EQ(port->op, Op::PortAdd);
  EXPECT_EQ(port->container_port, 8080);
  auto rm = parse_request("DELETE", "/1.0/containers/web1/ports/udp/53", "");
  EXPECT_EQ(rm->op, Op::PortRemove);
  EXPECT_EQ(rm->proto, "udp");
  EXPECT_EQ(rm->host_port, 53);
  EXPECT_EQ(parse_request("DELETE", "/1.0/network", "")->op, Op::NetworkRemove);
}

TEST(ApiRequest, RefusesMalformedRequestsWith4xx) {
  auto code = [](std::string_view m, std::string_view t, std::string_view b) {
    auto r = parse_request(m, t, b);
    return r.ok() ? 0 : r.error().code;
  };
  EXPECT_EQ(code("GET", "/2.0/containers", ""), ENOENT);
  EXPECT_EQ(code("PATCH", "/1.0/containers/web1", ""), ENOENT);
  EXPECT_EQ(code("GET", "/1.0/containers/Web1", ""), EINVAL);
  EXPECT_EQ(code("GET", "/1.0/containers/w%zz", ""), EINVAL);
  EXPECT_EQ(code("GET", "/1.0/containers/w%00", ""), EINVAL);
  EXPECT_EQ(code("POST", "/1.0/containers", "{"), EINVAL);
  EXPECT_EQ(code("POST", "/1.0/containers", "[1]"), EINVAL);
  EXPECT_EQ(code("POST", "/1.0/containers", R"({"name": 5, "template": "busybox"})"), EINVAL);
  EXPECT_EQ(code("POST", "/1.0/containers", R"({"name": "a", "template": "b", "template_args": [1]})"), EINVAL);
  // Wrong types used to escape as exceptions from the router and end the daemon.
  EXPECT_EQ(code("POST", "/1.0/containers/web1/stop", R"({"force": "yes"})"), EINVAL);
  EXPECT_EQ(code("POST", "/1.0/containers/web1/stop", R"({"timeout": -1})"), EINVAL);
  EXPECT_EQ(code("POST", "/1.0/containers/web1/stop", R"({"timeout": 1.5})"), EINVAL);
  EXPECT_EQ(code("POST", "/1.0/containers/web1/ports", R"({"proto":"tcp","host_port":4294975376})"), EINVAL);
  EXPECT_EQ(code("POST", "/1.0/containers/web1/ports", R"({"proto":"tcp","host_port":18446744073709551615})"), EINVAL);
  EXPECT_EQ(code("DELETE", "/1.0/containers/web1/ports/tcp/99999999999", ""), EINVAL);
  EXPECT_EQ(code("DELETE", "/1.0/containers/web1/ports/tcp/0", ""), EINVAL);
  EXPECT_EQ(code("PUT", "/1.0/containers/web1/config/init", R"({"value": 1})"), EINVAL);
}

TEST(SocketAccess, RootAlwaysOthersOnlyThroughTheGroup) {
  EXPECT_TRUE(access_allowed(0, 0, {}, std::nullopt));
  EXPECT_FALSE(access_allowed(1000, 1000, {27, 100}, std::nullopt));
  SocketGroup g{4242, "sysc"};
  EXPECT_TRUE(access_allowed(1000, 4242, {}, g));         // primary group
  EXPECT_TRUE(access_allowed(1000, 1000, {27, 4242}, g));  // supplementary group
  EXPECT_FALSE(access_allowed(1000, 1000, {27, 100}, g));
}

}  // namespace
}  // namespace sysc::lxcd
