/* The tx queue: packets from the guest, in the shape of
 * vhost_vsock_handle_tx_kick. Every chain is hostile input: whatever its
 * shape, it ends in a counter and, unless it is kept with a queue error
 * (vhost's rule for chains it cannot use, device.h), in a used entry of
 * length 0, which is what the kernel writes for tx. */
#include "device/device_priv.h"

enum tx_outcome {
    TX_RETURN, /* return the chain: used len 0 */
    TX_KEEP,   /* queue error, the chain is never returned (vhost) */
};

/* vhost_vsock_alloc_skb's refusals, each a vq_err ("Faulted on pkt") and a
 * chain vhost never returns: writable descriptors, fewer bytes than a
 * header, more than VIRTIO_VSOCK_MAX_PKT_BUF_SIZE + 44 (our packet bound).
 * With return_bad_chains the chain comes back instead: no writable chain is
 * taken as a packet, a short one is a runt for the endpoint, and a long one
 * is judged by its hdr.len. */
static bool refuse_by_shape(struct vdev *dev, const struct vq_chain *ch, enum tx_outcome *o)
{
    bool writable = ch->in_count != 0;
    bool short_ = ch->out_bytes < VSOCK_HDR_LEN;
    bool long_ = !short_ && ch->out_bytes - VSOCK_HDR_LEN > dev->pkt_buf_len;
    if (!writable && !short_ && !(long_ && !dev->return_bad_chains))
        return false;
    dev->c.tx_bad_pkt++;
    if (!dev->return_bad_chains) {
        *o = TX_KEEP;
        return true;
    }
    if (!writable)
        vep_rx_runt(dev->ep);
    *o = TX_RETURN;
    return true;
}

/* Linux's vhost copies exactly hdr.len bytes and ignores any readable bytes
 * beyond them, so a chain longer than its header says is accepted. A
 * shorter one is refused (vhost: the queue error; ours, with
 * return_bad_chains: the endpoint drops it as a length mismatch). A length
 * beyond the bound is never read at all: the endpoint refuses it by hdr.len
 * alone. */
static uint32_t payload_to_read(const struct vdev *dev, const struct vsock_hdr *h,
                                uint32_t readable)
{
    if (h->len > dev->pkt_buf_len)
        return 0;
    return h->len < readable ? h->len : readable;
}

static enum tx_outcome tx_read_failed(struct vdev *dev, int64_t r)
{
    /* Only a chain rewritten after it was validated gets here: vhost's
     * copy fails, vq_err, and the chain is not returned. */
    dev->c.tx_bad_chain++;
    vdev_ring_error(dev, VSOCK_VQ_TX, r < 0 ? (int)r : RING_E_DESC_RANGE);
    return dev->return_bad_chains ? TX_RETURN : TX_KEEP;
}

/* The chain's readable descriptors, for the layout observer: a copy of
 * the iterator walks it (the chain was validated when it was popped). */
static void observe_layout(struct vdev *dev, const struct vq_chain *ch, const struct vsock_hdr *h)
{
    uint32_t lens[VDEV_TX_LAYOUT_MAX];
    uint32_t n = 0;
    struct vq_chain walk = *ch;
    struct vq_buf b;
    while (vq_chain_next(&walk, &b) == 1 && !b.writable) {
        if (n < VDEV_TX_LAYOUT_MAX)
            lens[n] = b.len;
        n++;
    }
    dev->tx_layout_observer(dev->tx_layout_ctx, h, lens, n);
}

static enum tx_outcome tx_one(struct vdev *dev, const struct vq_chain *ch, uint64_t now)
{
    enum tx_outcome o;
    if (refuse_by_shape(dev, ch, &o))
        return o;
    uint8_t raw[VSOCK_HDR_LEN];
    int64_t r = vq_chain_read(ch, 0, raw, sizeof(raw));
    if (r != (int64_t)sizeof(raw))
        return tx_read_failed(dev, r);
    struct vsock_hdr h;
    vsock_hdr_decode(raw, &h);
    uint32_t readable = ch->out_bytes - VSOCK_HDR_LEN;
    if (h.len > readable && !dev->return_bad_chains) {
        dev->c.tx_bad_pkt++; /* "The pkt is too big or the length in the header is invalid" */
        return TX_KEEP;
    }
    uint32_t n = payload_to_read(dev, &h, readable);
    if (n > 0) {
        r = vq_chain_read(ch, VSOCK_HDR_LEN, dev->pkt_buf, n);
        if (r != (int64_t)n)
            return tx_read_failed(dev, r);
    }
    dev->c.tx_pkts++;
    if (dev->tx_layout_observer != NULL)
        observe_layout(dev, ch, &h);
    vep_rx(dev->ep, &h, n > 0 ? dev->pkt_buf : NULL, n, now);
    return TX_RETURN;
}

static bool replies_full(const struct vdev *dev)
{
    return vep_tx_queued_replies(dev->ep) >= dev->max_replies;
}

/* Pops the next chain. 1: *ch is ready; 0: stop (the ring is empty and
 * kicks are enabled again, or the ring is broken). */
static int tx_next_chain(struct vdev *dev, struct vq_chain *ch)
{
    struct vq_device *vq = &dev->q[VSOCK_VQ_TX].vq;
    for (;;) {
        int r = vqdev_pop(vq, ch);
        if (r > 0)
            return 1;
        if (r < 0) {
            dev->c.tx_bad_chain++;
            vdev_ring_error(dev, VSOCK_VQ_TX, r);
            /* vhost breaks out with kicks still disabled, the bad chain at
             * the head: the queue is stuck there. With return_bad_chains
             * the head was consumed instead, so asking for kicks again
             * lets the guest's later chains through. */
            if (dev->return_bad_chains)
                vqdev_enable_notify(vq);
            return 0;
        }
        if (vqdev_enable_notify(vq))
            return 0;
        vqdev_disable_notify(vq); /* chains slipped in while re-enabling */
    }
}

void vdev_tx_process(struct vdev *dev, uint64_t now)
{
    struct vq_device *vq = &dev->q[VSOCK_VQ_TX].vq;
    if (vq->num == 0)
        return;
    bool added = false;
    dev->tx_paused = false;
    vqdev_disable_notify(vq);
    for (;;) {
        if (replies_full(dev)) {
            /* As vhost: kicks stay disabled until delivery drains the
             * replies and resumes tx itself (vdev_pump). */
            dev->tx_paused = true;
            dev->c.tx_paused_replies++;
            break;
        }
        struct vq_chain ch;
        if (tx_next_chain(dev, &ch) == 0)
            break;
        if (tx_one(dev, &ch, now) == TX_KEEP) {
            vdev_keep_chain(dev, VSOCK_VQ_TX); /* and on to the next, as vhost */
            continue;
        }
        vqdev_push(vq, ch.head, 0);
        added = true;
    }
    if (added)
        vdev_signal(dev, VSOCK_VQ_TX);
}
