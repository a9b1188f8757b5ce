// Images: the output of a template run, kept so that later containers of the same template and
// arguments are made without running the template again. Under CACHE/images/:
//   ID/rootfs, ID/image.json   one build; ID = KEY-BUILD, KEY from the template and its arguments
//   KEY.lock                   flock held while a build of KEY runs (two creates at once build once)
//   .tmp-*                     a build in progress; left-overs of a crash are removed at start
// A build is replaced by `sysc template refresh` / `create --no-cache`; old builds stay while an
// overlay container still uses them as its lower layer (the manager removes unused ones).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace sysc::lxcd {

struct Image {
  std::string id;  // KEY-BUILD
  std::string key;
  std::string template_name;
  std::vector<std::string> args;
  int64_t created_at = 0;
  std::string dir;     // CACHE/images/ID
  std::string rootfs;  // dir + "/rootfs"
  bool built = false;  // made by this get_or_build (not from the cache): older builds may now be unused
};

class ImageStore {
 public:
  explicit ImageStore(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  static std::string key(const std::string& template_name, const std::vector<std::string>& args);
  // The newest build for TEMPLATE+ARGS; when there is none or FRESH is set, BUILD fills an
  // empty rootfs directory and the result becomes the newest build.
  Result<Image> get_or_build(const std::string& template_name, const std::vector<std::string>& args, bool fresh,
                             const std::function<Status(const std::string& rootfs)>& build);
  Result<Image> find(const std::string& id);
  Result<std::vector<Image>> list();  // every build, newest first within a key
  Status remove(const std::string& id);
  // Left-overs of builds interrupted by a crash.
  void remove_stale_builds();

 private:
  std::string dir_;
};

}  // namespace sysc::lxcd
