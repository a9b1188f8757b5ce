// The image store of lxcd (any thread; builds of one key serialized by a flock).
#include "lxcd/images.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/unique_fd.h"

namespace sysc::lxcd {

namespace {

using nlohmann::json;

// FNV-1a: a stable name for a template and its arguments (not a security boundary).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.emplace_back(e->d_name);
  closedir(d);
  return out;
}

}  // namespace

std::string ImageStore::key(const std::string& template_name, const std::vector<std::string>& args) {
  std::string all = template_name;
  for (const auto& a : args) all += '\0' + a;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(all)));
  return template_name + "-" + buf;
}

Result<Image> ImageStore::find(const std::string& id) {
  std::string dir = dir_ + "/" + id;
  auto text = read_file(dir + "/image.json");
  if (!text) return make_error("image " + id + ": not found", ENOENT);
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return make_error("image " + id + ": unreadable image.json", EIO);
  Image img;
  img.id = id;
  img.key = j.value("key", "");
  img.template_name = j.value("template", "");
  img.args = j.value("args", std::vector<std::string>{});
  img.created_at = j.value("created_at", int64_t{0});
  img.dir = dir;
  img.rootfs = dir + "/rootfs";
  return img;
}

Result<std::vector<Image>> ImageStore::list() {
  std::vector<Image> out;
  for (const auto& name : entries(dir_)) {
    if (name.ends_with(".lock")) continue;
    if (auto img = find(name); img) out.push_back(std::move(*img));
  }
  std::sort(out.begin(), out.end(), [](const Image& a, const Image& b) {
    return a.key != b.key ? a.key < b.key : a.created_at != b.created_at ? a.created_at > b.created_at : a.id > b.id;
  });
  return out;
}

Result<Image> ImageStore::get_or_build(const std::string& template_name, const std::vector<std::string>& args,
                                       bool fresh, const std::function<Status(const std::string&)>& build) {
  TRY(mkdir_p(dir_, 0700));
  const std::string k = key(template_name, args);
  UniqueFd lock(open((dir_ + "/" + k + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return sys_error("image lock " + k);
  while (flock(lock.get(), LOCK_EX) != 0)
    if (errno != EINTR) return sys_error("image lock " + k);
  if (!fresh) {
    for (auto& img : TRY(list()))
      if (img.key == k) return img;  // newest first
  }
  // Build next to the store, then rename: a crash never leaves a half image under its id.
  int64_t now = time(nullptr);
  std::string id = k + "-" + std::to_string(now);
  for (int n = 1; path_exists(dir_ + "/" + id); ++n) id = k + "-" + std::to_string(now) + "." + std::to_string(n);
  std::string tmp = dir_ + "/.tmp-" + id;
  (void)remove_tree(tmp);
  if (::mkdir(tmp.c_str(), 0755) != 0 || ::mkdir((tmp + "/rootfs").c_str(), 0755) != 0) return sys_error("mkdir " + tmp);
  auto fail = [&](Error e) {
    (void)remove_tree(tmp);
    return e;
  };
  if (auto st = build(tmp + "/rootfs"); !st) return fail(std::move(st).error());
  json meta = {{"key", k}, {"template", template_name}, {"args", args}, {"created_at", now}};
  if (auto st = write_file_atomic(tmp + "/image.json", meta.dump(2) + "\n"); !st) return fail(std::move(st).error());
  if (::rename(tmp.c_str(), (dir_ + "/" + id).c_str()) != 0) return fail(sys_error("rename " + tmp));
  Image img = TRY(find(id));
  img.built = true;
  return img;
}

Status ImageStore::remove(const std::string& id) {
  if (id.empty() || id.find('/') != std::string::npos || id[0] == '.') return make_error("bad image id " + id, EINVAL);
  // Rename first: a removal cut short never leaves a half image that looks complete.
  std::string trash = dir_ + "/.tmp-rm-" + id;
  if (::rename((dir_ + "/" + id).c_str(), trash.c_str()) != 0) {
    if (errno == ENOENT) return {};
    return sys_error("remove image " + id);
  }
  return remove_tree(trash);
}

void ImageStore::remove_stale_builds() {
  DIR* d = opendir(dir_.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(d))
    if (std::string(e->d_name).rfind(".tmp-", 0) == 0) stale.emplace_back(dir_ + "/" + e->d_name);
  closedir(d);
  for (const auto& s : stale) (void)remove_tree(s);
}

}  // namespace sysc::lxcd
