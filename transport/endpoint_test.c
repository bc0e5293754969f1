/*
 * The endpoint (transport/endpoint.c, ep_socket.c, ep_rx.c) between two
 * endpoints joined by the pump of transport_testlib, checked against what
 * Linux 6.1 (af_vsock.c + virtio_transport_common.c) does: exact return
 * values, exact packets on the wire, counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport_testlib.h"


#define ST VSOCK_TYPE_STREAM
#define SP VSOCK_TYPE_SEQPACKET
#define SEC 1000000000ull
#define KIB 1024u
#define DEF_BUF (256u * KIB)

static uint32_t local_port(struct vep *ep, int fd)
{
    uint32_t port = 0;
    TT_EQ(0, vep_sock_name(ep, fd, &port, NULL, NULL), "vep_sock_name fd %d", fd);
    return port;
}

/* Reads everything fd has (until -EAGAIN or 0) into buf. */
static size_t drain(struct vep *ep, int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        int64_t n = vep_recv(ep, fd, buf + got, cap - got, 0, NULL);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* A host connection accepted from a guest the test plays by hand: REQUEST
 * from guest port gport to the host listener lfd on port, RESPONSE thrown
 * away. Returns the host fd. */
static int fake_guest_conn(struct tt_pair *p, int lfd, uint32_t port, uint32_t gport, int type)
{
    struct vsock_hdr h = tt_hdr(TT_GUEST, (uint16_t)type, VSOCK_OP_REQUEST, gport, port);
    h.buf_alloc = DEF_BUF;
    tt_inject(p, TT_HOST, &h, NULL, 0);
    TT_EQ(1, tt_discard(p, TT_HOST), "the host answers a REQUEST with one RESPONSE");
    int fd = vep_accept(TT_H(p), lfd, NULL, NULL);
    TT_TRUE(fd >= 0, "accept: %s", tt_errname(fd));
    return fd;
}

/* ==== connecting ======================================================================== */

TT_TC(connect_guest_to_host, "guest connects to a host listener: REQUEST, RESPONSE, accept")
ATF_TC_BODY(connect_guest_to_host, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 16);
    TT_EQ(0, lfd, "first host fd");
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(0, g, "first guest fd");
    TT_EQ(VSOCK_PORT_ANY, local_port(TT_G(&p), g), "an unbound socket has no port");
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    TT_EQ(VEP_SS_CONNECTING, vep_sock_state(TT_G(&p), g), "state while connecting");
    TT_EQ(0, vep_poll(TT_G(&p), g), "poll while connecting");
    TT_EQ(p.now + 2 * SEC, vep_next_deadline(TT_G(&p)), "the connect timeout is 2 s");
    uint32_t gport = local_port(TT_G(&p), g);
    TT_TRUE(gport > VSOCK_LAST_RESERVED_PORT, "autobound port %u", gport);
    TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "REQUEST queued");

    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_REQUEST, gport, 1234, 0, 0);
    TT_EQ(DEF_BUF, tt_log_at(&p, 0)->hdr.buf_alloc, "REQUEST buf_alloc");
    TT_EQ(0, tt_log_at(&p, 0)->hdr.fwd_cnt, "REQUEST fwd_cnt");
    TT_EQ(false, tt_log_at(&p, 0)->reply, "a REQUEST is not a reply");
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_RESPONSE, 1234, gport, 0, 0);
    TT_EQ(DEF_BUF, tt_log_at(&p, 1)->hdr.buf_alloc, "RESPONSE buf_alloc");
    TT_EQ(0, tt_log_at(&p, 1)->hdr.fwd_cnt, "RESPONSE fwd_cnt");
    TT_EQ(true, tt_log_at(&p, 1)->reply, "a RESPONSE is a reply");

    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_G(&p), g), "guest state");
    TT_EQ(0, vep_sock_error(TT_G(&p), g), "no SO_ERROR");
    TT_EQ(VEP_POLLOUT, vep_poll(TT_G(&p), g), "guest poll");
    TT_EQ(UINT64_MAX, vep_next_deadline(TT_G(&p)), "connect timer stopped");
    TT_EQ(VEP_POLLIN, vep_poll(TT_H(&p), lfd), "listener readable");

    uint64_t pcid = 0;
    uint32_t pport = 0;
    int h = vep_accept(TT_H(&p), lfd, &pcid, &pport);
    TT_EQ(1, h, "accepted fd");
    TT_EQ(TT_GUEST_CID, pcid, "peer cid");
    TT_EQ(gport, pport, "peer port");
    TT_EQ(-EAGAIN, vep_accept(TT_H(&p), lfd, NULL, NULL), "accept queue empty");
    TT_EQ(0, vep_poll(TT_H(&p), lfd), "listener no longer readable");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_H(&p), h), "host state");
    uint32_t hl = 0, hp = 0;
    uint64_t hc = 0;
    TT_EQ(0, vep_sock_name(TT_H(&p), h, &hl, &hc, &hp), "host name");
    TT_EQ(1234, hl, "child shares the listener's port");
    TT_EQ(TT_GUEST_CID, hc, "child peer cid");
    TT_EQ(gport, hp, "child peer port");

    const struct vep_counters *gc = vep_counters(TT_G(&p)), *hcn = vep_counters(TT_H(&p));
    TT_EQ(1, gc->connects, "guest connects");
    TT_EQ(1, hcn->connects, "host connects");
    TT_EQ(1, gc->tx_pkts[VSOCK_OP_REQUEST], "guest tx REQUEST");
    TT_EQ(1, gc->rx_pkts[VSOCK_OP_RESPONSE], "guest rx RESPONSE");
    TT_EQ(1, hcn->rx_pkts[VSOCK_OP_REQUEST], "host rx REQUEST");
    TT_EQ(1, hcn->tx_pkts[VSOCK_OP_RESPONSE], "host tx RESPONSE");
    tt_pair_fini(&p);
}

TT_TC(connect_host_to_guest, "host connects to a guest listener; host may only reach its guest")
ATF_TC_BODY(connect_host_to_guest, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    int lfd = tt_listen(&p, TT_GUEST, ST, 5000, 4);
    int h = vep_socket(TT_H(&p), ST);
    TT_EQ(-ENODEV, vep_connect(TT_H(&p), h, 4, 5000, p.now), "a CID no device serves");
    TT_EQ(-EINVAL, vep_connect(TT_H(&p), h, VSOCK_CID_ANY, 5000, p.now), "CID_ANY");
    TT_EQ(-EINPROGRESS, vep_connect(TT_H(&p), h, TT_GUEST_CID, 5000, p.now), "connect");
    TT_EQ(-EALREADY, vep_connect(TT_H(&p), h, TT_GUEST_CID, 5000, p.now), "connect again");
    uint32_t hport = local_port(TT_H(&p), h);
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 0, TT_HOST, ST, VSOCK_OP_REQUEST, hport, 5000, 0, 0);
    TT_PKT(&p, 1, TT_GUEST, ST, VSOCK_OP_RESPONSE, 5000, hport, 0, 0);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_H(&p), h), "host state");
    uint64_t pcid;
    uint32_t pport;
    int g = vep_accept(TT_G(&p), lfd, &pcid, &pport);
    TT_TRUE(g >= 0, "accept %d", g);
    TT_EQ(VSOCK_CID_HOST, pcid, "guest sees the host CID");
    TT_EQ(hport, pport, "guest sees the host port");
    TT_EQ(-EISCONN, vep_connect(TT_H(&p), h, TT_GUEST_CID, 5000, p.now), "connected");
    TT_EQ(5, vep_send(TT_H(&p), h, "hello", 5, 0), "host send");
    tt_pump(&p);
    char buf[16];
    TT_EQ(5, vep_recv(TT_G(&p), g, buf, sizeof buf, 0, NULL), "guest recv");
    TT_TRUE(memcmp(buf, "hello", 5) == 0, "payload");
    tt_pair_fini(&p);
}

TT_TC(connect_no_listener_econnreset,
      "connect to a port nobody listens on: RST, ECONNRESET via SO_ERROR, RST not answered")
ATF_TC_BODY(connect_no_listener_econnreset, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 999, p.now), "connect");
    uint32_t gport = local_port(TT_G(&p), g);
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_REQUEST, gport, 999, 0, 0);
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_RST, 999, gport, 0, 0);
    TT_EQ(0, tt_log_at(&p, 1)->hdr.buf_alloc, "reset_no_sock RST buf_alloc");
    TT_EQ(0, tt_log_at(&p, 1)->hdr.fwd_cnt, "reset_no_sock RST fwd_cnt");
    TT_EQ(true, tt_log_at(&p, 1)->reply, "the RST is a reply");
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_NO_SOCKET), "host NO_SOCKET");
    TT_EQ(0, tt_drops(&p, TT_GUEST, VEP_DROP_RST_NO_SOCKET), "the RST found its socket");
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(TT_G(&p), g), "state");
    TT_TRUE(vep_poll(TT_G(&p), g) & VEP_POLLERR, "poll shows the error: %#x",
            vep_poll(TT_G(&p), g));
    TT_EQ(-ECONNRESET, vep_sock_error(TT_G(&p), g), "SO_ERROR");
    TT_EQ(0, vep_sock_error(TT_G(&p), g), "SO_ERROR is taken once");
    TT_EQ(1, vep_counters(TT_G(&p))->resets, "guest resets");
    TT_EQ(UINT64_MAX, vep_next_deadline(TT_G(&p)), "no timer left");
    TT_EQ(-ENOTCONN, vep_send(TT_G(&p), g, "x", 1, 0), "send");
    TT_EQ(-ENOTCONN, vep_recv(TT_G(&p), g, (char[4]){0}, 4, 0, NULL), "recv");

    /* The socket stays SS_CONNECTING (Linux): a second non-blocking connect
     * is EALREADY and sends nothing, even once a listener is there; so is
     * listen. The binding stays. */
    int lfd = tt_listen(&p, TT_HOST, ST, 999, 1);
    TT_EQ(-EALREADY, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 999, p.now), "retry");
    TT_EQ(-EINVAL, vep_listen(TT_G(&p), g, 1), "listen");
    TT_EQ(gport, local_port(TT_G(&p), g), "still bound");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_EQ(-EAGAIN, vep_accept(TT_H(&p), lfd, NULL, NULL), "nothing to accept");
    tt_pair_fini(&p);
}

TT_TC(connect_bound_not_listening, "connect to a bound but not listening port: ECONNRESET")
ATF_TC_BODY(connect_bound_not_listening, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int hs = vep_socket(TT_H(&p), ST);
    TT_EQ(0, vep_bind(TT_H(&p), hs, 1234), "bind");
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    tt_pump(&p);
    TT_EQ(-ECONNRESET, vep_sock_error(TT_G(&p), g), "SO_ERROR");
    /* Linux finds it in the bound table; with no transport it fails
     * vsock_check_source and the packet is answered by RST. */
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_BAD_SOURCE), "host BAD_SOURCE");
    tt_pair_fini(&p);
}

TT_TC(poll_unconnected_pollout,
      "poll on a closed (TCP_CLOSE) socket reports POLLOUT, as Linux; connecting does not")
ATF_TC_BODY(poll_unconnected_pollout, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(VEP_POLLOUT, vep_poll(TT_G(&p), g), "a fresh socket");
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 999, p.now), "connect");
    TT_EQ(0, vep_poll(TT_G(&p), g), "connecting");
    tt_pump(&p);
    TT_EQ(VEP_POLLOUT | VEP_POLLERR, vep_poll(TT_G(&p), g), "refused");
    TT_EQ(-ECONNRESET, vep_sock_error(TT_G(&p), g), "SO_ERROR");
    TT_EQ(VEP_POLLOUT, vep_poll(TT_G(&p), g), "error taken");
    TT_EQ(VEP_POLLERR, vep_poll(TT_G(&p), 42), "no such fd");
    tt_pair_fini(&p);
}

TT_TC(rst_for_nothing_not_answered, "an RST for no socket is dropped silently, both sides")
ATF_TC_BODY(rst_for_nothing_not_answered, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    struct vsock_hdr h = tt_hdr(TT_GUEST, ST, VSOCK_OP_RST, 5555, 6666);
    tt_inject(&p, TT_HOST, &h, NULL, 0);
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "host answers nothing");
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_RST_NO_SOCKET), "host RST_NO_SOCKET");
    TT_EQ(0, tt_drops(&p, TT_HOST, VEP_DROP_NO_SOCKET), "not counted as NO_SOCKET");
    h = tt_hdr(TT_HOST, SP, VSOCK_OP_RST, 5555, 6666);
    tt_inject(&p, TT_GUEST, &h, NULL, 0);
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "guest answers nothing");
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_RST_NO_SOCKET), "guest RST_NO_SOCKET");
    /* Not even with an unknown type. */
    h = tt_hdr(TT_GUEST, 9, VSOCK_OP_RST, 5555, 6666);
    tt_inject(&p, TT_HOST, &h, NULL, 0);
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no RST for an RST of unknown type");
    tt_pair_fini(&p);
}

TT_TC(connect_timeout_etimedout, "no answer to REQUEST: ETIMEDOUT after exactly 2 s, no RST")
ATF_TC_BODY(connect_timeout_etimedout, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.now = 5 * SEC;
    tt_listen(&p, TT_HOST, ST, 1234, 4);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    TT_EQ(1, tt_discard(&p, TT_GUEST), "the REQUEST is lost");
    TT_EQ(7 * SEC, vep_next_deadline(TT_G(&p)), "deadline");
    tt_advance(&p, 2 * SEC - 1);
    TT_EQ(VEP_SS_CONNECTING, vep_sock_state(TT_G(&p), g), "1 ns before the timeout");
    TT_EQ(0, vep_sock_error(TT_G(&p), g), "no error yet");
    tt_advance(&p, 1);
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(TT_G(&p), g), "timed out");
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "nothing sent on timeout");
    TT_TRUE(vep_poll(TT_G(&p), g) & VEP_POLLERR, "poll");
    TT_EQ(-ETIMEDOUT, vep_sock_error(TT_G(&p), g), "SO_ERROR");
    TT_EQ(UINT64_MAX, vep_next_deadline(TT_G(&p)), "no timer left");
    tt_pair_fini(&p);
}

TT_TC(connect_timeout_cancels_request, "a REQUEST still queued at the timeout is cancelled")
ATF_TC_BODY(connect_timeout_cancels_request, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "queued");
    tt_advance(&p, 2 * SEC);
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "cancelled");
    TT_EQ(-ETIMEDOUT, vep_sock_error(TT_G(&p), g), "SO_ERROR");
    tt_pair_fini(&p);
}

TT_TC(late_response_gets_rst,
      "a RESPONSE after the connect timeout is answered with RST; the host child sees EOF")
ATF_TC_BODY(late_response_gets_rst, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    uint32_t gport = local_port(TT_G(&p), g);
    TT_TRUE(tt_step(&p, TT_GUEST), "REQUEST to the host");
    tt_advance(&p, 2 * SEC);
    TT_EQ(-ETIMEDOUT, vep_sock_error(TT_G(&p), g), "timed out");
    tt_pump(&p);
    TT_NLOG(&p, 3);
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_RESPONSE, 1234, gport, 0, 0);
    TT_PKT(&p, 2, TT_GUEST, ST, VSOCK_OP_RST, gport, 1234, 0, 0);
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_NO_SOCKET), "guest NO_SOCKET");
    int h = vep_accept(TT_H(&p), lfd, NULL, NULL);
    TT_TRUE(h >= 0, "the child is still accepted: %d", h);
    TT_EQ(0, vep_recv(TT_H(&p), h, (char[8]){0}, 8, 0, NULL), "EOF");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "x", 1, 0), "EPIPE");
    tt_pair_fini(&p);
}

TT_TC(connecting_unexpected_op_eproto,
      "a connecting socket receiving RW answers RST and fails with EPROTO; INVALID is ignored")
ATF_TC_BODY(connecting_unexpected_op_eproto, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    uint32_t gport = local_port(TT_G(&p), g);
    TT_EQ(1, tt_discard(&p, TT_GUEST), "REQUEST lost");
    struct vsock_hdr h = tt_hdr(TT_HOST, ST, VSOCK_OP_INVALID, 1234, gport);
    tt_inject(&p, TT_GUEST, &h, NULL, 0);
    TT_EQ(VEP_SS_CONNECTING, vep_sock_state(TT_G(&p), g), "op 0 ignored");
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "no answer to op 0");
    h = tt_hdr(TT_HOST, ST, VSOCK_OP_RW, 1234, gport);
    h.len = 3;
    tt_inject(&p, TT_GUEST, &h, "abc", 3);
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(TT_G(&p), g), "failed");
    TT_EQ(-EPROTO, vep_sock_error(TT_G(&p), g), "SO_ERROR");
    struct tt_rec r;
    TT_TRUE(tt_take(&p, TT_GUEST, &r), "an RST");
    TT_PKT(&p, p.nlog - 1, TT_GUEST, ST, VSOCK_OP_RST, gport, 1234, 0, 0);
    TT_EQ(true, r.reply, "the RST is a reply");
    tt_rec_free(&r);
    TT_EQ(UINT64_MAX, vep_next_deadline(TT_G(&p)), "timer stopped");
    tt_pair_fini(&p);
}

TT_TC(socket_api_errors, "errors of the socket calls on sockets in the wrong state")
ATF_TC_BODY(socket_api_errors, tc)
{
    struct tt_pair p;
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    gc.seqpacket = false;
    tt_pair_init_cfg(&p, &gc, &hc);
    struct vep *ep = TT_G(&p);
    TT_EQ(-ESOCKTNOSUPPORT, vep_socket(ep, 3), "type 3");
    int s = vep_socket(ep, ST);
    TT_EQ(0, s, "fd");
    TT_EQ(-EBADF, vep_bind(ep, 7, 100), "bind bad fd");
    TT_EQ(-EBADF, vep_connect(ep, -1, 2, 100, 0), "connect bad fd");
    TT_EQ(-EBADF, vep_close(ep, 7, 0), "close bad fd");
    TT_EQ(-EINVAL, vep_listen(ep, s, 4), "listen without bind");
    TT_EQ(-EINVAL, vep_accept(ep, s, NULL, NULL), "accept on a non-listener");
    TT_EQ(-ENOTCONN, vep_shutdown(ep, s, VEP_SHUT_WR), "shutdown unconnected");
    TT_EQ(-EINVAL, vep_shutdown(ep, s, 3), "shutdown how 3");
    TT_EQ(-ENOTCONN, vep_send(ep, s, "x", 1, 0), "send unconnected");
    TT_EQ(-ENOTCONN, vep_recv(ep, s, (char[4]){0}, 4, 0, NULL), "recv unconnected");
    TT_EQ(-ENOTCONN, vep_credit_request(ep, s), "credit request unconnected");
    TT_EQ(0, vep_bind(ep, s, 4000), "bind");
    TT_EQ(0, vep_listen(ep, s, 4), "listen");
    TT_EQ(-EINVAL, vep_connect(ep, s, 2, 100, 0), "connect on a listener");
    TT_EQ(-ENOTCONN, vep_shutdown(ep, s, VEP_SHUT_RDWR), "shutdown a listener");
    TT_EQ(-EAGAIN, vep_accept(ep, s, NULL, NULL), "nothing to accept");
    TT_EQ(0, vep_close(ep, s, 0), "close");
    TT_EQ(-EBADF, vep_close(ep, s, 0), "close twice");
    TT_EQ(VEP_SS_FREE, vep_sock_state(ep, s), "freed");
    TT_EQ(0, vep_socket(ep, ST), "the lowest fd is reused");
    TT_EQ(1, vep_socket(ep, ST), "next fd");
    /* Seqpacket not negotiated: Linux creates the socket, refuses at
     * connect, listens, and answers every REQUEST to the listener with RST. */
    int q = vep_socket(ep, SP);
    TT_EQ(2, q, "seqpacket socket without seqpacket negotiated");
    TT_EQ(-ESOCKTNOSUPPORT, vep_connect(ep, q, VSOCK_CID_HOST, 100, 0), "seqpacket connect");
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(ep, q), "still unconnected");
    TT_EQ(0, vep_bind(ep, q, 4001), "bind");
    TT_EQ(0, vep_tx_queued_pkts(ep), "nothing sent");
    TT_EQ(0, vep_listen(ep, q, 4), "seqpacket listen");
    uint64_t bad_type = vep_counters(ep)->drops[VEP_DROP_BAD_TYPE];
    struct vsock_hdr h = tt_hdr(TT_HOST, SP, VSOCK_OP_REQUEST, 1234, 4001);
    tt_inject(&p, TT_GUEST, &h, NULL, 0);
    TT_EQ(bad_type + 1, vep_counters(ep)->drops[VEP_DROP_BAD_TYPE], "REQUEST refused");
    TT_EQ(1, vep_tx_queued_pkts(ep), "an RST");
    TT_EQ(-EAGAIN, vep_accept(ep, q, NULL, NULL), "nothing to accept");
    TT_EQ(0, vep_close(ep, q, 0), "close");
    tt_pair_fini(&p);
}

/* ==== ports ================================================================================ */

TT_TC(bind_eaddrinuse, "binding a port in use fails with EADDRINUSE; rebinding with EINVAL")
ATF_TC_BODY(bind_eaddrinuse, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    struct vep *ep = TT_G(&p);
    int a = vep_socket(ep, ST), b = vep_socket(ep, SP);
    TT_EQ(0, vep_bind(ep, a, 7000), "bind");
    TT_EQ(-EADDRINUSE, vep_bind(ep, b, 7000), "same port, other socket (any type)");
    TT_EQ(-EINVAL, vep_bind(ep, a, 7001), "already bound");
    TT_EQ(0, vep_bind(ep, b, 7001), "other port");
    /* A connecting socket holds its port too. */
    int c = vep_socket(ep, ST);
    TT_EQ(-EINPROGRESS, vep_connect(ep, c, VSOCK_CID_HOST, 1, p.now), "connect");
    int d = vep_socket(ep, ST);
    TT_EQ(-EADDRINUSE, vep_bind(ep, d, local_port(ep, c)), "the autobound port");
    tt_pair_fini(&p);
}

TT_TC(port_reuse_after_close, "a port is free again once its socket is gone (not before)")
ATF_TC_BODY(port_reuse_after_close, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int l = tt_listen(&p, TT_GUEST, ST, 5000, 1);
    TT_EQ(0, vep_close(TT_G(&p), l, p.now), "close listener");
    l = tt_listen(&p, TT_GUEST, ST, 5000, 1);

    /* A connection lingers after close until the peer's RST. */
    int hl = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(0, vep_bind(TT_G(&p), g, 6000), "bind 6000");
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    tt_pump(&p);
    int h = vep_accept(TT_H(&p), hl, NULL, NULL);
    TT_TRUE(h >= 0, "accept");
    TT_EQ(0, vep_close(TT_G(&p), g, p.now), "close");
    int g2 = vep_socket(TT_G(&p), ST);
    TT_EQ(-EADDRINUSE, vep_bind(TT_G(&p), g2, 6000), "still lingering");
    tt_pump(&p);
    TT_EQ(0, vep_bind(TT_G(&p), g2, 6000), "free after the RST");

    /* Accepted children do not hold the listener's port. */
    TT_EQ(0, vep_close(TT_H(&p), hl, p.now), "close the host listener");
    int h2 = vep_socket(TT_H(&p), ST);
    TT_EQ(0, vep_bind(TT_H(&p), h2, 1234), "port of a closed listener with a live child");
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(TT_H(&p), h), "the child is still there");
    tt_pair_fini(&p);
}

TT_TC(ephemeral_ports, "ephemeral ports: above 1023, distinct, consecutive, from the seed")
ATF_TC_BODY(ephemeral_ports, tc)
{
    uint32_t ports[3][4];
    uint32_t seeds[3] = {1, 1, 77};
    for (int k = 0; k < 3; k++) {
        struct tt_pair p;
        struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
        gc.ephemeral_seed = seeds[k];
        tt_pair_init_cfg(&p, &gc, &hc);
        for (int i = 0; i < 3; i++) {
            int s = vep_socket(TT_G(&p), ST);
            TT_EQ(0, vep_bind(TT_G(&p), s, VSOCK_PORT_ANY), "bind any");
            ports[k][i] = local_port(TT_G(&p), s);
        }
        /* connect autobinds from the same counter */
        int s = vep_socket(TT_G(&p), ST);
        TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), s, VSOCK_CID_HOST, 1, p.now), "connect");
        ports[k][3] = local_port(TT_G(&p), s);
        for (int i = 0; i < 4; i++) {
            TT_TRUE(ports[k][i] > VSOCK_LAST_RESERVED_PORT && ports[k][i] != VSOCK_PORT_ANY,
                    "port %u", ports[k][i]);
            for (int j = 0; j < i; j++)
                TT_TRUE(ports[k][i] != ports[k][j], "ports %d and %d both %u", i, j,
                        ports[k][i]);
        }
        for (int i = 1; i < 4; i++)
            TT_EQ(ports[k][0] + (uint32_t)i, ports[k][i], "consecutive, as Linux's counter");
        tt_pair_fini(&p);
    }
    for (int i = 0; i < 4; i++)
        TT_EQ(ports[0][i], ports[1][i], "same seed, same port %d", i);
    TT_TRUE(ports[0][0] != ports[2][0], "another seed gives another start (%u)", ports[0][0]);
}

TT_TC(ephemeral_skips_used, "the ephemeral counter skips a port bound explicitly")
ATF_TC_BODY(ephemeral_skips_used, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    struct vep *ep = TT_G(&p);
    int a = vep_socket(ep, ST);
    TT_EQ(0, vep_bind(ep, a, VSOCK_PORT_ANY), "bind any");
    uint32_t first = local_port(ep, a);
    int b = vep_socket(ep, ST);
    TT_EQ(0, vep_bind(ep, b, first + 1), "take the next one by hand");
    int c = vep_socket(ep, ST);
    TT_EQ(0, vep_bind(ep, c, VSOCK_PORT_ANY), "bind any");
    TT_EQ(first + 2, local_port(ep, c), "skipped the used port");
    tt_pair_fini(&p);
}

/* ==== listen / accept ====================================================================== */

TT_TC(backlog_full_rst, "listen(backlog 2) admits 3 pending connections; the 4th gets RST")
ATF_TC_BODY(backlog_full_rst, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 2);
    int g[5];
    for (int i = 0; i < 4; i++) {
        g[i] = vep_socket(TT_G(&p), ST);
        TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g[i], VSOCK_CID_HOST, 1234, p.now),
              "connect %d", i);
        tt_pump(&p);
    }
    for (int i = 0; i < 3; i++)
        TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_G(&p), g[i]), "connection %d", i);
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(TT_G(&p), g[3]), "the 4th");
    TT_EQ(-ECONNRESET, vep_sock_error(TT_G(&p), g[3]), "the 4th is reset");
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_BACKLOG), "host BACKLOG");
    TT_TRUE(vep_accept(TT_H(&p), lfd, NULL, NULL) >= 0, "accept one");
    g[4] = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g[4], VSOCK_CID_HOST, 1234, p.now), "again");
    tt_pump(&p);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_G(&p), g[4]), "room again");
    tt_pair_fini(&p);
}

TT_TC(backlog_zero, "listen(backlog 0) admits one pending connection")
ATF_TC_BODY(backlog_zero, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    tt_listen(&p, TT_HOST, ST, 1234, 0);
    int a = vep_socket(TT_G(&p), ST), b = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), a, VSOCK_CID_HOST, 1234, p.now), "a");
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), b, VSOCK_CID_HOST, 1234, p.now), "b");
    tt_pump(&p);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_G(&p), a), "first admitted");
    TT_EQ(-ECONNRESET, vep_sock_error(TT_G(&p), b), "second reset");
    tt_pair_fini(&p);
}

TT_TC(accept_fifo, "accept returns connections in the order their REQUESTs arrived")
ATF_TC_BODY(accept_fifo, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 8);
    uint32_t ports[5];
    for (int i = 0; i < 5; i++) {
        int s = vep_socket(TT_G(&p), ST);
        /* explicit ports in descending order, so FIFO is not port order */
        TT_EQ(0, vep_bind(TT_G(&p), s, 9000 - (uint32_t)i * 10), "bind");
        TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), s, VSOCK_CID_HOST, 1234, p.now), "connect");
        ports[i] = 9000 - (uint32_t)i * 10;
    }
    tt_pump(&p);
    for (int i = 0; i < 5; i++) {
        uint32_t pport = 0;
        TT_TRUE(vep_accept(TT_H(&p), lfd, NULL, &pport) >= 0, "accept %d", i);
        TT_EQ(ports[i], pport, "accept %d in FIFO order", i);
    }
    tt_pair_fini(&p);
}

TT_TC(close_listener_with_pending,
      "closing a listener closes its unaccepted children: SHUTDOWN(3) each, in FIFO order")
ATF_TC_BODY(close_listener_with_pending, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 8);
    int g[2];
    uint32_t gp[2];
    for (int i = 0; i < 2; i++) {
        g[i] = vep_socket(TT_G(&p), ST);
        TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g[i], VSOCK_CID_HOST, 1234, p.now), "c");
        gp[i] = local_port(TT_G(&p), g[i]);
    }
    tt_pump(&p);
    p.record = true;
    TT_EQ(0, vep_close(TT_H(&p), lfd, p.now), "close listener");
    tt_pump(&p);
    TT_NLOG(&p, 4);
    TT_PKT(&p, 0, TT_HOST, ST, VSOCK_OP_SHUTDOWN, 1234, gp[0], 3, 0);
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_SHUTDOWN, 1234, gp[1], 3, 0);
    TT_PKT(&p, 2, TT_GUEST, ST, VSOCK_OP_RST, gp[0], 1234, 0, 0);
    TT_PKT(&p, 3, TT_GUEST, ST, VSOCK_OP_RST, gp[1], 1234, 0, 0);
    TT_EQ(0, tt_nsocks(&p, TT_HOST), "host has nothing left");
    for (int i = 0; i < 2; i++) {
        TT_EQ(VEP_SS_CLOSING, vep_sock_state(TT_G(&p), g[i]), "guest %d", i);
        TT_EQ(0, vep_recv(TT_G(&p), g[i], (char[4]){0}, 4, 0, NULL), "EOF %d", i);
    }
    tt_pair_fini(&p);
}

TT_TC(many_connections, "64 connections at once, each with its own data both ways")
ATF_TC_BODY(many_connections, tc)
{
    enum { N = 64 };
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, N);
    int g[N], h[N];
    uint32_t gport[N];
    for (int i = 0; i < N; i++) {
        g[i] = vep_socket(TT_G(&p), ST);
        TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g[i], VSOCK_CID_HOST, 1234, p.now), "c%d", i);
        gport[i] = local_port(TT_G(&p), g[i]);
    }
    tt_pump(&p);
    for (int i = 0; i < N; i++) {
        uint32_t pport;
        h[i] = vep_accept(TT_H(&p), lfd, NULL, &pport);
        TT_TRUE(h[i] >= 0, "accept %d", i);
        TT_EQ(gport[i], pport, "accept %d", i);
    }
    uint8_t buf[4096], want[4096];
    for (int i = 0; i < N; i++) {
        size_t n = 100 + (size_t)i * 37;
        tt_fill(buf, n, (uint32_t)i, 0);
        TT_EQ(n, vep_send(TT_G(&p), g[i], buf, n, 0), "guest send %d", i);
        tt_fill(buf, n + 1, 1000 + (uint32_t)i, 0);
        TT_EQ(n + 1, vep_send(TT_H(&p), h[i], buf, n + 1, 0), "host send %d", i);
    }
    tt_pump(&p);
    for (int i = 0; i < N; i++) {
        size_t n = 100 + (size_t)i * 37;
        TT_EQ(n, drain(TT_H(&p), h[i], buf, sizeof buf), "host recv %d", i);
        tt_fill(want, n, (uint32_t)i, 0);
        TT_TRUE(memcmp(buf, want, n) == 0, "host data %d", i);
        TT_EQ(n + 1, drain(TT_G(&p), g[i], buf, sizeof buf), "guest recv %d", i);
        tt_fill(want, n + 1, 1000 + (uint32_t)i, 0);
        TT_TRUE(memcmp(buf, want, n + 1) == 0, "guest data %d", i);
    }
    TT_EQ(N, vep_counters(TT_H(&p))->connects, "host connects");
    tt_pair_fini(&p);
}

/* ==== data and credit ======================================================================== */

TT_TC(data_both_ways, "RW both ways, with the credit fields each carries")
ATF_TC_BODY(data_both_ways, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    TT_EQ(5, vep_send(TT_G(&p), g, "hello", 5, 0), "guest send");
    tt_pump(&p);
    TT_NLOG(&p, 1);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_RW, gport, 1234, 0, 5);
    TT_TRUE(memcmp(tt_log_at(&p, 0)->payload, "hello", 5) == 0, "payload on the wire");
    TT_EQ(DEF_BUF, tt_log_at(&p, 0)->hdr.buf_alloc, "buf_alloc");
    TT_EQ(0, tt_log_at(&p, 0)->hdr.fwd_cnt, "fwd_cnt");
    TT_EQ(VEP_POLLIN | VEP_POLLOUT, vep_poll(TT_H(&p), h), "host poll");
    TT_EQ(5, vep_rx_queued(TT_H(&p), h), "queued");
    char buf[64];
    TT_EQ(5, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "host recv");
    TT_TRUE(memcmp(buf, "hello", 5) == 0, "data");
    TT_EQ(-EAGAIN, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "empty");
    TT_EQ(1, vep_tx_queued_pkts(TT_H(&p)), "the read emptied the queue: one CREDIT_UPDATE");
    TT_EQ(6, vep_send(TT_H(&p), h, "world!", 6, 0), "host send");
    tt_pump(&p);
    TT_NLOG(&p, 3);
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport, 0, 0);
    TT_EQ(5, tt_log_at(&p, 1)->hdr.fwd_cnt, "the CREDIT_UPDATE tells the host's fwd_cnt");
    TT_PKT(&p, 2, TT_HOST, ST, VSOCK_OP_RW, 1234, gport, 0, 6);
    TT_EQ(5, tt_log_at(&p, 2)->hdr.fwd_cnt, "the host's RW tells its fwd_cnt");
    TT_EQ(6, vep_recv(TT_G(&p), g, buf, sizeof buf, 0, NULL), "guest recv");
    TT_TRUE(memcmp(buf, "world!", 6) == 0, "data");
    TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "the guest's read emptied its queue: one CREDIT_UPDATE");
    struct vep_conn_info gi = tt_conn(&p, TT_GUEST, g);
    TT_EQ(5, gi.tx_cnt, "guest tx_cnt");
    TT_EQ(5, gi.peer_fwd_cnt, "guest knows the host consumed 5");
    TT_EQ(6, gi.fwd_cnt, "guest fwd_cnt");
    TT_EQ(5, vep_counters(TT_G(&p))->tx_bytes, "guest tx_bytes");
    TT_EQ(5, vep_counters(TT_H(&p))->rx_bytes, "host rx_bytes");
    TT_EQ(0, vep_send(TT_G(&p), g, NULL, 0, 0), "zero-length send sends nothing");
    TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "nothing more queued");
    tt_pair_fini(&p);
}

/* Moves total bytes from side src (fd sfd) to the other side (fd dfd),
 * send/pump/recv in a loop, and checks every byte. */
static void transfer(struct tt_pair *p, int src, int sfd, int dfd, size_t total, uint32_t salt,
                     size_t send_chunk, size_t recv_chunk)
{
    uint8_t *sbuf = malloc(send_chunk), *rbuf = malloc(recv_chunk);
    ATF_REQUIRE(sbuf != NULL && rbuf != NULL);
    struct vep *s = p->ep[src], *d = p->ep[TT_OTHER(src)];
    size_t sent = 0, got = 0;
    uint64_t hs = TT_HASH_INIT, hr = TT_HASH_INIT;
    for (unsigned iter = 0; got < total; iter++) {
        TT_TRUE(iter < 100000, "no progress: sent %zu, received %zu", sent, got);
        while (sent < total) {
            size_t n = total - sent < send_chunk ? total - sent : send_chunk;
            tt_fill(sbuf, n, salt, sent);
            int64_t r = vep_send(s, sfd, sbuf, n, 0);
            if (r == -EAGAIN)
                break;
            TT_TRUE(r > 0 && (size_t)r <= n, "send returned %s", tt_errname(r));
            hs = tt_hash(sbuf, (size_t)r, hs);
            sent += (size_t)r;
        }
        tt_pump(p);
        for (;;) {
            int64_t r = vep_recv(d, dfd, rbuf, recv_chunk, 0, NULL);
            if (r == -EAGAIN)
                break;
            TT_TRUE(r > 0, "recv returned %s", tt_errname(r));
            for (int64_t i = 0; i < r; i++)
                if (rbuf[i] != tt_pattern(salt, got + (uint64_t)i))
                    atf_tc_fail("byte %llu differs", (unsigned long long)(got + (uint64_t)i));
            hr = tt_hash(rbuf, (size_t)r, hr);
            got += (size_t)r;
        }
        tt_pump(p);
    }
    TT_EQ(total, got, "received");
    TT_EQ(hs, hr, "checksum");
    free(sbuf);
    free(rbuf);
}

TT_TC(stream_1mib_guest_to_host, "1 MiB guest to host, byte for byte, within credit")
ATF_TC_BODY(stream_1mib_guest_to_host, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    transfer(&p, TT_GUEST, g, h, 1u << 20, 7, 100000, 7000);
    TT_EQ(0, tt_drops(&p, TT_HOST, VEP_DROP_OVER_CREDIT), "no OVER_CREDIT");
    TT_EQ(0, tt_drops(&p, TT_GUEST, VEP_DROP_BAD_CREDIT), "no BAD_CREDIT");
    TT_TRUE(p.rw_checked >= 16, "RW packets checked: %llu", (unsigned long long)p.rw_checked);
    TT_TRUE(p.max_in_flight[TT_GUEST] <= DEF_BUF, "in flight %u", p.max_in_flight[TT_GUEST]);
    TT_EQ(DEF_BUF, p.max_in_flight[TT_GUEST], "the window was used fully");
    TT_TRUE(tt_log_count(&p, TT_HOST, VSOCK_OP_CREDIT_UPDATE) >= 3, "credit updates: %u",
            tt_log_count(&p, TT_HOST, VSOCK_OP_CREDIT_UPDATE));
    for (uint32_t i = 0; i < p.nlog; i++)
        if (p.log[i].hdr.op == VSOCK_OP_RW)
            TT_TRUE(p.log[i].hdr.len <= 64 * KIB, "RW [%u] len %u", i, p.log[i].hdr.len);
    TT_EQ(1u << 20, vep_counters(TT_H(&p))->rx_bytes, "host rx_bytes");
    tt_pair_fini(&p);
}

TT_TC(stream_1mib_host_to_guest, "1 MiB host to guest with odd chunk sizes, within credit")
ATF_TC_BODY(stream_1mib_host_to_guest, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    transfer(&p, TT_HOST, h, g, 1u << 20, 9, 12345, 65537);
    TT_EQ(0, tt_drops(&p, TT_GUEST, VEP_DROP_OVER_CREDIT), "no OVER_CREDIT");
    TT_TRUE(p.max_in_flight[TT_HOST] <= DEF_BUF, "in flight %u", p.max_in_flight[TT_HOST]);
    tt_pair_fini(&p);
}

TT_TC(credit_window_exact, "a sender stops at exactly the peer's buf_alloc, in 64 KiB packets")
ATF_TC_BODY(credit_window_exact, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    static uint8_t big[300000];
    tt_fill(big, sizeof big, 3, 0);
    TT_EQ(DEF_BUF, vep_send(TT_G(&p), g, big, sizeof big, 0), "send takes the window");
    TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, big, 1, 0), "no credit left");
    TT_EQ(0, vep_poll(TT_G(&p), g) & VEP_POLLOUT, "not writable");
    tt_pump(&p);
    TT_NLOG(&p, 4);
    for (uint32_t i = 0; i < 4; i++)
        TT_PKT(&p, i, TT_GUEST, ST, VSOCK_OP_RW, gport, 1234, 0, 64 * KIB);
    TT_EQ(DEF_BUF, vep_rx_queued(TT_H(&p), h), "all queued at the host");
    TT_EQ(0, tt_drops(&p, TT_HOST, VEP_DROP_OVER_CREDIT), "none dropped");
    tt_pair_fini(&p);
}

TT_TC(credit_update_threshold,
      "CREDIT_UPDATE is sent once free space drops below 64 KiB after a read, not before")
ATF_TC_BODY(credit_update_threshold, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    static uint8_t big[DEF_BUF], rb[DEF_BUF];
    tt_fill(big, sizeof big, 4, 0);
    TT_EQ(DEF_BUF, vep_send(TT_G(&p), g, big, sizeof big, 0), "fill the window");
    tt_pump(&p);
    p.record = true;
    size_t got = 0;
    /* 3 of 4 packets consumed: free space is 64 KiB, not below. */
    while (got < 3 * 64 * KIB) {
        int64_t n = vep_recv(TT_H(&p), h, rb + got, 4096, 0, NULL);
        TT_EQ(4096, n, "read");
        got += 4096;
        TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no update after %zu bytes", got);
    }
    TT_EQ(3 * 64 * KIB, tt_conn(&p, TT_HOST, h).fwd_cnt, "fwd_cnt");
    TT_EQ(1, vep_recv(TT_H(&p), h, rb + got, 1, 0, NULL), "one byte of the last packet");
    got++;
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "a partly read packet frees no credit");
    TT_EQ(3 * 64 * KIB, tt_conn(&p, TT_HOST, h).fwd_cnt, "fwd_cnt moves by whole packets");
    TT_EQ(64 * KIB - 1, vep_recv(TT_H(&p), h, rb + got, sizeof rb - got, 0, NULL), "rest");
    got += 64 * KIB - 1;
    TT_TRUE(memcmp(rb, big, DEF_BUF) == 0, "data");
    TT_EQ(1, vep_tx_queued_pkts(TT_H(&p)), "one CREDIT_UPDATE");
    tt_pump(&p);
    TT_NLOG(&p, 1);
    TT_PKT(&p, 0, TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport, 0, 0);
    TT_EQ(DEF_BUF, tt_log_at(&p, 0)->hdr.fwd_cnt, "fwd_cnt");
    TT_EQ(DEF_BUF, tt_log_at(&p, 0)->hdr.buf_alloc, "buf_alloc");
    TT_EQ(false, tt_log_at(&p, 0)->reply, "not a reply");
    TT_TRUE(vep_poll(TT_G(&p), g) & VEP_POLLOUT, "writable again");
    TT_EQ(DEF_BUF, vep_send(TT_G(&p), g, big, sizeof big, 0), "a whole window again");
    tt_pair_fini(&p);
}

TT_TC(credit_update_emptying_read,
      "a read leaving fewer than SO_RCVLOWAT bytes sends one CREDIT_UPDATE; one leaving more does not")
ATF_TC_BODY(credit_update_emptying_read, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    uint8_t data[300], rb[300];
    tt_fill(data, sizeof data, 21, 0);
    TT_EQ(100, vep_send(TT_G(&p), g, data, 100, 0), "first packet");
    TT_EQ(200, vep_send(TT_G(&p), g, data + 100, 200, 0), "second packet");
    tt_pump(&p);
    p.record = true;
    /* Plenty of free space and 200 bytes (>= SO_RCVLOWAT 1) left: no update. */
    TT_EQ(100, vep_recv(TT_H(&p), h, rb, 100, 0, NULL), "read the first packet");
    TT_EQ(100, tt_conn(&p, TT_HOST, h).fwd_cnt, "fwd_cnt");
    TT_EQ(200, vep_rx_queued(TT_H(&p), h), "200 left");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no CREDIT_UPDATE");
    /* The read that empties the queue: exactly one, with the new fwd_cnt. */
    TT_EQ(200, vep_recv(TT_H(&p), h, rb + 100, 200, 0, NULL), "read the rest");
    TT_TRUE(memcmp(rb, data, sizeof data) == 0, "data");
    TT_EQ(1, vep_tx_queued_pkts(TT_H(&p)), "one CREDIT_UPDATE");
    tt_pump(&p);
    TT_NLOG(&p, 1);
    TT_PKT(&p, 0, TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport, 0, 0);
    TT_EQ(300, tt_log_at(&p, 0)->hdr.fwd_cnt, "the new fwd_cnt");
    TT_EQ(DEF_BUF, tt_log_at(&p, 0)->hdr.buf_alloc, "buf_alloc");
    TT_EQ(false, tt_log_at(&p, 0)->reply, "not a reply");
    TT_EQ(300, tt_conn(&p, TT_GUEST, g).peer_fwd_cnt, "the guest took it");
    /* A read of an empty queue frees nothing and sends nothing. */
    TT_EQ(-EAGAIN, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "empty");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no second update");
    tt_pair_fini(&p);
}

TT_TC(tiny_buf_alloc, "SO_VM_SOCKETS_BUFFER_SIZE 1 is clamped to 128; the sender stalls and resumes")
ATF_TC_BODY(tiny_buf_alloc, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 1), "set size");
    TT_EQ(128, tt_conn(&p, TT_HOST, h).buf_alloc, "clamped to the minimum");
    tt_pump(&p);
    TT_NLOG(&p, 1);
    TT_PKT(&p, 0, TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport, 0, 0);
    TT_EQ(128, tt_log_at(&p, 0)->hdr.buf_alloc, "the update carries the new size");
    TT_EQ(128, tt_conn(&p, TT_GUEST, g).peer_buf_alloc, "the guest knows");

    uint8_t data[1000], rb[1000];
    tt_fill(data, sizeof data, 5, 0);
    size_t sent = 0, got = 0;
    for (int round = 0; got < sizeof data; round++) {
        TT_TRUE(round < 20, "too many rounds");
        int64_t n = vep_send(TT_G(&p), g, data + sent, sizeof data - sent, 0);
        if (sent < sizeof data) {
            TT_EQ(sizeof data - sent < 128 ? sizeof data - sent : 128, n, "round %d", round);
            sent += (size_t)n;
            if (n == 128)
                TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, data, 1, 0), "stalled");
        }
        tt_pump(&p);
        n = vep_recv(TT_H(&p), h, rb + got, sizeof rb - got, 0, NULL);
        TT_TRUE(n > 0, "recv %lld", (long long)n);
        got += (size_t)n;
        TT_EQ(1, vep_tx_queued_pkts(TT_H(&p)), "every read below 64 KiB free sends an update");
        tt_pump(&p);
    }
    TT_TRUE(memcmp(data, rb, sizeof data) == 0, "data");
    TT_EQ(1 + 8, tt_log_count(&p, TT_HOST, VSOCK_OP_CREDIT_UPDATE), "updates");
    TT_EQ(8, tt_log_count(&p, TT_GUEST, VSOCK_OP_RW), "RW packets");
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 1u << 30), "huge");
    TT_EQ(DEF_BUF, tt_conn(&p, TT_HOST, h).buf_alloc, "clamped to the maximum");
    tt_pair_fini(&p);
}

TT_TC(buf_size_unchanged_no_update,
      "setting the buffer size it already has sends no CREDIT_UPDATE (Linux: only on change)")
ATF_TC_BODY(buf_size_unchanged_no_update, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, DEF_BUF), "same size");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "nothing sent");
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 1u << 30), "clamps to the same size");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "nothing sent");
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 4096), "a new size");
    TT_EQ(1, vep_tx_queued_pkts(TT_H(&p)), "one update");
    tt_pair_fini(&p);
}

TT_TC(listener_buf_size_inherited, "a child inherits the listener's buffer size; RESPONSE tells it")
ATF_TC_BODY(listener_buf_size_inherited, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), lfd, 4096), "set on the listener");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "a listener sends nothing");
    p.record = true;
    int g;
    int h = tt_connect(&p, TT_GUEST, ST, lfd, 1234, &g);
    TT_EQ(4096, tt_log_at(&p, 1)->hdr.buf_alloc, "RESPONSE buf_alloc");
    TT_EQ(4096, tt_conn(&p, TT_HOST, h).buf_alloc, "child buf_alloc");
    static uint8_t data[10000];
    TT_EQ(4096, vep_send(TT_G(&p), g, data, sizeof data, 0), "send limited by the child");
    tt_pair_fini(&p);
}

TT_TC(credit_request_answered, "CREDIT_REQUEST is answered by CREDIT_UPDATE with current credit")
ATF_TC_BODY(credit_request_answered, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    TT_EQ(10, vep_send(TT_G(&p), g, "0123456789", 10, 0), "send");
    tt_pump(&p);
    static uint8_t second[200]; /* too big to be copied into the first packet */
    TT_EQ(200, vep_send(TT_G(&p), g, second, sizeof second, 0), "send a second packet");
    tt_pump(&p);
    char buf[16];
    /* The first packet only: 200 bytes (>= SO_RCVLOWAT) stay queued, space
     * is plenty, so the read sends no update (an emptying read would). */
    TT_EQ(10, vep_recv(TT_H(&p), h, buf, 10, 0, NULL), "recv");
    TT_EQ(200, vep_rx_queued(TT_H(&p), h), "200 bytes left");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no update on its own");
    TT_EQ(0, tt_conn(&p, TT_GUEST, g).peer_fwd_cnt, "the guest's view is stale");
    p.record = true;
    TT_EQ(0, vep_credit_request(TT_G(&p), g), "credit request");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_CREDIT_REQUEST, gport, 1234, 0, 0);
    TT_EQ(DEF_BUF, tt_log_at(&p, 0)->hdr.buf_alloc, "request buf_alloc");
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport, 0, 0);
    TT_EQ(10, tt_log_at(&p, 1)->hdr.fwd_cnt, "the host's fwd_cnt");
    TT_EQ(DEF_BUF, tt_log_at(&p, 1)->hdr.buf_alloc, "the host's buf_alloc");
    TT_EQ(false, tt_log_at(&p, 1)->reply, "Linux does not mark it a reply");
    TT_EQ(10, tt_conn(&p, TT_GUEST, g).peer_fwd_cnt, "the guest took it");
    TT_EQ(-EBADF, vep_credit_request(TT_G(&p), 99), "bad fd");
    tt_pair_fini(&p);
}

TT_TC(buf_alloc_shrink, "a peer shrinking buf_alloc below the bytes in flight stops the sender")
ATF_TC_BODY(buf_alloc_shrink, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    static uint8_t data[5000], rb[5000];
    tt_fill(data, sizeof data, 6, 0);
    TT_EQ(1000, vep_send(TT_G(&p), g, data, 1000, 0), "send 1000");
    tt_pump(&p);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 500), "shrink");
    tt_pump(&p);
    struct vep_conn_info gi = tt_conn(&p, TT_GUEST, g);
    TT_EQ(500, gi.peer_buf_alloc, "guest knows");
    TT_EQ(0, vep_poll(TT_G(&p), g) & VEP_POLLOUT, "no room: 500 - 1000 is not a huge u32");
    TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, data, 1, 0), "no credit");
    TT_EQ(1000, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "host reads");
    tt_pump(&p);
    TT_EQ(500, vep_send(TT_G(&p), g, data + 1000, 4000, 0), "exactly the new size");
    TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, data, 1, 0), "full again");
    tt_pump(&p);
    TT_EQ(500, vep_recv(TT_H(&p), h, rb + 1000, sizeof rb, 0, NULL), "host reads");
    TT_TRUE(memcmp(rb, data, 1500) == 0, "data");
    TT_EQ(0, tt_drops(&p, TT_HOST, VEP_DROP_OVER_CREDIT), "no overrun");
    tt_pair_fini(&p);
}

TT_TC(stream_peek, "MSG_PEEK on a stream copies without consuming or sending credit")
ATF_TC_BODY(stream_peek, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    char buf[32];
    TT_EQ(-EAGAIN, vep_recv(TT_H(&p), h, buf, sizeof buf, VEP_MSG_PEEK, NULL), "empty");
    TT_EQ(6, vep_send(TT_G(&p), g, "hello ", 6, 0), "send");
    TT_EQ(5, vep_send(TT_G(&p), g, "world", 5, 0), "send");
    tt_pump(&p);
    TT_EQ(5, vep_recv(TT_H(&p), h, buf, 5, VEP_MSG_PEEK, NULL), "peek 5");
    TT_TRUE(memcmp(buf, "hello", 5) == 0, "peeked");
    TT_EQ(11, vep_recv(TT_H(&p), h, buf, sizeof buf, VEP_MSG_PEEK, NULL), "peek across packets");
    TT_TRUE(memcmp(buf, "hello world", 11) == 0, "peeked");
    TT_EQ(11, vep_rx_queued(TT_H(&p), h), "nothing consumed");
    TT_EQ(0, tt_conn(&p, TT_HOST, h).fwd_cnt, "fwd_cnt");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "nothing sent");
    TT_EQ(3, vep_recv(TT_H(&p), h, buf, 3, 0, NULL), "read 3");
    TT_EQ(4, vep_recv(TT_H(&p), h, buf, 4, VEP_MSG_PEEK, NULL), "peek after a partial read");
    TT_TRUE(memcmp(buf, "lo w", 4) == 0, "peek starts at the read offset");
    TT_EQ(8, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "read the rest");
    TT_TRUE(memcmp(buf, "lo world", 8) == 0, "data");
    tt_pair_fini(&p);
}

TT_TC(rcvlowat_poll, "SO_RCVLOWAT 128: POLLIN only once 128 bytes are queued")
ATF_TC_BODY(rcvlowat_poll, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    TT_EQ(-EINVAL, vep_set_rcvlowat(TT_H(&p), h, DEF_BUF + 1), "above the buffer size");
    TT_EQ(0, vep_set_rcvlowat(TT_H(&p), h, 128), "set");
    uint8_t data[128], rb[256];
    tt_fill(data, sizeof data, 8, 0);
    TT_EQ(1, vep_send(TT_G(&p), g, data, 1, 0), "one byte");
    tt_pump(&p);
    TT_EQ(VEP_POLLOUT, vep_poll(TT_H(&p), h), "1 byte is below the mark");
    TT_EQ(127, vep_send(TT_G(&p), g, data + 1, 127, 0), "127 more");
    tt_pump(&p);
    TT_EQ(VEP_POLLIN | VEP_POLLOUT, vep_poll(TT_H(&p), h), "128 bytes reach the mark");
    TT_EQ(128, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "recv");
    TT_TRUE(memcmp(rb, data, 128) == 0, "data");
    TT_EQ(0, vep_set_rcvlowat(TT_H(&p), h, 0), "0 means 1");
    TT_EQ(1, vep_send(TT_G(&p), g, data, 1, 0), "one byte");
    tt_pump(&p);
    TT_TRUE(vep_poll(TT_H(&p), h) & VEP_POLLIN, "readable at 1");
    tt_pair_fini(&p);
}

/* ==== shutdown and close ====================================================================== */

TT_TC(shutdown_wr, "SHUT_WR: SHUTDOWN(2); the peer reads data then EOF and can still send")
ATF_TC_BODY(shutdown_wr, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    TT_EQ(3, vep_send(TT_G(&p), g, "abc", 3, 0), "send");
    TT_EQ(0, vep_shutdown(TT_G(&p), g, VEP_SHUT_WR), "shutdown");
    TT_EQ(-EPIPE, vep_send(TT_G(&p), g, "d", 1, 0), "send after SHUT_WR");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_RW, gport, 1234, 0, 3);
    TT_PKT(&p, 1, TT_GUEST, ST, VSOCK_OP_SHUTDOWN, gport, 1234, VSOCK_SHUTDOWN_SEND, 0);
    TT_EQ(VEP_POLLIN | VEP_POLLRDHUP | VEP_POLLOUT, vep_poll(TT_H(&p), h), "host poll");
    char buf[8];
    TT_EQ(3, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "data first");
    TT_EQ(0, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "then EOF");
    TT_EQ(0, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "EOF stays");
    TT_EQ(3, vep_send(TT_H(&p), h, "xyz", 3, 0), "the host can still send");
    tt_pump(&p);
    TT_EQ(3, vep_recv(TT_G(&p), g, buf, sizeof buf, 0, NULL), "the guest can still read");
    TT_TRUE(memcmp(buf, "xyz", 3) == 0, "data");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_H(&p), h), "host still connected");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_G(&p), g), "guest still connected");
    TT_EQ(0, tt_log_count(&p, TT_HOST, VSOCK_OP_RST) + tt_log_count(&p, TT_GUEST, VSOCK_OP_RST),
          "no RST");
    tt_pair_fini(&p);
}

TT_TC(shutdown_rd, "SHUT_RD: SHUTDOWN(1); the peer's send fails with EPIPE, ours still works")
ATF_TC_BODY(shutdown_rd, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    TT_EQ(0, vep_shutdown(TT_G(&p), g, VEP_SHUT_RD), "shutdown");
    tt_pump(&p);
    TT_NLOG(&p, 1);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_SHUTDOWN, gport, 1234, VSOCK_SHUTDOWN_RCV, 0);
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "x", 1, 0), "peer send");
    char buf[8];
    TT_EQ(0, vep_recv(TT_G(&p), g, buf, sizeof buf, 0, NULL), "our recv returns 0");
    TT_TRUE(vep_poll(TT_G(&p), g) & VEP_POLLRDHUP, "RDHUP");
    TT_EQ(1, vep_send(TT_G(&p), g, "q", 1, 0), "we can still send");
    tt_pump(&p);
    TT_EQ(1, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "the peer reads it");
    tt_pair_fini(&p);
}

TT_TC(shutdown_rdwr_rst_teardown,
      "SHUT_RDWR: SHUTDOWN(3), the receiver with nothing unread answers RST; closes then RST")
ATF_TC_BODY(shutdown_rdwr_rst_teardown, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    int lfd = tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    TT_EQ(0, vep_shutdown(TT_G(&p), g, VEP_SHUT_RDWR), "shutdown");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_SHUTDOWN, gport, 1234, 3, 0);
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_RST, 1234, gport, 0, 0);
    TT_EQ(DEF_BUF, tt_log_at(&p, 1)->hdr.buf_alloc, "a socket's RST carries its credit");
    TT_EQ(false, tt_log_at(&p, 1)->reply, "Linux sends it as a non-reply");
    char buf[8];
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(TT_H(&p), h), "host closing");
    TT_EQ(0, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "host EOF");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "x", 1, 0), "host EPIPE");
    TT_EQ(VEP_POLLIN | VEP_POLLRDHUP | VEP_POLLOUT, vep_poll(TT_H(&p), h), "host poll");
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(TT_G(&p), g), "guest closing");
    TT_EQ(0, vep_recv(TT_G(&p), g, buf, sizeof buf, 0, NULL), "guest EOF");
    TT_EQ(-EPIPE, vep_send(TT_G(&p), g, "x", 1, 0), "guest EPIPE");
    TT_EQ(VEP_POLLIN | VEP_POLLRDHUP | VEP_POLLHUP, vep_poll(TT_G(&p), g), "guest poll");
    TT_EQ(0, vep_sock_error(TT_G(&p), g), "a RST on a connection sets no SO_ERROR");
    TT_EQ(1, vep_counters(TT_G(&p))->resets, "counted as a reset");

    /* Linux's close after the peer shut both ways sends RST (never answered). */
    TT_EQ(0, vep_close(TT_G(&p), g, p.now), "guest close");
    TT_EQ(0, vep_close(TT_H(&p), h, p.now), "host close");
    tt_pump(&p);
    TT_NLOG(&p, 4);
    TT_PKT(&p, 2, TT_GUEST, ST, VSOCK_OP_RST, gport, 1234, 0, 0);
    TT_PKT(&p, 3, TT_HOST, ST, VSOCK_OP_RST, 1234, gport, 0, 0);
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_RST_NO_SOCKET), "guest drops the last RST");
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_RST_NO_SOCKET), "host drops the guest's RST");
    TT_EQ(0, tt_nsocks(&p, TT_GUEST), "guest empty");
    TT_EQ(1, tt_nsocks(&p, TT_HOST), "host keeps the listener");
    TT_EQ(VEP_SS_LISTEN, vep_sock_state(TT_H(&p), lfd), "listener");
    tt_pair_fini(&p);
}

TT_TC(shutdown_both_unread_no_rst,
      "SHUTDOWN(3) to a side with unread data gets no RST until that side closes")
ATF_TC_BODY(shutdown_both_unread_no_rst, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    TT_EQ(10, vep_send(TT_G(&p), g, "0123456789", 10, 0), "send");
    TT_EQ(0, vep_shutdown(TT_G(&p), g, VEP_SHUT_RDWR), "shutdown");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 1, TT_GUEST, ST, VSOCK_OP_SHUTDOWN, gport, 1234, 3, 0);
    char buf[16];
    TT_EQ(10, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "data");
    TT_EQ(0, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "EOF");
    tt_pump(&p);
    TT_NLOG(&p, 3);
    TT_PKT(&p, 2, TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport, 0, 0); /* emptying read */
    TT_EQ(10, tt_log_at(&p, 2)->hdr.fwd_cnt, "fwd_cnt");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_H(&p), h), "host still connected");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "x", 1, 0), "host EPIPE");
    TT_EQ(0, vep_close(TT_H(&p), h, p.now), "host close");
    tt_pump(&p);
    TT_NLOG(&p, 4);
    TT_PKT(&p, 3, TT_HOST, ST, VSOCK_OP_RST, 1234, gport, 0, 0);
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(TT_G(&p), g), "guest done");
    tt_pair_fini(&p);
}

TT_TC(close_idle, "close: SHUTDOWN(3), the peer's RST frees the socket; the peer sees EOF")
ATF_TC_BODY(close_idle, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    p.now = 3 * SEC;
    TT_EQ(0, vep_close(TT_G(&p), g, p.now), "close");
    TT_EQ(-EBADF, vep_send(TT_G(&p), g, "x", 1, 0), "the fd is gone for the user");
    TT_EQ(11 * SEC, vep_next_deadline(TT_G(&p)), "close timeout 8 s");
    TT_EQ(true, tt_conn(&p, TT_GUEST, g).released, "lingering");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_SHUTDOWN, gport, 1234, 3, 0);
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_RST, 1234, gport, 0, 0);
    TT_EQ(0, tt_nsocks(&p, TT_GUEST), "freed by the RST");
    TT_EQ(UINT64_MAX, vep_next_deadline(TT_G(&p)), "timer gone");
    char buf[4];
    TT_EQ(0, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "host EOF");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "x", 1, 0), "host EPIPE");
    /* A later RST from the host finds nothing and is not answered. */
    TT_EQ(0, vep_close(TT_H(&p), h, p.now), "host close");
    tt_pump(&p);
    TT_NLOG(&p, 3);
    TT_PKT(&p, 2, TT_HOST, ST, VSOCK_OP_RST, 1234, gport, 0, 0);
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_RST_NO_SOCKET), "dropped");
    tt_pair_fini(&p);
}

TT_TC(close_with_unread_data,
      "close with unread data: no RST for it, SHUTDOWN(3) with fwd_cnt not counting the data")
ATF_TC_BODY(close_with_unread_data, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    uint8_t data[100];
    tt_fill(data, sizeof data, 1, 0);
    TT_EQ(100, vep_send(TT_H(&p), h, data, sizeof data, 0), "host send");
    tt_pump(&p);
    p.record = true;
    TT_EQ(0, vep_close(TT_G(&p), g, p.now), "close unread");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_SHUTDOWN, gport, 1234, 3, 0);
    TT_EQ(0, tt_log_at(&p, 0)->hdr.fwd_cnt, "discarded data is not forwarded");
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_RST, 1234, gport, 0, 0);
    TT_EQ(0, tt_nsocks(&p, TT_GUEST), "guest freed");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, data, 1, 0), "host EPIPE");
    TT_EQ(0, vep_recv(TT_H(&p), h, data, 1, 0, NULL), "host EOF");
    tt_pair_fini(&p);
}

TT_TC(close_timeout_rst, "a close nobody answers ends with RST after exactly 8 s")
ATF_TC_BODY(close_timeout_rst, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    TT_EQ(10, vep_send(TT_G(&p), g, "0123456789", 10, 0), "send");
    tt_pump(&p);
    p.record = true;
    TT_EQ(0, vep_close(TT_G(&p), g, p.now), "close");
    tt_pump(&p);
    TT_NLOG(&p, 1); /* the host has unread data: it does not answer */
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_SHUTDOWN, gport, 1234, 3, 0);
    TT_EQ(1, tt_nsocks(&p, TT_GUEST), "lingering");
    int g2 = vep_socket(TT_G(&p), ST);
    TT_EQ(-EADDRINUSE, vep_bind(TT_G(&p), g2, gport), "port held while lingering");
    tt_advance(&p, 8 * SEC - 1);
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "not yet");
    tt_advance(&p, 1);
    TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "RST");
    TT_EQ(1, tt_nsocks(&p, TT_GUEST), "only the new socket is left");
    TT_EQ(0, vep_bind(TT_G(&p), g2, gport), "port free");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 1, TT_GUEST, ST, VSOCK_OP_RST, gport, 1234, 0, 0);
    TT_EQ(false, tt_log_at(&p, 1)->reply, "not a reply");
    char buf[16];
    TT_EQ(10, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "the host still reads its data");
    TT_EQ(0, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "then EOF");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "x", 1, 0), "EPIPE");
    tt_pair_fini(&p);
}

TT_TC(close_simultaneous, "both sides close at once: both SHUTDOWN(3), both RST, both freed")
ATF_TC_BODY(close_simultaneous, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    TT_EQ(0, vep_close(TT_G(&p), g, p.now), "guest close");
    TT_EQ(0, vep_close(TT_H(&p), h, p.now), "host close");
    tt_pump(&p);
    TT_NLOG(&p, 4);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_SHUTDOWN, gport, 1234, 3, 0);
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_SHUTDOWN, 1234, gport, 3, 0);
    TT_PKT(&p, 2, TT_HOST, ST, VSOCK_OP_RST, 1234, gport, 0, 0);
    TT_PKT(&p, 3, TT_GUEST, ST, VSOCK_OP_RST, gport, 1234, 0, 0);
    TT_EQ(0, tt_nsocks(&p, TT_GUEST), "guest freed");
    TT_EQ(1, tt_nsocks(&p, TT_HOST), "host keeps only the listener");
    TT_EQ(UINT64_MAX, vep_next_deadline(TT_G(&p)), "no timers");
    TT_EQ(UINT64_MAX, vep_next_deadline(TT_H(&p)), "no timers");
    tt_pair_fini(&p);
}

TT_TC(rst_mid_stream, "RST on a connection with unread data: data, then EOF; send EPIPE")
ATF_TC_BODY(rst_mid_stream, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    uint8_t data[100], rb[200];
    tt_fill(data, sizeof data, 2, 0);
    TT_EQ(100, vep_send(TT_G(&p), g, data, sizeof data, 0), "send");
    tt_pump(&p);
    struct vsock_hdr r = tt_hdr(TT_GUEST, ST, VSOCK_OP_RST, gport, 1234);
    r.buf_alloc = DEF_BUF;
    tt_inject(&p, TT_HOST, &r, NULL, 0);
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "an RST is never answered");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_H(&p), h), "data keeps it readable");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, data, 1, 0), "send");
    TT_EQ(100, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "data");
    TT_TRUE(memcmp(rb, data, 100) == 0, "bytes");
    /* Linux still sends the emptying read's CREDIT_UPDATE (no state check). */
    p.record = true;
    struct tt_rec cu;
    TT_TRUE(tt_take(&p, TT_HOST, &cu), "a CREDIT_UPDATE");
    TT_PKT(&p, 0, TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport, 0, 0);
    TT_EQ(100, cu.hdr.fwd_cnt, "fwd_cnt");
    tt_rec_free(&cu);
    p.record = false;
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "only that");
    TT_EQ(0, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "EOF");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "EOF frees nothing, sends nothing");
    TT_EQ(0, vep_sock_error(TT_H(&p), h), "no SO_ERROR for a RST on a connection");
    TT_TRUE(vep_poll(TT_H(&p), h) & VEP_POLLRDHUP, "RDHUP");
    /* Any further packet for it is answered with RST. */
    struct vsock_hdr w = tt_hdr(TT_GUEST, ST, VSOCK_OP_RW, gport, 1234);
    w.len = 1;
    tt_inject(&p, TT_HOST, &w, "z", 1);
    TT_EQ(1, vep_tx_queued_pkts(TT_H(&p)), "RST for a dead connection");
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_NO_SOCKET), "counted");
    tt_pair_fini(&p);
}

/* ==== seqpacket =================================================================================== */

static int seq_pair(struct tt_pair *p, int *g, int *h)
{
    int lfd = tt_listen(p, TT_HOST, SP, 1234, 8);
    *h = tt_connect(p, TT_GUEST, SP, lfd, 1234, g);
    return lfd;
}

TT_TC(seqpacket_boundaries, "seqpacket: 7 one-byte messages stay 7, MSG_EOR on the 4th only")
ATF_TC_BODY(seqpacket_boundaries, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    seq_pair(&p, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    for (int i = 0; i < 7; i++) {
        char c = (char)('a' + i);
        TT_EQ(1, vep_send(TT_G(&p), g, &c, 1, i == 3 ? VEP_MSG_EOR : 0), "send %d", i);
    }
    tt_pump(&p);
    TT_NLOG(&p, 7);
    for (uint32_t i = 0; i < 7; i++)
        TT_PKT(&p, i, TT_GUEST, SP, VSOCK_OP_RW, gport, 1234,
               i == 3 ? VSOCK_SEQ_EOM | VSOCK_SEQ_EOR : VSOCK_SEQ_EOM, 1);
    TT_EQ(VEP_POLLIN | VEP_POLLOUT, vep_poll(TT_H(&p), h), "readable");
    for (int i = 0; i < 7; i++) {
        char buf[16];
        unsigned of = 0xdead;
        TT_EQ(1, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, &of), "recv %d", i);
        TT_EQ('a' + i, buf[0], "message %d", i);
        TT_EQ(i == 3 ? VEP_MSG_EOR : 0, of, "flags of message %d", i);
    }
    TT_EQ(-EAGAIN, vep_recv(TT_H(&p), h, (char[4]){0}, 4, 0, NULL), "empty");
    tt_pump(&p);
    /* Linux sends a CREDIT_UPDATE after every seqpacket read. */
    TT_EQ(7, tt_log_count(&p, TT_HOST, VSOCK_OP_CREDIT_UPDATE), "updates");
    TT_EQ(7, tt_log_at(&p, p.nlog - 1)->hdr.fwd_cnt, "last update fwd_cnt");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_split, "a 150000-byte message goes as 64K+64K+rest, EOM (and EOR) on the last")
ATF_TC_BODY(seqpacket_split, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    seq_pair(&p, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    static uint8_t msg[150000], rb[200000];
    tt_fill(msg, sizeof msg, 11, 0);
    TT_EQ(sizeof msg, vep_send(TT_G(&p), g, msg, sizeof msg, VEP_MSG_EOR), "send");
    TT_EQ(3, vep_tx_queued_pkts(TT_G(&p)), "three packets");
    TT_TRUE(tt_step(&p, TT_GUEST), "first part");
    TT_EQ(VEP_POLLOUT, vep_poll(TT_H(&p), h), "a partial message is not readable");
    TT_EQ(-EAGAIN, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "nothing to read yet");
    tt_pump(&p);
    TT_NLOG(&p, 3);
    TT_PKT(&p, 0, TT_GUEST, SP, VSOCK_OP_RW, gport, 1234, 0, 65536);
    TT_PKT(&p, 1, TT_GUEST, SP, VSOCK_OP_RW, gport, 1234, 0, 65536);
    TT_PKT(&p, 2, TT_GUEST, SP, VSOCK_OP_RW, gport, 1234, VSOCK_SEQ_EOM | VSOCK_SEQ_EOR,
           150000 - 2 * 65536);
    unsigned of = 0;
    TT_EQ(sizeof msg, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, &of), "one read");
    TT_EQ(VEP_MSG_EOR, of, "EOR");
    TT_TRUE(memcmp(rb, msg, sizeof msg) == 0, "bytes");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_trunc, "MSG_TRUNC: a short read returns what fit and flags it; the rest is gone")
ATF_TC_BODY(seqpacket_trunc, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    seq_pair(&p, &g, &h);
    uint8_t m32[32], buf[64];
    tt_fill(m32, sizeof m32, 12, 0);
    TT_EQ(32, vep_send(TT_G(&p), g, m32, 32, 0), "send 32");
    TT_EQ(5, vep_send(TT_G(&p), g, "fives", 5, 0), "send 5");
    TT_EQ(32, vep_send(TT_G(&p), g, m32, 32, 0), "send 32");
    tt_pump(&p);
    unsigned of = 0;
    memset(buf, 0, sizeof buf);
    TT_EQ(16, vep_recv(TT_H(&p), h, buf, 16, 0, &of), "truncated read");
    TT_EQ(VEP_MSG_TRUNC, of, "flagged");
    TT_TRUE(memcmp(buf, m32, 16) == 0, "first 16 bytes");
    TT_EQ(5, vep_recv(TT_H(&p), h, buf, 16, 0, &of), "the next message intact");
    TT_EQ(0, of, "not truncated");
    TT_TRUE(memcmp(buf, "fives", 5) == 0, "bytes");
    TT_EQ(32, vep_recv(TT_H(&p), h, buf, 16, VEP_MSG_TRUNC, &of), "real length with MSG_TRUNC");
    TT_EQ(VEP_MSG_TRUNC, of, "flagged");
    TT_TRUE(memcmp(buf, m32, 16) == 0, "first 16 bytes");
    TT_EQ(0, vep_rx_queued(TT_H(&p), h), "all consumed");
    TT_EQ(69, tt_conn(&p, TT_HOST, h).fwd_cnt, "discarded bytes count as forwarded");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_emsgsize, "a message larger than the peer's buf_alloc fails: ENOMEM on 6.1 "
                          "(every enqueue error), EMSGSIZE on 6.12")
ATF_TC_BODY(seqpacket_emsgsize, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    seq_pair(&p, &g, &h);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 1000), "host buffer 1000");
    tt_pump(&p);
    p.record = true;
    static uint8_t m[1001];
    TT_EQ(-ENOMEM, vep_send(TT_G(&p), g, m, 1001, 0), "1001 bytes");
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "nothing sent");
    TT_EQ(1000, vep_send(TT_G(&p), g, m, 1000, 0), "1000 bytes");
    TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, m, 1, 0), "no credit for another");
    tt_pump(&p);
    TT_EQ(1, tt_log_count(&p, TT_GUEST, VSOCK_OP_RW), "one RW");
    TT_EQ(1000, vep_recv(TT_H(&p), h, m, sizeof m, 0, NULL), "received");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_peek_unsupported, "MSG_PEEK on seqpacket (6.1): ENOMEM (the transport's "
                                  "EOPNOTSUPP as 6.1's recvmsg reports it), the message stays")
ATF_TC_BODY(seqpacket_peek_unsupported, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    seq_pair(&p, &g, &h);
    TT_EQ(3, vep_send(TT_G(&p), g, "abc", 3, 0), "send");
    tt_pump(&p);
    char buf[8];
    TT_EQ(-ENOMEM, vep_recv(TT_H(&p), h, buf, sizeof buf, VEP_MSG_PEEK, NULL), "peek");
    TT_EQ(3, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, NULL), "still there");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_host_to_guest, "seqpacket host to guest, and a stream socket cannot reach it")
ATF_TC_BODY(seqpacket_host_to_guest, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_GUEST, SP, 700, 4);
    int h, g = tt_connect(&p, TT_HOST, SP, lfd, 700, &h);
    TT_EQ(4, vep_send(TT_H(&p), h, "ping", 4, VEP_MSG_EOR), "send");
    tt_pump(&p);
    unsigned of;
    char buf[8];
    TT_EQ(4, vep_recv(TT_G(&p), g, buf, sizeof buf, 0, &of), "recv");
    TT_EQ(VEP_MSG_EOR, of, "EOR");
    int s = vep_socket(TT_H(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_H(&p), s, TT_GUEST_CID, 700, p.now), "stream connect");
    tt_pump(&p);
    TT_EQ(-ECONNRESET, vep_sock_error(TT_H(&p), s), "type mismatch is reset");
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_BAD_TYPE), "guest BAD_TYPE");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_waits_for_credit,
      "seqpacket-whole: a message that fits buf_alloc but not the free credit: EAGAIN, whole "
      "later")
ATF_TC_BODY(seqpacket_waits_for_credit, tc)
{
    struct tt_pair p;
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    gc.deviate = VSOCK_DEV_BIT(VSOCK_DEV_SEQPACKET_WHOLE);
    tt_pair_init_cfg(&p, &gc, &hc);
    int g, h;
    seq_pair(&p, &g, &h);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 1000), "host buffer 1000");
    tt_pump(&p);
    p.record = true;
    static uint8_t a[600], b[600], rb[1000];
    tt_fill(a, sizeof a, 31, 0);
    tt_fill(b, sizeof b, 32, 0);
    TT_EQ(600, vep_send(TT_G(&p), g, a, 600, 0), "first");
    TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, b, 600, 0), "400 free: not even a part goes");
    TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "only the first message queued");
    tt_pump(&p);
    TT_EQ(600, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "read");
    tt_pump(&p);
    TT_EQ(600, vep_send(TT_G(&p), g, b, 600, 0), "second");
    tt_pump(&p);
    TT_EQ(600, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "read");
    TT_TRUE(memcmp(rb, b, 600) == 0, "bytes");
    TT_EQ(2, tt_log_count(&p, TT_GUEST, VSOCK_OP_RW), "two RW, one per message");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_after_peer_shutdown, "queued messages stay readable after the peer's SHUT_WR")
ATF_TC_BODY(seqpacket_after_peer_shutdown, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    seq_pair(&p, &g, &h);
    TT_EQ(3, vep_send(TT_G(&p), g, "one", 3, 0), "send");
    TT_EQ(3, vep_send(TT_G(&p), g, "two", 3, VEP_MSG_EOR), "send");
    TT_EQ(0, vep_shutdown(TT_G(&p), g, VEP_SHUT_WR), "shutdown");
    tt_pump(&p);
    char buf[8];
    unsigned of;
    TT_EQ(3, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, &of), "one");
    TT_EQ(0, of, "no EOR");
    TT_EQ(3, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, &of), "two");
    TT_EQ(VEP_MSG_EOR, of, "EOR");
    TT_EQ(0, vep_recv(TT_H(&p), h, buf, sizeof buf, 0, &of), "then EOF");
    tt_pair_fini(&p);
}

TT_TC(close_while_connecting,
      "close while connecting sends nothing; the late RESPONSE gets RST, the child EOF")
ATF_TC_BODY(close_while_connecting, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    uint32_t gport = local_port(TT_G(&p), g);
    TT_EQ(0, vep_close(TT_G(&p), g, p.now), "close");
    TT_EQ(0, tt_nsocks(&p, TT_GUEST), "freed at once");
    TT_EQ(UINT64_MAX, vep_next_deadline(TT_G(&p)), "no timer");
    tt_pump(&p);
    TT_NLOG(&p, 3);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_REQUEST, gport, 1234, 0, 0);
    TT_PKT(&p, 1, TT_HOST, ST, VSOCK_OP_RESPONSE, 1234, gport, 0, 0);
    TT_PKT(&p, 2, TT_GUEST, ST, VSOCK_OP_RST, gport, 1234, 0, 0);
    int h = vep_accept(TT_H(&p), lfd, NULL, NULL);
    TT_TRUE(h >= 0, "accepted");
    TT_EQ(0, vep_recv(TT_H(&p), h, (char[4]){0}, 4, 0, NULL), "EOF");
    tt_pair_fini(&p);
}

/* ==== transport reset and orphans ======================================================= */

TT_TC(transport_reset_mid_transfer,
      "vep_reset_all: connections get ECONNRESET and ENOTCONN, no packet; listeners survive")
ATF_TC_BODY(transport_reset_mid_transfer, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    int gl = tt_listen(&p, TT_GUEST, ST, 5000, 4);
    static uint8_t data[3000], rb[3000];
    tt_fill(data, sizeof data, 13, 0);
    TT_EQ(2000, vep_send(TT_H(&p), h, data, 2000, 0), "host send");
    tt_pump(&p);
    TT_EQ(2000, vep_recv(TT_G(&p), g, rb, sizeof rb, 0, NULL), "guest reads");
    TT_EQ(1, vep_send(TT_G(&p), g, "x", 1, 0), "guest tells its fwd_cnt");
    tt_pump(&p);
    TT_EQ(2000, tt_conn(&p, TT_HOST, h).peer_fwd_cnt, "host knows");
    TT_EQ(1, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "host reads the x");
    /* mid-transfer: data queued both ways */
    TT_EQ(500, vep_send(TT_H(&p), h, data, 500, 0), "host send");
    tt_pump(&p);
    TT_EQ(300, vep_send(TT_G(&p), g, data, 300, 0), "guest send, not pumped");
    uint32_t queued = vep_tx_queued_pkts(TT_G(&p));

    vep_reset_all(TT_G(&p));
    TT_EQ(queued, vep_tx_queued_pkts(TT_G(&p)), "the reset itself sends nothing");
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(TT_G(&p), g), "state");
    TT_TRUE(vep_poll(TT_G(&p), g) & VEP_POLLERR, "POLLERR");
    TT_EQ(-ENOTCONN, vep_recv(TT_G(&p), g, rb, sizeof rb, 0, NULL), "recv");
    TT_EQ(-ENOTCONN, vep_send(TT_G(&p), g, "y", 1, 0), "send");
    TT_EQ(-ECONNRESET, vep_sock_error(TT_G(&p), g), "SO_ERROR");
    TT_EQ(0, vep_sock_error(TT_G(&p), g), "taken");
    TT_EQ(VEP_SS_LISTEN, vep_sock_state(TT_G(&p), gl), "listener untouched");

    /* The host learns from the RST its next packet gets. */
    p.record = true;
    tt_pump(&p);
    TT_EQ(10, vep_send(TT_H(&p), h, data, 10, 0), "host send");
    tt_pump(&p);
    uint32_t gport = local_port(TT_G(&p), g);
    TT_PKT(&p, p.nlog - 1, TT_GUEST, ST, VSOCK_OP_RST, gport, 1234, 0, 0);
    TT_EQ(0, tt_drops(&p, TT_HOST, VEP_DROP_BAD_CREDIT), "a 0/0 RST is no credit violation");
    TT_EQ(300, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "data sent before the reset");
    TT_EQ(0, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "then EOF");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, data, 1, 0), "EPIPE");

    /* The listener accepts new connections. */
    int hs, gs = tt_connect(&p, TT_HOST, ST, gl, 5000, &hs);
    TT_EQ(4, vep_send(TT_H(&p), hs, "new!", 4, 0), "send");
    tt_pump(&p);
    TT_EQ(4, vep_recv(TT_G(&p), gs, rb, sizeof rb, 0, NULL), "recv");
    TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "the emptying read's CREDIT_UPDATE");
    tt_pump(&p);
    TT_PKT(&p, p.nlog - 1, TT_GUEST, ST, VSOCK_OP_CREDIT_UPDATE, 5000, local_port(TT_H(&p), hs), 0,
           0);
    /* Closing a reset socket sends nothing. */
    uint32_t n = p.nlog;
    TT_EQ(0, vep_close(TT_G(&p), g, p.now), "close");
    tt_pump(&p);
    TT_EQ(n, p.nlog, "nothing sent");
    tt_pair_fini(&p);
}

TT_TC(transport_reset_connecting_left, "vep_reset_all leaves a connecting socket to its timeout")
ATF_TC_BODY(transport_reset_connecting_left, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    tt_listen(&p, TT_HOST, ST, 1234, 4);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 1234, p.now), "connect");
    vep_reset_all(TT_G(&p));
    TT_EQ(VEP_SS_CONNECTING, vep_sock_state(TT_G(&p), g), "still connecting");
    tt_pump(&p);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_G(&p), g), "and it completes");
    TT_EQ(0, vep_sock_error(TT_G(&p), g), "no error");
    tt_pair_fini(&p);
}

TT_TC(orphan_all, "vep_orphan_all: ECONNRESET, data stays readable then EOF, send EPIPE")
ATF_TC_BODY(orphan_all, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    int lfd = tt_stream_pair(&p, 1234, &g, &h);
    int g2, h2 = tt_connect(&p, TT_GUEST, ST, lfd, 1234, &g2);
    uint8_t data[50], rb[64];
    tt_fill(data, sizeof data, 14, 0);
    TT_EQ(50, vep_send(TT_G(&p), g, data, 50, 0), "send");
    tt_pump(&p);
    TT_EQ(0, vep_close(TT_H(&p), h2, p.now), "a host close the guest never answers");
    TT_EQ(1, tt_discard(&p, TT_HOST), "its SHUTDOWN is lost");
    TT_EQ(3, tt_nsocks(&p, TT_HOST), "listener, connection, lingering socket");

    vep_orphan_all(TT_H(&p));
    TT_EQ(2, tt_nsocks(&p, TT_HOST), "the lingering socket is gone");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "nothing sent");
    TT_TRUE(vep_poll(TT_H(&p), h) & VEP_POLLERR, "POLLERR");
    TT_EQ(-ECONNRESET, vep_sock_error(TT_H(&p), h), "SO_ERROR");
    TT_EQ(50, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "data");
    TT_TRUE(memcmp(rb, data, 50) == 0, "bytes");
    TT_EQ(0, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "EOF");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, data, 1, 0), "EPIPE");
    TT_EQ(VEP_SS_LISTEN, vep_sock_state(TT_H(&p), lfd), "listener untouched");
    int g3;
    tt_connect(&p, TT_GUEST, ST, lfd, 1234, &g3);
    tt_pair_fini(&p);
}

/* ==== hostile input ========================================================================= */

TT_TC(hostile_len_mismatch, "hdr.len disagreeing with the payload that came: dropped, no reply")
ATF_TC_BODY(hostile_len_mismatch, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int h = fake_guest_conn(&p, lfd, 1234, 40000, ST);
    struct vsock_hdr w = tt_hdr(TT_GUEST, ST, VSOCK_OP_RW, 40000, 1234);
    w.len = 10;
    tt_inject(&p, TT_HOST, &w, "12345", 5);
    w.len = 3;
    tt_inject(&p, TT_HOST, &w, "12345", 5);
    TT_EQ(2, tt_drops(&p, TT_HOST, VEP_DROP_LEN_MISMATCH), "LEN_MISMATCH");
    TT_EQ(0, vep_rx_queued(TT_H(&p), h), "nothing delivered");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no reply");
    vep_rx_runt(TT_H(&p));
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_SHORT), "SHORT");
    w.len = 5;
    tt_inject(&p, TT_HOST, &w, "12345", 5);
    TT_EQ(5, vep_rx_queued(TT_H(&p), h), "a good one still works");
    tt_pair_fini(&p);
}

TT_TC(hostile_too_big, "hdr.len beyond 64 KiB: TOO_BIG (before LEN_MISMATCH)")
ATF_TC_BODY(hostile_too_big, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int h = fake_guest_conn(&p, lfd, 1234, 40000, ST);
    static uint8_t big[65537];
    struct vsock_hdr w = tt_hdr(TT_GUEST, ST, VSOCK_OP_RW, 40000, 1234);
    w.len = 65537;
    tt_inject(&p, TT_HOST, &w, big, 65537);
    w.len = 0x80000000u;
    tt_inject(&p, TT_HOST, &w, NULL, 0);
    TT_EQ(2, tt_drops(&p, TT_HOST, VEP_DROP_TOO_BIG), "TOO_BIG");
    TT_EQ(0, tt_drops(&p, TT_HOST, VEP_DROP_LEN_MISMATCH), "not LEN_MISMATCH");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no reply");
    w.len = 65536;
    tt_inject(&p, TT_HOST, &w, big, 65536);
    TT_EQ(65536, vep_rx_queued(TT_H(&p), h), "64 KiB is fine");
    tt_pair_fini(&p);
}

TT_TC(hostile_unknown_op_connected, "an unknown op (or op 0) on a connection: BAD_OP, no RST")
ATF_TC_BODY(hostile_unknown_op_connected, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    uint16_t ops[] = {9, VSOCK_OP_INVALID, 0xffff, VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE};
    for (unsigned i = 0; i < 5; i++) {
        struct vsock_hdr x = tt_hdr(TT_GUEST, ST, ops[i], gport, 1234);
        tt_inject(&p, TT_HOST, &x, NULL, 0);
    }
    TT_EQ(5, tt_drops(&p, TT_HOST, VEP_DROP_BAD_OP), "BAD_OP");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no RST");
    TT_EQ(3, vep_counters(TT_H(&p))->rx_pkts[0], "ops 0, 9 and 0xffff counted under 0");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_H(&p), h), "still connected");
    TT_EQ(2, vep_send(TT_G(&p), g, "ok", 2, 0), "send");
    tt_pump(&p);
    TT_EQ(2, vep_recv(TT_H(&p), h, (char[4]){0}, 4, 0, NULL), "works");
    tt_pair_fini(&p);
}

TT_TC(hostile_no_socket_rst, "packets for nothing are answered with RST; for a listener too")
ATF_TC_BODY(hostile_no_socket_rst, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    tt_listen(&p, TT_HOST, ST, 1234, 4);
    struct vsock_hdr x = tt_hdr(TT_GUEST, ST, 9, 40000, 4321);
    tt_inject(&p, TT_HOST, &x, NULL, 0);
    x = tt_hdr(TT_GUEST, ST, VSOCK_OP_RW, 40001, 4321);
    x.len = 2;
    tt_inject(&p, TT_HOST, &x, "hi", 2);
    TT_EQ(2, tt_drops(&p, TT_HOST, VEP_DROP_NO_SOCKET), "NO_SOCKET");
    /* to a listener: anything but REQUEST is answered with RST */
    uint16_t ops[] = {VSOCK_OP_RW, VSOCK_OP_RESPONSE, VSOCK_OP_CREDIT_UPDATE,
                      VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_SHUTDOWN, 9};
    for (unsigned i = 0; i < 6; i++) {
        x = tt_hdr(TT_GUEST, ST, ops[i], 40002 + i, 1234);
        tt_inject(&p, TT_HOST, &x, NULL, 0);
    }
    tt_pump(&p);
    TT_NLOG(&p, 16);
    TT_PKT(&p, 8, TT_HOST, ST, VSOCK_OP_RST, 4321, 40000, 0, 0);
    TT_PKT(&p, 9, TT_HOST, ST, VSOCK_OP_RST, 4321, 40001, 0, 0);
    for (unsigned i = 0; i < 6; i++)
        TT_PKT(&p, 10 + i, TT_HOST, ST, VSOCK_OP_RST, 1234, 40002 + i, 0, 0);
    TT_EQ(8, tt_drops(&p, TT_GUEST, VEP_DROP_RST_NO_SOCKET), "guest drops them all");
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "the guest answers none");
    TT_EQ(1, tt_nsocks(&p, TT_HOST), "no socket was created");
    tt_pair_fini(&p);
}

TT_TC(hostile_unknown_type, "an unknown type is answered with RST echoing that type")
ATF_TC_BODY(hostile_unknown_type, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    p.record = true;
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    struct vsock_hdr x = tt_hdr(TT_GUEST, 7, VSOCK_OP_REQUEST, 40000, 1234);
    tt_inject(&p, TT_HOST, &x, NULL, 0);
    x = tt_hdr(TT_GUEST, 0, VSOCK_OP_REQUEST, 40001, 1234);
    tt_inject(&p, TT_HOST, &x, NULL, 0);
    TT_EQ(2, tt_drops(&p, TT_HOST, VEP_DROP_BAD_TYPE), "BAD_TYPE");
    TT_EQ(-EAGAIN, vep_accept(TT_H(&p), lfd, NULL, NULL), "no child");
    struct tt_rec r;
    TT_TRUE(tt_take(&p, TT_HOST, &r), "RST");
    TT_PKT(&p, 2, TT_HOST, 7, VSOCK_OP_RST, 1234, 40000, 0, 0);
    tt_rec_free(&r);
    TT_TRUE(tt_take(&p, TT_HOST, &r), "RST");
    TT_PKT(&p, 3, TT_HOST, 0, VSOCK_OP_RST, 1234, 40001, 0, 0);
    tt_rec_free(&r);
    tt_pair_fini(&p);
}

TT_TC(hostile_type_mismatch, "a seqpacket packet on a stream connection: RST; the connection lives")
ATF_TC_BODY(hostile_type_mismatch, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    p.record = true;
    struct vsock_hdr x = tt_hdr(TT_GUEST, SP, VSOCK_OP_RW, gport, 1234);
    x.len = 3;
    x.flags = VSOCK_SEQ_EOM;
    tt_inject(&p, TT_HOST, &x, "bad", 3);
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_BAD_TYPE), "BAD_TYPE");
    TT_EQ(0, vep_rx_queued(TT_H(&p), h), "not delivered");
    tt_pump(&p);
    TT_NLOG(&p, 2);
    TT_PKT(&p, 1, TT_HOST, SP, VSOCK_OP_RST, 1234, gport, 0, 0);
    /* That RST reaches the guest's stream socket with the wrong type: ignored. */
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_RST_NO_SOCKET), "guest ignores it");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_G(&p), g), "guest connection lives");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_H(&p), h), "host connection lives");
    /* a seqpacket REQUEST to a stream listener */
    x = tt_hdr(TT_GUEST, SP, VSOCK_OP_REQUEST, 40000, 1234);
    tt_inject(&p, TT_HOST, &x, NULL, 0);
    TT_EQ(2, tt_drops(&p, TT_HOST, VEP_DROP_BAD_TYPE), "BAD_TYPE");
    TT_EQ(1, vep_tx_queued_pkts(TT_H(&p)), "RST");
    tt_pair_fini(&p);
}

TT_TC(hostile_cids, "wrong source CID at the host, wrong destination CID at the guest: dropped")
ATF_TC_BODY(hostile_cids, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int gl = tt_listen(&p, TT_GUEST, ST, 5000, 4);
    struct vsock_hdr x = tt_hdr(TT_GUEST, ST, VSOCK_OP_REQUEST, 40000, 1234);
    x.src_cid = 4;
    tt_inject(&p, TT_HOST, &x, NULL, 0);
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_SRC_CID), "SRC_CID");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "no reply");
    TT_EQ(-EAGAIN, vep_accept(TT_H(&p), lfd, NULL, NULL), "no child");
    x = tt_hdr(TT_HOST, ST, VSOCK_OP_REQUEST, 40000, 5000);
    x.dst_cid = 5;
    tt_inject(&p, TT_GUEST, &x, NULL, 0);
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_DST_CID), "DST_CID");
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "no reply");
    TT_EQ(-EAGAIN, vep_accept(TT_G(&p), gl, NULL, NULL), "no child");
    /* The host does not check the destination, the guest not the source. */
    x = tt_hdr(TT_HOST, ST, VSOCK_OP_REQUEST, 40000, 5000);
    x.src_cid = 77;
    tt_inject(&p, TT_GUEST, &x, NULL, 0);
    TT_EQ(0, tt_drops(&p, TT_GUEST, VEP_DROP_SRC_CID), "guest: no source check");
    uint64_t pcid = 0;
    TT_TRUE(vep_accept(TT_G(&p), gl, &pcid, NULL) >= 0, "accepted");
    TT_EQ(77, pcid, "peer cid as the packet said");
    tt_pair_fini(&p);
}

/* The head of an endpoint's tx queue, which must exist. */
static struct vep_tx head_pkt(struct vep *ep)
{
    struct vep_tx tx;
    ATF_REQUIRE_MSG(vep_tx_peek(ep, &tx), "a packet is queued");
    return tx;
}

TT_TC(hostile_over_credit, "RW past buf_alloc: RST with our credit fields, ENOBUFS, and the socket "
                           "leaves the connected table (Linux's recv_enqueue failure path)")
ATF_TC_BODY(hostile_over_credit, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int h = fake_guest_conn(&p, lfd, 1234, 40000, ST);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 128), "host buffer 128");
    tt_discard(&p, TT_HOST);
    static uint8_t d[200];
    tt_fill(d, sizeof d, 15, 0);
    struct vsock_hdr w = tt_hdr(TT_GUEST, ST, VSOCK_OP_RW, 40000, 1234);
    w.buf_alloc = DEF_BUF;
    w.len = 100;
    tt_inject(&p, TT_HOST, &w, d, 100);
    TT_EQ(100, vep_rx_queued(TT_H(&p), h), "within the buffer");
    w.len = 29;
    tt_inject(&p, TT_HOST, &w, d + 100, 29);
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_OVER_CREDIT), "100 + 29 > 128");
    struct vep_tx rst = head_pkt(TT_H(&p));
    TT_EQ(VSOCK_OP_RST, rst.hdr.op, "answered with RST");
    TT_EQ(1234, rst.hdr.src_port, "from the socket");
    TT_EQ(40000, rst.hdr.dst_port, "to its peer");
    TT_EQ(128, rst.hdr.buf_alloc, "the socket's buf_alloc");
    TT_EQ(0, rst.hdr.fwd_cnt, "and fwd_cnt");
    TT_EQ(true, rst.is_reply, "a reply");
    TT_EQ(1, tt_discard(&p, TT_HOST), "only the RST");
    TT_EQ(100, vep_rx_queued(TT_H(&p), h), "the packet is not delivered");
    uint8_t rb[256];
    TT_EQ(100, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "what came before is read");
    TT_TRUE(memcmp(rb, d, 100) == 0, "bytes");
    TT_EQ(-ENOBUFS, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "then the error");
    TT_TRUE(vep_poll(TT_H(&p), h) & VEP_POLLERR, "poll shows it");
    TT_EQ(-ENOBUFS, vep_sock_error(TT_H(&p), h), "SO_ERROR");
    TT_EQ(0, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "then end of stream");
    TT_EQ(-EPIPE, vep_send(TT_H(&p), h, "x", 1, 0), "the peer counts as shut");
    tt_discard(&p, TT_HOST); /* the read's CREDIT_UPDATE */
    /* Out of the connected table: the listener answers the next one. */
    w.len = 28;
    tt_inject(&p, TT_HOST, &w, d, 28);
    rst = head_pkt(TT_H(&p));
    TT_EQ(VSOCK_OP_RST, rst.hdr.op, "answered by the listener");
    TT_EQ(0, rst.hdr.buf_alloc, "reset_no_sock: no credit fields");
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_BAD_OP), "RW to a listener");
    tt_discard(&p, TT_HOST);
    /* Nothing queued at the time: the socket is closing, recv is end of
     * stream at once and SO_ERROR holds ENOBUFS. */
    int h2 = fake_guest_conn(&p, lfd, 1234, 40001, ST);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h2, 128), "host buffer 128");
    tt_discard(&p, TT_HOST);
    w.src_port = 40001;
    w.len = 129;
    tt_inject(&p, TT_HOST, &w, d, 129);
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(TT_H(&p), h2), "closing");
    TT_EQ(0, vep_recv(TT_H(&p), h2, rb, sizeof rb, 0, NULL), "end of stream");
    TT_EQ(-ENOBUFS, vep_sock_error(TT_H(&p), h2), "SO_ERROR");
    tt_pair_fini(&p);
}

TT_TC(credit_taken_as_it_comes, "Linux takes fwd_cnt and buf_alloc as they come: backwards or "
                                "past what was sent, the sender just has less credit")
ATF_TC_BODY(credit_taken_as_it_comes, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    static uint8_t d[100];
    TT_EQ(100, vep_send(TT_G(&p), g, d, 100, 0), "send");
    tt_pump(&p);
    p.check_credit = false;
    struct vsock_hdr u = tt_hdr(TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport);
    u.buf_alloc = 1000;
    u.fwd_cnt = 101; /* past the 100 sent: 100 - 101 in flight is 2^32 - 1 */
    tt_inject(&p, TT_GUEST, &u, NULL, 0);
    TT_EQ(101, tt_conn(&p, TT_GUEST, g).peer_fwd_cnt, "taken");
    TT_EQ(0, vep_send_space(TT_G(&p), g, NULL), "no credit at all");
    TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, d, 1, 0), "send waits");
    TT_TRUE(!(vep_poll(TT_G(&p), g) & VEP_POLLOUT), "not writable");
    u.fwd_cnt = 40; /* backwards: 60 in flight */
    tt_inject(&p, TT_GUEST, &u, NULL, 0);
    TT_EQ(940, vep_send_space(TT_G(&p), g, NULL), "1000 - 60");
    TT_EQ(0, tt_drops(&p, TT_GUEST, VEP_DROP_BAD_CREDIT), "nothing counted as bad");
    tt_pair_fini(&p);
}

TT_TC(hostile_bad_credit, "bad-credit: fwd_cnt backwards or past what was sent is counted "
                          "BAD_CREDIT and the credit stays unchanged")
ATF_TC_BODY(hostile_bad_credit, tc)
{
    struct tt_pair p;
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    gc.deviate = VSOCK_DEV_BIT(VSOCK_DEV_BAD_CREDIT);
    tt_pair_init_cfg(&p, &gc, &hc);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint32_t gport = local_port(TT_G(&p), g);
    static uint8_t d[100];
    TT_EQ(100, vep_send(TT_G(&p), g, d, 100, 0), "send");
    tt_pump(&p);
    TT_EQ(100, vep_recv(TT_H(&p), h, d, sizeof d, 0, NULL), "recv");
    TT_EQ(1, vep_send(TT_H(&p), h, "k", 1, 0), "the host tells fwd_cnt 100");
    tt_pump(&p);
    TT_EQ(100, tt_conn(&p, TT_GUEST, g).peer_fwd_cnt, "baseline");
    p.check_credit = false;
    struct vsock_hdr u = tt_hdr(TT_HOST, ST, VSOCK_OP_CREDIT_UPDATE, 1234, gport);
    u.buf_alloc = 1000000;
    u.fwd_cnt = 101;
    tt_inject(&p, TT_GUEST, &u, NULL, 0);
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_BAD_CREDIT), "past what was sent");
    u.fwd_cnt = 50;
    tt_inject(&p, TT_GUEST, &u, NULL, 0);
    TT_EQ(2, tt_drops(&p, TT_GUEST, VEP_DROP_BAD_CREDIT), "backwards");
    struct vep_conn_info gi = tt_conn(&p, TT_GUEST, g);
    TT_EQ(100, gi.peer_fwd_cnt, "fwd_cnt unchanged");
    TT_EQ(DEF_BUF, gi.peer_buf_alloc, "buf_alloc of a bad packet ignored too");
    /* An RW with bad credit still delivers its data. */
    struct vsock_hdr w = tt_hdr(TT_HOST, ST, VSOCK_OP_RW, 1234, gport);
    w.len = 2;
    w.fwd_cnt = 0xffff0000u;
    tt_inject(&p, TT_GUEST, &w, "ab", 2);
    TT_EQ(3, tt_drops(&p, TT_GUEST, VEP_DROP_BAD_CREDIT), "counted");
    TT_EQ(3, vep_rx_queued(TT_G(&p), g), "data delivered");
    u.fwd_cnt = 100;
    u.buf_alloc = 4096;
    tt_inject(&p, TT_GUEST, &u, NULL, 0);
    TT_EQ(3, tt_drops(&p, TT_GUEST, VEP_DROP_BAD_CREDIT), "a good one");
    TT_EQ(4096, tt_conn(&p, TT_GUEST, g).peer_buf_alloc, "taken");
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "nothing answered");
    tt_pair_fini(&p);
}

TT_TC(reply_limit, "replies beyond max_replies are dropped and counted")
ATF_TC_BODY(reply_limit, tc)
{
    struct tt_pair p;
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    hc.max_replies = 2;
    tt_pair_init_cfg(&p, &gc, &hc);
    for (uint32_t i = 0; i < 3; i++) {
        struct vsock_hdr x = tt_hdr(TT_GUEST, ST, VSOCK_OP_REQUEST, 40000 + i, 99);
        tt_inject(&p, TT_HOST, &x, NULL, 0);
    }
    TT_EQ(2, vep_tx_queued_pkts(TT_H(&p)), "two RSTs");
    TT_EQ(2, vep_tx_queued_replies(TT_H(&p)), "both replies");
    TT_EQ(1, tt_drops(&p, TT_HOST, VEP_DROP_REPLY_LIMIT), "REPLY_LIMIT");
    TT_EQ(2, tt_discard(&p, TT_HOST), "sent");
    TT_EQ(0, vep_tx_queued_replies(TT_H(&p)), "replies gone");
    struct vsock_hdr x = tt_hdr(TT_GUEST, ST, VSOCK_OP_REQUEST, 41000, 99);
    tt_inject(&p, TT_HOST, &x, NULL, 0);
    TT_EQ(1, vep_tx_queued_pkts(TT_H(&p)), "room again");
    tt_pair_fini(&p);
}

TT_TC(tx_partial_advance, "vep_tx_advance with fewer bytes keeps the rest of the packet queued")
ATF_TC_BODY(tx_partial_advance, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    uint8_t d[100];
    tt_fill(d, sizeof d, 16, 0);
    TT_EQ(100, vep_send(TT_G(&p), g, d, 100, 0), "send");
    struct vep_tx tx;
    TT_TRUE(vep_tx_peek(TT_G(&p), &tx), "peek");
    TT_EQ(100, tx.hdr.len, "len");
    vep_tx_advance(TT_G(&p), 40);
    TT_TRUE(vep_tx_peek(TT_G(&p), &tx), "peek");
    TT_EQ(60, tx.hdr.len, "the rest");
    TT_TRUE(memcmp(tx.payload, d + 40, 60) == 0, "from byte 40");
    TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "still one packet");
    TT_EQ(0, vep_counters(TT_G(&p))->tx_pkts[VSOCK_OP_RW], "not counted yet");
    vep_tx_advance(TT_G(&p), 60);
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "gone");
    TT_EQ(1, vep_counters(TT_G(&p))->tx_pkts[VSOCK_OP_RW], "counted once");
    TT_TRUE(!vep_tx_peek(TT_G(&p), &tx), "empty");
    tt_pair_fini(&p);
}

/* ==== determinism ============================================================================= */

static size_t scenario(uint32_t gseed, uint8_t **log)
{
    struct tt_pair p;
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    gc.ephemeral_seed = gseed;
    tt_pair_init_cfg(&p, &gc, &hc);
    p.record = true;
    int g, h;
    int lfd = tt_stream_pair(&p, 1234, &g, &h);
    transfer(&p, TT_GUEST, g, h, 300000, 21, 33333, 4097);
    transfer(&p, TT_HOST, h, g, 200000, 22, 70000, 1000);
    int sl = tt_listen(&p, TT_GUEST, SP, 800, 4);
    int hs, gs = tt_connect(&p, TT_HOST, SP, sl, 800, &hs);
    static uint8_t m[100000];
    tt_fill(m, sizeof m, 23, 0);
    TT_EQ(sizeof m, vep_send(TT_H(&p), hs, m, sizeof m, VEP_MSG_EOR), "seqpacket");
    tt_pump(&p);
    TT_EQ(sizeof m, vep_recv(TT_G(&p), gs, m, sizeof m, 0, NULL), "seqpacket recv");
    int g2;
    tt_connect(&p, TT_GUEST, ST, lfd, 1234, &g2);
    TT_EQ(5, vep_send(TT_G(&p), g2, "bytes", 5, 0), "send");
    tt_pump(&p);
    TT_EQ(0, vep_close(TT_G(&p), g2, p.now), "close with the host not reading");
    tt_pump(&p);
    tt_advance(&p, 8 * SEC);
    TT_EQ(0, vep_shutdown(TT_G(&p), g, VEP_SHUT_RDWR), "shutdown");
    TT_EQ(0, vep_close(TT_H(&p), hs, p.now), "close");
    tt_pump(&p);
    size_t n = tt_log_serialize(&p, log);
    tt_pair_fini(&p);
    return n;
}

TT_TC(determinism, "the same operations give a byte-identical packet log")
ATF_TC_BODY(determinism, tc)
{
    uint8_t *a, *b, *c;
    size_t na = scenario(1, &a), nb = scenario(1, &b), nc = scenario(99, &c);
    TT_TRUE(na > 600000, "a substantial log: %zu bytes", na);
    TT_EQ(na, nb, "same length");
    TT_TRUE(memcmp(a, b, na) == 0, "same bytes");
    TT_TRUE(na != nc || memcmp(a, c, na) != 0, "another ephemeral seed changes the ports");
    free(a);
    free(b);
    free(c);
}

/* ==== Linux's rules, item by item (conformance cases prove each on the kernel) ========== */

/* A vep_cfg pair with a profile and deviations on both sides. */
static void pair_with(struct tt_pair *p, enum vsock_linux v, uint64_t deviate)
{
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    gc.linux_ver = hc.linux_ver = v;
    gc.deviate = hc.deviate = deviate;
    tt_pair_init_cfg(p, &gc, &hc);
}

/* RW of len pattern bytes from the fake guest port gport to the host port. */
static void fake_rw(struct tt_pair *p, uint32_t gport, uint32_t port, uint32_t len, uint32_t flags,
                    int type)
{
    static uint8_t d[4096];
    tt_fill(d, sizeof d, 16, 0);
    struct vsock_hdr w = tt_hdr(TT_GUEST, (uint16_t)type, VSOCK_OP_RW, gport, port);
    w.buf_alloc = DEF_BUF;
    w.flags = flags;
    w.len = len;
    tt_inject(p, TT_HOST, &w, d, len);
}

/* The host's fwd_cnt as a CREDIT_REQUEST would have it answered. */
static uint32_t host_fwd_cnt(const struct tt_pair *p, int h)
{
    return tt_conn(p, TT_HOST, h).fwd_cnt;
}

TT_TC(coalesce_host_kmalloc, "vhost side (6.1): an RW of at most 128 bytes goes into the last "
                             "packet's tailroom (kmalloc-512 for 100 bytes: 48 left), and is "
                             "freed with it")
ATF_TC_BODY(coalesce_host_kmalloc, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int h = fake_guest_conn(&p, lfd, 1234, 40000, ST);
    uint8_t rb[512];
    fake_rw(&p, 40000, 1234, 100, 0, ST);
    fake_rw(&p, 40000, 1234, 47, 0, ST);
    TT_EQ(100, vep_recv(TT_H(&p), h, rb, 100, 0, NULL), "the first packet's bytes");
    TT_EQ(0, host_fwd_cnt(&p, h), "nothing freed: 47 bytes share its buffer");
    TT_EQ(147, vep_rx_queued(TT_H(&p), h), "6.1 counts the buffer whole");
    TT_EQ(47, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "the copied bytes");
    TT_EQ(147, host_fwd_cnt(&p, h), "freed together");
    fake_rw(&p, 40000, 1234, 100, 0, ST);
    fake_rw(&p, 40000, 1234, 48, 0, ST);
    TT_EQ(100, vep_recv(TT_H(&p), h, rb, 100, 0, NULL), "read");
    TT_EQ(247, host_fwd_cnt(&p, h), "48 did not fit: a packet of its own");
    TT_EQ(48, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "read");
    fake_rw(&p, 40000, 1234, 10, 0, ST);
    fake_rw(&p, 40000, 1234, 129, 0, ST);
    TT_EQ(10, vep_recv(TT_H(&p), h, rb, 10, 0, NULL), "read");
    TT_EQ(305, host_fwd_cnt(&p, h), "129 bytes are more than GOOD_COPY_LEN");
    tt_pair_fini(&p);
}

TT_TC(coalesce_profiles, "the tailroom per profile: 6.12 serves small heads from a 704-byte "
                         "cache (340 - len), 6.1 from kmalloc (1024 for 300 bytes)")
ATF_TC_BODY(coalesce_profiles, tc)
{
    for (int v = 0; v < 2; v++) {
        struct tt_pair p;
        pair_with(&p, v ? VSOCK_LINUX_6_12 : VSOCK_LINUX_6_1, 0);
        int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
        int h = fake_guest_conn(&p, lfd, 1234, 40000, ST);
        uint8_t rb[512];
        fake_rw(&p, 40000, 1234, 300, 0, ST);
        fake_rw(&p, 40000, 1234, 40, 0, ST); /* 6.12: 40 left, not < 40 */
        TT_EQ(300, vep_recv(TT_H(&p), h, rb, 300, 0, NULL), "read");
        TT_EQ(v ? 300u : 0u, host_fwd_cnt(&p, h), "profile %d", v);
        TT_EQ(40, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "read");
        fake_rw(&p, 40000, 1234, 300, 0, ST);
        fake_rw(&p, 40000, 1234, 39, 0, ST);
        TT_EQ(300, vep_recv(TT_H(&p), h, rb, 300, 0, NULL), "read");
        TT_EQ(340, host_fwd_cnt(&p, h), "39 fits both");
        /* 39 unread bytes in a 339-byte buffer: 6.1 tells a reader 339 are
         * there, 6.12 only the unread 39. */
        TT_EQ(0, vep_set_rcvlowat(TT_H(&p), h, 100), "RCVLOWAT 100");
        TT_EQ(v ? 0u : (unsigned)VEP_POLLIN, vep_poll(TT_H(&p), h) & VEP_POLLIN, "profile %d", v);
        TT_EQ(39, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "the rest");
        tt_pair_fini(&p);
    }
}

TT_TC(coalesce_guest_buffers, "guest side: packets land in the posted rx buffers (3776 bytes: "
                              "3732 - len of room); no copy into a packet that ends a message")
ATF_TC_BODY(coalesce_guest_buffers, tc)
{
    struct tt_pair p;
    struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
    gc.rx_buf_size = 3776;
    tt_pair_init_cfg(&p, &gc, &hc);
    int lfd = tt_listen(&p, TT_GUEST, ST, 700, 4);
    int h, g = tt_connect(&p, TT_HOST, ST, lfd, 700, &h);
    static uint8_t d[3732];
    uint8_t rb[4096];
    TT_EQ(3604, vep_send(TT_H(&p), h, d, 3604, 0), "3604 bytes: 128 of room left");
    tt_pump(&p);
    TT_EQ(127, vep_send(TT_H(&p), h, d, 127, 0), "127 < 128");
    tt_pump(&p);
    TT_EQ(3604, vep_recv(TT_G(&p), g, rb, 3604, 0, NULL), "read");
    TT_EQ(0, tt_conn(&p, TT_GUEST, g).fwd_cnt, "copied into it");
    TT_EQ(127, vep_recv(TT_G(&p), g, rb, sizeof rb, 0, NULL), "read");
    TT_EQ(3605, vep_send(TT_H(&p), h, d, 3605, 0), "127 of room left");
    tt_pump(&p);
    TT_EQ(127, vep_send(TT_H(&p), h, d, 127, 0), "127 is not < 127");
    tt_pump(&p);
    TT_EQ(3605, vep_recv(TT_G(&p), g, rb, 3605, 0, NULL), "read");
    TT_EQ(3731 + 3605, tt_conn(&p, TT_GUEST, g).fwd_cnt, "a packet of its own");
    tt_pair_fini(&p);

    tt_pair_init(&p);
    int sh;
    int sg = seq_pair(&p, &sg, &sh) >= 0 ? sg : -1;
    TT_EQ(5, vep_send(TT_G(&p), sg, "first", 5, 0), "a message");
    TT_EQ(6, vep_send(TT_G(&p), sg, "second", 6, 0), "another");
    tt_pump(&p);
    unsigned of;
    TT_EQ(5, vep_recv(TT_H(&p), sh, rb, sizeof rb, 0, &of), "messages stay apart");
    TT_EQ(6, vep_recv(TT_H(&p), sh, rb, sizeof rb, 0, &of), "second");
    tt_pair_fini(&p);
}

TT_TC(tx_credit_own_buffer, "in flight at most min(peer buf_alloc, own buf_alloc) "
                            "(virtio_transport_tx_buf_size); a message larger fails")
ATF_TC_BODY(tx_credit_own_buffer, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    tt_stream_pair(&p, 1234, &g, &h);
    TT_EQ(0, vep_set_buf_size(TT_G(&p), g, 2048), "own buffer 2048");
    tt_pump(&p);
    uint32_t limit = 0;
    TT_EQ(2048, vep_send_space(TT_G(&p), g, &limit), "space");
    TT_EQ(2048, limit, "limit");
    static uint8_t d[10000];
    TT_EQ(2048, vep_send(TT_G(&p), g, d, sizeof d, 0), "capped by the own buffer");
    TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, d, 1, 0), "then nothing");
    TT_TRUE(!(vep_poll(TT_G(&p), g) & VEP_POLLOUT), "not writable");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_nonblocking_split, "Linux: a seqpacket message that runs out of credit sends a "
                                   "fragment without EOM and returns EAGAIN; the next send "
                                   "completes that message at the receiver")
ATF_TC_BODY(seqpacket_nonblocking_split, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g, h;
    seq_pair(&p, &g, &h);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 1000), "host buffer 1000");
    tt_pump(&p);
    p.record = true;
    static uint8_t a[900], b[150], rb[2000];
    tt_fill(a, sizeof a, 33, 0);
    tt_fill(b, sizeof b, 34, 0);
    TT_EQ(900, vep_send(TT_G(&p), g, a, sizeof a, 0), "first");
    TT_EQ(-EAGAIN, vep_send(TT_G(&p), g, b, sizeof b, 0), "100 of 150 go");
    TT_EQ(2, vep_tx_queued_pkts(TT_G(&p)), "the message and a fragment");
    tt_pump(&p);
    TT_EQ(2, tt_log_count(&p, TT_GUEST, VSOCK_OP_RW), "two RW");
    TT_EQ(100, tt_log_at(&p, 1)->hdr.len, "the fragment");
    TT_EQ(0, tt_log_at(&p, 1)->hdr.flags, "without EOM");
    TT_EQ(900, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "the first message");
    tt_pump(&p);
    TT_EQ(4, vep_send(TT_G(&p), g, "tail", 4, VEP_MSG_EOR), "a new message");
    tt_pump(&p);
    unsigned of;
    TT_EQ(104, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, &of), "merged with the fragment");
    TT_TRUE(memcmp(rb, b, 100) == 0 && memcmp(rb + 100, "tail", 4) == 0, "bytes");
    TT_EQ(VEP_MSG_EOR, of, "EOR of the second");
    tt_pair_fini(&p);
}

TT_TC(seqpacket_error_per_profile, "a message larger than tx_buf_size: ENOMEM on 6.1, EMSGSIZE on "
                                   "6.12; seqpacket-whole keeps that errno")
ATF_TC_BODY(seqpacket_error_per_profile, tc)
{
    static const struct {
        enum vsock_linux v;
        uint64_t dev;
        int err;
    } k[] = {{VSOCK_LINUX_6_1, 0, -ENOMEM},
             {VSOCK_LINUX_6_12, 0, -EMSGSIZE},
             {VSOCK_LINUX_6_1, VSOCK_DEV_BIT(VSOCK_DEV_SEQPACKET_WHOLE), -ENOMEM}};
    for (size_t i = 0; i < 3; i++) {
        struct tt_pair p;
        pair_with(&p, k[i].v, k[i].dev);
        int g, h;
        seq_pair(&p, &g, &h);
        TT_EQ(0, vep_set_buf_size(TT_G(&p), g, 1000), "own buffer 1000");
        tt_pump(&p);
        static uint8_t m[1001];
        TT_EQ(k[i].err, vep_send(TT_G(&p), g, m, 1001, 0), "case %zu", i);
        TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "nothing sent");
        tt_pair_fini(&p);
    }
}

TT_TC(sndbuf_bound_deviation, "sndbuf-bound: unsent payload per socket stops at max_sndbuf; "
                              "without it only credit limits a send")
ATF_TC_BODY(sndbuf_bound_deviation, tc)
{
    for (int dev = 0; dev < 2; dev++) {
        struct vep_cfg gc = tt_guest_cfg(), hc = tt_host_cfg();
        gc.max_sndbuf = 1000;
        gc.deviate = dev ? VSOCK_DEV_BIT(VSOCK_DEV_SNDBUF_BOUND) : 0;
        struct tt_pair p;
        tt_pair_init_cfg(&p, &gc, &hc);
        int g, h;
        tt_stream_pair(&p, 1234, &g, &h);
        static uint8_t d[5000];
        TT_EQ(dev ? 1000 : 5000, vep_send(TT_G(&p), g, d, sizeof d, 0), "deviate %d", dev);
        tt_pair_fini(&p);
    }
}

TT_TC(initial_fwd_cnt_no_credit, "a REQUEST or RESPONSE with fwd_cnt F: tx_cnt starts at 0, so "
                                 "0 - F is in flight and there is no credit until fwd_cnt "
                                 "comes back within what was sent")
ATF_TC_BODY(initial_fwd_cnt_no_credit, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    struct vsock_hdr q = tt_hdr(TT_GUEST, ST, VSOCK_OP_REQUEST, 40000, 1234);
    q.buf_alloc = 65536;
    q.fwd_cnt = 1000;
    tt_inject(&p, TT_HOST, &q, NULL, 0);
    tt_discard(&p, TT_HOST);
    int h = vep_accept(TT_H(&p), lfd, NULL, NULL);
    TT_TRUE(h >= 0, "accepted");
    TT_EQ(0, tt_conn(&p, TT_HOST, h).tx_cnt, "tx_cnt 0");
    TT_EQ(-EAGAIN, vep_send(TT_H(&p), h, "x", 1, 0), "no credit");
    struct vsock_hdr u = tt_hdr(TT_GUEST, ST, VSOCK_OP_CREDIT_UPDATE, 40000, 1234);
    u.buf_alloc = 65536;
    tt_inject(&p, TT_HOST, &u, NULL, 0);
    TT_EQ(3, vep_send(TT_H(&p), h, "abc", 3, 0), "fwd_cnt 0: credit");
    tt_pair_fini(&p);
}

TT_TC(source_check_connecting, "a connecting socket answers packets from another port than its "
                               "peer's with RST and keeps waiting (vsock_check_source)")
ATF_TC_BODY(source_check_connecting, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 999, p.now), "connect");
    tt_discard(&p, TT_GUEST);
    uint32_t gport = local_port(TT_G(&p), g);
    struct vsock_hdr r = tt_hdr(TT_HOST, ST, VSOCK_OP_RESPONSE, 998, gport);
    tt_inject(&p, TT_GUEST, &r, NULL, 0);
    struct vep_tx rst = head_pkt(TT_G(&p));
    TT_EQ(VSOCK_OP_RST, rst.hdr.op, "answered with RST");
    TT_EQ(998, rst.hdr.dst_port, "to the port it came from");
    TT_EQ(0, rst.hdr.buf_alloc, "reset_no_sock");
    TT_EQ(1, tt_drops(&p, TT_GUEST, VEP_DROP_BAD_SOURCE), "counted");
    tt_discard(&p, TT_GUEST);
    r.op = VSOCK_OP_RST;
    tt_inject(&p, TT_GUEST, &r, NULL, 0);
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "an RST is never answered");
    TT_EQ(VEP_SS_CONNECTING, vep_sock_state(TT_G(&p), g), "still connecting");
    TT_EQ(0, vep_sock_error(TT_G(&p), g), "no error");
    r.op = VSOCK_OP_RESPONSE;
    r.src_port = 999;
    tt_inject(&p, TT_GUEST, &r, NULL, 0);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(TT_G(&p), g), "the right one connects");
    tt_pair_fini(&p);
}

TT_TC(shutdown_both_leaves_table, "SHUTDOWN(both) takes the socket out of the connected table at "
                                  "once, unread data or not: the peer reconnects from the same "
                                  "port while the old socket is open")
ATF_TC_BODY(shutdown_both_leaves_table, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int h = fake_guest_conn(&p, lfd, 1234, 40000, ST);
    fake_rw(&p, 40000, 1234, 6, 0, ST);
    struct vsock_hdr sd = tt_hdr(TT_GUEST, ST, VSOCK_OP_SHUTDOWN, 40000, 1234);
    sd.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
    tt_inject(&p, TT_HOST, &sd, NULL, 0);
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "data unread: no RST");
    int h2 = fake_guest_conn(&p, lfd, 1234, 40000, ST);
    TT_TRUE(h2 != h, "a new connection from the same port");
    uint8_t rb[16];
    TT_EQ(6, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "the old one's data");
    TT_EQ(0, vep_recv(TT_H(&p), h, rb, sizeof rb, 0, NULL), "and its end");
    tt_discard(&p, TT_HOST);
    fake_rw(&p, 40000, 1234, 3, 0, ST);
    TT_EQ(3, vep_rx_queued(TT_H(&p), h2), "new data reaches the new socket");
    TT_EQ(0, vep_close(TT_H(&p), h, p.now), "close the old one");
    struct vep_tx rst = head_pkt(TT_H(&p));
    TT_EQ(VSOCK_OP_RST, rst.hdr.op, "the old one answers its peer's SHUTDOWN");
    tt_discard(&p, TT_HOST);
    TT_EQ(3, vep_rx_queued(TT_H(&p), h2), "the new one goes on");
    tt_pair_fini(&p);
}

TT_TC(send_port_any, "a connection whose peer port is VMADDR_PORT_ANY cannot send: EDESTADDRREQ")
ATF_TC_BODY(send_port_any, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int lfd = tt_listen(&p, TT_HOST, ST, 1234, 4);
    int h = fake_guest_conn(&p, lfd, 1234, VSOCK_PORT_ANY, ST);
    TT_EQ(-EDESTADDRREQ, vep_send(TT_H(&p), h, "x", 1, 0), "send");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "nothing");
    tt_pair_fini(&p);
}

TT_TC(connect_after_timeout_profiles, "after a connect timeout a new connect sends a REQUEST; 6.1 "
                                      "returns an unread ETIMEDOUT at once, 6.12 clears it")
ATF_TC_BODY(connect_after_timeout_profiles, tc)
{
    for (int v = 0; v < 2; v++) {
        struct tt_pair p;
        pair_with(&p, v ? VSOCK_LINUX_6_12 : VSOCK_LINUX_6_1, 0);
        int g = vep_socket(TT_G(&p), ST);
        TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 999, p.now), "connect");
        tt_discard(&p, TT_GUEST);
        tt_advance(&p, 3 * SEC);
        TT_TRUE(vep_poll(TT_G(&p), g) & VEP_POLLERR, "timed out");
        int r = vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 999, p.now);
        TT_EQ(1, vep_tx_queued_pkts(TT_G(&p)), "a REQUEST either way");
        if (v == 0) {
            TT_EQ(-ETIMEDOUT, r, "6.1");
            TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(TT_G(&p), g), "closed again");
            TT_EQ(0, vep_sock_error(TT_G(&p), g), "the error was taken");
            TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 999, p.now), "again");
        } else {
            TT_EQ(-EINPROGRESS, r, "6.12");
        }
        TT_EQ(VEP_SS_CONNECTING, vep_sock_state(TT_G(&p), g), "connecting");
        tt_pair_fini(&p);
    }
}

TT_TC(buffer_bounds, "SO_VM_SOCKETS_BUFFER_MAX_SIZE / _MIN_SIZE bound the buffer size, move it at "
                     "once (announced when connected) and pass to accepted sockets")
ATF_TC_BODY(buffer_bounds, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int l = vep_socket(TT_H(&p), ST);
    TT_EQ(0, vep_bind(TT_H(&p), l, 1234), "bind");
    TT_EQ(0, vep_set_buf_size(TT_H(&p), l, 1u << 20), "1 MiB");
    TT_EQ(0, vep_listen(TT_H(&p), l, 4), "listen");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "a listener has no transport: nothing sent");
    int h = fake_guest_conn(&p, l, 1234, 40000, ST);
    TT_EQ(DEF_BUF, tt_conn(&p, TT_HOST, h).buf_alloc, "clamped to the default maximum");
    TT_EQ(0, vep_close(TT_H(&p), h, p.now), "close");
    tt_discard(&p, TT_HOST);
    TT_EQ(0, vep_set_buf_max_size(TT_H(&p), l, 1u << 20), "maximum 1 MiB");
    TT_EQ(0, vep_set_buf_size(TT_H(&p), l, 600000), "600000");
    h = fake_guest_conn(&p, l, 1234, 40001, ST);
    TT_EQ(600000, tt_conn(&p, TT_HOST, h).buf_alloc, "inherited size");
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 900000), "inherited maximum");
    TT_EQ(900000, head_pkt(TT_H(&p)).hdr.buf_alloc, "CREDIT_UPDATE");
    tt_discard(&p, TT_HOST);
    TT_EQ(0, vep_set_buf_max_size(TT_H(&p), h, 65536), "maximum below the size");
    TT_EQ(65536, head_pkt(TT_H(&p)).hdr.buf_alloc, "moved and announced");
    tt_discard(&p, TT_HOST);
    TT_EQ(0, vep_set_buf_size(TT_H(&p), h, 100000), "above the maximum");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "clamped to what it is: nothing");
    TT_EQ(0, vep_set_buf_min_size(TT_H(&p), h, 70000), "minimum above the maximum");
    TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "the maximum wins: unchanged");
    TT_EQ(0, vep_set_buf_max_size(TT_H(&p), h, 80000), "maximum 80000");
    TT_EQ(70000, head_pkt(TT_H(&p)).hdr.buf_alloc, "the minimum applies now");
    TT_EQ(-EBADF, vep_set_buf_max_size(TT_H(&p), 99, 1), "bad fd");
    TT_EQ(-EBADF, vep_set_buf_min_size(TT_H(&p), 99, 1), "bad fd");
    tt_pair_fini(&p);
}

TT_TC(buffer_size_announced_states, "a new buffer size is announced by every socket with a "
                                    "transport: connecting, refused; not by a listener")
ATF_TC_BODY(buffer_size_announced_states, tc)
{
    struct tt_pair p;
    tt_pair_init(&p);
    int g = vep_socket(TT_G(&p), ST);
    TT_EQ(0, vep_set_buf_size(TT_G(&p), g, 8192), "before connect");
    TT_EQ(0, vep_tx_queued_pkts(TT_G(&p)), "no transport yet");
    TT_EQ(-EINPROGRESS, vep_connect(TT_G(&p), g, VSOCK_CID_HOST, 999, p.now), "connect");
    TT_EQ(8192, head_pkt(TT_G(&p)).hdr.buf_alloc, "the REQUEST carries it");
    TT_EQ(0, vep_set_buf_size(TT_G(&p), g, 16384), "connecting");
    p.record = true;
    tt_pump(&p); /* nobody listens: refused */
    uint32_t gport = local_port(TT_G(&p), g);
    TT_PKT(&p, 0, TT_GUEST, ST, VSOCK_OP_REQUEST, gport, 999, 0, 0);
    TT_PKT(&p, 1, TT_GUEST, ST, VSOCK_OP_CREDIT_UPDATE, gport, 999, 0, 0);
    TT_EQ(16384, tt_log_at(&p, 1)->hdr.buf_alloc, "announced while connecting");
    TT_EQ(-ECONNRESET, vep_sock_error(TT_G(&p), g), "refused");
    TT_EQ(0, vep_set_buf_size(TT_G(&p), g, 32768), "refused");
    struct vep_tx u = head_pkt(TT_G(&p));
    TT_EQ(VSOCK_OP_CREDIT_UPDATE, u.hdr.op, "still announced");
    TT_EQ(32768, u.hdr.buf_alloc, "new size");
    TT_EQ(999, u.hdr.dst_port, "to the peer it connected to");
    tt_pair_fini(&p);
}

TT_TC(rcvlowat_not_inherited, "SO_RCVLOWAT is not inherited by accepted sockets; 6.12 kicks a "
                              "waiting sender when it is raised above what is queued")
ATF_TC_BODY(rcvlowat_not_inherited, tc)
{
    for (int v = 0; v < 2; v++) {
        struct tt_pair p;
        pair_with(&p, v ? VSOCK_LINUX_6_12 : VSOCK_LINUX_6_1, 0);
        int l = tt_listen(&p, TT_HOST, ST, 1234, 4);
        TT_EQ(0, vep_set_rcvlowat(TT_H(&p), l, 100), "listener RCVLOWAT");
        TT_EQ(-EINVAL, vep_set_rcvlowat(TT_H(&p), l, DEF_BUF + 1), "above the buffer");
        int g, h = tt_connect(&p, TT_GUEST, ST, l, 1234, &g);
        TT_EQ(1, vep_send(TT_G(&p), g, "1", 1, 0), "one byte");
        tt_pump(&p);
        TT_TRUE(vep_poll(TT_H(&p), h) & VEP_POLLIN, "readable at 1");
        uint8_t b[8];
        TT_EQ(1, vep_recv(TT_H(&p), h, b, 1, 0, NULL), "read");
        tt_pump(&p); /* the emptying read's CREDIT_UPDATE */
        static uint8_t big[200]; /* too big to be copied into the packet before */
        TT_EQ(2, vep_send(TT_G(&p), g, "23", 2, 0), "two more");
        tt_pump(&p);
        TT_EQ(200, vep_send(TT_G(&p), g, big, sizeof big, 0), "and 200");
        tt_pump(&p);
        TT_EQ(2, vep_recv(TT_H(&p), h, b, 2, 0, NULL), "read one packet");
        TT_EQ(0, vep_tx_queued_pkts(TT_H(&p)), "200 queued >= 1: no update");
        TT_EQ(0, vep_set_rcvlowat(TT_H(&p), h, 250), "raise RCVLOWAT");
        TT_EQ(v ? 1u : 0u, vep_tx_queued_pkts(TT_H(&p)), "6.12 announces the 2 freed bytes");
        tt_pair_fini(&p);
    }
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, connect_guest_to_host);
    ATF_TP_ADD_TC(tp, connect_host_to_guest);
    ATF_TP_ADD_TC(tp, connect_no_listener_econnreset);
    ATF_TP_ADD_TC(tp, connect_bound_not_listening);
    ATF_TP_ADD_TC(tp, poll_unconnected_pollout);
    ATF_TP_ADD_TC(tp, rst_for_nothing_not_answered);
    ATF_TP_ADD_TC(tp, connect_timeout_etimedout);
    ATF_TP_ADD_TC(tp, connect_timeout_cancels_request);
    ATF_TP_ADD_TC(tp, late_response_gets_rst);
    ATF_TP_ADD_TC(tp, connecting_unexpected_op_eproto);
    ATF_TP_ADD_TC(tp, socket_api_errors);
    ATF_TP_ADD_TC(tp, bind_eaddrinuse);
    ATF_TP_ADD_TC(tp, port_reuse_after_close);
    ATF_TP_ADD_TC(tp, ephemeral_ports);
    ATF_TP_ADD_TC(tp, ephemeral_skips_used);
    ATF_TP_ADD_TC(tp, backlog_full_rst);
    ATF_TP_ADD_TC(tp, backlog_zero);
    ATF_TP_ADD_TC(tp, accept_fifo);
    ATF_TP_ADD_TC(tp, close_listener_with_pending);
    ATF_TP_ADD_TC(tp, many_connections);
    ATF_TP_ADD_TC(tp, data_both_ways);
    ATF_TP_ADD_TC(tp, stream_1mib_guest_to_host);
    ATF_TP_ADD_TC(tp, stream_1mib_host_to_guest);
    ATF_TP_ADD_TC(tp, credit_window_exact);
    ATF_TP_ADD_TC(tp, credit_update_threshold);
    ATF_TP_ADD_TC(tp, credit_update_emptying_read);
    ATF_TP_ADD_TC(tp, tiny_buf_alloc);
    ATF_TP_ADD_TC(tp, buf_size_unchanged_no_update);
    ATF_TP_ADD_TC(tp, listener_buf_size_inherited);
    ATF_TP_ADD_TC(tp, credit_request_answered);
    ATF_TP_ADD_TC(tp, buf_alloc_shrink);
    ATF_TP_ADD_TC(tp, stream_peek);
    ATF_TP_ADD_TC(tp, rcvlowat_poll);
    ATF_TP_ADD_TC(tp, shutdown_wr);
    ATF_TP_ADD_TC(tp, shutdown_rd);
    ATF_TP_ADD_TC(tp, shutdown_rdwr_rst_teardown);
    ATF_TP_ADD_TC(tp, shutdown_both_unread_no_rst);
    ATF_TP_ADD_TC(tp, close_idle);
    ATF_TP_ADD_TC(tp, close_with_unread_data);
    ATF_TP_ADD_TC(tp, close_timeout_rst);
    ATF_TP_ADD_TC(tp, close_simultaneous);
    ATF_TP_ADD_TC(tp, rst_mid_stream);
    ATF_TP_ADD_TC(tp, seqpacket_boundaries);
    ATF_TP_ADD_TC(tp, seqpacket_split);
    ATF_TP_ADD_TC(tp, seqpacket_trunc);
    ATF_TP_ADD_TC(tp, seqpacket_emsgsize);
    ATF_TP_ADD_TC(tp, seqpacket_peek_unsupported);
    ATF_TP_ADD_TC(tp, seqpacket_host_to_guest);
    ATF_TP_ADD_TC(tp, seqpacket_waits_for_credit);
    ATF_TP_ADD_TC(tp, seqpacket_after_peer_shutdown);
    ATF_TP_ADD_TC(tp, close_while_connecting);
    ATF_TP_ADD_TC(tp, transport_reset_mid_transfer);
    ATF_TP_ADD_TC(tp, transport_reset_connecting_left);
    ATF_TP_ADD_TC(tp, orphan_all);
    ATF_TP_ADD_TC(tp, hostile_len_mismatch);
    ATF_TP_ADD_TC(tp, hostile_too_big);
    ATF_TP_ADD_TC(tp, hostile_unknown_op_connected);
    ATF_TP_ADD_TC(tp, hostile_no_socket_rst);
    ATF_TP_ADD_TC(tp, hostile_unknown_type);
    ATF_TP_ADD_TC(tp, hostile_type_mismatch);
    ATF_TP_ADD_TC(tp, hostile_cids);
    ATF_TP_ADD_TC(tp, hostile_over_credit);
    ATF_TP_ADD_TC(tp, hostile_bad_credit);
    ATF_TP_ADD_TC(tp, credit_taken_as_it_comes);
    ATF_TP_ADD_TC(tp, coalesce_host_kmalloc);
    ATF_TP_ADD_TC(tp, coalesce_profiles);
    ATF_TP_ADD_TC(tp, coalesce_guest_buffers);
    ATF_TP_ADD_TC(tp, tx_credit_own_buffer);
    ATF_TP_ADD_TC(tp, seqpacket_nonblocking_split);
    ATF_TP_ADD_TC(tp, seqpacket_error_per_profile);
    ATF_TP_ADD_TC(tp, sndbuf_bound_deviation);
    ATF_TP_ADD_TC(tp, initial_fwd_cnt_no_credit);
    ATF_TP_ADD_TC(tp, source_check_connecting);
    ATF_TP_ADD_TC(tp, shutdown_both_leaves_table);
    ATF_TP_ADD_TC(tp, send_port_any);
    ATF_TP_ADD_TC(tp, connect_after_timeout_profiles);
    ATF_TP_ADD_TC(tp, buffer_bounds);
    ATF_TP_ADD_TC(tp, buffer_size_announced_states);
    ATF_TP_ADD_TC(tp, rcvlowat_not_inherited);
    ATF_TP_ADD_TC(tp, reply_limit);
    ATF_TP_ADD_TC(tp, tx_partial_advance);
    ATF_TP_ADD_TC(tp, determinism);
    return atf_no_error();
}
