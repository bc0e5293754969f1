/* Feature negotiation, the guest_cid rule and the arena plan: pure functions
 * of the configuration, so vdrv_arena_bytes and vdrv_new always agree. */
#include "driver/driver_priv.h"

uint64_t vdrv_negotiate(const struct vdrv_cfg *cfg)
{
    uint64_t wanted = cfg->driver_features != 0 ? cfg->driver_features : VDRV_KNOWN_FEATURES;
    return cfg->device_features & wanted & VDRV_KNOWN_FEATURES;
}

/* Linux 6.1 stores le64 guest_cid into a u32 without a check. The spec says
 * the upper 32 bits are reserved and zeroed, and 0, 1, 2 and 0xffffffff are
 * reserved: a device offering any of those is refused rather than truncated,
 * so a broken device is visible instead of silently aliasing another CID. */
bool vdrv_cid_valid(uint64_t cid)
{
    return cid > VSOCK_CID_HOST && cid < VSOCK_CID_ANY;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static bool plan_sizes(const struct vdrv_cfg *cfg, struct vdrv_arena_plan *p)
{
    p->rx_buf_size = cfg->rx_buf_size != 0 ? cfg->rx_buf_size : VDRV_DEFAULT_RX_BUF;
    p->tx_max_payload = cfg->tx_max_payload != 0 ? cfg->tx_max_payload : VDRV_DEFAULT_TX_PAYLOAD;
    p->tx_segs = cfg->sockets.linux_ver == VSOCK_LINUX_6_12 ? VDRV_TX_SEGS_6_12 : VDRV_TX_SEGS;
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        p->num[q] = cfg->vq[q].num;
        if (!vring_size_valid(p->num[q]))
            return false;
    }
    /* A buffer that cannot hold a header could never carry a packet: only
     * a test asks for one. */
    uint32_t min_rx = cfg->tiny_rx_ok ? 1u : VSOCK_HDR_LEN;
    return p->rx_buf_size >= min_rx && p->rx_buf_size <= VDRV_MAX_BUF &&
           p->tx_max_payload <= VDRV_MAX_BUF;
}

bool vdrv_plan_arena(const struct vdrv_cfg *cfg, uint64_t features, struct vdrv_arena_plan *p)
{
    *p = (struct vdrv_arena_plan){0};
    if (!plan_sizes(cfg, p))
        return false;
    uint32_t ntx = p->num[VSOCK_VQ_TX];
    bool two_sizes = p->tx_max_payload > VDRV_TX_SMALL_PAYLOAD && ntx > VDRV_TX_LARGE_SLOTS;
    p->tx_large_n = two_sizes ? VDRV_TX_LARGE_SLOTS : ntx;
    p->tx_small_n = ntx - p->tx_large_n;
    p->tx_small_payload = two_sizes ? VDRV_TX_SMALL_PAYLOAD : 0;
    p->rx_stride = align_up(p->rx_buf_size, VDRV_SLOT_ALIGN);
    p->tx_stride = align_up(VSOCK_HDR_LEN + (uint64_t)p->tx_small_payload, VDRV_SLOT_ALIGN);
    p->tx_large_stride = align_up(VSOCK_HDR_LEN + (uint64_t)p->tx_max_payload, VDRV_SLOT_ALIGN);
    p->ev_stride = VDRV_EVENT_STRIDE;

    p->rx_off = 0;
    p->tx_off = p->rx_off + p->num[VSOCK_VQ_RX] * p->rx_stride;
    p->tx_large_off = p->tx_off + p->tx_small_n * p->tx_stride;
    p->ev_off = p->tx_large_off + p->tx_large_n * p->tx_large_stride;
    p->ind_off = p->ev_off + p->num[VSOCK_VQ_EVENT] * p->ev_stride;
    /* Only tx chains have more than one segment, so only tx gets tables. */
    if (features & (1ull << VIRTIO_F_INDIRECT_DESC))
        p->ind_bytes = (uint64_t)p->num[VSOCK_VQ_TX] * p->tx_segs * VIRTQ_DESC_SIZE;
    p->total = p->ind_off + p->ind_bytes;
    return true;
}

uint64_t vdrv_arena_bytes(const struct vdrv_cfg *cfg)
{
    struct vdrv_arena_plan p;
    if (cfg == NULL || !vdrv_plan_arena(cfg, vdrv_negotiate(cfg), &p))
        return 0;
    return p.total;
}
