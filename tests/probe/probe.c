/* sysc-probe: a static program tests copy into a container and run inside it, to check what
 * the container really sees (capabilities, seccomp, pids, mounts, devices, console).
 * Output is `key=value` lines; the exit status is 0 unless a subcommand says otherwise. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char** environ;

static const struct { int num; const char* name; } errno_names[] = {
    {EPERM, "EPERM"},     {ENOENT, "ENOENT"},   {ESRCH, "ESRCH"},         {EINTR, "EINTR"},
    {EIO, "EIO"},         {ENXIO, "ENXIO"},     {E2BIG, "E2BIG"},         {ENOEXEC, "ENOEXEC"},
    {EBADF, "EBADF"},     {ECHILD, "ECHILD"},   {EAGAIN, "EAGAIN"},       {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},   {EFAULT, "EFAULT"},   {EBUSY, "EBUSY"},         {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},     {ENODEV, "ENODEV"},   {ENOTDIR, "ENOTDIR"},     {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},   {ENFILE, "ENFILE"},   {EMFILE, "EMFILE"},       {ENOTTY, "ENOTTY"},
    {ETXTBSY, "ETXTBSY"}, {EFBIG, "EFBIG"},     {ENOSPC, "ENOSPC"},       {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},     {EMLINK, "EMLINK"},   {EPIPE, "EPIPE"},         {ERANGE, "ERANGE"},
    {ENOSYS, "ENOSYS"},   {ELOOP, "ELOOP"},     {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOTEMPTY, "ENOTEMPTY"}, {EOPNOTSUPP, "EOPNOTSUPP"}, {ESTALE, "ESTALE"},
    {ENOKEY, "ENOKEY"},   {EKEYREVOKED, "EKEYREVOKED"}, {EDQUOT, "EDQUOT"},
};

/* Returns a static buffer for unknown numbers; fine, the probe prints one result at a time. */
static const char* errno_name(int err) {
    static char buf[16];
    for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
        if (errno_names[i].num == err) return errno_names[i].name;
    snprintf(buf, sizeof buf, "E%d", err);
    return buf;
}

static const char* result_name(long ret) { return ret >= 0 ? "OK" : errno_name(errno); }

static int usage(void) {
    fputs("usage: sysc-probe caps | seccomp | pid | write PATH | hostname | mounts\n"
          "                  | mknod PATH [c|b MAJ MIN] | open PATH\n"
          "                  | exit N | kill-self SIG | cat | ttyname | env | dumpable\n"
          "                  | keys | abi | umount DIR\n",
          stderr);
    return 2;
}

/* Prints the /proc/self/status fields named in `keys` as key=value (value trimmed). */
static void print_status_fields(const char* const keys[], size_t n) {
    FILE* f = fopen("/proc/self/status", "re");
    if (!f) { printf("status=%s\n", errno_name(errno)); return; }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char* colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        for (size_t i = 0; i < n; i++) {
            if (strcmp(line, keys[i]) != 0) continue;
            char* v = colon + 1;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            printf("%s=%s\n", keys[i], v);
        }
    }
    fclose(f);
}

static int cmd_caps(void) {
    static const char* const keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    print_status_fields(keys, sizeof keys / sizeof keys[0]);
    static const struct { const char* name; int cap; } caps[] = {
        {"sys_module", CAP_SYS_MODULE}, {"sys_time", CAP_SYS_TIME},
        {"sys_rawio", CAP_SYS_RAWIO},   {"mac_admin", CAP_MAC_ADMIN},
        {"mac_override", CAP_MAC_OVERRIDE}, {"sys_boot", CAP_SYS_BOOT},
        {"sys_admin", CAP_SYS_ADMIN},
    };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        int in_bounding = prctl(PR_CAPBSET_READ, caps[i].cap, 0, 0, 0);
        if (in_bounding < 0) printf("cap_%s=%s\n", caps[i].name, errno_name(errno));
        else printf("cap_%s=%d\n", caps[i].name, in_bounding);
    }
    return 0;
}

/* Each call is invalid enough to fail harmlessly even where nothing filters it:
 * the result tells the seccomp errno (or missing capability) from the kernel's own error. */
static int cmd_seccomp(void) {
    static const char* const keys[] = {"NoNewPrivs", "Seccomp", "Seccomp_filters"};
    print_status_fields(keys, sizeof keys / sizeof keys[0]);
    long r;
    /* nr_segments = 0 would *unload* a loaded kexec image; an unknown architecture in the flags
     * and too many segments make the kernel refuse with EINVAL before touching anything. */
    r = syscall(SYS_kexec_load, /*entry=*/0UL, /*nr_segments=*/0xffffUL, /*segments=*/NULL,
                /*flags=*/0xffff0000UL);
    printf("kexec_load=%s\n", result_name(r));
    r = syscall(SYS_open_by_handle_at, /*mount_fd=*/-1, /*handle=*/NULL, /*flags=*/0);
    printf("open_by_handle_at=%s\n", result_name(r));
    r = syscall(SYS_init_module, /*image=*/NULL, /*len=*/0UL, /*params=*/"");
    printf("init_module=%s\n", result_name(r));
    r = syscall(SYS_finit_module, /*fd=*/-1, /*params=*/"", /*flags=*/0);
    printf("finit_module=%s\n", result_name(r));
    r = syscall(SYS_delete_module, "sysc-probe-nonexistent", O_NONBLOCK);
    printf("delete_module=%s\n", result_name(r));
    return 0;
}

/* The keyring calls, each harmless where nothing filters them (lookups, a bad description). */
static int cmd_keys(void) {
    long r = syscall(SYS_keyctl, /*KEYCTL_GET_KEYRING_ID=*/0L, /*KEY_SPEC_SESSION_KEYRING=*/-3L, /*create=*/0L);
    printf("keyctl=%s\n", result_name(r));
    r = syscall(SYS_add_key, "user", /*description=*/"", "x", 1UL, /*KEY_SPEC_PROCESS_KEYRING=*/-2L);
    printf("add_key=%s\n", result_name(r));
    r = syscall(SYS_request_key, "user", "sysc-probe-nonexistent", NULL, 0L);
    printf("request_key=%s\n", result_name(r));
    return 0;
}

/* getpid through the 32-bit ABIs of an x86_64 kernel: int 0x80 (i386 numbering, 20) from this
 * 64-bit process, and the x32 bit on the native entry. OK when it returned our pid. */
static int cmd_abi(void) {
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
    if (ret == (long)getpid()) printf("abi_i386=OK\n");
    else if (ret < 0 && ret > -4096) printf("abi_i386=%s\n", errno_name((int)-ret));
    else printf("abi_i386=%ld\n", ret);
    long r = syscall(0x40000000L | SYS_getpid);
    printf("abi_x32=%s\n", r == (long)getpid() ? "OK" : result_name(r));
#else
    printf("abi_i386=unsupported\nabi_x32=unsupported\n");
#endif
    return 0;
}

/* A tmpfs on DIR (created), then umount2 with MNT_FORCE, then a plain umount (EINVAL when the
 * forced one already removed it: DIR is not left mounted either way). */
static int cmd_umount(const char* dir) {
    mkdir(dir, 0755);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0) {
        printf("mount=%s\n", errno_name(errno));
        return 0;
    }
    printf("mount=OK\n");
    printf("umount_force=%s\n", result_name(umount2(dir, MNT_FORCE)));
    printf("umount=%s\n", result_name(umount2(dir, 0)));
    rmdir(dir);
    return 0;
}

static void print_file_line(const char* key, const char* path) {
    char buf[256] = "";
    FILE* f = fopen(path, "re");
    if (!f) { printf("%s=%s\n", key, errno_name(errno)); return; }
    if (fgets(buf, sizeof buf, f)) buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
    printf("%s=%s\n", key, buf);
}

static int cmd_pid(void) {
    printf("pid=%d\nppid=%d\n", (int)getpid(), (int)getppid());
    DIR* d = opendir("/proc");
    if (!d) {
        printf("proc_pids=%s\n", errno_name(errno));
    } else {
        int n = 0;
        struct dirent* e;
        while ((e = readdir(d)))
            if (e->d_name[0] && strspn(e->d_name, "0123456789") == strlen(e->d_name)) n++;
        closedir(d);
        printf("proc_pids=%d\n", n);
    }
    print_file_line("pid1_comm", "/proc/1/comm");
    return 0;
}

/* Under /tmp/ one byte is really written; anywhere else only an O_WRONLY open is attempted,
 * so probing /proc/sys or /sys files can never change the kernel's state. */
static int cmd_write(const char* path) {
    int scratch = strncmp(path, "/tmp/", 5) == 0 && !strstr(path, "..");
    int fd = scratch ? open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)
                     : open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) { printf("write=%s\n", errno_name(errno)); return 0; }
    if (scratch && write(fd, "x", 1) != 1) printf("write=%s\n", errno_name(errno));
    else printf("write=OK\n");
    close(fd);
    return 0;
}

static int cmd_hostname(void) {
    struct utsname u;
    if (uname(&u) < 0) { printf("hostname=%s\n", errno_name(errno)); return 0; }
    printf("hostname=%s\ndomainname=%s\n", u.nodename, u.domainname);
    return 0;
}

/* mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER".
 * Prints `mount=MOUNTPOINT FSTYPE OPTIONS` (mount point still \040-escaped). */
static int cmd_mounts(void) {
    FILE* f = fopen("/proc/self/mountinfo", "re");
    if (!f) { printf("mounts=%s\n", errno_name(errno)); return 0; }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char point[1024], opts[512], fstype[128];
        const char* sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %1023s %511s", point, opts) != 2 ||
            sscanf(sep + 3, "%127s", fstype) != 1)
            continue;
        printf("mount=%s %s %s\n", point, fstype, opts);
    }
    fclose(f);
    return 0;
}

/* mknod of a char or block node (default: /dev/null's numbers, c 1:3), then an open: mknod
 * tests CAP_MKNOD and the allowlist's "m", the open tests its "rw". A char node is opened
 * O_RDWR and, only if it is null (1:3), written one byte; a block node is only ever opened
 * read-only, so a broken allowlist cannot make the probe write to a host disk. The node is
 * removed again. */
static int cmd_mknod(const char* path, char type, unsigned maj, unsigned min) {
    mode_t kind = type == 'b' ? S_IFBLK : S_IFCHR;
    if (mknod(path, kind | 0666, makedev(maj, min)) < 0) {
        printf("mknod=%s\n", errno_name(errno));
        return 0;
    }
    printf("mknod=OK\n");
    int fd = open(path, (type == 'b' ? O_RDONLY : O_RDWR | O_NOCTTY | O_NONBLOCK) | O_CLOEXEC);
    printf("open=%s\n", result_name(fd));
    if (fd >= 0 && type == 'c' && maj == 1 && min == 3) printf("write=%s\n", result_name(write(fd, "x", 1)));
    if (fd >= 0) close(fd);
    unlink(path);
    return 0;
}

/* `mknod PATH [c|b MAJ MIN]`; 2 on a malformed node spec. */
static int cmd_mknod_args(int argc, char** argv) {
    if (argc == 3) return cmd_mknod(argv[2], 'c', 1, 3);
    char* end1;
    char* end2;
    if (argc != 6 || (strcmp(argv[3], "c") != 0 && strcmp(argv[3], "b") != 0)) return usage();
    unsigned long maj = strtoul(argv[4], &end1, 10), min = strtoul(argv[5], &end2, 10);
    if (*end1 || *end2 || !*argv[4] || !*argv[5]) return usage();
    return cmd_mknod(argv[2], argv[3][0], (unsigned)maj, (unsigned)min);
}

/* Open an existing node (O_RDWR, no controlling tty, non-blocking): the allowlist for the
 * nodes the runtime provides (/dev/null, /dev/ptmx, /dev/console...). */
static int cmd_open(const char* path) {
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    printf("open=%s\n", result_name(fd));
    if (fd >= 0) close(fd);
    return 0;
}

static int parse_signal(const char* s) {
    static const struct { const char* name; int sig; } sigs[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT},
        {"KILL", SIGKILL}, {"SEGV", SIGSEGV}, {"PIPE", SIGPIPE}, {"TERM", SIGTERM},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"PWR", SIGPWR},
    };
    if (strncmp(s, "SIG", 3) == 0) s += 3;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (strcmp(s, sigs[i].name) == 0) return sigs[i].sig;
    char* end;
    long n = strtol(s, &end, 10);
    return (*s && !*end && n > 0 && n < NSIG) ? (int)n : -1;
}

/* As PID 1 of a pid namespace the kernel drops signals with the default action, so surviving
 * is a result too (exit 1). */
static int cmd_kill_self(const char* s) {
    int sig = parse_signal(s);
    if (sig < 0) { fprintf(stderr, "sysc-probe: bad signal '%s'\n", s); return 2; }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    signal(sig, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    fflush(stdout);
    raise(sig);
    printf("kill-self=survived\n");
    return 1;
}

static int cmd_cat(void) {
    char buf[65536];
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t off = 0; n > 0 && off < n;) {
            ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return 1;
            off += w;
        }
    }
    return n < 0 ? 1 : 0;
}

/* ttyname of stdin, and whether a controlling terminal is reachable through /dev/tty. */
static int cmd_ttyname(void) {
    const char* name = ttyname(STDIN_FILENO);
    printf("ttyname=%s\n", name ? name : errno_name(errno));
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    printf("dev_tty=%s\n", result_name(fd));
    if (fd >= 0) close(fd);
    return 0;
}

static int cmd_env(void) {
    for (char** e = environ; *e; e++) printf("%s\n", *e);
    return 0;
}

static int cmd_dumpable(void) {
    int d = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (d < 0) printf("dumpable=%s\n", errno_name(errno));
    else printf("dumpable=%d\n", d);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const char* cmd = argv[1];
    const char* arg = argc > 2 ? argv[2] : NULL;
    int rc;
    if (strcmp(cmd, "caps") == 0) rc = cmd_caps();
    else if (strcmp(cmd, "seccomp") == 0) rc = cmd_seccomp();
    else if (strcmp(cmd, "pid") == 0) rc = cmd_pid();
    else if (strcmp(cmd, "write") == 0 && arg) rc = cmd_write(arg);
    else if (strcmp(cmd, "hostname") == 0) rc = cmd_hostname();
    else if (strcmp(cmd, "mounts") == 0) rc = cmd_mounts();
    else if (strcmp(cmd, "mknod") == 0 && arg) rc = cmd_mknod_args(argc, argv);
    else if (strcmp(cmd, "open") == 0 && arg) rc = cmd_open(arg);
    else if (strcmp(cmd, "exit") == 0 && arg) return atoi(arg);
    else if (strcmp(cmd, "kill-self") == 0 && arg) rc = cmd_kill_self(arg);
    else if (strcmp(cmd, "cat") == 0) return cmd_cat();
    else if (strcmp(cmd, "ttyname") == 0) rc = cmd_ttyname();
    else if (strcmp(cmd, "env") == 0) rc = cmd_env();
    else if (strcmp(cmd, "dumpable") == 0) rc = cmd_dumpable();
    else if (strcmp(cmd, "keys") == 0) rc = cmd_keys();
    else if (strcmp(cmd, "abi") == 0) rc = cmd_abi();
    else if (strcmp(cmd, "umount") == 0 && arg) rc = cmd_umount(arg);
    else return usage();
    fflush(stdout);
    return rc;
}
