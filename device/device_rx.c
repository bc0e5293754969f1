/* The rx queue (packets to the guest, in the shape of
 * vhost_transport_do_send_pkt) and the event queue. A packet larger than
 * the buffer it lands in is split over several buffers, each part with its
 * own header, as vhost does; the guest's buffers are hostile input, so a
 * buffer that cannot take a header is returned empty and the packet waits
 * for the next one. */
#include "device/device_priv.h"

#include <errno.h>

/* RX_KEPT: vhost's vq_err on a buffer it cannot use; rx stops with kicks
 * still disabled, as vhost breaks out of its loop. */
enum rx_outcome { RX_SENT, RX_SKIPPED, RX_STOP, RX_KEPT };

static bool split_matches(const struct vdev_split *s, const struct vsock_hdr *h)
{
    return s->active && s->left == h->len && s->src_cid == h->src_cid &&
           s->dst_cid == h->dst_cid && s->src_port == h->src_port &&
           s->dst_port == h->dst_port && s->type == h->type && s->op == h->op;
}

/* Counts each packet that needed more than one buffer once, however many
 * parts it takes. */
static void note_part(struct vdev *dev, const struct vsock_hdr *h, uint32_t part)
{
    struct vdev_split *s = &dev->split;
    bool continuing = split_matches(s, h);
    if (part == h->len) {
        if (continuing)
            s->active = false;
        return;
    }
    if (!continuing)
        dev->c.rx_partial++;
    *s = (struct vdev_split){
        .active = true, .src_cid = h->src_cid, .dst_cid = h->dst_cid, .src_port = h->src_port,
        .dst_port = h->dst_port, .type = h->type, .op = h->op, .left = h->len - part};
}

/* The header one part carries: its own length, and for a seqpacket message
 * split here the message boundary only on the part that ends it, or the
 * guest would see several messages. */
static struct vsock_hdr part_header(const struct vsock_hdr *h, uint32_t part)
{
    struct vsock_hdr out = *h;
    out.len = part;
    if (part < h->len && h->type == VSOCK_TYPE_SEQPACKET)
        out.flags &= ~(VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
    return out;
}

static int write_failed(int64_t r)
{
    /* Only a chain rewritten after it was validated gets here. */
    return r < 0 ? (int)r : RING_E_DESC_RANGE;
}

static int write_part(const struct vq_chain *ch, const struct vsock_hdr *h,
                      const uint8_t *payload, uint32_t part)
{
    uint8_t raw[VSOCK_HDR_LEN];
    vsock_hdr_encode(h, raw);
    int64_t r = vq_chain_write(ch, 0, raw, sizeof(raw));
    if (r != (int64_t)sizeof(raw))
        return write_failed(r);
    if (part == 0)
        return RING_OK;
    r = vq_chain_write(ch, VSOCK_HDR_LEN, payload, part);
    return r == (int64_t)part ? RING_OK : write_failed(r);
}

/* vhost_transport_do_send_pkt on a buffer it cannot use: the packet is
 * freed, vq_err, the chain is never returned, and rx stops until the next
 * kick. The packet's remaining bytes are gone for the guest. */
static enum rx_outcome rx_drop_packet(struct vdev *dev, const struct vep_tx *t)
{
    vep_tx_advance(dev->ep, t->hdr.len);
    dev->split.active = false;
    dev->c.rx_pkt_lost++;
    vdev_keep_chain(dev, VSOCK_VQ_RX);
    return RX_KEPT;
}

/* What the used entry says was written: the bytes written, unless a test
 * asked for it to be off (vdev_set_rx_used_len_extra). */
static uint32_t used_len(const struct vdev *dev, uint32_t written)
{
    int64_t v = (int64_t)written + dev->rx_used_extra;
    return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static enum rx_outcome rx_fill(struct vdev *dev, const struct vq_chain *ch, const struct vep_tx *t)
{
    struct vq_device *vq = &dev->q[VSOCK_VQ_RX].vq;
    if (ch->out_count != 0 || ch->in_bytes < VSOCK_HDR_LEN) {
        /* vhost: "Expected 0 output buffers" / "Buffer len too small". */
        dev->c.rx_buf_too_small++;
        if (!dev->return_bad_chains)
            return rx_drop_packet(dev, t);
        vqdev_push(vq, ch->head, 0);
        return RX_SKIPPED;
    }
    uint32_t room = ch->in_bytes - VSOCK_HDR_LEN;
    uint32_t part = t->hdr.len < room ? t->hdr.len : room;
    struct vsock_hdr h = part_header(&t->hdr, part);
    int err = write_part(ch, &h, t->payload, part);
    if (err != RING_OK) {
        dev->c.rx_bad_chain++;
        vdev_ring_error(dev, VSOCK_VQ_RX, err);
        if (!dev->return_bad_chains)
            return rx_drop_packet(dev, t); /* "Faulted on copying pkt" */
        vqdev_push(vq, ch->head, 0);
        return RX_STOP;
    }
    vqdev_push(vq, ch->head, used_len(dev, VSOCK_HDR_LEN + part));
    if (dev->rx_observer != NULL)
        dev->rx_observer(dev->rx_observer_ctx, &h);
    note_part(dev, &t->hdr, part);
    dev->c.rx_pkts++;
    vep_tx_advance(dev->ep, part);
    return RX_SENT;
}

/* Pops the next rx chain; 1: *ch ready, 0: none (kicks enabled again) or
 * the ring is broken. */
static int rx_next_chain(struct vdev *dev, struct vq_chain *ch)
{
    struct vq_device *vq = &dev->q[VSOCK_VQ_RX].vq;
    for (;;) {
        int r = vqdev_pop(vq, ch);
        if (r > 0)
            return 1;
        if (r < 0) {
            dev->c.rx_bad_chain++;
            vdev_ring_error(dev, VSOCK_VQ_RX, r);
            if (dev->return_bad_chains)
                vqdev_enable_notify(vq); /* see tx_next_chain */
            return 0;
        }
        if (vqdev_enable_notify(vq)) {
            dev->c.rx_no_buffer++;
            return 0;
        }
        vqdev_disable_notify(vq);
    }
}

void vdev_rx_process(struct vdev *dev)
{
    struct vq_device *vq = &dev->q[VSOCK_VQ_RX].vq;
    if (vq->num == 0)
        return;
    bool added = false;
    vqdev_disable_notify(vq);
    for (;;) {
        struct vep_tx t;
        if (!vep_tx_peek(dev->ep, &t)) {
            vqdev_enable_notify(vq);
            break;
        }
        struct vq_chain ch;
        if (rx_next_chain(dev, &ch) == 0)
            break;
        enum rx_outcome o = rx_fill(dev, &ch, &t);
        if (o == RX_KEPT)
            break;
        added = true;
        if (o == RX_STOP) {
            vqdev_enable_notify(vq);
            break;
        }
    }
    if (added)
        vdev_signal(dev, VSOCK_VQ_RX);
}

/* Each round either delivers at least one rx buffer or stops, so this ends
 * within the buffers the guest posted. */
void vdev_pump(struct vdev *dev, uint64_t now)
{
    for (;;) {
        vdev_rx_process(dev);
        if (!dev->tx_paused || vep_tx_queued_replies(dev->ep) >= dev->max_replies)
            return;
        vdev_tx_process(dev, now);
    }
}

/* ---- event queue --------------------------------------------------------- */

static bool event_buf_ok(const struct vq_chain *ch)
{
    return ch->out_count == 0 && ch->in_bytes >= 4;
}

/* Writes one TRANSPORT_RESET into the first chain that can hold it; *added
 * tells whether any used entry was pushed. */
static int post_reset_event(struct vdev *dev, bool *added)
{
    struct vq_device *vq = &dev->q[VSOCK_VQ_EVENT].vq;
    const uint8_t ev[4] = {VSOCK_EVENT_TRANSPORT_RESET & 0xff, 0, 0, 0};
    for (;;) {
        struct vq_chain ch;
        int r = vqdev_pop(vq, &ch);
        if (r == 0)
            return -ENOSPC;
        if (r < 0) {
            dev->c.event_bad_chain++;
            vdev_ring_error(dev, VSOCK_VQ_EVENT, r);
            return -EIO;
        }
        *added = true;
        if (!event_buf_ok(&ch) || vq_chain_write(&ch, 0, ev, sizeof(ev)) != (int64_t)sizeof(ev)) {
            /* QEMU drops such an element without returning it; returning
             * it empty keeps the guest's descriptors from leaking. */
            dev->c.event_bad_buf++;
            vqdev_push(vq, ch.head, 0);
            continue;
        }
        vqdev_push(vq, ch.head, sizeof(ev));
        dev->c.events++;
        return 0;
    }
}

int vdev_inject_transport_reset(struct vdev *dev)
{
    if (!dev->event_queue)
        return -ENODEV;
    /* QEMU sends TRANSPORT_RESET after a migration: the old vhost device was
     * released, and vhost_vsock_reset_orphans orphaned its host sockets. */
    vep_orphan_all(dev->ep);
    dev->split.active = false;
    if (!vdev_q_running(dev, VSOCK_VQ_EVENT))
        return -ENOSPC;
    bool added = false;
    int r = post_reset_event(dev, &added);
    if (added)
        vdev_signal(dev, VSOCK_VQ_EVENT);
    return r;
}
