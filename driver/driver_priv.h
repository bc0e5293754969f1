/* Private to driver/: the driver's state, shared by its lifecycle code
 * (driver.c), its arena plan (driver_arena.c) and its queue handlers
 * (driver_queues.c). */
#ifndef VSOCKSIM_DRIVER_PRIV_H
#define VSOCKSIM_DRIVER_PRIV_H

#include "driver/driver.h"

/* Linux's guest posts one rx descriptor of VIRTIO_VSOCK_DEFAULT_RX_BUF_SIZE
 * = SKB_WITH_OVERHEAD(4096) bytes, header included: 4096 minus the 320-byte
 * aligned skb_shared_info on x86-64 (include/linux/virtio_vsock.h,
 * net/vmw_vsock/virtio_transport.c virtio_vsock_rx_fill; 6.1.192 and 6.12.118
 * alike). So 3732 payload bytes per buffer. */
#define VDRV_DEFAULT_RX_BUF 3776u
/* Linux's guest sends up to VIRTIO_VSOCK_MAX_PKT_BUF_SIZE (64 KiB) of payload
 * as one packet (virtio_transport_common.c virtio_transport_send_pkt_info). */
#define VDRV_DEFAULT_TX_PAYLOAD (64u * 1024u)
/* Far above what Linux uses (3776-byte rx buffers, 64 KiB packets), low
 * enough that no slot size or arena offset can overflow. */
#define VDRV_MAX_BUF (1u << 20)
/* tx slots come in two sizes when packets may be larger than this: a queue's
 * worth of 64 KiB slots would be 8 MiB of guest memory to zero at every
 * start (a sixth of a simulation's time), while packets that large are few
 * (credit bounds them): at most VDRV_TX_LARGE_SLOTS (a quarter of the
 * default queue) are on the ring at once, the rest wait their turn. Linux
 * allocates each packet's memory and has no such bound. */
#define VDRV_TX_SMALL_PAYLOAD 4096u
#define VDRV_TX_LARGE_SLOTS 32u
#define VDRV_EVENT_BUF 8u    /* le32 id, padded as the brief asks */
#define VDRV_EVENT_STRIDE 16u /* every arena slot stays 16-aligned */
#define VDRV_TX_SEGS 2u      /* header, payload (6.1: a linear skb) */
/* Linux 6.12: the header, then one descriptor per page fragment of a
 * non-linear skb (at most MAX_SKB_FRAGS, 17 in Debian's config). */
#define VDRV_TX_SEGS_6_12 (1u + VDRV_TX_FRAGS_MAX)
#define VDRV_SLOT_ALIGN 16u

#define VDRV_KNOWN_FEATURES                                                                     \
    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_VSOCK_F_STREAM) |                           \
     (1ull << VIRTIO_VSOCK_F_SEQPACKET) | (1ull << VIRTIO_VSOCK_F_NO_IMPLIED_STREAM) |          \
     (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC))

/* One buffer carved from the arena. Its address is the token handed to the
 * ring, so a used entry leads straight back to it. */
struct vdrv_buf {
    uint64_t gpa;
    uint8_t *hva;
    uint32_t cap;   /* bytes the slot can hold */
    uint32_t index; /* in its pool */
    struct vdrv_pool *owner;
    /* tx: whose payload it carries, for SIOCOUTQ (vep_tx.owner, 0: none) */
    uint64_t sender;
    uint32_t sent;
};

/* The slots of one queue. The free ones sit on a stack, so which slot is used
 * next depends only on the order of completions, never on addresses. */
struct vdrv_pool {
    struct vdrv_buf *buf;
    uint32_t *free;
    uint32_t nslots;
    uint32_t nfree;
};

/* Where each kind of slot lives, as offsets from the arena's start. */
struct vdrv_arena_plan {
    uint32_t num[VSOCK_VQ_COUNT];
    uint32_t rx_buf_size;
    uint32_t tx_max_payload;
    uint32_t tx_segs; /* descriptors a tx packet may take (its indirect table's size) */
    uint64_t rx_off, rx_stride;
    uint64_t tx_off, tx_stride;             /* small tx slots (all of them with one size) */
    uint32_t tx_small_payload, tx_small_n;
    uint64_t tx_large_off, tx_large_stride; /* tx slots of tx_max_payload */
    uint32_t tx_large_n;
    uint64_t ev_off, ev_stride;
    uint64_t ind_off, ind_bytes; /* indirect tables for tx, 0 bytes without INDIRECT_DESC */
    uint64_t total;
};

/* The endpoint's own default reply limit (transport/: 1024). */
#define VDRV_DEFAULT_REPLY_BUDGET 1024u

struct vdrv {
    struct gmem *mem;
    uint64_t features;
    uint64_t guest_cid;
    vdrv_read_cid_fn read_cid;
    void *read_cid_ctx;
    struct vdrv_arena_plan plan;
    uint8_t *arena_hva;
    uint64_t arena_gpa;

    struct vq_driver vq[VSOCK_VQ_COUNT];
    struct vdrv_pool pool[VSOCK_VQ_COUNT]; /* tx: the small slots */
    struct vdrv_pool tx_large;             /* tx slots of tx_max_payload */
    struct vep *ep;
    uint32_t rx_pause_replies; /* resolved: never 0 */
    struct vdrv_counters ctr;

    vdrv_tx_observer tx_observer;
    void *tx_observer_ctx;

    unsigned kicks;
    bool linux_6_12;        /* Debian's 6.12.118 guest: tx fast path, fragment layout */
    bool broken;
    bool rx_paused;         /* too many replies waiting for tx (Linux's more_replies) */
    uint32_t rx_buf_nr;     /* rx buffers the device holds */
    uint32_t rx_buf_max_nr; /* the most it ever held: the refill threshold's base */
};

/* driver_arena.c */
uint64_t vdrv_negotiate(const struct vdrv_cfg *cfg);
bool vdrv_cid_valid(uint64_t cid);
/* Normalises the buffer sizes and lays out the arena; false when a size or a
 * queue size is out of range. */
bool vdrv_plan_arena(const struct vdrv_cfg *cfg, uint64_t features, struct vdrv_arena_plan *p);

/* driver_queues.c */
void vdrv_fill_rx(struct vdrv *drv);
void vdrv_fill_events(struct vdrv *drv);
void vdrv_update_cid(struct vdrv *drv);
/* Back to the pool it came from. */
void vdrv_buf_put(struct vdrv_buf *b);
/* The endpoint queued a packet (vep_cfg.tx_queued, 6.12 only): the fast
 * path. */
void vdrv_tx_fast_path(void *drv);

#endif
