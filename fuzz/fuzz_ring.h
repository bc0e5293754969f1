/* Private to fuzz/: a small guest memory and a hand-written half of a split
 * virtqueue over it, for the hostile-guest and hostile-device harnesses.
 * Everything is written byte by byte from the input, so the harnesses can
 * present any table, ring or packet, valid or not. */
#ifndef VSOCKSIM_FUZZ_RING_H
#define VSOCKSIM_FUZZ_RING_H

#include "fuzz/fuzz.h"
#include "ring/ring.h"

/* One region: three rings (one per 0x400 bytes), then buffers. */
#define FUZZ_MEM_GPA 0x10000ull
#define FUZZ_MEM_SIZE 0x4000u
#define FUZZ_RING_STRIDE 0x400u
#define FUZZ_BUF_OFF 0x1000u
#define FUZZ_SLOT 512u
#define FUZZ_IND_OFF 0x3400u /* indirect tables: 48 bytes per head, 0x300 per queue */
#define FUZZ_HAND_MAX 16u /* queue size at most */
#define FUZZ_CAP_UNKNOWN UINT32_MAX

struct fuzz_mem {
    struct gmem gm;
    uint8_t *ram; /* exactly FUZZ_MEM_SIZE bytes: ASan sees any overrun */
};

int fuzz_mem_init(struct fuzz_mem *m);
void fuzz_mem_free(struct fuzz_mem *m);
/* A raw write from the input: offset (u16), length (u8 % 64), bytes.
 * *off and *len (may be NULL) get the range written. */
void fuzz_mem_write(struct fuzz_mem *m, struct fuzz_in *in, uint32_t *off, uint32_t *len);

/* The guest's side of one queue, by hand. */
struct fuzz_hand {
    struct fuzz_mem *m;
    unsigned q;
    struct vring_layout layout;
    uint8_t *desc, *avail, *used;
    uint16_t avail_idx;  /* what the hand driver last published */
    uint16_t last_used;  /* used entries consumed */
    uint32_t cap[FUZZ_HAND_MAX]; /* writable bytes each head's chain offered */
    uint8_t owner[FUZZ_HAND_MAX]; /* the head whose chain holds descriptor i */
};

void fuzz_hand_init(struct fuzz_hand *h, struct fuzz_mem *m, unsigned q, uint32_t num);
/* The device was reset: the guest sets the queue up again from zero. */
void fuzz_hand_reset(struct fuzz_hand *h);
/* A tx chain holding a packet whose header and shape come from the input. */
void fuzz_hand_add_tx(struct fuzz_hand *h, struct fuzz_in *in, uint64_t src_cid, uint64_t dst_cid);
/* A writable chain (rx or event buffer) of a size and shape from the input. */
void fuzz_hand_add_in(struct fuzz_hand *h, struct fuzz_in *in);
/* A raw avail idx (a runaway, a rewind). */
void fuzz_hand_set_avail_idx(struct fuzz_hand *h, struct fuzz_in *in);
void fuzz_hand_consume(struct fuzz_hand *h);
/* A raw write hit [off, off + len) of the region: chains whose descriptors
 * (or indirect tables) it may have changed have unknown capacity now. */
void fuzz_hand_forget(struct fuzz_hand *h, uint32_t off, uint32_t len);
/* Used entries from..to (the device's own used idx before and after a call):
 * ids within the queue, lengths within what the chain offered (in = 1; tx
 * chains offer 0). */
void fuzz_hand_check_used(struct fuzz_hand *h, uint16_t from, uint16_t to, int in,
                          struct fuzz_report *rep);

/* mask[i] = 1 where a device may write: the used rings (if used) and every
 * buffer a WRITE descriptor covers, directly or in an indirect table. */
void fuzz_allowed_writes(const struct fuzz_mem *m, const struct fuzz_hand *h, unsigned n,
                         bool used, uint8_t *mask);
/* Marks [gpa, gpa + len) in mask, clipped to the region. */
void fuzz_mark(uint8_t *mask, uint64_t gpa, uint64_t len);
/* true and *off when a byte changed where mask is 0. */
bool fuzz_first_bad_write(const uint8_t *before, const uint8_t *after, const uint8_t *mask,
                          size_t size, size_t *off);

uint64_t fuzz_ld(const uint8_t *p, unsigned bytes);
void fuzz_st(uint8_t *p, uint64_t v, unsigned bytes);

#endif
