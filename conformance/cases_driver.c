/* The guest driver's side of the socket rules, with the case speaking for
 * the host (CONF_CAP_RAW_HOST): what the driver sends is checked packet by
 * packet, and the packets it receives are crafted. Runs where the host
 * side is ours: sim, and the guest target (the real Linux driver against
 * our device). */
#include "conformance/conf_case.h"

#define HOSTRAW (CONF_SIM | CONF_GUEST_TARGET)

/* Requires h to come from the guest (its CID and port) to the host port. */
static void from_guest(struct conf *c, const struct vsock_hdr *h, uint32_t gport, uint32_t hport)
{
    char got[160];
    conf_hdr_format(h, got, sizeof(got));
    CONF_REQUIRE_MSG(c, h->src_cid == conf_guest_cid(c) && h->dst_cid == conf_host_cid(c),
                     "the guest's packet does not go from its CID to the host's: %s", got);
    CONF_REQUIRE_MSG(c, h->src_port == gport && h->dst_port == hport,
                     "expected ports %u -> %u: %s", gport, hport, got);
}

/* REQUEST from host port hport to the guest's listener, and its RESPONSE. */
static struct vsock_hdr host_connects(struct conf *c, uint32_t hport, uint32_t gport,
                                      uint32_t buf_alloc)
{
    struct vsock_hdr h = conf_raw_host_hdr(c, VSOCK_OP_REQUEST, hport, gport, VSOCK_TYPE_STREAM);
    h.buf_alloc = buf_alloc;
    CONF_RAW_HOST_SEND(c, &h, NULL, 0);
    struct vsock_hdr r;
    CONF_RAW_HOST_EXPECT(c, &r, NULL, 0, VSOCK_OP_RESPONSE);
    from_guest(c, &r, gport, hport);
    return r;
}

CONF_CASE(driver_rst_unknown_type, "VS-09", HOSTRAW, CONF_CAP_RAW_HOST,
          "the guest answers packets of an unknown type with RST carrying that type, at a "
          "listener, at a live connection and at a port with no socket")
{
    CONF_RAW_HOST_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 20000, 4);
    host_connects(c, 1500, 20000, 65536);
    static const struct {
        uint16_t type;
        uint32_t hport, gport;
    } pkts[] = {{7, 1501, 20000}, {0, 1500, 20000}, {0xffff, 1502, 20999}};
    for (size_t i = 0; i < 3; i++) {
        struct vsock_hdr h = conf_raw_host_hdr(c, VSOCK_OP_REQUEST, pkts[i].hport, pkts[i].gport,
                                               pkts[i].type);
        CONF_RAW_HOST_SEND(c, &h, NULL, 0);
        struct vsock_hdr r;
        CONF_RAW_HOST_EXPECT(c, &r, NULL, 0, VSOCK_OP_RST);
        from_guest(c, &r, pkts[i].gport, pkts[i].hport);
        CONF_REQUIRE_EQ(c, r.type, pkts[i].type);
    }
    CONF_REQUIRE(c, CONF_ACCEPT(c, CONF_GUEST, lfd) >= 0); /* only the real connection */
    CONF_REQUIRE_RET(c, conf_accept(c, CONF_GUEST, lfd), -EAGAIN);
}

CONF_CASE(driver_rst_rules, "VS-S1 VS-S3", HOSTRAW, CONF_CAP_RAW_HOST,
          "the guest answers a REQUEST to a port with no listener with a reply RST (addresses "
          "swapped, no credit) and never answers an RST")
{
    CONF_RAW_HOST_BEGIN(c);
    struct vsock_hdr h = conf_raw_host_hdr(c, VSOCK_OP_REQUEST, 1600, 20100, VSOCK_TYPE_STREAM);
    CONF_RAW_HOST_SEND(c, &h, NULL, 0);
    struct vsock_hdr r;
    CONF_RAW_HOST_EXPECT(c, &r, NULL, 0, VSOCK_OP_RST);
    from_guest(c, &r, 20100, 1600);
    CONF_REQUIRE_EQ(c, r.buf_alloc, 0);
    CONF_REQUIRE_EQ(c, r.fwd_cnt, 0);
    h.op = VSOCK_OP_RST;
    CONF_RAW_HOST_SEND(c, &h, NULL, 0);
    CONF_RAW_HOST_EXPECT_NONE(c, CONF_MS(100));
}

CONF_CASE(driver_credit_fields, "VS-05 VS-08 VS-I9", HOSTRAW, CONF_CAP_RAW_HOST,
          "every packet the guest sends on a connection comes from guest_cid and carries its "
          "buf_alloc and the bytes its application consumed as fwd_cnt")
{
    CONF_RAW_HOST_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 20200, 4);
    struct vsock_hdr resp = host_connects(c, 1700, 20200, 65536);
    CONF_REQUIRE(c, resp.buf_alloc > 0);
    CONF_REQUIRE_EQ(c, resp.fwd_cnt, 0);
    int a = CONF_ACCEPT(c, CONF_GUEST, lfd);
    uint32_t consumed = 0;
    for (int round = 1; round <= 4; round++) {
        uint8_t data[900], in[900];
        conf_fill(data, sizeof(data), 70, consumed);
        struct vsock_hdr h = conf_raw_host_hdr(c, VSOCK_OP_RW, 1700, 20200, VSOCK_TYPE_STREAM);
        h.fwd_cnt = (uint32_t)round - 1;
        CONF_RAW_HOST_SEND(c, &h, data, sizeof(data));
        CONF_RECV_EXACT(c, CONF_GUEST, a, in, sizeof(in));
        CONF_REQUIRE_EQ(c, conf_check(in, sizeof(in), 70, consumed), sizeof(in));
        consumed += sizeof(in);
        CONF_SEND_ALL(c, CONF_GUEST, a, "k", 1);
        struct vsock_hdr rw;
        /* A credit update may come first; every packet must be right. */
        do {
            CONF_RAW_HOST_EXPECT(c, &rw, NULL, 0, -1);
            from_guest(c, &rw, 20200, 1700);
            CONF_REQUIRE_EQ(c, rw.buf_alloc, resp.buf_alloc);
            CONF_REQUIRE_MSG(c, rw.fwd_cnt <= consumed, "fwd_cnt %u, but only %u consumed",
                             rw.fwd_cnt, consumed);
        } while (rw.op != VSOCK_OP_RW);
        CONF_REQUIRE_EQ(c, rw.fwd_cnt, consumed);
    }
}

CONF_CASE(driver_rw_within_credit, "VS-04 VS-I9", HOSTRAW, CONF_CAP_RAW_HOST,
          "the guest never sends RW past the credit the host gave (buf_alloc 1000), and resumes "
          "on each CREDIT_UPDATE until 6000 bytes arrived")
{
    CONF_RAW_HOST_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 20300, 4);
    host_connects(c, 1800, 20300, 1000);
    int a = CONF_ACCEPT(c, CONF_GUEST, lfd);
    enum { TOTAL = 6000 };
    uint8_t data[TOTAL], in[TOTAL];
    conf_fill(data, TOTAL, 71, 0);
    size_t sent = 0;
    uint32_t got = 0;
    while (got < TOTAL) {
        CONF_WAIT_POLL(c, CONF_GUEST, a, VEP_POLLOUT);
        int64_t n = conf_send(c, CONF_GUEST, a, data + sent, TOTAL - sent, 0);
        CONF_REQUIRE_MSG(c, n > 0, "guest send: %lld", (long long)n);
        sent += (size_t)n;
        uint32_t budget = got + 1000;
        while (got < budget && got < TOTAL) {
            struct vsock_hdr h;
            uint32_t len = CONF_RAW_HOST_EXPECT(c, &h, in + got, TOTAL - got, VSOCK_OP_RW);
            CONF_REQUIRE_MSG(c, got + len <= budget, "the guest sent %u bytes past its credit",
                             got + len - budget);
            got += len;
        }
        CONF_RAW_HOST_EXPECT_NONE(c, CONF_MS(20));
        struct vsock_hdr u = conf_raw_host_hdr(c, VSOCK_OP_CREDIT_UPDATE, 1800, 20300,
                                               VSOCK_TYPE_STREAM);
        u.buf_alloc = 1000;
        u.fwd_cnt = got;
        CONF_RAW_HOST_SEND(c, &u, NULL, 0);
    }
    CONF_REQUIRE_EQ(c, conf_check(in, TOTAL, 71, 0), TOTAL);
}

CONF_CASE(driver_credit_request, "VS-05 VS-I10", HOSTRAW, CONF_CAP_RAW_HOST,
          "the guest answers CREDIT_REQUEST with CREDIT_UPDATE carrying its buf_alloc and "
          "fwd_cnt")
{
    CONF_RAW_HOST_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 20400, 4);
    struct vsock_hdr resp = host_connects(c, 1900, 20400, 65536);
    int a = CONF_ACCEPT(c, CONF_GUEST, lfd);
    struct vsock_hdr h = conf_raw_host_hdr(c, VSOCK_OP_RW, 1900, 20400, VSOCK_TYPE_STREAM);
    CONF_RAW_HOST_SEND(c, &h, "twelve bytes", 12);
    uint8_t in[12];
    CONF_RECV_EXACT(c, CONF_GUEST, a, in, 12);
    struct vsock_hdr q = conf_raw_host_hdr(c, VSOCK_OP_CREDIT_REQUEST, 1900, 20400,
                                           VSOCK_TYPE_STREAM);
    CONF_RAW_HOST_SEND(c, &q, NULL, 0);
    struct vsock_hdr u;
    CONF_RAW_HOST_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    from_guest(c, &u, 20400, 1900);
    CONF_REQUIRE_EQ(c, u.buf_alloc, resp.buf_alloc);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, 12);
}

CONF_CASE(driver_clean_disconnect, "VS-S2 VS-S4", HOSTRAW, CONF_CAP_RAW_HOST,
          "a SHUTDOWN with both bits from the host is answered by the guest's RST once nothing "
          "is left to read, and the guest's application sees end of stream")
{
    CONF_RAW_HOST_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 20500, 4);
    host_connects(c, 2000, 20500, 65536);
    int a = CONF_ACCEPT(c, CONF_GUEST, lfd);
    struct vsock_hdr s = conf_raw_host_hdr(c, VSOCK_OP_SHUTDOWN, 2000, 20500, VSOCK_TYPE_STREAM);
    s.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
    CONF_RAW_HOST_SEND(c, &s, NULL, 0);
    struct vsock_hdr r;
    CONF_RAW_HOST_EXPECT(c, &r, NULL, 0, VSOCK_OP_RST);
    from_guest(c, &r, 20500, 2000);
    CONF_WAIT_EOF(c, CONF_GUEST, a);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_GUEST, a, "x", 1, 0), -EPIPE);
}

CONF_CASE(driver_connect_request, "VS-08 VS-S1 VS-S3", HOSTRAW, CONF_CAP_RAW_HOST,
          "a guest connect sends REQUEST from guest_cid with valid credit; RESPONSE connects "
          "it, and an RST to a second one makes that connect fail with ECONNRESET")
{
    CONF_RAW_HOST_BEGIN(c);
    int fd = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
    CONF_REQUIRE_RET(c, conf_connect(c, CONF_GUEST, fd, VSOCK_CID_HOST, 20600), -EINPROGRESS);
    struct vsock_hdr q;
    CONF_RAW_HOST_EXPECT(c, &q, NULL, 0, VSOCK_OP_REQUEST);
    uint32_t port;
    CONF_REQUIRE_RET(c, conf_local_port(c, CONF_GUEST, fd, &port), 0);
    from_guest(c, &q, port, 20600);
    CONF_REQUIRE(c, q.buf_alloc > 0);
    CONF_REQUIRE_EQ(c, q.type, VSOCK_TYPE_STREAM);
    struct vsock_hdr r = conf_raw_host_hdr(c, VSOCK_OP_RESPONSE, 20600, port, VSOCK_TYPE_STREAM);
    CONF_RAW_HOST_SEND(c, &r, NULL, 0);
    CONF_WAIT_POLL(c, CONF_GUEST, fd, VEP_POLLOUT);
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_GUEST, fd), 0);
    int fd2 = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
    CONF_REQUIRE_RET(c, conf_connect(c, CONF_GUEST, fd2, VSOCK_CID_HOST, 20601), -EINPROGRESS);
    CONF_RAW_HOST_EXPECT(c, &q, NULL, 0, VSOCK_OP_REQUEST);
    r = conf_raw_host_hdr(c, VSOCK_OP_RST, 20601, q.src_port, VSOCK_TYPE_STREAM);
    CONF_RAW_HOST_SEND(c, &r, NULL, 0);
    CONF_WAIT_POLL(c, CONF_GUEST, fd2, VEP_POLLERR);
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_GUEST, fd2), -ECONNRESET);
}

CONF_CASE(driver_stale_bytes_ignored, "SR-30 SR-49 VS-I6", HOSTRAW, CONF_CAP_RAW_HOST,
          "after a 4000-byte packet, a 10-byte one lands in a reused rx buffer whose stale "
          "bytes lie past the used length: the guest delivers exactly the 4010 bytes sent")
{
    CONF_RAW_HOST_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 20700, 4);
    host_connects(c, 2100, 20700, 65536);
    int a = CONF_ACCEPT(c, CONF_GUEST, lfd);
    uint8_t data[4010], in[4100];
    conf_fill(data, sizeof(data), 72, 0);
    for (int round = 0; round < 8; round++) {
        struct vsock_hdr h = conf_raw_host_hdr(c, VSOCK_OP_RW, 2100, 20700, VSOCK_TYPE_STREAM);
        CONF_RAW_HOST_SEND(c, &h, data, 4000);
        CONF_RAW_HOST_SEND(c, &h, data + 4000, 10);
        CONF_RECV_EXACT(c, CONF_GUEST, a, in, 4010);
        CONF_REQUIRE_EQ(c, conf_check(in, 4010, 72, 0), 4010);
        CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, a, in, sizeof(in), 0, NULL), -EAGAIN);
    }
}

CONF_CASE(driver_rw_past_buf_alloc, "VS-04 VS-I9", HOSTRAW, CONF_CAP_RAW_HOST,
          "RW past the guest socket's buf_alloc is answered by RST carrying its buf_alloc and "
          "fwd_cnt; the guest reads what came before, then ENOBUFS until SO_ERROR takes it, "
          "then end of stream (Linux's recv_enqueue failure path)")
{
    CONF_RAW_HOST_BEGIN(c);
    int l = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
    CONF_REQUIRE(c, l >= 0);
    CONF_REQUIRE_RET(c, conf_bind(c, CONF_GUEST, l, 20800), 0);
    CONF_REQUIRE_RET(c, conf_set_buf_size(c, CONF_GUEST, l, 4096), 0);
    CONF_REQUIRE_RET(c, conf_listen(c, CONF_GUEST, l, 4), 0);
    struct vsock_hdr resp = host_connects(c, 2200, 20800, 65536);
    CONF_REQUIRE_EQ(c, resp.buf_alloc, 4096);
    int a = CONF_ACCEPT(c, CONF_GUEST, l);
    uint8_t data[3000], in[3000];
    conf_fill(data, sizeof(data), 73, 0);
    struct vsock_hdr h = conf_raw_host_hdr(c, VSOCK_OP_RW, 2200, 20800, VSOCK_TYPE_STREAM);
    CONF_RAW_HOST_SEND(c, &h, data, sizeof(data));
    CONF_RAW_HOST_SEND(c, &h, data, sizeof(data)); /* 6000 > 4096 */
    struct vsock_hdr r;
    CONF_RAW_HOST_EXPECT(c, &r, NULL, 0, VSOCK_OP_RST);
    from_guest(c, &r, 20800, 2200);
    CONF_REQUIRE_EQ(c, r.buf_alloc, 4096);
    CONF_REQUIRE_EQ(c, r.fwd_cnt, 0);
    CONF_RECV_EXACT(c, CONF_GUEST, a, in, sizeof(in));
    CONF_REQUIRE_EQ(c, conf_check(in, sizeof(in), 73, 0), sizeof(in));
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, a, in, sizeof(in), 0, NULL), -ENOBUFS);
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_GUEST, a), -ENOBUFS);
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, a, in, sizeof(in), 0, NULL), 0);
    /* out of the connected table: the listener answers what comes next */
    CONF_RAW_HOST_SEND(c, &h, "late", 4);
    do
        CONF_RAW_HOST_EXPECT(c, &r, NULL, 0, -1);
    while (r.op == VSOCK_OP_CREDIT_UPDATE); /* the read that emptied the queue announced it */
    CONF_REQUIRE_EQ(c, r.op, VSOCK_OP_RST);
    CONF_REQUIRE_EQ(c, r.buf_alloc, 0);
}

/* Reads exactly n bytes once the socket holds at least want (SO_RCVLOWAT, so
 * that every packet sent has arrived before the read). */
static void read_after(struct conf *c, int fd, uint32_t want, uint32_t n)
{
    CONF_REQUIRE_RET(c, conf_set_rcvlowat(c, CONF_GUEST, fd, want), 0);
    CONF_WAIT_POLL(c, CONF_GUEST, fd, VEP_POLLIN);
    uint8_t in[256];
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, fd, in, n, 0, NULL), n);
}

CONF_CASE(driver_rx_coalesce, "VS-05 VS-I10", HOSTRAW, CONF_CAP_RAW_HOST,
          "the guest copies an RW of at most 128 bytes into the last packet it queued (Linux's "
          "GOOD_COPY_LEN, into the rx buffer's tailroom): reading the first packet's bytes frees "
          "nothing until the copied ones are read; a 129-byte RW is queued on its own")
{
    CONF_RAW_HOST_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 20900, 4);
    host_connects(c, 2300, 20900, 65536);
    int a = CONF_ACCEPT(c, CONF_GUEST, lfd);
    uint8_t data[256];
    conf_fill(data, sizeof(data), 74, 0);
    struct vsock_hdr h = conf_raw_host_hdr(c, VSOCK_OP_RW, 2300, 20900, VSOCK_TYPE_STREAM);
    struct vsock_hdr q = conf_raw_host_hdr(c, VSOCK_OP_CREDIT_REQUEST, 2300, 20900,
                                           VSOCK_TYPE_STREAM);
    struct vsock_hdr u;
    CONF_RAW_HOST_SEND(c, &h, data, 100);
    CONF_RAW_HOST_SEND(c, &h, data, 10);
    read_after(c, a, 110, 100);
    CONF_RAW_HOST_SEND(c, &q, NULL, 0);
    CONF_RAW_HOST_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, 0); /* the 100 bytes share a buffer with 10 unread */
    read_after(c, a, 1, 10);
    CONF_RAW_HOST_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, 110);
    CONF_RAW_HOST_SEND(c, &h, data, 100);
    CONF_RAW_HOST_SEND(c, &h, data, 129);
    read_after(c, a, 229, 100);
    /* freed at once, and fewer bytes than SO_RCVLOWAT left: announced */
    CONF_RAW_HOST_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, 210);
    read_after(c, a, 1, 129);
    CONF_RAW_HOST_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, 339);
}
