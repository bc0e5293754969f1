/* A small guest memory and a hand-written guest half of a split virtqueue
 * (fuzz/fuzz_ring.h). Little-endian throughout, as virtio 1.x. */
#include "fuzz/fuzz_ring.h"

#include "transport/transport.h"

#include <stdlib.h>
#include <string.h>

uint64_t fuzz_ld(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void fuzz_st(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int fuzz_mem_init(struct fuzz_mem *m)
{
    gmem_init(&m->gm);
    m->ram = calloc(1, FUZZ_MEM_SIZE);
    if (m->ram == NULL)
        return -1;
    return gmem_add_region(&m->gm, FUZZ_MEM_GPA, FUZZ_MEM_SIZE, m->ram) == RING_OK ? 0 : -1;
}

void fuzz_mem_free(struct fuzz_mem *m)
{
    free(m->ram);
    m->ram = NULL;
}

void fuzz_mem_write(struct fuzz_mem *m, struct fuzz_in *in, uint32_t *off, uint32_t *len)
{
    uint32_t at = fuzz_u16(in) % FUZZ_MEM_SIZE;
    size_t n = fuzz_u8(in) % 64u;
    if (n > FUZZ_MEM_SIZE - at)
        n = FUZZ_MEM_SIZE - at;
    n = fuzz_bytes(in, m->ram + at, n);
    if (off != NULL)
        *off = at;
    if (len != NULL)
        *len = (uint32_t)n;
}

/* ---- the hand-written ring ------------------------------------------------------ */

void fuzz_hand_init(struct fuzz_hand *h, struct fuzz_mem *m, unsigned q, uint32_t num)
{
    memset(h, 0, sizeof(*h));
    h->m = m;
    h->q = q;
    uint64_t base = FUZZ_MEM_GPA + (uint64_t)q * FUZZ_RING_STRIDE;
    h->layout = (struct vring_layout){.num = num, .desc = base, .avail = base + 0x100,
                                      .used = base + 0x140};
    h->desc = m->ram + (h->layout.desc - FUZZ_MEM_GPA);
    h->avail = m->ram + (h->layout.avail - FUZZ_MEM_GPA);
    h->used = m->ram + (h->layout.used - FUZZ_MEM_GPA);
    fuzz_hand_reset(h);
}

void fuzz_hand_reset(struct fuzz_hand *h)
{
    memset(h->desc, 0, vring_desc_bytes(h->layout.num));
    memset(h->avail, 0, vring_avail_bytes(h->layout.num));
    memset(h->used, 0, vring_used_bytes(h->layout.num));
    h->avail_idx = h->last_used = 0;
    for (unsigned i = 0; i < FUZZ_HAND_MAX; i++) {
        h->cap[i] = FUZZ_CAP_UNKNOWN;
        h->owner[i] = (uint8_t)i;
    }
}

void fuzz_hand_forget(struct fuzz_hand *h, uint32_t off, uint32_t len)
{
    uint32_t desc = (uint32_t)(h->layout.desc - FUZZ_MEM_GPA);
    bool table = off < desc + 16u * h->layout.num && off + len > desc;
    if (table || off + len > FUZZ_IND_OFF)
        for (unsigned i = 0; i < FUZZ_HAND_MAX; i++)
            h->cap[i] = FUZZ_CAP_UNKNOWN;
}

/* Descriptor i now belongs to head's chain: the chain that held it before
 * changed shape, so its capacity is unknown. */
static void put_desc(struct fuzz_hand *h, uint32_t head, uint32_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    if (h->owner[i] != head)
        h->cap[h->owner[i]] = FUZZ_CAP_UNKNOWN;
    h->owner[i] = (uint8_t)head;
    uint8_t *d = h->desc + 16u * i;
    fuzz_st(d, addr, 8);
    fuzz_st(d + 8, len, 4);
    fuzz_st(d + 12, flags, 2);
    fuzz_st(d + 14, next, 2);
}

static void publish(struct fuzz_hand *h, uint32_t head)
{
    uint32_t num = h->layout.num;
    fuzz_st(h->avail + 4 + 2u * (h->avail_idx & (num - 1)), head, 2);
    h->avail_idx++;
    fuzz_st(h->avail + 2, h->avail_idx, 2);
}

/* Splits [addr, addr + len) over n descriptors, direct (head, head+1, ...)
 * or in an indirect table; flags for every descriptor, NEXT added. */
static void put_chain(struct fuzz_hand *h, uint32_t head, unsigned n, bool indirect,
                      uint64_t addr, uint32_t len, uint16_t flags, const uint32_t *cut)
{
    uint32_t num = h->layout.num;
    uint64_t table = FUZZ_MEM_GPA + FUZZ_IND_OFF + h->q * 0x300u + head * 48u;
    for (unsigned k = 0; k < n; k++) {
        uint32_t from = k == 0 ? 0 : cut[k - 1], to = k + 1 == n ? len : cut[k];
        uint16_t f = (uint16_t)(flags | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        if (indirect) {
            uint8_t *d = h->m->ram + (table - FUZZ_MEM_GPA) + 16u * k;
            fuzz_st(d, addr + from, 8);
            fuzz_st(d + 8, to - from, 4);
            fuzz_st(d + 12, f, 2);
            fuzz_st(d + 14, k + 1, 2);
        } else {
            put_desc(h, head, (head + k) % num, addr + from, to - from, f, (uint16_t)((head + k + 1) % num));
        }
    }
    if (indirect)
        put_desc(h, head, head, table, 16u * n, VIRTQ_DESC_F_INDIRECT, 0);
}

/* Shape byte: bits 0-1 descriptors (1-3), bit 2 indirect. Cut points from
 * the input, sorted, within len. */
static unsigned chain_shape(struct fuzz_in *in, uint32_t len, uint8_t shape, uint32_t *cut)
{
    unsigned n = 1 + (shape & 3u) % 3u;
    for (unsigned k = 0; k + 1 < n; k++)
        cut[k] = len ? fuzz_u16(in) % (len + 1) : 0;
    if (n == 3 && cut[0] > cut[1]) {
        uint32_t t = cut[0];
        cut[0] = cut[1];
        cut[1] = t;
    }
    return n;
}

static void fill_header(struct fuzz_in *in, uint8_t shape, uint64_t src_cid, uint64_t dst_cid,
                        uint32_t payload, struct vsock_hdr *hd)
{
    hd->src_cid = (shape & 0x10) ? fuzz_u64(in) : src_cid;
    hd->dst_cid = (shape & 0x20) ? fuzz_u64(in) : dst_cid;
    hd->src_port = 1024u + fuzz_u8(in) % 4u;
    hd->dst_port = 1024u + fuzz_u8(in) % 4u;
    hd->len = (shape & 0x40) ? fuzz_u32(in) : payload;
    hd->type = (uint16_t)(fuzz_u8(in) % 4u);
    hd->op = (uint16_t)(fuzz_u8(in) % 9u);
    hd->flags = fuzz_u8(in);
    hd->buf_alloc = (shape & 0x80) ? fuzz_u32(in) : 65536u;
    hd->fwd_cnt = (shape & 0x80) ? fuzz_u32(in) : fuzz_u16(in);
}

void fuzz_hand_add_tx(struct fuzz_hand *h, struct fuzz_in *in, uint64_t src_cid, uint64_t dst_cid)
{
    uint32_t head = fuzz_u8(in) % h->layout.num;
    uint8_t shape = fuzz_u8(in);
    uint32_t payload = fuzz_u8(in) * 2u; /* up to 510: the slot holds 512 - 44 */
    if (payload > FUZZ_SLOT - VSOCK_HDR_LEN)
        payload = FUZZ_SLOT - VSOCK_HDR_LEN;
    struct vsock_hdr hd;
    fill_header(in, shape, src_cid, dst_cid, payload, &hd);
    uint8_t *slot = h->m->ram + FUZZ_BUF_OFF + head * FUZZ_SLOT;
    vsock_hdr_encode(&hd, slot);
    memset(slot + VSOCK_HDR_LEN, 0xa5, payload);
    uint32_t len = VSOCK_HDR_LEN + payload, cut[2];
    unsigned n = chain_shape(in, len, shape, cut);
    uint16_t flags = (shape & 0x08) ? (uint16_t)(fuzz_u8(in) & ~VIRTQ_DESC_F_NEXT) : 0;
    put_chain(h, head, n, (shape & 4) != 0, FUZZ_MEM_GPA + FUZZ_BUF_OFF + head * FUZZ_SLOT, len,
              flags, cut);
    h->cap[head] = (flags & VIRTQ_DESC_F_WRITE) ? FUZZ_CAP_UNKNOWN : 0;
    publish(h, head);
}

void fuzz_hand_add_in(struct fuzz_hand *h, struct fuzz_in *in)
{
    uint32_t head = fuzz_u8(in) % h->layout.num;
    uint8_t shape = fuzz_u8(in);
    uint32_t len = fuzz_u16(in) % 1200u;
    uint32_t cut[2];
    unsigned n = chain_shape(in, len, shape, cut);
    uint16_t flags = VIRTQ_DESC_F_WRITE;
    if (shape & 0x08)
        flags = (uint16_t)(fuzz_u8(in) & ~VIRTQ_DESC_F_NEXT);
    uint64_t addr = FUZZ_MEM_GPA + FUZZ_BUF_OFF + head * FUZZ_SLOT;
    if (shape & 0x10)
        addr = FUZZ_MEM_GPA + fuzz_u16(in); /* anywhere, even over a ring */
    put_chain(h, head, n, (shape & 4) != 0, addr, len, flags, cut);
    h->cap[head] = (flags & VIRTQ_DESC_F_WRITE) && !(flags & VIRTQ_DESC_F_INDIRECT)
                       ? len : FUZZ_CAP_UNKNOWN;
    publish(h, head);
}

void fuzz_hand_set_avail_idx(struct fuzz_hand *h, struct fuzz_in *in)
{
    h->avail_idx = fuzz_u16(in);
    fuzz_st(h->avail + 2, h->avail_idx, 2);
}

void fuzz_hand_consume(struct fuzz_hand *h)
{
    h->last_used = (uint16_t)fuzz_ld(h->used + 2, 2);
}

void fuzz_hand_check_used(struct fuzz_hand *h, uint16_t from, uint16_t to, int in,
                          struct fuzz_report *rep)
{
    uint32_t num = h->layout.num;
    if ((uint16_t)(to - from) > num)
        from = (uint16_t)(to - num); /* older ones were overwritten already */
    for (; from != to; from++) {
        const uint8_t *e = h->used + 4 + 8u * (from & (num - 1));
        uint32_t id = (uint32_t)fuzz_ld(e, 4), len = (uint32_t)fuzz_ld(e + 4, 4);
        if (id >= num) {
            fuzz_found(rep, "queue %u: used entry names head %u of a ring of %u", h->q, id, num);
            return;
        }
        uint32_t cap = in ? h->cap[id] : (h->cap[id] == FUZZ_CAP_UNKNOWN ? FUZZ_CAP_UNKNOWN : 0);
        if (cap != FUZZ_CAP_UNKNOWN && len > cap)
            fuzz_found(rep, "queue %u: used len %u for head %u, whose chain offered %u writable "
                       "bytes", h->q, len, id, cap);
    }
}

/* ---- allowed writes -------------------------------------------------------------- */

void fuzz_mark(uint8_t *mask, uint64_t gpa, uint64_t len)
{
    uint64_t end = FUZZ_MEM_GPA + FUZZ_MEM_SIZE;
    if (gpa >= end || len == 0 || gpa + len <= FUZZ_MEM_GPA || gpa + len < gpa)
        return;
    uint64_t from = gpa < FUZZ_MEM_GPA ? FUZZ_MEM_GPA : gpa;
    uint64_t to = gpa + len > end ? end : gpa + len;
    memset(mask + (from - FUZZ_MEM_GPA), 1, (size_t)(to - from));
}

static void mark_table(const struct fuzz_mem *m, uint64_t gpa, uint32_t entries, bool nested,
                       uint8_t *mask)
{
    for (uint32_t i = 0; i < entries && i < 64; i++) {
        if (gpa < FUZZ_MEM_GPA || gpa >= FUZZ_MEM_GPA + FUZZ_MEM_SIZE)
            return;
        uint64_t at = gpa + 16ull * i; /* no wrap: gpa is inside the region */
        if (at + 16 > FUZZ_MEM_GPA + FUZZ_MEM_SIZE)
            return;
        const uint8_t *d = m->ram + (at - FUZZ_MEM_GPA);
        uint64_t addr = fuzz_ld(d, 8);
        uint32_t len = (uint32_t)fuzz_ld(d + 8, 4);
        uint16_t flags = (uint16_t)fuzz_ld(d + 12, 2);
        if (flags & VIRTQ_DESC_F_WRITE)
            fuzz_mark(mask, addr, len);
        if ((flags & VIRTQ_DESC_F_INDIRECT) && nested)
            mark_table(m, addr, len / 16u, false, mask);
    }
}

void fuzz_allowed_writes(const struct fuzz_mem *m, const struct fuzz_hand *h, unsigned n,
                         bool used, uint8_t *mask)
{
    memset(mask, 0, FUZZ_MEM_SIZE);
    for (unsigned q = 0; q < n; q++) {
        if (used)
            fuzz_mark(mask, h[q].layout.used, vring_used_bytes(h[q].layout.num));
        mark_table(m, h[q].layout.desc, h[q].layout.num, true, mask);
    }
}

bool fuzz_first_bad_write(const uint8_t *before, const uint8_t *after, const uint8_t *mask,
                          size_t size, size_t *off)
{
    if (memcmp(before, after, size) == 0)
        return false;
    for (size_t i = 0; i < size; i++) {
        if (before[i] != after[i] && !mask[i]) {
            *off = i;
            return true;
        }
    }
    return false;
}
