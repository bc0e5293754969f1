/* Feature negotiation and queue geometry (CONF_CAP_CONFIG): what the
 * device offers decides the socket types; any legal queue size and buffer
 * size carries the same traffic, with or without EVENT_IDX and indirect
 * descriptors, because both sides keep processing each queue while the
 * other is full (5.10.6.1) and notify exactly as 2.7.7 and 2.7.10 ask. */
#include "conformance/conf_case.h"
#include "ring/ring.h"

#define BIT(n) (1ull << (n))
#define V1 BIT(VIRTIO_F_VERSION_1)

/* A stream connection each way, 70000 bytes each way on each. */
static void stream_works(struct conf *c, uint32_t port)
{
    for (int dir = 0; dir < 2; dir++) {
        struct conf_pair p;
        enum conf_side cl = dir == 0 ? CONF_GUEST : CONF_HOST;
        CONF_PAIR(c, cl, VSOCK_TYPE_STREAM, port + (uint32_t)dir, &p);
        CONF_TRANSFER(c, cl, p.client, p.server, 70000, 50 + (uint32_t)dir);
        CONF_TRANSFER(c, conf_other(cl), p.server, p.client, 70000, 52 + (uint32_t)dir);
    }
}

static void seqpacket_works(struct conf *c, uint32_t port)
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_SEQPACKET, port, &p);
    CONF_SEND_MSG(c, CONF_GUEST, p.client, "msg", 3, VEP_MSG_EOR);
    uint8_t b[8];
    unsigned fl;
    CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, CONF_HOST, p.server, b, sizeof(b), 0, &fl), 3);
    CONF_REQUIRE(c, fl & VEP_MSG_EOR);
}

CONF_CASE_OPTS(features_none_means_stream, "VS-I1 VS-N2 VS-N5", CONF_ALL, CONF_CAP_CONFIG,
               "a device that offers no socket feature bit still carries stream sockets; a "
               "seqpacket socket is created and can listen (Linux's vsock_listen has no "
               "transport check) but cannot connect, either side: ESOCKTNOSUPPORT",
               .features = V1)
{
    stream_works(c, 10000);
    for (int i = 0; i < 2; i++) {
        enum conf_side s = i == 0 ? CONF_GUEST : CONF_HOST;
        uint32_t base = 10002u + 4u * (uint32_t)i;
        int l = conf_socket(c, s, VSOCK_TYPE_SEQPACKET);
        CONF_REQUIRE(c, l >= 0);
        CONF_REQUIRE_RET(c, conf_bind(c, s, l, base), 0);
        CONF_REQUIRE_RET(c, conf_listen(c, s, l, 4), 0);
        int k = conf_socket(c, conf_other(s), VSOCK_TYPE_SEQPACKET);
        CONF_REQUIRE(c, k >= 0);
        CONF_REQUIRE_RET(c, conf_connect(c, conf_other(s), k, conf_peer_cid(c, conf_other(s)),
                                         base),
                         -ESOCKTNOSUPPORT);
        CONF_REQUIRE_RET(c, conf_accept(c, s, l), -EAGAIN);
    }
}

CONF_CASE_OPTS(features_seqpacket_implies_stream, "VS-01 VS-N3 VS-N6", CONF_ALL, CONF_CAP_CONFIG,
               "with only SEQPACKET offered (no STREAM bit), both socket types work: stream is "
               "implied, as Linux does",
               .features = V1 | BIT(VIRTIO_VSOCK_F_SEQPACKET))
{
    stream_works(c, 10010);
    seqpacket_works(c, 10012);
}

CONF_CASE_OPTS(features_no_implied_stream_accepted, "VS-N1 VS-N4", CONF_SIM, CONF_CAP_CONFIG,
               "a device offering NO_IMPLIED_STREAM with STREAM and SEQPACKET is accepted by "
               "our driver, and both socket types work",
               .features = V1 | BIT(VIRTIO_VSOCK_F_STREAM) | BIT(VIRTIO_VSOCK_F_SEQPACKET) |
                           BIT(VIRTIO_VSOCK_F_NO_IMPLIED_STREAM))
{
    stream_works(c, 10020);
    seqpacket_works(c, 10022);
}

CONF_CASE_OPTS(features_plain_ring, "SR-22 SR-25 SR-32 SR-34 SR-24 SR-36", CONF_ALL,
               CONF_CAP_CONFIG,
               "without EVENT_IDX and INDIRECT_DESC, notification flags alone keep traffic "
               "moving both ways",
               .features = V1 | BIT(VIRTIO_VSOCK_F_STREAM) | BIT(VIRTIO_VSOCK_F_SEQPACKET))
{
    stream_works(c, 10030);
    seqpacket_works(c, 10032);
}

CONF_CASE_OPTS(features_event_idx_only, "SR-23 SR-26 SR-33 SR-35 SR-24 SR-36", CONF_ALL,
               CONF_CAP_CONFIG,
               "with EVENT_IDX (and no INDIRECT_DESC) the event indices alone keep traffic "
               "moving both ways",
               .features = V1 | BIT(VIRTIO_VSOCK_F_STREAM) | BIT(VIRTIO_VSOCK_F_SEQPACKET) |
                           BIT(VIRTIO_F_EVENT_IDX))
{
    stream_works(c, 10040);
    seqpacket_works(c, 10042);
}

CONF_CASE_OPTS(queues_one_entry, "VS-02 VS-03 SR-16", CONF_ALL, CONF_CAP_CONFIG,
               "one-entry queues: every packet waits for the one before, and traffic still "
               "flows both ways without deadlock",
               .queue_size = 1)
{
    stream_works(c, 10050);
}

CONF_CASE_OPTS(queues_two_entries, "VS-02 VS-03", CONF_ALL, CONF_CAP_CONFIG,
               "two-entry queues with many connections at once: replies queue outside the "
               "rings and every connection completes",
               .queue_size = 2)
{
    enum { N = 20 };
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 10060, N);
    int cl[N];
    for (int i = 0; i < N; i++) {
        cl[i] = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
        CONF_REQUIRE_RET(c, conf_connect(c, CONF_GUEST, cl[i], VSOCK_CID_HOST, 10060),
                         -EINPROGRESS);
    }
    for (int i = 0; i < N; i++) {
        int a = CONF_ACCEPT(c, CONF_HOST, lfd);
        CONF_SEND_ALL(c, CONF_HOST, a, "hi", 2);
    }
    for (int i = 0; i < N; i++) {
        uint8_t b[2];
        CONF_WAIT_POLL(c, CONF_GUEST, cl[i], VEP_POLLOUT | VEP_POLLERR);
        CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_GUEST, cl[i]), 0);
        CONF_RECV_EXACT(c, CONF_GUEST, cl[i], b, 2);
    }
}

CONF_CASE_OPTS(small_rx_buffers, "VS-I6 VS-Q1 SR-05", CONF_ALL, CONF_CAP_CONFIG,
               "128-byte guest rx buffers: the device splits what it sends to fit, streams and "
               "messages arrive intact",
               .rx_buf_size = 128)
{
    stream_works(c, 10070);
    struct conf_pair p;
    CONF_PAIR(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 10072, &p);
    uint8_t msg[1000], in[1100];
    conf_fill(msg, sizeof(msg), 60, 0);
    CONF_SEND_MSG(c, CONF_HOST, p.client, msg, sizeof(msg), VEP_MSG_EOR);
    unsigned fl;
    CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, CONF_GUEST, p.server, in, sizeof(in), 0, &fl), 1000);
    CONF_REQUIRE_EQ(c, conf_check(in, 1000, 60, 0), 1000);
    CONF_REQUIRE(c, fl & VEP_MSG_EOR);
}

CONF_CASE_OPTS(small_host_buffers, "VS-04 VS-06", CONF_ALL, CONF_CAP_CONFIG,
               "host sockets with a 1 KiB buffer: the guest never sends past it and a 70000-byte "
               "exchange completes",
               .host_buf_alloc = 1024)
{
    stream_works(c, 10080);
}
