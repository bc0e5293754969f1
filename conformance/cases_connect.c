/* Connection set-up, refusal and teardown through the sockets of both
 * sides (5.10.6.5: REQUEST answered by RESPONSE from a listener, RST when
 * nobody listens; Linux reports a refused connect as ECONNRESET). */
#include "conformance/conf_case.h"

static void exchange(struct conf *c, const struct conf_pair *p, uint32_t tag)
{
    enum conf_side srv = conf_other(p->client_side);
    uint8_t out[300], in[300];
    conf_fill(out, sizeof(out), tag, 0);
    CONF_SEND_ALL(c, p->client_side, p->client, out, sizeof(out));
    CONF_RECV_EXACT(c, srv, p->server, in, sizeof(in));
    CONF_REQUIRE_EQ(c, conf_check(in, sizeof(in), tag, 0), sizeof(in));
    conf_fill(out, sizeof(out), tag + 1, 0);
    CONF_SEND_ALL(c, srv, p->server, out, sizeof(out));
    CONF_RECV_EXACT(c, p->client_side, p->client, in, sizeof(in));
    CONF_REQUIRE_EQ(c, conf_check(in, sizeof(in), tag + 1, 0), sizeof(in));
}

CONF_CASE(connect_stream_guest_to_host, "VS-S1", CONF_ALL, 0,
          "a guest stream socket connects to a host listener and data flows both ways")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5000, &p);
    exchange(c, &p, 1);
}

CONF_CASE(connect_stream_host_to_guest, "VS-S1", CONF_ALL, 0,
          "a host stream socket connects to a guest listener and data flows both ways")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_HOST, VSOCK_TYPE_STREAM, 5001, &p);
    exchange(c, &p, 2);
}

CONF_CASE(connect_seqpacket_both_ways, "VS-S1 VS-Q1", CONF_ALL, 0,
          "seqpacket connections in both directions carry a message each way")
{
    for (int dir = 0; dir < 2; dir++) {
        struct conf_pair p;
        enum conf_side cl = dir == 0 ? CONF_GUEST : CONF_HOST;
        CONF_PAIR(c, cl, VSOCK_TYPE_SEQPACKET, 5002 + (uint32_t)dir, &p);
        uint8_t msg[100], in[200];
        conf_fill(msg, sizeof(msg), 3, 0);
        CONF_SEND_ALL(c, cl, p.client, msg, sizeof(msg));
        unsigned fl;
        int64_t n = CONF_RECV_MSG(c, conf_other(cl), p.server, in, sizeof(in), 0, &fl);
        CONF_REQUIRE_RET(c, n, (int64_t)sizeof(msg));
        CONF_REQUIRE(c, memcmp(in, msg, sizeof(msg)) == 0);
    }
}

CONF_CASE(connect_refused_guest_to_host, "VS-S1 VS-S3", CONF_ALL, 0,
          "connecting to a host port nobody listens on fails with ECONNRESET (Linux)")
{
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5010, &fd), -ECONNRESET);
}

CONF_CASE(connect_refused_host_to_guest, "VS-S1 VS-S3", CONF_ALL, 0,
          "connecting to a guest port nobody listens on fails with ECONNRESET (Linux)")
{
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_HOST, VSOCK_TYPE_STREAM, 5011, &fd), -ECONNRESET);
}

CONF_CASE(connect_type_mismatch, "VS-S1 VS-S3", CONF_ALL, 0,
          "a stream connect to a seqpacket listener is refused with ECONNRESET, and the reverse")
{
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 5020, 4);
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5020, &fd), -ECONNRESET);
    lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5021, 4);
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 5021, &fd),
                     -ECONNRESET);
    CONF_REQUIRE_RET(c, conf_accept(c, CONF_GUEST, lfd), -EAGAIN);
}

CONF_CASE(connect_backlog_limit, "VS-S1", CONF_ALL, 0,
          "a listener with backlog N holds N+1 pending connections (Linux); the next is refused "
          "with RST, and an accept makes room again")
{
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 5030, 1);
    int fd[4];
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5030, &fd[0]), 0);
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5030, &fd[1]), 0);
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5030, &fd[2]),
                     -ECONNRESET);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    CONF_REQUIRE(c, a >= 0);
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5030, &fd[3]), 0);
}

CONF_CASE(connect_peer_addresses, "VS-08 VS-10 VS-I3", CONF_ALL, 0,
          "the guest CID is not reserved, and both ends see the right peer CID and ports")
{
    uint64_t g = conf_guest_cid(c);
    CONF_REQUIRE(c, g > VSOCK_CID_HOST && g != VSOCK_CID_ANY && g != UINT64_MAX);
    for (int dir = 0; dir < 2; dir++) {
        struct conf_pair p;
        enum conf_side cl = dir == 0 ? CONF_GUEST : CONF_HOST;
        CONF_PAIR(c, cl, VSOCK_TYPE_STREAM, 5040 + (uint32_t)dir, &p);
        uint64_t cid;
        uint32_t port, local;
        CONF_REQUIRE_RET(c, conf_peer_name(c, conf_other(cl), p.server, &cid, &port), 0);
        CONF_REQUIRE_EQ(c, cid, conf_peer_cid(c, conf_other(cl)));
        CONF_REQUIRE_RET(c, conf_local_port(c, cl, p.client, &local), 0);
        CONF_REQUIRE_EQ(c, port, local);
        CONF_REQUIRE_RET(c, conf_peer_name(c, cl, p.client, &cid, &port), 0);
        CONF_REQUIRE_EQ(c, cid, conf_peer_cid(c, cl));
        CONF_REQUIRE_EQ(c, port, 5040 + (uint32_t)dir);
    }
}

CONF_CASE(connect_ephemeral_ports, "VS-S1 VS-I8", CONF_ALL, 0,
          "unbound client sockets get distinct ports above the reserved range, so flows differ")
{
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 5050, 16);
    uint32_t ports[8];
    for (int i = 0; i < 8; i++) {
        int fd;
        CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5050, &fd), 0);
        CONF_REQUIRE_RET(c, conf_local_port(c, CONF_GUEST, fd, &ports[i]), 0);
        CONF_REQUIRE(c, ports[i] > VSOCK_LAST_RESERVED_PORT && ports[i] != VSOCK_PORT_ANY);
        for (int j = 0; j < i; j++)
            CONF_REQUIRE_MSG(c, ports[i] != ports[j], "ports %d and %d are both %u", i, j,
                             ports[i]);
        CONF_REQUIRE(c, CONF_ACCEPT(c, CONF_HOST, lfd) >= 0);
    }
}

CONF_CASE(connect_many_both_ways, "VS-S1 VS-02 VS-03", CONF_ALL, 0,
          "64 connections each way at once, each carrying its own bytes in both directions")
{
    enum { N = 64 };
    int lg = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5060, N);
    int lh = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 5061, N);
    int cl[2][N], sv[2][N];
    for (int i = 0; i < N; i++) {
        cl[0][i] = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
        cl[1][i] = conf_socket(c, CONF_HOST, VSOCK_TYPE_STREAM);
        CONF_REQUIRE_RET(c, conf_connect(c, CONF_GUEST, cl[0][i], VSOCK_CID_HOST, 5061),
                         -EINPROGRESS);
        CONF_REQUIRE_RET(c, conf_connect(c, CONF_HOST, cl[1][i], conf_guest_cid(c), 5060),
                         -EINPROGRESS);
    }
    for (int i = 0; i < N; i++) {
        sv[0][i] = CONF_ACCEPT(c, CONF_HOST, lh);
        sv[1][i] = CONF_ACCEPT(c, CONF_GUEST, lg);
    }
    /* Each server echoes what its client sent, whichever client that is:
     * every client must get its own byte back. */
    for (int d = 0; d < 2; d++) {
        enum conf_side cs = d == 0 ? CONF_GUEST : CONF_HOST;
        for (int i = 0; i < N; i++) {
            uint8_t b = (uint8_t)(i + 1);
            CONF_WAIT_POLL(c, cs, cl[d][i], VEP_POLLOUT); /* connected */
            CONF_SEND_ALL(c, cs, cl[d][i], &b, 1);
        }
        for (int i = 0; i < N; i++) {
            uint8_t x;
            CONF_RECV_EXACT(c, conf_other(cs), sv[d][i], &x, 1);
            CONF_SEND_ALL(c, conf_other(cs), sv[d][i], &x, 1);
        }
        for (int i = 0; i < N; i++) {
            uint8_t y;
            CONF_RECV_EXACT(c, cs, cl[d][i], &y, 1);
            CONF_REQUIRE_EQ(c, y, i + 1);
        }
    }
}

struct rst_watch {
    uint64_t before;
};

static bool guest_saw_stale_rst(struct conf *c, void *arg)
{
    const struct rst_watch *w = arg;
    return conf_drops(c, CONF_GUEST, VEP_DROP_RST_NO_SOCKET) > w->before;
}

/* After a guest close, the host application's close answers the guest's
 * full SHUTDOWN with one more RST (Linux's virtio_transport_close does so
 * for a peer that has shut down both ways). Reusing the client port before
 * that RST has landed lets it reset the next connection, on Linux as in our
 * model, so the client waits for it: seen in the guest's counters where the
 * target has them, else for a bounded while. */
static void wait_for_stale_rst(struct conf *c, uint64_t before)
{
    struct rst_watch w = {.before = before};
    (void)conf_wait(c, guest_saw_stale_rst, &w, CONF_MS(200));
}

CONF_CASE(connect_port_reuse, "VS-S4 VS-S5", CONF_ALL, 0,
          "one client port connects, closes cleanly and connects again, ten times")
{
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 5070, 4);
    for (int round = 0; round < 10; round++) {
        int fd = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
        /* The old socket may linger until the clean disconnect completes;
         * the port is free again once it has. */
        int r = -EADDRINUSE;
        for (int tries = 0; tries < 100 && r == -EADDRINUSE; tries++) {
            r = conf_bind(c, CONF_GUEST, fd, 7070);
            if (r == -EADDRINUSE)
                conf_sleep(c, CONF_MS(100));
        }
        CONF_REQUIRE_RET(c, r, 0);
        CONF_REQUIRE_RET(c, conf_connect(c, CONF_GUEST, fd, VSOCK_CID_HOST, 5070), -EINPROGRESS);
        CONF_WAIT_POLL(c, CONF_GUEST, fd, VEP_POLLOUT);
        CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_GUEST, fd), 0);
        int a = CONF_ACCEPT(c, CONF_HOST, lfd);
        uint8_t b = (uint8_t)round, x;
        CONF_SEND_ALL(c, CONF_GUEST, fd, &b, 1);
        CONF_RECV_EXACT(c, CONF_HOST, a, &x, 1);
        CONF_REQUIRE_EQ(c, x, b);
        CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_GUEST, fd), 0);
        CONF_WAIT_EOF(c, CONF_HOST, a);
        uint64_t stale = conf_drops(c, CONF_GUEST, VEP_DROP_RST_NO_SOCKET);
        CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_HOST, a), 0);
        wait_for_stale_rst(c, stale);
    }
}

CONF_CASE(connect_listener_closed_with_pending, "VS-S4", CONF_ALL, 0,
          "closing a listener with a connection it never accepted disconnects that client "
          "cleanly (it reads end of stream)")
{
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 5080, 4);
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5080, &fd), 0);
    CONF_WAIT_POLL(c, CONF_HOST, lfd, VEP_POLLIN);
    CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_HOST, lfd), 0);
    CONF_WAIT_EOF(c, CONF_GUEST, fd);
}

CONF_CASE(connect_again_after_refusal, "VS-S1 VS-S3", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "a second non-blocking connect on a socket whose connect was refused returns EALREADY "
          "and sends nothing (Linux: sock->state stays SS_CONNECTING; only a blocking connect "
          "or the connect timeout resets it), whether SO_ERROR was read or not")
{
    CONF_RAW_BEGIN(c);
    for (int read_error = 0; read_error < 2; read_error++) {
        uint32_t gport = 6100 + (uint32_t)read_error;
        int h = conf_socket(c, CONF_HOST, VSOCK_TYPE_STREAM);
        CONF_REQUIRE(c, h >= 0);
        CONF_REQUIRE_RET(c, conf_connect(c, CONF_HOST, h, conf_guest_cid(c), gport), -EINPROGRESS);
        struct vsock_hdr q;
        CONF_RAW_EXPECT(c, &q, NULL, 0, VSOCK_OP_REQUEST);
        CONF_REQUIRE_EQ(c, q.dst_port, gport);
        struct vsock_hdr rst = conf_raw_hdr(c, VSOCK_OP_RST, gport, q.src_port, VSOCK_TYPE_STREAM);
        CONF_RAW_SEND(c, &rst, NULL, 0);
        CONF_WAIT_POLL(c, CONF_HOST, h, VEP_POLLERR);
        if (read_error)
            CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_HOST, h), -ECONNRESET);
        CONF_REQUIRE_RET(c, conf_connect(c, CONF_HOST, h, conf_guest_cid(c), gport), -EALREADY);
        CONF_RAW_EXPECT_NONE(c, CONF_MS(50));
        CONF_REQUIRE_RET(c, conf_connect(c, CONF_HOST, h, conf_guest_cid(c), gport + 10),
                         -EALREADY);
        CONF_RAW_EXPECT_NONE(c, CONF_MS(20));
        CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_HOST, h), 0);
    }
}

CONF_CASE(connect_again_after_timeout, "VS-S1", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "after a connect timed out, a new connect sends a new REQUEST; with SO_ERROR still "
          "unread Linux 6.1 returns that ETIMEDOUT at once and leaves the socket closed (its "
          "RESPONSE gets RST), 6.12 clears the old error first and connects")
{
    CONF_RAW_BEGIN(c);
    enum { GPORT = 6200 };
    int h = conf_socket(c, CONF_HOST, VSOCK_TYPE_STREAM);
    CONF_REQUIRE(c, h >= 0);
    CONF_REQUIRE_RET(c, conf_connect(c, CONF_HOST, h, conf_guest_cid(c), GPORT), -EINPROGRESS);
    struct vsock_hdr q;
    CONF_RAW_EXPECT(c, &q, NULL, 0, VSOCK_OP_REQUEST);
    uint32_t hport = q.src_port;
    CONF_REQUIRE_EQ(c, conf_wait_poll(c, CONF_HOST, h, VEP_POLLERR, CONF_CONNECT_TIMEOUT_NS),
                    VEP_POLLERR);
    struct vsock_hdr resp = conf_raw_hdr(c, VSOCK_OP_RESPONSE, GPORT, hport, VSOCK_TYPE_STREAM);
    int r = conf_connect(c, CONF_HOST, h, conf_guest_cid(c), GPORT);
    CONF_RAW_EXPECT(c, &q, NULL, 0, VSOCK_OP_REQUEST);
    CONF_REQUIRE_EQ(c, q.src_port, hport);
    if (conf_linux(c) == VSOCK_LINUX_6_1) {
        CONF_REQUIRE_RET(c, r, -ETIMEDOUT);
        CONF_RAW_SEND(c, &resp, NULL, 0);
        struct vsock_hdr rst;
        CONF_RAW_EXPECT(c, &rst, NULL, 0, VSOCK_OP_RST);
        CONF_REQUIRE_ADDR(c, &rst, hport, GPORT);
        CONF_REQUIRE_EQ(c, rst.buf_alloc, 0);
        CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_HOST, h), 0);
        CONF_REQUIRE_RET(c, conf_connect(c, CONF_HOST, h, conf_guest_cid(c), GPORT),
                         -EINPROGRESS);
        CONF_RAW_EXPECT(c, &q, NULL, 0, VSOCK_OP_REQUEST);
    } else {
        CONF_REQUIRE_RET(c, r, -EINPROGRESS);
    }
    CONF_RAW_SEND(c, &resp, NULL, 0);
    CONF_WAIT_POLL(c, CONF_HOST, h, VEP_POLLOUT);
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_HOST, h), 0);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_HOST, h, "t", 1, 0), 1);
    struct vsock_hdr rw;
    uint8_t b;
    CONF_REQUIRE_EQ(c, CONF_RAW_EXPECT(c, &rw, &b, 1, VSOCK_OP_RW), 1);
    CONF_REQUIRE_EQ(c, b, 't');
}
