/* The RST rules, spoken as raw packets from the guest (5.10.6.4: unknown
 * types get RST; 5.10.6.5: RST for no listener, RST aborts; Linux: an RST
 * is never answered, a reply RST swaps the packet's own addresses and
 * carries no credit). */
#include <stdio.h>

#include "conformance/conf_case.h"

#define RAW CONF_RAW_TARGETS

/* An RST in answer to h: addresses swapped, h's type, no payload, no credit. */
static void require_reply_rst(struct conf *c, const struct vsock_hdr *h, const char *what)
{
    struct vsock_hdr r;
    CONF_RAW_EXPECT(c, &r, NULL, 0, VSOCK_OP_RST);
    char got[160];
    conf_hdr_format(&r, got, sizeof(got));
    CONF_REQUIRE_MSG(c, r.src_port == h->dst_port && r.dst_port == h->src_port &&
                            r.src_cid == conf_host_cid(c) && r.dst_cid == conf_guest_cid(c),
                     "%s: RST addresses do not mirror the packet: %s", what, got);
    CONF_REQUIRE_MSG(c, r.type == h->type, "%s: RST type %u, the packet's was %u", what,
                     (unsigned)r.type, (unsigned)h->type);
    CONF_REQUIRE_MSG(c, r.len == 0 && r.buf_alloc == 0 && r.fwd_cnt == 0,
                     "%s: a reply RST carries no payload or credit: %s", what, got);
}

CONF_CASE(rst_every_op_to_nothing, "VS-S1 VS-S3", RAW, CONF_CAP_RAW,
          "every op but RST sent to a port with no socket is answered by a reply RST; an RST "
          "to it is not")
{
    CONF_RAW_BEGIN(c);
    static const uint16_t ops[] = {VSOCK_OP_INVALID, VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE,
                                   VSOCK_OP_SHUTDOWN, VSOCK_OP_RW, VSOCK_OP_CREDIT_UPDATE,
                                   VSOCK_OP_CREDIT_REQUEST, 8, 200, 0xffff};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        struct vsock_hdr h = conf_raw_hdr(c, ops[i], 2000 + (uint32_t)i, 6000, VSOCK_TYPE_STREAM);
        CONF_RAW_SEND(c, &h, ops[i] == VSOCK_OP_RW ? "data" : NULL,
                      ops[i] == VSOCK_OP_RW ? 4 : 0);
        char what[32];
        snprintf(what, sizeof(what), "op %u", (unsigned)ops[i]);
        require_reply_rst(c, &h, what);
    }
    struct vsock_hdr rst = conf_raw_hdr(c, VSOCK_OP_RST, 2100, 6000, VSOCK_TYPE_STREAM);
    CONF_RAW_SEND(c, &rst, NULL, 0);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(100));
}

CONF_CASE(rst_unknown_types, "VS-11", RAW, CONF_CAP_RAW,
          "packets of unknown types (0, 3, 0x8000, 0xffff) get RST with that type echoed, "
          "to a listener and to nothing, and never make a connection")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 6100, 8);
    static const uint16_t types[] = {0, 3, 0x8000, 0xffff};
    for (size_t i = 0; i < 4; i++)
        for (uint32_t port = 6100; port <= 6101; port++) {
            struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_REQUEST, 2200 + (uint32_t)i, port,
                                              types[i]);
            CONF_RAW_SEND(c, &h, NULL, 0);
            require_reply_rst(c, &h, "unknown type");
        }
    CONF_REQUIRE_RET(c, conf_accept(c, CONF_HOST, lfd), -EAGAIN);
}

CONF_CASE(rst_answers_are_not_answered, "VS-S3", RAW, CONF_CAP_RAW,
          "RST to a listener, to a live connection's port from a stranger, and to nothing: "
          "no packet ever answers an RST")
{
    CONF_RAW_BEGIN(c);
    CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 6200, 8);
    CONF_RAW_CONNECT(c, 2300, 6200, VSOCK_TYPE_STREAM, 65536);
    uint32_t from[] = {2301, 2302, 2303};
    uint32_t to[] = {6200, 6200, 6299};
    uint16_t type[] = {VSOCK_TYPE_STREAM, 9, VSOCK_TYPE_SEQPACKET};
    for (int i = 0; i < 3; i++) {
        struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RST, from[i], to[i], type[i]);
        CONF_RAW_SEND(c, &h, NULL, 0);
    }
    CONF_RAW_EXPECT_NONE(c, CONF_MS(100));
    /* The live connection was not touched. */
    struct vsock_hdr rw = conf_raw_hdr(c, VSOCK_OP_RW, 2300, 6200, VSOCK_TYPE_STREAM);
    CONF_RAW_SEND(c, &rw, "ok", 2);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(20));
}

CONF_CASE(rst_aborts_connection, "VS-S3", RAW, CONF_CAP_RAW,
          "an RST on an established connection ends it at once: the host reads end of stream "
          "and gets EPIPE, without SO_ERROR")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 6300, 8);
    CONF_RAW_CONNECT(c, 2400, 6300, VSOCK_TYPE_STREAM, 65536);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RW, 2400, 6300, VSOCK_TYPE_STREAM);
    CONF_RAW_SEND(c, &h, "bye", 3);
    h.op = VSOCK_OP_RST;
    CONF_RAW_SEND(c, &h, NULL, 0);
    CONF_WAIT_POLL(c, CONF_HOST, a, VEP_POLLRDHUP);
    uint8_t buf[8];
    CONF_RECV_EXACT(c, CONF_HOST, a, buf, 3); /* what came before the RST stays readable */
    CONF_REQUIRE(c, memcmp(buf, "bye", 3) == 0);
    /* That read emptied the queue: Linux announces it even after the RST. */
    struct vsock_hdr u;
    CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, 3);
    CONF_WAIT_EOF(c, CONF_HOST, a);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_HOST, a, "x", 1, 0), -EPIPE);
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_HOST, a), 0);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(50));
}

CONF_CASE(rst_after_connection_ended, "VS-S3 VS-S4", RAW, CONF_CAP_RAW,
          "once the host has ended a connection, every further packet on its tuple but RST "
          "gets a reply RST")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 6400, 8);
    CONF_RAW_CONNECT(c, 2500, 6400, VSOCK_TYPE_STREAM, 65536);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_HOST, a), 0);
    struct vsock_hdr h;
    CONF_RAW_EXPECT(c, &h, NULL, 0, VSOCK_OP_SHUTDOWN);
    CONF_REQUIRE_EQ(c, h.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
    struct vsock_hdr rst = conf_raw_hdr(c, VSOCK_OP_RST, 2500, 6400, VSOCK_TYPE_STREAM);
    CONF_RAW_SEND(c, &rst, NULL, 0);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(20));
    static const uint16_t ops[] = {VSOCK_OP_RW, VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_SHUTDOWN,
                                   VSOCK_OP_CREDIT_UPDATE};
    for (size_t i = 0; i < 4; i++) {
        struct vsock_hdr p = conf_raw_hdr(c, ops[i], 2500, 6400, VSOCK_TYPE_STREAM);
        CONF_RAW_SEND(c, &p, ops[i] == VSOCK_OP_RW ? "z" : NULL, ops[i] == VSOCK_OP_RW);
        require_reply_rst(c, &p, "ended connection");
    }
    CONF_RAW_SEND(c, &rst, NULL, 0);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(20));
}

CONF_CASE(rst_unknown_op_on_connection, "VS-S1", RAW, CONF_CAP_RAW,
          "unknown ops, INVALID, REQUEST and RESPONSE on a live connection are dropped "
          "without an answer (Linux) and the connection carries on")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 6500, 8);
    CONF_RAW_CONNECT(c, 2600, 6500, VSOCK_TYPE_STREAM, 65536);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    static const uint16_t ops[] = {VSOCK_OP_INVALID, VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE, 8, 99};
    for (size_t i = 0; i < 5; i++) {
        struct vsock_hdr h = conf_raw_hdr(c, ops[i], 2600, 6500, VSOCK_TYPE_STREAM);
        CONF_RAW_SEND(c, &h, NULL, 0);
    }
    CONF_RAW_EXPECT_NONE(c, CONF_MS(100));
    struct vsock_hdr rw = conf_raw_hdr(c, VSOCK_OP_RW, 2600, 6500, VSOCK_TYPE_STREAM);
    CONF_RAW_SEND(c, &rw, "alive", 5);
    uint8_t buf[5];
    CONF_RECV_EXACT(c, CONF_HOST, a, buf, 5);
    CONF_REQUIRE(c, memcmp(buf, "alive", 5) == 0);
}

CONF_CASE(rst_wrong_cids_dropped, "VS-08 VS-I5", RAW, CONF_CAP_RAW,
          "packets from a CID other than the guest's, or to one other than the host's, are "
          "dropped without an answer; none opens a connection")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 6600, 8);
    uint64_t g = conf_guest_cid(c);
    const uint64_t srcs[] = {g + 1, VSOCK_CID_HOST, VSOCK_CID_ANY, g | (1ull << 32)};
    const uint64_t dsts[] = {g, VSOCK_CID_LOCAL, 0, VSOCK_CID_HOST | (1ull << 40)};
    for (int i = 0; i < 4; i++) {
        struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_REQUEST, 2700 + (uint32_t)i, 6600,
                                          VSOCK_TYPE_STREAM);
        h.src_cid = srcs[i];
        CONF_RAW_SEND(c, &h, NULL, 0);
        h = conf_raw_hdr(c, VSOCK_OP_REQUEST, 2710 + (uint32_t)i, 6600, VSOCK_TYPE_STREAM);
        h.dst_cid = dsts[i];
        CONF_RAW_SEND(c, &h, NULL, 0);
    }
    CONF_RAW_EXPECT_NONE(c, CONF_MS(100));
    CONF_REQUIRE_RET(c, conf_accept(c, CONF_HOST, lfd), -EAGAIN);
    CONF_RAW_CONNECT(c, 2720, 6600, VSOCK_TYPE_STREAM, 65536);
}

CONF_CASE(rst_wrong_cid_counted, "VS-08", RAW, CONF_CAP_RAW | CONF_CAP_COUNTERS,
          "the device counts packets with a foreign source or destination CID as drops")
{
    CONF_RAW_BEGIN(c);
    uint64_t src0 = conf_drops(c, CONF_HOST, VEP_DROP_SRC_CID);
    uint64_t dst0 = conf_drops(c, CONF_HOST, VEP_DROP_DST_CID);
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_REQUEST, 2800, 6700, VSOCK_TYPE_STREAM);
    h.src_cid = conf_guest_cid(c) + 7;
    CONF_RAW_SEND(c, &h, NULL, 0);
    h = conf_raw_hdr(c, VSOCK_OP_REQUEST, 2801, 6700, VSOCK_TYPE_STREAM);
    h.dst_cid = 77;
    CONF_RAW_SEND(c, &h, NULL, 0);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(100));
    CONF_REQUIRE_EQ(c, conf_drops(c, CONF_HOST, VEP_DROP_SRC_CID), src0 + 1);
    CONF_REQUIRE_EQ(c, conf_drops(c, CONF_HOST, VEP_DROP_DST_CID), dst0 + 1);
}
