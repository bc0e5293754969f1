/*
 * The device half (vqdev_*, vq_chain_*), with the test playing the driver by
 * hand: every descriptor table, indirect table and avail ring entry is
 * written byte by byte, including every kind of malformed chain.
 */
#include <string.h>
#include <sys/mman.h>

#include "ring/ring_testlib.h"


struct xfix {
    struct rt_env e;
    struct vq_device v;
};

#define DATA_SIZE 0x4000u
#define TBL 0x2000u /* data-area offset where hand-made indirect tables go */

static void xfix_init(struct xfix *f, uint32_t q, bool event_idx, bool indirect)
{
    struct vq_device_cfg c;

    rt_env_init(&f->e, q, 0, DATA_SIZE);
    c = rt_dev_cfg(&f->e, event_idx, indirect);
    T_ERR(RING_OK, vqdev_init(&f->v, &f->e.mem, &c), "vqdev_init Q=%u event_idx=%d indirect=%d", q,
          event_idx, indirect);
}

static void xfix_fini(struct xfix *f) { rt_env_fini(&f->e); }

/* Descriptor i of the queue's table; addr is a data-area offset. */
static void dput(struct xfix *f, uint32_t i, uint64_t off, uint32_t len, uint16_t flags, uint16_t next)
{
    rt_desc_put(&f->e, f->e.lay.desc, i, rt_data(&f->e, off), len, flags, next);
}

/* Entry i of an indirect table at data-area offset toff. */
static void tput(struct xfix *f, uint64_t toff, uint32_t i, uint64_t off, uint32_t len, uint16_t flags,
                 uint16_t next)
{
    rt_desc_put(&f->e, rt_data(&f->e, toff), i, rt_data(&f->e, off), len, flags, next);
}

/* The head descriptor i pointing at an indirect table of n entries at toff. */
static void dput_indirect(struct xfix *f, uint32_t i, uint64_t toff, uint32_t n, uint16_t extra_flags)
{
    rt_desc_put(&f->e, f->e.lay.desc, i, rt_data(&f->e, toff), 16 * n,
                (uint16_t)(VIRTQ_DESC_F_INDIRECT | extra_flags), 0);
}

static void pop_ok(struct xfix *f, struct vq_chain *ch, uint16_t head)
{
    memset(ch, 0, sizeof *ch);
    T_EQ(1, vqdev_pop(&f->v, ch), "pop of a well-formed chain at head %u", head);
    T_EQ(head, ch->head, "popped head");
}

/* A malformed chain: the exact error, and not a single byte of guest memory
 * written (no EVENT_IDX here, so a pop has nothing to write). */
static void pop_err(struct xfix *f, int err, const char *what)
{
    struct vq_chain ch;
    uint64_t h = rt_hash(f->e.ram.p, f->e.ram.size);

    T_ERR(err, vqdev_pop(&f->v, &ch), "%s", what);
    T_EQ(h, rt_hash(f->e.ram.p, f->e.ram.size), "%s: the failed pop wrote guest memory", what);
    T_EQ(0, rt_used_idx(&f->e), "%s: used idx moved", what);
}

/* Reads every buffer of the chain; returns how many. */
static unsigned collect(struct vq_chain *ch, struct vq_buf *b, unsigned max)
{
    unsigned n = 0;
    int rc;

    for (;;) {
        struct vq_buf t;

        rc = vq_chain_next(ch, &t);
        if (rc != 1)
            break;
        T_TRUE(n < max, "chain yields more than %u buffers", max);
        b[n++] = t;
    }
    T_EQ(0, rc, "vq_chain_next after buffer %u of a validated chain", n);
    return n;
}

static void check_buf(const struct xfix *f, const struct vq_buf *b, unsigned i, uint64_t off,
                      uint32_t len, bool writable)
{
    T_EQ(rt_data(&f->e, off), b->gpa, "buffer %u gpa", i);
    T_EQ(len, b->len, "buffer %u len", i);
    T_EQ(writable, b->writable, "buffer %u writable", i);
}

/* One readable 32-byte buffer at descriptor 0, offered, popped and pushed. */
static void cycle(struct xfix *f)
{
    struct vq_chain ch;

    rt_hand_offer(&f->e, 0);
    pop_ok(f, &ch, 0);
    T_ERR(RING_OK, vqdev_push(&f->v, 0, 0), "push");
}

/* ---- init ------------------------------------------------------------------------------ */

RT_TC(dev_init_errors, "vqdev_init rejects bad sizes, misaligned parts and parts outside memory");
ATF_TC_BODY(dev_init_errors, tc)
{
    static const uint32_t bad[] = {0, 3, 32769, 65536};
    struct rt_env e;
    struct vq_device v;
    struct vq_device_cfg c;
    uint64_t base, ram_end;

    rt_env_init(&e, 8, 0, 0x4000);
    ram_end = e.ram_gpa + e.ram.size;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = rt_dev_cfg(&e, false, false);
        c.layout.num = bad[i];
        T_ERR(RING_E_QUEUE_SIZE, vqdev_init(&v, &e.mem, &c), "queue size %u", bad[i]);
    }
    base = rt_data(&e, 0);
    c = rt_dev_cfg(&e, false, false);
    c.layout.desc = base;
    c.layout.avail = base + 0x1000;
    c.layout.used = base + 0x2000;
    T_ERR(RING_OK, vqdev_init(&v, &e.mem, &c), "aligned reference layout");
    c.layout.desc = base + 8;
    T_ERR(RING_E_ALIGN, vqdev_init(&v, &e.mem, &c), "table at 8 mod 16");
    c.layout.desc = base;
    c.layout.avail = base + 0x1001;
    T_ERR(RING_E_ALIGN, vqdev_init(&v, &e.mem, &c), "odd avail ring");
    c.layout.avail = base + 0x1000;
    c.layout.used = base + 0x2002;
    T_ERR(RING_E_ALIGN, vqdev_init(&v, &e.mem, &c), "used ring at 2 mod 4");

    c = rt_dev_cfg(&e, false, false);
    c.layout.desc = 0x1000;
    T_ERR(RING_E_GPA_RANGE, vqdev_init(&v, &e.mem, &c), "table outside guest memory");
    c = rt_dev_cfg(&e, false, false);
    c.layout.avail = (ram_end - 8) & ~1ull;
    T_ERR(RING_E_GPA_RANGE, vqdev_init(&v, &e.mem, &c), "avail ring straddling the end");
    c = rt_dev_cfg(&e, false, false);
    c.layout.used = ram_end;
    T_ERR(RING_E_GPA_RANGE, vqdev_init(&v, &e.mem, &c), "used ring just past the end");
    rt_env_fini(&e);
}

/* ---- pop and iterate ----------------------------------------------------------------- */

RT_TC(dev_pop_empty, "pop on an empty queue returns 0 and changes nothing");
ATF_TC_BODY(dev_pop_empty, tc)
{
    struct xfix f;
    struct vq_chain ch;

    xfix_init(&f, 8, false, false);
    T_TRUE(!vqdev_has_avail(&f.v), "has_avail on an empty queue");
    T_EQ(0, vqdev_pop(&f.v, &ch), "pop on an empty queue");
    T_EQ(0, vqdev_pop(&f.v, &ch), "second pop on an empty queue");
    T_ERR(RING_E_USED_OVERFLOW, vqdev_push(&f.v, 0, 0), "push with nothing popped");
    T_EQ(0, rt_used_idx(&f.e), "used idx");
    T_EQ(0, vqdev_avail_idx(&f.v), "avail idx");
    xfix_fini(&f);
}

RT_TC(dev_pop_direct, "pop a direct chain: head, byte and buffer counts, every buffer in order");
ATF_TC_BODY(dev_pop_direct, tc)
{
    struct xfix f;
    struct vq_chain ch;
    struct vq_buf b[8];

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0x000, 10, VIRTQ_DESC_F_NEXT, 3);
    dput(&f, 3, 0x100, 20, VIRTQ_DESC_F_NEXT, 5);
    dput(&f, 5, 0x200, 30, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    dput(&f, 1, 0x300, 40, VIRTQ_DESC_F_WRITE, 6); /* next ignored without NEXT */
    dput(&f, 7, 0x400, 50, 0, 0);
    rt_hand_offer(&f.e, 0);
    rt_hand_offer(&f.e, 7);
    T_TRUE(vqdev_has_avail(&f.v), "two chains offered");
    T_EQ(2, vqdev_avail_idx(&f.v), "avail idx as the driver wrote it");

    pop_ok(&f, &ch, 0);
    T_EQ(30, ch.out_bytes, "readable bytes");
    T_EQ(70, ch.in_bytes, "writable bytes");
    T_EQ(2, ch.out_count, "readable descriptors");
    T_EQ(2, ch.in_count, "writable descriptors");
    T_EQ(4, collect(&ch, b, 8), "buffers in the chain");
    check_buf(&f, &b[0], 0, 0x000, 10, false);
    check_buf(&f, &b[1], 1, 0x100, 20, false);
    check_buf(&f, &b[2], 2, 0x200, 30, true);
    check_buf(&f, &b[3], 3, 0x300, 40, true);
    T_EQ(0, vq_chain_next(&ch, &b[4]), "the end stays the end");

    pop_ok(&f, &ch, 7);
    T_EQ(50, ch.out_bytes, "second chain readable bytes");
    T_EQ(0, ch.in_bytes, "second chain writable bytes");
    T_EQ(1, collect(&ch, b, 8), "second chain buffers");
    check_buf(&f, &b[0], 0, 0x400, 50, false);
    T_TRUE(!vqdev_has_avail(&f.v), "both popped");
    T_EQ(0, vqdev_pop(&f.v, &ch), "empty again");
    xfix_fini(&f);
}

RT_TC(dev_pop_direct_whole_table, "a direct chain using every descriptor of the table is not a loop");
ATF_TC_BODY(dev_pop_direct_whole_table, tc)
{
    static const uint16_t order[8] = {3, 6, 0, 7, 2, 5, 1, 4};
    struct xfix f;
    struct vq_chain ch;
    struct vq_buf b[9];

    xfix_init(&f, 8, false, false);
    for (unsigned i = 0; i < 8; i++)
        dput(&f, order[i], 0x100ull * i, 8 + i,
             (uint16_t)((i < 7 ? VIRTQ_DESC_F_NEXT : 0) | (i >= 3 ? VIRTQ_DESC_F_WRITE : 0)),
             i < 7 ? order[i + 1] : 0);
    rt_hand_offer(&f.e, order[0]);
    pop_ok(&f, &ch, order[0]);
    T_EQ(3, ch.out_count, "readable descriptors");
    T_EQ(5, ch.in_count, "writable descriptors");
    T_EQ(8 + 9 + 10, ch.out_bytes, "readable bytes");
    T_EQ(11 + 12 + 13 + 14 + 15, ch.in_bytes, "writable bytes");
    T_EQ(8, collect(&ch, b, 9), "all eight descriptors");
    for (unsigned i = 0; i < 8; i++)
        check_buf(&f, &b[i], i, 0x100ull * i, 8 + i, i >= 3);
    xfix_fini(&f);
}

RT_TC(dev_pop_indirect, "pop an indirect chain following the table's next links");
ATF_TC_BODY(dev_pop_indirect, tc)
{
    struct xfix f;
    struct vq_chain ch;
    struct vq_buf b[8];

    xfix_init(&f, 8, false, true);
    /* Table order 0 -> 3 -> 1 -> 2. */
    tput(&f, TBL, 0, 0x000, 5, VIRTQ_DESC_F_NEXT, 3);
    tput(&f, TBL, 3, 0x100, 6, VIRTQ_DESC_F_NEXT, 1);
    tput(&f, TBL, 1, 0x200, 7, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    tput(&f, TBL, 2, 0x300, 8, VIRTQ_DESC_F_WRITE, 0);
    dput_indirect(&f, 2, TBL, 4, 0);
    rt_hand_offer(&f.e, 2);
    pop_ok(&f, &ch, 2);
    T_EQ(11, ch.out_bytes, "readable bytes");
    T_EQ(15, ch.in_bytes, "writable bytes");
    T_EQ(2, ch.out_count, "readable descriptors");
    T_EQ(2, ch.in_count, "writable descriptors");
    T_EQ(4, collect(&ch, b, 8), "buffers");
    check_buf(&f, &b[0], 0, 0x000, 5, false);
    check_buf(&f, &b[1], 1, 0x100, 6, false);
    check_buf(&f, &b[2], 2, 0x200, 7, true);
    check_buf(&f, &b[3], 3, 0x300, 8, true);
    T_ERR(RING_OK, vqdev_push(&f.v, 2, 15), "push");
    xfix_fini(&f);
}

RT_TC(dev_pop_indirect_write_flag, "the WRITE flag on a descriptor naming an indirect table is ignored");
ATF_TC_BODY(dev_pop_indirect_write_flag, tc)
{
    struct xfix f;
    struct vq_chain ch;
    struct vq_buf b[4];

    xfix_init(&f, 8, false, true);
    tput(&f, TBL, 0, 0x000, 9, VIRTQ_DESC_F_NEXT, 1);
    tput(&f, TBL, 1, 0x100, 10, VIRTQ_DESC_F_WRITE, 0);
    dput_indirect(&f, 5, TBL, 2, VIRTQ_DESC_F_WRITE);
    rt_hand_offer(&f.e, 5);
    pop_ok(&f, &ch, 5);
    T_EQ(2, collect(&ch, b, 4), "buffers");
    check_buf(&f, &b[0], 0, 0x000, 9, false);
    check_buf(&f, &b[1], 1, 0x100, 10, true);
    T_EQ(9, ch.out_bytes, "readable bytes");
    T_EQ(10, ch.in_bytes, "writable bytes");
    xfix_fini(&f);
}

RT_TC(dev_pop_indirect_queue_size, "an indirect table of exactly queue-size entries is accepted");
ATF_TC_BODY(dev_pop_indirect_queue_size, tc)
{
    struct xfix f;
    struct vq_chain ch;
    struct vq_buf b[8];

    xfix_init(&f, 4, false, true);
    for (unsigned i = 0; i < 4; i++)
        tput(&f, TBL, i, 0x40ull * i, 16, (uint16_t)(i < 3 ? VIRTQ_DESC_F_NEXT : 0), (uint16_t)(i + 1));
    dput_indirect(&f, 0, TBL, 4, 0);
    rt_hand_offer(&f.e, 0);
    pop_ok(&f, &ch, 0);
    T_EQ(4, collect(&ch, b, 8), "buffers");
    T_EQ(64, ch.out_bytes, "readable bytes");
    xfix_fini(&f);
}

RT_TC(dev_chain_copy, "a copy of a chain iterator is independent");
ATF_TC_BODY(dev_chain_copy, tc)
{
    struct xfix f;
    struct vq_chain ch, copy;
    struct vq_buf a, b;

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0x000, 1, VIRTQ_DESC_F_NEXT, 1);
    dput(&f, 1, 0x100, 2, VIRTQ_DESC_F_NEXT, 2);
    dput(&f, 2, 0x200, 3, 0, 0);
    rt_hand_offer(&f.e, 0);
    pop_ok(&f, &ch, 0);
    T_EQ(1, vq_chain_next(&ch, &a), "first buffer");
    copy = ch;
    T_EQ(1, vq_chain_next(&ch, &a), "second buffer (original)");
    T_EQ(1, vq_chain_next(&ch, &a), "third buffer (original)");
    T_EQ(0, vq_chain_next(&ch, &a), "end (original)");
    T_EQ(1, vq_chain_next(&copy, &b), "second buffer (copy)");
    check_buf(&f, &b, 1, 0x100, 2, false);
    T_EQ(1, vq_chain_next(&copy, &b), "third buffer (copy)");
    check_buf(&f, &b, 2, 0x200, 3, false);
    T_EQ(0, vq_chain_next(&copy, &b), "end (copy)");
    xfix_fini(&f);
}

/* ---- read / write ------------------------------------------------------------------------ */

RT_TC(dev_chain_read, "vq_chain_read gathers across readable segments and stops at their end");
ATF_TC_BODY(dev_chain_read, tc)
{
    struct xfix f;
    struct vq_chain ch;
    struct rt_buf dst;
    uint8_t want[15];

    xfix_init(&f, 8, false, false);
    /* Readable 5 @0x10, 7 @0x80, 3 @0x40, then writable 10 @0x200. */
    dput(&f, 0, 0x10, 5, VIRTQ_DESC_F_NEXT, 1);
    dput(&f, 1, 0x80, 7, VIRTQ_DESC_F_NEXT, 2);
    dput(&f, 2, 0x40, 3, VIRTQ_DESC_F_NEXT, 3);
    dput(&f, 3, 0x200, 10, VIRTQ_DESC_F_WRITE, 0);
    for (unsigned i = 0; i < 0x400; i++)
        rt_host(&f.e, rt_data(&f.e, 0), 0x400)[i] = (uint8_t)(i ^ 0x5c);
    memcpy(want, rt_host(&f.e, rt_data(&f.e, 0x10), 5), 5);
    memcpy(want + 5, rt_host(&f.e, rt_data(&f.e, 0x80), 7), 7);
    memcpy(want + 12, rt_host(&f.e, rt_data(&f.e, 0x40), 3), 3);
    rt_hand_offer(&f.e, 0);
    pop_ok(&f, &ch, 0);

    rt_buf_alloc(&dst, 15);
    T_EQ(15, vq_chain_read(&ch, 0, dst.p, 15), "read everything");
    T_TRUE(memcmp(dst.p, want, 15) == 0, "gathered bytes");
    rt_buf_free(&dst);

    rt_buf_alloc(&dst, 6);
    T_EQ(6, vq_chain_read(&ch, 3, dst.p, 6), "read across the first boundary");
    T_TRUE(memcmp(dst.p, want + 3, 6) == 0, "bytes 3..8");
    rt_buf_free(&dst);

    rt_buf_alloc(&dst, 9);
    T_EQ(9, vq_chain_read(&ch, 4, dst.p, 9), "read across both boundaries");
    T_TRUE(memcmp(dst.p, want + 4, 9) == 0, "bytes 4..12");
    rt_buf_free(&dst);

    rt_buf_alloc(&dst, 100);
    T_EQ(11, vq_chain_read(&ch, 4, dst.p, 100), "a long read stops at the readable end");
    T_TRUE(memcmp(dst.p, want + 4, 11) == 0, "bytes 4..14");
    for (unsigned i = 11; i < 100; i++)
        T_EQ(0, dst.p[i], "read wrote byte %u past what it returned", i);
    T_EQ(3, vq_chain_read(&ch, 12, dst.p, 100), "the last segment alone");
    T_EQ(0, vq_chain_read(&ch, 15, dst.p, 100), "from the readable end");
    T_TRUE(vq_chain_read(&ch, 16, dst.p, 100) <= 0, "past the readable end");
    T_EQ(0, vq_chain_read(&ch, 0, dst.p, 0), "len 0");
    rt_buf_free(&dst);
    xfix_fini(&f);
}

/* Compares the whole data area with an expected image. */
static void check_data(const struct xfix *f, const uint8_t *img, const char *what)
{
    const uint8_t *d = rt_host(&f->e, rt_data(&f->e, 0), DATA_SIZE);

    for (unsigned i = 0; i < DATA_SIZE; i++)
        T_EQ(img[i], d[i], "%s: data byte %#x", what, i);
}

RT_TC(dev_chain_write, "vq_chain_write scatters across writable segments only");
ATF_TC_BODY(dev_chain_write, tc)
{
    static uint8_t img[DATA_SIZE];
    struct xfix f;
    struct vq_chain ch;
    uint8_t src[100];
    uint8_t *d;

    xfix_init(&f, 8, false, false);
    /* Readable 8 @0x00, then writable 4 @0x100, 6 @0x40, 5 @0x180. */
    dput(&f, 0, 0x000, 8, VIRTQ_DESC_F_NEXT, 1);
    dput(&f, 1, 0x100, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    dput(&f, 2, 0x040, 6, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
    dput(&f, 3, 0x180, 5, VIRTQ_DESC_F_WRITE, 0);
    d = rt_host(&f.e, rt_data(&f.e, 0), DATA_SIZE);
    memset(d, 0xee, DATA_SIZE);
    memcpy(img, d, DATA_SIZE);
    for (unsigned i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i + 1);
    rt_hand_offer(&f.e, 0);
    pop_ok(&f, &ch, 0);
    T_EQ(15, ch.in_bytes, "writable bytes");

    T_EQ(15, vq_chain_write(&ch, 0, src, 15), "write everything");
    memcpy(img + 0x100, src, 4);
    memcpy(img + 0x40, src + 4, 6);
    memcpy(img + 0x180, src + 10, 5);
    check_data(&f, img, "full write");

    T_EQ(7, vq_chain_write(&ch, 2, src + 50, 7), "write across the first boundary");
    memcpy(img + 0x102, src + 50, 2);
    memcpy(img + 0x40, src + 52, 5);
    check_data(&f, img, "write at offset 2");

    T_EQ(5, vq_chain_write(&ch, 10, src + 20, 100 - 20), "a long write stops at the writable end");
    memcpy(img + 0x180, src + 20, 5);
    check_data(&f, img, "write at offset 10");

    T_EQ(0, vq_chain_write(&ch, 15, src, 10), "from the writable end");
    T_TRUE(vq_chain_write(&ch, 16, src, 10) <= 0, "past the writable end");
    T_EQ(0, vq_chain_write(&ch, 3, src, 0), "len 0");
    check_data(&f, img, "empty writes");
    xfix_fini(&f);
}

RT_TC(dev_chain_write_readonly, "vq_chain_write on a chain with no writable part touches nothing");
ATF_TC_BODY(dev_chain_write_readonly, tc)
{
    static uint8_t img[DATA_SIZE];
    struct xfix f;
    struct vq_chain ch;
    uint8_t src[64], dst[64];

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    dput(&f, 1, 0x100, 16, 0, 0);
    dput(&f, 2, 0x200, 16, VIRTQ_DESC_F_WRITE, 0);
    memset(rt_host(&f.e, rt_data(&f.e, 0), DATA_SIZE), 0x3c, DATA_SIZE);
    memcpy(img, rt_host(&f.e, rt_data(&f.e, 0), DATA_SIZE), DATA_SIZE);
    memset(src, 0x11, sizeof src);
    rt_hand_offer(&f.e, 0);
    rt_hand_offer(&f.e, 2);
    pop_ok(&f, &ch, 0);
    T_TRUE(vq_chain_write(&ch, 0, src, sizeof src) <= 0, "write into a readable-only chain");
    T_TRUE(vq_chain_write(&ch, 8, src, sizeof src) <= 0, "write at offset 8 into a readable-only chain");
    check_data(&f, img, "write into a readable-only chain");

    /* And reading a writable-only chain yields nothing. */
    pop_ok(&f, &ch, 2);
    memset(dst, 0x99, sizeof dst);
    T_TRUE(vq_chain_read(&ch, 0, dst, sizeof dst) <= 0, "read from a writable-only chain");
    for (unsigned i = 0; i < sizeof dst; i++)
        T_EQ(0x99, dst[i], "read from a writable-only chain wrote byte %u", i);
    xfix_fini(&f);
}

/* ---- push ------------------------------------------------------------------------------------- */

RT_TC(dev_push, "push writes {id, len} at the used idx, publishes idx; overflow is refused");
ATF_TC_BODY(dev_push, tc)
{
    struct xfix f;
    struct vq_chain a, b;
    uint32_t id, len;
    uint8_t *slot2;

    xfix_init(&f, 8, false, false);
    memset(rt_host(&f.e, f.e.lay.used + 4, 64), 0xee, 64); /* used elements: garbage */
    dput(&f, 4, 0x000, 16, VIRTQ_DESC_F_WRITE, 0);
    dput(&f, 6, 0x100, 16, VIRTQ_DESC_F_WRITE, 0);
    rt_hand_offer(&f.e, 4);
    rt_hand_offer(&f.e, 6);
    pop_ok(&f, &a, 4);
    pop_ok(&f, &b, 6);
    T_ERR(RING_OK, vqdev_push(&f.v, 6, 77), "push 6");
    T_EQ(1, rt_used_idx(&f.e), "used idx after one push");
    rt_used_elem(&f.e, 0, &id, &len);
    T_EQ(6, id, "used[0].id");
    T_EQ(77, len, "used[0].len");
    T_ERR(RING_OK, vqdev_push(&f.v, 4, 0), "push 4");
    T_EQ(2, rt_used_idx(&f.e), "used idx after two pushes");
    rt_used_elem(&f.e, 1, &id, &len);
    T_EQ(4, id, "used[1].id");
    T_EQ(0, len, "used[1].len");

    slot2 = rt_host(&f.e, f.e.lay.used + 4 + 16, 8);
    T_ERR(RING_E_USED_OVERFLOW, vqdev_push(&f.v, 4, 1), "a third push with two popped");
    T_EQ(2, rt_used_idx(&f.e), "an overflowing push moved used idx");
    for (unsigned i = 0; i < 8; i++)
        T_EQ(0xee, slot2[i], "an overflowing push wrote used[2] byte %u", i);
    T_EQ(0, rt_used_flags(&f.e), "push wrote used flags");
    xfix_fini(&f);
}

RT_TC(dev_unpop, "unpop gives the same chain back to the next pop");
ATF_TC_BODY(dev_unpop, tc)
{
    struct xfix f;
    struct vq_chain ch;
    struct vq_buf b[4];

    xfix_init(&f, 8, false, false);
    dput(&f, 3, 0x000, 16, VIRTQ_DESC_F_NEXT, 5);
    dput(&f, 5, 0x100, 24, VIRTQ_DESC_F_WRITE, 0);
    dput(&f, 1, 0x200, 8, 0, 0);
    rt_hand_offer(&f.e, 3);
    rt_hand_offer(&f.e, 1);
    pop_ok(&f, &ch, 3);
    vqdev_unpop(&f.v);
    T_TRUE(vqdev_has_avail(&f.v), "after unpop the chain is available again");
    T_ERR(RING_E_USED_OVERFLOW, vqdev_push(&f.v, 3, 0), "after unpop nothing is outstanding");
    pop_ok(&f, &ch, 3);
    T_EQ(16, ch.out_bytes, "same chain: readable bytes");
    T_EQ(24, ch.in_bytes, "same chain: writable bytes");
    T_EQ(2, collect(&ch, b, 4), "same chain: buffers");
    pop_ok(&f, &ch, 1);
    T_ERR(RING_OK, vqdev_push(&f.v, 3, 0), "push 3");
    T_ERR(RING_OK, vqdev_push(&f.v, 1, 0), "push 1");
    T_EQ(2, rt_used_idx(&f.e), "two used");
    xfix_fini(&f);
}

/* ---- interrupts and notifications ------------------------------------------------------------- */

RT_TC(dev_interrupt_flags, "without EVENT_IDX, should_interrupt follows NO_INTERRUPT");
ATF_TC_BODY(dev_interrupt_flags, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0, 32, 0, 0);
    cycle(&f);
    T_TRUE(vqdev_should_interrupt(&f.v), "flags 0");
    rt_set_avail_flags(&f.e, VIRTQ_AVAIL_F_NO_INTERRUPT);
    cycle(&f);
    T_TRUE(!vqdev_should_interrupt(&f.v), "NO_INTERRUPT set");
    rt_set_avail_flags(&f.e, 0);
    cycle(&f);
    T_TRUE(vqdev_should_interrupt(&f.v), "NO_INTERRUPT cleared");
    rt_set_used_event(&f.e, 1000);
    cycle(&f);
    T_TRUE(vqdev_should_interrupt(&f.v), "used_event is ignored without EVENT_IDX");
    xfix_fini(&f);
}

RT_TC(dev_interrupt_event_idx, "with EVENT_IDX, should_interrupt uses used_event and ignores NO_INTERRUPT");
ATF_TC_BODY(dev_interrupt_event_idx, tc)
{
    struct xfix f;

    xfix_init(&f, 8, true, false);
    dput(&f, 0, 0, 32, 0, 0);
    cycle(&f); /* index 0 */
    T_TRUE(vqdev_should_interrupt(&f.v), "used_event 0, index 0 written");
    rt_set_used_event(&f.e, 1);
    cycle(&f); /* 1 */
    T_TRUE(vqdev_should_interrupt(&f.v), "used_event 1, index 1 written");
    rt_set_used_event(&f.e, 5);
    cycle(&f); /* 2 */
    T_TRUE(!vqdev_should_interrupt(&f.v), "used_event 5, index 2 written");
    cycle(&f);
    cycle(&f); /* 3, 4 */
    T_TRUE(!vqdev_should_interrupt(&f.v), "used_event 5, indices 3, 4 written");
    cycle(&f); /* 5 */
    T_TRUE(vqdev_should_interrupt(&f.v), "used_event 5, index 5 written");
    rt_set_used_event(&f.e, 7);
    cycle(&f);
    cycle(&f);
    cycle(&f); /* 6, 7, 8 */
    T_TRUE(vqdev_should_interrupt(&f.v), "used_event 7, indices 6..8 written");
    rt_set_avail_flags(&f.e, VIRTQ_AVAIL_F_NO_INTERRUPT);
    rt_set_used_event(&f.e, 9);
    cycle(&f); /* 9 */
    T_TRUE(vqdev_should_interrupt(&f.v), "used_event 9 written: NO_INTERRUPT must be ignored");
    rt_set_avail_flags(&f.e, 0);
    cycle(&f); /* 10 */
    T_TRUE(!vqdev_should_interrupt(&f.v), "used_event 9 already passed, flags 0");
    xfix_fini(&f);
}

RT_TC(dev_interrupt_event_wrap, "EVENT_IDX interrupt decisions across used idx 65535 -> 0");
ATF_TC_BODY(dev_interrupt_event_wrap, tc)
{
    static const struct {
        uint16_t event;
        unsigned pushes;
        bool irq;
    } step[] = {
        {65534, 1, false}, /* 65532 */
        {0, 4, true},      /* 65533, 65534, 65535, 0: across the wrap */
        {0, 1, false},     /* 1 */
        {2, 2, true},      /* 2, 3 */
        {65535, 3, false}, /* 4, 5, 6 */
        {7, 1, true},      /* 7 */
    };
    struct xfix f;

    xfix_init(&f, 4, true, false);
    dput(&f, 0, 0, 32, 0, 0);
    while (rt_used_idx(&f.e) != 65532) {
        cycle(&f);
        (void)vqdev_should_interrupt(&f.v);
    }
    for (size_t i = 0; i < sizeof step / sizeof step[0]; i++) {
        uint16_t old = rt_used_idx(&f.e);
        rt_set_used_event(&f.e, step[i].event);
        for (unsigned k = 0; k < step[i].pushes; k++)
            cycle(&f);
        T_EQ(step[i].irq, vqdev_should_interrupt(&f.v), "step %zu: used_event %u, used idx %u -> %u",
             i, step[i].event, old, rt_used_idx(&f.e));
        T_EQ(step[i].irq, vring_need_event(step[i].event, rt_used_idx(&f.e), old), "test bug, step %zu", i);
    }
    xfix_fini(&f);
}

RT_TC(dev_notify_flags, "without EVENT_IDX, disable/enable_notify set and clear NO_NOTIFY");
ATF_TC_BODY(dev_notify_flags, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, false);
    T_EQ(0, rt_used_flags(&f.e), "notifications start enabled");
    vqdev_disable_notify(&f.v);
    T_EQ(VIRTQ_USED_F_NO_NOTIFY, rt_used_flags(&f.e), "disable_notify");
    T_TRUE(vqdev_enable_notify(&f.v), "enable_notify with nothing pending");
    T_EQ(0, rt_used_flags(&f.e), "enable_notify");
    xfix_fini(&f);
}

RT_TC(dev_notify_event_idx, "with EVENT_IDX, enable_notify writes avail_event = the next avail index");
ATF_TC_BODY(dev_notify_event_idx, tc)
{
    struct xfix f;
    struct vq_chain ch;

    xfix_init(&f, 8, true, false);
    dput(&f, 0, 0, 32, 0, 0);
    for (int i = 0; i < 3; i++) {
        rt_hand_offer(&f.e, 0);
        pop_ok(&f, &ch, 0);
    }
    vqdev_disable_notify(&f.v);
    T_TRUE(vqdev_enable_notify(&f.v), "nothing pending");
    T_EQ(3, rt_avail_event(&f.e), "avail_event after popping 3");
    rt_hand_offer(&f.e, 0);
    pop_ok(&f, &ch, 0);
    vqdev_disable_notify(&f.v);
    T_TRUE(vqdev_enable_notify(&f.v), "nothing pending");
    T_EQ(4, rt_avail_event(&f.e), "avail_event after popping 4");
    xfix_fini(&f);
}

RT_TC(dev_enable_notify_pending, "enable_notify returns false while chains are available");
ATF_TC_BODY(dev_enable_notify_pending, tc)
{
    for (int ev = 0; ev <= 1; ev++) {
        struct xfix f;
        struct vq_chain ch;

        xfix_init(&f, 8, ev, false);
        dput(&f, 0, 0, 32, 0, 0);
        vqdev_disable_notify(&f.v);
        rt_hand_offer(&f.e, 0);
        T_TRUE(!vqdev_enable_notify(&f.v), "event_idx=%d: a chain arrived meanwhile", ev);
        pop_ok(&f, &ch, 0);
        vqdev_disable_notify(&f.v);
        T_TRUE(vqdev_enable_notify(&f.v), "event_idx=%d: everything popped", ev);
        vqdev_unpop(&f.v);
        vqdev_disable_notify(&f.v);
        T_TRUE(!vqdev_enable_notify(&f.v), "event_idx=%d: the chain was unpopped", ev);
        xfix_fini(&f);
    }
}

/* ---- the device writes only the used ring and writable buffers -------------------------------- */

RT_TC(dev_readonly, "a full pop/iterate/read/write/push cycle never writes the table, avail ring or readable buffers");
ATF_TC_BODY(dev_readonly, tc)
{
    struct xfix f;
    struct vq_chain ch;
    struct vq_buf b[8];
    uint8_t tmp[256], src[256];
    uint64_t h_desc, h_avail, h_tbl, h_ro;
    uint8_t *data;

    xfix_init(&f, 8, true, true);
    /* A: direct, R16 @0x000, R20 @0x100, W30 @0x200, W40 @0x300. */
    dput(&f, 1, 0x000, 16, VIRTQ_DESC_F_NEXT, 4);
    dput(&f, 4, 0x100, 20, VIRTQ_DESC_F_NEXT, 0);
    dput(&f, 0, 0x200, 30, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 6);
    dput(&f, 6, 0x300, 40, VIRTQ_DESC_F_WRITE, 0);
    /* B: indirect, R8 @0x400, W12 @0x500, W4 @0x600. */
    tput(&f, TBL, 0, 0x400, 8, VIRTQ_DESC_F_NEXT, 1);
    tput(&f, TBL, 1, 0x500, 12, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    tput(&f, TBL, 2, 0x600, 4, VIRTQ_DESC_F_WRITE, 0);
    dput_indirect(&f, 3, TBL, 3, 0);
    /* C: R64 @0x700 only. */
    dput(&f, 7, 0x700, 64, 0, 0);
    data = rt_host(&f.e, rt_data(&f.e, 0), 0x800);
    for (unsigned i = 0; i < 0x800; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    for (unsigned i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)~i;
    rt_hand_offer(&f.e, 1);
    rt_hand_offer(&f.e, 3);
    rt_hand_offer(&f.e, 7);
    rt_set_used_event(&f.e, 2);

    h_desc = rt_hash(rt_host(&f.e, f.e.lay.desc, 16 * 8), 16 * 8);
    h_avail = rt_hash(rt_host(&f.e, f.e.lay.avail, vring_avail_bytes(8)), vring_avail_bytes(8));
    h_tbl = rt_hash(rt_host(&f.e, rt_data(&f.e, TBL), 48), 48);
    h_ro = rt_hash(data, 0x200) ^ rt_hash(data + 0x400, 0x100) ^ rt_hash(data + 0x700, 0x100);

    for (int round = 0; round < 3; round++) {
        static const uint16_t heads[3] = {1, 3, 7};
        int64_t n;
        T_TRUE(vqdev_has_avail(&f.v), "chain %d available", round);
        pop_ok(&f, &ch, heads[round]);
        (void)collect(&ch, b, 8);
        T_EQ(ch.out_bytes, vq_chain_read(&ch, 0, tmp, sizeof tmp), "read chain %d", round);
        n = vq_chain_write(&ch, 0, src, sizeof src);
        if (ch.in_bytes > 0)
            T_EQ(ch.in_bytes, n, "write chain %d", round);
        else
            T_TRUE(n <= 0, "write into readable-only chain %d returned %lld", round, (long long)n);
        T_ERR(RING_OK, vqdev_push(&f.v, heads[round], ch.in_bytes), "push chain %d", round);
        (void)vqdev_should_interrupt(&f.v);
        vqdev_disable_notify(&f.v);
        (void)vqdev_enable_notify(&f.v);
    }
    T_EQ(0, vqdev_pop(&f.v, &ch), "empty");

    T_EQ(h_desc, rt_hash(rt_host(&f.e, f.e.lay.desc, 16 * 8), 16 * 8), "the device wrote the descriptor table");
    T_EQ(h_avail, rt_hash(rt_host(&f.e, f.e.lay.avail, vring_avail_bytes(8)), vring_avail_bytes(8)),
         "the device wrote the avail ring");
    T_EQ(h_tbl, rt_hash(rt_host(&f.e, rt_data(&f.e, TBL), 48), 48), "the device wrote an indirect table");
    T_EQ(h_ro, rt_hash(data, 0x200) ^ rt_hash(data + 0x400, 0x100) ^ rt_hash(data + 0x700, 0x100),
         "the device wrote a readable buffer");
    /* The writable buffers did receive the data. */
    T_TRUE(memcmp(data + 0x200, src, 30) == 0 && memcmp(data + 0x300, src + 30, 40) == 0,
           "chain A's writable buffers");
    T_TRUE(memcmp(data + 0x500, src, 12) == 0 && memcmp(data + 0x600, src + 12, 4) == 0,
           "chain B's writable buffers");
    T_EQ(3, rt_used_idx(&f.e), "three used");
    xfix_fini(&f);
}

RT_TC(dev_queue_full, "a completely full avail ring pops Q chains in order, then is empty");
ATF_TC_BODY(dev_queue_full, tc)
{
    static const uint16_t order[8] = {5, 2, 7, 0, 1, 6, 3, 4};
    struct xfix f;
    struct vq_chain ch;

    xfix_init(&f, 8, false, false);
    for (uint16_t i = 0; i < 8; i++)
        dput(&f, i, 0x10ull * i, 16, VIRTQ_DESC_F_WRITE, 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 8; i++)
            rt_hand_offer(&f.e, order[(i + round) % 8]);
        for (int i = 0; i < 8; i++)
            pop_ok(&f, &ch, order[(i + round) % 8]);
        T_TRUE(!vqdev_has_avail(&f.v), "round %d: all popped", round);
        T_EQ(0, vqdev_pop(&f.v, &ch), "round %d: empty", round);
        for (int i = 0; i < 8; i++)
            T_ERR(RING_OK, vqdev_push(&f.v, order[(i + round) % 8], 16), "round %d push %d", round, i);
        T_ERR(RING_E_USED_OVERFLOW, vqdev_push(&f.v, 0, 0), "round %d: ninth push", round);
        T_EQ((uint16_t)(8 * (round + 1)), rt_used_idx(&f.e), "round %d used idx", round);
    }
    xfix_fini(&f);
}

/* ---- malformed chains: one error code per case ----------------------------------------------- */

RT_TC(dev_err_avail_idx, "avail idx more than Q ahead is RING_E_AVAIL_IDX");
ATF_TC_BODY(dev_err_avail_idx, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0, 16, 0, 0);
    rt_set_avail_idx(&f.e, 9);
    pop_err(&f, RING_E_AVAIL_IDX, "avail idx 9 in a queue of 8");
    xfix_fini(&f);

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0, 16, 0, 0);
    rt_set_avail_idx(&f.e, 0xffff);
    pop_err(&f, RING_E_AVAIL_IDX, "avail idx 65535 (moved backwards)");
    xfix_fini(&f);
}

RT_TC(dev_err_head_range, "a head >= Q is RING_E_HEAD_RANGE; the head is consumed");
ATF_TC_BODY(dev_err_head_range, tc)
{
    struct xfix f;
    struct vq_chain ch;

    xfix_init(&f, 8, false, false);
    dput(&f, 2, 0, 16, 0, 0);
    rt_hand_offer(&f.e, 8);
    rt_hand_offer(&f.e, 2);
    rt_hand_offer(&f.e, 0xffff);
    pop_err(&f, RING_E_HEAD_RANGE, "head 8 in a queue of 8");
    pop_ok(&f, &ch, 2);
    pop_err(&f, RING_E_HEAD_RANGE, "head 65535");
    xfix_fini(&f);
}

RT_TC(dev_err_stop_at_bad_head, "with stop_at_bad_head a malformed chain stays at the head: "
                                 "every pop meets it again, the chains behind it never come");
ATF_TC_BODY(dev_err_stop_at_bad_head, tc)
{
    struct xfix f;
    struct vq_device_cfg c;
    struct vq_chain ch;

    rt_env_init(&f.e, 8, 0, DATA_SIZE);
    c = rt_dev_cfg(&f.e, false, false);
    c.stop_at_bad_head = true;
    T_ERR(RING_OK, vqdev_init(&f.v, &f.e.mem, &c), "vqdev_init");
    dput(&f, 2, 0, 16, 0, 0);
    rt_hand_offer(&f.e, 2);
    rt_hand_offer(&f.e, 8);
    rt_hand_offer(&f.e, 2);
    pop_ok(&f, &ch, 2);
    pop_err(&f, RING_E_HEAD_RANGE, "head 8 in a queue of 8");
    pop_err(&f, RING_E_HEAD_RANGE, "head 8 met again");
    T_EQ(1, f.v.last_avail_idx, "stuck at the bad entry");
    T_EQ(1, f.v.popped, "only the good chain is out");
    xfix_fini(&f);
}

RT_TC(dev_keep, "a kept chain is never returned: it leaves the popped count, used idx stays");
ATF_TC_BODY(dev_keep, tc)
{
    struct xfix f;
    struct vq_chain ch;

    xfix_init(&f, 8, false, false);
    T_ERR(RING_E_USED_OVERFLOW, vqdev_keep(&f.v), "nothing popped");
    dput(&f, 0, 0, 16, 0, 0);
    dput(&f, 1, 0x100, 16, 0, 0);
    rt_hand_offer(&f.e, 0);
    rt_hand_offer(&f.e, 1);
    pop_ok(&f, &ch, 0);
    T_ERR(RING_OK, vqdev_keep(&f.v), "keep 0");
    T_EQ(0, f.v.popped, "kept: no longer popped");
    pop_ok(&f, &ch, 1);
    T_ERR(RING_OK, vqdev_push(&f.v, 1, 0), "push 1");
    T_ERR(RING_E_USED_OVERFLOW, vqdev_push(&f.v, 0, 0), "the kept chain cannot be pushed");
    T_EQ(1, rt_used_idx(&f.e), "one used entry");
    /* A restart at avail entry 2 continues from the used idx in memory. */
    T_ERR(RING_OK, vqdev_set_base(&f.v, 2), "set base");
    T_EQ(2, f.v.last_avail_idx, "avail base");
    T_EQ(1, f.v.used_idx, "used idx from ring memory");
    xfix_fini(&f);
}

RT_TC(dev_err_next_range, "desc.next >= Q is RING_E_NEXT_RANGE");
ATF_TC_BODY(dev_err_next_range, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    dput(&f, 1, 0x100, 16, VIRTQ_DESC_F_NEXT, 8);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_NEXT_RANGE, "next 8 in a table of 8");
    xfix_fini(&f);

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 0xffff);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_NEXT_RANGE, "next 65535");
    xfix_fini(&f);
}

RT_TC(dev_err_next_range_indirect, "next past the end of an indirect table is RING_E_NEXT_RANGE");
ATF_TC_BODY(dev_err_next_range_indirect, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, true);
    /* Two entries; entry 1 links to 2. Entry 2 exists in memory but not in the table. */
    tput(&f, TBL, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    tput(&f, TBL, 1, 0x100, 16, VIRTQ_DESC_F_NEXT, 2);
    tput(&f, TBL, 2, 0x200, 16, 0, 0);
    dput_indirect(&f, 0, TBL, 2, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_NEXT_RANGE, "next 2 in an indirect table of 2");
    xfix_fini(&f);
}

RT_TC(dev_err_loop_self, "a descriptor linking to itself is RING_E_CHAIN_LOOP");
ATF_TC_BODY(dev_err_loop_self, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, false);
    dput(&f, 3, 0x000, 16, VIRTQ_DESC_F_NEXT, 3);
    rt_hand_offer(&f.e, 3);
    pop_err(&f, RING_E_CHAIN_LOOP, "3 -> 3");
    xfix_fini(&f);
}

RT_TC(dev_err_loop_two, "two descriptors linking to each other is RING_E_CHAIN_LOOP");
ATF_TC_BODY(dev_err_loop_two, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    dput(&f, 1, 0x100, 16, VIRTQ_DESC_F_NEXT, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_CHAIN_LOOP, "0 -> 1 -> 0");
    xfix_fini(&f);

    /* A loop that does not return to the head. */
    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    dput(&f, 1, 0x100, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    dput(&f, 2, 0x200, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_CHAIN_LOOP, "0 -> 1 -> 2 -> 1");
    xfix_fini(&f);
}

RT_TC(dev_err_loop_indirect, "a loop inside an indirect table is RING_E_CHAIN_LOOP");
ATF_TC_BODY(dev_err_loop_indirect, tc)
{
    struct xfix f;

    xfix_init(&f, 16, false, true);
    tput(&f, TBL, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    tput(&f, TBL, 1, 0x100, 16, VIRTQ_DESC_F_NEXT, 2);
    tput(&f, TBL, 2, 0x200, 16, VIRTQ_DESC_F_NEXT, 0);
    dput_indirect(&f, 0, TBL, 3, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_CHAIN_LOOP, "indirect 0 -> 1 -> 2 -> 0 with Q=16");
    xfix_fini(&f);

    xfix_init(&f, 16, false, true);
    tput(&f, TBL, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 0);
    dput_indirect(&f, 0, TBL, 1, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_CHAIN_LOOP, "indirect 0 -> 0");
    xfix_fini(&f);
}

RT_TC(dev_err_too_long, "an indirect chain longer than Q is RING_E_CHAIN_TOO_LONG");
ATF_TC_BODY(dev_err_too_long, tc)
{
    struct xfix f;

    xfix_init(&f, 4, false, true);
    for (unsigned i = 0; i < 5; i++)
        tput(&f, TBL, i, 0x40ull * i, 16, (uint16_t)(i < 4 ? VIRTQ_DESC_F_NEXT : 0), (uint16_t)(i + 1));
    dput_indirect(&f, 0, TBL, 5, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_CHAIN_TOO_LONG, "5 linked entries with Q=4");
    xfix_fini(&f);
}

RT_TC(dev_err_indirect_feature, "INDIRECT without VIRTIO_F_INDIRECT_DESC is RING_E_INDIRECT_FEATURE");
ATF_TC_BODY(dev_err_indirect_feature, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, false);
    tput(&f, TBL, 0, 0x000, 16, 0, 0);
    dput_indirect(&f, 0, TBL, 1, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_INDIRECT_FEATURE, "indirect head, feature off");
    xfix_fini(&f);
}

RT_TC(dev_err_indirect_nested, "INDIRECT inside an indirect table is RING_E_INDIRECT_NESTED");
ATF_TC_BODY(dev_err_indirect_nested, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, true);
    tput(&f, TBL + 0x100, 0, 0x000, 16, 0, 0); /* a valid inner table */
    tput(&f, TBL, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    rt_desc_put(&f.e, rt_data(&f.e, TBL), 1, rt_data(&f.e, TBL + 0x100), 16, VIRTQ_DESC_F_INDIRECT, 0);
    dput_indirect(&f, 0, TBL, 2, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_INDIRECT_NESTED, "entry 1 of the table is INDIRECT");
    xfix_fini(&f);
}

RT_TC(dev_err_indirect_next, "INDIRECT together with NEXT is RING_E_INDIRECT_NEXT");
ATF_TC_BODY(dev_err_indirect_next, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, true);
    tput(&f, TBL, 0, 0x000, 16, 0, 0);
    dput(&f, 1, 0x100, 16, 0, 0);
    rt_desc_put(&f.e, f.e.lay.desc, 0, rt_data(&f.e, TBL), 16,
                VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_INDIRECT_NEXT, "head flags INDIRECT|NEXT");
    xfix_fini(&f);
}

RT_TC(dev_err_indirect_len_zero, "an indirect table of length 0 is RING_E_INDIRECT_LEN");
ATF_TC_BODY(dev_err_indirect_len_zero, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, true);
    tput(&f, TBL, 0, 0x000, 16, 0, 0);
    dput_indirect(&f, 0, TBL, 0, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_INDIRECT_LEN, "len 0");
    xfix_fini(&f);
}

RT_TC(dev_err_indirect_len_odd, "an indirect table length not a multiple of 16 is RING_E_INDIRECT_LEN");
ATF_TC_BODY(dev_err_indirect_len_odd, tc)
{
    static const uint32_t lens[] = {24, 8, 17, 31};

    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        struct xfix f;

        xfix_init(&f, 8, false, true);
        tput(&f, TBL, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
        tput(&f, TBL, 1, 0x100, 16, 0, 0);
        rt_desc_put(&f.e, f.e.lay.desc, 0, rt_data(&f.e, TBL), lens[i], VIRTQ_DESC_F_INDIRECT, 0);
        rt_hand_offer(&f.e, 0);
        pop_err(&f, RING_E_INDIRECT_LEN, rt_fmt("len %u", lens[i]));
        xfix_fini(&f);
    }
}

RT_TC(dev_err_write_order, "a readable descriptor after a writable one is RING_E_WRITE_ORDER");
ATF_TC_BODY(dev_err_write_order, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, false);
    dput(&f, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    dput(&f, 1, 0x100, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    dput(&f, 2, 0x200, 16, 0, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_WRITE_ORDER, "R, W, R");
    xfix_fini(&f);
}

RT_TC(dev_err_write_order_indirect, "readable after writable inside an indirect table is RING_E_WRITE_ORDER");
ATF_TC_BODY(dev_err_write_order_indirect, tc)
{
    struct xfix f;

    xfix_init(&f, 8, false, true);
    tput(&f, TBL, 0, 0x000, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    tput(&f, TBL, 1, 0x100, 16, 0, 0);
    dput_indirect(&f, 0, TBL, 2, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_WRITE_ORDER, "indirect W, R");
    xfix_fini(&f);
}

RT_TC(dev_err_desc_range, "a buffer outside guest memory is RING_E_DESC_RANGE");
ATF_TC_BODY(dev_err_desc_range, tc)
{
    static const struct {
        uint64_t addr; /* 0 = just past the end of RAM */
        uint32_t len;
        const char *what;
    } c[] = {
        {0x1000, 16, "below guest memory"},
        {0, 16, "just past the end of guest memory"},
        {1, 16, "straddling the end of guest memory"},
        {UINT64_MAX - 7, 16, "wrapping past 2^64"},
        {UINT64_MAX - 7, 8, "at the top of the address space"},
    };

    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        struct xfix f;
        uint64_t ram_end, addr;

        xfix_init(&f, 8, false, false);
        ram_end = f.e.ram_gpa + f.e.ram.size;
        addr = c[i].addr == 0 ? ram_end : c[i].addr == 1 ? ram_end - 8 : c[i].addr;
        dput(&f, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
        rt_desc_put(&f.e, f.e.lay.desc, 1, addr, c[i].len, VIRTQ_DESC_F_WRITE, 0);
        rt_hand_offer(&f.e, 0);
        pop_err(&f, RING_E_DESC_RANGE, c[i].what);
        xfix_fini(&f);
    }
}

RT_TC(dev_err_desc_range_straddle, "a buffer straddling two adjacent regions is RING_E_DESC_RANGE");
ATF_TC_BODY(dev_err_desc_range_straddle, tc)
{
    struct xfix f;
    struct rt_buf hi;
    struct vq_chain ch;
    uint64_t ram_end;

    xfix_init(&f, 8, false, false);
    rt_buf_alloc(&hi, 0x1000);
    ram_end = f.e.ram_gpa + f.e.ram.size;
    T_ERR(RING_OK, gmem_add_region(&f.e.mem, ram_end, 0x1000, hi.p), "adjacent region");
    /* Control: a buffer entirely in the second region is fine. */
    rt_desc_put(&f.e, f.e.lay.desc, 0, ram_end, 64, VIRTQ_DESC_F_WRITE, 0);
    rt_hand_offer(&f.e, 0);
    pop_ok(&f, &ch, 0);
    rt_desc_put(&f.e, f.e.lay.desc, 1, ram_end - 16, 32, VIRTQ_DESC_F_WRITE, 0);
    rt_hand_offer(&f.e, 1);
    {
        uint64_t h = rt_hash(hi.p, hi.size);
        pop_err(&f, RING_E_DESC_RANGE, "16 bytes in each region");
        T_EQ(h, rt_hash(hi.p, hi.size), "the failed pop wrote the second region");
    }
    rt_buf_free(&hi);
    xfix_fini(&f);
}

RT_TC(dev_err_desc_range_indirect, "an indirect table, or a buffer in it, outside memory is RING_E_DESC_RANGE");
ATF_TC_BODY(dev_err_desc_range_indirect, tc)
{
    struct xfix f;
    uint64_t ram_end;

    xfix_init(&f, 8, false, true);
    ram_end = f.e.ram_gpa + f.e.ram.size;
    rt_desc_put(&f.e, f.e.lay.desc, 0, ram_end + 0x1000, 32, VIRTQ_DESC_F_INDIRECT, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_DESC_RANGE, "indirect table outside guest memory");
    xfix_fini(&f);

    xfix_init(&f, 8, false, true);
    ram_end = f.e.ram_gpa + f.e.ram.size;
    rt_desc_put(&f.e, f.e.lay.desc, 0, ram_end - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_DESC_RANGE, "indirect table straddling the end of guest memory");
    xfix_fini(&f);

    xfix_init(&f, 8, false, true);
    ram_end = f.e.ram_gpa + f.e.ram.size;
    tput(&f, TBL, 0, 0x000, 16, VIRTQ_DESC_F_NEXT, 1);
    rt_desc_put(&f.e, rt_data(&f.e, TBL), 1, ram_end, 16, VIRTQ_DESC_F_WRITE, 0);
    dput_indirect(&f, 0, TBL, 2, 0);
    rt_hand_offer(&f.e, 0);
    pop_err(&f, RING_E_DESC_RANGE, "a buffer in the indirect table outside guest memory");
    xfix_fini(&f);
}

/* 2 GiB of address space, never touched (PROT_NONE: any access faults), as
 * guest memory at 4 GiB, for chains whose total length reaches 2^32. */
#define BIG_GPA 0x100000000ull
#define BIG_SIZE 0x80000000ull

static void *map_big(struct xfix *f)
{
    void *p = mmap(NULL, BIG_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    T_TRUE(p != MAP_FAILED, "mmap of 2 GiB of PROT_NONE address space failed");
    T_ERR(RING_OK, gmem_add_region(&f->e.mem, BIG_GPA, BIG_SIZE, p), "2 GiB region");
    return p;
}

RT_TC(dev_err_chain_len, "a chain whose lengths add up to 2^32 or more is RING_E_CHAIN_LEN");
ATF_TC_BODY(dev_err_chain_len, tc)
{
    for (int variant = 0; variant < 3; variant++) {
        struct xfix f;
        void *big;
        uint64_t tbl;

        xfix_init(&f, 8, false, true);
        big = map_big(&f);
        tbl = rt_data(&f.e, TBL);
        switch (variant) {
        case 0: /* R 2^31 + W 2^31 = 2^32 */
            rt_desc_put(&f.e, f.e.lay.desc, 0, BIG_GPA, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
            rt_desc_put(&f.e, f.e.lay.desc, 1, BIG_GPA, 0x80000000u, VIRTQ_DESC_F_WRITE, 0);
            rt_hand_offer(&f.e, 0);
            pop_err(&f, RING_E_CHAIN_LEN, "2^31 + 2^31");
            break;
        case 1: /* three readable 0x60000000: the readable total alone overflows 32 bits */
            rt_desc_put(&f.e, f.e.lay.desc, 2, BIG_GPA, 0x60000000u, VIRTQ_DESC_F_NEXT, 3);
            rt_desc_put(&f.e, f.e.lay.desc, 3, BIG_GPA + 0x10000000u, 0x60000000u, VIRTQ_DESC_F_NEXT, 4);
            rt_desc_put(&f.e, f.e.lay.desc, 4, BIG_GPA + 0x20000000u, 0x60000000u, 0, 0);
            rt_hand_offer(&f.e, 2);
            pop_err(&f, RING_E_CHAIN_LEN, "3 * 0x60000000 readable");
            break;
        default: /* inside an indirect table: 1 + 0x7fffffff + 0x7fffffff + 1 */
            rt_desc_put(&f.e, tbl, 0, BIG_GPA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
            rt_desc_put(&f.e, tbl, 1, BIG_GPA, 0x7fffffffu, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
            rt_desc_put(&f.e, tbl, 2, BIG_GPA + 1, 0x7fffffffu, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
            rt_desc_put(&f.e, tbl, 3, BIG_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
            dput_indirect(&f, 5, TBL, 4, 0);
            rt_hand_offer(&f.e, 5);
            pop_err(&f, RING_E_CHAIN_LEN, "indirect 1 + 0x7fffffff + 0x7fffffff + 1");
            break;
        }
        munmap(big, BIG_SIZE);
        xfix_fini(&f);
    }
}

RT_TC(dev_chain_len_max, "a chain of 2^32 - 1 bytes is accepted with exact totals");
ATF_TC_BODY(dev_chain_len_max, tc)
{
    struct xfix f;
    struct vq_chain ch;
    struct vq_buf b[4];
    void *big;

    xfix_init(&f, 8, false, false);
    big = map_big(&f);
    rt_desc_put(&f.e, f.e.lay.desc, 0, BIG_GPA, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
    rt_desc_put(&f.e, f.e.lay.desc, 1, BIG_GPA + 1, 0x7fffffffu, VIRTQ_DESC_F_WRITE, 0);
    rt_hand_offer(&f.e, 0);
    pop_ok(&f, &ch, 0);
    T_EQ(0x80000000u, ch.out_bytes, "readable bytes");
    T_EQ(0x7fffffffu, ch.in_bytes, "writable bytes");
    T_EQ(2, collect(&ch, b, 4), "buffers");
    T_EQ(BIG_GPA + 1, b[1].gpa, "second buffer");
    T_ERR(RING_OK, vqdev_push(&f.v, 0, 0), "push");
    munmap(big, BIG_SIZE);
    xfix_fini(&f);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, dev_init_errors);
    ATF_TP_ADD_TC(tp, dev_pop_empty);
    ATF_TP_ADD_TC(tp, dev_pop_direct);
    ATF_TP_ADD_TC(tp, dev_pop_direct_whole_table);
    ATF_TP_ADD_TC(tp, dev_pop_indirect);
    ATF_TP_ADD_TC(tp, dev_pop_indirect_write_flag);
    ATF_TP_ADD_TC(tp, dev_pop_indirect_queue_size);
    ATF_TP_ADD_TC(tp, dev_chain_copy);
    ATF_TP_ADD_TC(tp, dev_chain_read);
    ATF_TP_ADD_TC(tp, dev_chain_write);
    ATF_TP_ADD_TC(tp, dev_chain_write_readonly);
    ATF_TP_ADD_TC(tp, dev_push);
    ATF_TP_ADD_TC(tp, dev_unpop);
    ATF_TP_ADD_TC(tp, dev_interrupt_flags);
    ATF_TP_ADD_TC(tp, dev_interrupt_event_idx);
    ATF_TP_ADD_TC(tp, dev_interrupt_event_wrap);
    ATF_TP_ADD_TC(tp, dev_notify_flags);
    ATF_TP_ADD_TC(tp, dev_notify_event_idx);
    ATF_TP_ADD_TC(tp, dev_enable_notify_pending);
    ATF_TP_ADD_TC(tp, dev_readonly);
    ATF_TP_ADD_TC(tp, dev_queue_full);
    ATF_TP_ADD_TC(tp, dev_err_avail_idx);
    ATF_TP_ADD_TC(tp, dev_err_head_range);
    ATF_TP_ADD_TC(tp, dev_err_stop_at_bad_head);
    ATF_TP_ADD_TC(tp, dev_keep);
    ATF_TP_ADD_TC(tp, dev_err_next_range);
    ATF_TP_ADD_TC(tp, dev_err_next_range_indirect);
    ATF_TP_ADD_TC(tp, dev_err_loop_self);
    ATF_TP_ADD_TC(tp, dev_err_loop_two);
    ATF_TP_ADD_TC(tp, dev_err_loop_indirect);
    ATF_TP_ADD_TC(tp, dev_err_too_long);
    ATF_TP_ADD_TC(tp, dev_err_indirect_feature);
    ATF_TP_ADD_TC(tp, dev_err_indirect_nested);
    ATF_TP_ADD_TC(tp, dev_err_indirect_next);
    ATF_TP_ADD_TC(tp, dev_err_indirect_len_zero);
    ATF_TP_ADD_TC(tp, dev_err_indirect_len_odd);
    ATF_TP_ADD_TC(tp, dev_err_write_order);
    ATF_TP_ADD_TC(tp, dev_err_write_order_indirect);
    ATF_TP_ADD_TC(tp, dev_err_desc_range);
    ATF_TP_ADD_TC(tp, dev_err_desc_range_straddle);
    ATF_TP_ADD_TC(tp, dev_err_desc_range_indirect);
    ATF_TP_ADD_TC(tp, dev_err_chain_len);
    ATF_TP_ADD_TC(tp, dev_chain_len_max);
    return atf_no_error();
}
