/*
 * device/: the vhost-style virtio-vsock device as a pure state machine, in the
 * shape of Linux's drivers/vhost/vsock.c. It handles tx kicks (packets from
 * the guest), fills rx buffers (header and payload across chains of any
 * shape), bounds the replies it queues while rx is full, and can put a
 * TRANSPORT_RESET event on the event queue. Its host applications use the
 * endpoint's socket API (transport/transport.h, vep_*) on vdev_sockets(dev).
 *
 * It does no I/O and has no clock: the caller steps it (a kick arrived on
 * queue N, deliver pending packets, time is now T) and asks what it wants
 * done (interrupt queue N, signal a queue error).
 *
 * Malformed chains, as Linux's vhost treats them (drivers/vhost/vsock.c,
 * 6.1.192 and 6.12.118): a chain vhost_get_vq_desc cannot read (a ring
 * error) gets a queue error and stays at the head of avail, and the queue
 * stops there (every later pass meets it again). A tx chain it reads but
 * cannot take as a packet (vhost_vsock_alloc_skb: writable descriptors,
 * fewer than 44 bytes, more than 64 KiB + 44, or a hdr.len beyond the chain)
 * gets a queue error and is kept, never returned; the next chain is taken.
 * An rx chain that cannot take a packet (readable descriptors, fewer than 44
 * bytes) drops the packet it was for, gets a queue error, is kept, and rx
 * stops (vhost_transport_do_send_pkt). A kept chain is lost to the driver
 * until the next reset. With the return-bad-chains deviation instead
 * (cfg.sockets.deviate, VSOCK_DEV_RETURN_BAD_CHAINS), every such
 * chain is returned with used len 0 and no error (the packet waits for the
 * next rx buffer), and a ring error consumes its head so later chains go
 * through.
 */
#ifndef VSOCKSIM_DEVICE_H
#define VSOCKSIM_DEVICE_H

#include "ring/ring.h"
#include "transport/transport.h"
#include "driver/driver.h" /* enum vsock_vq */

/* What Linux's vhost-vsock offers (VHOST_GET_FEATURES): VHOST_VSOCK_FEATURES
 * of drivers/vhost/vsock.c, the same 0x33d000002 in 6.1.192 and 6.12.118:
 * SEQPACKET (1), NOTIFY_ON_EMPTY (24), LOG_ALL (26), ANY_LAYOUT (27),
 * INDIRECT_DESC (28), EVENT_IDX (29), VERSION_1 (32), ACCESS_PLATFORM (33).
 * No STREAM bit (stream is implied) and no NO_IMPLIED_STREAM. */
#define VDEV_VHOST_OFFER 0x33d000002ull
/* The bits of it our device implements, its default offer: the socket and
 * ring bits. NOTIFY_ON_EMPTY and ANY_LAYOUT are legacy-interface bits a
 * VERSION_1 driver never takes, LOG_ALL is vhost's dirty-page log for
 * migration and ACCESS_PLATFORM an IOMMU; none of them is ours to offer. */
#define VDEV_DEFAULT_OFFER                                                          \
    (VDEV_VHOST_OFFER & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) | \
                         (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_VSOCK_F_SEQPACKET)))

struct vdev_cfg {
    const struct gmem *mem;
    uint64_t guest_cid;
    uint64_t features;           /* offered; 0 = VDEV_DEFAULT_OFFER */
    uint32_t max_queued_replies; /* 0 = the tx queue size, as vhost */
    bool event_queue;            /* false when the front end keeps it (vhost-user) */
    struct vep_cfg sockets;      /* host-side socket tunables; local_cid is 2 */
};

struct vdev_counters {
    uint64_t tx_pkts;
    uint64_t rx_pkts;
    uint64_t rx_partial;        /* packets split over several rx buffers */
    uint64_t rx_no_buffer;      /* deliveries that found rx empty */
    uint64_t rx_buf_too_small;  /* rx chain that cannot hold a header, or not writable */
    uint64_t tx_bad_chain;      /* malformed tx chains (ring errors) */
    uint64_t tx_bad_pkt;        /* not a packet: writable parts, shorter than a header, longer
                                   than 64 KiB + 44 or than its hdr.len says (vhost's rules) */
    uint64_t tx_kept;           /* tx chains kept with a queue error, never returned */
    uint64_t rx_kept;           /* rx chains kept with a queue error, never returned */
    uint64_t rx_pkt_lost;       /* packets dropped on an rx chain that could not take them */
    uint64_t tx_paused_replies; /* tx processing paused: too many queued replies */
    uint64_t rx_bad_chain;      /* malformed rx chains (ring errors) */
    uint64_t events;
    uint64_t event_bad_buf;     /* event chain that cannot hold an event (skipped) */
    uint64_t event_bad_chain;   /* malformed event chains (ring errors) */
    int last_ring_error;        /* the last ring error seen, 0 if none */
    uint64_t queue_errors[VSOCK_VQ_COUNT]; /* error eventfd signals, per queue */
};

struct vdev;

struct vdev *vdev_new(const struct vdev_cfg *cfg, int *err);
void vdev_free(struct vdev *dev);

uint64_t vdev_offered_features(const struct vdev *dev);
/* The driver's accepted features; -EINVAL if not a subset of the offer,
 * -EBUSY while started. They configure the queues at the next vdev_start.
 * The host sockets allow SEQPACKET when it is offered (the endpoint is made
 * in vdev_new, before negotiation, so that host listeners can exist first). */
int vdev_set_features(struct vdev *dev, uint64_t features);
/* -EINVAL for an unknown queue (or the event queue without cfg.event_queue),
 * -EBUSY while started. The layout is checked at vdev_start. */
int vdev_set_queue(struct vdev *dev, enum vsock_vq q, const struct vring_layout *layout);
/* Starts the queues that were set (0 when already started), each where
 * vdev_stop left it or else from the start of its ring, then delivers what
 * host sockets queued meanwhile. Ring errors (bad layout) come back here,
 * and then no queue runs. */
int vdev_start(struct vdev *dev);
/* Where a queue continues (vhost-user SET_VRING_BASE): the next avail entry
 * is idx, the used idx the one in ring memory. A stopped queue starts there
 * at the next vdev_start. -EINVAL for a queue the device does not have, a
 * ring error otherwise. */
int vdev_set_queue_base(struct vdev *dev, enum vsock_vq q, uint16_t idx);

/* Stopping, as vhost-vsock stops. Host connections never notice a stop or a
 * reset: vhost_vsock_stop only clears the queues' backends, and packets for
 * the guest keep queueing (send_pkt_queue) until it runs again. Features and
 * layouts are kept (as a vhost device keeps them), so vdev_start alone runs
 * the queues again; they may be set anew first. */

/* VHOST_VSOCK_SET_RUNNING 0 (QEMU at VM stop): the queues stop where they
 * are and vdev_start continues them there. */
void vdev_stop(struct vdev *dev);
/* The guest reset the device: the queues stop, and start from the beginning
 * of their rings at the next vdev_start. A host connection whose guest end
 * the reset took away is half-open: it learns of it when it sends and the
 * guest answers with RST. */
void vdev_reset(struct vdev *dev);
/* The front end is gone for good (vhost_vsock_dev_release: /dev/vhost-vsock
 * closed): every host connection is orphaned (vhost_vsock_reset_orphans:
 * SO_ERROR ECONNRESET, end of stream), what host sockets queued for the
 * guest is dropped (the send_pkt_queue purge), listeners stay, and the
 * queues stop as vdev_reset stops them. */
void vdev_release(struct vdev *dev);
/* Chains of queue q the device kept with a queue error since its rings
 * (re)started from the beginning: lost to the driver, which still counts
 * them in flight. */
uint32_t vdev_kept_chains(const struct vdev *dev, enum vsock_vq q);
uint64_t vdev_guest_cid(const struct vdev *dev);

/* A kick on the tx queue: take the guest's packets. */
void vdev_handle_tx_kick(struct vdev *dev, uint64_t now);
/* A kick on the rx queue (new buffers): deliver what is waiting. */
void vdev_handle_rx_kick(struct vdev *dev, uint64_t now);
/* Deliver packets queued by host sockets into rx buffers. */
void vdev_deliver(struct vdev *dev, uint64_t now);
void vdev_tick(struct vdev *dev, uint64_t now);
uint64_t vdev_next_deadline(const struct vdev *dev);

/* Resets every host connection and puts TRANSPORT_RESET on the event queue
 * (if it has a buffer). -ENOSPC when no usable event buffer is posted (the
 * connections are reset anyway), -EIO when the event ring is malformed (error
 * bit set), -ENODEV without an event queue (nothing is reset). */
int vdev_inject_transport_reset(struct vdev *dev);

/* Queues the device wants to interrupt since the last call (bit i = queue i). */
unsigned vdev_take_interrupts(struct vdev *dev);
/* Queues that hit a ring error since the last call (vhost's error eventfd). */
unsigned vdev_take_errors(struct vdev *dev);

/* Every rx used len the device writes is reported `extra` bytes off the
 * bytes it wrote (clamped at 0 and 2^32 - 1): a test knob, to see what a
 * guest driver accepts (Linux takes a used len beyond 44 + hdr.len). */
void vdev_set_rx_used_len_extra(struct vdev *dev, int32_t extra);

/* Called with the header of every packet (or part of one) the device
 * placed in an rx buffer, as written there: what crossed the ring towards
 * the guest, for transcripts. NULL for none. (What the guest sent is seen
 * through cfg.sockets.observe_rx.) */
typedef void (*vdev_rx_observer)(void *ctx, const struct vsock_hdr *hdr);
void vdev_set_rx_observer(struct vdev *dev, vdev_rx_observer fn, void *ctx);

/* Called with every tx chain the device takes as a packet: its header and
 * the lengths of its readable descriptors in order (an indirect table's
 * entries; up to max_lens of them in lens, n says how many there were):
 * how the guest laid the packet out (Linux 6.12 sends large packets as page
 * fragments). NULL for none. */
#define VDEV_TX_LAYOUT_MAX 20u
typedef void (*vdev_tx_layout_observer)(void *ctx, const struct vsock_hdr *hdr,
                                        const uint32_t *lens, uint32_t n);
void vdev_set_tx_layout_observer(struct vdev *dev, vdev_tx_layout_observer fn, void *ctx);

struct vep *vdev_sockets(struct vdev *dev);
const struct vdev_counters *vdev_counters(const struct vdev *dev);
const struct vq_device *vdev_queue(const struct vdev *dev, enum vsock_vq q);
/* True while tx processing is paused on replies (vhost_vsock_more_replies
 * false): a kick does not restart it, only replies leaving for rx do. */
bool vdev_tx_paused(const struct vdev *dev);
/* Replies queued at which tx pauses (the tx queue size, as vhost). */
uint32_t vdev_max_replies(const struct vdev *dev);
/* Changes that bound (0: vhost's, the tx queue size), at once: a tx queue
 * paused on replies that the new bound releases goes on now. A test knob:
 * a case that flooded a real guest driver into Linux's reply-pause
 * deadlock lifts our device's side of it to let the guest recover. */
void vdev_set_max_queued_replies(struct vdev *dev, uint32_t n, uint64_t now);

#endif
