/* The endpoint's receive path: Linux 6.1's virtio_transport_recv_pkt and its
 * per-state handlers. Every packet ends in exactly one of: accepted, dropped
 * with a counted reason, or answered with RST (and counted). */
#include "transport/ep_ops.h"

#include <errno.h>
#include <stdlib.h>

#define SHUT_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

void vep_rx_runt(struct vep *ep)
{
    ep_drop(ep, VEP_DROP_SHORT);
}

/* Linux's virtio_transport_reset_no_sock: an RST back to where the packet came
 * from, addresses swapped from the packet itself, never in answer to an RST. */
static void reply_rst(struct vep *ep, const struct vsock_hdr *in, enum vep_drop why)
{
    if (in->op == VSOCK_OP_RST) {
        ep_drop(ep, VEP_DROP_RST_NO_SOCKET);
        return;
    }
    ep_drop(ep, why);
    struct vsock_hdr h = {
        .src_cid = in->dst_cid,
        .dst_cid = in->src_cid,
        .src_port = in->dst_port,
        .dst_port = in->src_port,
        .type = in->type,
        .op = VSOCK_OP_RST,
    };
    struct vep_pkt *p = pkt_new(&h, NULL, 0);
    if (p != NULL)
        ep_queue(ep, p, true);
}

/* A fwd_cnt that moves backwards or past what we sent would hand us credit
 * the peer never gave: its credit fields are ignored and counted. */
static void update_peer_credit(struct vep *ep, struct vep_sock *s, const struct vsock_hdr *h)
{
    if (s->state == VEP_SS_LISTEN || s->state == VEP_SS_CONNECTING)
        return; /* the connection's first packet sets the baseline */
    /* An RST ends the connection, and one from reset_no_sock carries
     * buf_alloc = fwd_cnt = 0: not a credit violation. */
    if (h->op == VSOCK_OP_RST)
        return;
    uint32_t outstanding = s->tx_cnt - s->peer_fwd_cnt;
    uint32_t advance = h->fwd_cnt - s->peer_fwd_cnt;
    if (advance > outstanding) {
        ep_drop(ep, VEP_DROP_BAD_CREDIT);
        return;
    }
    s->peer_fwd_cnt = h->fwd_cnt;
    s->peer_buf_alloc = h->buf_alloc;
}

static void set_credit_baseline(struct vep_sock *s, const struct vsock_hdr *h)
{
    s->peer_buf_alloc = h->buf_alloc;
    s->peer_fwd_cnt = h->fwd_cnt;
    s->tx_cnt = h->fwd_cnt;
}

static void accept_enqueue(struct vep *ep, struct vep_sock *l, int child)
{
    if (l->acc_tail == VEP_NONE)
        l->acc_head = child;
    else
        ep->socks[l->acc_tail].acc_next = child;
    l->acc_tail = child;
    l->ack_backlog++;
}

static void recv_listen(struct vep *ep, int lfd, const struct vsock_hdr *h)
{
    if (h->op != VSOCK_OP_REQUEST) {
        reply_rst(ep, h, VEP_DROP_BAD_OP);
        return;
    }
    /* Linux's vsock_assign_transport refuses the child when the transport
     * does not allow seqpacket, and the REQUEST is answered with RST. */
    if (ep->socks[lfd].type == VSOCK_TYPE_SEQPACKET && !ep->cfg.seqpacket) {
        reply_rst(ep, h, VEP_DROP_BAD_TYPE);
        return;
    }
    /* Linux's sk_acceptq_is_full is ack_backlog > max: one more than backlog fits. */
    if (ep->socks[lfd].ack_backlog > (uint32_t)ep->socks[lfd].backlog) {
        reply_rst(ep, h, VEP_DROP_BACKLOG);
        return;
    }
    int cfd = ep_sock_alloc(ep, ep->socks[lfd].type);
    if (cfd < 0) {
        reply_rst(ep, h, VEP_DROP_BACKLOG);
        return;
    }
    struct vep_sock *l = &ep->socks[lfd]; /* the slot array may have moved */
    struct vep_sock *c = &ep->socks[cfd];
    c->bound = true;
    c->is_child = true;
    c->ever_connected = true;
    c->local_port = l->local_port;
    c->peer_cid = h->src_cid;
    c->peer_port = h->src_port;
    c->buf_alloc = l->buf_alloc;
    c->rcvlowat = l->rcvlowat;
    c->parent = lfd;
    c->state = VEP_SS_CONNECTED;
    set_credit_baseline(c, h);
    ep_hash(ep, c);
    if (ep_send(ep, c, VSOCK_OP_RESPONSE, 0, NULL, 0, true) < 0) {
        ep_sock_free(ep, c); /* no RESPONSE, no connection: the peer times out */
        return;
    }
    accept_enqueue(ep, l, cfd);
    ep->ctr.connects++;
}

static void connect_failed(struct vep *ep, struct vep_sock *s, int err)
{
    ep_unhash(ep, s);
    s->state = VEP_SS_UNCONNECTED;
    s->err = err;
    ep_timer_disarm(ep, s);
}

static void recv_connecting(struct vep *ep, struct vep_sock *s, const struct vsock_hdr *h)
{
    switch (h->op) {
    case VSOCK_OP_RESPONSE:
        ep_set_state(ep, s, VEP_SS_CONNECTED);
        s->ever_connected = true;
        ep_timer_disarm(ep, s);
        set_credit_baseline(s, h);
        ep->ctr.connects++;
        return;
    case VSOCK_OP_INVALID:
        ep_drop(ep, VEP_DROP_BAD_OP);
        return;
    case VSOCK_OP_RST:
        ep->ctr.resets++;
        connect_failed(ep, s, ECONNRESET);
        return;
    default:
        ep_drop(ep, VEP_DROP_BAD_OP);
        ep_send(ep, s, VSOCK_OP_RST, 0, NULL, 0, true);
        connect_failed(ep, s, EPROTO);
        return;
    }
}

static void enqueue_rw(struct vep *ep, struct vep_sock *s, const struct vsock_hdr *h,
                       const uint8_t *payload, uint32_t len)
{
    if ((uint64_t)s->rx_bytes + len > s->buf_alloc) {
        ep_drop(ep, VEP_DROP_OVER_CREDIT);
        return;
    }
    struct vep_pkt *p = pkt_new(h, payload, len);
    if (p == NULL)
        return;
    s->rx_bytes += len;
    if (s->type == VSOCK_TYPE_SEQPACKET && (h->flags & VSOCK_SEQ_EOM))
        s->msg_count++;
    pktq_push(&s->rxq, p);
    ep->ctr.rx_bytes += len;
}

static void recv_shutdown(struct vep *ep, struct vep_sock *s, uint32_t flags)
{
    s->peer_shut |= flags & SHUT_BOTH;
    if (s->peer_shut == SHUT_BOTH && s->rx_bytes == 0 && !s->done) {
        ep_send(ep, s, VSOCK_OP_RST, 0, NULL, 0, false);
        ep_do_close(ep, s);
    }
}

static void recv_connected(struct vep *ep, struct vep_sock *s, const struct vsock_hdr *h,
                           const uint8_t *payload, uint32_t len)
{
    switch (h->op) {
    case VSOCK_OP_RW:
        enqueue_rw(ep, s, h, payload, len);
        return;
    case VSOCK_OP_CREDIT_REQUEST:
        ep_send(ep, s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, false);
        return;
    case VSOCK_OP_CREDIT_UPDATE:
        return; /* the credit fields were taken already */
    case VSOCK_OP_SHUTDOWN:
        recv_shutdown(ep, s, h->flags);
        return;
    case VSOCK_OP_RST:
        ep->ctr.resets++;
        ep_do_close(ep, s);
        return;
    default:
        ep_drop(ep, VEP_DROP_BAD_OP);
        return;
    }
}

static bool header_acceptable(struct vep *ep, const struct vsock_hdr *h, uint32_t len)
{
    if (h->len > ep->cfg.max_rx_payload) {
        ep_drop(ep, VEP_DROP_TOO_BIG);
        return false;
    }
    if (h->len != len) {
        ep_drop(ep, VEP_DROP_LEN_MISMATCH);
        return false;
    }
    if (ep->cfg.check_src_cid && h->src_cid != ep->cfg.peer_cid) {
        ep_drop(ep, VEP_DROP_SRC_CID);
        return false;
    }
    if (ep->cfg.check_dst_cid && h->dst_cid != ep->cfg.local_cid) {
        ep_drop(ep, VEP_DROP_DST_CID);
        return false;
    }
    if (h->type != VSOCK_TYPE_STREAM && h->type != VSOCK_TYPE_SEQPACKET) {
        reply_rst(ep, h, VEP_DROP_BAD_TYPE);
        return false;
    }
    return true;
}

void vep_rx(struct vep *ep, const struct vsock_hdr *h, const uint8_t *payload, uint32_t len,
            uint64_t now)
{
    (void)now;
    if (ep->cfg.observe_rx != NULL)
        ep->cfg.observe_rx(ep->cfg.observe_ctx, h, payload, len);
    ep->ctr.rx_pkts[h->op < 8 ? h->op : 0]++;
    if (ep->intercept != NULL) {
        ep->intercept(ep->intercept_ctx, h, payload, len);
        return;
    }
    if (!header_acceptable(ep, h, len))
        return;
    struct vep_sock *s = ep_lookup_rx(ep, h->dst_port, h->src_cid, h->src_port);
    if (s == NULL || s->done) {
        reply_rst(ep, h, VEP_DROP_NO_SOCKET);
        return;
    }
    if (s->type != h->type) {
        reply_rst(ep, h, VEP_DROP_BAD_TYPE);
        return;
    }
    update_peer_credit(ep, s, h);
    switch (s->state) {
    case VEP_SS_LISTEN:
        recv_listen(ep, ep_fd(ep, s), h);
        return;
    case VEP_SS_CONNECTING:
        recv_connecting(ep, s, h);
        return;
    case VEP_SS_CONNECTED:
        recv_connected(ep, s, h, payload, len);
        return;
    case VEP_SS_CLOSING:
        if (h->op == VSOCK_OP_RST)
            ep_do_close(ep, s);
        else
            ep_drop(ep, VEP_DROP_BAD_OP);
        return;
    default:
        reply_rst(ep, h, VEP_DROP_NO_SOCKET);
        return;
    }
}

void vep_set_rx_intercept(struct vep *ep, vep_intercept_fn fn, void *ctx)
{
    ep->intercept = fn;
    ep->intercept_ctx = ctx;
}
