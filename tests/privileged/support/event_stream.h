// A running `sysc events --format json` for tests: collects the events it prints, until destroyed.
#pragma once

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace sysc::test {

class EventStream {
 public:
  // Starts `sysc --root ROOT events --format json [NAME]` (which starts lxcd if needed) and
  // returns once the stream is open (lxcd answered), or after ~10 s.
  explicit EventStream(const SyscEnv& env, const std::string& name = "");
  ~EventStream();  // kills and reaps the CLI

  std::vector<nlohmann::json> events();
  // Waits until PRED holds for some event (up to timeout_s); returns it, or null.
  nlohmann::json wait_for(const std::function<bool(const nlohmann::json&)>& pred, int timeout_s);
  nlohmann::json wait_for(const std::string& container, const std::string& event, int timeout_s);
  // Containers of EVENT (e.g. "started") in the order they came.
  std::vector<std::string> order_of(const std::string& event);

 private:
  int pid_ = -1;
  int fd_ = -1;
  std::mutex mu_;
  std::vector<nlohmann::json> events_;
  std::thread reader_;
};

}  // namespace sysc::test
