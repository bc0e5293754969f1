/* The socket rules that changed between Debian's 6.1.192 and 6.12.118, each
 * case stating both kernels' answers (conf_linux) so that the same case
 * proves 6.1's rule under KERNEL=6.1 and 6.12's under KERNEL=6.12.
 *
 * Most rules are the shared socket layer's (virtio_transport_common.c,
 * af_vsock.c), so they hold for a socket on either side; each such case
 * comes in two variants that check a real socket with the case speaking
 * raw packets for its peer:
 *   NAME_host   the real socket is the host's: AF_VSOCK over vhost on the
 *               kernel target, the case speaking for the guest (CONF_CAP_RAW)
 *   NAME_guest  the real socket is the guest's: the Linux guest driver on the
 *               guest target, the case speaking for the host
 *               (CONF_CAP_RAW_HOST)
 * Both run on sim, where the model follows the run's profile. */
#include "conformance/conf_case.h"

#include <stdlib.h>

#define GUESTRAW (CONF_SIM | CONF_GUEST_TARGET)

static bool is_6_12(const struct conf *c)
{
    return conf_linux(c) == VSOCK_LINUX_6_12;
}

/* ---- the peer the case speaks for -------------------------------------------
 * sock is the side of the real socket under test; the case is its peer. */

static void peer_begin(struct conf *c, enum conf_side sock)
{
    if (sock == CONF_HOST)
        CONF_RAW_BEGIN(c);
    else
        CONF_RAW_HOST_BEGIN(c);
}

/* A header from the peer's port pport to the socket's port sport. */
static struct vsock_hdr peer_hdr(const struct conf *c, enum conf_side sock, uint16_t op,
                                 uint32_t pport, uint32_t sport, uint16_t type)
{
    return sock == CONF_HOST ? conf_raw_hdr(c, op, pport, sport, type)
                             : conf_raw_host_hdr(c, op, pport, sport, type);
}

static void peer_send(struct conf *c, enum conf_side sock, const struct vsock_hdr *h,
                      const void *payload, uint32_t len)
{
    if (sock == CONF_HOST)
        CONF_RAW_SEND(c, h, payload, len);
    else
        CONF_RAW_HOST_SEND(c, h, payload, len);
}

/* The next packet the socket's side sent; fails unless its op is op. */
static struct vsock_hdr peer_expect(struct conf *c, enum conf_side sock, int op)
{
    struct vsock_hdr h;
    if (sock == CONF_HOST)
        CONF_RAW_EXPECT(c, &h, NULL, 0, op);
    else
        CONF_RAW_HOST_EXPECT(c, &h, NULL, 0, op);
    return h;
}

static void peer_expect_none(struct conf *c, enum conf_side sock, uint64_t ns)
{
    if (sock == CONF_HOST)
        CONF_RAW_EXPECT_NONE(c, ns);
    else
        CONF_RAW_HOST_EXPECT_NONE(c, ns);
}

/* The peer connects from pport to a listener on the socket's side at sport:
 * the accepted socket. */
static int peer_connect(struct conf *c, enum conf_side sock, int type, uint32_t pport,
                        uint32_t sport)
{
    int lfd = CONF_LISTEN(c, sock, type, sport, 4);
    struct vsock_hdr q = peer_hdr(c, sock, VSOCK_OP_REQUEST, pport, sport, (uint16_t)type);
    peer_send(c, sock, &q, NULL, 0);
    struct vsock_hdr r = peer_expect(c, sock, VSOCK_OP_RESPONSE);
    CONF_REQUIRE_EQ(c, r.src_port, sport);
    CONF_REQUIRE_EQ(c, r.dst_port, pport);
    CONF_REQUIRE_EQ(c, r.buf_alloc, CONF_DEFAULT_BUF_ALLOC);
    return CONF_ACCEPT(c, sock, lfd);
}

/* An RW of len pattern bytes (conf_fill with tag, at offset) from the peer. */
static void peer_rw(struct conf *c, enum conf_side sock, uint32_t pport, uint32_t sport,
                    uint16_t type, uint32_t len, uint32_t flags, uint32_t tag, size_t offset)
{
    static uint8_t data[4096];
    CONF_REQUIRE(c, len <= sizeof(data));
    conf_fill(data, len, tag, offset);
    struct vsock_hdr h = peer_hdr(c, sock, VSOCK_OP_RW, pport, sport, type);
    h.flags = flags;
    peer_send(c, sock, &h, data, len);
}

struct queued_arg {
    enum conf_side sock;
    int fd;
    size_t n;
    uint8_t *buf;
};

static bool queued_at_least(struct conf *c, void *arg)
{
    struct queued_arg *q = arg;
    return conf_recv(c, q->sock, q->fd, q->buf, q->n, VEP_MSG_PEEK | VEP_MSG_DONTWAIT, NULL) ==
           (int64_t)q->n;
}

/* Waits until n stream bytes are queued on fd (a peek sees them all), so
 * that a read's outcome does not race the packets still on their way. */
static void wait_queued(struct conf *c, enum conf_side sock, int fd, size_t n)
{
    struct queued_arg q = {sock, fd, n, conf_scratch(c, n)};
    CONF_REQUIRE_MSG(c, conf_wait(c, queued_at_least, &q, CONF_IO_TIMEOUT_NS),
                     "%zu bytes never were queued", n);
}

static void expect_credit_update(struct conf *c, enum conf_side sock, uint32_t buf_alloc,
                                 uint32_t fwd_cnt)
{
    struct vsock_hdr u = peer_expect(c, sock, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.buf_alloc, buf_alloc);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, fwd_cnt);
}

/* ---- D2: SO_RCVLOWAT announces credit (6.12) --------------------------------- */

/* Two 1000-byte packets, one read to its end: fwd_cnt 1000, 1000 bytes
 * queued. Raising SO_RCVLOWAT above them makes 6.12 send a CREDIT_UPDATE
 * (virtio_transport_notify_set_rcvlowat); 6.1 has no such hook. */
static void rcvlowat_announces(struct conf *c, enum conf_side sock, uint32_t pport, uint32_t sport)
{
    peer_begin(c, sock);
    int fd = peer_connect(c, sock, VSOCK_TYPE_STREAM, pport, sport);
    CONF_REQUIRE_RET(c, conf_set_rcvlowat(c, sock, fd, 500), 0);
    peer_expect_none(c, sock, CONF_MS(20)); /* nothing freed yet: nothing to announce */
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_STREAM, 1000, 0, 40, 0);
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_STREAM, 1000, 0, 40, 1000);
    wait_queued(c, sock, fd, 2000);
    uint8_t buf[1000];
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, buf, sizeof(buf), VEP_MSG_DONTWAIT, NULL), 1000);
    CONF_REQUIRE_EQ(c, conf_check(buf, 1000, 40, 0), 1000);
    peer_expect_none(c, sock, CONF_MS(20)); /* 1000 queued >= 500, space plenty */
    CONF_REQUIRE_RET(c, conf_set_rcvlowat(c, sock, fd, 2000), 0);
    if (is_6_12(c))
        expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, 1000);
    peer_expect_none(c, sock, CONF_MS(20));
    CONF_REQUIRE_RET(c, conf_set_rcvlowat(c, sock, fd, 3000), 0);
    peer_expect_none(c, sock, CONF_MS(20)); /* announced already: fwd_cnt == last_fwd_cnt */
}

CONF_CASE(rcvlowat_announces_credit_host, "VS-07 VS-I10", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "raising SO_RCVLOWAT above what is queued sends a CREDIT_UPDATE when space was freed "
          "since the last one on Linux 6.12, nothing on 6.1 (host socket)")
{
    rcvlowat_announces(c, CONF_HOST, 30100, 30101);
}

CONF_CASE(rcvlowat_announces_credit_guest, "VS-07 VS-I10", GUESTRAW, CONF_CAP_RAW_HOST,
          "raising SO_RCVLOWAT above what is queued sends a CREDIT_UPDATE when space was freed "
          "since the last one on Linux 6.12, nothing on 6.1 (guest socket)")
{
    rcvlowat_announces(c, CONF_GUEST, 30100, 30101);
}

/* ---- D1: a partly read packet counts whole (6.1) or its unread bytes (6.12) --- */

static void partial_read(struct conf *c, enum conf_side sock, uint32_t pport, uint32_t sport)
{
    peer_begin(c, sock);
    int fd = peer_connect(c, sock, VSOCK_TYPE_STREAM, pport, sport);
    CONF_REQUIRE_RET(c, conf_set_rcvlowat(c, sock, fd, 800), 0);
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_STREAM, 1000, 0, 41, 0);
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_STREAM, 1000, 0, 41, 1000);
    wait_queued(c, sock, fd, 2000);
    uint8_t buf[1500];
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, buf, sizeof(buf), VEP_MSG_DONTWAIT, NULL), 1500);
    CONF_REQUIRE_EQ(c, conf_check(buf, 1500, 41, 0), 1500);
    /* 500 bytes are left of the second packet: 6.12 counts 500 < 800 and
     * announces the first packet's 1000; 6.1 counts the packet whole. */
    if (is_6_12(c))
        expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, 1000);
    peer_expect_none(c, sock, CONF_MS(20));
    unsigned ev = conf_poll(c, sock, fd);
    CONF_REQUIRE_EQ(c, ev & VEP_POLLIN, is_6_12(c) ? 0u : VEP_POLLIN);
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, buf, sizeof(buf), VEP_MSG_DONTWAIT, NULL), 500);
    CONF_REQUIRE_EQ(c, conf_check(buf, 500, 41, 1500), 500);
    expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, 2000); /* the emptying read, both */
}

CONF_CASE(partial_read_counts_unread_host, "VS-07 VS-I10", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "after a read that leaves part of a packet, Linux 6.12 counts only its unread bytes "
          "for SO_RCVLOWAT (a CREDIT_UPDATE, no POLLIN), 6.1 the whole packet (host socket)")
{
    partial_read(c, CONF_HOST, 30200, 30201);
}

CONF_CASE(partial_read_counts_unread_guest, "VS-07 VS-I10", GUESTRAW, CONF_CAP_RAW_HOST,
          "after a read that leaves part of a packet, Linux 6.12 counts only its unread bytes "
          "for SO_RCVLOWAT (a CREDIT_UPDATE, no POLLIN), 6.1 the whole packet (guest socket)")
{
    partial_read(c, CONF_GUEST, 30200, 30201);
}

/* ---- D3: the skbs' overhead counts against buf_alloc (6.12) ------------------- */

/* 456 one-byte seqpacket messages: each ends a message, so 6.12 can neither
 * merge nor collapse them, and buf_alloc / SKB_TRUESIZE(0) = 455 fit; the
 * 456th gets RST and the socket ENOBUFS, which every read then reports
 * with the message it took. 6.1 counts payload only. */
static void overhead_seqpacket(struct conf *c, enum conf_side sock, uint32_t pport, uint32_t sport)
{
    enum { N = 456 };
    peer_begin(c, sock);
    int fd = peer_connect(c, sock, VSOCK_TYPE_SEQPACKET, pport, sport);
    for (int i = 0; i < N; i++) {
        peer_rw(c, sock, pport, sport, VSOCK_TYPE_SEQPACKET, 1, VSOCK_SEQ_EOM, 42, (size_t)i);
        if (i % 100 == 99)
            conf_sleep(c, CONF_MS(2)); /* crafted packets wait in a bounded queue */
    }
    if (is_6_12(c)) {
        struct vsock_hdr r = peer_expect(c, sock, VSOCK_OP_RST);
        CONF_REQUIRE_EQ(c, r.buf_alloc, CONF_DEFAULT_BUF_ALLOC);
        CONF_REQUIRE_EQ(c, r.fwd_cnt, 0);
    }
    peer_expect_none(c, sock, CONF_MS(50));
    uint8_t b[4];
    for (int i = 0; i < (is_6_12(c) ? N - 1 : N); i++) {
        int64_t r = CONF_RECV_MSG(c, sock, fd, b, sizeof(b), 0, NULL);
        if (is_6_12(c)) {
            CONF_REQUIRE_RET(c, r, -ENOBUFS);
            continue;
        }
        CONF_REQUIRE_RET(c, r, 1);
        CONF_REQUIRE_EQ(c, conf_check(b, 1, 42, (size_t)i), 1);
        expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, (uint32_t)i + 1);
    }
    if (is_6_12(c)) {
        CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, sizeof(b), 0, NULL), 0);
        CONF_REQUIRE_RET(c, conf_sock_error(c, sock, fd), -ENOBUFS);
    }
}

CONF_CASE(overhead_seqpacket_limit_host, "VS-06", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "a 256 KiB buffer takes 455 unread one-byte seqpacket messages on Linux 6.12 and "
          "answers the 456th with RST (ENOBUFS); 6.1 takes all 456 (host socket)")
{
    overhead_seqpacket(c, CONF_HOST, 30300, 30301);
}

CONF_CASE(overhead_seqpacket_limit_guest, "VS-06", GUESTRAW, CONF_CAP_RAW_HOST,
          "a 256 KiB buffer takes 455 unread one-byte seqpacket messages on Linux 6.12 and "
          "answers the 456th with RST (ENOBUFS); 6.1 takes all 456 (guest socket)")
{
    overhead_seqpacket(c, CONF_GUEST, 30300, 30301);
}

/* A 1000-byte buffer holds one skb on 6.12 (2 * 576 > 1000): a second
 * packet gets RST. The pending ENOBUFS then shows how a stream send reports
 * an error on 6.12 (sk_stream_error): once instead of EPIPE, with no
 * SIGPIPE; then EPIPE with one. 6.1 takes both packets. */
static void overhead_small_buffer(struct conf *c, enum conf_side sock, uint32_t pport,
                                  uint32_t sport)
{
    peer_begin(c, sock);
    int fd = peer_connect(c, sock, VSOCK_TYPE_STREAM, pport, sport);
    CONF_REQUIRE_RET(c, conf_set_buf_size(c, sock, fd, 1000), 0);
    expect_credit_update(c, sock, 1000, 0);
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_STREAM, 200, 0, 43, 0);
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_STREAM, 200, 0, 43, 200);
    uint8_t b[400];
    if (!is_6_12(c)) {
        peer_expect_none(c, sock, CONF_MS(50));
        wait_queued(c, sock, fd, 400);
        CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, sizeof(b), VEP_MSG_DONTWAIT, NULL), 400);
        CONF_REQUIRE_EQ(c, conf_check(b, 400, 43, 0), 400);
        expect_credit_update(c, sock, 1000, 400); /* the emptying read */
        return;
    }
    struct vsock_hdr r = peer_expect(c, sock, VSOCK_OP_RST);
    CONF_REQUIRE_EQ(c, r.buf_alloc, 1000);
    CONF_REQUIRE_EQ(c, r.fwd_cnt, 0);
    CONF_WAIT_POLL(c, sock, fd, VEP_POLLERR);
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, sizeof(b), 0, NULL), 200);
    CONF_REQUIRE_EQ(c, conf_check(b, 200, 43, 0), 200);
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, sizeof(b), 0, NULL), -ENOBUFS);
    int64_t sig0 = conf_sigpipes(c, sock);
    CONF_REQUIRE(c, sig0 >= 0);
    CONF_REQUIRE_RET(c, conf_send(c, sock, fd, "x", 1, 0), -ENOBUFS);
    CONF_REQUIRE_EQ(c, conf_sigpipes(c, sock), sig0);
    CONF_REQUIRE_RET(c, conf_sock_error(c, sock, fd), 0);
    CONF_REQUIRE_RET(c, conf_send(c, sock, fd, "x", 1, 0), -EPIPE);
    CONF_REQUIRE_EQ(c, conf_sigpipes(c, sock), sig0 + 1);
}

CONF_CASE(overhead_small_buffer_host, "VS-06", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "a 1000-byte buffer holds one packet's skb on Linux 6.12: the second gets RST, and the "
          "ENOBUFS comes once from send (no SIGPIPE), then EPIPE with SIGPIPE; 6.1 takes both "
          "(host socket)")
{
    overhead_small_buffer(c, CONF_HOST, 30400, 30401);
}

CONF_CASE(overhead_small_buffer_guest, "VS-06", GUESTRAW, CONF_CAP_RAW_HOST,
          "a 1000-byte buffer holds one packet's skb on Linux 6.12: the second gets RST, and the "
          "ENOBUFS comes once from send (no SIGPIPE), then EPIPE with SIGPIPE; 6.1 takes both "
          "(guest socket)")
{
    overhead_small_buffer(c, CONF_GUEST, 30400, 30401);
}

/* A full buffer's worth of 200-byte stream packets (1310, 262000 bytes):
 * 6.12 collapses the queue once it holds 455 skbs, the first 162 packets
 * into one 32400-byte skb, so no RST, every byte in order, and fwd_cnt
 * moves by whole collapsed skbs. SO_RCVLOWAT at the buffer's size makes
 * every read that frees space announce it, which shows where fwd_cnt is:
 * 6.1 frees the first packet after 200 bytes, 6.12 nothing until 32400. */
static void overhead_collapse(struct conf *c, enum conf_side sock, uint32_t pport, uint32_t sport)
{
    enum { N = 1310, LEN = 200, FIRST = 162 * LEN };
    peer_begin(c, sock);
    int fd = peer_connect(c, sock, VSOCK_TYPE_STREAM, pport, sport);
    CONF_REQUIRE_RET(c, conf_set_rcvlowat(c, sock, fd, CONF_DEFAULT_BUF_ALLOC), 0);
    for (int i = 0; i < N; i++) {
        peer_rw(c, sock, pport, sport, VSOCK_TYPE_STREAM, LEN, 0, 44, (size_t)i * LEN);
        if (i % 100 == 99)
            conf_sleep(c, CONF_MS(2)); /* crafted packets wait in a bounded queue */
    }
    peer_expect_none(c, sock, CONF_MS(50));
    wait_queued(c, sock, fd, (size_t)N * LEN);
    uint8_t *b = conf_scratch(c, FIRST);
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, LEN, VEP_MSG_DONTWAIT, NULL), LEN);
    if (is_6_12(c))
        peer_expect_none(c, sock, CONF_MS(20));
    else
        expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, LEN);
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b + LEN, FIRST - LEN, VEP_MSG_DONTWAIT, NULL),
                     FIRST - LEN);
    CONF_REQUIRE_EQ(c, conf_check(b, FIRST, 44, 0), FIRST);
    expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, FIRST);
    size_t got = FIRST;
    while (got < (size_t)N * LEN) {
        size_t want = (size_t)N * LEN - got < FIRST ? (size_t)N * LEN - got : FIRST;
        int64_t r = conf_recv(c, sock, fd, b, want, VEP_MSG_DONTWAIT, NULL);
        CONF_REQUIRE_MSG(c, r > 0, "read at %zu of %u: %lld", got, N * LEN, (long long)r);
        CONF_REQUIRE_EQ(c, conf_check(b, (size_t)r, 44, got), r);
        got += (size_t)r;
        struct vsock_hdr u = peer_expect(c, sock, VSOCK_OP_CREDIT_UPDATE);
        CONF_REQUIRE(c, u.fwd_cnt <= got);
    }
}

CONF_CASE(overhead_collapse_stream_host, "VS-06 VS-07", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "a buffer's worth of 200-byte stream packets: Linux 6.12 collapses the queue instead "
          "of resetting (fwd_cnt moves by 32400-byte skbs), 6.1 frees each packet (host socket)")
{
    overhead_collapse(c, CONF_HOST, 30500, 30501);
}

CONF_CASE(overhead_collapse_stream_guest, "VS-06 VS-07", GUESTRAW, CONF_CAP_RAW_HOST,
          "a buffer's worth of 200-byte stream packets: Linux 6.12 collapses the queue instead "
          "of resetting (fwd_cnt moves by 32400-byte skbs), 6.1 frees each packet (guest socket)")
{
    overhead_collapse(c, CONF_GUEST, 30500, 30501);
}

/* ---- D4: seqpacket MSG_PEEK (6.12) ---------------------------------------------- */

static void seqpacket_peek(struct conf *c, enum conf_side sock, uint32_t pport, uint32_t sport)
{
    peer_begin(c, sock);
    int fd = peer_connect(c, sock, VSOCK_TYPE_SEQPACKET, pport, sport);
    uint8_t b[64];
    unsigned fl = 0;
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, 32, VEP_MSG_PEEK, NULL), -EAGAIN);
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_SEQPACKET, 40, 0, 45, 0);
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_SEQPACKET, 24, VSOCK_SEQ_EOM | VSOCK_SEQ_EOR, 45,
            40);
    CONF_WAIT_POLL(c, sock, fd, VEP_POLLIN);
    if (is_6_12(c)) {
        CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, 32, VEP_MSG_PEEK, &fl), 32);
        CONF_REQUIRE_EQ(c, fl, VEP_MSG_TRUNC | VEP_MSG_EOR);
        CONF_REQUIRE_EQ(c, conf_check(b, 32, 45, 0), 32);
        CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, 32, VEP_MSG_PEEK | VEP_MSG_TRUNC, &fl), 64);
        CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, 64, VEP_MSG_PEEK, &fl), 64);
        CONF_REQUIRE_EQ(c, fl, VEP_MSG_EOR);
        CONF_REQUIRE_EQ(c, conf_check(b, 64, 45, 0), 64);
    } else {
        /* the transport's EOPNOTSUPP, which 6.1's recvmsg reports as ENOMEM */
        CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, 32, VEP_MSG_PEEK, &fl), -ENOMEM);
    }
    peer_expect_none(c, sock, CONF_MS(20)); /* a peek takes nothing and announces nothing */
    memset(b, 0, sizeof(b));
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, 64, 0, &fl), 64);
    CONF_REQUIRE_EQ(c, fl, VEP_MSG_EOR);
    CONF_REQUIRE_EQ(c, conf_check(b, 64, 45, 0), 64);
    expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, 64);
}

CONF_CASE(seqpacket_peek_host, "VS-Q1 VS-Q2", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "seqpacket MSG_PEEK: Linux 6.12 copies the first message (MSG_TRUNC, EOR, its length "
          "with MSG_TRUNC) without taking it; 6.1 fails with ENOMEM (host socket)")
{
    seqpacket_peek(c, CONF_HOST, 30600, 30601);
}

CONF_CASE(seqpacket_peek_guest, "VS-Q1 VS-Q2", GUESTRAW, CONF_CAP_RAW_HOST,
          "seqpacket MSG_PEEK: Linux 6.12 copies the first message (MSG_TRUNC, EOR, its length "
          "with MSG_TRUNC) without taking it; 6.1 fails with ENOMEM (guest socket)")
{
    seqpacket_peek(c, CONF_GUEST, 30600, 30601);
}

/* ---- D5: the errno of a read into no buffer (6.12: EFAULT; 6.1: ENOMEM) -------- */

static void recv_no_buffer(struct conf *c, enum conf_side sock, uint32_t pport, uint32_t sport)
{
    int want = is_6_12(c) ? -EFAULT : -ENOMEM;
    peer_begin(c, sock);
    int fd = peer_connect(c, sock, VSOCK_TYPE_STREAM, pport, sport);
    peer_rw(c, sock, pport, sport, VSOCK_TYPE_STREAM, 10, 0, 46, 0);
    CONF_WAIT_POLL(c, sock, fd, VEP_POLLIN);
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, NULL, 10, 0, NULL), want);
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, NULL, 10, VEP_MSG_PEEK, NULL), want);
    peer_expect_none(c, sock, CONF_MS(20)); /* nothing was taken */
    uint8_t b[16];
    CONF_REQUIRE_RET(c, conf_recv(c, sock, fd, b, sizeof(b), 0, NULL), 10);
    CONF_REQUIRE_EQ(c, conf_check(b, 10, 46, 0), 10);
    expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, 10);

    int sfd = peer_connect(c, sock, VSOCK_TYPE_SEQPACKET, pport + 1, sport + 1);
    peer_rw(c, sock, pport + 1, sport + 1, VSOCK_TYPE_SEQPACKET, 10, VSOCK_SEQ_EOM, 47, 0);
    peer_rw(c, sock, pport + 1, sport + 1, VSOCK_TYPE_SEQPACKET, 7, VSOCK_SEQ_EOM, 47, 10);
    CONF_WAIT_POLL(c, sock, sfd, VEP_POLLIN);
    CONF_REQUIRE_RET(c, conf_recv(c, sock, sfd, NULL, 10, 0, NULL), want);
    expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, 10); /* the message was taken */
    CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, sock, sfd, b, sizeof(b), 0, NULL), 7);
    CONF_REQUIRE_EQ(c, conf_check(b, 7, 47, 10), 7);
    expect_credit_update(c, sock, CONF_DEFAULT_BUF_ALLOC, 17);
}

CONF_CASE(recv_no_buffer_errno_host, "VS-S1 VS-Q1", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "a read into no buffer fails with EFAULT on Linux 6.12 and ENOMEM on 6.1; stream data "
          "stays, a seqpacket message is dropped and announced (host socket)")
{
    recv_no_buffer(c, CONF_HOST, 30700, 30701);
}

CONF_CASE(recv_no_buffer_errno_guest, "VS-S1 VS-Q1", GUESTRAW, CONF_CAP_RAW_HOST,
          "a read into no buffer fails with EFAULT on Linux 6.12 and ENOMEM on 6.1; stream data "
          "stays, a seqpacket message is dropped and announced (guest socket)")
{
    recv_no_buffer(c, CONF_GUEST, 30700, 30701);
}

/* ---- D6: SIGPIPE on a stream send's EPIPE (6.12) --------------------------------- */

/* The sender's own SHUT_WR, and the peer's SHUT_RD: EPIPE on both kernels;
 * 6.12 raises SIGPIPE for a stream socket unless MSG_NOSIGNAL. */
static void sigpipe_for(struct conf *c, enum conf_side snd, int type, uint32_t port)
{
    bool signals = is_6_12(c) && type == VSOCK_TYPE_STREAM;
    struct conf_pair p;
    CONF_PAIR(c, snd, type, port, &p);
    int64_t s0 = conf_sigpipes(c, snd);
    CONF_REQUIRE_MSG(c, s0 >= 0, "the target cannot count SIGPIPE: %lld", (long long)s0);
    CONF_REQUIRE_RET(c, conf_shutdown(c, snd, p.client, VEP_SHUT_WR), 0);
    CONF_REQUIRE_RET(c, conf_send(c, snd, p.client, "a", 1, 0), -EPIPE);
    CONF_REQUIRE_EQ(c, conf_sigpipes(c, snd), s0 + (signals ? 1 : 0));
    CONF_REQUIRE_RET(c, conf_send(c, snd, p.client, "a", 1, VEP_MSG_NOSIGNAL), -EPIPE);
    CONF_REQUIRE_EQ(c, conf_sigpipes(c, snd), s0 + (signals ? 1 : 0));

    /* The peer's SHUT_RD (after its SHUT_WR: both ways, so the other end
     * answers with RST and is done): once the SHUTDOWN has arrived, the
     * other end's send fails with EPIPE under the same rule. The case
     * waits for it rather than race it. */
    enum conf_side other = conf_other(snd);
    int64_t s1 = conf_sigpipes(c, other);
    CONF_REQUIRE(c, s1 >= 0);
    CONF_REQUIRE_RET(c, conf_shutdown(c, snd, p.client, VEP_SHUT_RD), 0);
    conf_sleep(c, CONF_MS(100));
    CONF_REQUIRE_RET(c, conf_send(c, other, p.server, "b", 1, VEP_MSG_NOSIGNAL), -EPIPE);
    CONF_REQUIRE_EQ(c, conf_sigpipes(c, other), s1);
    CONF_REQUIRE_RET(c, conf_send(c, other, p.server, "b", 1, 0), -EPIPE);
    CONF_REQUIRE_EQ(c, conf_sigpipes(c, other), s1 + (signals ? 1 : 0));
}

CONF_CASE(sigpipe_on_epipe, "VS-S2", CONF_ALL, 0,
          "a stream send after its own SHUT_WR or the peer's SHUT_RD fails with EPIPE and raises "
          "SIGPIPE on Linux 6.12 (not with MSG_NOSIGNAL, not for seqpacket), never on 6.1; guest "
          "and host senders")
{
    sigpipe_for(c, CONF_GUEST, VSOCK_TYPE_STREAM, 30800);
    sigpipe_for(c, CONF_HOST, VSOCK_TYPE_STREAM, 30801);
    sigpipe_for(c, CONF_GUEST, VSOCK_TYPE_SEQPACKET, 30802);
    sigpipe_for(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 30803);
}

/* ---- D8: ioctl(SIOCOUTQ) (6.12) ---------------------------------------------------- */

static bool outq_zero(struct conf *c, void *arg)
{
    const int *fds = arg;
    return conf_outq(c, CONF_GUEST, fds[0]) == 0 && conf_outq(c, CONF_HOST, fds[1]) == 0;
}

/* While the device is stopped, what each side sends stays unsent: on the
 * guest's tx ring (the guest counts it until tx work takes the buffer
 * back) and in vhost's send queue (counted until copied into the guest's
 * rx buffers). 6.1 has no socket ioctl at all. */
CONF_CASE(siocoutq_unsent_bytes, "VS-S1", CONF_ALL, CONF_CAP_DEVICE_STOP,
          "SIOCOUTQ: Linux 6.12 counts the bytes sent and not yet out (100 on each side while "
          "the device is stopped, 0 once it ran), EOPNOTSUPP without a transport (a new socket, "
          "a listener); 6.1 has no socket ioctl (EOPNOTSUPP)")
{
    bool v612 = is_6_12(c);
    int fresh = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
    CONF_REQUIRE(c, fresh >= 0);
    CONF_REQUIRE_RET(c, conf_outq(c, CONF_GUEST, fresh), -EOPNOTSUPP);
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 30900, &p);
    CONF_REQUIRE_RET(c, conf_outq(c, CONF_HOST, p.listener), -EOPNOTSUPP);
    int fds[2] = {p.client, p.server};
    for (int i = 0; i < 2; i++)
        CONF_REQUIRE_RET(c, conf_outq(c, i ? CONF_HOST : CONF_GUEST, fds[i]),
                         v612 ? 0 : -EOPNOTSUPP);
    uint8_t out[100], in[100];
    conf_fill(out, sizeof(out), 48, 0);
    CONF_REQUIRE_RET(c, conf_device_stop(c), 0);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_GUEST, p.client, out, sizeof(out), 0), 100);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_HOST, p.server, out, sizeof(out), 0), 100);
    conf_sleep(c, CONF_MS(50));
    for (int i = 0; i < 2; i++)
        CONF_REQUIRE_RET(c, conf_outq(c, i ? CONF_HOST : CONF_GUEST, fds[i]),
                         v612 ? 100 : -EOPNOTSUPP);
    CONF_REQUIRE_RET(c, conf_device_start(c), 0);
    CONF_RECV_EXACT(c, CONF_HOST, p.server, in, sizeof(in));
    CONF_REQUIRE_EQ(c, conf_check(in, sizeof(in), 48, 0), sizeof(in));
    CONF_RECV_EXACT(c, CONF_GUEST, p.client, in, sizeof(in));
    CONF_REQUIRE_EQ(c, conf_check(in, sizeof(in), 48, 0), sizeof(in));
    if (v612)
        CONF_REQUIRE_MSG(c, conf_wait(c, outq_zero, fds, CONF_IO_TIMEOUT_NS),
                         "SIOCOUTQ still guest %d, host %d", conf_outq(c, CONF_GUEST, fds[0]),
                         conf_outq(c, CONF_HOST, fds[1]));
    else
        CONF_REQUIRE_RET(c, conf_outq(c, CONF_GUEST, p.client), -EOPNOTSUPP);
}

/* ---- D10: the guest's tx chains (6.12: header + page fragments) ------------------- */

/* The chain our device took for the guest's RW of len bytes on port. */
static void tx_layout_of(struct conf *c, uint32_t port, uint32_t len, struct conf_tx_chain *out)
{
    enum { MAX = 256 };
    struct conf_tx_chain *ch = conf_scratch(c, MAX * sizeof(*ch));
    int64_t n = conf_tx_chains(c, 0, ch, MAX);
    CONF_REQUIRE_MSG(c, n >= 0 && n <= MAX, "conf_tx_chains: %lld", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (ch[i].h.op == VSOCK_OP_RW && ch[i].h.dst_port == port && ch[i].h.len == len) {
            *out = ch[i];
            return;
        }
    conf_fail(c, __FILE__, __LINE__, "no tx chain for an RW of %u bytes to port %u among %lld",
              len, port, (long long)n);
}

/* Linux's guest hands the device a packet as a header descriptor and the
 * skb's data: 6.1 always a linear skb, so one payload descriptor; 6.12
 * gives a packet over SKB_WITH_OVERHEAD(32768) - 44 = 32404 bytes a
 * non-linear skb, one descriptor per page fragment (virtio_transport_send_skb,
 * alloc_skb_with_frags with order-3 pages). Our driver does the same under
 * each profile. */
CONF_CASE(guest_tx_chain_layout, "VS-I5", CONF_SIM | CONF_GUEST_TARGET, 0,
          "the guest's tx chains: header + payload for every size on Linux 6.1; on 6.12 header + "
          "page fragments above 32404 bytes (40000: 32768 + 7232; 65536: 32768 + 32768)")
{
    static const uint32_t sizes[] = {20000, 32404, 32405, 40000, 65536};
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 31000, &p);
    uint8_t *data = conf_scratch(c, 65536), *in = conf_scratch(c, 65536);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        conf_fill(data, sizes[i], 49, i);
        CONF_SEND_ALL(c, CONF_GUEST, p.client, data, sizes[i]);
        CONF_RECV_EXACT(c, CONF_HOST, p.server, in, sizes[i]);
        CONF_REQUIRE_EQ(c, conf_check(in, sizes[i], 49, i), sizes[i]);
        struct conf_tx_chain ch;
        tx_layout_of(c, 31000, sizes[i], &ch);
        uint32_t want[4] = {VSOCK_HDR_LEN, sizes[i], 0, 0};
        uint32_t nwant = 2;
        if (is_6_12(c) && sizes[i] > 32768) { /* one fragment up to 32 KiB */
            want[1] = 32768;
            want[2] = sizes[i] - 32768;
            nwant = 3;
        }
        CONF_REQUIRE_MSG(c, ch.ndesc == nwant && ch.len[0] == want[0] && ch.len[1] == want[1] &&
                                ch.len[2] == want[2],
                         "an RW of %u bytes: %u descriptors [%u %u %u %u], expected %u [%u %u %u]",
                         sizes[i], ch.ndesc, ch.len[0], ch.len[1], ch.len[2], ch.len[3], nwant,
                         want[0], want[1], want[2]);
    }
}
