/* SHUTDOWN and close through the sockets of both sides (5.10.6.5: the
 * flags are permanent hints; a clean disconnect is SHUTDOWN both ways
 * answered by RST). */
#include "conformance/conf_case.h"

static void stream_bytes(struct conf *c, enum conf_side from, int sfd, int rfd, size_t len,
                         uint32_t tag)
{
    CONF_TRANSFER(c, from, sfd, rfd, len, tag);
}

static void shut_wr(struct conf *c, enum conf_side who, uint32_t port)
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, port, &p);
    int me = who == CONF_GUEST ? p.client : p.server;
    int peer = who == CONF_GUEST ? p.server : p.client;
    stream_bytes(c, who, me, peer, 1000, 1);
    CONF_REQUIRE_RET(c, conf_shutdown(c, who, me, VEP_SHUT_WR), 0);
    CONF_REQUIRE_RET(c, conf_send(c, who, me, "x", 1, 0), -EPIPE);
    CONF_WAIT_EOF(c, conf_other(who), peer);
    CONF_WAIT_POLL(c, conf_other(who), peer, VEP_POLLRDHUP);
    /* Half-closed: the other direction still carries data. */
    stream_bytes(c, conf_other(who), peer, me, 300000, 2);
}

CONF_CASE(shutdown_wr_guest, "VS-S2", CONF_ALL, 0,
          "after the guest's SHUT_WR the host reads end of stream and can still send 300 KB")
{
    shut_wr(c, CONF_GUEST, 5100);
}

CONF_CASE(shutdown_wr_host, "VS-S2", CONF_ALL, 0,
          "after the host's SHUT_WR the guest reads end of stream and can still send 300 KB")
{
    shut_wr(c, CONF_HOST, 5101);
}

struct epipe_wait {
    enum conf_side s;
    int fd;
    int64_t last;
};

static bool send_fails(struct conf *c, void *arg)
{
    struct epipe_wait *w = arg;
    w->last = conf_send(c, w->s, w->fd, "y", 1, 0);
    return w->last == -EPIPE;
}

static void shut_rd(struct conf *c, enum conf_side who, uint32_t port)
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_HOST, VSOCK_TYPE_STREAM, port, &p);
    int me = who == CONF_HOST ? p.client : p.server;
    int peer = who == CONF_HOST ? p.server : p.client;
    CONF_REQUIRE_RET(c, conf_shutdown(c, who, me, VEP_SHUT_RD), 0);
    uint8_t b;
    CONF_REQUIRE_RET(c, conf_recv(c, who, me, &b, 1, 0, NULL), 0);
    /* The peer learns it when the SHUTDOWN arrives; until then its bytes
     * may still go out. */
    struct epipe_wait w = {conf_other(who), peer, 0};
    CONF_REQUIRE_MSG(c, conf_wait(c, send_fails, &w, CONF_MS(2000)),
                     "the peer's send never failed with EPIPE (last: %lld)", (long long)w.last);
    /* The shut-down reader may still send. */
    stream_bytes(c, who, me, peer, 1000, 3);
}

CONF_CASE(shutdown_rd_guest, "VS-S2", CONF_ALL, 0,
          "after the guest's SHUT_RD its reads return 0 and the host's sends fail with EPIPE")
{
    shut_rd(c, CONF_GUEST, 5110);
}

CONF_CASE(shutdown_rd_host, "VS-S2", CONF_ALL, 0,
          "after the host's SHUT_RD its reads return 0 and the guest's sends fail with EPIPE")
{
    shut_rd(c, CONF_HOST, 5111);
}

CONF_CASE(shutdown_both_disconnects, "VS-S2 VS-S4", CONF_ALL, 0,
          "SHUT_RDWR from one side: the peer sees end of stream and EPIPE, and the connection "
          "ends on both sides without either closing")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5120, &p);
    CONF_REQUIRE_RET(c, conf_shutdown(c, CONF_GUEST, p.client, VEP_SHUT_RDWR), 0);
    CONF_WAIT_EOF(c, CONF_HOST, p.server);
    struct epipe_wait w = {CONF_HOST, p.server, 0};
    CONF_REQUIRE(c, conf_wait(c, send_fails, &w, CONF_MS(2000)));
    /* The host answered the full shutdown with RST: the guest's socket
     * hangs up too. */
    CONF_WAIT_POLL(c, CONF_GUEST, p.client, VEP_POLLHUP);
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, p.client, (uint8_t[1]){0}, 1, 0, NULL), 0);
}

CONF_CASE(shutdown_unconnected, "VS-S2", CONF_ALL, 0,
          "shutdown of a socket that never connected, or of a listener, fails with ENOTCONN")
{
    int fd = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
    CONF_REQUIRE_RET(c, conf_shutdown(c, CONF_GUEST, fd, VEP_SHUT_WR), -ENOTCONN);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 5130, 1);
    CONF_REQUIRE_RET(c, conf_shutdown(c, CONF_HOST, lfd, VEP_SHUT_RDWR), -ENOTCONN);
}

CONF_CASE(close_both_ends_free_ports, "VS-S4 VS-S5", CONF_ALL, 0,
          "after a clean close on both sides, both listening ports can be bound again")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5140, &p);
    stream_bytes(c, CONF_GUEST, p.client, p.server, 5000, 4);
    CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_GUEST, p.client), 0);
    CONF_WAIT_EOF(c, CONF_HOST, p.server);
    CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_HOST, p.server), 0);
    CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_HOST, p.listener), 0);
    conf_sleep(c, CONF_MS(100));
    int again = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 5140, 1);
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5140, &fd), 0);
    CONF_REQUIRE(c, CONF_ACCEPT(c, CONF_HOST, again) >= 0);
}

CONF_CASE(close_with_unread_data, "VS-S4", CONF_ALL, 0,
          "a side that closes with unread data still ends the connection cleanly: the peer "
          "reads end of stream")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_HOST, VSOCK_TYPE_STREAM, 5150, &p);
    CONF_SEND_ALL(c, CONF_HOST, p.client, "unread", 6);
    CONF_WAIT_POLL(c, CONF_GUEST, p.server, VEP_POLLIN);
    CONF_REQUIRE_RET(c, conf_close_sock(c, CONF_GUEST, p.server), 0);
    CONF_WAIT_EOF(c, CONF_HOST, p.client);
}
