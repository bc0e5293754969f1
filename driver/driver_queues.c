/* The three queues: rx (buffers in, packets to the socket layer), tx (packets
 * from the socket layer out, with back-pressure) and event (TRANSPORT_RESET).
 * Everything the device wrote (used entries, lengths, headers, event ids) is
 * hostile: each bad value has a defined outcome and a counter. */
#include "driver/driver_priv.h"

#include <string.h>

/* ---- slots and kicks ------------------------------------------------------- */

static struct vdrv_buf *pool_take(struct vdrv_pool *p)
{
    if (p->nfree == 0)
        return NULL;
    return &p->buf[p->free[--p->nfree]];
}

void vdrv_buf_put(struct vdrv_buf *b)
{
    /* A slot is in exactly one place (ring or pool), so the stack cannot
     * overflow; the check keeps a bookkeeping bug from writing past it. */
    struct vdrv_pool *p = b->owner;
    if (p->nfree < p->nslots)
        p->free[p->nfree++] = b->index;
}

static void note_kick(struct vdrv *drv, enum vsock_vq q)
{
    if (vqd_kick_prepare(&drv->vq[q]))
        drv->kicks |= 1u << q;
}

static void mark_broken(struct vdrv *drv)
{
    drv->broken = true;
    drv->kicks = 0; /* a broken driver touches the device no more */
}

/* ---- used entries ------------------------------------------------------------ */

struct drain_ops {
    enum vsock_vq q;
    void (*complete)(struct vdrv *drv, const struct vq_used_entry *u, uint64_t now);
    bool (*stop)(const struct vdrv *drv); /* NULL: never */
};

enum drain_end { DRAIN_EMPTY, DRAIN_STOPPED, DRAIN_BROKEN, DRAIN_BUDGET };

/* A bad id costs only its entry (the ring consumed it, the chain it should
 * have named stays in flight), so the queue goes on. A used idx running past
 * the chains in flight means nothing in the used ring can be trusted again:
 * like Linux's BAD_RING, the driver stops using the device. */
static bool note_bad_used(struct vdrv *drv, int err)
{
    drv->ctr.bad_used++;
    if (err == RING_E_USED_ID)
        return false;
    mark_broken(drv);
    return true;
}

static enum drain_end drain(struct vdrv *drv, const struct drain_ops *ops, uint64_t now,
                            uint32_t *budget)
{
    struct vq_used_entry u;
    for (;;) {
        if (ops->stop != NULL && ops->stop(drv))
            return DRAIN_STOPPED;
        if (*budget == 0)
            return DRAIN_BUDGET;
        int r = vqd_get_used(&drv->vq[ops->q], &u);
        if (r == 0)
            return DRAIN_EMPTY;
        (*budget)--;
        if (r < 0) {
            if (note_bad_used(drv, r))
                return DRAIN_BROKEN;
            continue;
        }
        ops->complete(drv, &u, now);
    }
}

/* Linux's pattern: interrupts off while draining, on again after, and drain
 * once more if entries slipped in between. A device can have at most num
 * entries pending (the ring refuses a used idx further ahead), so the budget
 * of twice that is never reached in step with us; it only stops a device
 * that keeps completing from another thread from holding the driver here. */
static enum drain_end service(struct vdrv *drv, const struct drain_ops *ops, uint64_t now)
{
    struct vq_driver *vq = &drv->vq[ops->q];
    uint32_t budget = 2 * vq->num;
    enum drain_end end;
    do {
        vqd_disable_cb(vq);
        end = drain(drv, ops, now, &budget);
    } while (end == DRAIN_EMPTY && !vqd_enable_cb(vq));
    if (end == DRAIN_BUDGET)
        (void)vqd_enable_cb(vq); /* the rest waits for the next interrupt */
    return end;
}

/* ---- rx ------------------------------------------------------------------------ */

static bool post_rx(struct vdrv *drv)
{
    struct vdrv_pool *p = &drv->pool[VSOCK_VQ_RX];
    struct vdrv_buf *b = pool_take(p);
    if (b == NULL)
        return false;
    struct vq_seg seg = {.gpa = b->gpa, .len = b->cap};
    if (vqd_add(&drv->vq[VSOCK_VQ_RX], &seg, 0, 1, b, VQ_ADD_AUTO) != RING_OK) {
        vdrv_buf_put(b);
        return false;
    }
    drv->rx_buf_nr++;
    drv->ctr.rx_bufs_posted++;
    return true;
}

void vdrv_fill_rx(struct vdrv *drv)
{
    if (drv->broken)
        return;
    while (post_rx(drv))
        ;
    if (drv->rx_buf_nr > drv->rx_buf_max_nr)
        drv->rx_buf_max_nr = drv->rx_buf_nr;
    note_kick(drv, VSOCK_VQ_RX);
}

static void rx_deliver(struct vdrv *drv, const struct vdrv_buf *b, const struct vq_used_entry *u,
                       uint64_t now)
{
    uint32_t cap = u->capacity < b->cap ? u->capacity : b->cap;
    if (u->len < VSOCK_HDR_LEN) {
        drv->ctr.rx_bad_len++;
        vep_rx_runt(drv->ep);
        return;
    }
    if (u->len > cap) {
        /* The device claims bytes it cannot have written: none of them is
         * trusted, as Linux drops such a packet whole. */
        drv->ctr.rx_bad_len++;
        return;
    }
    struct vsock_hdr h;
    vsock_hdr_decode(b->hva, &h);
    drv->ctr.rx_pkts++;
    uint32_t came = u->len - VSOCK_HDR_LEN;
    if (h.len < came) {
        /* Linux's rx work takes hdr.len bytes of a buffer the device says
         * holds more (1.3's 5.10.6: only the first len bytes are data). */
        drv->ctr.rx_len_slack++;
        came = h.len;
    }
    /* The endpoint checks hdr.len against the bytes that came (more than
     * came is Linux's drop, counted there), the CIDs, the op and the type. */
    vep_rx(drv->ep, &h, b->hva + VSOCK_HDR_LEN, came, now);
}

static void rx_complete(struct vdrv *drv, const struct vq_used_entry *u, uint64_t now)
{
    struct vdrv_buf *b = u->token;
    drv->rx_buf_nr--;
    rx_deliver(drv, b, u, now);
    vdrv_buf_put(b);
}

/* Linux's virtio_transport_more_replies: every reply rx provokes (the
 * RESPONSE to a REQUEST, an RST to a packet no socket takes: the packets
 * Linux marks virtio_vsock_skb_reply) waits for tx; once rx_pause_replies
 * wait (the rx ring size, by Linux's rule), rx stops until tx drains them,
 * so a device flooding requests while it withholds tx completions cannot
 * make the guest queue replies without bound. */
static bool rx_replies_full(const struct vdrv *drv)
{
    return vep_tx_queued_replies(drv->ep) >= drv->rx_pause_replies;
}

/* Linux refills at rx_buf_nr < rx_buf_max_nr / 2; rounding up keeps the
 * same threshold for every even queue size and still refills a one-entry
 * queue, which Linux's rule would leave empty for ever. */
static bool rx_needs_refill(const struct vdrv *drv)
{
    return drv->rx_buf_nr < (drv->rx_buf_max_nr + 1) / 2;
}

void vdrv_handle_rx(struct vdrv *drv, uint64_t now)
{
    static const struct drain_ops ops = {VSOCK_VQ_RX, rx_complete, rx_replies_full};
    if (drv->broken)
        return;
    enum drain_end end = service(drv, &ops, now);
    if (end == DRAIN_BROKEN)
        return;
    bool was_paused = drv->rx_paused;
    /* Paused, rx interrupts stay off (as in Linux): tx restarts rx. */
    drv->rx_paused = end == DRAIN_STOPPED;
    if (drv->rx_paused && !was_paused)
        drv->ctr.rx_paused++;
    if (rx_needs_refill(drv))
        vdrv_fill_rx(drv);
}

/* ---- tx ------------------------------------------------------------------------ */

static void tx_complete(struct vdrv *drv, const struct vq_used_entry *u, uint64_t now)
{
    (void)now;
    /* A tx used len carries nothing (vhost writes 0): only the slot matters,
     * and whose bytes it held (virtio_transport_tx_work consumes the skb:
     * they no longer count as unsent). */
    struct vdrv_buf *b = u->token;
    if (b->sender != 0)
        vep_tx_reclaimed(drv->ep, b->sender, b->sent);
    vdrv_buf_put(b);
}

static void tx_build(struct vdrv_buf *b, const struct vep_tx *t, uint32_t part,
                     struct vsock_hdr *out)
{
    struct vsock_hdr h = t->hdr;
    h.len = part;
    /* A seqpacket message ends with its last part, so only that part may
     * carry the end-of-message and end-of-record marks. */
    if (part < t->hdr.len && h.type == VSOCK_TYPE_SEQPACKET)
        h.flags &= ~(uint32_t)(VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
    vsock_hdr_encode(&h, b->hva);
    if (part > 0)
        memcpy(b->hva + VSOCK_HDR_LEN, t->payload, part);
    *out = h;
}

unsigned vdrv_linux_tx_frags(enum vsock_linux v, uint32_t payload, uint32_t *frags,
                             unsigned max)
{
    enum { PAGE = 4096, LINEAR_MAX = 32768 - 320 - VSOCK_HDR_LEN };
    if (payload == 0 || max == 0)
        return 0;
    if (v != VSOCK_LINUX_6_12 || payload <= LINEAR_MAX) {
        frags[0] = payload;
        return 1;
    }
    unsigned n = 0, order = 3; /* PAGE_ALLOC_COSTLY_ORDER */
    for (uint32_t rest = payload; rest > 0;) {
        if (n + 1 == max) {
            frags[n++] = rest;
            break;
        }
        uint64_t aligned = ((uint64_t)rest + PAGE - 1) / PAGE * PAGE;
        while (order > 0 && aligned < ((uint64_t)PAGE << order))
            order--;
        uint32_t chunk = rest < ((uint32_t)PAGE << order) ? rest : (uint32_t)PAGE << order;
        frags[n++] = chunk;
        rest -= chunk;
    }
    return n;
}

static int tx_add(struct vdrv *drv, struct vdrv_buf *b, uint32_t part)
{
    struct vq_driver *vq = &drv->vq[VSOCK_VQ_TX];
    struct vq_seg segs[VDRV_TX_SEGS_6_12];
    uint32_t frags[VDRV_TX_FRAGS_MAX];
    unsigned nfrags = vdrv_linux_tx_frags(drv->linux_6_12 ? VSOCK_LINUX_6_12 : VSOCK_LINUX_6_1,
                                          part, frags, drv->plan.tx_segs - 1);
    segs[0] = (struct vq_seg){b->gpa, VSOCK_HDR_LEN};
    uint64_t at = b->gpa + VSOCK_HDR_LEN;
    for (unsigned i = 0; i < nfrags; i++) {
        segs[1 + i] = (struct vq_seg){at, frags[i]};
        at += frags[i];
    }
    unsigned n = 1 + nfrags;
    if (n > vq->num) {
        /* No chain may be longer than the queue size, an indirect table's
         * entries included (2.7.5.3.1); header and payload are contiguous
         * in the slot, and VERSION_1 lets any layout carry a message, so
         * fewer descriptors take the same bytes: header and payload, or
         * one descriptor on a one-entry ring. */
        n = vq->num < 2 ? 1 : 2;
        segs[n - 1].len = (uint32_t)(b->gpa + VSOCK_HDR_LEN + part - segs[n - 1].gpa);
    }
    return vqd_add(vq, segs, n, 0, b, VQ_ADD_AUTO);
}

/* A slot for part payload bytes: a small one when it fits, else a large one
 * (which takes a small packet too when the small ones are all out). */
static struct vdrv_buf *take_tx_slot(struct vdrv *drv, uint32_t part)
{
    struct vdrv_buf *b = NULL;
    if (part <= drv->plan.tx_small_payload)
        b = pool_take(&drv->pool[VSOCK_VQ_TX]);
    return b != NULL ? b : pool_take(&drv->tx_large);
}

/* 1 when a packet (or part of one) went onto the ring, 0 when the endpoint
 * has nothing to send, a ring error when it must wait. */
static int tx_send_one(struct vdrv *drv)
{
    struct vep_tx t;
    if (!vep_tx_peek(drv->ep, &t))
        return 0;
    uint32_t part = t.hdr.len < drv->plan.tx_max_payload ? t.hdr.len : drv->plan.tx_max_payload;
    if (part > 0 && t.payload == NULL)
        return RING_E_INVAL; /* the endpoint broke its contract: send nothing */
    struct vdrv_buf *b = take_tx_slot(drv, part);
    if (b == NULL)
        return RING_E_FULL;
    struct vsock_hdr h;
    tx_build(b, &t, part, &h);
    b->sender = t.owner;
    b->sent = part;
    int err = tx_add(drv, b, part);
    if (err != RING_OK) {
        vdrv_buf_put(b);
        return err;
    }
    if (drv->tx_observer != NULL)
        drv->tx_observer(drv->tx_observer_ctx, &h);
    vep_tx_advance(drv->ep, part);
    drv->ctr.tx_pkts++;
    return 1;
}

/* Each packet sent takes a slot, so the loop ends after at most one pass
 * over the tx slots whatever the endpoint does. */
static void tx_send_pending(struct vdrv *drv)
{
    bool added = false;
    int r;
    while ((r = tx_send_one(drv)) == 1)
        added = true;
    if (r == RING_E_FULL)
        drv->ctr.tx_ring_full++; /* back-pressure: the rest waits in the endpoint */
    if (added)
        note_kick(drv, VSOCK_VQ_TX);
}

/* Linux 6.12's virtio_transport_send_pkt: a packet nothing waits before
 * goes onto the ring now, kicked on its own; with no room it waits for tx
 * work (and a reply then counts towards the rx pause). */
void vdrv_tx_fast_path(void *ctx)
{
    struct vdrv *drv = ctx;
    if (drv->broken || vep_tx_queued_pkts(drv->ep) != 1)
        return;
    int r = tx_send_one(drv);
    if (r == 1)
        note_kick(drv, VSOCK_VQ_TX);
    else if (r == RING_E_FULL)
        drv->ctr.tx_ring_full++;
}

void vdrv_handle_tx(struct vdrv *drv, uint64_t now)
{
    static const struct drain_ops ops = {VSOCK_VQ_TX, tx_complete, NULL};
    if (drv->broken)
        return;
    if (service(drv, &ops, now) == DRAIN_BROKEN)
        return;
    tx_send_pending(drv);
    if (drv->rx_paused && !rx_replies_full(drv))
        vdrv_handle_rx(drv, now);
}

/* ---- events ---------------------------------------------------------------------- */

static bool post_event(struct vdrv *drv, struct vdrv_buf *b)
{
    /* All ones is no event id: a device that claims a write it never made
     * reads as a bad event, not as the previous event again (nor as zero,
     * which is TRANSPORT_RESET). */
    memset(b->hva, 0xff, b->cap);
    struct vq_seg seg = {.gpa = b->gpa, .len = b->cap};
    return vqd_add(&drv->vq[VSOCK_VQ_EVENT], &seg, 0, 1, b, VQ_ADD_AUTO) == RING_OK;
}

void vdrv_fill_events(struct vdrv *drv)
{
    if (drv->broken)
        return;
    struct vdrv_pool *p = &drv->pool[VSOCK_VQ_EVENT];
    struct vdrv_buf *b;
    while ((b = pool_take(p)) != NULL) {
        if (!post_event(drv, b)) {
            vdrv_buf_put(b);
            break;
        }
    }
    note_kick(drv, VSOCK_VQ_EVENT);
}

void vdrv_update_cid(struct vdrv *drv)
{
    uint64_t cid = drv->read_cid(drv->read_cid_ctx);
    if (!vdrv_cid_valid(cid)) {
        /* Linux would adopt it; a reserved CID would make every packet we
         * send invalid, so the last valid one stays. */
        drv->ctr.bad_cid++;
        return;
    }
    drv->guest_cid = cid;
    vep_set_local_cid(drv->ep, cid);
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Linux accepts exactly 4 bytes; any length that covers the id and stays
 * inside the buffer is taken here, since the padding carries nothing. */
static bool event_is_reset(const struct vdrv_buf *b, const struct vq_used_entry *u)
{
    uint32_t cap = u->capacity < b->cap ? u->capacity : b->cap;
    return u->len >= 4 && u->len <= cap && load_le32(b->hva) == VSOCK_EVENT_TRANSPORT_RESET;
}

static void event_complete(struct vdrv *drv, const struct vq_used_entry *u, uint64_t now)
{
    (void)now;
    struct vdrv_buf *b = u->token;
    drv->ctr.events++;
    if (event_is_reset(b, u)) {
        /* As Linux: the new CID first, then every connection reset;
         * listeners stay. */
        vdrv_update_cid(drv);
        vep_reset_all(drv->ep);
        drv->ctr.transport_resets++;
    } else {
        drv->ctr.bad_events++;
    }
    if (!post_event(drv, b))
        vdrv_buf_put(b);
}

void vdrv_handle_event(struct vdrv *drv, uint64_t now)
{
    static const struct drain_ops ops = {VSOCK_VQ_EVENT, event_complete, NULL};
    if (drv->broken)
        return;
    if (service(drv, &ops, now) != DRAIN_BROKEN)
        note_kick(drv, VSOCK_VQ_EVENT);
}

void vdrv_interrupt(struct vdrv *drv, uint64_t now)
{
    vdrv_handle_rx(drv, now);
    vdrv_handle_tx(drv, now);
    vdrv_handle_event(drv, now);
}
