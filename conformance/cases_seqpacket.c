/* SEQPACKET (5.10.6.6): one send is one message, split into RW packets of
 * which the last carries EOM; MSG_EOR marks the end of a record (EOR on the
 * last packet). */
#include "conformance/conf_case.h"

static void big_message(struct conf *c, enum conf_side from, uint32_t port, size_t len)
{
    struct conf_pair p;
    CONF_PAIR(c, from, VSOCK_TYPE_SEQPACKET, port, &p);
    uint8_t *out = conf_scratch(c, len), *in = conf_scratch(c, len + 100);
    for (int m = 0; m < 3; m++) {
        size_t n = len - (size_t)m * 1000;
        conf_fill(out, n, 20 + (uint32_t)m, 0);
        CONF_SEND_MSG(c, from, p.client, out, n, m == 2 ? VEP_MSG_EOR : 0);
    }
    for (int m = 0; m < 3; m++) {
        size_t n = len - (size_t)m * 1000;
        unsigned fl = 0;
        int64_t r = CONF_RECV_MSG(c, conf_other(from), p.server, in, len + 100, 0, &fl);
        CONF_REQUIRE_RET(c, r, (int64_t)n);
        CONF_REQUIRE_EQ(c, conf_check(in, n, 20 + (uint32_t)m, 0), n);
        CONF_REQUIRE_EQ(c, (fl & VEP_MSG_EOR) != 0, m == 2);
        CONF_REQUIRE_EQ(c, fl & VEP_MSG_TRUNC, 0);
    }
}

CONF_CASE(seqpacket_big_message_g2h, "VS-Q1 VS-Q2", CONF_ALL, 0,
          "messages of up to 60000 bytes from the guest (many packets each) arrive whole and "
          "separate, EOR only on the last")
{
    big_message(c, CONF_GUEST, 8000, 60000);
}

CONF_CASE(seqpacket_big_message_h2g, "VS-Q1 VS-Q2", CONF_ALL, 0,
          "messages of up to 60000 bytes from the host (split over many rx buffers) arrive "
          "whole and separate, EOR only on the last")
{
    big_message(c, CONF_HOST, 8001, 60000);
}

CONF_CASE(seqpacket_records, "VS-Q2", CONF_ALL, 0,
          "records of 1, 2 and 3 messages: MSG_EOR comes back exactly on each record's last "
          "message, both ways")
{
    for (int dir = 0; dir < 2; dir++) {
        enum conf_side from = dir == 0 ? CONF_GUEST : CONF_HOST;
        struct conf_pair p;
        CONF_PAIR(c, from, VSOCK_TYPE_SEQPACKET, 8010 + (uint32_t)dir, &p);
        static const int eor[] = {1, 0, 1, 0, 0, 1};
        for (int i = 0; i < 6; i++) {
            uint8_t b[10];
            memset(b, 'a' + i, sizeof(b));
            CONF_SEND_MSG(c, from, p.client, b, (size_t)i + 1, eor[i] ? VEP_MSG_EOR : 0);
        }
        for (int i = 0; i < 6; i++) {
            uint8_t b[16];
            unsigned fl;
            CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, conf_other(from), p.server, b, 16, 0, &fl),
                             i + 1);
            CONF_REQUIRE_EQ(c, b[0], 'a' + i);
            CONF_REQUIRE_EQ(c, (fl & VEP_MSG_EOR) != 0, eor[i]);
        }
    }
}

CONF_CASE(seqpacket_too_big, "VS-Q1", CONF_ALL, 0,
          "a message larger than the receiver's buffer fails (EMSGSIZE, or ENOMEM as Linux 6.1 "
          "reports it) and nothing of it arrives")
{
    struct conf_pair p;
    int l = conf_socket(c, CONF_HOST, VSOCK_TYPE_SEQPACKET);
    CONF_REQUIRE_RET(c, conf_bind(c, CONF_HOST, l, 8020), 0);
    CONF_REQUIRE_RET(c, conf_set_buf_size(c, CONF_HOST, l, 16384), 0);
    CONF_REQUIRE_RET(c, conf_listen(c, CONF_HOST, l, 4), 0);
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_SEQPACKET, 8020, &p.client), 0);
    p.server = CONF_ACCEPT(c, CONF_HOST, l);
    uint8_t *big = conf_scratch(c, 20000);
    int64_t r = conf_send(c, CONF_GUEST, p.client, big, 20000, 0);
    CONF_REQUIRE_MSG(c, r == -EMSGSIZE || r == -ENOMEM,
                     "send of 20000 bytes to a 16384-byte buffer returned %lld", (long long)r);
    CONF_SEND_ALL(c, CONF_GUEST, p.client, "fits", 4);
    uint8_t in[64];
    CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, CONF_HOST, p.server, in, sizeof(in), 0, NULL), 4);
    CONF_REQUIRE(c, memcmp(in, "fits", 4) == 0);
}

CONF_CASE(seqpacket_raw_fragments, "VS-Q1 VS-Q2", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "a message the guest sends as 10 RW packets, EOM|EOR on the last, is one message "
          "with MSG_EOR to the host; a zero-length EOM packet is an empty message")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 8030, 4);
    CONF_RAW_CONNECT(c, 4000, 8030, VSOCK_TYPE_SEQPACKET, 65536);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    uint8_t data[1000];
    conf_fill(data, sizeof(data), 21, 0);
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RW, 4000, 8030, VSOCK_TYPE_SEQPACKET);
    for (int i = 0; i < 10; i++) {
        h.flags = i == 9 ? VSOCK_SEQ_EOM | VSOCK_SEQ_EOR : 0;
        CONF_RAW_SEND(c, &h, data + i * 100, 100);
    }
    h.flags = VSOCK_SEQ_EOM;
    CONF_RAW_SEND(c, &h, NULL, 0);
    uint8_t in[2000];
    unsigned fl;
    CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, CONF_HOST, a, in, sizeof(in), 0, &fl), 1000);
    CONF_REQUIRE_EQ(c, conf_check(in, 1000, 21, 0), 1000);
    CONF_REQUIRE(c, fl & VEP_MSG_EOR);
    CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, CONF_HOST, a, in, sizeof(in), 0, &fl), 0);
    CONF_REQUIRE_EQ(c, fl & VEP_MSG_EOR, 0);
}

CONF_CASE(seqpacket_raw_eom_on_last_fragment, "VS-Q1 VS-Q2", CONF_RAW_TARGETS, CONF_CAP_RAW,
          "a 30000-byte host message reaches the guest as RW packets of which only the last "
          "has EOM (and EOR), and whose payloads add up to the message")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 8040, 4);
    CONF_RAW_CONNECT(c, 4100, 8040, VSOCK_TYPE_SEQPACKET, 65536);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    enum { LEN = 30000 };
    uint8_t *data = conf_scratch(c, LEN), *in = conf_scratch(c, 65536);
    conf_fill(data, LEN, 22, 0);
    CONF_SEND_MSG(c, CONF_HOST, a, data, LEN, VEP_MSG_EOR);
    uint32_t got = 0;
    unsigned packets = 0;
    for (;;) {
        struct vsock_hdr h;
        uint32_t n = CONF_RAW_EXPECT(c, &h, in, 65536, VSOCK_OP_RW);
        CONF_REQUIRE_EQ(c, h.type, VSOCK_TYPE_SEQPACKET);
        CONF_REQUIRE_EQ(c, conf_check(in, n, 22, got), n);
        got += n;
        packets++;
        bool last = got == LEN;
        CONF_REQUIRE_MSG(c, (h.flags & (VSOCK_SEQ_EOM | VSOCK_SEQ_EOR)) ==
                                (last ? VSOCK_SEQ_EOM | VSOCK_SEQ_EOR : 0u),
                         "packet %u (%u of %u bytes) has flags 0x%x", packets, got, LEN, h.flags);
        if (last)
            break;
        CONF_REQUIRE(c, got < LEN);
    }
    CONF_REQUIRE(c, packets >= 2);
}
