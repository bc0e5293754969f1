/* The socket rules that differ between Debian's 6.1.192 and 6.12.118, each
 * under both profiles (the conformance cases named in the README prove them
 * on the kernels): partial reads, SO_RCVLOWAT, the skb overhead and queue
 * collapse, seqpacket MSG_PEEK, errnos, SIGPIPE and SIOCOUTQ. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport_testlib.h"

#define ST VSOCK_TYPE_STREAM
#define SP VSOCK_TYPE_SEQPACKET
#define DEF_BUF (256u * 1024u)
#define GPORT 40000u
#define HPORT 1234u

static const enum vsock_linux profiles[] = {VSOCK_LINUX_6_1, VSOCK_LINUX_6_12};
#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))

static void pair_with(struct tt_pair *p, enum vsock_linux v)
{
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    gc.linux_ver = hc.linux_ver = v;
    tt_pair_init_cfg(p, &gc, &hc);
}

/* A host socket accepted from a REQUEST crafted for the guest's GPORT (the
 * test speaks for the guest): its fd. The RESPONSE is thrown away. */
static int host_conn(struct tt_pair *p, int type)
{
    int lfd = tt_listen(p, TT_HOST, type, HPORT, 8);
    struct vsock_hdr h = tt_hdr(TT_GUEST, (uint16_t)type, VSOCK_OP_REQUEST, GPORT, HPORT);
    h.buf_alloc = DEF_BUF;
    tt_inject(p, TT_HOST, &h, NULL, 0);
    TT_EQ(1, tt_discard(p, TT_HOST), "one RESPONSE");
    int fd = vep_accept(TT_H(p), lfd, NULL, NULL);
    TT_TRUE(fd >= 0, "accept: %s", tt_errname(fd));
    return fd;
}

/* An RW of len pattern bytes from the crafted guest. */
static void guest_rw(struct tt_pair *p, int type, uint32_t len, uint32_t flags)
{
    static uint8_t d[4096];
    tt_fill(d, sizeof d, 5, 0);
    struct vsock_hdr w = tt_hdr(TT_GUEST, (uint16_t)type, VSOCK_OP_RW, GPORT, HPORT);
    w.buf_alloc = DEF_BUF;
    w.flags = flags;
    w.len = len;
    tt_inject(p, TT_HOST, &w, d, len);
}

static struct vep_tx head_pkt(struct vep *ep)
{
    struct vep_tx tx;
    ATF_REQUIRE_MSG(vep_tx_peek(ep, &tx), "a packet is queued");
    return tx;
}

static uint32_t host_fwd_cnt(const struct tt_pair *p, int h)
{
    return tt_conn(p, TT_HOST, h).fwd_cnt;
}

/* ==== D1: partial reads ============================================================ */

TT_TC(partial_read_profiles, "a partly read packet counts whole for readers on 6.1, only its "
                             "unread bytes on 6.12: the credit update after the read and poll "
                             "with SO_RCVLOWAT follow")
ATF_TC_BODY(partial_read_profiles, tc)
{
    for (size_t v = 0; v < NPROFILES; v++) {
        struct tt_pair p;
        pair_with(&p, profiles[v]);
        int h = host_conn(&p, ST);
        TT_EQ(0, vep_set_rcvlowat(TT_H(&p), h, 800), "RCVLOWAT 800");
        TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "nothing freed yet: no update");
        guest_rw(&p, ST, 1000, 0);
        guest_rw(&p, ST, 1000, 0);
        uint8_t b[1500];
        TT_EQ(1500, vep_recv(TT_H(&p), h, b, sizeof b, 0, NULL), "read 1500");
        bool v612 = profiles[v] == VSOCK_LINUX_6_12;
        TT_EQ(v612 ? 1 : 0, vep_tx_queued_pkts(TT_H(&p)), "profile %zu: 6.12 sees 500 < 800", v);
        if (v612) {
            struct vep_tx u = head_pkt(TT_H(&p));
            TT_EQ(VSOCK_OP_CREDIT_UPDATE, u.hdr.op, "a credit update");
            TT_EQ(1000, u.hdr.fwd_cnt, "only the packet read to its end");
        }
        TT_EQ(v612 ? 0u : VEP_POLLIN, vep_poll(TT_H(&p), h) & VEP_POLLIN,
              "profile %zu: 6.1 counts 1000 >= 800", v);
        TT_EQ(500, vep_recv(TT_H(&p), h, b, sizeof b, VEP_MSG_DONTWAIT, NULL), "the rest");
        tt_pair_fini(&p);
    }
}

/* ==== D3: skb overhead, collapse, RST ================================================ */

TT_TC(overhead_seqpacket_messages, "6.12 queues 455 one-byte seqpacket messages in a 256 KiB "
                                   "buffer and answers the 456th with RST (ENOBUFS); 6.1 takes it")
ATF_TC_BODY(overhead_seqpacket_messages, tc)
{
    for (size_t v = 0; v < NPROFILES; v++) {
        struct tt_pair p;
        pair_with(&p, profiles[v]);
        int h = host_conn(&p, SP);
        for (int i = 0; i < 455; i++)
            guest_rw(&p, SP, 1, VSOCK_SEQ_EOM);
        TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "455 fit on both");
        guest_rw(&p, SP, 1, VSOCK_SEQ_EOM);
        bool v612 = profiles[v] == VSOCK_LINUX_6_12;
        if (!v612) {
            TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "6.1: payload only");
            TT_EQ(456, vep_rx_queued(TT_H(&p), h), "all queued");
            tt_pair_fini(&p);
            continue;
        }
        struct vep_tx r = head_pkt(TT_H(&p));
        TT_EQ(VSOCK_OP_RST, r.hdr.op, "RST");
        TT_EQ(DEF_BUF, r.hdr.buf_alloc, "with our buf_alloc");
        TT_EQ(0, r.hdr.fwd_cnt, "and fwd_cnt");
        TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_OVER_CREDIT), "counted");
        uint8_t b[4];
        unsigned fl;
        /* Each read takes a message and reports the error, which stays. */
        for (int i = 0; i < 455; i++)
            TT_EQ(-ENOBUFS, vep_recv(TT_H(&p), h, b, sizeof b, 0, &fl), "message %d", i);
        TT_EQ(0, vep_recv(TT_H(&p), h, b, sizeof b, 0, &fl), "then 0: the wait's result");
        TT_EQ(-ENOBUFS, vep_sock_error(TT_H(&p), h), "SO_ERROR");
        tt_pair_fini(&p);
    }
}

TT_TC(overhead_small_buffer, "6.12: a buffer under two skbs' worth (1000) takes one packet and "
                             "resets at the second; under one (500) it takes none, not even an "
                             "empty RW; 6.1 counts payload only")
ATF_TC_BODY(overhead_small_buffer, tc)
{
    for (size_t v = 0; v < NPROFILES; v++) {
        bool v612 = profiles[v] == VSOCK_LINUX_6_12;
        for (uint32_t buf = 500; buf <= 1000; buf += 500) {
            struct tt_pair p;
            pair_with(&p, profiles[v]);
            int h = host_conn(&p, ST);
            TT_EQ(0, vep_set_buf_min_size(TT_H(&p), h, 64), "minimum 64");
            TT_EQ(0, vep_set_buf_size(TT_H(&p), h, buf), "buffer %u", buf);
            tt_discard(&p, TT_HOST);
            guest_rw(&p, ST, buf == 500 ? 0 : 200, 0);
            bool first_refused = v612 && buf == 500;
            TT_EQ(first_refused ? 1 : 0, vep_tx_queued_pkts(TT_H(&p)), "first, buf %u", buf);
            if (!first_refused) {
                guest_rw(&p, ST, 200, 0);
                TT_EQ(v612 ? 1 : 0, vep_tx_queued_pkts(TT_H(&p)), "second, buf %u", buf);
            }
            if (v612) {
                TT_EQ(VSOCK_OP_RST, head_pkt(TT_H(&p)).hdr.op, "RST");
                uint8_t b[400];
                if (buf == 1000) {
                    TT_EQ(200, vep_recv(TT_H(&p), h, b, sizeof b, 0, NULL), "what came first");
                    TT_EQ(-ENOBUFS, vep_recv(TT_H(&p), h, b, sizeof b, 0, NULL), "then ENOBUFS");
                } else {
                    TT_EQ(0, vep_recv(TT_H(&p), h, b, sizeof b, 0, NULL), "closed: end of stream");
                }
                TT_EQ(-ENOBUFS, vep_sock_error(TT_H(&p), h), "SO_ERROR");
            }
            tt_pair_fini(&p);
        }
    }
}

TT_TC(collapse_stream, "6.12 collapses a queue of 455 200-byte packets into 32400-byte ones "
                       "instead of resetting: the buffer's payload fits, and fwd_cnt moves a "
                       "collapsed packet at a time; 6.1 frees each packet")
ATF_TC_BODY(collapse_stream, tc)
{
    for (size_t v = 0; v < NPROFILES; v++) {
        struct tt_pair p;
        pair_with(&p, profiles[v]);
        int h = host_conn(&p, ST);
        enum { N = 1310 }; /* 262000 bytes: the payload the buffer takes */
        for (int i = 0; i < N; i++)
            guest_rw(&p, ST, 200, 0);
        TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no RST on either");
        TT_EQ(N * 200, vep_rx_queued(TT_H(&p), h), "everything queued");
        uint8_t *b = malloc(N * 200);
        ATF_REQUIRE(b != NULL);
        TT_EQ(200, vep_recv(TT_H(&p), h, b, 200, 0, NULL), "one packet's worth");
        bool v612 = profiles[v] == VSOCK_LINUX_6_12;
        TT_EQ(v612 ? 0 : 200, host_fwd_cnt(&p, h), "6.12: the first 162 are one packet now");
        TT_EQ(32200, vep_recv(TT_H(&p), h, b + 200, 32200, 0, NULL), "the rest of it");
        TT_EQ(32400, host_fwd_cnt(&p, h), "freed");
        size_t got = 32400;
        int64_t r;
        while ((r = vep_recv(TT_H(&p), h, b + got, N * 200 - got, 0, NULL)) > 0)
            got += (size_t)r;
        TT_EQ(N * 200, got, "every byte");
        uint8_t *want = malloc(N * 200);
        ATF_REQUIRE(want != NULL);
        for (int i = 0; i < N; i++)
            tt_fill(want + i * 200, 200, 5, 0);
        TT_TRUE(memcmp(b, want, N * 200) == 0, "in order, profile %zu", v);
        TT_EQ(N * 200, host_fwd_cnt(&p, h), "all freed");
        free(b);
        free(want);
        tt_pair_fini(&p);
    }
}

TT_TC(collapse_keeps_boundaries, "6.12's collapse leaves message ends and a partly read packet "
                                 "alone, and keeps the order")
ATF_TC_BODY(collapse_keeps_boundaries, tc)
{
    struct tt_pair p;
    pair_with(&p, VSOCK_LINUX_6_12);
    int h = host_conn(&p, SP);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 4 * 576), "room for four skbs");
    tt_discard(&p, TT_HOST);
    guest_rw(&p, SP, 200, 0); /* message A: 200 + 200 + 150 */
    guest_rw(&p, SP, 200, 0);
    guest_rw(&p, SP, 150, VSOCK_SEQ_EOM);
    guest_rw(&p, SP, 300, 0); /* message B: 300 + 300; the fifth skb collapses A's first two */
    guest_rw(&p, SP, 300, VSOCK_SEQ_EOM);
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "collapsed, no RST");
    uint8_t b[1024];
    unsigned fl;
    TT_EQ(550, vep_recv(TT_H(&p), h, b, sizeof b, 0, &fl), "message A whole");
    TT_EQ(600, vep_recv(TT_H(&p), h, b, sizeof b, 0, &fl), "message B whole");
    TT_EQ(1150, host_fwd_cnt(&p, h), "all freed");
    tt_pair_fini(&p);

    /* Four skbs none of which can merge with the next: the fifth is refused. */
    pair_with(&p, VSOCK_LINUX_6_12);
    h = host_conn(&p, SP);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 4 * 576), "room for four skbs");
    tt_discard(&p, TT_HOST);
    guest_rw(&p, SP, 400, 0);
    guest_rw(&p, SP, 150, VSOCK_SEQ_EOM);
    guest_rw(&p, SP, 300, 0);
    guest_rw(&p, SP, 300, VSOCK_SEQ_EOM);
    guest_rw(&p, SP, 1, VSOCK_SEQ_EOM);
    TT_EQ(VSOCK_OP_RST, head_pkt(TT_H(&p)).hdr.op, "nothing to collapse: RST");
    TT_EQ(-ENOBUFS, vep_recv(TT_H(&p), h, b, sizeof b, 0, &fl), "a message, and the error");
    TT_EQ(550, host_fwd_cnt(&p, h), "it was taken");
    tt_pair_fini(&p);

    pair_with(&p, VSOCK_LINUX_6_12);
    h = host_conn(&p, ST);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 4 * 576), "room for four skbs");
    tt_discard(&p, TT_HOST);
    guest_rw(&p, ST, 300, 0);
    TT_EQ(100, vep_recv(TT_H(&p), h, b, 100, 0, NULL), "partly read");
    for (int i = 0; i < 4; i++)
        guest_rw(&p, ST, 200, 0); /* the fourth finds four skbs: the last three collapse */
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no RST");
    TT_EQ(200, vep_recv(TT_H(&p), h, b, 200, 0, NULL), "the partly read one's rest");
    TT_EQ(300, host_fwd_cnt(&p, h), "freed alone");
    TT_EQ(600, vep_recv(TT_H(&p), h, b, 600, 0, NULL), "three packets' worth");
    TT_EQ(900, host_fwd_cnt(&p, h), "collapsed into one");
    TT_EQ(200, vep_recv(TT_H(&p), h, b, sizeof b, 0, NULL), "the last");
    tt_pair_fini(&p);
}

/* ==== D4, D5: seqpacket MSG_PEEK, errnos ================================================ */

TT_TC(seqpacket_peek_profiles, "seqpacket MSG_PEEK: 6.1 fails with ENOMEM (the transport's "
                               "EOPNOTSUPP), 6.12 copies the first message without taking it "
                               "or sending a credit update")
ATF_TC_BODY(seqpacket_peek_profiles, tc)
{
    for (size_t v = 0; v < NPROFILES; v++) {
        struct tt_pair p;
        pair_with(&p, profiles[v]);
        int h = host_conn(&p, SP);
        uint8_t b[64];
        TT_EQ(-EAGAIN, vep_recv(TT_H(&p), h, b, 32, VEP_MSG_PEEK, NULL), "nothing yet");
        guest_rw(&p, SP, 40, 0);
        guest_rw(&p, SP, 24, VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
        guest_rw(&p, SP, 5, VSOCK_SEQ_EOM);
        unsigned fl = 0;
        if (profiles[v] == VSOCK_LINUX_6_1) {
            TT_EQ(-ENOMEM, vep_recv(TT_H(&p), h, b, 32, VEP_MSG_PEEK, &fl), "6.1");
        } else {
            uint8_t want[64];
            tt_fill(want, 40, 5, 0);
            tt_fill(want + 40, 24, 5, 0);
            TT_EQ(32, vep_recv(TT_H(&p), h, b, 32, VEP_MSG_PEEK, &fl), "what fits");
            TT_EQ(VEP_MSG_TRUNC | VEP_MSG_EOR, fl, "truncated, EOR");
            TT_TRUE(memcmp(b, want, 32) == 0, "the message's first bytes");
            TT_EQ(64, vep_recv(TT_H(&p), h, b, 32, VEP_MSG_PEEK | VEP_MSG_TRUNC, &fl), "length");
            TT_EQ(64, vep_recv(TT_H(&p), h, b, 64, VEP_MSG_PEEK, &fl), "whole");
            TT_EQ(VEP_MSG_EOR, fl, "not truncated");
            TT_TRUE(memcmp(b, want, 64) == 0, "across its fragments");
            TT_EQ(-EFAULT, vep_recv(TT_H(&p), h, NULL, 64, VEP_MSG_PEEK, &fl), "no buffer");
            TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "a peek announces nothing");
        }
        TT_EQ(64, vep_recv(TT_H(&p), h, b, 64, 0, &fl), "still there");
        TT_EQ(5, vep_recv(TT_H(&p), h, b, 64, 0, &fl), "and the next");
        tt_pair_fini(&p);
    }
}

TT_TC(bad_buffer_profiles, "a read into no buffer: 6.1 ENOMEM, 6.12 EFAULT; stream data stays "
                           "and nothing is announced, a seqpacket message is dropped and "
                           "announced; a send from no buffer is ENOMEM on both")
ATF_TC_BODY(bad_buffer_profiles, tc)
{
    for (size_t v = 0; v < NPROFILES; v++) {
        int want = profiles[v] == VSOCK_LINUX_6_12 ? -EFAULT : -ENOMEM;
        struct tt_pair p;
        pair_with(&p, profiles[v]);
        int h = host_conn(&p, ST);
        uint8_t b[64];
        TT_EQ(-EAGAIN, vep_recv(TT_H(&p), h, NULL, 10, 0, NULL), "empty: EAGAIN first");
        guest_rw(&p, ST, 10, 0);
        TT_EQ(want, vep_recv(TT_H(&p), h, NULL, 10, 0, NULL), "stream");
        TT_EQ(want, vep_recv(TT_H(&p), h, NULL, 10, VEP_MSG_PEEK, NULL), "stream peek");
        TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "nothing announced");
        TT_EQ(10, vep_recv(TT_H(&p), h, b, sizeof b, 0, NULL), "the data stayed");
        tt_discard(&p, TT_HOST); /* the emptying read's CREDIT_UPDATE */
        TT_EQ(-ENOMEM, vep_send(TT_H(&p), h, NULL, 10, 0), "send from no buffer");
        TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "nothing sent");
        tt_pair_fini(&p);

        pair_with(&p, profiles[v]);
        h = host_conn(&p, SP);
        guest_rw(&p, SP, 10, VSOCK_SEQ_EOM);
        guest_rw(&p, SP, 7, VSOCK_SEQ_EOM);
        TT_EQ(want, vep_recv(TT_H(&p), h, NULL, 10, 0, NULL), "seqpacket");
        TT_EQ(VSOCK_OP_CREDIT_UPDATE, head_pkt(TT_H(&p)).hdr.op, "announced");
        TT_EQ(10, head_pkt(TT_H(&p)).hdr.fwd_cnt, "the message was taken");
        TT_EQ(7, vep_recv(TT_H(&p), h, b, sizeof b, 0, NULL), "the next one");
        TT_EQ(-ENOMEM, vep_send(TT_H(&p), h, NULL, 10, 0), "send from no buffer");
        tt_pair_fini(&p);
    }
}

/* ==== D6: SIGPIPE ========================================================================== */

TT_TC(sigpipe_profiles, "6.12 raises SIGPIPE with a stream send's EPIPE (not with MSG_NOSIGNAL, "
                        "not for seqpacket), and a pending error is returned instead, once; 6.1 "
                        "never signals")
ATF_TC_BODY(sigpipe_profiles, tc)
{
    for (size_t v = 0; v < NPROFILES; v++) {
        bool v612 = profiles[v] == VSOCK_LINUX_6_12;
        struct tt_pair p;
        pair_with(&p, profiles[v]);
        int g, h;
        int lfd = tt_listen(&p, TT_HOST, ST, HPORT, 4);
        h = tt_connect(&p, TT_GUEST, ST, lfd, HPORT, &g);
        TT_EQ(0, vep_shutdown(TT_G(&p), g, VEP_SHUT_WR), "SHUT_WR");
        TT_EQ(-EPIPE, vep_send(TT_G(&p), g, "A", 1, 0), "send");
        TT_EQ(v612 ? 1 : 0, vep_counters(TT_G(&p))->sigpipes, "profile %zu", v);
        TT_EQ(-EPIPE, vep_send(TT_G(&p), g, "A", 1, VEP_MSG_NOSIGNAL), "MSG_NOSIGNAL");
        TT_EQ(v612 ? 1 : 0, vep_counters(TT_G(&p))->sigpipes, "no signal");
        tt_pump(&p);
        /* The host's side: the peer's SHUTDOWN(SEND) does not stop sending. */
        TT_EQ(1, vep_send(TT_H(&p), h, "B", 1, 0), "the host may still send");
        TT_EQ(0, vep_counters(TT_H(&p))->sigpipes, "nothing");
        tt_pair_fini(&p);

        pair_with(&p, profiles[v]);
        lfd = tt_listen(&p, TT_HOST, SP, HPORT, 4);
        h = tt_connect(&p, TT_GUEST, SP, lfd, HPORT, &g);
        TT_EQ(0, vep_shutdown(TT_G(&p), g, VEP_SHUT_WR), "SHUT_WR");
        TT_EQ(-EPIPE, vep_send(TT_G(&p), g, "A", 1, 0), "seqpacket send");
        TT_EQ(0, vep_counters(TT_G(&p))->sigpipes, "seqpacket never signals");
        tt_pair_fini(&p);

        /* A pending error (the overflow's ENOBUFS) comes first on 6.12. */
        pair_with(&p, profiles[v]);
        h = host_conn(&p, ST);
        TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 128), "a small buffer");
        tt_discard(&p, TT_HOST);
        guest_rw(&p, ST, 129, 0);
        TT_EQ(VSOCK_OP_RST, head_pkt(TT_H(&p)).hdr.op, "past the buffer: RST");
        if (v612) {
            TT_EQ(-ENOBUFS, vep_send(TT_H(&p), h, "C", 1, 0), "the error, once");
            TT_EQ(0, vep_sock_error(TT_H(&p), h), "taken");
            TT_EQ(0, vep_counters(TT_H(&p))->sigpipes, "no signal with it");
        } else {
            TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "C", 1, 0), "6.1");
        }
        TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "C", 1, 0), "then EPIPE");
        TT_EQ(v612 ? 1 : 0, vep_counters(TT_H(&p))->sigpipes, "and SIGPIPE");
        if (!v612)
            TT_EQ(-ENOBUFS, vep_sock_error(TT_H(&p), h), "6.1 left the error");
        tt_pair_fini(&p);
    }
}

/* ==== D8: SIOCOUTQ ========================================================================= */

TT_TC(outq_profiles, "SIOCOUTQ: 6.1 has none; 6.12 counts sent payload until the packet is out "
                     "(vhost) or its buffer is reclaimed (guest), needs a transport and is EINVAL "
                     "on a listener with one")
ATF_TC_BODY(outq_profiles, tc)
{
    struct tt_pair p;
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    gc.linux_ver = hc.linux_ver = VSOCK_LINUX_6_1;
    tt_pair_init_cfg(&p, &gc, &hc);
    int lfd = tt_listen(&p, TT_HOST, ST, HPORT, 4);
    int g, h = tt_connect(&p, TT_GUEST, ST, lfd, HPORT, &g);
    TT_EQ(-EOPNOTSUPP, vep_outq(TT_G(&p), g), "6.1 guest");
    TT_EQ(-EOPNOTSUPP, vep_outq(TT_H(&p), h), "6.1 host");
    tt_pair_fini(&p);

    gc.linux_ver = hc.linux_ver = VSOCK_LINUX_6_12;
    gc.unsent_until_reclaimed = true;
    tt_pair_init_cfg(&p, &gc, &hc);
    int s = vep_socket(TT_G(&p), ST);
    TT_EQ(-EOPNOTSUPP, vep_outq(TT_G(&p), s), "no transport");
    TT_EQ(-EBADF, vep_outq(TT_G(&p), 99), "no socket");
    lfd = tt_listen(&p, TT_HOST, ST, HPORT, 4);
    TT_EQ(-EOPNOTSUPP, vep_outq(TT_H(&p), lfd), "a plain listener has no transport");
    h = tt_connect(&p, TT_GUEST, ST, lfd, HPORT, &g);
    TT_EQ(0, vep_outq(TT_G(&p), g), "nothing sent");
    TT_EQ(100, vep_send(TT_G(&p), g, (uint8_t[100]){0}, 100, 0), "send");
    TT_EQ(100, vep_send(TT_H(&p), h, (uint8_t[100]){0}, 100, 0), "send back");
    TT_EQ(100, vep_outq(TT_G(&p), g), "queued");
    TT_EQ(100, vep_outq(TT_H(&p), h), "queued");
    struct vep_tx t = head_pkt(TT_G(&p));
    uint64_t owner = t.owner;
    TT_TRUE(owner != 0, "an RW names its socket");
    tt_pump(&p);
    TT_EQ(0, vep_outq(TT_H(&p), h), "vhost: out once its last byte is in the guest's buffers");
    TT_EQ(100, vep_outq(TT_G(&p), g), "guest: until the buffer comes back");
    vep_tx_reclaimed(TT_G(&p), owner, 60);
    TT_EQ(40, vep_outq(TT_G(&p), g), "part");
    vep_tx_reclaimed(TT_G(&p), owner, 60);
    TT_EQ(0, vep_outq(TT_G(&p), g), "never below 0");
    TT_EQ(0, vep_abort(TT_G(&p), g, p.now), "gone");
    tt_discard(&p, TT_GUEST);
    int g2 = vep_socket(TT_G(&p), ST);
    TT_EQ(g, g2, "the slot is used again");
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g2, VSOCK_CID_HOST, HPORT, p.now), "connect");
    tt_pump(&p);
    TT_EQ(5, vep_send(TT_G(&p), g2, "hello", 5, 0), "send");
    vep_tx_reclaimed(TT_G(&p), owner, 5);
    TT_EQ(5, vep_outq(TT_G(&p), g2), "the old owner is another socket");
    vep_tx_reclaimed(TT_G(&p), 0, 5);
    vep_tx_reclaimed(TT_G(&p), 77, 5);
    TT_EQ(5, vep_outq(TT_G(&p), g2), "no owner, no such slot");

    /* A socket whose connect timed out keeps its transport: listening on
     * it makes SIOCOUTQ EINVAL. */
    int c = vep_socket(TT_H(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_H(&p), c, TT_GUEST_CID, 4444, p.now), "connect");
    tt_discard(&p, TT_HOST);
    tt_advance(&p, 3000000000ull);
    TT_EQ(-ETIMEDOUT, vep_sock_error(TT_H(&p), c), "timed out");
    TT_EQ(0, vep_listen(TT_H(&p), c, 4), "listen");
    TT_EQ(-EINVAL, vep_outq(TT_H(&p), c), "a listener with a transport");
    tt_pair_fini(&p);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, partial_read_profiles);
    ATF_TP_ADD_TC(tp, overhead_seqpacket_messages);
    ATF_TP_ADD_TC(tp, overhead_small_buffer);
    ATF_TP_ADD_TC(tp, collapse_stream);
    ATF_TP_ADD_TC(tp, collapse_keeps_boundaries);
    ATF_TP_ADD_TC(tp, seqpacket_peek_profiles);
    ATF_TP_ADD_TC(tp, bad_buffer_profiles);
    ATF_TP_ADD_TC(tp, sigpipe_profiles);
    ATF_TP_ADD_TC(tp, outq_profiles);
    return atf_no_error();
}
