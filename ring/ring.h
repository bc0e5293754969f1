/*
 * ring/: guest memory and the split virtqueue (virtio 1.x, section 2.7), in two
 * halves over one layout, as Linux splits virtio_ring.c (driver) and vringh.c /
 * vhost.c (device).
 *
 * The driver half owns the descriptor table and the avail ring and reaches them
 * through host pointers, as a guest driver reaches its own memory. The device
 * half reaches everything through the guest-memory map, as vhost does, and
 * treats every byte the driver wrote as hostile: each broken rule has its own
 * error code and nothing outside guest memory is ever touched.
 *
 * Index publication is release/acquire, and the event-suppression checks sit
 * behind full fences, because in the kernel target a real vhost worker thread
 * reads these rings concurrently.
 */
#ifndef VSOCKSIM_RING_H
#define VSOCKSIM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors -------------------------------------------------------------- */

enum ring_err {
    RING_OK = 0,
    RING_E_INVAL = -1,            /* bad argument from the caller */
    RING_E_NOMEM = -2,            /* allocation failed */
    RING_E_GPA_RANGE = -3,        /* GPA range outside guest memory or straddling two regions */
    RING_E_REGION_OVERLAP = -4,   /* a new region overlaps an existing one */
    RING_E_REGION_FULL = -5,      /* too many regions */
    RING_E_QUEUE_SIZE = -6,       /* queue size not a power of two in 1..32768 */
    RING_E_ALIGN = -7,            /* ring part misaligned */
    RING_E_FULL = -8,             /* driver: not enough free descriptors */
    RING_E_AVAIL_IDX = -9,        /* device: avail idx moved more than queue size ahead */
    RING_E_HEAD_RANGE = -10,      /* device: avail ring names a head >= queue size */
    RING_E_NEXT_RANGE = -11,      /* device: desc.next >= table size */
    RING_E_CHAIN_LOOP = -12,      /* device: chain revisits a descriptor */
    RING_E_CHAIN_TOO_LONG = -13,  /* device: chain has more descriptors than the queue size */
    RING_E_INDIRECT_FEATURE = -14,/* device: INDIRECT used without VIRTIO_F_INDIRECT_DESC */
    RING_E_INDIRECT_NESTED = -15, /* device: INDIRECT inside an indirect table */
    RING_E_INDIRECT_NEXT = -16,   /* device: INDIRECT together with NEXT */
    RING_E_INDIRECT_LEN = -17,    /* device: indirect table length zero or not a multiple of 16 */
    RING_E_WRITE_ORDER = -18,     /* device: readable descriptor after a writable one */
    RING_E_DESC_RANGE = -19,      /* device: buffer outside guest memory */
    RING_E_CHAIN_LEN = -20,       /* device: total chain length >= 2^32 */
    RING_E_USED_ID = -21,         /* driver: used entry names no chain in flight */
    RING_E_USED_IDX = -22,        /* driver: used idx moved more than the chains in flight */
    RING_E_USED_OVERFLOW = -23,   /* device: more used entries than chains popped */
    RING_E_NOT_READY = -24,       /* queue not set up */
};

/* A short, specific, static description of an error code. */
const char *ring_strerror(int err);

/* ---- guest memory -------------------------------------------------------- */

#define GMEM_MAX_REGIONS 8

struct gmem_region {
    uint64_t gpa;  /* guest-physical start */
    uint64_t size; /* bytes, > 0 */
    uint8_t *hva;  /* where the process sees it */
};

/* Regions are kept sorted by GPA, so lookups never depend on insertion or
 * address order. */
struct gmem {
    struct gmem_region region[GMEM_MAX_REGIONS];
    unsigned nregions;
};

void gmem_init(struct gmem *m);
/* Adds [gpa, gpa+size) backed by hva. Errors: RING_E_INVAL (size 0, NULL,
 * wraps around 2^64), RING_E_REGION_OVERLAP, RING_E_REGION_FULL. */
int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size, void *hva);
/* The host pointer for [gpa, gpa+len) if it lies in a single region, else NULL.
 * len 0 is valid inside a region (and at its end). */
void *gmem_translate(const struct gmem *m, uint64_t gpa, uint64_t len);
int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len);

/* ---- split ring layout (2.7) ---------------------------------------------- */

#define VIRTQ_MAX_SIZE 32768u

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_USED_F_NO_NOTIFY 1u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTQ_DESC_SIZE 16u
#define VIRTQ_DESC_ALIGN 16u
#define VIRTQ_AVAIL_ALIGN 2u
#define VIRTQ_USED_ALIGN 4u

/* Where the three parts of one queue live, in guest-physical addresses. */
struct vring_layout {
    uint32_t num; /* queue size Q */
    uint64_t desc;
    uint64_t avail;
    uint64_t used;
};

static inline uint64_t vring_desc_bytes(uint32_t num) { return 16ull * num; }
static inline uint64_t vring_avail_bytes(uint32_t num) { return 6ull + 2ull * num; }
static inline uint64_t vring_used_bytes(uint32_t num) { return 6ull + 8ull * num; }

bool vring_size_valid(uint32_t num);
/* A contiguous layout starting at base (which must be 16-aligned): table,
 * avail, then used at the next multiple of used_align (4 for virtio 1.x, 4096
 * for the legacy interface). Returns total bytes, 0 on bad arguments. */
uint64_t vring_layout_contiguous(struct vring_layout *l, uint32_t num, uint64_t base,
                                 uint64_t used_align);

/* The event-index test of 2.7.7.2: has the other side asked to be notified when
 * the index passed event_idx, given it moved from old_idx to new_idx? */
static inline bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* ---- driver half ----------------------------------------------------------- */

struct vq_seg {
    uint64_t gpa;
    uint32_t len;
};

enum vq_add_mode {
    VQ_ADD_AUTO,     /* indirect when negotiated, configured and n > 1 */
    VQ_ADD_DIRECT,
    VQ_ADD_INDIRECT, /* RING_E_INVAL when indirect is not available */
};

struct vq_driver_cfg {
    struct vring_layout layout;
    bool event_idx;
    bool indirect;
    /* Guest memory for indirect tables: head h uses the table at
     * indirect_gpa + h * indirect_max * 16. Ignored unless indirect. */
    uint64_t indirect_gpa;
    uint32_t indirect_max;
};

struct vq_inflight; /* private per-head state */

struct vq_driver {
    uint32_t num;
    bool event_idx;
    bool indirect;
    uint32_t indirect_max;
    uint64_t indirect_gpa;
    uint8_t *indirect_hva;

    uint8_t *desc;   /* Q descriptors */
    uint16_t *avail; /* flags, idx, ring[Q], used_event */
    uint8_t *used;   /* flags, idx, elems[Q], avail_event */

    uint16_t *next_free;  /* private shadow of the free list */
    struct vq_inflight *inflight;
    uint32_t free_head;
    uint32_t num_free;
    uint16_t avail_idx_shadow;
    uint16_t avail_flags_shadow;
    uint16_t num_added; /* since the last kick decision */
    uint16_t last_used_idx;
    uint32_t in_flight;
};

/* Sets up the driver half over guest memory m (which must outlive it) and
 * zeroes the avail ring. Errors: RING_E_QUEUE_SIZE, RING_E_ALIGN,
 * RING_E_GPA_RANGE, RING_E_INVAL, RING_E_NOMEM. */
int vqd_init(struct vq_driver *vq, struct gmem *m, const struct vq_driver_cfg *cfg);
void vqd_destroy(struct vq_driver *vq);

/* Exposes n_out readable then n_in writable segments as one chain carrying
 * token (non-NULL). Publishes the new avail idx. Errors: RING_E_INVAL (also
 * for more segments than the queue size, or 2^32 bytes or more in all),
 * RING_E_FULL. */
int vqd_add(struct vq_driver *vq, const struct vq_seg *segs, unsigned n_out, unsigned n_in,
            void *token, enum vq_add_mode mode);
/* Whether the device asked to be kicked for what was added since the last
 * call (NO_NOTIFY flag, or avail_event with EVENT_IDX). */
bool vqd_kick_prepare(struct vq_driver *vq);

struct vq_used_entry {
    void *token;
    uint32_t len;      /* as the device wrote it: may exceed capacity */
    uint32_t capacity; /* writable bytes the chain offered */
};

/* 1 and *out filled when a used entry is pending, 0 when none. A used entry
 * naming no chain in flight is consumed and gives RING_E_USED_ID (the chains
 * in flight are untouched). A used idx that ran ahead of the chains in
 * flight gives RING_E_USED_IDX and consumes nothing: the ring is broken. */
int vqd_get_used(struct vq_driver *vq, struct vq_used_entry *out);
bool vqd_has_used(const struct vq_driver *vq);

void vqd_disable_cb(struct vq_driver *vq);
/* Re-enables interrupts; false when used entries arrived meanwhile (the
 * caller should poll again rather than wait). */
bool vqd_enable_cb(struct vq_driver *vq);
/* Like enable_cb, but with EVENT_IDX asks for the interrupt only after about
 * 3/4 of the chains in flight complete. */
bool vqd_enable_cb_delayed(struct vq_driver *vq);

/* Detaches every chain in flight (the device was reset), calling detach for
 * each token in head order, and returns the ring to its initial state. */
void vqd_reset(struct vq_driver *vq, void (*detach)(void *token, void *ctx), void *ctx);

/* For conformance cases that present hand-made chains on an idle queue (no
 * chain in flight): the caller wrote descriptors and avail entries itself,
 * published a new avail idx, and the device has taken those chains and
 * returned or swallowed them. The driver half adopts the avail idx and the
 * used idx now in ring memory, so its bookkeeping agrees with the ring again
 * and its next chain follows the caller's. RING_E_INVAL with chains in
 * flight (their entries would be skipped), RING_E_NOT_READY before init. */
int vqd_adopt(struct vq_driver *vq);

static inline uint32_t vqd_num_free(const struct vq_driver *vq) { return vq->num_free; }
static inline uint32_t vqd_in_flight(const struct vq_driver *vq) { return vq->in_flight; }

/* ---- device half ----------------------------------------------------------- */

struct vq_device_cfg {
    struct vring_layout layout;
    bool event_idx;
    bool indirect;
    /* A malformed chain stays at the head of the avail ring, so every later
     * pop meets it again (vhost_get_vq_desc does not move last_avail_idx on
     * error); false: its head is consumed and later chains go through. */
    bool stop_at_bad_head;
};

struct vq_device {
    const struct gmem *mem;
    uint32_t num;
    bool event_idx;
    bool indirect;
    const uint8_t *desc;
    const uint8_t *avail; /* the device only reads it */
    uint8_t *used;
    uint16_t last_avail_idx;
    uint16_t used_idx;
    uint16_t signalled_used;
    bool signalled_used_valid;
    bool notify_enabled;
    bool stop_at_bad_head;
    uint32_t popped; /* chains popped and not yet pushed (nor kept) */
};

/* One descriptor's buffer as the device sees it. */
struct vq_buf {
    uint64_t gpa;
    uint32_t len;
    bool writable;
};

/* An iterator over one available chain. All state is by value: a copy is an
 * independent iterator. */
struct vq_chain {
    const struct vq_device *dev;
    uint16_t head;
    uint32_t out_bytes; /* readable total, known after pop */
    uint32_t in_bytes;  /* writable total, known after pop */
    uint32_t out_count;
    uint32_t in_count;
    /* walk state */
    uint32_t next;        /* next index in the current table */
    bool has_next;
    bool in_indirect;
    uint64_t table_gpa;   /* indirect table */
    uint32_t table_len;   /* entries in the indirect table */
    uint32_t walked_table;
    uint32_t walked_total;
    uint64_t total_len;
    bool seen_writable;
};

int vqdev_init(struct vq_device *dev, const struct gmem *m, const struct vq_device_cfg *cfg);
/* Back to the state after init (the driver reset the device). */
void vqdev_reset(struct vq_device *dev);
/* Continue a ring from a saved position (vhost's SET_VRING_BASE on a
 * restart): the next chain is avail entry idx, and the used index is the one
 * in ring memory (as vhost_vq_init_access reads it: chains the device kept
 * were never returned). RING_E_NOT_READY before init, RING_E_INVAL while
 * popped chains are out. */
int vqdev_set_base(struct vq_device *dev, uint16_t idx);

/* 1 and *chain ready to iterate when a chain is available, 0 when none.
 * The whole chain is validated first; on error the error is returned and the
 * head is consumed, or with stop_at_bad_head left where it is (vhost: the
 * ring is then stuck at that chain). */
int vqdev_pop(struct vq_device *dev, struct vq_chain *chain);
/* The device keeps the chain it popped last for good, never to return it
 * (what vhost does after vq_err): it no longer counts as popped, and the
 * driver will never see it again. RING_E_USED_OVERFLOW when nothing popped
 * is outstanding. */
int vqdev_keep(struct vq_device *dev);
bool vqdev_has_avail(const struct vq_device *dev);
/* Undo the last pop (the caller could not use the chain yet). */
void vqdev_unpop(struct vq_device *dev);

/* Next buffer of the chain: 1 and *buf filled, 0 at the end, <0 when the
 * chain turned out malformed (it may change under a concurrent driver). */
int vq_chain_next(struct vq_chain *chain, struct vq_buf *buf);
/* Gather up to len readable bytes from offset off; returns bytes copied or <0.
 * Scatter up to len bytes into the writable part from offset off. */
int64_t vq_chain_read(const struct vq_chain *chain, uint64_t off, void *dst, size_t len);
int64_t vq_chain_write(const struct vq_chain *chain, uint64_t off, const void *src, size_t len);

/* Returns head with len written; publishes the used idx. RING_E_USED_OVERFLOW
 * when nothing popped is outstanding. */
int vqdev_push(struct vq_device *dev, uint16_t head, uint32_t len);
/* Whether the driver asked for an interrupt for what was pushed since the last
 * call (NO_INTERRUPT flag, or used_event with EVENT_IDX), as vhost decides. */
bool vqdev_should_interrupt(struct vq_device *dev);
void vqdev_disable_notify(struct vq_device *dev);
/* Re-enables kicks; false when chains arrived meanwhile (poll again). */
bool vqdev_enable_notify(struct vq_device *dev);

/* Read-only views for oracles and tests: the index as it is in ring memory
 * (not a shadow copy). */
uint16_t vqdev_avail_idx(const struct vq_device *dev);
uint16_t vqd_used_idx(const struct vq_driver *vq);

#endif
