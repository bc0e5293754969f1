/* The device's lifecycle, configuration and the bits it reports to its
 * caller; the packet paths live in device_tx.c and device_rx.c. */
#include "device/device_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RX_PAYLOAD (64u * 1024u)

static uint64_t bit(unsigned n)
{
    return 1ull << n;
}

/* What VHOST_VSOCK_SET_GUEST_CID accepts: not reserved, not the host, and
 * 32-bit (64-bit CIDs are not supported by Linux either). */
static bool guest_cid_valid(uint64_t cid)
{
    return cid > VSOCK_CID_HOST && cid < VSOCK_CID_ANY;
}

static struct vep *make_endpoint(const struct vdev_cfg *cfg, uint64_t offered)
{
    struct vep_cfg sc = cfg->sockets;
    sc.local_cid = VSOCK_CID_HOST;
    sc.peer_cid = cfg->guest_cid;
    /* vhost_vsock_handle_tx_kick only accepts packets from its guest's CID
     * to the host's. */
    sc.check_src_cid = true;
    sc.check_dst_cid = true;
    sc.seqpacket = (offered & bit(VIRTIO_VSOCK_F_SEQPACKET)) != 0;
    return vep_new(&sc);
}

struct vdev *vdev_new(const struct vdev_cfg *cfg, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (cfg == NULL || cfg->mem == NULL || !guest_cid_valid(cfg->guest_cid)) {
        *err = -EINVAL;
        return NULL;
    }
    struct vdev *dev = calloc(1, sizeof(*dev));
    if (dev == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    dev->mem = cfg->mem;
    dev->guest_cid = cfg->guest_cid;
    dev->offered = cfg->features != 0 ? cfg->features : VDEV_DEFAULT_OFFER;
    dev->max_replies_cfg = cfg->max_queued_replies;
    dev->event_queue = cfg->event_queue;
    dev->return_bad_chains = (cfg->sockets.deviate & VSOCK_DEV_BIT(VSOCK_DEV_RETURN_BAD_CHAINS)) != 0;
    dev->pkt_buf_len = cfg->sockets.max_rx_payload != 0 ? cfg->sockets.max_rx_payload
                                                        : DEFAULT_RX_PAYLOAD;
    dev->pkt_buf = malloc(dev->pkt_buf_len);
    dev->ep = make_endpoint(cfg, dev->offered);
    if (dev->pkt_buf == NULL || dev->ep == NULL) {
        vdev_free(dev);
        *err = -ENOMEM;
        return NULL;
    }
    *err = 0;
    return dev;
}

void vdev_free(struct vdev *dev)
{
    if (dev == NULL)
        return;
    if (dev->ep != NULL)
        vep_free(dev->ep);
    free(dev->pkt_buf);
    free(dev);
}

uint64_t vdev_offered_features(const struct vdev *dev)
{
    return dev->offered;
}

int vdev_set_features(struct vdev *dev, uint64_t features)
{
    if (features & ~dev->offered)
        return -EINVAL;
    if (dev->started)
        return -EBUSY;
    dev->features = features;
    return 0;
}

static bool queue_exists(const struct vdev *dev, enum vsock_vq q)
{
    if (q == VSOCK_VQ_RX || q == VSOCK_VQ_TX)
        return true;
    return q == VSOCK_VQ_EVENT && dev->event_queue;
}

int vdev_set_queue(struct vdev *dev, enum vsock_vq q, const struct vring_layout *layout)
{
    if (layout == NULL || !queue_exists(dev, q))
        return -EINVAL;
    if (dev->started)
        return -EBUSY;
    dev->q[q].layout = *layout;
    dev->q[q].layout_set = true;
    return 0;
}

static void stop_queues(struct vdev *dev)
{
    for (unsigned i = 0; i < VSOCK_VQ_COUNT; i++)
        memset(&dev->q[i].vq, 0, sizeof(dev->q[i].vq));
    dev->started = false;
    dev->tx_paused = false;
}

/* A ring starts from its beginning next time: nothing to resume, and the
 * driver reclaims whatever the device kept. */
static void forget_positions(struct vdev *dev)
{
    for (unsigned i = 0; i < VSOCK_VQ_COUNT; i++) {
        dev->q[i].resume = false;
        dev->q[i].kept = 0;
    }
    dev->split.active = false;
}

static int start_queue(struct vdev *dev, enum vsock_vq q)
{
    struct vq_device_cfg qc = {
        .layout = dev->q[q].layout,
        .event_idx = (dev->features & bit(VIRTIO_F_EVENT_IDX)) != 0,
        .indirect = (dev->features & bit(VIRTIO_F_INDIRECT_DESC)) != 0,
        /* The event queue is QEMU's, which skips what it cannot use. */
        .stop_at_bad_head = !dev->return_bad_chains && q != VSOCK_VQ_EVENT,
    };
    int err = vqdev_init(&dev->q[q].vq, dev->mem, &qc);
    if (err == RING_OK && dev->q[q].resume)
        err = vqdev_set_base(&dev->q[q].vq, dev->q[q].resume_at);
    return err;
}

/* vhost bounds replies by the tx ring's size: a guest that stops reading
 * rx can then make the host queue at most one ring's worth. */
static void resolve_max_replies(struct vdev *dev)
{
    dev->max_replies = dev->max_replies_cfg;
    if (dev->max_replies == 0)
        dev->max_replies = dev->q[VSOCK_VQ_TX].layout_set ? dev->q[VSOCK_VQ_TX].layout.num : 1;
}

int vdev_start(struct vdev *dev)
{
    if (dev->started)
        return 0;
    for (unsigned i = 0; i < VSOCK_VQ_COUNT; i++) {
        if (!dev->q[i].layout_set || !queue_exists(dev, (enum vsock_vq)i))
            continue;
        int err = start_queue(dev, (enum vsock_vq)i);
        if (err != RING_OK) {
            stop_queues(dev);
            return err;
        }
    }
    resolve_max_replies(dev);
    dev->started = true;
    /* As vhost_vsock_start kicks its send worker: host sockets may have
     * queued packets (a connect) before the guest was ready. */
    vdev_rx_process(dev);
    return 0;
}

void vdev_stop(struct vdev *dev)
{
    for (unsigned i = 0; i < VSOCK_VQ_COUNT; i++) {
        if (!vdev_q_running(dev, (enum vsock_vq)i))
            continue;
        dev->q[i].resume = true;
        dev->q[i].resume_at = dev->q[i].vq.last_avail_idx;
    }
    stop_queues(dev);
}

void vdev_reset(struct vdev *dev)
{
    stop_queues(dev);
    forget_positions(dev);
    /* A reset device's pending notifications name rings that no longer exist. */
    dev->irq_pending = 0;
    dev->err_pending = 0;
}

/* vhost_vsock_dev_release purges send_pkt_queue: what host sockets sent
 * the guest that is gone never leaves. Bounded by the count taken first. */
static void purge_for_guest(struct vdev *dev)
{
    uint32_t n = vep_tx_queued_pkts(dev->ep);
    struct vep_tx t;
    for (uint32_t i = 0; i < n && vep_tx_peek(dev->ep, &t); i++)
        vep_tx_advance(dev->ep, t.hdr.len);
}

void vdev_release(struct vdev *dev)
{
    vep_orphan_all(dev->ep); /* vhost_vsock_reset_orphans */
    purge_for_guest(dev);
    vdev_reset(dev);
}

uint32_t vdev_kept_chains(const struct vdev *dev, enum vsock_vq q)
{
    return (unsigned)q < VSOCK_VQ_COUNT ? dev->q[q].kept : 0;
}

uint64_t vdev_guest_cid(const struct vdev *dev)
{
    return dev->guest_cid;
}

static void queue_error(struct vdev *dev, enum vsock_vq q)
{
    dev->err_pending |= 1u << q;
    dev->c.queue_errors[q]++;
}

void vdev_ring_error(struct vdev *dev, enum vsock_vq q, int err)
{
    queue_error(dev, q);
    dev->c.last_ring_error = err;
}

void vdev_set_rx_used_len_extra(struct vdev *dev, int32_t extra)
{
    dev->rx_used_extra = extra;
}

void vdev_keep_chain(struct vdev *dev, enum vsock_vq q)
{
    (void)vqdev_keep(&dev->q[q].vq);
    dev->q[q].kept++;
    queue_error(dev, q);
    if (q == VSOCK_VQ_TX)
        dev->c.tx_kept++;
    else
        dev->c.rx_kept++;
}

void vdev_signal(struct vdev *dev, enum vsock_vq q)
{
    if (vqdev_should_interrupt(&dev->q[q].vq))
        dev->irq_pending |= 1u << q;
}

void vdev_handle_tx_kick(struct vdev *dev, uint64_t now)
{
    if (!vdev_q_running(dev, VSOCK_VQ_TX))
        return; /* a kick before the queue runs is lost, as in vhost */
    vdev_tx_process(dev, now);
    vdev_pump(dev, now);
}

void vdev_handle_rx_kick(struct vdev *dev, uint64_t now)
{
    vdev_pump(dev, now);
}

void vdev_deliver(struct vdev *dev, uint64_t now)
{
    vdev_pump(dev, now);
}

void vdev_tick(struct vdev *dev, uint64_t now)
{
    vep_tick(dev->ep, now);
    vdev_pump(dev, now);
}

uint64_t vdev_next_deadline(const struct vdev *dev)
{
    return vep_next_deadline(dev->ep);
}

unsigned vdev_take_interrupts(struct vdev *dev)
{
    unsigned v = dev->irq_pending;
    dev->irq_pending = 0;
    return v;
}

unsigned vdev_take_errors(struct vdev *dev)
{
    unsigned v = dev->err_pending;
    dev->err_pending = 0;
    return v;
}

void vdev_set_tx_layout_observer(struct vdev *dev, vdev_tx_layout_observer fn, void *ctx)
{
    dev->tx_layout_observer = fn;
    dev->tx_layout_ctx = ctx;
}

void vdev_set_rx_observer(struct vdev *dev, vdev_rx_observer fn, void *ctx)
{
    dev->rx_observer = fn;
    dev->rx_observer_ctx = ctx;
}

struct vep *vdev_sockets(struct vdev *dev)
{
    return dev->ep;
}

const struct vdev_counters *vdev_counters(const struct vdev *dev)
{
    return &dev->c;
}

void vdev_set_max_queued_replies(struct vdev *dev, uint32_t n, uint64_t now)
{
    dev->max_replies_cfg = n;
    resolve_max_replies(dev);
    /* A paused tx queue waits for replies to leave; one the new bound
     * releases goes on now, as if they had. */
    if (dev->started && dev->tx_paused && vep_tx_queued_replies(dev->ep) < dev->max_replies)
        vdev_handle_tx_kick(dev, now);
}

bool vdev_tx_paused(const struct vdev *dev)
{
    return dev->tx_paused && vep_tx_queued_replies(dev->ep) >= dev->max_replies;
}

uint32_t vdev_max_replies(const struct vdev *dev)
{
    return dev->max_replies;
}

int vdev_set_queue_base(struct vdev *dev, enum vsock_vq q, uint16_t idx)
{
    if (!queue_exists(dev, q))
        return -EINVAL;
    if (vdev_q_running(dev, q))
        return vqdev_set_base(&dev->q[q].vq, idx);
    dev->q[q].resume = true;
    dev->q[q].resume_at = idx;
    return 0;
}

const struct vq_device *vdev_queue(const struct vdev *dev, enum vsock_vq q)
{
    if ((unsigned)q >= VSOCK_VQ_COUNT)
        return NULL;
    return &dev->q[q].vq;
}
