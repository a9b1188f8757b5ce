// MountStep: one precomputed filesystem step the container child executes before pivot_root.
// Built on the host side (strings allocated there); the child only reads c_str()s.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace sysc::runtime {

// Overlay storage: the rootfs is an overlay of LOWER (the image, shared by containers) and the
// container's own UPPER and WORK directories, which are siblings (one parent directory). An
// empty LOWER: the rootfs is a plain directory.
struct OverlayLayers {
  std::string lower, upper, work;
  bool enabled() const { return !lower.empty(); }
  // The directory holding upper and work (what is idmapped for an unprivileged container).
  // "" when upper has no parent named.
  std::string dir() const { return parent(upper); }
  // Upper and work side by side in dir() (overlayfs needs them on one filesystem; sysc keeps
  // them in one directory, so that one idmapped mount covers both).
  bool siblings() const { return !dir().empty() && parent(work) == dir(); }
  static std::string parent(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
  }
};

struct MountStep {
  enum class Op {
    Mount,       // mount(source, ROOT/target, fstype, flags, data); target dir created if missing
    BindRO,      // bind ROOT/target onto itself, then remount it read-only (source unused)
    BindRW,      // bind ROOT/target onto itself, then remount it writable (nosuid, nodev, noexec)
    BindHost,    // bind the host path `source` over the existing ROOT/target, read-only
    RemountRO,   // remount the mount at ROOT/target read-only, keeping its flags (MS_REMOUNT|MS_BIND|MS_RDONLY)
    Symlink,     // symlink(source, ROOT/target) (existing is fine)
    Mknod,       // mknod(ROOT/target, mode, dev)
    BindFile,    // create an empty file at ROOT/target, bind the host path `source` onto it
    MaskFile,    // bind ROOT/source (the container's own dev/null, or the empty mask tmpfs) read-only over ROOT/target
  };
  Op op = Op::Mount;
  std::string source;
  std::string target;  // relative to the container's rootfs, without leading '/': "sys/fs/cgroup"
  std::string fstype;
  std::string data;
  unsigned long flags = 0;
  mode_t mode = 0755;
  dev_t dev = 0;
  bool optional = false;  // a failure is ignored (e.g. a controller the kernel lacks)
};

using MountPlan = std::vector<MountStep>;

}  // namespace sysc::runtime
