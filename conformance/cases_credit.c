/* Credit (5.10.6.3): RW only within the peer's free space, valid buf_alloc
 * and fwd_cnt on every packet, CREDIT_REQUEST answered, CREDIT_UPDATE after
 * reads (Linux: once less than 64 KiB of unannounced space is left). */
#include "conformance/conf_case.h"

#define RAW CONF_RAW_TARGETS
#define HOST_BUF (256u * 1024u)

/* Reads RW packets from the host until `want` payload bytes came, checking
 * each against the pattern and against the credit given (budget); other
 * ops fail. Returns the last header. */
static struct vsock_hdr take_rw(struct conf *c, uint32_t *got, uint32_t want, uint32_t budget,
                                uint32_t tag)
{
    struct vsock_hdr h = {0};
    uint8_t *buf = conf_scratch(c, 65536);
    while (*got < want) {
        uint32_t n = CONF_RAW_EXPECT(c, &h, buf, 65536, VSOCK_OP_RW);
        CONF_REQUIRE_EQ(c, n, h.len);
        CONF_REQUIRE_MSG(c, *got + n <= budget,
                         "the host sent %u bytes past the %u bytes of credit it had",
                         *got + n - budget, budget);
        CONF_REQUIRE_EQ(c, conf_check(buf, n, tag, *got), n);
        *got += n;
    }
    return h;
}

static void grant(struct conf *c, uint32_t gport, uint32_t hport, uint32_t buf_alloc,
                  uint32_t fwd_cnt)
{
    struct vsock_hdr u = conf_raw_hdr(c, VSOCK_OP_CREDIT_UPDATE, gport, hport, VSOCK_TYPE_STREAM);
    u.buf_alloc = buf_alloc;
    u.fwd_cnt = fwd_cnt;
    CONF_RAW_SEND(c, &u, NULL, 0);
}

struct sender {
    int fd;
    const uint8_t *data;
    size_t len, sent;
};

/* Sends what credit allows without waiting. */
static void push(struct conf *c, struct sender *s)
{
    while (s->sent < s->len) {
        int64_t n = conf_send(c, CONF_HOST, s->fd, s->data + s->sent, s->len - s->sent, 0);
        if (n == -EAGAIN)
            return;
        CONF_REQUIRE_MSG(c, n > 0, "host send: %lld", (long long)n);
        s->sent += (size_t)n;
    }
}

CONF_CASE(credit_rw_within_window, "VS-06 VS-07 VS-I9", RAW, CONF_CAP_RAW,
          "with 1000 bytes of credit the host never sends past the window; each CREDIT_UPDATE "
          "moves it on until 20000 bytes arrived intact")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 7000, 4);
    CONF_RAW_CONNECT(c, 3000, 7000, VSOCK_TYPE_STREAM, 1000);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    enum { TOTAL = 20000 };
    uint8_t *data = conf_scratch(c, TOTAL);
    conf_fill(data, TOTAL, 5, 0);
    struct sender s = {a, data, TOTAL, 0};
    uint32_t got = 0;
    while (got < TOTAL) {
        CONF_WAIT_POLL(c, CONF_HOST, a, VEP_POLLOUT); /* the last grant has arrived */
        push(c, &s);
        uint32_t want = got + 1000 < TOTAL ? got + 1000 : TOTAL;
        take_rw(c, &got, want, got + 1000, 5);
        CONF_RAW_EXPECT_NONE(c, CONF_MS(5));
        grant(c, 3000, 7000, 1000, got); /* consumed everything that came */
    }
}

CONF_CASE(credit_zero_buf_alloc_resume, "VS-06 VS-I9 VS-I10", RAW, CONF_CAP_RAW,
          "a peer that advertises buf_alloc 0 gets no RW at all; a CREDIT_UPDATE opening "
          "the window releases exactly what it allows")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 7100, 4);
    CONF_RAW_CONNECT(c, 3100, 7100, VSOCK_TYPE_STREAM, 0);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    CONF_REQUIRE(c, !(conf_poll(c, CONF_HOST, a) & VEP_POLLOUT));
    uint8_t data[3000];
    conf_fill(data, sizeof(data), 6, 0);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_HOST, a, data, sizeof(data), 0), -EAGAIN);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(100));
    grant(c, 3100, 7100, 2000, 0);
    CONF_WAIT_POLL(c, CONF_HOST, a, VEP_POLLOUT);
    struct sender s = {a, data, sizeof(data), 0};
    push(c, &s);
    uint32_t got = 0;
    take_rw(c, &got, 2000, 2000, 6);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(50));
    grant(c, 3100, 7100, 2000, 2000);
    CONF_WAIT_POLL(c, CONF_HOST, a, VEP_POLLOUT);
    push(c, &s);
    take_rw(c, &got, 3000, 4000, 6);
}

CONF_CASE(credit_shrunk_window, "VS-06", RAW, CONF_CAP_RAW,
          "a peer that shrinks buf_alloc below what is in flight gets nothing more until "
          "its reads make room again")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 7200, 4);
    CONF_RAW_CONNECT(c, 3200, 7200, VSOCK_TYPE_STREAM, 4000);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    uint8_t data[6000];
    conf_fill(data, sizeof(data), 7, 0);
    struct sender s = {a, data, sizeof(data), 0};
    push(c, &s);
    uint32_t got = 0;
    take_rw(c, &got, 4000, 4000, 7);
    /* 4000 bytes in flight, none consumed, and the window shrinks to 1000. */
    grant(c, 3200, 7200, 1000, 0);
    conf_sleep(c, CONF_MS(20));
    push(c, &s);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(100));
    grant(c, 3200, 7200, 1000, 4000); /* all read: 1000 free */
    CONF_WAIT_POLL(c, CONF_HOST, a, VEP_POLLOUT);
    push(c, &s);
    take_rw(c, &got, 5000, 5000, 7);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(50));
}

CONF_CASE(credit_fields_on_every_packet, "VS-07 VS-I9", RAW, CONF_CAP_RAW,
          "every packet the host sends on a connection carries its buf_alloc and the bytes it "
          "has consumed as fwd_cnt")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 7300, 4);
    struct vsock_hdr r = CONF_RAW_CONNECT(c, 3300, 7300, VSOCK_TYPE_STREAM, 65536);
    uint32_t buf_alloc = r.buf_alloc;
    CONF_REQUIRE(c, buf_alloc > 0);
    CONF_REQUIRE_EQ(c, r.fwd_cnt, 0);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    uint32_t consumed = 0;
    for (int round = 1; round <= 5; round++) {
        uint8_t data[700], in[700];
        conf_fill(data, sizeof(data), 8, consumed);
        struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RW, 3300, 7300, VSOCK_TYPE_STREAM);
        CONF_RAW_SEND(c, &h, data, sizeof(data));
        CONF_RECV_EXACT(c, CONF_HOST, a, in, sizeof(in));
        consumed += sizeof(in);
        /* The read emptied the queue: Linux announces the space at once. */
        struct vsock_hdr u;
        CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
        CONF_REQUIRE_EQ(c, u.buf_alloc, buf_alloc);
        CONF_REQUIRE_EQ(c, u.fwd_cnt, consumed);
        CONF_SEND_ALL(c, CONF_HOST, a, "r", 1);
        struct vsock_hdr rw;
        CONF_RAW_EXPECT(c, &rw, NULL, 0, VSOCK_OP_RW);
        CONF_REQUIRE_EQ(c, rw.buf_alloc, buf_alloc);
        CONF_REQUIRE_EQ(c, rw.fwd_cnt, consumed);
        grant(c, 3300, 7300, 65536, (uint32_t)round);
    }
    CONF_REQUIRE_RET(c, conf_shutdown(c, CONF_HOST, a, VEP_SHUT_WR), 0);
    struct vsock_hdr sd;
    CONF_RAW_EXPECT(c, &sd, NULL, 0, VSOCK_OP_SHUTDOWN);
    CONF_REQUIRE_EQ(c, sd.buf_alloc, buf_alloc);
    CONF_REQUIRE_EQ(c, sd.fwd_cnt, consumed);
}

CONF_CASE(credit_request_answered, "VS-07 VS-I10", RAW, CONF_CAP_RAW,
          "CREDIT_REQUEST is answered by CREDIT_UPDATE with the host's current buf_alloc and "
          "fwd_cnt, before and after the host reads")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 7400, 4);
    struct vsock_hdr r = CONF_RAW_CONNECT(c, 3400, 7400, VSOCK_TYPE_STREAM, 65536);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    struct vsock_hdr q = conf_raw_hdr(c, VSOCK_OP_CREDIT_REQUEST, 3400, 7400, VSOCK_TYPE_STREAM);
    CONF_RAW_SEND(c, &q, NULL, 0);
    struct vsock_hdr u;
    CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_ADDR(c, &u, 7400, 3400);
    CONF_REQUIRE_EQ(c, u.buf_alloc, r.buf_alloc);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, 0);
    uint8_t data[1234], in[1234];
    conf_fill(data, sizeof(data), 9, 0);
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RW, 3400, 7400, VSOCK_TYPE_STREAM);
    CONF_RAW_SEND(c, &h, data, sizeof(data));
    CONF_RECV_EXACT(c, CONF_HOST, a, in, sizeof(in));
    CONF_RAW_SEND(c, &q, NULL, 0);
    CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, sizeof(in));
}

CONF_CASE(credit_update_after_reads, "VS-07 VS-I10", RAW, CONF_CAP_RAW,
          "after a read the host announces consumed space by itself when the read emptied the "
          "queue, or when less than 64 KiB of space is unannounced (Linux 6.1); a read that "
          "leaves data and plenty of space sends nothing")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 7500, 4);
    struct vsock_hdr r = CONF_RAW_CONNECT(c, 3500, 7500, VSOCK_TYPE_STREAM, 65536);
    CONF_REQUIRE_EQ(c, r.buf_alloc, HOST_BUF);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    uint8_t *data = conf_scratch(c, 32768), *in = conf_scratch(c, 32768);
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RW, 3500, 7500, VSOCK_TYPE_STREAM);
    struct vsock_hdr u;
    uint32_t sent = 0, got = 0;

    /* Two packets; reads that leave data queued and plenty of space send
     * nothing (whole packets only: Linux counts fwd_cnt per packet). */
    for (int i = 0; i < 2; i++, sent += 32768) {
        conf_fill(data, 32768, 10, sent);
        CONF_RAW_SEND(c, &h, data, 32768);
    }
    CONF_RECV_EXACT(c, CONF_HOST, a, in, 1000); /* part of the first packet */
    CONF_REQUIRE_EQ(c, conf_check(in, 1000, 10, got), 1000);
    got += 1000;
    CONF_RAW_EXPECT_NONE(c, CONF_MS(10));
    CONF_RECV_EXACT(c, CONF_HOST, a, in, 32768 - 1000); /* the rest of it */
    CONF_REQUIRE_EQ(c, conf_check(in, 32768 - 1000, 10, got), 32768 - 1000);
    got += 32768 - 1000;
    CONF_RAW_EXPECT_NONE(c, CONF_MS(10));

    /* The read that empties the queue announces the space. */
    CONF_RECV_EXACT(c, CONF_HOST, a, in, 32768);
    CONF_REQUIRE_EQ(c, conf_check(in, 32768, 10, got), 32768);
    got += 32768;
    CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_ADDR(c, &u, 7500, 3500);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, got);
    CONF_REQUIRE_EQ(c, u.buf_alloc, HOST_BUF);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(10));

    /* A full buffer read a packet at a time: silent while 64 KiB or more is
     * free (6 reads), announced once less is (the 7th, data still queued),
     * and again by the read that empties the queue. */
    for (int i = 0; i < 8; i++, sent += 32768) {
        conf_fill(data, 32768, 10, sent);
        CONF_RAW_SEND(c, &h, data, 32768);
    }
    for (int i = 1; i <= 8; i++) {
        CONF_RECV_EXACT(c, CONF_HOST, a, in, 32768);
        CONF_REQUIRE_EQ(c, conf_check(in, 32768, 10, got), 32768);
        got += 32768;
        if (i <= 6) {
            CONF_RAW_EXPECT_NONE(c, CONF_MS(10));
            continue;
        }
        CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
        CONF_REQUIRE_EQ(c, u.fwd_cnt, got);
        CONF_REQUIRE_EQ(c, u.buf_alloc, HOST_BUF);
    }
    CONF_REQUIRE_EQ(c, got, sent);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(10));
}

CONF_CASE(credit_buf_size_change_announced, "VS-07 VS-I10", RAW, CONF_CAP_RAW,
          "changing the host socket's buffer size sends a CREDIT_UPDATE with the new buf_alloc "
          "(Linux); setting the same size again sends nothing")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 7600, 4);
    CONF_RAW_CONNECT(c, 3600, 7600, VSOCK_TYPE_STREAM, 65536);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    CONF_REQUIRE_RET(c, conf_set_buf_size(c, CONF_HOST, a, 8192), 0);
    struct vsock_hdr u;
    CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.buf_alloc, 8192);
    CONF_REQUIRE_RET(c, conf_set_buf_size(c, CONF_HOST, a, 8192), 0);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(50));
}

CONF_CASE(credit_bulk_small_buffers, "VS-04 VS-06 VS-02 VS-03", CONF_ALL, 0,
          "1 MiB each way through 4 KiB socket buffers: senders wait for credit, nothing is "
          "lost or duplicated, and the oracle never sees a sender past the receiver's buffer")
{
    int lh = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 7800, 4);
    CONF_REQUIRE_RET(c, conf_set_buf_size(c, CONF_HOST, lh, 4096), 0);
    int g = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
    CONF_REQUIRE_RET(c, conf_set_buf_size(c, CONF_GUEST, g, 4096), 0);
    CONF_REQUIRE_RET(c, conf_connect(c, CONF_GUEST, g, VSOCK_CID_HOST, 7800), -EINPROGRESS);
    int h = CONF_ACCEPT(c, CONF_HOST, lh);
    CONF_WAIT_POLL(c, CONF_GUEST, g, VEP_POLLOUT);
    CONF_TRANSFER(c, CONF_GUEST, g, h, 1u << 20, 12);
    CONF_TRANSFER(c, CONF_HOST, h, g, 1u << 20, 13);
}
