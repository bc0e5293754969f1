/* The driver's lifecycle: probe (negotiate, read guest_cid, carve the arena,
 * set up the queues, post buffers), device reset, teardown and accessors.
 * The queue handlers live in driver_queues.c. */
#include "driver/driver_priv.h"

#include <errno.h>
#include <stdlib.h>

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* The device writes into rx and event buffers: an arena sharing bytes with
 * a ring would let those writes rewrite the ring under the driver. */
static bool arena_hits_rings(const struct vdrv_cfg *cfg, uint64_t total)
{
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        const struct vring_layout *l = &cfg->vq[q];
        if (ranges_overlap(cfg->arena_gpa, total, l->desc, vring_desc_bytes(l->num)) ||
            ranges_overlap(cfg->arena_gpa, total, l->avail, vring_avail_bytes(l->num)) ||
            ranges_overlap(cfg->arena_gpa, total, l->used, vring_used_bytes(l->num)))
            return true;
    }
    return false;
}

static int check_arena(const struct vdrv_cfg *cfg, const struct vdrv_arena_plan *p,
                       uint8_t **hva)
{
    if (cfg->arena_gpa % VDRV_SLOT_ALIGN != 0 || cfg->arena_size < p->total ||
        p->total > UINT64_MAX - cfg->arena_gpa)
        return -EINVAL;
    if (arena_hits_rings(cfg, p->total))
        return -EINVAL;
    *hva = gmem_translate(cfg->mem, cfg->arena_gpa, p->total);
    if (*hva == NULL)
        return RING_E_GPA_RANGE;
    return 0;
}

static int pool_init(struct vdrv_pool *pool, uint32_t n, uint8_t *hva, uint64_t gpa,
                     uint64_t stride, uint32_t cap)
{
    if (n == 0)
        return 0; /* an empty pool: no slots of this kind */
    pool->buf = calloc(n, sizeof(*pool->buf));
    pool->free = calloc(n, sizeof(*pool->free));
    if (pool->buf == NULL || pool->free == NULL)
        return -ENOMEM;
    pool->nslots = n;
    for (uint32_t i = 0; i < n; i++) {
        pool->buf[i] = (struct vdrv_buf){
            .gpa = gpa + i * stride, .hva = hva + i * stride, .cap = cap, .index = i, .owner = pool};
        /* Reversed, so the first slot taken is slot 0 and the layout reads
         * naturally in a trace. */
        pool->free[i] = n - 1 - i;
    }
    pool->nfree = n;
    return 0;
}

static void pool_destroy(struct vdrv_pool *pool)
{
    free(pool->buf);
    free(pool->free);
    pool->buf = NULL;
    pool->free = NULL;
    pool->nslots = pool->nfree = 0;
}

static int pools_init(struct vdrv *drv)
{
    const struct vdrv_arena_plan *p = &drv->plan;
    int err = pool_init(&drv->pool[VSOCK_VQ_RX], p->num[VSOCK_VQ_RX], drv->arena_hva + p->rx_off,
                        drv->arena_gpa + p->rx_off, p->rx_stride, p->rx_buf_size);
    if (err == 0)
        err = pool_init(&drv->pool[VSOCK_VQ_TX], p->tx_small_n, drv->arena_hva + p->tx_off,
                        drv->arena_gpa + p->tx_off, p->tx_stride,
                        (uint32_t)(VSOCK_HDR_LEN + p->tx_small_payload));
    if (err == 0)
        err = pool_init(&drv->tx_large, p->tx_large_n, drv->arena_hva + p->tx_large_off,
                        drv->arena_gpa + p->tx_large_off, p->tx_large_stride,
                        (uint32_t)(VSOCK_HDR_LEN + p->tx_max_payload));
    if (err == 0)
        err = pool_init(&drv->pool[VSOCK_VQ_EVENT], p->num[VSOCK_VQ_EVENT],
                        drv->arena_hva + p->ev_off, drv->arena_gpa + p->ev_off, p->ev_stride,
                        VDRV_EVENT_BUF);
    return err;
}

static bool has_feature(const struct vdrv *drv, unsigned bit)
{
    return (drv->features >> bit) & 1u;
}

static int queues_init(struct vdrv *drv, const struct vdrv_cfg *cfg)
{
    bool event_idx = has_feature(drv, VIRTIO_F_EVENT_IDX);
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        struct vq_driver_cfg qc = {.layout = cfg->vq[q], .event_idx = event_idx};
        if (q == VSOCK_VQ_TX && drv->plan.ind_bytes != 0) {
            qc.indirect = true;
            qc.indirect_gpa = drv->arena_gpa + drv->plan.ind_off;
            qc.indirect_max = drv->plan.tx_segs;
        }
        int err = vqd_init(&drv->vq[q], drv->mem, &qc);
        if (err != RING_OK)
            return err;
    }
    return 0;
}

/* Replies waiting for tx at which rx pauses: Linux's rule, the rx ring
 * size (virtio_transport_more_replies), unless asked otherwise; with the
 * reply-budget deviation only when the socket layer's reply budget is
 * spent, so that rx never stops while memory for replies remains. */
static uint32_t rx_pause_rule(const struct vdrv_cfg *cfg, const struct vep_cfg *vc)
{
    if (cfg->rx_pause_replies == VDRV_RX_PAUSE_LINUX)
        return cfg->vq[VSOCK_VQ_RX].num;
    if (cfg->rx_pause_replies != 0)
        return cfg->rx_pause_replies;
    if (vc->deviate & VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET))
        return vc->max_replies ? vc->max_replies : VDRV_DEFAULT_REPLY_BUDGET;
    return cfg->vq[VSOCK_VQ_RX].num;
}

static int sockets_init(struct vdrv *drv, const struct vdrv_cfg *cfg)
{
    struct vep_cfg vc = cfg->sockets;
    vc.local_cid = drv->guest_cid;
    vc.peer_cid = VSOCK_CID_HOST;
    vc.seqpacket = has_feature(drv, VIRTIO_VSOCK_F_SEQPACKET);
    /* Linux finds a listener bound to any CID whatever dst_cid says; a
     * device that misaddresses packets is worth a counted drop instead. */
    vc.check_dst_cid = true;
    /* Received packets land in our rx buffers, as in the Linux guest's: the
     * socket layer's small-packet coalescing depends on their size. */
    if (vc.rx_buf_size == 0)
        vc.rx_buf_size = drv->plan.rx_buf_size;
    /* SIOCOUTQ counts a packet until tx work takes its buffer back. */
    vc.unsent_until_reclaimed = true;
    drv->linux_6_12 = vc.linux_ver == VSOCK_LINUX_6_12;
    if (drv->linux_6_12) {
        vc.tx_queued = vdrv_tx_fast_path;
        vc.tx_queued_ctx = drv;
    }
    drv->ep = vep_new(&vc);
    drv->rx_pause_replies = rx_pause_rule(cfg, &vc);
    return drv->ep != NULL ? 0 : -ENOMEM;
}

/* Everything that cannot fail for a reason the device controls: checked
 * before any allocation, so a refused probe leaves nothing behind. */
static int probe_check(const struct vdrv_cfg *cfg, uint64_t *features, uint64_t *cid,
                       struct vdrv_arena_plan *plan, uint8_t **arena_hva)
{
    if (cfg == NULL || cfg->mem == NULL || cfg->read_cid == NULL)
        return -EINVAL;
    *features = vdrv_negotiate(cfg);
    if (!(*features & (1ull << VIRTIO_F_VERSION_1)))
        return -ENODEV; /* a legacy device: this driver speaks only 1.x */
    *cid = cfg->read_cid(cfg->read_cid_ctx);
    if (!vdrv_cid_valid(*cid))
        return -EINVAL;
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        if (!vring_size_valid(cfg->vq[q].num))
            return RING_E_QUEUE_SIZE;
    if (!vdrv_plan_arena(cfg, *features, plan))
        return -EINVAL;
    return check_arena(cfg, plan, arena_hva);
}

static int probe_setup(struct vdrv *drv, const struct vdrv_cfg *cfg)
{
    int err = pools_init(drv);
    if (err == 0)
        err = queues_init(drv, cfg);
    if (err == 0)
        err = sockets_init(drv, cfg);
    return err;
}

struct vdrv *vdrv_new(const struct vdrv_cfg *cfg, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    struct vdrv_arena_plan plan;
    uint64_t features = 0, cid = 0;
    uint8_t *arena_hva = NULL;
    *err = probe_check(cfg, &features, &cid, &plan, &arena_hva);
    if (*err != 0)
        return NULL;

    struct vdrv *drv = calloc(1, sizeof(*drv));
    if (drv == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    drv->mem = cfg->mem;
    drv->features = features;
    drv->guest_cid = cid;
    drv->read_cid = cfg->read_cid;
    drv->read_cid_ctx = cfg->read_cid_ctx;
    drv->plan = plan;
    drv->arena_hva = arena_hva;
    drv->arena_gpa = cfg->arena_gpa;
    *err = probe_setup(drv, cfg);
    if (*err != 0) {
        vdrv_free(drv);
        return NULL;
    }
    /* As Linux's probe: the device is ready, then rx and event buffers go
     * out, each queue kicked once. */
    vdrv_fill_rx(drv);
    vdrv_fill_events(drv);
    return drv;
}

void vdrv_free(struct vdrv *drv)
{
    if (drv == NULL)
        return;
    if (drv->ep != NULL)
        vep_free(drv->ep);
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        vqd_destroy(&drv->vq[q]);
        pool_destroy(&drv->pool[q]);
    }
    pool_destroy(&drv->tx_large);
    free(drv);
}

static void detach_slot(void *token, void *ctx)
{
    (void)ctx;
    vdrv_buf_put(token);
}

/* Linux purges its send list when the device goes away: whatever waits
 * there belongs to connections that were just reset. Bounded by the count
 * taken first, whatever vep_tx_advance does with an empty packet. */
static void purge_tx(struct vdrv *drv)
{
    uint32_t n = vep_tx_queued_pkts(drv->ep);
    struct vep_tx t;
    for (uint32_t i = 0; i < n && vep_tx_peek(drv->ep, &t); i++) {
        vep_tx_advance(drv->ep, t.hdr.len);
        drv->ctr.tx_purged++;
    }
}

/* What Linux's freeze/restore does: sockets reset, the device's chains
 * reclaimed, the send queue purged, then the queues come back as at probe. */
void vdrv_device_reset(struct vdrv *drv, uint64_t now)
{
    (void)now; /* no timer starts or stops here */
    vep_reset_all(drv->ep);
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        vqd_reset(&drv->vq[q], detach_slot, NULL);
    purge_tx(drv);
    drv->broken = false;
    drv->rx_paused = false;
    drv->rx_buf_nr = 0;
    drv->rx_buf_max_nr = 0;
    drv->kicks = 0;
    vdrv_update_cid(drv);
    vdrv_fill_rx(drv);
    vdrv_fill_events(drv);
}

uint64_t vdrv_features(const struct vdrv *drv) { return drv->features; }
uint64_t vdrv_guest_cid(const struct vdrv *drv) { return drv->guest_cid; }
struct vep *vdrv_sockets(struct vdrv *drv) { return drv->ep; }
const struct vdrv_counters *vdrv_counters(const struct vdrv *drv) { return &drv->ctr; }
bool vdrv_broken(const struct vdrv *drv) { return drv->broken; }

void vdrv_set_tx_observer(struct vdrv *drv, vdrv_tx_observer fn, void *ctx)
{
    drv->tx_observer = fn;
    drv->tx_observer_ctx = ctx;
}

unsigned vdrv_take_kicks(struct vdrv *drv)
{
    unsigned k = drv->kicks;
    drv->kicks = 0;
    return k;
}

const struct vq_driver *vdrv_queue(const struct vdrv *drv, enum vsock_vq q)
{
    if ((unsigned)q >= VSOCK_VQ_COUNT)
        return NULL;
    return &drv->vq[q];
}

uint32_t vdrv_rx_pause_replies(const struct vdrv *drv)
{
    return drv->rx_pause_replies;
}

bool vdrv_rx_paused(const struct vdrv *drv)
{
    return drv->rx_paused;
}

int vdrv_adopt_queue(struct vdrv *drv, enum vsock_vq q)
{
    if ((unsigned)q >= VSOCK_VQ_COUNT)
        return RING_E_INVAL;
    if (drv->broken)
        return -EIO;
    return vqd_adopt(&drv->vq[q]);
}

void vdrv_tick(struct vdrv *drv, uint64_t now)
{
    vep_tick(drv->ep, now);
    vdrv_handle_tx(drv, now);
}

uint64_t vdrv_next_deadline(const struct vdrv *drv)
{
    return vep_next_deadline(drv->ep);
}
