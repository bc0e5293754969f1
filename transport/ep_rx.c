/* The endpoint's receive path: Linux's virtio_transport_recv_pkt and its
 * per-state handlers (net/vmw_vsock/virtio_transport_common.c; 6.1.192 and
 * 6.12.118 agree on everything here unless a comment names one). Every
 * packet ends in exactly one of: accepted, dropped with a counted reason, or
 * answered with RST (and counted). */
#include "transport/ep_ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- the skb geometry that decides small-packet coalescing ----
 * Linux copies an RW of at most GOOD_COPY_LEN bytes into the tailroom of
 * the last skb queued (virtio_transport_recv_enqueue). The tailroom is what
 * alloc_skb() left: the allocation is SKB_DATA_ALIGN(size) plus the aligned
 * skb_shared_info (320 bytes on x86-64), rounded up to a kmalloc size (or to
 * whole pages above 8 KiB), of which the header takes 44 bytes and the
 * payload len. vhost allocates each packet's skb for 44 + len bytes (6.1:
 * the tx chain's length, which our driver makes exactly that); the guest
 * receives into the buffers it posted (3776 bytes: a 4 KiB allocation).
 * 6.12 serves small heads from a 704-byte cache (skb_small_head_cache:
 * SKB_HEAD_ALIGN(max(MAX_TCP_HEADER, GRO_MAX_HEAD_PAD)) with Debian's
 * config) and gives packets above 32448 bytes a non-linear skb, which has
 * no tailroom. Proven on 6.1.192 by conformance/scripts/rx_coalesce_host.pkt
 * (a 100-byte packet takes 47 more bytes, not 48). */

#define SKB_SHINFO 320u /* SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) */
#define SKB_ALIGN(x) (((uint64_t)(x) + 63u) & ~(uint64_t)63u)
#define SKB_SMALL_HEAD_6_12 704u
#define SKB_LINEAR_MAX_6_12 (32768u - SKB_SHINFO) /* SKB_WITH_OVERHEAD(PAGE_SIZE << 3) */

static uint64_t kmalloc_size_roundup(uint64_t size)
{
    static const uint32_t caches[] = {8,   16,  32,   64,   96,   128, 192,
                                      256, 512, 1024, 2048, 4096, 8192};
    for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
        if (size <= caches[i])
            return caches[i];
    uint64_t pages = 4096;
    while (pages < size)
        pages <<= 1;
    return pages;
}

uint32_t ep_linux_rx_room(uint32_t alloc, uint32_t len, enum vsock_linux v)
{
    bool v612 = v == VSOCK_LINUX_6_12;
    if (v612 && alloc > SKB_LINEAR_MAX_6_12)
        return 0;
    uint64_t obj = SKB_ALIGN(alloc) + SKB_SHINFO;
    uint64_t size = v612 && obj <= SKB_SMALL_HEAD_6_12 ? SKB_SMALL_HEAD_6_12
                                                       : kmalloc_size_roundup(obj);
    uint64_t data = size - SKB_SHINFO;
    uint64_t used = (uint64_t)VSOCK_HDR_LEN + len;
    if (data <= used)
        return 0;
    return data - used > UINT32_MAX ? UINT32_MAX : (uint32_t)(data - used);
}

/* ---- credit ---- */

/* With the bad-credit deviation: a fwd_cnt that moves backwards or past what
 * we sent. A connecting socket's first packet and an RST (reset_no_sock
 * sends buf_alloc = fwd_cnt = 0) are never bad. */
static bool bad_credit(const struct vep_sock *s, const struct vsock_hdr *h)
{
    if (s->state == VEP_SS_CONNECTING || h->op == VSOCK_OP_RST)
        return false;
    uint32_t outstanding = s->tx_cnt - s->peer_fwd_cnt;
    uint32_t advance = h->fwd_cnt - s->peer_fwd_cnt;
    return advance > outstanding;
}

/* virtio_transport_space_update: every packet to a socket with a transport
 * (a listener has none) sets the peer's credit, taken as it comes. A
 * REQUEST or RESPONSE with fwd_cnt F leaves tx_cnt at 0, so 0 - F counts
 * as in flight and no credit is granted until the peer's fwd_cnt comes back
 * within what was sent. */
static void update_peer_credit(struct vep *ep, struct vep_sock *s, const struct vsock_hdr *h)
{
    if (s->state == VEP_SS_LISTEN)
        return;
    if (ep_deviates(ep, VSOCK_DEV_BAD_CREDIT) && bad_credit(s, h)) {
        ep_drop(ep, VEP_DROP_BAD_CREDIT);
        return;
    }
    s->peer_fwd_cnt = h->fwd_cnt;
    s->peer_buf_alloc = h->buf_alloc;
}

/* ---- listeners ---- */

static void accept_enqueue(struct vep *ep, struct vep_sock *l, int child)
{
    if (l->acc_tail == VEP_NONE)
        l->acc_head = child;
    else
        ep->socks[l->acc_tail].acc_next = child;
    l->acc_tail = child;
    l->ack_backlog++;
}

/* vsock_create_connected and virtio_transport_do_socket_init: the child takes
 * its listener's buffer size and bounds, not its SO_RCVLOWAT. */
static void child_init(struct vep_sock *c, const struct vep_sock *l, int lfd,
                       const struct vsock_hdr *h)
{
    c->bound = true;
    c->is_child = true;
    c->ever_connected = true;
    c->has_transport = true;
    c->local_port = l->local_port;
    c->peer_cid = h->src_cid;
    c->peer_port = h->src_port;
    c->buffer_size = l->buffer_size;
    c->buffer_min = l->buffer_min;
    c->buffer_max = l->buffer_max;
    c->buf_alloc = l->buffer_size > UINT32_MAX ? UINT32_MAX : (uint32_t)l->buffer_size;
    c->parent = lfd;
    c->state = VEP_SS_CONNECTED;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
}

static void recv_listen(struct vep *ep, int lfd, const struct vsock_hdr *h)
{
    if (h->op != VSOCK_OP_REQUEST) {
        reply_rst(ep, h, VEP_DROP_BAD_OP);
        return;
    }
    /* Linux's sk_acceptq_is_full is ack_backlog > max: one more than backlog fits. */
    if (ep->socks[lfd].ack_backlog > (uint32_t)ep->socks[lfd].backlog) {
        reply_rst(ep, h, VEP_DROP_BACKLOG);
        return;
    }
    /* Linux's vsock_assign_transport refuses the child when the transport
     * does not allow seqpacket, and the REQUEST is answered with RST. */
    if (ep->socks[lfd].type == VSOCK_TYPE_SEQPACKET && !ep->cfg.seqpacket) {
        reply_rst(ep, h, VEP_DROP_BAD_TYPE);
        return;
    }
    int cfd = ep_sock_alloc(ep, ep->socks[lfd].type);
    if (cfd < 0) {
        reply_rst(ep, h, VEP_DROP_BACKLOG);
        return;
    }
    struct vep_sock *l = &ep->socks[lfd]; /* the slot array may have moved */
    struct vep_sock *c = &ep->socks[cfd];
    child_init(c, l, lfd, h);
    ep_conn_insert(ep, c);
    if (ep_send(ep, c, VSOCK_OP_RESPONSE, 0, NULL, 0, true) < 0) {
        ep_sock_free(ep, c); /* no RESPONSE, no connection: the peer times out */
        return;
    }
    accept_enqueue(ep, l, cfd);
    ep->ctr.connects++;
}

/* ---- connecting sockets ---- */

/* TCP_CLOSE with an error; sock->state stays SS_CONNECTING (a second
 * non-blocking connect gets EALREADY), the socket stays bound. */
static void connect_failed(struct vep *ep, struct vep_sock *s, int err)
{
    s->state = VEP_SS_UNCONNECTED;
    s->err = err;
    ep_timer_disarm(ep, s);
}

static void recv_connecting(struct vep *ep, struct vep_sock *s, const struct vsock_hdr *h)
{
    switch (h->op) {
    case VSOCK_OP_RESPONSE:
        s->state = VEP_SS_CONNECTED;
        s->ever_connected = true;
        s->ss_connecting = false;
        ep_conn_insert(ep, s);
        ep_timer_disarm(ep, s);
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

/* ---- connected sockets ---- */

/* Whether the last queued packet can take len more bytes: Linux copies a
 * small packet into the last skb's tailroom unless that skb ends a
 * seqpacket message. */
static bool tail_takes(const struct vep_pkt *t, uint32_t len)
{
    return t != NULL && len <= VEP_GOOD_COPY_LEN && len < t->room &&
           !(t->hdr.flags & VSOCK_SEQ_EOM);
}

/* Copies len bytes into the queue's last packet, which grows (and may move). */
static bool tail_append(struct vep_pktq *q, const struct vsock_hdr *h, const uint8_t *payload,
                        uint32_t len)
{
    struct vep_pkt *t = q->tail;
    struct vep_pkt *n = realloc(t, sizeof(*t) + t->len + len);
    if (n == NULL)
        return false;
    if (n != t) {
        if (n->prev != NULL)
            n->prev->next = n;
        else
            q->head = n;
        q->tail = n;
    }
    if (len > 0)
        memcpy(n->data + n->len, payload, len);
    n->len += len;
    n->hdr.len += len;
    n->hdr.flags |= h->flags;
    n->room -= len;
    return true;
}

/* ---- Linux 6.12: the queue's skbs count against buf_alloc ----
 * Debian's 6.12.118 (virtio_transport_recv_enqueue, _inc_rx_pkt,
 * _collapse_rx_queue) refuses a packet when (queued skbs + 1) *
 * SKB_TRUESIZE(0) exceeds buf_alloc, besides the payload rule. Before that
 * it collapses the queue once it holds buf_alloc / SKB_TRUESIZE(0) skbs:
 * runs of unread packets that do not end a seqpacket message and hold less
 * than MAX_COLLAPSE_LEN are copied into new linear skbs of up to that
 * much, until enough skbs are gone. So many small seqpacket messages (each
 * ends one) or a buffer under two skbs' worth get RST and ENOBUFS. */

#define SKB_TRUESIZE0_6_12 576u    /* SKB_TRUESIZE(0), x86-64 */
#define MAX_COLLAPSE_LEN_6_12 32404u /* SKB_MAX_ORDER(44, 3): one order-3 page's data */

static bool collapsible(const struct vep_pkt *p)
{
    return p->off == 0 && !(p->hdr.flags & VSOCK_SEQ_EOM) && p->len < MAX_COLLAPSE_LEN_6_12;
}

/* virtio_transport_collapse_size: the bytes of p and the collapsible
 * packets after it that fit one collapsed skb. */
static uint32_t collapse_size(const struct vep_pkt *p)
{
    uint32_t target = p->len - p->off;
    for (const struct vep_pkt *q = p->next; q != NULL && collapsible(q); q = q->next) {
        uint32_t n = q->len - q->off;
        if (n > MAX_COLLAPSE_LEN_6_12 - target)
            return target;
        target += n;
    }
    return target;
}

/* A new, empty skb for size collapsed bytes, with p's header: its data has
 * room for what the allocation gives (the kmalloc or page rounding may
 * leave more than size). */
static struct vep_pkt *collapsed_new(const struct vep_pkt *p, uint32_t size)
{
    uint32_t room = ep_linux_rx_room(VSOCK_HDR_LEN + size, 0, VSOCK_LINUX_6_12);
    if (room < size)
        room = size;
    struct vep_pkt *n = malloc(sizeof(*n) + room);
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->hdr = p->hdr;
    n->hdr.len = 0;
    n->room = room;
    n->sock = VEP_NONE;
    return n;
}

static void collapsed_append(struct vep_pkt *n, const struct vep_pkt *p)
{
    uint32_t src = p->len - p->off;
    memcpy(n->data + n->len, p->data + p->off, src);
    n->len += src;
    n->hdr.len += src;
    n->hdr.flags |= p->hdr.flags;
    n->room -= src;
}

/* The packets of front go before the rest of q, in order. */
static void pktq_splice_front(struct vep_pktq *q, struct vep_pktq *front)
{
    if (front->head == NULL)
        return;
    front->tail->next = q->head;
    if (q->head != NULL)
        q->head->prev = front->tail;
    else
        q->tail = front->tail;
    q->head = front->head;
    q->count += front->count;
}

/* virtio_transport_collapse_rx_queue: merges packets until at least
 * min_to_free are gone (checked before each new collapsed skb, so the
 * last one is filled up); an allocation failure stops it, as in Linux.
 * Payload, unread bytes and messages are unchanged; each collapsed packet
 * counts in fwd_cnt once it is read to its end. */
static void collapse_rx_queue(struct vep_sock *s, uint32_t min_to_free)
{
    struct vep_pktq out = {0};
    struct vep_pkt *cur = NULL;
    int64_t saved = 0;
    while (s->rxq.head != NULL) {
        struct vep_pkt *p = s->rxq.head;
        uint32_t src = p->len - p->off;
        bool keep = !collapsible(p);
        if (!keep && cur != NULL && src > cur->room) {
            pktq_push(&out, cur); /* finalize: a right-sized one follows */
            cur = NULL;
            saved--;
        }
        if (keep) {
            if (cur != NULL) {
                pktq_push(&out, cur); /* before p: the order stays */
                cur = NULL;
                saved--;
            }
        } else if (cur == NULL) {
            if (saved >= (int64_t)min_to_free)
                break;
            uint32_t size = collapse_size(p);
            if (size <= src)
                keep = true; /* nothing to merge it with */
            else if ((cur = collapsed_new(p, size)) == NULL)
                break;
        }
        pktq_pop(&s->rxq);
        if (keep) {
            pktq_push(&out, p);
            continue;
        }
        collapsed_append(cur, p);
        free(p);
        saved++;
    }
    if (cur != NULL)
        pktq_push(&out, cur);
    pktq_splice_front(&s->rxq, &out);
}

/* 6.12's two limits on a packet about to be queued, after the collapse
 * made what room it could. */
static bool fits_6_12(struct vep_sock *s)
{
    uint32_t queue_max = s->buf_alloc / SKB_TRUESIZE0_6_12;
    if (s->rxq.count >= queue_max)
        collapse_rx_queue(s, s->rxq.count + 2 - queue_max);
    return ((uint64_t)s->rxq.count + 1) * SKB_TRUESIZE0_6_12 <= s->buf_alloc;
}

/* virtio_transport_recv_enqueue: false when the packet does not fit in
 * buf_alloc (or cannot be stored), which ends the connection. */
static bool enqueue_rw(struct vep *ep, struct vep_sock *s, const struct vsock_hdr *h,
                       const uint8_t *payload, uint32_t len)
{
    bool skbs_fit = !ep_linux_6_12(ep) || fits_6_12(s);
    if ((uint64_t)s->rx_bytes + len > s->buf_alloc || !skbs_fit)
        return false;
    if (tail_takes(s->rxq.tail, len)) {
        if (!tail_append(&s->rxq, h, payload, len))
            return false;
    } else {
        struct vep_pkt *p = pkt_new(h, payload, len);
        if (p == NULL)
            return false;
        uint32_t alloc = ep->cfg.rx_buf_size ? ep->cfg.rx_buf_size : VSOCK_HDR_LEN + len;
        p->room = ep_linux_rx_room(alloc, len, ep->cfg.linux_ver);
        pktq_push(&s->rxq, p);
    }
    s->rx_bytes += len;
    s->rx_unread += len;
    if (h->flags & VSOCK_SEQ_EOM)
        s->msg_count++;
    ep->ctr.rx_bytes += len;
    return true;
}

/* RW past our buffer: Linux resets the connection rather than lose data
 * (an RST with our credit fields, SO_ERROR ENOBUFS), and takes the socket
 * out of the connected table. */
static void rw_overflow(struct vep *ep, struct vep_sock *s)
{
    ep_drop(ep, VEP_DROP_OVER_CREDIT);
    ep_send(ep, s, VSOCK_OP_RST, 0, NULL, 0, true);
    s->err = ENOBUFS;
    ep_remove_sock(ep, s);
    ep_do_close(ep, s); /* last: it frees a released socket */
}

/* Both flags: with nothing left to read the socket answers RST and is done;
 * either way it leaves the connected table at once, so the peer may connect
 * again from the same port while the old socket is still open. */
static void recv_shutdown(struct vep *ep, struct vep_sock *s, uint32_t flags)
{
    s->peer_shut |= flags & SHUT_BOTH;
    if (s->peer_shut != SHUT_BOTH)
        return;
    ep_remove_sock(ep, s);
    if (ep_has_data(ep, s) == 0 && !s->done) {
        ep_send(ep, s, VSOCK_OP_RST, 0, NULL, 0, false);
        ep_do_close(ep, s); /* last: it frees a released socket */
    }
}

static void recv_connected(struct vep *ep, struct vep_sock *s, const struct vsock_hdr *h,
                           const uint8_t *payload, uint32_t len)
{
    switch (h->op) {
    case VSOCK_OP_RW:
        if (!enqueue_rw(ep, s, h, payload, len))
            rw_overflow(ep, s);
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

/* ---- every packet ---- */

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

/* vsock_check_source: a socket other than a listener takes packets only from
 * the peer it connected to (a bound socket that never connected has no
 * transport and takes none). */
static bool source_ok(const struct vep_sock *s, const struct vsock_hdr *h)
{
    return s->has_transport && h->src_port == s->peer_port && h->src_cid == s->peer_cid;
}

/* The connected table, else the bound one; then the checks that answer
 * with RST before any state sees the packet. NULL when it was answered. */
static struct vep_sock *find_socket(struct vep *ep, const struct vsock_hdr *h)
{
    struct vep_sock *s = ep_lookup_conn(ep, h->dst_port, h->src_cid, h->src_port);
    if (s == NULL)
        s = ep_lookup_bound(ep, h->dst_port);
    if (s == NULL) {
        reply_rst(ep, h, VEP_DROP_NO_SOCKET);
        return NULL;
    }
    if (s->type != h->type) {
        reply_rst(ep, h, VEP_DROP_BAD_TYPE);
        return NULL;
    }
    if (s->done) {
        reply_rst(ep, h, VEP_DROP_NO_SOCKET);
        return NULL;
    }
    if (s->state != VEP_SS_LISTEN && !source_ok(s, h)) {
        reply_rst(ep, h, VEP_DROP_BAD_SOURCE);
        return NULL;
    }
    return s;
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
    struct vep_sock *s = find_socket(ep, h);
    if (s == NULL)
        return;
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
