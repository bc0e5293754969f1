/* The sim target's ring access: hand-made chains and ring inspection.
 *
 * Hand-made chains: the case takes the tx queue over while it is idle. We
 * wait until the driver has no tx chain in flight and nothing to send (in
 * raw mode nothing else makes it send), write the case's descriptors at
 * table slots 0..n-1 (all free then: slot k is descs[k], so next fields need
 * no translation), put slot 0 in the avail ring, publish avail idx + 1, and
 * run the device's tx kick handler at once. The driver then adopts the
 * ring's indices (vdrv_adopt_queue) before it can see the used entry, and
 * the world is told that the malformed chains it met were deliberate and
 * that what the device kept or left stuck at the head is not the driver's
 * (world_adopt_foreign_chains), so the oracle keeps checking everything
 * else. Buffers the target provides live in a guest-memory region of their
 * own, far above the world's RAM; a shadow copy of it and of the table
 * entries shows afterwards whether the device wrote anything it must not
 * have (SR-09, SR-11). */
#include "conformance/target_sim_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_GPA 0x40000000ull
#define SCRATCH_SIZE (4u << 20)
#define IDLE_TIMEOUT_NS 1000000000ull
#define MAX_TABLE_DEPTH 4

/* ---- guest memory for chains ---- */

static int map_scratch(struct simt *t)
{
    if (t->mem_mapped)
        return 0;
    t->mem = calloc(1, SCRATCH_SIZE);
    t->shadow = calloc(1, SCRATCH_SIZE);
    if (t->mem == NULL || t->shadow == NULL)
        return -ENOMEM;
    if (gmem_add_region(world_mem(t->w), SCRATCH_GPA, SCRATCH_SIZE, t->mem) != RING_OK)
        return -EINVAL;
    t->mem_mapped = true;
    return 0;
}

/* A 16-aligned buffer of len bytes holding data (or zeros), remembered for
 * the inspection; 0 when the region is full. */
static uint64_t provide(struct simt *t, uint32_t len, const void *data, bool writable)
{
    uint64_t off = (t->mem_used + 15u) & ~15ull;
    if (len > SCRATCH_SIZE || off > SCRATCH_SIZE - len || t->nbufs == SIMT_MAX_BUFS)
        return 0;
    memset(t->mem + off, 0, len);
    if (data != NULL)
        memcpy(t->mem + off, data, len);
    t->bufs[t->nbufs++] = (struct simt_buf){off, len, writable};
    t->mem_used = off + len;
    return SCRATCH_GPA + off;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int write_desc(struct simt *t, uint64_t at, uint64_t addr, uint32_t len, uint16_t flags,
                      uint16_t next)
{
    uint8_t raw[VIRTQ_DESC_SIZE];
    put_le(raw, addr, 8);
    put_le(raw + 8, len, 4);
    put_le(raw + 12, flags, 2);
    put_le(raw + 14, next, 2);
    return gmem_write(world_mem(t->w), at, raw, sizeof(raw)) == RING_OK ? 0 : -EFAULT;
}

static int write_descs(struct simt *t, uint64_t base, const struct conf_desc *d, unsigned n,
                       int depth);

/* Where descriptor d points: its own address, a provided buffer, or an
 * indirect table written into provided memory (itself a table: never
 * writable). */
static int desc_target(struct simt *t, const struct conf_desc *d, int depth, uint64_t *addr,
                       uint32_t *len)
{
    *len = d->len;
    if (d->table != NULL) {
        if (depth >= MAX_TABLE_DEPTH || d->ntable == 0)
            return -EINVAL;
        uint32_t bytes = (uint32_t)d->ntable * VIRTQ_DESC_SIZE;
        *addr = provide(t, bytes, NULL, false);
        if (*addr == 0)
            return -ENOMEM;
        if (*len == 0)
            *len = bytes;
        return write_descs(t, *addr, d->table, d->ntable, depth + 1);
    }
    if (d->addr != 0) {
        *addr = d->addr;
        return 0;
    }
    *addr = provide(t, d->len, d->data, (d->flags & VIRTQ_DESC_F_WRITE) != 0);
    return *addr != 0 || d->len == 0 ? 0 : -ENOMEM;
}

static int write_descs(struct simt *t, uint64_t base, const struct conf_desc *d, unsigned n,
                       int depth)
{
    for (unsigned k = 0; k < n; k++) {
        uint64_t addr;
        uint32_t len;
        int err = desc_target(t, &d[k], depth, &addr, &len);
        if (err == 0)
            err = write_desc(t, base + (uint64_t)k * VIRTQ_DESC_SIZE, addr, len, d[k].flags,
                             d[k].next);
        if (err != 0)
            return err;
    }
    return 0;
}

/* ---- the ring ---- */

static bool tx_idle(void *arg)
{
    struct simt *t = arg;
    return vqd_in_flight(vdrv_queue(world_driver(t->w), VSOCK_VQ_TX)) == 0 &&
           vep_tx_queued_pkts(world_guest(t->w)) == 0 &&
           vep_tx_queued_pkts(world_host(t->w)) == 0;
}

static uint16_t read16(struct simt *t, uint64_t gpa)
{
    uint8_t b[2] = {0, 0};
    gmem_read(world_mem(t->w), gpa, b, sizeof(b));
    return (uint16_t)get_le(b, 2);
}

static void write16(struct simt *t, uint64_t gpa, uint16_t v)
{
    uint8_t b[2];
    put_le(b, v, 2);
    gmem_write(world_mem(t->w), gpa, b, sizeof(b));
}

/* Exposes slot 0 as the next avail entry and publishes the index. */
static void expose_head(struct simt *t, const struct vring_layout *l)
{
    uint16_t idx = read16(t, l->avail + 2);
    write16(t, l->avail + 4 + 2ull * (idx % l->num), 0);
    write16(t, l->avail + 2, (uint16_t)(idx + 1));
}

/* What the device did with the chain it was just handed. */
static void read_outcome(struct simt *t, const struct vring_layout *l, uint16_t used_before,
                         struct conf_chain_result *out)
{
    uint16_t used_after = read16(t, l->used + 2);
    if (used_after != used_before) {
        uint8_t elem[8] = {0};
        gmem_read(world_mem(t->w), l->used + 4 + 8ull * (used_before % l->num), elem,
                  sizeof(elem));
        out->returned = get_le(elem, 4) == 0;
        out->used_len = (uint32_t)get_le(elem + 4, 4);
    }
    out->error = (vdev_take_errors(world_device(t->w)) & (1u << VSOCK_VQ_TX)) != 0;
}

/* Did the device write a readable buffer, an indirect table or one of the
 * table slots the chain used? */
static void inspect(struct simt *t, const struct vring_layout *l, unsigned n,
                    const uint8_t *table_before, struct conf_chain_result *out)
{
    out->inspected = true;
    for (unsigned i = 0; i < t->nbufs; i++) {
        const struct simt_buf *b = &t->bufs[i];
        if (!b->writable && memcmp(t->mem + b->off, t->shadow + b->off, b->len) != 0)
            out->readable_written = true;
    }
    uint8_t now[VIRTQ_DESC_SIZE];
    for (unsigned k = 0; k < n; k++) {
        gmem_read(world_mem(t->w), l->desc + (uint64_t)k * VIRTQ_DESC_SIZE, now, sizeof(now));
        if (memcmp(now, table_before + (size_t)k * VIRTQ_DESC_SIZE, sizeof(now)) != 0)
            out->table_written = true;
    }
}

int simt_raw_chain(void *tp, const struct conf_desc *d, unsigned n, struct conf_chain_result *out,
                   uint64_t timeout_ns)
{
    struct simt *t = tp;
    const struct vring_layout *l = world_layout(t->w, VSOCK_VQ_TX);
    (void)timeout_ns; /* the device handles the kick at once */
    if (n == 0 || n > l->num || d == NULL)
        return -EINVAL;
    int err = map_scratch(t);
    if (err != 0)
        return err;
    if (!simt_wait(t, tx_idle, t, IDLE_TIMEOUT_NS))
        return -EBUSY;
    t->mem_used = 0; /* earlier chains are finished: their buffers are free */
    t->nbufs = 0;
    err = write_descs(t, l->desc, d, n, 0);
    uint8_t *table = calloc(n, VIRTQ_DESC_SIZE);
    if (err == 0 && table == NULL)
        err = -ENOMEM;
    if (err != 0) {
        free(table);
        return err;
    }
    gmem_read(world_mem(t->w), l->desc, table, (size_t)n * VIRTQ_DESC_SIZE);
    memcpy(t->shadow, t->mem, t->mem_used);
    struct vdev *dev = world_device(t->w);
    (void)vdev_take_errors(dev); /* only this chain's errors count */
    uint16_t used_before = read16(t, l->used + 2);
    uint32_t logged = t->log.n; /* the chain crossed before what the device answered */
    expose_head(t, l);
    vdev_handle_tx_kick(dev, sim_now(t->s));
    read_outcome(t, l, used_before, out);
    inspect(t, l, n, table, out);
    free(table);
    struct vsock_hdr h;
    if (conf_chain_read_header(d, n, out->returned, out->error, &h))
        conf_pktlog_insert(&t->log, logged, true, &h);
    /* The driver takes the ring's indices as its own, as on the kernel
     * target; a chain the device kept or left at the head (vhost's rules)
     * is the case's, not the driver's. */
    int r = vdrv_adopt_queue(world_driver(t->w), VSOCK_VQ_TX);
    world_adopt_foreign_chains(t->w, VSOCK_VQ_TX);
    return r == 0 ? 0 : -EIO;
}

int simt_ring_info(void *tp, unsigned q, struct conf_ring_info *out)
{
    struct simt *t = tp;
    if (q >= VSOCK_VQ_COUNT)
        return -EINVAL;
    const struct vring_layout *l = world_layout(t->w, (enum vsock_vq)q);
    out->num = l->num;
    out->desc = l->desc;
    out->avail = l->avail;
    out->used = l->used;
    out->avail_flags = read16(t, l->avail);
    out->avail_idx = read16(t, l->avail + 2);
    out->used_flags = read16(t, l->used);
    out->used_idx = read16(t, l->used + 2);
    return 0;
}
