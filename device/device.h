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
 */
#ifndef VSOCKSIM_DEVICE_H
#define VSOCKSIM_DEVICE_H

#include "ring/ring.h"
#include "transport/transport.h"
#include "driver/driver.h" /* enum vsock_vq */

struct vdev_cfg {
    const struct gmem *mem;
    uint64_t guest_cid;
    uint64_t features;           /* offered; 0 = VERSION_1 | STREAM | SEQPACKET | EVENT_IDX | INDIRECT_DESC */
    uint32_t max_queued_replies; /* 0 = the tx queue size, as vhost */
    bool event_queue;            /* false when the front end keeps it (vhost-user) */
    struct vep_cfg sockets;      /* host-side socket tunables; local_cid is 2 */
};

struct vdev_counters {
    uint64_t tx_pkts;
    uint64_t rx_pkts;
    uint64_t rx_partial;        /* packets split over several rx buffers */
    uint64_t rx_no_buffer;      /* deliveries that found rx empty */
    uint64_t rx_buf_too_small;  /* rx chain that cannot hold a header */
    uint64_t tx_bad_chain;      /* malformed tx chains (ring errors) */
    uint64_t tx_bad_pkt;        /* chain shorter than a header, or not readable */
    uint64_t tx_paused_replies; /* tx processing paused: too many queued replies */
    uint64_t rx_bad_chain;      /* malformed rx chains (ring errors) */
    uint64_t events;
    uint64_t event_bad_buf;     /* event chain that cannot hold an event (skipped) */
    uint64_t event_bad_chain;   /* malformed event chains (ring errors) */
    int last_ring_error;        /* the last ring error seen, 0 if none */
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
/* Starts the queues that were set (0 when already started), then delivers
 * what host sockets queued meanwhile. Ring errors (bad layout) come back
 * here, and then no queue runs. */
int vdev_start(struct vdev *dev);
/* Where a started queue continues (vhost-user SET_VRING_BASE after a
 * restart): -EINVAL for a bad or stopped queue, a ring error otherwise. */
int vdev_set_queue_base(struct vdev *dev, enum vsock_vq q, uint16_t idx);
/* Device reset: queues stop, every connection is reset, listeners stay.
 * Features and layouts are kept (as a vhost device keeps them), so
 * vdev_start alone runs the queues again; they may be set anew first. */
void vdev_reset(struct vdev *dev);
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

/* Called with the header of every packet (or part of one) the device
 * placed in an rx buffer, as written there: what crossed the ring towards
 * the guest, for transcripts. NULL for none. (What the guest sent is seen
 * through cfg.sockets.observe_rx.) */
typedef void (*vdev_rx_observer)(void *ctx, const struct vsock_hdr *hdr);
void vdev_set_rx_observer(struct vdev *dev, vdev_rx_observer fn, void *ctx);

struct vep *vdev_sockets(struct vdev *dev);
const struct vdev_counters *vdev_counters(const struct vdev *dev);
const struct vq_device *vdev_queue(const struct vdev *dev, enum vsock_vq q);

#endif
