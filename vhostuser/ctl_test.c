/* The backend's control channel (vhostuser/vu_ctl.h), in process: a
 * hostile peer gets a specific error for every bad message and never
 * crashes or hangs the backend; a session drives the device's host sockets
 * against our guest driver (through a vhost-user front end) both ways, in
 * raw mode too; and END leaves nothing of the session behind. */
#include "vhostuser/vu_ctl.h"
#include "vhostuser/vu_fe_testlib.h"

#include <atf-c.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct peer {
    struct vu_backend *b;
    struct fe *fe; /* steps the guest too, or NULL */
    int fd;        /* our end of the control connection */
    uint32_t seq;
    uint8_t buf[VCTL_MAX_MSG];
};

static struct vu_backend *backend(void)
{
    struct vu_cfg cfg = {.guest_cid = FE_CID};
    int err;
    struct vu_backend *b = vu_new(&cfg, &err);
    ATF_REQUIRE_MSG(b != NULL, "vu_new: %d", err);
    return b;
}

static void attach(struct peer *p, struct vu_backend *b, struct fe *fe)
{
    int sv[2];
    ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ATF_REQUIRE_EQ(vu_attach_control(b, sv[1]), 0);
    p->b = b;
    p->fe = fe;
    p->fd = sv[0];
    p->seq = 100;
}

static void step(struct peer *p)
{
    if (p->fe != NULL)
        fe_guest_step(p->fe, 2);
    else
        vu_step(p->b, 2);
}

static bool readable(int fd)
{
    struct pollfd q = {.fd = fd, .events = POLLIN};
    return poll(&q, 1, 0) > 0;
}

/* Lets the backend run until a reply came: 1 and *rp, 0 when the
 * connection was closed instead. */
static int reply(struct peer *p, struct vctl_msg *rp)
{
    for (int i = 0; i < 1000 && !readable(p->fd); i++)
        step(p);
    uint8_t hdr[VCTL_HDR];
    ssize_t n = recv(p->fd, hdr, sizeof(hdr), MSG_WAITALL);
    if (n == 0)
        return 0;
    ATF_REQUIRE_EQ(n, (ssize_t)sizeof(hdr));
    uint32_t body;
    const char *why = "";
    ATF_REQUIRE_EQ_MSG(vctl_parse_header(hdr, &rp->op, &rp->seq, &body, &why), 0, "%s", why);
    ATF_REQUIRE_EQ(recv(p->fd, p->buf, body, MSG_WAITALL), (ssize_t)body);
    vctl_decode_body(p->buf, body, rp);
    return 1;
}

static bool closed(struct peer *p)
{
    for (int i = 0; i < 500 && !readable(p->fd); i++)
        step(p);
    uint8_t c;
    return readable(p->fd) && recv(p->fd, &c, 1, MSG_DONTWAIT) == 0;
}

static int64_t call(struct peer *p, struct vctl_msg *rq, struct vctl_msg *rp)
{
    rq->seq = ++p->seq;
    size_t n = vctl_encode(rq, p->buf, sizeof(p->buf));
    ATF_REQUIRE(n > 0);
    ATF_REQUIRE_EQ(write(p->fd, p->buf, n), (ssize_t)n);
    ATF_REQUIRE_EQ_MSG(reply(p, rp), 1, "no reply to %s", vctl_op_name(rq->op));
    ATF_REQUIRE_EQ(rp->seq, rq->seq);
    ATF_REQUIRE_EQ(rp->op, rq->op);
    return (int64_t)rp->v[0];
}

static int64_t call3(struct peer *p, uint16_t op, uint64_t a, uint64_t b, uint64_t c)
{
    struct vctl_msg rq = {.op = op, .v = {a, b, c}}, rp;
    return call(p, &rq, &rp);
}

/* A header as given, then body bytes of zeros. */
static void send_raw_header(struct peer *p, uint32_t magic, uint16_t version, uint16_t op,
                            uint32_t len, uint32_t body)
{
    uint8_t h[VCTL_HDR + VCTL_FIXED] = {0};
    memcpy(h, &magic, 4); /* little-endian machines only: the test runs on x86 */
    memcpy(h + 4, &version, 2);
    memcpy(h + 6, &op, 2);
    uint32_t seq = 7;
    memcpy(h + 8, &seq, 4);
    memcpy(h + 12, &len, 4);
    ATF_REQUIRE(body <= VCTL_FIXED);
    ATF_REQUIRE_EQ(write(p->fd, h, VCTL_HDR + body), (ssize_t)(VCTL_HDR + body));
}

static void expect_error_then_close(struct vu_backend *b, uint32_t magic, uint16_t version,
                                    uint32_t len, int64_t err)
{
    struct peer p;
    attach(&p, b, NULL);
    send_raw_header(&p, magic, version, VCTL_HELLO, len, 0);
    struct vctl_msg rp;
    ATF_REQUIRE_EQ(reply(&p, &rp), 1);
    ATF_CHECK_EQ((int64_t)rp.v[0], err);
    ATF_CHECK(closed(&p));
    close(p.fd);
}

ATF_TC_WITHOUT_HEAD(ctl_bad_framing);
ATF_TC_BODY(ctl_bad_framing, tc)
{
    struct vu_backend *b = backend();
    expect_error_then_close(b, 0xdeadbeefu, VCTL_VERSION, VCTL_FIXED, -EPROTO);
    expect_error_then_close(b, VCTL_MAGIC, 2, VCTL_FIXED, -EPROTO);
    expect_error_then_close(b, VCTL_MAGIC, VCTL_VERSION, VCTL_FIXED - 1, -EPROTO);
    expect_error_then_close(b, VCTL_MAGIC, VCTL_VERSION, VCTL_FIXED + VCTL_MAX_DATA + 1,
                            -EMSGSIZE);
    expect_error_then_close(b, VCTL_MAGIC, VCTL_VERSION, UINT32_MAX, -EMSGSIZE);
    /* A torn header or body: the connection ends without a reply, within
     * the message timeout, and the next peer is served. */
    struct peer p;
    attach(&p, b, NULL);
    ATF_REQUIRE_EQ(write(p.fd, "VCT", 3), 3);
    shutdown(p.fd, SHUT_WR);
    ATF_CHECK(closed(&p));
    close(p.fd);
    attach(&p, b, NULL);
    send_raw_header(&p, VCTL_MAGIC, VCTL_VERSION, VCTL_HELLO, VCTL_FIXED, 8);
    shutdown(p.fd, SHUT_WR);
    ATF_CHECK(closed(&p));
    close(p.fd);
    attach(&p, b, NULL);
    ATF_CHECK_EQ(call3(&p, VCTL_HELLO, 0, 0, 0), 0);
    ATF_CHECK(vu_stats(b)->ctl_bad >= 6); /* 5 bad headers, the torn body */
    close(p.fd);
    vu_free(b);
}

ATF_TC_WITHOUT_HEAD(ctl_bad_requests);
ATF_TC_BODY(ctl_bad_requests, tc)
{
    struct vu_backend *b = backend();
    struct peer p;
    attach(&p, b, NULL);
    ATF_CHECK_EQ(call3(&p, 0, 0, 0, 0), -EOPNOTSUPP);
    ATF_CHECK_EQ(call3(&p, VCTL_OP_END_, 0, 0, 0), -EOPNOTSUPP);
    ATF_CHECK_EQ(call3(&p, 0xffff, 0, 0, 0), -EOPNOTSUPP);
    ATF_CHECK_EQ(call3(&p, VCTL_PKTLOG, 0, 0, 0), -EINVAL); /* before HELLO */
    ATF_CHECK_EQ(call3(&p, VCTL_HELLO, 0, 0, 0), 0);
    ATF_CHECK_EQ(call3(&p, VCTL_PKTLOG, 0, 0, 0), 0);       /* nothing crossed yet */
    ATF_CHECK_EQ(call3(&p, VCTL_PKTLOG, 1, 0, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_PKTLOG, UINT64_MAX, 0, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_SOCKET, 9, 0, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_SOCKET, VSOCK_TYPE_STREAM, 1ull << 40, 0), -EINVAL);
    /* Sockets the session did not open are out of reach, even real ones. */
    int other = vep_socket(vu_sockets(b), VSOCK_TYPE_STREAM);
    ATF_REQUIRE(other >= 0);
    ATF_CHECK_EQ(call3(&p, VCTL_BIND, (uint64_t)other, 5000, 0), -EBADF);
    ATF_CHECK_EQ(call3(&p, VCTL_CLOSE, (uint64_t)other, 0, 0), -EBADF);
    ATF_CHECK_EQ(call3(&p, VCTL_POLL, UINT64_MAX, 0, 0), -EBADF);
    int64_t fd = call3(&p, VCTL_SOCKET, VSOCK_TYPE_SEQPACKET, 0, 0);
    ATF_REQUIRE(fd >= 0);
    ATF_CHECK_EQ(call3(&p, VCTL_BIND, (uint64_t)fd, 1ull << 33, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_LISTEN, (uint64_t)fd, 1ull << 40, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_SHUTDOWN, (uint64_t)fd, 7, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_RECV, (uint64_t)fd, VCTL_MAX_DATA + 1, 0), -EMSGSIZE);
    ATF_CHECK_EQ(call3(&p, VCTL_RECV, (uint64_t)fd, 10, 0x10000), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_DROPS, VEP_DROP_COUNT, 0, 0), -EINVAL);
    /* A seqpacket message the client could not send whole is refused. */
    struct vctl_msg rq = {.op = VCTL_SEND, .v = {(uint64_t)fd, 0, 10}, .dlen = 4,
                          .data = (const uint8_t *)"abcd"},
                    rp;
    ATF_CHECK_EQ(call(&p, &rq, &rp), -EMSGSIZE);
    rq.v[2] = 2; /* fewer than it carries */
    ATF_CHECK_EQ(call(&p, &rq, &rp), -EINVAL);
    /* Raw mode only after RAW_BEGIN, and a packet needs its header. */
    ATF_CHECK_EQ(call3(&p, VCTL_RAW_RECV, 100, 0, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_RAW_BEGIN, 0, 0, 0), 0);
    rq = (struct vctl_msg){.op = VCTL_RAW_SEND, .dlen = 10, .data = (const uint8_t *)"0123456789"};
    ATF_CHECK_EQ(call(&p, &rq, &rp), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_RAW_RECV, VCTL_MAX_DATA, 0, 0), -EMSGSIZE);
    ATF_CHECK_EQ(call3(&p, VCTL_RAW_RECV, 100, 0, 0), 0);
    /* END closes the session's socket and nothing else. */
    ATF_CHECK_EQ(call3(&p, VCTL_END, 0, 0, 0), 1);
    ATF_CHECK_EQ(vep_sock_state(vu_sockets(b), other), VEP_SS_UNCONNECTED);
    ATF_CHECK_EQ(vep_sock_state(vu_sockets(b), (int)fd), VEP_SS_FREE);
    close(p.fd);
    vu_free(b);
}

/* Guest driver up behind a front end, and a control session. */
static void session(struct vu_backend **b, struct fe *fe, struct peer *p)
{
    *b = backend();
    int sv[2];
    ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ATF_REQUIRE(vu_attach(*b, sv[1]) == 0);
    fe_init(fe, sv[0], *b);
    ATF_REQUIRE(fe_setup(fe));
    attach(p, *b, fe);
    struct vctl_msg rq = {.op = VCTL_HELLO}, rp;
    ATF_REQUIRE_EQ(call(p, &rq, &rp), 0);
    ATF_REQUIRE_EQ(rp.v[1], FE_CID);
}

/* The session's transcript, in order: 1 when it holds, one after another
 * (other packets between them allowed), the given direction, op and len. */
struct want_pkt {
    bool to_host;
    uint16_t op;
    uint32_t len;
};

static void check_transcript(struct peer *p, const struct want_pkt *want, unsigned nwant)
{
    struct vctl_msg rq = {.op = VCTL_PKTLOG, .v = {0}}, rp;
    int64_t n = call(p, &rq, &rp);
    ATF_REQUIRE_MSG(n > 0, "PKTLOG: %lld", (long long)n);
    ATF_REQUIRE_EQ(rp.dlen, (uint32_t)n * VCTL_PKTLOG_ENTRY);
    ATF_CHECK_EQ(rp.v[1], (uint64_t)n); /* all of it fits one reply */
    ATF_CHECK_EQ(rp.v[2], 0);
    unsigned w = 0;
    for (int64_t i = 0; i < n && w < nwant; i++) {
        struct vsock_hdr h;
        vsock_hdr_decode(rp.data + i * VCTL_PKTLOG_ENTRY + 1, &h);
        bool to_host = rp.data[i * VCTL_PKTLOG_ENTRY] == 1;
        if (to_host == want[w].to_host && h.op == want[w].op && h.len == want[w].len)
            w++;
    }
    ATF_CHECK_MSG(w == nwant, "transcript of %lld packets: only %u of %u expected ones, in order",
                  (long long)n, w, nwant);
    /* Past the end: nothing; beyond it: refused. */
    rq.v[0] = (uint64_t)n;
    ATF_CHECK_EQ(call(p, &rq, &rp), 0);
    rq.v[0] = (uint64_t)n + 1;
    ATF_CHECK_EQ(call(p, &rq, &rp), -EINVAL);
}

/* DEVICE_STOP holds the device stopped as a VM stop does (a kick or a ring
 * message does not restart it), DEVICE_START resumes it; USED_LEN_EXTRA
 * takes an int32; END undoes both. */
ATF_TC_WITHOUT_HEAD(ctl_device_ops);
ATF_TC_BODY(ctl_device_ops, tc)
{
    struct vu_backend *b;
    struct fe fe;
    struct peer p;
    session(&b, &fe, &p);
    ATF_CHECK_EQ(call3(&p, VCTL_DEVICE_START, 0, 0, 0), -EINVAL); /* not stopped */
    ATF_CHECK_EQ(call3(&p, VCTL_DEVICE_STOP, 0, 0, 0), 0);
    ATF_CHECK(!vu_device_running(b));
    ATF_CHECK_EQ(call3(&p, VCTL_DEVICE_STOP, 0, 0, 0), -EAGAIN);
    fe_guest_step(&fe, 20); /* kicks: the device stays stopped */
    ATF_CHECK(!vu_device_running(b));
    ATF_CHECK_EQ(call3(&p, VCTL_DEVICE_START, 0, 0, 0), 0);
    ATF_CHECK(vu_device_running(b));
    ATF_CHECK_EQ(call3(&p, VCTL_USED_LEN_EXTRA, (uint64_t)(int64_t)-5, 0, 0), 0);
    ATF_CHECK_EQ(call3(&p, VCTL_USED_LEN_EXTRA, (uint64_t)INT32_MAX + 1, 0, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_USED_LEN_EXTRA, (uint64_t)(int64_t)INT32_MIN - 1, 0, 0),
                 -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_DEVICE_STOP, 0, 0, 0), 0);
    ATF_CHECK_EQ(call3(&p, VCTL_END, 0, 0, 0), 0);
    ATF_CHECK(vu_device_running(b)); /* a session's stop ends with it */
    ATF_CHECK(fe_request_answered(&fe)); /* and the used lens are right again */
    close(p.fd);
    fe_fini(&fe);
    vu_free(b);
}

/* REPLY_STATE shows the device's reply bound (vhost's: the tx ring size)
 * and its rings; REPLY_BOUND moves the bound for the session (a value past
 * 32 bits refused); END lifts it, the next HELLO restores vhost's rule. */
ATF_TC_WITHOUT_HEAD(ctl_reply_ops);
ATF_TC_BODY(ctl_reply_ops, tc)
{
    struct vu_backend *b;
    struct fe fe;
    struct peer p;
    session(&b, &fe, &p);
    struct vctl_msg rq = {.op = VCTL_REPLY_STATE}, rp;
    ATF_CHECK_EQ(call(&p, &rq, &rp), 0);
    uint16_t txnum = VCTL_RING_NUM(rp.v[5]);
    ATF_CHECK(txnum > 0 && VCTL_RING_NUM(rp.v[4]) > 0);
    ATF_CHECK_EQ(rp.v[2], txnum);
    ATF_CHECK_EQ(rp.v[1], 0);
    ATF_CHECK_EQ(rp.v[3] >> 32, 0); /* not paused */
    ATF_CHECK_EQ(VCTL_RING_USED(rp.v[5]), VCTL_RING_TAKEN(rp.v[5]));
    ATF_CHECK_EQ(call3(&p, VCTL_REPLY_BOUND, (uint64_t)UINT32_MAX + 1, 0, 0), -EINVAL);
    ATF_CHECK_EQ(call3(&p, VCTL_REPLY_BOUND, 5, 0, 0), 0);
    ATF_CHECK_EQ(call(&p, &rq, &rp), 0);
    ATF_CHECK_EQ(rp.v[2], 5);
    ATF_CHECK_EQ(call3(&p, VCTL_END, 0, 0, 0), 0);
    ATF_CHECK_EQ(call(&p, &rq, &rp), 0);
    ATF_CHECK_EQ(rp.v[2], VCTL_REPLIES_UNBOUND);
    ATF_CHECK_EQ(call3(&p, VCTL_HELLO, 0, 0, 0), 0);
    ATF_CHECK_EQ(call(&p, &rq, &rp), 0);
    ATF_CHECK_EQ(rp.v[2], txnum);
    ATF_CHECK(fe_request_answered(&fe));
    close(p.fd);
    fe_fini(&fe);
    vu_free(b);
}

ATF_TC_WITHOUT_HEAD(ctl_host_sockets);
ATF_TC_BODY(ctl_host_sockets, tc)
{
    struct vu_backend *b;
    struct fe fe;
    static struct peer p;
    session(&b, &fe, &p);
    int64_t l = call3(&p, VCTL_SOCKET, VSOCK_TYPE_STREAM, 0, 0);
    ATF_REQUIRE(l >= 0);
    ATF_REQUIRE_EQ(call3(&p, VCTL_BIND, (uint64_t)l, 5000, 0), 0);
    ATF_REQUIRE_EQ(call3(&p, VCTL_LISTEN, (uint64_t)l, 4, 0), 0);
    int g;
    ATF_REQUIRE_EQ(fe_guest_connect(&fe, 5000, &g, 2000), 0);
    struct vctl_msg rq = {.op = VCTL_ACCEPT, .v = {(uint64_t)l}}, rp;
    int64_t h = call(&p, &rq, &rp);
    ATF_REQUIRE(h >= 0);
    ATF_CHECK_EQ(rp.v[1], FE_CID);
    rq = (struct vctl_msg){.op = VCTL_SEND, .v = {(uint64_t)h, 0, 5}, .dlen = 5,
                           .data = (const uint8_t *)"hello"};
    ATF_REQUIRE_EQ(call(&p, &rq, &rp), 5);
    char buf[16];
    int64_t n = -EAGAIN;
    for (int i = 0; i < 200 && n == -EAGAIN; i++) {
        fe_guest_step(&fe, 2);
        n = vep_recv(vdrv_sockets(fe.drv), g, buf, sizeof(buf), 0, NULL);
    }
    ATF_REQUIRE_EQ(n, 5);
    ATF_CHECK(memcmp(buf, "hello", 5) == 0);
    ATF_REQUIRE_EQ(vep_send(vdrv_sockets(fe.drv), g, "back", 4, 0), 4);
    n = -EAGAIN;
    for (int i = 0; i < 200 && n == -EAGAIN; i++) {
        fe_guest_step(&fe, 2);
        rq = (struct vctl_msg){.op = VCTL_RECV, .v = {(uint64_t)h, sizeof(buf)}};
        n = call(&p, &rq, &rp);
    }
    ATF_REQUIRE_EQ(n, 4);
    ATF_CHECK(rp.dlen == 4 && memcmp(rp.data, "back", 4) == 0);
    const struct want_pkt want[] = {
        {true, VSOCK_OP_REQUEST, 0}, {false, VSOCK_OP_RESPONSE, 0},
        {false, VSOCK_OP_RW, 5},     {true, VSOCK_OP_RW, 4},
    };
    check_transcript(&p, want, 4);
    /* SIOCOUTQ: the backend follows 6.1 here, which has none. */
    ATF_CHECK_EQ(call3(&p, VCTL_OUTQ, (uint64_t)h, 0, 0), -EOPNOTSUPP);
    ATF_CHECK_EQ(call3(&p, VCTL_OUTQ, 999, 0, 0), -EBADF);
    ATF_CHECK_EQ(call3(&p, VCTL_SIGPIPES, 0, 0, 0), 0);
    /* The tx chains: the guest's REQUEST (a header alone), its RW
     * (header and payload). */
    rq = (struct vctl_msg){.op = VCTL_TXLOG, .v = {0}};
    int64_t nc = call(&p, &rq, &rp);
    ATF_REQUIRE_MSG(nc >= 2, "TXLOG: %lld", (long long)nc);
    ATF_REQUIRE_EQ(rp.dlen, (uint32_t)nc * VCTL_TXLOG_ENTRY);
    bool saw_rw = false;
    for (int64_t i = 0; i < nc; i++) {
        const uint8_t *e = rp.data + i * VCTL_TXLOG_ENTRY;
        struct vsock_hdr th;
        vsock_hdr_decode(e, &th);
        uint32_t nd = (uint32_t)e[44] | (uint32_t)e[45] << 8;
        uint32_t l1 = (uint32_t)e[52] | (uint32_t)e[53] << 8;
        if (th.op == VSOCK_OP_REQUEST)
            ATF_CHECK_EQ(nd, 1);
        if (th.op == VSOCK_OP_RW && th.len == 4) {
            saw_rw = true;
            ATF_CHECK_EQ(nd, 2);
            ATF_CHECK_EQ(l1, 4);
        }
    }
    ATF_CHECK(saw_rw);
    rq.v[0] = (uint64_t)nc + 1;
    ATF_CHECK_EQ(call(&p, &rq, &rp), -EINVAL);
    /* END resets the connection the case left: the guest sees RST. */
    ATF_CHECK_EQ(call3(&p, VCTL_END, 0, 0, 0), 2);
    ATF_CHECK_EQ(call3(&p, VCTL_PKTLOG, 0, 0, 0), -EINVAL); /* no session */
    ATF_CHECK_EQ(call3(&p, VCTL_TXLOG, 0, 0, 0), -EINVAL);
    for (int i = 0; i < 200 && vep_sock_state(vdrv_sockets(fe.drv), g) == VEP_SS_CONNECTED; i++)
        fe_guest_step(&fe, 2);
    ATF_CHECK(vep_sock_state(vdrv_sockets(fe.drv), g) != VEP_SS_CONNECTED);
    close(p.fd);
    fe_fini(&fe);
    vu_free(b);
}

ATF_TC_WITHOUT_HEAD(ctl_raw_host);
ATF_TC_BODY(ctl_raw_host, tc)
{
    struct vu_backend *b;
    struct fe fe;
    static struct peer p;
    session(&b, &fe, &p);
    ATF_REQUIRE_EQ(call3(&p, VCTL_RAW_BEGIN, 0, 0, 0), 0);
    struct vep *g = vdrv_sockets(fe.drv);
    int gfd = vep_socket(g, VSOCK_TYPE_STREAM);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock the connect timeout runs on */
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    ATF_REQUIRE_EQ(vep_connect(g, gfd, VSOCK_CID_HOST, 6000, now), -EINPROGRESS);
    struct vctl_msg rq, rp;
    int64_t r = 0;
    for (int i = 0; i < 200 && r == 0; i++) {
        fe_guest_step(&fe, 2);
        rq = (struct vctl_msg){.op = VCTL_RAW_RECV, .v = {100}};
        r = call(&p, &rq, &rp);
    }
    ATF_REQUIRE_EQ(r, 1);
    ATF_REQUIRE_EQ(rp.dlen, VSOCK_HDR_LEN);
    struct vsock_hdr req;
    vsock_hdr_decode(rp.data, &req);
    ATF_CHECK_EQ(req.op, VSOCK_OP_REQUEST);
    ATF_CHECK_EQ(req.dst_port, 6000);
    struct vsock_hdr resp = {
        .src_cid = VSOCK_CID_HOST, .dst_cid = FE_CID, .src_port = 6000,
        .dst_port = req.src_port, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RESPONSE,
        .buf_alloc = 65536,
    };
    uint8_t pkt[VSOCK_HDR_LEN];
    vsock_hdr_encode(&resp, pkt);
    rq = (struct vctl_msg){.op = VCTL_RAW_SEND, .dlen = VSOCK_HDR_LEN, .data = pkt};
    ATF_REQUIRE_EQ(call(&p, &rq, &rp), 0);
    for (int i = 0; i < 200 && vep_sock_state(g, gfd) != VEP_SS_CONNECTED; i++)
        fe_guest_step(&fe, 2);
    ATF_REQUIRE_EQ(vep_sock_state(g, gfd), VEP_SS_CONNECTED);
    /* END speaks the last word for the host: an RST for the connection. */
    struct vctl_msg end = {.op = VCTL_END}, er;
    ATF_CHECK_EQ(call(&p, &end, &er), 0);
    ATF_CHECK_EQ(er.v[1], 0); /* no overflow */
    ATF_CHECK(er.v[3] >= 1);  /* the REQUEST was seen */
    for (int i = 0; i < 200 && vep_sock_state(g, gfd) == VEP_SS_CONNECTED; i++)
        fe_guest_step(&fe, 2);
    ATF_CHECK(vep_sock_state(g, gfd) != VEP_SS_CONNECTED);
    close(p.fd);
    fe_fini(&fe);
    vu_free(b);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, ctl_bad_framing);
    ATF_TP_ADD_TC(tp, ctl_bad_requests);
    ATF_TP_ADD_TC(tp, ctl_device_ops);
    ATF_TP_ADD_TC(tp, ctl_reply_ops);
    ATF_TP_ADD_TC(tp, ctl_host_sockets);
    ATF_TP_ADD_TC(tp, ctl_raw_host);
    return atf_no_error();
}
