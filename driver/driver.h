/*
 * driver/: the guest's virtio-vsock driver as a pure state machine, in the
 * shape of Linux's virtio_transport.c. It negotiates features, reads guest_cid
 * from config space, keeps the rx queue filled, moves the socket layer's
 * packets onto the tx queue with back-pressure, and handles the event queue.
 * It does no I/O and has no clock: the caller steps it (an interrupt arrived,
 * process tx, time is now T) and asks what it wants done (kick queue N).
 *
 * The socket API is the endpoint's (transport/transport.h, vep_*), on
 * vdrv_sockets(drv): after a socket call, packets wait in the endpoint until
 * vdrv_handle_tx moves them onto the ring.
 *
 * rx pauses while a ring's worth of replies waits for tx, as Linux's
 * virtio_transport_more_replies, and tx restarts it (vdrv_cfg.rx_pause_replies;
 * the reply-budget deviation keeps rx going instead).
 *
 * Where it differs from Linux 6.1 (each choice is explained at its code):
 * - guest_cid: reserved values (0, 1, 2, 0xffffffff, any upper 32 bits set)
 *   fail the probe with -EINVAL; re-read later (TRANSPORT_RESET, device
 *   reset) they are counted in bad_cid and the previous CID is kept. Linux
 *   truncates to 32 bits and checks nothing.
 * - rx buffers are one writable descriptor of rx_buf_size, 3776 bytes by
 *   default, header included, as Debian's 6.1.192 and 6.12.118 post them.
 *   They are refilled as Linux does, when fewer than half remain posted,
 *   rounded up so that a one-entry queue is refilled too.
 * - an rx used len is taken as Linux's virtio_transport_rx_work takes it:
 *   shorter than a header or longer than the buffer drops the packet, so
 *   does a hdr.len beyond the bytes the used len covers; a used len beyond
 *   44 + hdr.len is fine and only hdr.len payload bytes are data (1.3's
 *   5.10.6: rx buffers may be larger than the packet).
 * - under the 6.12 profile, a packet the socket layer queues while nothing
 *   waits before it goes onto the tx ring at once, with a kick of its own
 *   (6.12.118's virtio_transport_send_pkt fast path: in the sender's send
 *   call, or in rx handling for a reply); only when the ring has no room
 *   does it wait for tx work, and only then does a reply count towards the
 *   rx pause. 6.1.192 queues every packet for tx work, which kicks once
 *   per batch.
 * - tx packets go out whole up to tx_max_payload (64 KiB by default, Linux's
 *   VIRTIO_VSOCK_MAX_PKT_BUF_SIZE; the socket layer never builds larger
 *   ones), as a header descriptor and the payload descriptors Linux's guest
 *   of the profile gives it (vdrv_linux_tx_frags); a larger packet
 *   (only a crafted one, vep_tx_inject) is split at tx_max_payload, so a case
 *   that wants a bigger packet on the ring asks for a bigger tx_max_payload.
 *   The arena has 32 slots for packets above 4 KiB and the rest of the tx
 *   queue's for smaller ones: more large packets than that wait for a slot
 *   (Linux allocates each packet's memory).
 *   A one-entry tx ring gets header and payload in one descriptor (an
 *   indirect table may be no longer than the queue either).
 * - event buffers are 8 bytes and fill the event queue (Linux posts 8
 *   buffers of 4); an event is taken when its used len is 4..8 (Linux: 4).
 * - a bad used id costs only that entry (counted in bad_used); only a used
 *   idx beyond the chains in flight marks the driver broken. Linux marks the
 *   queue broken on either.
 * - the endpoint drops packets whose dst_cid is not ours (check_dst_cid);
 *   Linux lets a listener bound to any CID take them.
 * Errors from vdrv_new are negative errno values or ring errors (enum
 * ring_err); the two ranges overlap numerically, so compare against the
 * specific codes documented on vdrv_new.
 */
#ifndef VSOCKSIM_DRIVER_H
#define VSOCKSIM_DRIVER_H

#include "ring/ring.h"
#include "transport/transport.h"

enum vsock_vq { VSOCK_VQ_RX = 0, VSOCK_VQ_TX = 1, VSOCK_VQ_EVENT = 2, VSOCK_VQ_COUNT = 3 };

/* Reads config space: the device's guest_cid field (le64, 5.10.4). */
typedef uint64_t (*vdrv_read_cid_fn)(void *ctx);

/* vdrv_cfg.rx_pause_replies: Linux's rule (the rx ring size) even with the
 * reply-budget deviation. */
#define VDRV_RX_PAUSE_LINUX UINT32_MAX

struct vdrv_cfg {
    struct gmem *mem;
    struct vring_layout vq[VSOCK_VQ_COUNT]; /* where the rings live in guest memory */
    /* Guest memory the driver carves its buffers from: rx buffers, tx
     * packets, event buffers and indirect tables (vdrv_arena_bytes). */
    uint64_t arena_gpa;
    uint64_t arena_size;
    uint64_t device_features;  /* what the device offers */
    uint64_t driver_features;  /* what this driver is willing to use; 0 = all it knows */
    vdrv_read_cid_fn read_cid;
    void *read_cid_ctx;
    uint32_t rx_buf_size;      /* bytes per rx buffer incl. header; 0 = 3776 (Linux) */
    /* rx_buf_size may be below a header: buffers no packet fits, posted on
     * purpose to see what a device does with them (vhost: a queue error and
     * the packet dropped). Refused (-EINVAL) otherwise. */
    bool tiny_rx_ok;
    uint32_t tx_max_payload;   /* payload per tx packet; 0 = 65536 (Linux) */
    /* Replies (RESPONSE, RST) waiting for tx at which rx processing pauses
     * until tx drains them. 0: Linux's rule, the rx ring size
     * (virtio_transport_more_replies), unless sockets.deviate has
     * VSOCK_DEV_REPLY_BUDGET ("reply-budget"): then only once the socket
     * layer's reply budget (max_replies) is spent, which is what 5.10.6.1.1
     * asks ("so long as there are additional resources"). Against vhost,
     * which pauses tx at the tx ring size, Linux's rule can wait for ever
     * (traces/corpus/linux-reply-pause-deadlock.md). VDRV_RX_PAUSE_LINUX:
     * Linux's rule whatever the deviations; any other value: that many. */
    uint32_t rx_pause_replies;
    struct vep_cfg sockets;    /* socket-layer tunables; local_cid comes from config */
};

/* Guest memory the arena needs for cfg (queue sizes and buffer sizes). */
uint64_t vdrv_arena_bytes(const struct vdrv_cfg *cfg);

struct vdrv_counters {
    uint64_t rx_bufs_posted;
    uint64_t rx_pkts;
    uint64_t rx_bad_len;       /* used len shorter than a header or past the buffer */
    uint64_t rx_len_slack;     /* used len beyond 44 + hdr.len: taken, the rest ignored */
    uint64_t tx_pkts;
    uint64_t tx_ring_full;     /* a packet had to wait for tx descriptors */
    uint64_t events;
    uint64_t transport_resets;
    uint64_t bad_used;         /* hostile used entries (ring errors) */
    uint64_t bad_events;       /* unknown event ids or short event buffers */
    uint64_t bad_cid;          /* a re-read guest_cid was reserved: the old one is kept */
    uint64_t rx_paused;        /* rx stopped: as many replies wait for tx as rx holds */
    uint64_t tx_purged;        /* queued packets dropped by a device reset */
};

struct vdrv;

/* Negotiates (features = offered & wanted & known; VERSION_1 required), reads
 * guest_cid, sets up the queues and posts rx and event buffers. *err (may be
 * NULL) gets -ENODEV (no VERSION_1), -EINVAL (reserved CID, bad buffer
 * sizes, arena misaligned, too small or over a ring), -ENOMEM,
 * RING_E_QUEUE_SIZE, RING_E_GPA_RANGE (arena outside guest memory) or
 * another ring error from setting up a queue. */
struct vdrv *vdrv_new(const struct vdrv_cfg *cfg, int *err);
void vdrv_free(struct vdrv *drv);

uint64_t vdrv_features(const struct vdrv *drv);
uint64_t vdrv_guest_cid(const struct vdrv *drv);
struct vep *vdrv_sockets(struct vdrv *drv);
const struct vdrv_counters *vdrv_counters(const struct vdrv *drv);
/* True once a ring error made the driver stop using the device (as Linux's
 * BAD_RING marks a virtqueue broken). */
bool vdrv_broken(const struct vdrv *drv);

/* Process used rx buffers: deliver their packets, then refill. */
void vdrv_handle_rx(struct vdrv *drv, uint64_t now);
/* Reclaim used tx buffers, then move queued packets onto the ring. */
void vdrv_handle_tx(struct vdrv *drv, uint64_t now);
/* Process used event buffers (TRANSPORT_RESET) and repost them. */
void vdrv_handle_event(struct vdrv *drv, uint64_t now);
/* An interrupt: all three of the above. */
void vdrv_interrupt(struct vdrv *drv, uint64_t now);
/* Timers of the socket layer. */
void vdrv_tick(struct vdrv *drv, uint64_t now);
uint64_t vdrv_next_deadline(const struct vdrv *drv);

/* Queues the driver wants notified since the last call (bit i = queue i). */
unsigned vdrv_take_kicks(struct vdrv *drv);

/* The device was reset: every chain is detached, connections are reset,
 * listeners stay, the rings are set up again and rx/event buffers reposted. */
void vdrv_device_reset(struct vdrv *drv, uint64_t now);

/* The payload descriptors Linux's guest gives a tx packet of payload bytes,
 * after its 44-byte header descriptor (virtio_transport_send_skb): 6.1.192
 * one (a linear skb; none for no payload); 6.12.118 one up to 32404 bytes
 * (SKB_WITH_OVERHEAD(32768) - 44), else one per page fragment of
 * alloc_skb_with_frags(44, payload, order 3): chunks of up to 32 KiB, the
 * order lowered while the rest fits a smaller one (40000: 32768 + 7232;
 * 52000: 32768 + 16384 + 2848). Fills up to max lengths (the last takes
 * what is left when more would be needed) and returns how many. */
#define VDRV_TX_FRAGS_MAX 17u
unsigned vdrv_linux_tx_frags(enum vsock_linux v, uint32_t payload, uint32_t *frags,
                             unsigned max);

/* Called with the header of every packet (or part of one) the driver puts
 * on the tx ring, as written there: what it sent, for transcripts. NULL for
 * none. */
typedef void (*vdrv_tx_observer)(void *ctx, const struct vsock_hdr *hdr);
void vdrv_set_tx_observer(struct vdrv *drv, vdrv_tx_observer fn, void *ctx);

/* Access for oracles and tests. */
const struct vq_driver *vdrv_queue(const struct vdrv *drv, enum vsock_vq q);
/* The reply-pause rule as resolved: replies waiting for tx at which rx
 * processing pauses (the rx ring size under Linux's rule). */
uint32_t vdrv_rx_pause_replies(const struct vdrv *drv);
/* Whether rx processing is paused on replies now (only tx restarts it). */
bool vdrv_rx_paused(const struct vdrv *drv);
/* For conformance cases that wrote hand-made chains on queue q while it was
 * idle (vqd_adopt): the driver takes the ring's indices as its own. A ring
 * error (RING_E_INVAL with chains in flight), or -EIO once broken. */
int vdrv_adopt_queue(struct vdrv *drv, enum vsock_vq q);

#endif
