/* The socket-level tests of Linux 6.1's tools/testing/vsock/vsock_test.c,
 * each run with the client on either side where it makes sense. */
#include "conformance/conf_case.h"

CONF_CASE(vt_connection_reset, "VS-S1 VS-S3", CONF_ALL, 0,
          "vsock_test 'SOCK_STREAM connection reset': connect to a port nobody bound fails "
          "with ECONNRESET, from either side")
{
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 1234, &fd), -ECONNRESET);
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_HOST, VSOCK_TYPE_STREAM, 1234, &fd), -ECONNRESET);
}

CONF_CASE(vt_bind_only, "VS-S1 VS-S3", CONF_ALL, 0,
          "vsock_test 'SOCK_STREAM bind only': a port bound without listen refuses connections "
          "with ECONNRESET")
{
    for (int dir = 0; dir < 2; dir++) {
        enum conf_side srv = dir == 0 ? CONF_HOST : CONF_GUEST;
        int b = conf_socket(c, srv, VSOCK_TYPE_STREAM);
        CONF_REQUIRE_RET(c, conf_bind(c, srv, b, 1234), 0);
        int fd;
        CONF_REQUIRE_RET(c, CONF_CONNECT(c, conf_other(srv), VSOCK_TYPE_STREAM, 1234, &fd),
                         -ECONNRESET);
    }
}

/* vsock_test's client/server close: one side sends a byte and closes; the
 * other sees RDHUP, send fails with EPIPE, the byte is still there, then
 * end of stream. */
static void close_after_byte(struct conf *c, enum conf_side client_side, bool client_closes,
                             uint32_t port)
{
    struct conf_pair p;
    CONF_PAIR(c, client_side, VSOCK_TYPE_STREAM, port, &p);
    enum conf_side closer = client_closes ? client_side : conf_other(client_side);
    int cfd = client_closes ? p.client : p.server;
    int ofd = client_closes ? p.server : p.client;
    CONF_SEND_ALL(c, closer, cfd, "A", 1);
    CONF_REQUIRE_RET(c, conf_close_sock(c, closer, cfd), 0);
    CONF_WAIT_POLL(c, conf_other(closer), ofd, VEP_POLLRDHUP);
    CONF_REQUIRE_RET(c, conf_send(c, conf_other(closer), ofd, "B", 1, 0), -EPIPE);
    uint8_t b;
    CONF_RECV_EXACT(c, conf_other(closer), ofd, &b, 1);
    CONF_REQUIRE_EQ(c, b, 'A');
    CONF_WAIT_EOF(c, conf_other(closer), ofd);
}

CONF_CASE(vt_client_close, "VS-S2 VS-S4", CONF_ALL, 0,
          "vsock_test 'SOCK_STREAM client close': the server sees RDHUP, EPIPE, the byte, then "
          "end of stream (guest and host clients)")
{
    close_after_byte(c, CONF_GUEST, true, 1234);
    close_after_byte(c, CONF_HOST, true, 1235);
}

CONF_CASE(vt_server_close, "VS-S2 VS-S4", CONF_ALL, 0,
          "vsock_test 'SOCK_STREAM server close': the client sees RDHUP, EPIPE, the byte, then "
          "end of stream (guest and host servers)")
{
    close_after_byte(c, CONF_GUEST, false, 1234);
    close_after_byte(c, CONF_HOST, false, 1235);
}

CONF_CASE(vt_multiple_connections, "VS-S1", CONF_ALL, 0,
          "vsock_test 'SOCK_STREAM multiple connections': 100 connections to one listener, a "
          "byte each way on every one")
{
    enum { N = 100 };
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 1234, N);
    int cl[N], sv[N];
    for (int i = 0; i < N; i++) {
        CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 1234, &cl[i]), 0);
        sv[i] = CONF_ACCEPT(c, CONF_HOST, lfd);
    }
    for (int i = 0; i < N; i++) {
        uint8_t b = (uint8_t)i, x;
        if (i % 2 == 0) {
            CONF_SEND_ALL(c, CONF_GUEST, cl[i], &b, 1);
            CONF_RECV_EXACT(c, CONF_HOST, sv[i], &x, 1);
        } else {
            CONF_SEND_ALL(c, CONF_HOST, sv[i], &b, 1);
            CONF_RECV_EXACT(c, CONF_GUEST, cl[i], &x, 1);
        }
        CONF_REQUIRE_EQ(c, x, b);
    }
}

CONF_CASE(vt_msg_peek, "VS-S1", CONF_ALL, 0,
          "vsock_test 'SOCK_STREAM MSG_PEEK': a peek returns the bytes without consuming "
          "them (both directions)")
{
    for (int dir = 0; dir < 2; dir++) {
        struct conf_pair p;
        enum conf_side cl = dir == 0 ? CONF_GUEST : CONF_HOST;
        CONF_PAIR(c, cl, VSOCK_TYPE_STREAM, 1234 + (uint32_t)dir, &p);
        CONF_SEND_ALL(c, cl, p.client, "peek", 4);
        CONF_WAIT_POLL(c, conf_other(cl), p.server, VEP_POLLIN);
        uint8_t a[4], b[4];
        CONF_REQUIRE_RET(c, conf_recv(c, conf_other(cl), p.server, a, 4, VEP_MSG_PEEK, NULL), 4);
        CONF_RECV_EXACT(c, conf_other(cl), p.server, b, 4);
        CONF_REQUIRE(c, memcmp(a, "peek", 4) == 0 && memcmp(b, "peek", 4) == 0);
    }
}

CONF_CASE(vt_seqpacket_msg_bounds, "VS-Q1 VS-Q2", CONF_ALL, 0,
          "vsock_test 'SOCK_SEQPACKET msg bounds': 7 one-byte messages, the 4th with MSG_EOR, "
          "read as 7 messages with MSG_EOR on the 4th only")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_SEQPACKET, 1234, &p);
    for (int i = 0; i < 7; i++)
        CONF_SEND_MSG(c, CONF_GUEST, p.client, "m", 1, i == 3 ? VEP_MSG_EOR : 0);
    for (int i = 0; i < 7; i++) {
        uint8_t buf[16];
        unsigned fl;
        CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, CONF_HOST, p.server, buf, 16, 0, &fl), 1);
        CONF_REQUIRE_EQ(c, (fl & VEP_MSG_EOR) != 0, i == 3);
    }
}

CONF_CASE(vt_seqpacket_msg_trunc, "VS-Q1", CONF_ALL, 0,
          "vsock_test 'SOCK_SEQPACKET MSG_TRUNC flag': a 32-byte message read into 16 bytes "
          "with MSG_TRUNC returns 32 and sets MSG_TRUNC; the rest is discarded")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 1234, &p);
    uint8_t msg[32], buf[16];
    conf_fill(msg, sizeof(msg), 30, 0);
    CONF_SEND_ALL(c, CONF_HOST, p.client, msg, sizeof(msg));
    CONF_SEND_ALL(c, CONF_HOST, p.client, "next", 4);
    unsigned fl;
    CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, CONF_GUEST, p.server, buf, 16, VEP_MSG_TRUNC, &fl), 32);
    CONF_REQUIRE(c, fl & VEP_MSG_TRUNC);
    CONF_REQUIRE(c, memcmp(buf, msg, 16) == 0);
    CONF_REQUIRE_RET(c, CONF_RECV_MSG(c, CONF_GUEST, p.server, buf, 16, 0, &fl), 4);
    CONF_REQUIRE_EQ(c, fl & VEP_MSG_TRUNC, 0);
}

CONF_CASE(vt_seqpacket_timeout, "VS-Q1", CONF_ALL, 0,
          "vsock_test 'SOCK_SEQPACKET timeout': a read with no message waiting fails with "
          "EAGAIN, also after a second of silence")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_SEQPACKET, 1234, &p);
    uint8_t b[8];
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, p.client, b, 8, 0, NULL), -EAGAIN);
    uint64_t t0 = conf_now(c);
    CONF_REQUIRE_EQ(c, conf_wait_poll(c, CONF_GUEST, p.client, VEP_POLLIN, CONF_MS(1000)), 0);
    CONF_REQUIRE(c, conf_now(c) - t0 >= CONF_MS(1000));
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, p.client, b, 8, 0, NULL), -EAGAIN);
}

CONF_CASE(vt_seqpacket_invalid_buffer, "VS-Q1", CONF_ALL, 0,
          "vsock_test 'SOCK_SEQPACKET invalid receive buffer', as far as it applies: a read "
          "into no buffer fails, and the next message still arrives intact")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_HOST, VSOCK_TYPE_SEQPACKET, 1234, &p);
    enum { PAGES = 3 * 4096 };
    uint8_t *a = conf_scratch(c, PAGES), *b = conf_scratch(c, PAGES), *in = conf_scratch(c, PAGES);
    memset(a, 'a', PAGES);
    memset(b, 'b', PAGES);
    CONF_SEND_ALL(c, CONF_HOST, p.client, a, PAGES);
    CONF_SEND_ALL(c, CONF_HOST, p.client, b, PAGES);
    CONF_WAIT_POLL(c, CONF_GUEST, p.server, VEP_POLLIN);
    int64_t r = conf_recv(c, CONF_GUEST, p.server, NULL, PAGES, 0, NULL);
    CONF_REQUIRE_MSG(c, r < 0, "a read into no buffer returned %lld", (long long)r);
    /* Linux discards the message the failed read was taking; a target
     * that refuses before taking it hands it over next. Either way the
     * 'b' message comes whole. */
    int64_t n = CONF_RECV_MSG(c, CONF_GUEST, p.server, in, PAGES, 0, NULL);
    CONF_REQUIRE_RET(c, n, PAGES);
    if (in[0] == 'a') {
        n = CONF_RECV_MSG(c, CONF_GUEST, p.server, in, PAGES, 0, NULL);
        CONF_REQUIRE_RET(c, n, PAGES);
    }
    CONF_REQUIRE(c, memcmp(in, b, PAGES) == 0);
}

CONF_CASE(vt_so_rcvlowat, "VS-S1", CONF_ALL, 0,
          "vsock_test 'SOCK_STREAM poll() + SO_RCVLOWAT': with RCVLOWAT 128 one byte does not "
          "make the socket readable, 128 do, and a read takes all 128")
{
    for (int dir = 0; dir < 2; dir++) {
        struct conf_pair p;
        enum conf_side rd = dir == 0 ? CONF_GUEST : CONF_HOST;
        CONF_PAIR(c, rd, VSOCK_TYPE_STREAM, 1234 + (uint32_t)dir, &p);
        CONF_REQUIRE_RET(c, conf_set_rcvlowat(c, rd, p.client, 128), 0);
        uint8_t buf[128];
        memset(buf, 'x', sizeof(buf));
        CONF_SEND_ALL(c, conf_other(rd), p.server, buf, 1);
        CONF_REQUIRE_EQ(c, conf_wait_poll(c, rd, p.client, VEP_POLLIN, CONF_MS(1000)), 0);
        CONF_SEND_ALL(c, conf_other(rd), p.server, buf, 127);
        CONF_REQUIRE_EQ(c, CONF_WAIT_POLL(c, rd, p.client, VEP_POLLIN), VEP_POLLIN);
        CONF_REQUIRE_EQ(c, conf_poll(c, rd, p.client) & (VEP_POLLIN | VEP_POLLERR | VEP_POLLHUP),
                        VEP_POLLIN);
        CONF_REQUIRE_RET(c, conf_recv(c, rd, p.client, buf, 128, VEP_MSG_DONTWAIT, NULL), 128);
    }
}

CONF_CASE(vt_shut_wr, "VS-S2", CONF_ALL, 0,
          "SHUT_WR (vsock_test's shutdown tests): the peer reads the data, then end of stream, "
          "and still writes back")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_HOST, VSOCK_TYPE_STREAM, 1234, &p);
    CONF_SEND_ALL(c, CONF_HOST, p.client, "data", 4);
    CONF_REQUIRE_RET(c, conf_shutdown(c, CONF_HOST, p.client, VEP_SHUT_WR), 0);
    uint8_t b[4];
    CONF_RECV_EXACT(c, CONF_GUEST, p.server, b, 4);
    CONF_WAIT_EOF(c, CONF_GUEST, p.server);
    CONF_SEND_ALL(c, CONF_GUEST, p.server, "back", 4);
    CONF_RECV_EXACT(c, CONF_HOST, p.client, b, 4);
    CONF_REQUIRE(c, memcmp(b, "back", 4) == 0);
}

CONF_CASE(vt_shut_rd, "VS-S2", CONF_ALL, 0,
          "SHUT_RD (vsock_test's shutdown tests): the reader's recv returns 0 at once and the "
          "peer's send fails with EPIPE")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 1234, &p);
    CONF_REQUIRE_RET(c, conf_shutdown(c, CONF_GUEST, p.client, VEP_SHUT_RD), 0);
    uint8_t b;
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, p.client, &b, 1, 0, NULL), 0);
    CONF_WAIT_POLL(c, CONF_HOST, p.server, VEP_POLLOUT);
    uint64_t t0 = conf_now(c);
    int64_t r = 0;
    while (r != -EPIPE && conf_now(c) - t0 < CONF_MS(2000)) {
        r = conf_send(c, CONF_HOST, p.server, "z", 1, 0);
        conf_sleep(c, CONF_MS(1));
    }
    CONF_REQUIRE_RET(c, r, -EPIPE);
}
