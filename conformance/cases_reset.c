/* TRANSPORT_RESET (5.10.6.7): the driver re-reads guest_cid, shuts down its
 * connections, and keeps its listeners working under the current CID. */
#include "conformance/conf_case.h"

static void reset(struct conf *c)
{
    CONF_REQUIRE_RET(c, conf_transport_reset(c), 0);
}

CONF_CASE(reset_shuts_connections, "VS-14 VS-I12", CONF_ALL, CONF_CAP_RESET,
          "after a TRANSPORT_RESET every established guest connection fails with ECONNRESET and "
          "can no longer carry data, whichever side opened it")
{
    struct conf_pair a, b;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 9000, &a);
    CONF_PAIR(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 9001, &b);
    reset(c);
    const int gfd[2] = {a.client, b.server};
    for (int i = 0; i < 2; i++) {
        CONF_WAIT_POLL(c, CONF_GUEST, gfd[i], VEP_POLLERR);
        CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_GUEST, gfd[i]), -ECONNRESET);
        int64_t r = conf_send(c, CONF_GUEST, gfd[i], "x", 1, 0);
        CONF_REQUIRE_MSG(c, r < 0, "send on a reset connection returned %lld", (long long)r);
        uint8_t buf[4];
        r = conf_recv(c, CONF_GUEST, gfd[i], buf, sizeof(buf), 0, NULL);
        CONF_REQUIRE_MSG(c, r <= 0, "recv on a reset connection returned %lld", (long long)r);
    }
}

CONF_CASE(reset_keeps_listeners, "VS-15 VS-I12", CONF_ALL, CONF_CAP_RESET,
          "a guest listener keeps accepting after a TRANSPORT_RESET, and the new connection "
          "carries data")
{
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 9100, 4);
    struct conf_pair before;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 9101, &before);
    reset(c);
    CONF_WAIT_POLL(c, CONF_GUEST, before.client, VEP_POLLERR);
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_HOST, VSOCK_TYPE_STREAM, 9100, &fd), 0);
    int a = CONF_ACCEPT(c, CONF_GUEST, lfd);
    CONF_SEND_ALL(c, CONF_HOST, fd, "after", 5);
    uint8_t buf[5];
    CONF_RECV_EXACT(c, CONF_GUEST, a, buf, 5);
    CONF_REQUIRE(c, memcmp(buf, "after", 5) == 0);
}

CONF_CASE(reset_rereads_cid, "VS-13 VS-15", CONF_ALL, CONF_CAP_RESET,
          "after a TRANSPORT_RESET the guest still uses the CID in config space: new "
          "connections from the guest carry it, and the host sees it as the peer")
{
    uint64_t cid = conf_guest_cid(c);
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 9200, &p);
    reset(c);
    CONF_WAIT_POLL(c, CONF_GUEST, p.client, VEP_POLLERR);
    CONF_REQUIRE_EQ(c, conf_guest_cid(c), cid);
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 9200, &fd), 0);
    int a = CONF_ACCEPT(c, CONF_HOST, p.listener);
    uint64_t peer;
    uint32_t port;
    CONF_REQUIRE_RET(c, conf_peer_name(c, CONF_HOST, a, &peer, &port), 0);
    CONF_REQUIRE_EQ(c, peer, cid);
}

CONF_CASE(reset_repeated, "VS-12 VS-14 VS-15", CONF_ALL, CONF_CAP_RESET,
          "five TRANSPORT_RESETs in a row, each with a connection up: the event queue is "
          "replenished, so every one of them is seen")
{
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 9300, 8);
    for (int i = 0; i < 5; i++) {
        int fd;
        CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 9300, &fd), 0);
        CONF_ACCEPT(c, CONF_HOST, lfd);
        reset(c);
        CONF_WAIT_POLL(c, CONF_GUEST, fd, VEP_POLLERR);
        CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_GUEST, fd), -ECONNRESET);
    }
}
