#define _GNU_SOURCE /* accept4 */
/* The host side as Unix sockets (Firecracker / vhost-device-vsock
 * convention), in process: a guest connect to port P reaches PREFIX_P, a
 * host "CONNECT P" at PREFIX reaches a guest listener, bytes and half-closes
 * travel both ways within bounded buffers and the guest's credit, seqpacket
 * keeps message boundaries; and the real `vsocksim vhost-user` program over
 * a real Unix socket survives a hostile front end. */
#include "vhostuser/vu_fe_testlib.h"

#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "hv"

static struct vu_backend *backend(void)
{
    struct vu_cfg cfg = {.guest_cid = FE_CID, .uds_path = PREFIX};
    int err;
    struct vu_backend *b = vu_new(&cfg, &err);
    ATF_REQUIRE_MSG(b != NULL, "vu_new: %d", err);
    return b;
}

static void running(struct vu_backend *b, struct fe *fe)
{
    int sv[2];
    ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ATF_REQUIRE(vu_attach(b, sv[1]) == 0);
    fe_init(fe, sv[0], b);
    ATF_REQUIRE(fe_setup(fe));
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int unix_sock(int type, const char *path, bool listening)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    ATF_REQUIRE(fd >= 0);
    if (listening)
        ATF_REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0);
    else
        ATF_REQUIRE_MSG(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
                        path, strerror(errno));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Runs guest and backend until the Unix fd has something (or ms pass). */
static bool step_until_readable(struct fe *fe, int fd, int ms)
{
    uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
    while (now_ns() < end) {
        fe_guest_step(fe, 1);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0)
            return true;
    }
    return false;
}

static int accept_unix(struct fe *fe, int lfd)
{
    step_until_readable(fe, lfd, 2000);
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ATF_REQUIRE_MSG(fd >= 0, "no Unix connection came: %s", strerror(errno));
    return fd;
}

static ssize_t read_some(struct fe *fe, int fd, void *buf, size_t len)
{
    if (!step_until_readable(fe, fd, 2000))
        return -1;
    return recv(fd, buf, len, 0);
}

/* Guest side: recv with the world running. */
static int64_t guest_recv(struct fe *fe, int gfd, void *buf, size_t len, unsigned *fl)
{
    struct vep *g = vdrv_sockets(fe->drv);
    uint64_t end = now_ns() + 2000000000ull;
    for (;;) {
        int64_t r = vep_recv(g, gfd, buf, len, 0, fl);
        if (r != -EAGAIN || now_ns() > end)
            return r;
        fe_guest_step(fe, 1);
    }
}

static void guest_send_all(struct fe *fe, int gfd, const void *buf, size_t len, unsigned flags)
{
    struct vep *g = vdrv_sockets(fe->drv);
    size_t off = 0;
    uint64_t end = now_ns() + 5000000000ull;
    while (off < len && now_ns() < end) {
        int64_t r = vep_send(g, gfd, (const uint8_t *)buf + off, len - off, flags);
        if (r > 0)
            off += (size_t)r;
        else
            ATF_REQUIRE_MSG(r == -EAGAIN, "guest send: %lld", (long long)r);
        fe_guest_step(fe, 1);
    }
    ATF_REQUIRE_EQ(off, len);
}

ATF_TC_WITHOUT_HEAD(guest_connects_to_prefix_port);
ATF_TC_BODY(guest_connects_to_prefix_port, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    running(b, &fe);
    int lfd = unix_sock(SOCK_STREAM, PREFIX "_5000", true);
    int gfd;
    ATF_REQUIRE_EQ(fe_guest_connect(&fe, 5000, &gfd, 2000), 0);
    int ufd = accept_unix(&fe, lfd);
    guest_send_all(&fe, gfd, "hello", 5, 0);
    char buf[16] = {0};
    ATF_CHECK_EQ(read_some(&fe, ufd, buf, sizeof(buf)), 5);
    ATF_CHECK_STREQ(buf, "hello");
    ATF_CHECK_EQ(send(ufd, "world!", 6, 0), 6);
    unsigned fl;
    memset(buf, 0, sizeof(buf));
    ATF_CHECK_EQ(guest_recv(&fe, gfd, buf, sizeof(buf), &fl), 6);
    ATF_CHECK_STREQ(buf, "world!");
    /* The guest closes: the Unix side reads the end. */
    vep_close(vdrv_sockets(fe.drv), gfd, now_ns());
    ATF_CHECK_EQ(read_some(&fe, ufd, buf, sizeof(buf)), 0);
    close(ufd);
    close(lfd);
    ATF_CHECK_EQ(vu_stats(b)->bridged, 1);
    fe_fini(&fe);
    vu_free(b);
}

ATF_TC_WITHOUT_HEAD(guest_connect_without_listener_is_reset);
ATF_TC_BODY(guest_connect_without_listener_is_reset, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    running(b, &fe);
    int gfd;
    ATF_CHECK_EQ(fe_guest_connect(&fe, 5001, &gfd, 2000), -ECONNRESET);
    /* A listener that went away after an earlier connection: RST too. */
    int lfd = unix_sock(SOCK_STREAM, PREFIX "_5002", true);
    ATF_REQUIRE_EQ(fe_guest_connect(&fe, 5002, &gfd, 2000), 0);
    close(lfd);
    unlink(PREFIX "_5002");
    int gfd2;
    ATF_CHECK_EQ(fe_guest_connect(&fe, 5002, &gfd2, 2000), -ECONNRESET);
    ATF_CHECK(vu_stats(b)->bridge_refused >= 2);
    fe_fini(&fe);
    vu_free(b);
}

static int guest_listen(struct fe *fe, uint32_t port, int type)
{
    struct vep *g = vdrv_sockets(fe->drv);
    int l = vep_socket(g, type);
    ATF_REQUIRE(l >= 0 && vep_bind(g, l, port) == 0 && vep_listen(g, l, 4) == 0);
    return l;
}

static int guest_accept(struct fe *fe, int l)
{
    uint64_t end = now_ns() + 2000000000ull;
    for (;;) {
        int a = vep_accept(vdrv_sockets(fe->drv), l, NULL, NULL);
        if (a >= 0 || now_ns() > end)
            return a;
        fe_guest_step(fe, 1);
    }
}

ATF_TC_WITHOUT_HEAD(host_connect_reaches_guest_listener);
ATF_TC_BODY(host_connect_reaches_guest_listener, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    running(b, &fe);
    int l = guest_listen(&fe, 6000, VSOCK_TYPE_STREAM);
    int ufd = unix_sock(SOCK_STREAM, PREFIX, false);
    const char req[] = "CONNECT 6000\nearly bytes";
    ATF_REQUIRE_EQ(send(ufd, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
    char buf[64] = {0};
    ssize_t n = read_some(&fe, ufd, buf, sizeof(buf) - 1);
    unsigned port;
    ATF_CHECK_MSG(n > 0 && sscanf(buf, "OK %u\n", &port) == 1 && port > 1023, "reply '%s'", buf);
    int a = guest_accept(&fe, l);
    ATF_REQUIRE(a >= 0);
    unsigned fl;
    memset(buf, 0, sizeof(buf));
    ATF_CHECK_EQ(guest_recv(&fe, a, buf, sizeof(buf), &fl), 11);
    ATF_CHECK_STREQ(buf, "early bytes");
    /* Half-close from the host: the guest reads the end, then answers. */
    shutdown(ufd, SHUT_WR);
    ATF_CHECK_EQ(guest_recv(&fe, a, buf, sizeof(buf), &fl), 0);
    guest_send_all(&fe, a, "bye", 3, 0);
    vep_close(vdrv_sockets(fe.drv), a, now_ns());
    memset(buf, 0, sizeof(buf));
    ATF_CHECK_EQ(read_some(&fe, ufd, buf, sizeof(buf)), 3);
    ATF_CHECK_STREQ(buf, "bye");
    ATF_CHECK_EQ(read_some(&fe, ufd, buf, sizeof(buf)), 0);
    close(ufd);
    fe_fini(&fe);
    vu_free(b);
}

ATF_TC_WITHOUT_HEAD(host_connect_refused_or_malformed_closes);
ATF_TC_BODY(host_connect_refused_or_malformed_closes, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    running(b, &fe);
    static const char *const lines[] = {"CONNECT 6001\n", "HELLO 6000\n", "CONNECT\n",
                                        "CONNECT 99999999999\n", "CONNECT -1\n",
                                        "CONNECT 6000 extra\n",
                                        "CONNECT 60000000000000000000000000000000000000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        int ufd = unix_sock(SOCK_STREAM, PREFIX, false);
        ATF_REQUIRE(send(ufd, lines[i], strlen(lines[i]), 0) > 0);
        char buf[64];
        ssize_t n = read_some(&fe, ufd, buf, sizeof(buf));
        ATF_CHECK_MSG(n == 0 || (n < 0 && errno == ECONNRESET), "'%s': got %zd, not closed",
                      lines[i], n);
        close(ufd);
    }
    ATF_CHECK(vu_stats(b)->bridge_refused >= sizeof(lines) / sizeof(lines[0]) - 1);
    fe_fini(&fe);
    vu_free(b);
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* 1 MiB each way at once through one connection, checked by hash, with the
 * guest reading slowly enough that credit and the bridge's bounds matter. */
ATF_TC_WITHOUT_HEAD(bulk_both_ways);
ATF_TC_BODY(bulk_both_ways, tc)
{
    enum { N = 1 << 20 };
    struct vu_backend *b = backend();
    struct fe fe;
    running(b, &fe);
    struct vep *g = vdrv_sockets(fe.drv);
    int l = guest_listen(&fe, 6100, VSOCK_TYPE_STREAM);
    int ufd = unix_sock(SOCK_STREAM, PREFIX, false);
    ATF_REQUIRE(send(ufd, "CONNECT 6100\n", 13, 0) == 13);
    char line[32] = {0};
    ATF_REQUIRE(read_some(&fe, ufd, line, 3) == 3 && memcmp(line, "OK ", 3) == 0);
    while (read_some(&fe, ufd, line, 1) == 1 && line[0] != '\n') {
    }
    int a = guest_accept(&fe, l);
    ATF_REQUIRE(a >= 0);
    static uint8_t h2g[N], g2h[N];
    for (size_t i = 0; i < N; i++) {
        h2g[i] = (uint8_t)(i * 7 + i / 251);
        g2h[i] = (uint8_t)(i * 13 + i / 241);
    }
    size_t hs = 0, hr = 0, gs = 0, gr = 0;
    uint64_t hh = 0xcbf29ce484222325ull, gh = hh;
    static uint8_t buf[65536];
    uint64_t end = now_ns() + 60000000000ull;
    while ((hr < N || gr < N) && now_ns() < end) {
        if (hs < N) {
            ssize_t n = send(ufd, h2g + hs, N - hs > 30000 ? 30000 : N - hs, MSG_DONTWAIT);
            hs += n > 0 ? (size_t)n : 0;
        }
        if (gs < N) {
            int64_t r = vep_send(g, a, g2h + gs, N - gs > 20000 ? 20000 : N - gs, 0);
            gs += r > 0 ? (size_t)r : 0;
        }
        ssize_t n = recv(ufd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            hh = fnv(hh, buf, (size_t)n);
            hr += (size_t)n;
        }
        unsigned fl;
        int64_t r = vep_recv(g, a, buf, 7000, 0, &fl); /* a slow reader */
        if (r > 0) {
            gh = fnv(gh, buf, (size_t)r);
            gr += (size_t)r;
        }
        fe_guest_step(&fe, 0);
    }
    ATF_CHECK_EQ(hr, (size_t)N);
    ATF_CHECK_EQ(gr, (size_t)N);
    ATF_CHECK_EQ(hh, fnv(0xcbf29ce484222325ull, g2h, N));
    ATF_CHECK_EQ(gh, fnv(0xcbf29ce484222325ull, h2g, N));
    ATF_CHECK_EQ(vu_stats(b)->bytes_to_guest, (uint64_t)N);
    ATF_CHECK_EQ(vu_stats(b)->bytes_to_host, (uint64_t)N + strlen("OK 1024\n"));
    close(ufd);
    fe_fini(&fe);
    vu_free(b);
}

ATF_TC_WITHOUT_HEAD(seqpacket_keeps_boundaries);
ATF_TC_BODY(seqpacket_keeps_boundaries, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    running(b, &fe);
    struct vep *g = vdrv_sockets(fe.drv);
    int lfd = unix_sock(SOCK_SEQPACKET, PREFIX "_7000", true);
    int gfd = vep_socket(g, VSOCK_TYPE_SEQPACKET);
    ATF_REQUIRE(gfd >= 0);
    ATF_REQUIRE_EQ(vep_connect(g, gfd, VSOCK_CID_HOST, 7000, now_ns()), -EINPROGRESS);
    int ufd = accept_unix(&fe, lfd);
    for (int i = 0; i < 200 && vep_sock_state(g, gfd) != VEP_SS_CONNECTED; i++)
        fe_guest_step(&fe, 1);
    ATF_REQUIRE(vep_sock_state(g, gfd) == VEP_SS_CONNECTED);
    static uint8_t msg[3000];
    memset(msg, 'm', sizeof(msg));
    const size_t sizes[] = {10, 3000, 1};
    for (size_t i = 0; i < 3; i++)
        guest_send_all(&fe, gfd, msg, sizes[i], VEP_MSG_EOR);
    uint8_t buf[4096];
    for (size_t i = 0; i < 3; i++)
        ATF_CHECK_EQ(read_some(&fe, ufd, buf, sizeof(buf)), (ssize_t)sizes[i]);
    ATF_CHECK_EQ(send(ufd, msg, 100, 0), 100);
    ATF_CHECK_EQ(send(ufd, msg, 7, 0), 7);
    unsigned fl = 0;
    ATF_CHECK_EQ(guest_recv(&fe, gfd, buf, sizeof(buf), &fl), 100);
    ATF_CHECK(fl & VEP_MSG_EOR);
    ATF_CHECK_EQ(guest_recv(&fe, gfd, buf, sizeof(buf), &fl), 7);
    close(ufd);
    close(lfd);
    fe_fini(&fe);
    vu_free(b);
}

/* ---- the real program over a real Unix socket ---- */

static pid_t spawn_backend(const char *prog)
{
    pid_t pid = fork();
    ATF_REQUIRE(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (getenv("VU_TEST_LOG") == NULL && null >= 0)
            dup2(null, 2);
        execl(prog, prog, "vhost-user", "--socket", "fe.sock", "--cid", "3", "--uds-path", PREFIX,
              "--max-connections", "3", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && access("fe.sock", F_OK) != 0; i++)
        usleep(10000);
    return pid;
}

/* The socket's file appears at bind(), a moment before listen(): under
 * load a connect can fall in between (ECONNREFUSED), so it is retried for
 * up to 2 s. */
static int connect_fe(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "fe.sock"};
    int err = 0;
    for (int i = 0; i < 200; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ATF_REQUIRE(fd >= 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        err = errno;
        close(fd);
        if (err != ECONNREFUSED && err != ENOENT)
            break;
        usleep(10000);
    }
    atf_tc_fail("connect: %s", strerror(err));
}

ATF_TC(program_survives_hostile_front_ends);
ATF_TC_HEAD(program_survives_hostile_front_ends, tc)
{
    atf_tc_set_md_var(tc, "descr", "vsocksim vhost-user as a child: bad front ends, then a good one");
    atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(program_survives_hostile_front_ends, tc)
{
    const char *prog = atf_tc_get_config_var_wd(tc, "vsocksim", "");
    if (prog[0] == '\0')
        atf_tc_skip("no vsocksim (kyua -v test_suites.vsocksim.vsocksim=PATH)");
    pid_t pid = spawn_backend(prog);
    /* 1: a wrong size; 2: gone in the middle of the memory table. */
    struct fe fe;
    fe_init(&fe, connect_fe(), NULL);
    uint8_t u[4] = {0};
    fe_send(&fe, VU_SET_VRING_NUM, VU_VERSION, u, 4, NULL, 0);
    ATF_CHECK(fe_closed(&fe, 3000));
    fe_fini(&fe);
    fe_init(&fe, connect_fe(), NULL);
    uint8_t mt[8 + 64];
    uint32_t size = fe_mem_table(&fe, mt, 2);
    uint8_t hdr[12] = {VU_SET_MEM_TABLE, 0, 0, 0, VU_VERSION, 0, 0, 0, (uint8_t)size};
    fe_send_raw(&fe, hdr, sizeof(hdr));
    fe_send_raw(&fe, mt, 20);
    fe_fini(&fe);
    /* 3: a correct front end, and a REQUEST through the ring answered with
     * RST; then a guest connect bridged to PREFIX_8000. */
    fe_init(&fe, connect_fe(), NULL);
    ATF_REQUIRE(fe_setup(&fe));
    ATF_CHECK(fe_request_answered(&fe));
    int lfd = unix_sock(SOCK_STREAM, PREFIX "_8000", true);
    int gfd;
    ATF_CHECK_EQ(fe_guest_connect(&fe, 8000, &gfd, 3000), 0);
    int ufd = accept_unix(&fe, lfd);
    guest_send_all(&fe, gfd, "through the program", 19, 0);
    char buf[32] = {0};
    ATF_CHECK_EQ(read_some(&fe, ufd, buf, sizeof(buf)), 19);
    close(ufd);
    close(lfd);
    fe_fini(&fe);
    int st = 0;
    for (int i = 0; i < 300 && waitpid(pid, &st, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        ATF_CHECK_MSG(false, "the backend did not exit after 3 front ends");
    } else {
        ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "backend status %d", st);
    }
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, guest_connects_to_prefix_port);
    ATF_TP_ADD_TC(tp, guest_connect_without_listener_is_reset);
    ATF_TP_ADD_TC(tp, host_connect_reaches_guest_listener);
    ATF_TP_ADD_TC(tp, host_connect_refused_or_malformed_closes);
    ATF_TP_ADD_TC(tp, bulk_both_ways);
    ATF_TP_ADD_TC(tp, seqpacket_keeps_boundaries);
    ATF_TP_ADD_TC(tp, program_survives_hostile_front_ends);
    return atf_no_error();
}
