/* The endpoint's tables and queues: socket slots, the connection hash, packet
 * queues, the tx queue and timers. The socket API is in ep_socket.c and the
 * receive path in ep_rx.c. */
#include "transport/endpoint_internal.h"
#include "transport/ep_ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ---- */

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v != 0 ? v : def;
}

static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

struct vep *vep_new(const struct vep_cfg *cfg)
{
    struct vep *ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return NULL;
    ep->cfg = *cfg;
    ep->cfg.buf_alloc = or_default(cfg->buf_alloc, VEP_DEFAULT_BUF_ALLOC);
    ep->cfg.max_payload = or_default(cfg->max_payload, VEP_MAX_PKT_BUF_SIZE);
    ep->cfg.max_rx_payload = or_default(cfg->max_rx_payload, VEP_MAX_PKT_BUF_SIZE);
    ep->cfg.max_sockets = or_default(cfg->max_sockets, VEP_DEFAULT_MAX_SOCKETS);
    ep->cfg.max_replies = or_default(cfg->max_replies, VEP_DEFAULT_MAX_REPLIES);
    ep->cfg.max_sndbuf = or_default(cfg->max_sndbuf, VEP_DEFAULT_SNDBUF);
    if (cfg->connect_timeout_ns == 0)
        ep->cfg.connect_timeout_ns = VEP_DEFAULT_CONNECT_TIMEOUT_NS;
    if (cfg->close_timeout_ns == 0)
        ep->cfg.close_timeout_ns = VEP_DEFAULT_CLOSE_TIMEOUT_NS;

    uint32_t nb = 64;
    while (nb < ep->cfg.max_sockets / 2 && nb < (1u << 20))
        nb <<= 1;
    ep->conn_buckets = malloc(nb * sizeof(*ep->conn_buckets));
    ep->bound_buckets = malloc(nb * sizeof(*ep->bound_buckets));
    if (ep->conn_buckets == NULL || ep->bound_buckets == NULL) {
        free(ep->conn_buckets);
        free(ep->bound_buckets);
        free(ep);
        return NULL;
    }
    for (uint32_t i = 0; i < nb; i++)
        ep->conn_buckets[i] = ep->bound_buckets[i] = VEP_NONE;
    ep->bucket_mask = nb - 1;
    ep->next_deadline = UINT64_MAX;
    /* Linux starts ephemeral ports at a random point above the reserved ones;
     * ours comes from the seed. */
    ep->next_ephemeral =
        VSOCK_LAST_RESERVED_PORT + 1 + mix32(cfg->ephemeral_seed) % (0xfffffffeu - 1024u);
    return ep;
}

static void pktq_purge(struct vep_pktq *q)
{
    struct vep_pkt *p = q->head;
    while (p != NULL) {
        struct vep_pkt *n = p->next;
        free(p);
        p = n;
    }
    q->head = q->tail = NULL;
    q->count = 0;
}

void vep_free(struct vep *ep)
{
    if (ep == NULL)
        return;
    for (uint32_t i = 0; i < ep->nsocks; i++)
        pktq_purge(&ep->socks[i].rxq);
    pktq_purge(&ep->txq);
    free(ep->socks);
    free(ep->conn_buckets);
    free(ep->bound_buckets);
    free(ep);
}

void vep_set_local_cid(struct vep *ep, uint64_t cid)
{
    ep->cfg.local_cid = cid;
}

uint64_t vep_local_cid(const struct vep *ep)
{
    return ep->cfg.local_cid;
}

const struct vep_counters *vep_counters(const struct vep *ep)
{
    return &ep->ctr;
}

void ep_drop(struct vep *ep, enum vep_drop why)
{
    ep->ctr.drops[why]++;
}

/* ---- packet queues ---- */

struct vep_pkt *pkt_new(const struct vsock_hdr *h, const uint8_t *payload, uint32_t len)
{
    struct vep_pkt *p = malloc(sizeof(*p) + len);
    if (p == NULL)
        return NULL;
    memset(p, 0, sizeof(*p));
    p->next = p->prev = NULL;
    p->hdr = *h;
    p->hdr.len = len;
    p->len = len;
    p->sock = VEP_NONE;
    if (len > 0)
        memcpy(p->data, payload, len);
    return p;
}

void pktq_push(struct vep_pktq *q, struct vep_pkt *p)
{
    p->next = NULL;
    p->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
    q->count++;
}

struct vep_pkt *pktq_pop(struct vep_pktq *q)
{
    struct vep_pkt *p = q->head;
    if (p == NULL)
        return NULL;
    q->head = p->next;
    if (q->head == NULL)
        q->tail = NULL;
    else
        q->head->prev = NULL;
    q->count--;
    p->next = NULL;
    return p;
}

/* ---- socket slots ---- */

struct vep_sock *ep_sock(const struct vep *ep, int fd)
{
    if (fd < 0 || (uint32_t)fd >= ep->nsocks)
        return NULL;
    struct vep_sock *s = &ep->socks[fd];
    return s->state == VEP_SS_FREE ? NULL : s;
}

struct vep_sock *ep_user_sock(const struct vep *ep, int fd)
{
    struct vep_sock *s = ep_sock(ep, fd);
    return s != NULL && !s->released && s->parent == VEP_NONE ? s : NULL;
}

int ep_fd(const struct vep *ep, const struct vep_sock *s)
{
    return (int)(s - ep->socks);
}

static int grow_slots(struct vep *ep)
{
    uint32_t cap = ep->cap ? ep->cap * 2 : 16;
    if (cap > ep->cfg.max_sockets)
        cap = ep->cfg.max_sockets;
    struct vep_sock *n = realloc(ep->socks, cap * sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    ep->socks = n;
    ep->cap = cap;
    return 0;
}

int ep_sock_alloc(struct vep *ep, int type)
{
    uint32_t slot = 0;
    while (slot < ep->nsocks && ep->socks[slot].state != VEP_SS_FREE)
        slot++;
    if (slot == ep->nsocks) {
        if (ep->nsocks == ep->cfg.max_sockets)
            return -EMFILE;
        if (ep->nsocks == ep->cap && grow_slots(ep) < 0)
            return -ENOMEM;
        ep->nsocks++;
    }
    struct vep_sock *s = &ep->socks[slot];
    memset(s, 0, sizeof(*s));
    s->state = VEP_SS_UNCONNECTED;
    s->type = type;
    s->cnext = s->bnext = s->acc_head = s->acc_tail = s->acc_next = s->parent = VEP_NONE;
    s->buffer_size = ep->cfg.buf_alloc;
    s->buffer_min = VEP_BUF_SIZE_MIN;
    s->buffer_max = VEP_BUF_SIZE_MAX;
    if (s->buffer_max < s->buffer_size)
        s->buffer_max = s->buffer_size; /* a configured default above Linux's maximum */
    s->buf_alloc = ep->cfg.buf_alloc;
    s->rcvlowat = 1;
    s->gen = ++ep->next_gen;
    return (int)slot;
}

/* Packets still queued for sending no longer count against a freed socket. */
static void detach_tx(struct vep *ep, int fd)
{
    for (struct vep_pkt *p = ep->txq.head; p != NULL; p = p->next)
        if (p->sock == fd)
            p->sock = VEP_NONE;
}

void ep_sock_free(struct vep *ep, struct vep_sock *s)
{
    int fd = ep_fd(ep, s);
    ep_conn_remove(ep, s);
    ep_bound_remove(ep, s);
    pktq_purge(&s->rxq);
    detach_tx(ep, fd);
    ep_timer_disarm(ep, s);
    s->state = VEP_SS_FREE;
    while (ep->nsocks > 0 && ep->socks[ep->nsocks - 1].state == VEP_SS_FREE)
        ep->nsocks--;
}

/* ---- Linux's tables ----
 * Packets find their socket as virtio_transport_recv_pkt does: in the
 * connected table by (local port, peer CID, peer port), else in the bound
 * table by local port. Accepted sockets are only in the first, listeners,
 * connecting and unconnected bound sockets only in the second, a connected
 * client in both. Only lookups use the hashes: nothing iterates them. */

static uint32_t key_hash(const struct vep *ep, uint32_t lport, uint64_t pcid, uint32_t pport)
{
    uint32_t h = mix32(lport ^ 0x9e3779b9u);
    h = mix32(h ^ (uint32_t)pcid ^ (uint32_t)(pcid >> 32));
    h = mix32(h ^ pport);
    return h & ep->bucket_mask;
}

static uint32_t port_hash(const struct vep *ep, uint32_t lport)
{
    return mix32(lport ^ 0x85ebca6bu) & ep->bucket_mask;
}

/* Unlinks fd from the chain starting at *link: the connected table's or the bound one's. */
static void chain_unlink(struct vep *ep, int *link, int fd, bool conn)
{
    while (*link != VEP_NONE && *link != fd)
        link = conn ? &ep->socks[*link].cnext : &ep->socks[*link].bnext;
    if (*link == fd)
        *link = conn ? ep->socks[fd].cnext : ep->socks[fd].bnext;
}

void ep_conn_insert(struct vep *ep, struct vep_sock *s)
{
    if (s->in_conn)
        return;
    uint32_t b = key_hash(ep, s->local_port, s->peer_cid, s->peer_port);
    s->cnext = ep->conn_buckets[b];
    ep->conn_buckets[b] = ep_fd(ep, s);
    s->in_conn = true;
}

void ep_conn_remove(struct vep *ep, struct vep_sock *s)
{
    if (!s->in_conn)
        return;
    uint32_t b = key_hash(ep, s->local_port, s->peer_cid, s->peer_port);
    chain_unlink(ep, &ep->conn_buckets[b], ep_fd(ep, s), true);
    s->cnext = VEP_NONE;
    s->in_conn = false;
}

void ep_bound_insert(struct vep *ep, struct vep_sock *s)
{
    if (s->in_bound)
        return;
    uint32_t b = port_hash(ep, s->local_port);
    s->bnext = ep->bound_buckets[b];
    ep->bound_buckets[b] = ep_fd(ep, s);
    s->in_bound = true;
}

void ep_bound_remove(struct vep *ep, struct vep_sock *s)
{
    if (!s->in_bound)
        return;
    chain_unlink(ep, &ep->bound_buckets[port_hash(ep, s->local_port)], ep_fd(ep, s), false);
    s->bnext = VEP_NONE;
    s->in_bound = false;
}

void ep_remove_sock(struct vep *ep, struct vep_sock *s)
{
    if (s->released)
        ep_bound_remove(ep, s);
    ep_conn_remove(ep, s);
}

struct vep_sock *ep_lookup_conn(const struct vep *ep, uint32_t lport, uint64_t pcid,
                                uint32_t pport)
{
    for (int fd = ep->conn_buckets[key_hash(ep, lport, pcid, pport)]; fd != VEP_NONE;
         fd = ep->socks[fd].cnext) {
        struct vep_sock *s = &ep->socks[fd];
        if (s->local_port == lport && s->peer_cid == pcid && s->peer_port == pport)
            return s;
    }
    return NULL;
}

struct vep_sock *ep_lookup_bound(const struct vep *ep, uint32_t lport)
{
    for (int fd = ep->bound_buckets[port_hash(ep, lport)]; fd != VEP_NONE;
         fd = ep->socks[fd].bnext)
        if (ep->socks[fd].local_port == lport)
            return &ep->socks[fd];
    return NULL;
}

/* A port is taken while a socket bound to it is in the bound table (Linux's
 * __vsock_find_bound_socket): until it is freed, or, once released, taken
 * out by the peer's SHUTDOWN. */
bool ep_port_in_use(const struct vep *ep, uint32_t port)
{
    return ep_lookup_bound(ep, port) != NULL;
}

/* ---- the tx queue ---- */

int ep_queue(struct vep *ep, struct vep_pkt *p, bool reply)
{
    if (reply && ep->tx_replies >= ep->cfg.max_replies) {
        ep_drop(ep, VEP_DROP_REPLY_LIMIT);
        free(p);
        return -ENOBUFS;
    }
    p->reply = reply;
    if (reply)
        ep->tx_replies++;
    ep->ctr.tx_bytes += p->len;
    pktq_push(&ep->txq, p);
    if (ep->cfg.tx_queued != NULL)
        ep->cfg.tx_queued(ep->cfg.tx_queued_ctx);
    return 0;
}

/* A packet on socket s: our own CID as source, credit fields from s. */
int ep_send(struct vep *ep, struct vep_sock *s, uint16_t op, uint32_t flags,
            const uint8_t *payload, uint32_t len, bool reply)
{
    struct vsock_hdr h = {
        .src_cid = ep->cfg.local_cid,
        .dst_cid = s->peer_cid,
        .src_port = s->local_port,
        .dst_port = s->peer_port,
        .type = (uint16_t)s->type,
        .op = op,
        .flags = flags,
        .buf_alloc = s->buf_alloc,
        .fwd_cnt = s->fwd_cnt,
    };
    struct vep_pkt *p = pkt_new(&h, payload, len);
    if (p == NULL)
        return -ENOMEM;
    s->last_fwd_cnt = s->fwd_cnt;
    if (op == VSOCK_OP_RW) {
        p->sock = ep_fd(ep, s);
        s->tx_cnt += len;
        s->tx_queued += len;
        s->unsent += len; /* virtio_transport_get_credit (6.12) */
    }
    return ep_queue(ep, p, reply);
}

bool vep_tx_peek(const struct vep *ep, struct vep_tx *out)
{
    const struct vep_pkt *p = ep->txq.head;
    if (p == NULL)
        return false;
    out->hdr = p->hdr;
    out->hdr.len = p->len - p->off;
    out->payload = p->data + p->off;
    out->is_reply = p->reply;
    out->owner = 0;
    if (p->sock != VEP_NONE)
        out->owner = (uint64_t)ep->socks[p->sock].gen << 32 | (uint32_t)(p->sock + 1);
    return true;
}

void vep_tx_reclaimed(struct vep *ep, uint64_t owner, uint32_t bytes)
{
    uint32_t slot = (uint32_t)owner;
    if (slot == 0 || slot > ep->nsocks)
        return;
    struct vep_sock *s = &ep->socks[slot - 1];
    if (s->state == VEP_SS_FREE || s->gen != (uint32_t)(owner >> 32))
        return; /* the socket is gone: nobody asks any more */
    s->unsent -= bytes < s->unsent ? bytes : s->unsent;
}

int vep_tx_inject(struct vep *ep, const struct vsock_hdr *hdr, const uint8_t *payload,
                  uint32_t len)
{
    if (ep->tx_injected >= ep->cfg.max_replies)
        return -ENOBUFS;
    struct vep_pkt *p = pkt_new(hdr, payload, len);
    if (p == NULL)
        return -ENOMEM;
    p->injected = true;
    ep->tx_injected++;
    pktq_push(&ep->txq, p);
    return 0;
}

void vep_tx_advance(struct vep *ep, uint32_t n)
{
    struct vep_pkt *p = ep->txq.head;
    if (p == NULL)
        return;
    p->off = n >= p->len - p->off ? p->len : p->off + n;
    if (p->off < p->len)
        return;
    pktq_pop(&ep->txq);
    if (p->reply)
        ep->tx_replies--;
    if (p->injected)
        ep->tx_injected--;
    if (p->sock != VEP_NONE) {
        struct vep_sock *s = &ep->socks[p->sock];
        s->tx_queued -= p->len;
        /* vhost: the skb is sent once its last byte is in the guest's
         * buffers (vhost_transport_do_send_pkt). */
        if (!ep->cfg.unsent_until_reclaimed)
            s->unsent -= p->len < s->unsent ? p->len : s->unsent;
    }
    ep->ctr.tx_pkts[p->hdr.op < 8 ? p->hdr.op : 0]++;
    free(p);
}

uint32_t vep_tx_queued_pkts(const struct vep *ep)
{
    return ep->txq.count;
}

uint32_t vep_tx_queued_replies(const struct vep *ep)
{
    return ep->tx_replies;
}

/* Drops the packets a socket queued but never sent (Linux's cancel_pkt on a
 * connect timeout). */
void ep_cancel_tx(struct vep *ep, struct vep_sock *s)
{
    int fd = ep_fd(ep, s);
    struct vep_pkt **link = &ep->txq.head;
    struct vep_pkt *prev = NULL;
    while (*link != NULL) {
        struct vep_pkt *p = *link;
        bool mine = p->hdr.src_port == s->local_port && p->hdr.dst_port == s->peer_port &&
                    p->hdr.dst_cid == s->peer_cid && p->off == 0 && !p->injected;
        if (!mine) {
            prev = p;
            link = &p->next;
            continue;
        }
        *link = p->next;
        if (ep->txq.tail == p)
            ep->txq.tail = prev;
        ep->txq.count--;
        if (p->reply)
            ep->tx_replies--;
        if (p->sock == fd)
            s->tx_queued -= p->len;
        free(p);
    }
}

/* ---- timers ----
 * The earliest armed deadline is kept in ep->next_deadline: a scheduler
 * asks for it at every step, while timers change state rarely. Only these
 * functions write a socket's timer, so the value is always exact. */

static void timers_recompute(struct vep *ep)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < ep->nsocks; i++) {
        const struct vep_sock *s = &ep->socks[i];
        if (s->state != VEP_SS_FREE && s->timer != VEP_TIMER_NONE && s->deadline < next)
            next = s->deadline;
    }
    ep->next_deadline = next;
}

void ep_timer_arm(struct vep *ep, struct vep_sock *s, enum vep_timer t, uint64_t deadline)
{
    bool rearmed = s->timer != VEP_TIMER_NONE;
    s->timer = t;
    s->deadline = deadline;
    if (rearmed)
        timers_recompute(ep); /* its old deadline may have been the earliest */
    else if (deadline < ep->next_deadline)
        ep->next_deadline = deadline;
}

void ep_timer_disarm(struct vep *ep, struct vep_sock *s)
{
    if (s->timer == VEP_TIMER_NONE)
        return;
    s->timer = VEP_TIMER_NONE;
    timers_recompute(ep);
}

void vep_tick(struct vep *ep, uint64_t now)
{
    if (ep->next_deadline > now)
        return; /* no armed timer is due */
    for (uint32_t i = 0; i < ep->nsocks; i++) {
        struct vep_sock *s = &ep->socks[i];
        if (s->state == VEP_SS_FREE || s->timer == VEP_TIMER_NONE || s->deadline > now)
            continue;
        enum vep_timer t = s->timer;
        ep_timer_disarm(ep, s);
        if (t == VEP_TIMER_CONNECT)
            ep_connect_timeout(ep, s);
        else
            ep_close_timeout(ep, s);
    }
}

uint64_t vep_next_deadline(const struct vep *ep)
{
    return ep->next_deadline;
}

uint32_t vep_conns(const struct vep *ep, struct vep_conn_info *out, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ep->nsocks; i++) {
        const struct vep_sock *s = &ep->socks[i];
        if (s->state == VEP_SS_FREE)
            continue;
        if (n < max)
            out[n] = (struct vep_conn_info){
                .fd = (int)i,
                .released = s->released,
                .state = s->state,
                .type = s->type,
                .local_port = s->local_port,
                .peer_cid = s->peer_cid,
                .peer_port = s->peer_port,
                .buf_alloc = s->buf_alloc,
                .fwd_cnt = s->fwd_cnt,
                .peer_buf_alloc = s->peer_buf_alloc,
                .peer_fwd_cnt = s->peer_fwd_cnt,
                .tx_cnt = s->tx_cnt,
                .rx_queued = s->rx_bytes,
                .peer_shutdown = s->peer_shut,
                .local_shutdown = s->shut,
            };
        n++;
    }
    return n;
}
