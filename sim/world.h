/*
 * sim/world: the whole stack in one process. Our guest driver (driver/) and
 * our device (device/) share one guest-memory buffer holding real split
 * virtqueues (rx 0, tx 1, event 2) and the driver's arena; guest
 * applications use the endpoint's socket API on world_guest(), host
 * applications on world_host().
 *
 * Notifications travel as vhost carries them: a kick is an ioeventfd the
 * device's worker reads later, an interrupt an irqfd the guest's handler
 * reads later. Both are collected into the world and delivered on the next
 * world_step, so neither side ever runs inside the other's call. The world
 * decides nothing by chance: no PRNG, no clock of its own (the caller passes
 * the time), no global state. Two worlds given the same configuration and
 * the same calls end in the same state.
 *
 * The simulator's scheduler will grow out of world_step (who runs next,
 * notification delay and loss, faults); this file keeps the mechanics it
 * needs: construction, one fair step, running to idle, and the cross-layer
 * invariant oracle (world_check).
 */
#ifndef VSOCKSIM_WORLD_H
#define VSOCKSIM_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "device/device.h"
#include "driver/driver.h"
#include "ring/ring.h"
#include "transport/transport.h"

/* Where guest memory starts: above the first megabyte, as in a PC guest. */
#define WORLD_GPA 0x100000ull
/* QEMU's and vhost's vsock queue size. */
#define WORLD_DEFAULT_QSIZE 128u
#define WORLD_DEFAULT_GUEST_CID 3u

struct world_cfg {
    enum vsock_linux linux_ver;     /* whose rules both sides follow (guest and host
                                       vep_cfg get it); 0 = VSOCK_LINUX_DEFAULT */
    uint64_t deviate;               /* named deviations from Linux, added to both sides'
                                       vep_cfg (VSOCK_DEV_BIT); 0 = none */
    uint32_t qsize[VSOCK_VQ_COUNT]; /* per queue; 0 = WORLD_DEFAULT_QSIZE */
    uint64_t guest_cid;             /* config space; 0 = WORLD_DEFAULT_GUEST_CID */
    uint64_t features;              /* the device's offer; 0 = the device's default */
    uint64_t driver_features;       /* what the driver will take; 0 = all it knows */
    uint32_t rx_buf_size;           /* guest rx buffer incl. header; 0 = driver default */
    bool tiny_rx_ok;                /* rx_buf_size may be below a header (vdrv_cfg) */
    uint32_t tx_max_payload;        /* guest tx packet payload; 0 = driver default */
    uint32_t max_queued_replies;    /* device; 0 = the tx queue size, as vhost */
    uint32_t rx_pause_replies;      /* driver (vdrv_cfg); 0 = its default,
                                       VDRV_RX_PAUSE_LINUX = the rx ring size */
    struct vep_cfg guest;           /* guest socket tunables (CIDs are filled in) */
    struct vep_cfg host;            /* host socket tunables (CIDs are filled in) */
};

struct world;

/* Builds guest memory, the device (offering cfg->features, with host
 * listeners possible from now on), the driver (which probes, negotiates and
 * posts its buffers) and starts the device with what the driver accepted.
 * *err (may be NULL) gets 0, -EINVAL (no cfg, or buffer sizes the driver
 * refuses), RING_E_QUEUE_SIZE (a queue size that is not a power of two in
 * 1..32768, as vdrv_new says it), -ENOMEM, or what vdev_new, vdrv_new or
 * vdev_start reported (see their headers). The driver's first kicks wait
 * for the first world_step. */
struct world *world_new(const struct world_cfg *cfg, int *err);
void world_free(struct world *w);

/* One round: pending kicks go to the device, the device delivers what host
 * sockets queued, pending interrupts go to the driver, the driver moves what
 * guest sockets queued onto the tx ring, and due timers run on both sides.
 * True when anything happened: a notification was delivered or is pending,
 * a ring index moved, or a timer fired. */
bool world_step(struct world *w, uint64_t now);
/* Steps until a step does nothing: 0, or -EBUSY when max_steps steps all
 * did something (a livelock, or simply more work than max_steps allows). */
int world_run_until_idle(struct world *w, uint64_t now, unsigned max_steps);

/* True when nothing is in transit: no notification pending, both socket
 * layers' send queues empty, every tx chain completed and every used
 * entry collected. Only posted rx and event buffers remain on the rings. */
bool world_quiescent(const struct world *w);

/* Linux's reply-pause deadlock (traces/corpus/linux-reply-pause-deadlock.md),
 * which the model reproduces because it follows both of Linux's rules: true,
 * with the counters and ring indices that show it in buf, when
 * - the driver has paused rx on its replies (virtio_transport_more_replies)
 *   and cannot put them on tx: packets wait, no tx descriptor is free and
 *   the device has returned none the driver has not collected; and
 * - the device has paused tx on its replies (vhost_vsock_more_replies) and
 *   cannot put them on rx: no rx buffer is available, and the paused driver
 *   gives none back.
 * No kick, interrupt or timer changes that; a reset does. */
bool world_reply_pause_deadlock(const struct world *w, char *buf, size_t len);

/* The cross-layer invariants, checked at any time; the first violation as a
 * sentence (in a buffer inside w, valid until the next call), or NULL. It
 * only reads: no notification or error is taken from driver or device.
 * - the device met no malformed chain, the driver is not broken;
 * - each running ring agrees with both halves' bookkeeping: the indices in
 *   memory are the ones each half published, and the chains the driver has
 *   in flight are exactly those waiting, popped, or used and uncollected;
 * - for each guest/host connection pair (ports and CIDs mirrored), neither
 *   side has more bytes outstanding than the receiver's buf_alloc (so a
 *   receiver that shrinks a buffer holding data trips it);
 * and, once quiescent:
 * - every connected socket its peer has not shut down both ways has its
 *   mirror on the other side, and every byte either sent has arrived (read
 *   or queued). */
const char *world_check(struct world *w);

/* Connections one side may have lost without telling the other: a
 * TRANSPORT_RESET or a device reset resets the guest's end locally, as
 * Linux does, leaving the host's end half-open until it sends and gets the
 * guest's RST (or is closed). world_check does not ask for the mirror of a connection
 * for which exempt returns true. */
typedef bool (*world_exempt_fn)(void *ctx, bool guest_side, const struct vep_conn_info *c);
void world_set_exempt(struct world *w, world_exempt_fn fn, void *ctx);

/* A device reset as the guest drives it (status 0, then the queues set up
 * again and DRIVER_OK): the device stops (vdev_reset: host connections stay,
 * as vhost's do), the driver reclaims its chains, resets its connections (as
 * Linux's virtio_vsock_vqs_del) and reposts buffers, and the device starts
 * again with the same features and layouts. A host connection whose guest
 * end went away is half-open until it sends and the guest answers with RST.
 * Listeners survive on both sides. Returns vdev_start's result. */
int world_device_reset(struct world *w, uint64_t now);
/* A VM stop and cont as QEMU drives vhost (VHOST_VSOCK_SET_RUNNING 0, then
 * the rings handed over again where they stopped and RUNNING 1): the guest
 * notices nothing, its kicks meanwhile are lost, host sockets keep queueing
 * for it, and on start the device delivers that and looks at tx. */
void world_device_stop(struct world *w);
int world_device_start(struct world *w);

/* A conformance case presented malformed chains on purpose and has seen the
 * outcome: the malformed chains the device has met so far are not an
 * oracle violation; any it meets later still are. */
void world_accept_ring_errors(struct world *w);
/* A case speaks raw packets through the driver on queue q: the device may
 * keep the driver's chains with a queue error (a crafted packet vhost would
 * refuse), and that is no violation. */
void world_accept_kept_chains(struct world *w, enum vsock_vq q);
/* A case made the device misreport rx used lens: packets the guest driver
 * then drops (as Linux would) are lost to their connection, so that every
 * byte sent arrives is no longer asked. */
void world_accept_lost_bytes(struct world *w);
/* A case wrote hand-made chains on the idle queue q and the driver adopted
 * the ring's indices: the chains the device still holds (kept with a queue
 * error, or left at the head of avail after a ring error, where every later
 * kick meets it again) are not the driver's. Also accepts the errors. */
void world_adopt_foreign_chains(struct world *w, enum vsock_vq q);

/* Queue bits on which the device has signalled a ring error (its error
 * eventfd) to world_step so far. */
unsigned world_ring_errors(const struct world *w);

struct vep *world_guest(struct world *w);
struct vep *world_host(struct world *w);
struct vdrv *world_driver(struct world *w);
struct vdev *world_device(struct world *w);
struct gmem *world_mem(struct world *w);
/* Where queue q's rings live in guest memory. */
const struct vring_layout *world_layout(const struct world *w, enum vsock_vq q);
uint64_t world_guest_cid(const struct world *w);

#endif
