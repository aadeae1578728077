// Privileged ports: the owner of the network namespace, and a short-lived child that takes other
// credentials (a uid, capability sets, ambient capabilities, no_new_privs, a user namespace)
// and then binds or execs, so that the calling process never changes its own.
//
// The child is a copy of a multi-threaded process: it calls only async-signal-safe functions and
// raw system calls, with every signal blocked, and writes its results into a shared page.
#include "bk_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/nsfs.h>
#include <linux/securebits.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NEG_ERRNO (-(errno ? errno : EIO))

// The structs Swift fills or reads field by field: their size and the offset of every field.
_Static_assert(sizeof(bk_netns_owner) == 8, "bk_netns_owner");
BK_FIELD(bk_netns_owner, relation, 0);
BK_FIELD(bk_netns_owner, child_owner_uid, 4);
_Static_assert(sizeof(bk_cred_spec) == 88, "bk_cred_spec");
BK_FIELD(bk_cred_spec, uid, 0);
BK_FIELD(bk_cred_spec, euid, 8);
BK_FIELD(bk_cred_spec, gid, 16);
BK_FIELD(bk_cred_spec, set_caps, 24);
BK_FIELD(bk_cred_spec, permitted, 32);
BK_FIELD(bk_cred_spec, effective, 40);
BK_FIELD(bk_cred_spec, inheritable, 48);
BK_FIELD(bk_cred_spec, ambient, 56);
BK_FIELD(bk_cred_spec, no_new_privs, 64);
BK_FIELD(bk_cred_spec, userns, 68);
BK_FIELD(bk_cred_spec, stdout_path, 72);
BK_FIELD(bk_cred_spec, stderr_path, 80);
_Static_assert(BK_SECBIT_NOROOT == SECBIT_NOROOT, "SECBIT_NOROOT");
// A capability mask is 64 bits: two capset(2) words.
_Static_assert(CAP_LAST_CAP < 64, "capability masks hold 64 capabilities");

extern char **environ;

int bk_securebits(void) {
    int r = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    return r < 0 ? NEG_ERRNO : r;
}

int bk_netns_owner_relation(bk_netns_owner *out) {
    memset(out, 0, sizeof(*out));
    struct stat mine;
    if (stat("/proc/thread-self/ns/user", &mine) < 0) return NEG_ERRNO;
    int net = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (net < 0) return NEG_ERRNO;
    int owner = ioctl(net, NS_GET_USERNS);
    int saved = errno;
    close(net);
    if (owner < 0) {
        // ns_get_owner(): EPERM when the owner is not this user namespace or one below it.
        if (saved == EPERM) {
            out->relation = 2;
            return 0;
        }
        return -saved;
    }
    // Walk up from the owner; reaching our own user namespace makes the owner a descendant.
    int cur = owner;
    for (int depth = 0; depth < 64; depth++) {
        struct stat st;
        if (fstat(cur, &st) < 0) {
            saved = errno;
            close(cur);
            return -saved;
        }
        if (st.st_dev == mine.st_dev && st.st_ino == mine.st_ino) {
            close(cur);
            out->relation = depth == 0 ? 0 : 1;
            if (depth == 0) out->child_owner_uid = 0;
            return 0;
        }
        uid_t ouid = 0;
        if (ioctl(cur, NS_GET_OWNER_UID, &ouid) < 0) ouid = (uid_t)-1;
        int parent = ioctl(cur, NS_GET_PARENT);
        close(cur);
        if (parent < 0) break;
        out->child_owner_uid = (uint32_t)ouid;
        cur = parent;
    }
    out->relation = 2;
    out->child_owner_uid = 0;
    return 0;
}

// MARK: - The child

enum { OP_BIND = 1, OP_EXEC = 2 };
enum {
    STAGE_FILES = 1, STAGE_DUP2, STAGE_KEEPCAPS, STAGE_SETGROUPS, STAGE_SETRESGID, STAGE_SETRESUID, STAGE_CAPSET,
    STAGE_AMBIENT, STAGE_NO_NEW_PRIVS, STAGE_UNSHARE, STAGE_ID_MAP, STAGE_CHILD_GONE
};
enum { CALL_SOCKET = 1, CALL_BIND = 2, CALL_EXEC = 3 };

const char *bk_child_stage_name(int32_t stage) {
    switch (stage) {
    case STAGE_FILES: return "close_range(CLOSE_RANGE_UNSHARE)";
    case STAGE_DUP2: return "opening the output files";
    case STAGE_KEEPCAPS: return "prctl(PR_SET_KEEPCAPS)";
    case STAGE_SETGROUPS: return "setgroups";
    case STAGE_SETRESGID: return "setresgid";
    case STAGE_SETRESUID: return "setresuid";
    case STAGE_CAPSET: return "capset";
    case STAGE_AMBIENT: return "prctl(PR_CAP_AMBIENT_RAISE)";
    case STAGE_NO_NEW_PRIVS: return "prctl(PR_SET_NO_NEW_PRIVS)";
    case STAGE_UNSHARE: return "unshare(CLONE_NEWUSER)";
    case STAGE_ID_MAP: return "uid_map/gid_map";
    case STAGE_CHILD_GONE: return "the child (it ended early)";
    default: return "clone";
    }
}

/// What the child answers, in a page it shares with the caller.
typedef struct child_result {
    int32_t result;
    int32_t stage;
    int32_t call;
} child_result;

/// What the caller asks (the child has its own copy).
typedef struct child_args {
    const bk_cred_spec *spec;
    int op;
    int family;
    int transport;
    uint16_t port;
    const char *const *argv;
    child_result *out;
} child_args;

/// Writes an unsigned decimal (async-signal-safe, unlike snprintf).
static size_t put_uint(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

static int write_file(const char *path, const char *text, size_t len) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return NEG_ERRNO;
    ssize_t w = write(fd, text, len);
    int r = w < 0 ? NEG_ERRNO : 0;
    close(fd);
    return r;
}

/// "0 <id> 1\n" into path.
static int write_map(const char *path, uint64_t id) {
    char line[40] = "0 ";
    size_t n = 2;
    n += put_uint(line + n, id);
    memcpy(line + n, " 1\n", 3);
    return write_file(path, line, n + 3);
}

/// A private descriptor table holding 0-2 only: nothing else of the caller's is referenced.
static int child_files(void) {
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_UNSHARE) == 0) return 0;
    // Before Linux 5.9: a full copy, closed at once.
    if (unshare(CLONE_FILES) < 0) return NEG_ERRNO;
    for (int fd = 3; fd < 65536; fd++) close(fd);
    return 0;
}

static int open_onto(const char *path, int target) {
    if (!path) return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return NEG_ERRNO;
    int r = dup2(fd, target) < 0 ? NEG_ERRNO : 0;
    close(fd);
    return r;
}

/// Takes the credentials of `s`; returns 0, or -errno with *stage set.
static int child_take(const bk_cred_spec *s, int32_t *stage) {
#define STEP(st, expr) do { *stage = (st); if ((expr) < 0) return NEG_ERRNO; } while (0)
    STEP(STAGE_FILES, child_files());
    STEP(STAGE_DUP2, open_onto(s->stdout_path, 1));
    STEP(STAGE_DUP2, open_onto(s->stderr_path, 2));
    if (s->gid >= 0) {
        STEP(STAGE_SETGROUPS, syscall(SYS_setgroups, 0, NULL));
        STEP(STAGE_SETRESGID, syscall(SYS_setresgid, (gid_t)s->gid, (gid_t)s->gid, (gid_t)s->gid));
    }
    if (s->uid >= 0) {
        // Keep the permitted set across the uid change so that capset can keep what was asked;
        // without set_caps the kernel's own rule applies (all dropped when leaving uid 0).
        if (s->set_caps) STEP(STAGE_KEEPCAPS, prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
        uid_t euid = s->euid >= 0 ? (uid_t)s->euid : (uid_t)s->uid;
        STEP(STAGE_SETRESUID, syscall(SYS_setresuid, (uid_t)s->uid, euid, euid));
        if (s->set_caps) STEP(STAGE_KEEPCAPS, prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
    }
    if (s->set_caps) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        memset(d, 0, sizeof(d));
        d[0].effective = (uint32_t)s->effective;
        d[1].effective = (uint32_t)(s->effective >> 32);
        d[0].permitted = (uint32_t)s->permitted;
        d[1].permitted = (uint32_t)(s->permitted >> 32);
        d[0].inheritable = (uint32_t)s->inheritable;
        d[1].inheritable = (uint32_t)(s->inheritable >> 32);
        STEP(STAGE_CAPSET, syscall(SYS_capset, &h, d));
    }
    if (s->set_caps || s->ambient != 0) {
        STEP(STAGE_AMBIENT, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
        for (int c = 0; c < 64; c++) {
            if ((s->ambient >> c) & 1) STEP(STAGE_AMBIENT, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0));
        }
    }
    if (s->no_new_privs) STEP(STAGE_NO_NEW_PRIVS, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    if (s->userns > 0) {
        uint64_t euid = (uint64_t)syscall(SYS_geteuid), egid = (uint64_t)syscall(SYS_getegid);
        // A uid change made the process non-dumpable, which makes /proc/self/*_map root's:
        // dumpable again, it may write its own maps.
        STEP(STAGE_ID_MAP, prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
        STEP(STAGE_UNSHARE, unshare(CLONE_NEWUSER | (s->userns == 2 ? CLONE_NEWNET : 0)));
        STEP(STAGE_ID_MAP, write_map("/proc/self/uid_map", euid));
        STEP(STAGE_ID_MAP, write_file("/proc/self/setgroups", "deny", 4));
        STEP(STAGE_ID_MAP, write_map("/proc/self/gid_map", egid));
    }
#undef STEP
    *stage = 0;
    return 0;
}

static int32_t child_bind(int family, int transport, uint16_t port, int32_t *call) {
    *call = CALL_SOCKET;
    int fd = socket(family, (transport == 1 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) return NEG_ERRNO;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        len = sizeof(*a);
    }
    *call = CALL_BIND;
    int r = bind(fd, (struct sockaddr *)&ss, len) < 0 ? NEG_ERRNO : 0;
    close(fd);
    return r;
}

/// Ends the child. Not _exit(): sanitizer runtimes intercept it and, in a raw clone() child they
/// never heard of, run their end-of-process checks on the parent's copied state (ThreadSanitizer
/// then reports "main thread finished with ignores enabled" and changes the exit status).
static _Noreturn void child_exit(int status) {
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

static int child_main(void *p) {
    child_args *a = p;
    child_result *out = a->out;
    int r = child_take(a->spec, &out->stage);
    if (r < 0) {
        out->result = r;
        child_exit(1);
    }
    if (a->op == OP_BIND) {
        out->result = child_bind(a->family, a->transport, a->port, &out->call);
        child_exit(0);
    }
    // The new program starts with default handlers and no signal blocked.
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL) {
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = SIG_DFL;
            sigaction(sig, &sa, NULL);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(a->argv[0], (char *const *)a->argv, environ);
    out->call = CALL_EXEC;
    out->result = NEG_ERRNO;
    child_exit(127);
}

// MARK: - The caller's side

/// waitpid() for one child; 0, or -errno (ECHILD when someone else reaped it).
static int reap(pid_t pid, int *status) {
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    if (status) *status = st;
    return r < 0 ? NEG_ERRNO : 0;
}

/// Runs the child to its end (or, for an exec, the program's end): clone() with CLONE_FILES, so
/// that no descriptor of the caller is copied until close_range(CLOSE_RANGE_UNSHARE) copies 0-2
/// only. Its own memory (not CLONE_VM: a uid change makes an mm non-dumpable, and the caller's
/// must not change). Returns 0 with *out and *status filled, or -errno of mmap/clone/waitpid.
static int run_child(child_args *a, child_result *out, int *status) {
    const size_t size = 256 * 1024;
    child_result *shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return NEG_ERRNO;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        int e = NEG_ERRNO;
        munmap(shared, sizeof(*shared));
        return e;
    }
    shared->result = -ECHILD;
    shared->stage = STAGE_CHILD_GONE;
    shared->call = 0;
    a->out = shared;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t child = clone(child_main, (char *)stack + size, CLONE_FILES | SIGCHLD, a);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, size);   // the child has its own copy
    int r = child < 0 ? -saved : reap(child, status);
    *out = *shared;
    munmap(shared, sizeof(*shared));
    return r;
}

int bk_bind_as(const bk_cred_spec *spec, int family, int transport, uint16_t port, int32_t *stage, int32_t *call) {
    child_args a = {.spec = spec, .op = OP_BIND, .family = family, .transport = transport, .port = port};
    child_result out;
    int status = 0;
    int r = run_child(&a, &out, &status);
    *stage = r < 0 ? 0 : out.stage;
    *call = out.call;
    if (r < 0) return r;
    if (out.stage != 0) return out.result;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *stage = STAGE_CHILD_GONE;
        return -ECHILD;
    }
    return out.result;
}

int bk_exec_as(const bk_cred_spec *spec, const char *const *argv, int32_t *stage) {
    if (!argv || !argv[0]) return -EINVAL;
    child_args a = {.spec = spec, .op = OP_EXEC, .argv = argv};
    child_result out;
    int status = 0;
    int r = run_child(&a, &out, &status);
    *stage = r < 0 ? 0 : out.stage;
    if (r < 0) return r;
    // A credential step or execve() failed: the child said so before it ended.
    if (out.stage != 0 || out.call == CALL_EXEC) return out.result;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -EIO;
}
