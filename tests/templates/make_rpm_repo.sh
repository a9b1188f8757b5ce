#!/bin/bash
# Build a tiny local RPM repository holding a bootable "sysctest" distribution, for testing
# the centos template offline: the host's static busybox as /bin/busybox with its applets,
# busybox init as /sbin/init, and just enough /etc to boot and log in as root.
#
#   make_rpm_repo.sh OUTDIR [BUSYBOX]
#
# OUTDIR/x86_64 (the RPM architecture of the host) becomes the repository (repodata/ made by
# createrepo_c), so a .repo file can say baseurl=file://OUTDIR/$basearch. Packages:
#   sysctest-filesystem  (noarch)  the base directories with their modes
#   sysctest-busybox     (ARCH)    /bin/busybox (BUSYBOX, default /bin/busybox) + applet links
#   sysctest-base        (noarch)  inittab, rcS, passwd/group/shadow, profile; a %post
#                                  scriptlet writes /var/lib/sysctest/post-ran (run by rpm
#                                  inside the new root, with its busybox sh)
#   sysctest-release     (noarch)  /etc/os-release (ID=sysctest), Provides: system-release
#   sysctest-el-layout   (noarch)  not installed by default: empty stand-ins at the paths the
#                                  template configures (systemd units, NetworkManager, rpm
#                                  macros with the EL 10 database path)
# Each requires the one above, so installing sysctest-release pulls in the first four. Needs the
# Debian packages rpm (rpmbuild) and createrepo-c. Writes only below OUTDIR.
set -euo pipefail

OUT=${1:?usage: make_rpm_repo.sh OUTDIR [BUSYBOX]}
BUSYBOX=${2:-/bin/busybox}
VERSION=1.0
ARCH=$(uname -m)

for tool in rpmbuild createrepo_c; do
    command -v "$tool" >/dev/null || { echo "make_rpm_repo.sh: $tool not found (apt-get install rpm createrepo-c)" >&2; exit 1; }
done
[[ -x $BUSYBOX ]] || { echo "make_rpm_repo.sh: $BUSYBOX: no busybox (apt-get install busybox-static)" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TOP=$OUT/.rpmbuild
mkdir -p "$TOP"/{SPECS,SOURCES,BUILD,BUILDROOT,RPMS,SRPMS} "$TOP/home" "$OUT/$ARCH"
cp -- "$BUSYBOX" "$TOP/SOURCES/busybox"

# Applet links relative to their own directory (bin/ls -> busybox, usr/bin/wc -> ../../bin/busybox).
"$BUSYBOX" --list-full | while IFS= read -r path; do
    [[ $path == */* && $path != bin/busybox ]] || continue
    case "$path" in
        bin/*) echo "$path busybox" ;;
        sbin/*) echo "$path ../bin/busybox" ;;
        usr/bin/* | usr/sbin/*) echo "$path ../../bin/busybox" ;;
    esac
done >"$TOP/SOURCES/applets"

# Debian's rpm keeps its database in ~/.rpmdb and reads ~/.rpmmacros: a private HOME keeps
# the build away from the invoking user's files.
cat >"$TOP/home/.rpmmacros" <<EOF
%_topdir $TOP
%_dbpath $TOP/rpmdb
%_build_id_links none
%__os_install_post %{nil}
%debug_package %{nil}
EOF

header() { # header NAME SUMMARY [BuildArch]: the preamble; each spec adds its %description
    cat <<EOF
Name: $1
Version: $VERSION
Release: 1
Summary: $2
License: GPL-2.0-only
AutoReqProv: no
${3:+BuildArch: $3}
EOF
}

{
    header sysctest-filesystem "base directories" noarch
    cat <<'EOF'
%description
base directories
%install
# (rpm runs these scripts with /bin/sh: no brace expansion)
for d in bin sbin etc/init.d usr/bin usr/sbin usr/lib proc sys dev run home root tmp \
    var/lib var/log var/cache var/spool var/tmp; do
    mkdir -p "%{buildroot}/$d"
done
%files
%dir /bin
%dir /sbin
%dir /etc
%dir /etc/init.d
%dir /usr
%dir /usr/bin
%dir /usr/sbin
%dir /usr/lib
%dir /proc
%dir /sys
%dir /dev
%dir /run
%dir /home
%dir /var
%dir /var/lib
%dir /var/log
%dir /var/cache
%dir /var/spool
%attr(0700,root,root) %dir /root
%attr(1777,root,root) %dir /tmp
%attr(1777,root,root) %dir /var/tmp
EOF
} >"$TOP/SPECS/filesystem.spec"

{
    header sysctest-busybox "static busybox and its applets"
    cat <<'EOF'
Requires: sysctest-filesystem
Provides: /bin/sh
%description
static busybox
%install
mkdir -p %{buildroot}/bin %{buildroot}/sbin %{buildroot}/usr/bin %{buildroot}/usr/sbin
install -m 0755 %{_sourcedir}/busybox %{buildroot}/bin/busybox
while read -r path target; do ln -s "$target" "%{buildroot}/$path"; done <%{_sourcedir}/applets
(cd %{buildroot} && find . ! -type d | sed 's/^\.//') >%{_builddir}/files.list
%files -f %{_builddir}/files.list
EOF
} >"$TOP/SPECS/busybox.spec"

{
    header sysctest-base "init configuration and accounts" noarch
    cat <<'EOF'
Requires: sysctest-busybox
Requires(post): /bin/sh
%description
init configuration
%install
mkdir -p %{buildroot}/etc/init.d %{buildroot}/var/lib/sysctest
cat >%{buildroot}/etc/inittab <<'END'
::sysinit:/etc/init.d/rcS
::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
END
printf '#!/bin/sh\nmkdir -p /run/lock\nip link set lo up 2>/dev/null\nexit 0\n' >%{buildroot}/etc/init.d/rcS
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >%{buildroot}/etc/passwd
printf 'root:!::0:99999:7:::\nnobody:*::0:99999:7:::\n' >%{buildroot}/etc/shadow
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >%{buildroot}/etc/group
printf 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' >%{buildroot}/etc/profile
printf '/bin/sh\n' >%{buildroot}/etc/shells
%post
echo "sysctest-base %{version} post scriptlet" >/var/lib/sysctest/post-ran
%files
%config(noreplace) /etc/inittab
%attr(0755,root,root) /etc/init.d/rcS
%config(noreplace) /etc/passwd
%attr(0600,root,root) %config(noreplace) /etc/shadow
%config(noreplace) /etc/group
%config(noreplace) /etc/profile
%config(noreplace) /etc/shells
%dir /var/lib/sysctest
EOF
} >"$TOP/SPECS/base.spec"

{
    header sysctest-release "release files" noarch
    cat <<'EOF'
Requires: sysctest-base
Provides: system-release
Provides: system-release(1)
%description
release files
%install
mkdir -p %{buildroot}/etc
cat >%{buildroot}/etc/os-release <<END
NAME="sysc test distribution"
ID=sysctest
VERSION_ID=%{version}
PRETTY_NAME="sysctest %{version} (busybox)"
END
echo "sysctest release %{version}" >%{buildroot}/etc/sysctest-release
%files
/etc/os-release
/etc/sysctest-release
EOF
} >"$TOP/SPECS/release.spec"

{
    header sysctest-el-layout "files where an EL system has them, not functional" noarch
    cat <<'EOF'
Requires: sysctest-base
%description
Paths the template configures when they exist: systemd's binary and units, a getty link
as systemd's presets make it, NetworkManager's directory, and rpm macros that keep the
database in /usr/lib/sysimage/rpm (EL 10). Nothing here runs.
%install
mkdir -p %{buildroot}/usr/lib/systemd/system %{buildroot}/etc/systemd/system/getty.target.wants
mkdir -p %{buildroot}/etc/NetworkManager/system-connections %{buildroot}/usr/lib/rpm
printf '#!/bin/sh\nexit 1\n' >%{buildroot}/usr/lib/systemd/systemd
for u in console-getty.service getty@.service multi-user.target; do
    printf '[Unit]\nDescription=%s (layout only)\n' "$u" >"%{buildroot}/usr/lib/systemd/system/$u"
done
ln -s /usr/lib/systemd/system/getty@.service %{buildroot}/etc/systemd/system/getty.target.wants/getty@tty1.service
printf '[main]\n' >%{buildroot}/etc/NetworkManager/NetworkManager.conf
printf '%%%%_usr\t/usr\n%%%%_dbpath\t%%%%{_usr}/lib/sysimage/rpm\n' >%{buildroot}/usr/lib/rpm/macros
%files
%attr(0755,root,root) /usr/lib/systemd/systemd
/usr/lib/systemd/system/*
/etc/systemd/system/getty.target.wants/getty@tty1.service
/etc/NetworkManager
/usr/lib/rpm/macros
EOF
} >"$TOP/SPECS/el-layout.spec"

for spec in filesystem busybox base release el-layout; do
    if ! HOME=$TOP/home rpmbuild -bb --quiet "$TOP/SPECS/$spec.spec" >"$TOP/$spec.log" 2>&1; then
        cat "$TOP/$spec.log" >&2
        echo "make_rpm_repo.sh: rpmbuild $spec.spec failed" >&2
        exit 1
    fi
done
find "$TOP/RPMS" -name '*.rpm' -exec mv -t "$OUT/$ARCH" {} +
createrepo_c --quiet "$OUT/$ARCH" >/dev/null
rm -rf -- "$TOP"
echo "$OUT/$ARCH"
