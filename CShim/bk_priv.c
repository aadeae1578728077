// Privileged ports: the owner of the network namespace, and a forked child that takes other
// credentials (a uid, capability sets, ambient capabilities, no_new_privs, a user namespace)
// and then binds or execs on command, so that the calling process never changes its own.
//
// Between fork() and execve() the child calls only async-signal-safe functions and raw
// system calls: the parent is multi-threaded.
#include "bk_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NEG_ERRNO (-(errno ? errno : EIO))

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

enum { CMD_BIND = 1, CMD_EXEC = 2, CMD_QUIT = 3 };
enum {
    STAGE_DUP2 = 1, STAGE_KEEPCAPS, STAGE_SETGROUPS, STAGE_SETRESGID, STAGE_SETRESUID, STAGE_CAPSET,
    STAGE_AMBIENT, STAGE_NO_NEW_PRIVS, STAGE_UNSHARE, STAGE_ID_MAP, STAGE_CHILD_GONE
};

typedef struct child_cmd {
    int32_t op;
    int32_t family;
    int32_t transport;
    uint32_t port;
    uint32_t len;   // bytes of argv that follow (CMD_EXEC)
} child_cmd;

#define EXEC_MAX_BYTES 16384
#define EXEC_MAX_ARGS 128

const char *bk_child_stage_name(int32_t stage) {
    switch (stage) {
    case STAGE_DUP2: return "dup2";
    case STAGE_KEEPCAPS: return "prctl(PR_SET_KEEPCAPS)";
    case STAGE_SETGROUPS: return "setgroups";
    case STAGE_SETRESGID: return "setresgid";
    case STAGE_SETRESUID: return "setresuid";
    case STAGE_CAPSET: return "capset";
    case STAGE_AMBIENT: return "prctl(PR_CAP_AMBIENT_RAISE)";
    case STAGE_NO_NEW_PRIVS: return "prctl(PR_SET_NO_NEW_PRIVS)";
    case STAGE_UNSHARE: return "unshare(CLONE_NEWUSER)";
    case STAGE_ID_MAP: return "uid_map/gid_map";
    case STAGE_CHILD_GONE: return "fork (the child ended early)";
    default: return "fork";
    }
}

static int send_all(int fd, const void *p, size_t n) {
    const char *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return NEG_ERRNO;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/// Reads exactly n bytes; returns n, 0 at end of file before the first byte, or -errno.
static ssize_t recv_all(int fd, void *p, size_t n) {
    char *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, b + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return NEG_ERRNO;
        }
        if (r == 0) return got == 0 ? 0 : -EPIPE;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void reply(int fd, int32_t result, int32_t detail) {
    int32_t r[2] = {result, detail};
    (void)send_all(fd, r, sizeof(r));
}

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

static void close_others(int keep) {
    // Descriptors 0-2 stay; everything else but `keep` goes (other threads' pipes included).
    if (keep > 3) syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U);
    int from = keep < 3 ? 3 : keep + 1;
    if (syscall(SYS_close_range, (unsigned)from, ~0U, 0U) < 0) {
        for (int fd = from; fd < 4096; fd++) close(fd);
    }
}

/// Takes the credentials of `s`; returns 0, or -errno with *stage set.
static int child_take(const bk_cred_spec *s, int32_t *stage) {
#define STEP(st, expr) do { *stage = (st); if ((expr) < 0) return NEG_ERRNO; } while (0)
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
    *call = 1;
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
    *call = 2;
    int r = bind(fd, (struct sockaddr *)&ss, len) < 0 ? NEG_ERRNO : 0;
    close(fd);
    return r;
}

static char exec_buf[EXEC_MAX_BYTES];

static void child_exec(int fd, uint32_t len) {
    if (len == 0 || len > EXEC_MAX_BYTES || recv_all(fd, exec_buf, len) != (ssize_t)len) {
        reply(fd, -EINVAL, 3);
        return;
    }
    char *argv[EXEC_MAX_ARGS + 1];
    int argc = 0;
    size_t i = 0;
    while (i < len && argc < EXEC_MAX_ARGS) {
        argv[argc++] = &exec_buf[i];
        while (i < len && exec_buf[i] != 0) i++;
        i++;
    }
    argv[argc] = NULL;
    if (exec_buf[len - 1] != 0) {
        reply(fd, -EINVAL, 3);
        return;
    }
    execve(argv[0], argv, environ);
    reply(fd, NEG_ERRNO, 3);
}

static _Noreturn void child_main(const bk_cred_spec *s, int fd) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int32_t stage = STAGE_DUP2;
    if ((s->stdout_fd >= 0 && dup2(s->stdout_fd, 1) < 0) || (s->stderr_fd >= 0 && dup2(s->stderr_fd, 2) < 0)) {
        reply(fd, NEG_ERRNO, stage);
        _exit(1);
    }
    close_others(fd);
    int r = child_take(s, &stage);
    reply(fd, r, stage);
    if (r < 0) _exit(1);
    for (;;) {
        child_cmd c;
        if (recv_all(fd, &c, sizeof(c)) != (ssize_t)sizeof(c)) _exit(0);
        switch (c.op) {
        case CMD_BIND: {
            int32_t call = 0;
            int32_t result = child_bind(c.family, c.transport, (uint16_t)c.port, &call);
            reply(fd, result, call);
            break;
        }
        case CMD_EXEC:
            child_exec(fd, c.len);
            break;
        default:
            _exit(0);
        }
    }
}

// MARK: - The parent's side

/// waitpid() for one child; 0, or -errno (ECHILD when someone else reaped it).
static int reap(pid_t pid, int *status) {
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    if (status) *status = st;
    return r < 0 ? NEG_ERRNO : 0;
}

int bk_child_start(const bk_cred_spec *spec, bk_child *out, int32_t *stage) {
    out->pid = -1;
    out->fd = -1;
    *stage = 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return NEG_ERRNO;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    if (pid == 0) child_main(spec, sv[1]);
    close(sv[1]);
    int32_t r[2];
    ssize_t n = recv_all(sv[0], r, sizeof(r));
    if (n != (ssize_t)sizeof(r) || r[0] != 0) {
        close(sv[0]);
        reap(pid, NULL);
        if (n != (ssize_t)sizeof(r)) {
            *stage = STAGE_CHILD_GONE;
            return n < 0 ? (int)n : -ECHILD;
        }
        *stage = r[1];
        return r[0];
    }
    out->pid = pid;
    out->fd = sv[0];
    return 0;
}

int bk_child_bind(bk_child *c, int family, int transport, uint16_t port, int32_t *call) {
    *call = 0;
    if (c->pid <= 0 || c->fd < 0) return -ECHILD;
    child_cmd cmd = {CMD_BIND, family, transport, port, 0};
    int s = send_all(c->fd, &cmd, sizeof(cmd));
    if (s < 0) return s;
    int32_t r[2];
    ssize_t n = recv_all(c->fd, r, sizeof(r));
    if (n != (ssize_t)sizeof(r)) return n < 0 ? (int)n : -ECHILD;
    *call = r[1];
    return r[0];
}

int bk_child_exec(bk_child *c, const char *const *argv, int32_t argc) {
    if (c->pid <= 0 || c->fd < 0) return -ECHILD;
    if (argc < 1 || argc > EXEC_MAX_ARGS) return -E2BIG;
    size_t len = 0;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    if (len > EXEC_MAX_BYTES) return -E2BIG;
    child_cmd cmd = {CMD_EXEC, 0, 0, 0, (uint32_t)len};
    int s = send_all(c->fd, &cmd, sizeof(cmd));
    for (int i = 0; i < argc && s == 0; i++) s = send_all(c->fd, argv[i], strlen(argv[i]) + 1);
    if (s < 0) {
        bk_child_finish(c);
        return s;
    }
    int32_t r[2];
    ssize_t n = recv_all(c->fd, r, sizeof(r));
    if (n == (ssize_t)sizeof(r)) {
        // execve() failed; the child still waits.
        bk_child_finish(c);
        return r[0] < 0 ? r[0] : -EIO;
    }
    // End of file: the close-on-exec end went away with a successful execve().
    close(c->fd);
    c->fd = -1;
    int status = 0;
    int waited = reap(c->pid, &status);
    c->pid = -1;
    if (waited < 0) return waited;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -EIO;
}

int bk_child_finish(bk_child *c) {
    if (c->fd >= 0) {
        child_cmd cmd = {CMD_QUIT, 0, 0, 0, 0};
        (void)send_all(c->fd, &cmd, sizeof(cmd));
        close(c->fd);
        c->fd = -1;
    }
    if (c->pid > 0) {
        reap(c->pid, NULL);
        c->pid = -1;
    }
    return 0;
}
