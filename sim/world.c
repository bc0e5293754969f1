/* The world: construction of the whole stack over one guest-memory buffer,
 * the notification plumbing between driver and device, and the cross-layer
 * invariant oracle. See sim/world.h for the contract. */
#include "sim/world.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORLD_PAGE 4096u
#define SHUT_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

struct world {
    struct world_cfg cfg; /* defaults resolved */
    struct gmem mem;
    uint8_t *ram;
    uint64_t ram_size;
    struct vring_layout vq[VSOCK_VQ_COUNT];
    uint64_t arena_gpa;
    struct vdev *dev;
    struct vdrv *drv;
    /* Notifications raised and not yet delivered: the eventfd counters of
     * vhost's kick and call files, reduced to "something is pending". */
    unsigned kicks;
    unsigned irqs;
    unsigned ring_errors; /* the device's error eventfds, accumulated */
    uint64_t accepted_bad_chains; /* malformed chains a conformance case made on purpose */
    /* What a conformance case speaking raw packets makes of the rings: */
    unsigned kept_ok;    /* queues where the device may keep chains (crafted packets) */
    bool bytes_may_vanish; /* a case made the device lie about used lens */
    unsigned stuck;      /* queues the device left stuck at a hand-made chain */
    uint32_t foreign[VSOCK_VQ_COUNT]; /* hand-made chains the device holds: not the driver's */
    char why[320];        /* world_check's last finding */
    struct conn_buf *conn_buf[2]; /* world_check's connection tables, kept between calls */
    world_exempt_fn exempt;
    void *exempt_ctx;
    /* Host connections that existed when the guest last reset the device:
     * vhost keeps them, the guest's side is gone, so each may be half-open
     * (until it sends and gets the guest's RST, or closes) and needs no
     * guest end. Rebuilt at every reset. */
    struct vep_conn_info *half_open;
    uint32_t nhalf_open;
};

struct conn_buf;
static void conn_buf_free(struct conn_buf *b);

/* ---- construction ----------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static void resolve_defaults(struct world_cfg *c)
{
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        if (c->qsize[q] == 0)
            c->qsize[q] = WORLD_DEFAULT_QSIZE;
    if (c->guest_cid == 0)
        c->guest_cid = WORLD_DEFAULT_GUEST_CID;
    /* One kernel on both sides, as in the guest images: the guest's driver
     * and vhost come from the same Debian kernel. */
    c->guest.linux_ver = c->linux_ver;
    c->host.linux_ver = c->linux_ver;
    c->guest.deviate |= c->deviate;
    c->host.deviate |= c->deviate;
}

/* Each ring on its own page, as a guest allocates them, and the arena on the
 * page after the last: nothing the device writes into a buffer can land on a
 * ring. Returns the arena's GPA, or 0 for a queue size the ring refuses. */
static uint64_t lay_out_rings(struct world *w)
{
    uint64_t at = WORLD_GPA;
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        uint64_t bytes = vring_layout_contiguous(&w->vq[q], w->cfg.qsize[q], at, VIRTQ_USED_ALIGN);
        if (bytes == 0)
            return 0;
        at = align_up(at + bytes, WORLD_PAGE);
    }
    return at;
}

/* Created before the driver, as a VMM creates its device before the guest
 * boots: host listeners can exist before the guest probes. */
static int make_device(struct world *w)
{
    struct vdev_cfg dc = {
        .mem = &w->mem,
        .guest_cid = w->cfg.guest_cid,
        .features = w->cfg.features,
        .max_queued_replies = w->cfg.max_queued_replies,
        .event_queue = true,
        .sockets = w->cfg.host,
    };
    int err = 0;
    w->dev = vdev_new(&dc, &err);
    return w->dev != NULL ? 0 : err;
}

/* The guest reads guest_cid from the device's config space. */
static uint64_t read_guest_cid(void *ctx)
{
    const struct world *w = ctx;
    return vdev_guest_cid(w->dev);
}

static void driver_cfg(struct world *w, struct vdrv_cfg *dc)
{
    memset(dc, 0, sizeof(*dc));
    dc->mem = &w->mem;
    memcpy(dc->vq, w->vq, sizeof(dc->vq));
    dc->arena_gpa = w->arena_gpa;
    dc->device_features = vdev_offered_features(w->dev);
    dc->driver_features = w->cfg.driver_features;
    dc->read_cid = read_guest_cid;
    dc->read_cid_ctx = w;
    dc->rx_buf_size = w->cfg.rx_buf_size;
    dc->tiny_rx_ok = w->cfg.tiny_rx_ok;
    dc->tx_max_payload = w->cfg.tx_max_payload;
    dc->rx_pause_replies = w->cfg.rx_pause_replies;
    dc->sockets = w->cfg.guest;
}

/* One zeroed region from WORLD_GPA to the arena's end: guest RAM. */
static int make_memory(struct world *w, uint64_t arena_bytes)
{
    uint64_t end = align_up(w->arena_gpa + arena_bytes, WORLD_PAGE);
    w->ram_size = end - WORLD_GPA;
    if (w->ram_size > SIZE_MAX)
        return -ENOMEM;
    w->ram = calloc(1, (size_t)w->ram_size);
    if (w->ram == NULL)
        return -ENOMEM;
    return gmem_add_region(&w->mem, WORLD_GPA, w->ram_size, w->ram) == RING_OK ? 0 : -EINVAL;
}

/* The device runs the queues with exactly the features the driver accepted
 * (FEATURES_OK), then DRIVER_OK. */
static int start_device(struct world *w)
{
    int err = vdev_set_features(w->dev, vdrv_features(w->drv));
    for (int q = 0; q < VSOCK_VQ_COUNT && err == 0; q++)
        err = vdev_set_queue(w->dev, (enum vsock_vq)q, &w->vq[q]);
    return err == 0 ? vdev_start(w->dev) : err;
}

static int build(struct world *w)
{
    w->arena_gpa = lay_out_rings(w);
    if (w->arena_gpa == 0)
        return RING_E_QUEUE_SIZE;
    int err = make_device(w);
    if (err != 0)
        return err;
    struct vdrv_cfg dc;
    driver_cfg(w, &dc);
    uint64_t arena = vdrv_arena_bytes(&dc);
    if (arena == 0)
        return -EINVAL; /* buffer sizes the driver refuses */
    err = make_memory(w, arena);
    if (err != 0)
        return err;
    dc.arena_size = arena;
    w->drv = vdrv_new(&dc, &err);
    if (w->drv == NULL)
        return err;
    return start_device(w);
}

struct world *world_new(const struct world_cfg *cfg, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (cfg == NULL) {
        *err = -EINVAL;
        return NULL;
    }
    struct world *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    w->cfg = *cfg;
    resolve_defaults(&w->cfg);
    gmem_init(&w->mem);
    *err = build(w);
    if (*err != 0) {
        world_free(w);
        return NULL;
    }
    return w;
}

void world_free(struct world *w)
{
    if (w == NULL)
        return;
    vdrv_free(w->drv);
    vdev_free(w->dev);
    free(w->ram);
    conn_buf_free(w->conn_buf[0]);
    conn_buf_free(w->conn_buf[1]);
    free(w->half_open);
    free(w);
}

/* ---- stepping ------------------------------------------------------------------ */

/* Every index either half keeps: if none moved, no chain was added, popped,
 * used or collected on any ring. A stopped device queue reads as zeros. */
struct world_marks {
    uint16_t idx[VSOCK_VQ_COUNT][4];
};

static void take_marks(const struct world *w, struct world_marks *m)
{
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        const struct vq_driver *d = vdrv_queue(w->drv, (enum vsock_vq)q);
        const struct vq_device *v = vdev_queue(w->dev, (enum vsock_vq)q);
        m->idx[q][0] = d->avail_idx_shadow;
        m->idx[q][1] = d->last_used_idx;
        m->idx[q][2] = v->last_avail_idx;
        m->idx[q][3] = v->used_idx;
    }
}

static void collect(struct world *w)
{
    w->kicks |= vdrv_take_kicks(w->drv);
    w->irqs |= vdev_take_interrupts(w->dev);
    w->ring_errors |= vdev_take_errors(w->dev);
}

/* vhost's handle_kick for each queue. An event-queue kick only says buffers
 * were posted; the device takes one when it has an event, so nothing runs. */
static void deliver_kicks(struct world *w, uint64_t now)
{
    unsigned k = w->kicks;
    w->kicks = 0;
    if (k & (1u << VSOCK_VQ_TX))
        vdev_handle_tx_kick(w->dev, now);
    if (k & (1u << VSOCK_VQ_RX))
        vdev_handle_rx_kick(w->dev, now);
}

/* Linux's guest has one callback per queue; each runs only for its own. */
static void deliver_irqs(struct world *w, uint64_t now)
{
    unsigned i = w->irqs;
    w->irqs = 0;
    if (i & (1u << VSOCK_VQ_RX))
        vdrv_handle_rx(w->drv, now);
    if (i & (1u << VSOCK_VQ_TX))
        vdrv_handle_tx(w->drv, now);
    if (i & (1u << VSOCK_VQ_EVENT))
        vdrv_handle_event(w->drv, now);
}

static bool run_timers(struct world *w, uint64_t now)
{
    bool fired = false;
    if (vdrv_next_deadline(w->drv) <= now) {
        vdrv_tick(w->drv, now);
        fired = true;
    }
    if (vdev_next_deadline(w->dev) <= now) {
        vdev_tick(w->dev, now);
        fired = true;
    }
    return fired;
}

bool world_step(struct world *w, uint64_t now)
{
    struct world_marks before, after;
    take_marks(w, &before);
    collect(w);
    bool notified = w->kicks != 0;
    deliver_kicks(w, now);
    /* The host's send worker: host sockets queue packets outside any kick. */
    vdev_deliver(w->dev, now);
    collect(w);
    notified = notified || w->irqs != 0;
    deliver_irqs(w, now);
    /* The guest's send worker: guest sockets queued packets since the last
     * step, and replies to what rx just delivered wait here too. */
    vdrv_handle_tx(w->drv, now);
    bool fired = run_timers(w, now);
    collect(w);
    take_marks(w, &after);
    return notified || fired || w->kicks != 0 || w->irqs != 0 ||
           memcmp(&before, &after, sizeof(before)) != 0;
}

int world_run_until_idle(struct world *w, uint64_t now, unsigned max_steps)
{
    for (unsigned i = 0; i < max_steps; i++)
        if (!world_step(w, now))
            return 0;
    return -EBUSY;
}

/* Every host connection now (vhost keeps them all through a guest's reset). */
static int note_half_open(struct world *w)
{
    const struct vep *h = vdev_sockets(w->dev);
    uint32_t n = vep_conns(h, NULL, 0);
    struct vep_conn_info *c = n != 0 ? realloc(w->half_open, n * sizeof(*c)) : w->half_open;
    if (n != 0 && c == NULL)
        return -ENOMEM;
    w->half_open = c;
    w->nhalf_open = n != 0 ? vep_conns(h, c, n) : 0;
    return 0;
}

int world_device_reset(struct world *w, uint64_t now)
{
    int err = note_half_open(w);
    if (err != 0)
        return err;
    vdev_reset(w->dev);
    /* Whatever was raised names rings that no longer exist. */
    w->kicks = 0;
    w->irqs = 0;
    w->stuck = 0;
    memset(w->foreign, 0, sizeof(w->foreign));
    vdrv_device_reset(w->drv, now);
    return vdev_start(w->dev);
}

void world_device_stop(struct world *w)
{
    vdev_stop(w->dev);
}

int world_device_start(struct world *w)
{
    int err = vdev_start(w->dev);
    /* QEMU hands vhost the kick eventfd again on start (vhost_virtqueue_
     * start), and vhost's poll finds the kicks the guest made while it was
     * stopped: the guest's tx chains are looked at now. */
    if (err == 0)
        w->kicks |= 1u << VSOCK_VQ_TX;
    return err;
}

/* ---- the oracle ----------------------------------------------------------------- */

static const char *q_name(int q)
{
    static const char *const names[VSOCK_VQ_COUNT] = {"rx", "tx", "event"};
    return names[q];
}

__attribute__((format(printf, 2, 3))) static const char *fail(struct world *w, const char *fmt,
                                                               ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof(w->why), fmt, ap);
    va_end(ap);
    return w->why;
}

static bool ring_quiet(const struct world *w, int q)
{
    const struct vq_device *v = vdev_queue(w->dev, (enum vsock_vq)q);
    const struct vq_driver *d = vdrv_queue(w->drv, (enum vsock_vq)q);
    if (v->num == 0)
        return false; /* stopped: nothing can be said about it */
    if (v->popped != 0 || vqd_used_idx(d) != d->last_used_idx)
        return false;
    /* Posted rx and event buffers wait for the device by design. */
    return q != VSOCK_VQ_TX || vqdev_avail_idx(v) == v->last_avail_idx;
}

/* Reads only: a scheduler that takes notifications itself (vdrv_take_kicks,
 * vdev_take_interrupts) must not lose any to the oracle. A notification not
 * yet taken shows in the rings anyway: a chain added and not popped, or a
 * used entry not collected. */
bool world_quiescent(const struct world *w)
{
    if (w->kicks != 0 || w->irqs != 0 || vdrv_broken(w->drv))
        return false;
    if (vep_tx_queued_pkts(vdrv_sockets(w->drv)) != 0 ||
        vep_tx_queued_pkts(vdev_sockets(w->dev)) != 0)
        return false;
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        if (!ring_quiet(w, q))
            return false;
    return true;
}

bool world_reply_pause_deadlock(const struct world *w, char *buf, size_t len)
{
    const struct vq_driver *dtx = vdrv_queue(w->drv, VSOCK_VQ_TX);
    const struct vq_driver *drx = vdrv_queue(w->drv, VSOCK_VQ_RX);
    const struct vq_device *vtx = vdev_queue(w->dev, VSOCK_VQ_TX);
    const struct vq_device *vrx = vdev_queue(w->dev, VSOCK_VQ_RX);
    const struct vep *g = vdrv_sockets(w->drv), *h = vdev_sockets(w->dev);
    if (vdrv_broken(w->drv) || vtx->num == 0 || vrx->num == 0)
        return false;
    bool guest_stuck = vdrv_rx_paused(w->drv) && vep_tx_queued_pkts(g) > 0 &&
                       vqd_num_free(dtx) == 0 && vtx->used_idx == dtx->last_used_idx;
    bool device_stuck = vdev_tx_paused(w->dev) && vep_tx_queued_pkts(h) > 0 &&
                        !vqdev_has_avail(vrx);
    if (!guest_stuck || !device_stuck)
        return false;
    snprintf(buf, len,
             "guest rx paused with %u replies for tx (pauses at %u; rx used %u, collected %u), "
             "tx full (avail %u, used %u); device tx paused with %u replies for rx (pauses at "
             "%u), no rx buffer (avail %u)",
             vep_tx_queued_replies(g), vdrv_rx_pause_replies(w->drv), vrx->used_idx,
             drx->last_used_idx, dtx->avail_idx_shadow, vtx->used_idx, vep_tx_queued_replies(h),
             vdev_max_replies(w->dev), vqdev_avail_idx(vrx));
    return true;
}

/* Both halves keep their own copy of each index; the copy in ring memory
 * must be the one its owner published, and every chain the driver has in
 * flight is in exactly one place: waiting, popped, or used and uncollected. */
static const char *check_ring(struct world *w, int q)
{
    const struct vq_device *v = vdev_queue(w->dev, (enum vsock_vq)q);
    const struct vq_driver *d = vdrv_queue(w->drv, (enum vsock_vq)q);
    if (v->num == 0)
        return NULL; /* stopped (mid-reset): the device holds nothing */
    uint16_t avail = vqdev_avail_idx(v), used = vqd_used_idx(d);
    if (v->num != d->num)
        return fail(w, "%s ring: device size %u, driver size %u", q_name(q), v->num, d->num);
    if (avail != d->avail_idx_shadow)
        return fail(w, "%s ring: avail idx in memory %u, driver published %u", q_name(q), avail,
                    d->avail_idx_shadow);
    if (used != v->used_idx)
        return fail(w, "%s ring: used idx in memory %u, device published %u", q_name(q), used,
                    v->used_idx);
    uint32_t waiting = (uint16_t)(avail - v->last_avail_idx);
    uint32_t uncollected = (uint16_t)(used - d->last_used_idx);
    /* A chain the device kept with a queue error is lost to the driver, as
     * with vhost: not a leak, the error said so. */
    uint32_t kept = vdev_kept_chains(w->dev, (enum vsock_vq)q);
    if (d->in_flight + w->foreign[q] != waiting + v->popped + uncollected + kept)
        return fail(w,
                    "%s ring: driver has %u chains in flight (and %u hand-made), but %u wait, "
                    "%u are popped, %u used uncollected and %u kept by the device",
                    q_name(q), d->in_flight, w->foreign[q], waiting, v->popped, uncollected,
                    kept);
    return NULL;
}

/* Malformed chains and chains kept with a queue error: our driver makes
 * none, so each one is a violation unless a case made it on purpose. */
static uint64_t bad_chains(const struct world *w, const struct vdev_counters *c)
{
    uint64_t n = c->rx_bad_chain + c->event_bad_chain;
    if (!(w->stuck & (1u << VSOCK_VQ_TX)))
        n += c->tx_bad_chain; /* a stuck queue meets its chain again at every kick */
    if (!(w->kept_ok & (1u << VSOCK_VQ_TX)))
        n += c->tx_kept;
    if (!(w->kept_ok & (1u << VSOCK_VQ_RX)))
        n += c->rx_kept;
    return n;
}

void world_accept_ring_errors(struct world *w)
{
    w->accepted_bad_chains = bad_chains(w, vdev_counters(w->dev));
}

void world_accept_kept_chains(struct world *w, enum vsock_vq q)
{
    w->kept_ok |= 1u << q;
    world_accept_ring_errors(w);
}

void world_accept_lost_bytes(struct world *w)
{
    w->bytes_may_vanish = true;
}

void world_adopt_foreign_chains(struct world *w, enum vsock_vq q)
{
    const struct vq_device *v = vdev_queue(w->dev, q);
    uint32_t waiting = v->num != 0 ? (uint16_t)(vqdev_avail_idx(v) - v->last_avail_idx) : 0;
    w->foreign[q] = vdev_kept_chains(w->dev, q) + waiting;
    if (waiting != 0)
        w->stuck |= 1u << q;
    world_accept_ring_errors(w);
}

/* From counters, not vdev_take_errors: checking must not consume anything. */
static const char *check_health(struct world *w)
{
    const struct vdev_counters *c = vdev_counters(w->dev);
    if (bad_chains(w, c) != w->accepted_bad_chains)
        return fail(w,
                    "device met malformed chains (tx %llu, rx %llu, event %llu; kept with a "
                    "queue error: tx %llu, rx %llu; last ring error: %s)",
                    (unsigned long long)c->tx_bad_chain, (unsigned long long)c->rx_bad_chain,
                    (unsigned long long)c->event_bad_chain, (unsigned long long)c->tx_kept,
                    (unsigned long long)c->rx_kept, ring_strerror(c->last_ring_error));
    if (vdrv_broken(w->drv))
        return fail(w, "driver marked the device broken");
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        const char *why = check_ring(w, q);
        if (why != NULL)
            return why;
    }
    return NULL;
}

/* One side's sockets as vep_conns reports them, and an index of its
 * connections by (local port, peer port) for pairing. The buffers live in
 * the world and only grow: checking allocates nothing once they fit. */
struct conn_buf {
    struct vep_conn_info *c;
    uint32_t cap;
    int32_t *head; /* bucket -> first index, -1 for none */
    int32_t *next; /* index -> next index in its bucket, ascending */
    uint32_t nbuckets;
};

struct conn_set {
    const char *name;
    uint64_t cid;
    struct vep_conn_info *c;
    uint32_t n;
    struct conn_buf *buf;
    bool indexed;
};

static void conn_buf_free(struct conn_buf *b)
{
    if (b == NULL)
        return;
    free(b->c);
    free(b->head);
    free(b->next);
    free(b);
}

/* Room for n connections and their index. */
static int conn_buf_fit(struct conn_buf *b, uint32_t n)
{
    if (n <= b->cap)
        return 0;
    uint32_t cap = b->cap ? b->cap : 16;
    while (cap < n)
        cap *= 2;
    struct vep_conn_info *c = realloc(b->c, cap * sizeof(*c));
    if (c != NULL)
        b->c = c;
    int32_t *next = realloc(b->next, cap * sizeof(*next));
    if (next != NULL)
        b->next = next;
    int32_t *head = realloc(b->head, 2 * cap * sizeof(*head));
    if (head != NULL)
        b->head = head;
    if (c == NULL || next == NULL || head == NULL)
        return -ENOMEM;
    b->cap = cap;
    b->nbuckets = 2 * cap;
    return 0;
}

static int conns_load(struct world *w, int side, struct conn_set *s, const char *name,
                      const struct vep *ep, uint64_t cid)
{
    if (w->conn_buf[side] == NULL && (w->conn_buf[side] = calloc(1, sizeof(struct conn_buf))) == NULL)
        return -ENOMEM;
    struct conn_buf *b = w->conn_buf[side];
    *s = (struct conn_set){.name = name, .cid = cid, .buf = b};
    uint32_t n = vep_conns(ep, b->c, b->cap);
    if (n > b->cap) {
        if (conn_buf_fit(b, n) < 0)
            return -ENOMEM;
        n = vep_conns(ep, b->c, b->cap);
    }
    s->c = b->c;
    s->n = n;
    return 0;
}

static bool is_connection(const struct vep_conn_info *c)
{
    return c->state == VEP_SS_CONNECTED || c->state == VEP_SS_CLOSING;
}

/* Connected and not shut down both ways by its peer (nor reset by it): the
 * other side must still hold its end. A connection's 4-tuple is unique
 * among live ones; a finished one may share it with a newer one. */
static bool is_live(const struct vep_conn_info *c)
{
    return c->state == VEP_SS_CONNECTED && c->peer_shutdown != SHUT_BOTH;
}

static bool any_live(const struct conn_set *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (is_live(&s->c[i]))
            return true;
    return false;
}

static bool mirrors(const struct conn_set *as, const struct vep_conn_info *a,
                    const struct conn_set *bs, const struct vep_conn_info *b)
{
    return is_connection(b) && a->type == b->type && a->local_port == b->peer_port &&
           a->peer_port == b->local_port && a->peer_cid == bs->cid && b->peer_cid == as->cid;
}

static uint32_t port_bucket(const struct conn_buf *b, uint32_t local_port, uint32_t peer_port)
{
    uint32_t h = local_port * 0x9e3779b1u ^ (peer_port + 0x7f4a7c15u) * 0x85ebca6bu;
    return (h ^ h >> 15) & (b->nbuckets - 1);
}

/* Up to this many connections a side is scanned: building the index (its
 * buckets cleared on every check) costs more than the scan it saves. */
#define CONNS_SCAN_MAX 8u

/* Chains of connections by (local port, peer port), each in ascending
 * index order, so a lookup meets them in the order a scan would. */
static int conns_index(struct conn_set *s)
{
    struct conn_buf *b = s->buf;
    if (s->n <= CONNS_SCAN_MAX)
        return 0; /* find_mirror scans: s->indexed stays false */
    if (conn_buf_fit(b, s->n) < 0)
        return -ENOMEM;
    s->c = b->c;
    for (uint32_t k = 0; k < b->nbuckets; k++)
        b->head[k] = -1;
    for (uint32_t i = s->n; i-- > 0;) {
        if (!is_connection(&s->c[i]))
            continue;
        uint32_t k = port_bucket(b, s->c[i].local_port, s->c[i].peer_port);
        b->next[i] = b->head[k];
        b->head[k] = (int32_t)i;
    }
    s->indexed = true;
    return 0;
}

/* One candidate for a's end: true when it is a live mirror (the answer);
 * otherwise the first finished mirror is remembered in *found. */
static bool mirror_candidate(const struct conn_set *as, const struct vep_conn_info *a,
                             const struct conn_set *bs, const struct vep_conn_info *m,
                             const struct vep_conn_info **found)
{
    if (!mirrors(as, a, bs, m))
        return false;
    if (is_live(m))
        return true;
    if (*found == NULL)
        *found = m;
    return false;
}

/* a's end on the other side: a live one if there is one, since a finished
 * connection with the same ports may linger there. Without an index the
 * scan meets the same candidates in the same (ascending) order. */
static const struct vep_conn_info *find_mirror(const struct conn_set *as,
                                               const struct vep_conn_info *a,
                                               const struct conn_set *bs)
{
    const struct vep_conn_info *found = NULL;
    const struct conn_buf *b = bs->buf;
    if (!bs->indexed) {
        for (uint32_t i = 0; i < bs->n; i++)
            if (mirror_candidate(as, a, bs, &bs->c[i], &found))
                return &bs->c[i];
        return found;
    }
    for (int32_t i = b->head[port_bucket(b, a->peer_port, a->local_port)]; i >= 0; i = b->next[i])
        if (mirror_candidate(as, a, bs, &bs->c[i], &found))
            return &bs->c[i];
    return found;
}

/* The sender never has more bytes outstanding (sent and not yet consumed by
 * the receiver's reader) than the receiver's buffer. Assumes receivers do
 * not shrink a buffer that holds data. */
static const char *check_credit(struct world *w, const struct conn_set *ss,
                                const struct vep_conn_info *s, const struct conn_set *rs,
                                const struct vep_conn_info *r)
{
    uint32_t outstanding = s->tx_cnt - r->fwd_cnt;
    if (outstanding > r->buf_alloc)
        return fail(w,
                    "%s fd %d (port %u) has %u bytes outstanding to %s fd %d, whose buf_alloc "
                    "is %u (tx_cnt %u, fwd_cnt %u)",
                    ss->name, s->fd, s->local_port, outstanding, rs->name, r->fd, r->buf_alloc,
                    s->tx_cnt, r->fwd_cnt);
    return NULL;
}

/* Once nothing is in transit, every byte sent has arrived: it was read
 * (fwd_cnt) or waits to be read (rx_queued). */
static const char *check_arrived(struct world *w, const struct conn_set *ss,
                                 const struct vep_conn_info *s, const struct conn_set *rs,
                                 const struct vep_conn_info *r)
{
    if (s->tx_cnt != (uint32_t)(r->fwd_cnt + r->rx_queued))
        return fail(w,
                    "%s fd %d (port %u) sent %u bytes, but %s fd %d read %u and holds %u",
                    ss->name, s->fd, s->local_port, s->tx_cnt, rs->name, r->fd, r->fwd_cnt,
                    r->rx_queued);
    return NULL;
}

static const char *check_pair(struct world *w, const struct conn_set *gs,
                              const struct vep_conn_info *g, const struct conn_set *hs,
                              const struct vep_conn_info *h, bool quiet)
{
    const char *why = check_credit(w, gs, g, hs, h);
    if (why == NULL)
        why = check_credit(w, hs, h, gs, g);
    bool arrival = quiet && is_live(h) && !w->bytes_may_vanish;
    if (why == NULL && arrival)
        why = check_arrived(w, gs, g, hs, h);
    if (why == NULL && arrival)
        why = check_arrived(w, hs, h, gs, g);
    return why;
}

static const char *no_mirror(struct world *w, const struct conn_set *as,
                             const struct vep_conn_info *a, const struct conn_set *bs)
{
    return fail(w, "%s fd %d (port %u, peer %llu:%u) has no connection on the %s side", as->name,
                a->fd, a->local_port, (unsigned long long)a->peer_cid, a->peer_port, bs->name);
}

static bool was_half_open(const struct world *w, const struct vep_conn_info *c)
{
    for (uint32_t i = 0; i < w->nhalf_open; i++) {
        const struct vep_conn_info *o = &w->half_open[i];
        if (o->fd == c->fd && o->local_port == c->local_port && o->peer_port == c->peer_port &&
            o->peer_cid == c->peer_cid)
            return true;
    }
    return false;
}

static bool exempt(const struct world *w, bool guest_side, const struct vep_conn_info *c)
{
    if (!guest_side && was_half_open(w, c))
        return true;
    return w->exempt != NULL && w->exempt(w->exempt_ctx, guest_side, c);
}

void world_set_exempt(struct world *w, world_exempt_fn fn, void *ctx)
{
    w->exempt = fn;
    w->exempt_ctx = ctx;
}

/* Pairs are judged from the guest's live connections; the host's are only
 * checked for having an end, which covers both directions of the mirror. */
static const char *check_conns(struct world *w, const struct conn_set *gs,
                               const struct conn_set *hs, bool quiet)
{
    for (uint32_t i = 0; i < gs->n; i++) {
        const struct vep_conn_info *g = &gs->c[i];
        if (!is_live(g))
            continue;
        const struct vep_conn_info *h = find_mirror(gs, g, hs);
        const char *why = NULL;
        if (h != NULL)
            why = check_pair(w, gs, g, hs, h, quiet);
        else if (quiet && !exempt(w, true, g))
            why = no_mirror(w, gs, g, hs); /* in transit, the other end may not exist yet */
        if (why != NULL)
            return why;
    }
    for (uint32_t i = 0; quiet && i < hs->n; i++) {
        const struct vep_conn_info *h = &hs->c[i];
        if (is_live(h) && find_mirror(hs, h, gs) == NULL && !exempt(w, false, h))
            return no_mirror(w, hs, h, gs);
    }
    return NULL;
}

const char *world_check(struct world *w)
{
    const char *why = check_health(w);
    if (why != NULL)
        return why;
    bool quiet = world_quiescent(w);
    struct conn_set gs, hs;
    if (conns_load(w, 0, &gs, "guest", vdrv_sockets(w->drv), vdrv_guest_cid(w->drv)) != 0)
        return fail(w, "out of memory while checking connections");
    /* In transit, only live guest connections are judged: without one
     * there is nothing to look up on the host's side. */
    if (!quiet && !any_live(&gs))
        return NULL;
    if (conns_load(w, 1, &hs, "host", vdev_sockets(w->dev), VSOCK_CID_HOST) != 0 ||
        conns_index(&hs) != 0 || (quiet && conns_index(&gs) != 0))
        return fail(w, "out of memory while checking connections");
    return check_conns(w, &gs, &hs, quiet);
}

/* ---- accessors ------------------------------------------------------------------- */

unsigned world_ring_errors(const struct world *w) { return w->ring_errors; }
struct vep *world_guest(struct world *w) { return vdrv_sockets(w->drv); }
struct vep *world_host(struct world *w) { return vdev_sockets(w->dev); }
struct vdrv *world_driver(struct world *w) { return w->drv; }
struct vdev *world_device(struct world *w) { return w->dev; }
struct gmem *world_mem(struct world *w) { return &w->mem; }
uint64_t world_guest_cid(const struct world *w) { return vdev_guest_cid(w->dev); }

const struct vring_layout *world_layout(const struct world *w, enum vsock_vq q)
{
    if ((unsigned)q >= VSOCK_VQ_COUNT)
        return NULL;
    return &w->vq[q];
}
