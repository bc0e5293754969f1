/*
 * The driver half (vqd_*), with the test playing the device by hand: it reads
 * the descriptor table and avail ring bytes, and writes used entries (good and
 * hostile) itself.
 */
#include <string.h>

#include "ring/ring_testlib.h"


struct dfix {
    struct rt_env e;
    struct vq_driver d;
};

static int tok[256]; /* tokens are &tok[i] */

static void dfix_init(struct dfix *f, uint32_t q, uint32_t ind_max, bool event_idx, bool indirect)
{
    struct vq_driver_cfg c;

    rt_env_init(&f->e, q, ind_max, 0x10000);
    c = rt_drv_cfg(&f->e, event_idx, indirect);
    T_ERR(RING_OK, vqd_init(&f->d, &f->e.mem, &c), "vqd_init Q=%u event_idx=%d indirect=%d", q,
          event_idx, indirect);
}

static void dfix_fini(struct dfix *f)
{
    vqd_destroy(&f->d);
    rt_env_fini(&f->e);
}

static struct vq_seg seg(const struct dfix *f, uint64_t off, uint32_t len)
{
    struct vq_seg s = {rt_data(&f->e, off), len};
    return s;
}

/* vqd_add that must succeed and publish exactly one new avail entry; returns
 * the head it published. */
static uint16_t add_ok(struct dfix *f, const struct vq_seg *s, unsigned n_out, unsigned n_in,
                       void *token, enum vq_add_mode mode)
{
    uint16_t idx = rt_avail_idx(&f->e);
    uint16_t head;

    T_ERR(RING_OK, vqd_add(&f->d, s, n_out, n_in, token, mode), "vqd_add(%u out, %u in, mode %d)",
          n_out, n_in, (int)mode);
    T_EQ((uint16_t)(idx + 1), rt_avail_idx(&f->e), "avail idx must advance by one per add");
    head = rt_avail_ring(&f->e, idx);
    T_TRUE(head < f->e.lay.num, "published head %u >= queue size %u", head, f->e.lay.num);
    return head;
}

/* One single-segment chain, added and returned as head. */
static uint16_t add1(struct dfix *f, void *token)
{
    struct vq_seg s = seg(f, 0, 64);
    return add_ok(f, &s, 0, 1, token, VQ_ADD_DIRECT);
}

static void get_used_ok(struct dfix *f, void *token, uint32_t len, uint32_t capacity)
{
    struct vq_used_entry u;

    memset(&u, 0, sizeof u);
    T_EQ(1, vqd_get_used(&f->d, &u), "a used entry is pending");
    T_TRUE(u.token == token, "used entry token %p, expected %p", u.token, token);
    T_EQ(len, u.len, "used entry len");
    T_EQ(capacity, u.capacity, "used entry capacity");
}

/* Checks the direct chain at head describes s[0..n_out+n_in) exactly. */
static void check_direct(const struct dfix *f, uint16_t head, const struct vq_seg *s, unsigned n_out,
                         unsigned n_in)
{
    unsigned n = n_out + n_in;
    bool seen[VIRTQ_MAX_SIZE] = {false};
    uint32_t idx = head;

    for (unsigned i = 0; i < n; i++) {
        struct rt_desc d;
        uint16_t want = (uint16_t)((i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
                                   (i >= n_out ? VIRTQ_DESC_F_WRITE : 0));

        T_TRUE(idx < f->e.lay.num, "descriptor %u of the chain at %u is %u, past the table", i,
               head, idx);
        T_TRUE(!seen[idx], "descriptor %u used twice in one chain", idx);
        seen[idx] = true;
        d = rt_desc_get(&f->e, f->e.lay.desc, idx);
        T_EQ(s[i].gpa, d.addr, "segment %u addr (descriptor %u)", i, idx);
        T_EQ(s[i].len, d.len, "segment %u len (descriptor %u)", i, idx);
        T_EQ(want, d.flags, "segment %u flags (descriptor %u): NEXT on all but the last, WRITE on the %u writable ones",
             i, idx, n_in);
        idx = d.next;
    }
}

/* Checks the chain at head is one INDIRECT descriptor whose table holds s. */
static void check_indirect(const struct dfix *f, uint16_t head, const struct vq_seg *s,
                           unsigned n_out, unsigned n_in)
{
    unsigned n = n_out + n_in;
    struct rt_desc d = rt_desc_get(&f->e, f->e.lay.desc, head);
    uint64_t table = f->e.ind_gpa + (uint64_t)head * f->e.ind_max * 16;
    bool seen[64] = {false};
    uint32_t idx = 0;

    T_TRUE(d.flags & VIRTQ_DESC_F_INDIRECT, "head %u flags %#x lack INDIRECT", head, d.flags);
    T_TRUE(!(d.flags & VIRTQ_DESC_F_NEXT), "head %u has INDIRECT together with NEXT", head);
    T_EQ(table, d.addr, "indirect table of head %u must be at indirect_gpa + h * indirect_max * 16",
         head);
    T_EQ(16ull * n, d.len, "indirect table length for %u segments", n);
    for (unsigned i = 0; i < n; i++) {
        struct rt_desc t;
        uint16_t want = (uint16_t)((i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
                                   (i >= n_out ? VIRTQ_DESC_F_WRITE : 0));

        T_TRUE(idx < n, "table entry %u links to %u, past the %u entries", i, idx, n);
        T_TRUE(!seen[idx], "table entry %u visited twice", idx);
        seen[idx] = true;
        t = rt_desc_get(&f->e, table, idx);
        T_EQ(s[i].gpa, t.addr, "segment %u addr (table entry %u)", i, idx);
        T_EQ(s[i].len, t.len, "segment %u len (table entry %u)", i, idx);
        T_EQ(want, t.flags, "segment %u flags (table entry %u)", i, idx);
        idx = t.next;
    }
}

/* Brings the avail idx to target with add / complete / get_used / kick cycles. */
static void advance_to(struct dfix *f, uint16_t target)
{
    while (rt_avail_idx(&f->e) != target) {
        uint16_t h = add1(f, &tok[0]);
        (void)vqd_kick_prepare(&f->d);
        rt_hand_push(&f->e, h, 1);
        get_used_ok(f, &tok[0], 1, 64);
    }
    (void)vqd_kick_prepare(&f->d);
    T_EQ(target, rt_used_idx(&f->e), "used idx follows");
}

/* ---- init --------------------------------------------------------------------------- */

RT_TC(drv_init_bad_size, "vqd_init rejects queue sizes that are not powers of two in 1..32768");
ATF_TC_BODY(drv_init_bad_size, tc)
{
    static const uint32_t bad[] = {0, 3, 12, 32769, 65536};
    struct rt_env e;
    struct vq_driver d;

    rt_env_init(&e, 8, 0, 0x100);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vq_driver_cfg c = rt_drv_cfg(&e, false, false);
        c.layout.num = bad[i];
        T_ERR(RING_E_QUEUE_SIZE, vqd_init(&d, &e.mem, &c), "queue size %u", bad[i]);
    }
    rt_env_fini(&e);
}

RT_TC(drv_init_misaligned, "vqd_init rejects a misaligned table, avail ring or used ring");
ATF_TC_BODY(drv_init_misaligned, tc)
{
    struct rt_env e;
    struct vq_driver d;
    struct vq_driver_cfg c;
    uint64_t base;

    rt_env_init(&e, 8, 0, 0x4000);
    /* A well-aligned layout in the data area, far from the standard one. */
    base = rt_data(&e, 0);
    c = rt_drv_cfg(&e, false, false);
    c.layout.desc = base;
    c.layout.avail = base + 0x1000;
    c.layout.used = base + 0x2000;
    T_ERR(RING_OK, vqd_init(&d, &e.mem, &c), "the aligned reference layout");
    vqd_destroy(&d);

    c.layout.desc = base + 8;
    T_ERR(RING_E_ALIGN, vqd_init(&d, &e.mem, &c), "table at 8 mod 16");
    c.layout.desc = base + 2;
    T_ERR(RING_E_ALIGN, vqd_init(&d, &e.mem, &c), "table at 2 mod 16");
    c.layout.desc = base;
    c.layout.avail = base + 0x1001;
    T_ERR(RING_E_ALIGN, vqd_init(&d, &e.mem, &c), "odd avail ring");
    c.layout.avail = base + 0x1000;
    c.layout.used = base + 0x2002;
    T_ERR(RING_E_ALIGN, vqd_init(&d, &e.mem, &c), "used ring at 2 mod 4");
    c.layout.used = base + 0x2001;
    T_ERR(RING_E_ALIGN, vqd_init(&d, &e.mem, &c), "used ring at 1 mod 4");
    rt_env_fini(&e);
}

RT_TC(drv_init_outside, "vqd_init rejects ring parts or indirect tables outside guest memory");
ATF_TC_BODY(drv_init_outside, tc)
{
    struct rt_env e;
    struct vq_driver d;
    struct vq_driver_cfg c;
    uint64_t ram_end;

    rt_env_init(&e, 8, 4, 0x100);
    ram_end = e.ram_gpa + e.ram.size;

    c = rt_drv_cfg(&e, false, false);
    c.layout.desc = 0x1000;
    T_ERR(RING_E_GPA_RANGE, vqd_init(&d, &e.mem, &c), "table below guest memory");
    c = rt_drv_cfg(&e, false, false);
    c.layout.avail = ram_end + 0x1000;
    T_ERR(RING_E_GPA_RANGE, vqd_init(&d, &e.mem, &c), "avail ring past guest memory");
    c = rt_drv_cfg(&e, false, false);
    c.layout.used = (ram_end - vring_used_bytes(8) + 4) & ~3ull;
    T_ERR(RING_E_GPA_RANGE, vqd_init(&d, &e.mem, &c), "used ring straddling the end of guest memory");
    c = rt_drv_cfg(&e, false, false);
    c.layout.desc = (ram_end - 64) & ~15ull; /* 8 descriptors need 128 bytes */
    T_ERR(RING_E_GPA_RANGE, vqd_init(&d, &e.mem, &c), "table straddling the end of guest memory");

    c = rt_drv_cfg(&e, false, true);
    c.indirect_gpa = ram_end - 16 * 4; /* 8 tables of 4 need 512 bytes */
    T_ERR(RING_E_GPA_RANGE, vqd_init(&d, &e.mem, &c), "indirect tables past guest memory");
    c.indirect_gpa = 0x2000;
    T_ERR(RING_E_GPA_RANGE, vqd_init(&d, &e.mem, &c), "indirect tables below guest memory");

    /* indirect_gpa is ignored unless indirect. */
    c = rt_drv_cfg(&e, false, false);
    c.indirect_gpa = 0x2000;
    T_ERR(RING_OK, vqd_init(&d, &e.mem, &c), "indirect_gpa must be ignored without indirect");
    vqd_destroy(&d);
    rt_env_fini(&e);
}

RT_TC(drv_init_state, "vqd_init zeroes the avail ring and starts with every descriptor free");
ATF_TC_BODY(drv_init_state, tc)
{
    struct dfix f;
    struct vq_used_entry u;
    struct vq_driver_cfg c;

    rt_env_init(&f.e, 16, 0, 0x100);
    memset(rt_host(&f.e, f.e.lay.avail, vring_avail_bytes(16)), 0xff, vring_avail_bytes(16));
    c = rt_drv_cfg(&f.e, true, false);
    T_ERR(RING_OK, vqd_init(&f.d, &f.e.mem, &c), "vqd_init");
    T_EQ(0, rt_avail_flags(&f.e), "avail flags after init");
    T_EQ(0, rt_avail_idx(&f.e), "avail idx after init");
    for (uint32_t i = 0; i < 16; i++)
        T_EQ(0, rt_avail_ring(&f.e, i), "avail ring[%u] after init", i);
    T_EQ(0, rt_used_event(&f.e), "used_event after init");
    T_EQ(16, vqd_num_free(&f.d), "all descriptors free");
    T_EQ(0, vqd_in_flight(&f.d), "nothing in flight");
    T_TRUE(!vqd_has_used(&f.d), "has_used on a fresh queue");
    T_EQ(0, vqd_get_used(&f.d, &u), "get_used on a fresh queue");
    dfix_fini(&f);
}

/* ---- add ------------------------------------------------------------------------------ */

RT_TC(drv_add_direct, "a direct chain: descriptor bytes, NEXT/WRITE flags, readable before writable");
ATF_TC_BODY(drv_add_direct, tc)
{
    struct dfix f;
    struct vq_seg s[5];
    uint16_t h1, h2;
    static uint8_t high[0x2000];
    static const uint8_t want_bytes[14] = {
        /* addr 0x0000000123456780 LE */ 0x80, 0x67, 0x45, 0x23, 0x01, 0, 0, 0,
        /* len 0x1234 LE */ 0x34, 0x12, 0x00, 0x00,
        /* flags NEXT */ 0x01, 0x00,
    };

    dfix_init(&f, 16, 0, false, false);
    s[0] = seg(&f, 0x000, 10);
    s[1] = seg(&f, 0x100, 20);
    s[2] = seg(&f, 0x200, 30);
    s[3] = seg(&f, 0x300, 40);
    s[4] = seg(&f, 0x400, 50);
    h1 = add_ok(&f, s, 2, 3, &tok[1], VQ_ADD_DIRECT);
    check_direct(&f, h1, s, 2, 3);
    T_EQ(11, vqd_num_free(&f.d), "5 descriptors taken");
    T_EQ(1, vqd_in_flight(&f.d), "one chain in flight");

    /* Raw bytes of a descriptor for a buffer above 4 GiB (a second region
     * there): virtio 1.x is little-endian whatever the host. */
    T_ERR(RING_OK, gmem_add_region(&f.e.mem, 0x123456000ull, sizeof high, high), "high region");
    s[0].gpa = 0x123456780ull;
    s[0].len = 0x1234;
    h2 = add_ok(&f, s, 1, 1, &tok[2], VQ_ADD_DIRECT);
    T_TRUE(h2 != h1, "second chain reuses head %u still in flight", h1);
    T_TRUE(memcmp(rt_host(&f.e, f.e.lay.desc + 16ull * h2, 14), want_bytes, 14) == 0,
           "descriptor %u bytes are not little-endian {addr, len, flags=NEXT}", h2);
    check_direct(&f, h2, s, 1, 1);
    T_EQ(9, vqd_num_free(&f.d), "7 descriptors taken");
    T_EQ(2, vqd_in_flight(&f.d), "two chains in flight");
    T_EQ(0, rt_avail_flags(&f.e), "add touched avail flags");
    dfix_fini(&f);
}

RT_TC(drv_add_direct_single, "single-descriptor chains: readable has no flags, writable only WRITE");
ATF_TC_BODY(drv_add_direct_single, tc)
{
    struct dfix f;
    struct vq_seg s = {0, 0};
    uint16_t h;

    dfix_init(&f, 4, 0, false, false);
    s = seg(&f, 0x40, 7);
    h = add_ok(&f, &s, 1, 0, &tok[0], VQ_ADD_DIRECT);
    check_direct(&f, h, &s, 1, 0);
    h = add_ok(&f, &s, 0, 1, &tok[1], VQ_ADD_DIRECT);
    check_direct(&f, h, &s, 0, 1);
    h = add_ok(&f, &s, 1, 0, &tok[2], VQ_ADD_AUTO);
    check_direct(&f, h, &s, 1, 0);
    T_EQ(1, vqd_num_free(&f.d), "three descriptors taken");
    dfix_fini(&f);
}

RT_TC(drv_add_indirect, "an indirect chain: one INDIRECT descriptor and the table contents");
ATF_TC_BODY(drv_add_indirect, tc)
{
    struct dfix f;
    struct vq_seg s[6];
    uint16_t h1, h2;

    dfix_init(&f, 8, 6, false, true);
    for (unsigned i = 0; i < 6; i++)
        s[i] = seg(&f, 0x100ull * i, 11 + i);
    h1 = add_ok(&f, s, 2, 2, &tok[1], VQ_ADD_INDIRECT);
    check_indirect(&f, h1, s, 2, 2);
    T_EQ(7, vqd_num_free(&f.d), "an indirect chain takes one descriptor");
    h2 = add_ok(&f, s, 0, 6, &tok[2], VQ_ADD_INDIRECT);
    check_indirect(&f, h2, s, 0, 6);
    h2 = add_ok(&f, s, 6, 0, &tok[3], VQ_ADD_INDIRECT);
    check_indirect(&f, h2, s, 6, 0);
    h2 = add_ok(&f, s, 1, 0, &tok[4], VQ_ADD_INDIRECT);
    check_indirect(&f, h2, s, 1, 0);
    T_EQ(4, vqd_num_free(&f.d), "four indirect chains take four descriptors");
    T_EQ(4, vqd_in_flight(&f.d), "four chains in flight");
    dfix_fini(&f);
}

RT_TC(drv_add_auto, "VQ_ADD_AUTO is indirect only with the feature and more than one segment");
ATF_TC_BODY(drv_add_auto, tc)
{
    struct dfix f;
    struct vq_seg s[3];
    uint16_t h;

    dfix_init(&f, 8, 4, false, true);
    for (unsigned i = 0; i < 3; i++)
        s[i] = seg(&f, 0x100ull * i, 32);
    h = add_ok(&f, s, 1, 2, &tok[0], VQ_ADD_AUTO);
    check_indirect(&f, h, s, 1, 2);
    T_EQ(7, vqd_num_free(&f.d), "AUTO with indirect, 3 segments: one descriptor");
    h = add_ok(&f, s, 0, 1, &tok[1], VQ_ADD_AUTO);
    check_direct(&f, h, s, 0, 1);
    T_EQ(6, vqd_num_free(&f.d), "AUTO, 1 segment: direct");
    h = add_ok(&f, s, 1, 2, &tok[2], VQ_ADD_DIRECT);
    check_direct(&f, h, s, 1, 2);
    T_EQ(3, vqd_num_free(&f.d), "DIRECT with indirect available: 3 descriptors");
    dfix_fini(&f);

    dfix_init(&f, 8, 4, false, false);
    for (unsigned i = 0; i < 3; i++)
        s[i] = seg(&f, 0x100ull * i, 32);
    h = add_ok(&f, s, 1, 2, &tok[0], VQ_ADD_AUTO);
    check_direct(&f, h, s, 1, 2);
    T_EQ(5, vqd_num_free(&f.d), "AUTO without indirect: direct, 3 descriptors");
    dfix_fini(&f);
}

RT_TC(drv_add_indirect_unavailable, "VQ_ADD_INDIRECT without the feature (or too long) is RING_E_INVAL");
ATF_TC_BODY(drv_add_indirect_unavailable, tc)
{
    struct dfix f;
    struct vq_seg s[5];

    dfix_init(&f, 8, 4, false, false);
    for (unsigned i = 0; i < 5; i++)
        s[i] = seg(&f, 0x100ull * i, 32);
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 1, 1, &tok[0], VQ_ADD_INDIRECT), "indirect not configured");
    T_EQ(8, vqd_num_free(&f.d), "a rejected add took descriptors");
    T_EQ(0, vqd_in_flight(&f.d), "a rejected add is in flight");
    T_EQ(0, rt_avail_idx(&f.e), "a rejected add was published");
    dfix_fini(&f);

    dfix_init(&f, 8, 4, false, true);
    for (unsigned i = 0; i < 5; i++)
        s[i] = seg(&f, 0x100ull * i, 32);
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 2, 3, &tok[0], VQ_ADD_INDIRECT),
          "5 segments with indirect_max 4 would overrun the next head's table");
    T_EQ(8, vqd_num_free(&f.d), "a rejected add took descriptors");
    T_EQ(0, rt_avail_idx(&f.e), "a rejected add was published");
    dfix_fini(&f);
}

RT_TC(drv_add_invalid, "vqd_add rejects a NULL token and an empty chain");
ATF_TC_BODY(drv_add_invalid, tc)
{
    struct dfix f;
    struct vq_seg s[1];

    dfix_init(&f, 8, 0, false, false);
    s[0] = seg(&f, 0, 32);
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 1, 0, NULL, VQ_ADD_DIRECT), "NULL token");
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 0, 0, &tok[0], VQ_ADD_DIRECT), "no segments");
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 0, 0, &tok[0], VQ_ADD_AUTO), "no segments, AUTO");
    T_EQ(8, vqd_num_free(&f.d), "a rejected add took descriptors");
    T_EQ(0, vqd_in_flight(&f.d), "a rejected add is in flight");
    T_EQ(0, rt_avail_idx(&f.e), "a rejected add was published");
    dfix_fini(&f);
}

RT_TC(drv_add_longer_than_queue, "a chain of more than Q descriptors, even indirect, is refused (2.7.5.3.1)");
ATF_TC_BODY(drv_add_longer_than_queue, tc)
{
    struct dfix f;
    struct vq_seg s[6];

    /* "A driver MUST NOT create a descriptor chain longer than the Queue Size
     * of the device": the device half rejects such a chain with
     * RING_E_CHAIN_TOO_LONG, so the driver half must not publish one. */
    dfix_init(&f, 2, 6, false, true);
    for (unsigned i = 0; i < 6; i++)
        s[i] = seg(&f, 0x40ull * i, 16);
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 1, 2, &tok[0], VQ_ADD_DIRECT), "3 direct descriptors, Q=2");
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 1, 2, &tok[0], VQ_ADD_INDIRECT), "3 indirect entries, Q=2");
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 3, 3, &tok[0], VQ_ADD_AUTO), "6 entries with AUTO, Q=2");
    T_EQ(0, rt_avail_idx(&f.e), "a chain longer than the queue was published");
    T_EQ(2, vqd_num_free(&f.d), "a refused add took descriptors");
    /* Exactly Q entries is fine. */
    add_ok(&f, s, 1, 1, &tok[1], VQ_ADD_INDIRECT);
    check_indirect(&f, rt_avail_ring(&f.e, 0), s, 1, 1);
    dfix_fini(&f);
}

RT_TC(drv_add_chain_len, "a chain of 2^32 bytes or more is refused (2.7.5.2)");
ATF_TC_BODY(drv_add_chain_len, tc)
{
    struct dfix f;
    struct vq_seg s[3];

    /* "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes in
     * total": the device half rejects it with RING_E_CHAIN_LEN. */
    dfix_init(&f, 8, 4, false, true);
    s[0] = seg(&f, 0, 0x80000000u);
    s[1] = seg(&f, 0, 0x80000000u);
    s[2] = seg(&f, 0, 0xffffffffu);
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 1, 1, &tok[0], VQ_ADD_DIRECT), "2^31 + 2^31 direct");
    T_ERR(RING_E_INVAL, vqd_add(&f.d, s, 0, 2, &tok[0], VQ_ADD_INDIRECT), "2^31 + 2^31 indirect");
    T_ERR(RING_E_INVAL, vqd_add(&f.d, &s[1], 1, 1, &tok[0], VQ_ADD_AUTO), "2^31 + 2^32-1 auto");
    T_EQ(0, rt_avail_idx(&f.e), "an over-long chain was published");
    T_EQ(8, vqd_num_free(&f.d), "a refused add took descriptors");
    dfix_fini(&f);
}

RT_TC(drv_add_full, "RING_E_FULL when descriptors run out; nothing changes");
ATF_TC_BODY(drv_add_full, tc)
{
    struct dfix f;
    struct vq_seg s[3];

    dfix_init(&f, 8, 4, false, true);
    for (unsigned i = 0; i < 3; i++)
        s[i] = seg(&f, 0x100ull * i, 32);
    add_ok(&f, s, 1, 2, &tok[0], VQ_ADD_DIRECT);
    add_ok(&f, s, 2, 1, &tok[1], VQ_ADD_DIRECT);
    T_EQ(2, vqd_num_free(&f.d), "6 of 8 taken");
    T_ERR(RING_E_FULL, vqd_add(&f.d, s, 1, 2, &tok[2], VQ_ADD_DIRECT), "3 descriptors, 2 free");
    T_EQ(2, vqd_num_free(&f.d), "a rejected add changed num_free");
    T_EQ(2, vqd_in_flight(&f.d), "a rejected add is in flight");
    T_EQ(2, rt_avail_idx(&f.e), "a rejected add was published");
    add_ok(&f, s, 1, 1, &tok[3], VQ_ADD_DIRECT);
    T_EQ(0, vqd_num_free(&f.d), "all taken");
    T_ERR(RING_E_FULL, vqd_add(&f.d, s, 1, 0, &tok[4], VQ_ADD_DIRECT), "1 descriptor, none free");
    T_ERR(RING_E_FULL, vqd_add(&f.d, s, 1, 2, &tok[4], VQ_ADD_INDIRECT), "indirect, none free");
    T_ERR(RING_E_FULL, vqd_add(&f.d, s, 1, 2, &tok[4], VQ_ADD_AUTO), "auto, none free");
    T_EQ(0, vqd_num_free(&f.d), "rejected adds changed num_free");
    T_EQ(3, vqd_in_flight(&f.d), "rejected adds are in flight");
    T_EQ(3, rt_avail_idx(&f.e), "rejected adds were published");

    /* Completing a chain frees exactly its descriptors. */
    rt_hand_push(&f.e, rt_avail_ring(&f.e, 1), 0);
    get_used_ok(&f, &tok[1], 0, 32);
    T_EQ(3, vqd_num_free(&f.d), "completion of a 3-descriptor chain");
    add_ok(&f, s, 1, 2, &tok[5], VQ_ADD_DIRECT);
    T_EQ(0, vqd_num_free(&f.d), "refilled");
    dfix_fini(&f);
}

/* ---- kick ------------------------------------------------------------------------------- */

RT_TC(drv_kick_flags, "without EVENT_IDX, kick_prepare follows the used ring's NO_NOTIFY flag");
ATF_TC_BODY(drv_kick_flags, tc)
{
    struct dfix f;

    dfix_init(&f, 8, 0, false, false);
    add1(&f, &tok[0]);
    T_TRUE(vqd_kick_prepare(&f.d), "flags 0 after an add: the driver MUST notify");
    rt_set_used_flags(&f.e, VIRTQ_USED_F_NO_NOTIFY);
    add1(&f, &tok[1]);
    T_TRUE(!vqd_kick_prepare(&f.d), "NO_NOTIFY set: the device asked not to be kicked");
    add1(&f, &tok[2]);
    add1(&f, &tok[3]);
    T_TRUE(!vqd_kick_prepare(&f.d), "NO_NOTIFY set, two adds");
    rt_set_used_flags(&f.e, 0);
    add1(&f, &tok[4]);
    add1(&f, &tok[5]);
    T_TRUE(vqd_kick_prepare(&f.d), "NO_NOTIFY cleared again");
    /* avail_event is ignored without EVENT_IDX. */
    rt_set_avail_event(&f.e, 1000);
    add1(&f, &tok[6]);
    T_TRUE(vqd_kick_prepare(&f.d), "avail_event must be ignored without EVENT_IDX");
    dfix_fini(&f);
}

RT_TC(drv_kick_event_idx, "with EVENT_IDX, kick_prepare uses avail_event and ignores NO_NOTIFY");
ATF_TC_BODY(drv_kick_event_idx, tc)
{
    struct dfix f;

    dfix_init(&f, 8, 0, true, false);
    add1(&f, &tok[0]); /* idx 0 -> 1 */
    T_TRUE(vqd_kick_prepare(&f.d), "avail_event 0, index 0 written");
    rt_set_avail_event(&f.e, 5);
    add1(&f, &tok[1]); /* 1 -> 2 */
    T_TRUE(!vqd_kick_prepare(&f.d), "avail_event 5, index 1 written");
    add1(&f, &tok[2]);
    add1(&f, &tok[3]);
    add1(&f, &tok[4]); /* 2 -> 5 */
    T_TRUE(!vqd_kick_prepare(&f.d), "avail_event 5, indices 2..4 written");
    add1(&f, &tok[5]); /* 5 -> 6 */
    T_TRUE(vqd_kick_prepare(&f.d), "avail_event 5, index 5 written");
    T_TRUE(!vqd_kick_prepare(&f.d), "nothing added since the last kick decision");

    /* NO_NOTIFY is ignored with EVENT_IDX (2.7.10). */
    rt_set_used_flags(&f.e, VIRTQ_USED_F_NO_NOTIFY);
    rt_set_avail_event(&f.e, 6);
    add1(&f, &tok[6]); /* 6 -> 7 */
    T_TRUE(vqd_kick_prepare(&f.d), "avail_event 6 written: NO_NOTIFY must be ignored");
    rt_set_used_flags(&f.e, 0);
    rt_set_avail_event(&f.e, 100);
    add1(&f, &tok[7]); /* 7 -> 8 */
    T_TRUE(!vqd_kick_prepare(&f.d), "avail_event 100, flags 0: no kick");
    dfix_fini(&f);
}

RT_TC(drv_kick_event_idx_wrap, "EVENT_IDX kick decisions across avail idx 65535 -> 0");
ATF_TC_BODY(drv_kick_event_idx_wrap, tc)
{
    static const struct {
        uint16_t event;
        unsigned adds;
        bool kick;
    } step[] = {
        {65533, 2, false}, /* 65530, 65531 */
        {65532, 1, true},  /* 65532 */
        {0, 2, false},     /* 65533, 65534 */
        {1, 3, true},      /* 65535, 0, 1: a batch across the wrap */
        {65535, 1, false}, /* 2 */
        {3, 1, true},      /* 3 */
        {65535, 4, false}, /* 4..7 */
    };
    struct dfix f;

    dfix_init(&f, 4, 0, true, false);
    advance_to(&f, 65530);
    for (size_t i = 0; i < sizeof step / sizeof step[0]; i++) {
        uint16_t old = rt_avail_idx(&f.e);

        /* Complete everything so the adds fit. */
        while (vqd_in_flight(&f.d) > 0) {
            rt_hand_push(&f.e, rt_avail_ring(&f.e, (uint16_t)(old - vqd_in_flight(&f.d))), 0);
            get_used_ok(&f, &tok[0], 0, 64);
        }
        rt_set_avail_event(&f.e, step[i].event);
        for (unsigned k = 0; k < step[i].adds; k++)
            add1(&f, &tok[0]);
        T_EQ(step[i].kick, vqd_kick_prepare(&f.d), "step %zu: avail_event %u, idx %u -> %u", i,
             step[i].event, old, rt_avail_idx(&f.e));
        T_EQ(step[i].kick, vring_need_event(step[i].event, rt_avail_idx(&f.e), old),
             "test bug at step %zu", i);
    }
    dfix_fini(&f);
}

/* ---- get_used ---------------------------------------------------------------------------- */

RT_TC(drv_get_used, "get_used returns token, len as written and capacity, in used order");
ATF_TC_BODY(drv_get_used, tc)
{
    struct dfix f;
    struct vq_seg s[3];
    struct vq_used_entry u;
    uint16_t ha, hb, hc;

    dfix_init(&f, 8, 0, false, false);
    s[0] = seg(&f, 0, 16);
    s[1] = seg(&f, 0x100, 100);
    s[2] = seg(&f, 0x200, 28);
    ha = add_ok(&f, s, 1, 2, &tok[1], VQ_ADD_DIRECT);
    hb = add_ok(&f, &s[1], 0, 1, &tok[2], VQ_ADD_DIRECT);
    hc = add_ok(&f, s, 1, 0, &tok[3], VQ_ADD_DIRECT);
    T_EQ(3, vqd_in_flight(&f.d), "three chains");
    T_TRUE(!vqd_has_used(&f.d), "nothing used yet");
    T_EQ(0, vqd_get_used(&f.d, &u), "nothing used yet");

    /* Out of order: B, then A with a length beyond its capacity, then C. */
    rt_hand_push(&f.e, hb, 10);
    rt_hand_push(&f.e, ha, 200);
    T_TRUE(vqd_has_used(&f.d), "two used entries pending");
    T_EQ(3, vqd_num_free(&f.d), "A, B, C hold 5 of 8 descriptors");
    get_used_ok(&f, &tok[2], 10, 100);
    T_EQ(2, vqd_in_flight(&f.d), "B completed");
    T_EQ(4, vqd_num_free(&f.d), "B's descriptor freed");
    get_used_ok(&f, &tok[1], 200, 128);
    T_EQ(1, vqd_in_flight(&f.d), "A completed");
    T_EQ(7, vqd_num_free(&f.d), "A's three descriptors freed");
    T_TRUE(!vqd_has_used(&f.d), "all used entries consumed");
    T_EQ(0, vqd_get_used(&f.d, &u), "all used entries consumed");
    rt_hand_push(&f.e, hc, 0);
    get_used_ok(&f, &tok[3], 0, 0);
    T_EQ(8, vqd_num_free(&f.d), "everything free");
    T_EQ(0, vqd_in_flight(&f.d), "nothing in flight");
    T_EQ(3, vqd_used_idx(&f.d), "used idx");
    dfix_fini(&f);
}

RT_TC(drv_get_used_indirect, "get_used on an indirect chain: capacity is the writable table total");
ATF_TC_BODY(drv_get_used_indirect, tc)
{
    struct dfix f;
    struct vq_seg s[5];
    uint16_t h;

    dfix_init(&f, 8, 8, false, true);
    for (unsigned i = 0; i < 5; i++)
        s[i] = seg(&f, 0x100ull * i, 10 * (i + 1));
    h = add_ok(&f, s, 2, 3, &tok[9], VQ_ADD_INDIRECT);
    T_EQ(7, vqd_num_free(&f.d), "one descriptor taken");
    rt_hand_push(&f.e, h, 77);
    get_used_ok(&f, &tok[9], 77, 30 + 40 + 50);
    T_EQ(8, vqd_num_free(&f.d), "its descriptor freed");
    dfix_fini(&f);
}

/* After a hostile entry: nothing completed, and a good entry still works. */
static void check_survives(struct dfix *f, uint16_t head, void *token, uint32_t in_flight,
                           uint32_t num_free)
{
    T_EQ(in_flight, vqd_in_flight(&f->d), "a hostile used entry completed a chain");
    T_EQ(num_free, vqd_num_free(&f->d), "a hostile used entry freed descriptors");
    rt_hand_push(&f->e, head, 5);
    get_used_ok(f, token, 5, 64);
}

RT_TC(drv_used_id_range, "used id >= queue size (also 2^16 + head) is RING_E_USED_ID");
ATF_TC_BODY(drv_used_id_range, tc)
{
    struct dfix f;
    struct vq_used_entry u;
    uint16_t h;

    dfix_init(&f, 8, 0, false, false);
    h = add1(&f, &tok[1]);
    rt_hand_push(&f.e, 8, 1);
    T_ERR(RING_E_USED_ID, vqd_get_used(&f.d, &u), "id 8 in a queue of 8");
    rt_hand_push(&f.e, 0xffffffffu, 1);
    T_ERR(RING_E_USED_ID, vqd_get_used(&f.d, &u), "id 0xffffffff");
    rt_hand_push(&f.e, 0x10000u + h, 1);
    T_ERR(RING_E_USED_ID, vqd_get_used(&f.d, &u), "id 0x10000 + head %u must not alias head", h);
    check_survives(&f, h, &tok[1], 1, 7);
    dfix_fini(&f);
}

RT_TC(drv_used_id_free_desc, "a used id naming a free descriptor is RING_E_USED_ID");
ATF_TC_BODY(drv_used_id_free_desc, tc)
{
    struct dfix f;
    struct vq_used_entry u;
    uint16_t h;

    dfix_init(&f, 8, 0, false, false);
    h = add1(&f, &tok[1]);
    for (uint32_t id = 0; id < 8; id++) {
        if (id == h)
            continue;
        rt_hand_push(&f.e, id, 1);
        T_ERR(RING_E_USED_ID, vqd_get_used(&f.d, &u), "id %u is free (in flight: %u)", id, h);
    }
    check_survives(&f, h, &tok[1], 1, 7);
    dfix_fini(&f);
}

RT_TC(drv_used_id_not_head, "a used id naming a non-head descriptor of a chain is RING_E_USED_ID");
ATF_TC_BODY(drv_used_id_not_head, tc)
{
    struct dfix f;
    struct vq_used_entry u;
    struct vq_seg s[3];
    struct rt_desc d0, d1;
    uint16_t h, h1;

    dfix_init(&f, 8, 0, false, false);
    for (unsigned i = 0; i < 3; i++)
        s[i] = seg(&f, 0x100ull * i, 64);
    h = add_ok(&f, s, 1, 2, &tok[1], VQ_ADD_DIRECT);
    h1 = add1(&f, &tok[2]);
    d0 = rt_desc_get(&f.e, f.e.lay.desc, h);
    d1 = rt_desc_get(&f.e, f.e.lay.desc, d0.next);
    rt_hand_push(&f.e, d0.next, 1);
    T_ERR(RING_E_USED_ID, vqd_get_used(&f.d, &u), "id %u is the second descriptor of chain %u",
          d0.next, h);
    rt_hand_push(&f.e, d1.next, 1);
    T_ERR(RING_E_USED_ID, vqd_get_used(&f.d, &u), "id %u is the third descriptor of chain %u",
          d1.next, h);
    T_EQ(2, vqd_in_flight(&f.d), "hostile entries completed a chain");
    T_EQ(4, vqd_num_free(&f.d), "hostile entries freed descriptors");
    rt_hand_push(&f.e, h, 3);
    get_used_ok(&f, &tok[1], 3, 128);
    check_survives(&f, h1, &tok[2], 1, 7);
    dfix_fini(&f);
}

RT_TC(drv_used_id_twice, "a chain completed twice is RING_E_USED_ID the second time");
ATF_TC_BODY(drv_used_id_twice, tc)
{
    struct dfix f;
    struct vq_used_entry u;
    uint16_t ha, hb;

    dfix_init(&f, 8, 0, false, false);
    ha = add1(&f, &tok[1]);
    hb = add1(&f, &tok[2]);
    rt_hand_push(&f.e, ha, 1);
    get_used_ok(&f, &tok[1], 1, 64);
    rt_hand_push(&f.e, ha, 1);
    T_ERR(RING_E_USED_ID, vqd_get_used(&f.d, &u), "head %u was already completed", ha);
    T_EQ(7, vqd_num_free(&f.d), "a double completion freed descriptors again");
    check_survives(&f, hb, &tok[2], 1, 7);
    T_EQ(8, vqd_num_free(&f.d), "num_free exceeds the queue size");
    dfix_fini(&f);
}

RT_TC(drv_used_idx_jump, "used idx moving further than the chains in flight is RING_E_USED_IDX");
ATF_TC_BODY(drv_used_idx_jump, tc)
{
    struct dfix f;
    struct vq_used_entry u;
    uint16_t h;

    /* One in flight, two entries claimed. */
    dfix_init(&f, 8, 0, false, false);
    h = add1(&f, &tok[1]);
    rt_set_used_elem(&f.e, 0, h, 1);
    rt_set_used_elem(&f.e, 1, h, 1);
    rt_set_used_idx(&f.e, 2);
    T_ERR(RING_E_USED_IDX, vqd_get_used(&f.d, &u), "used idx 2 with one chain in flight");
    dfix_fini(&f);

    /* Two in flight, used idx "behind" (65535 ahead). */
    dfix_init(&f, 8, 0, false, false);
    h = add1(&f, &tok[1]);
    add1(&f, &tok[2]);
    rt_set_used_elem(&f.e, 7, h, 1);
    rt_set_used_idx(&f.e, 0xffff);
    T_ERR(RING_E_USED_IDX, vqd_get_used(&f.d, &u), "used idx 65535 with two chains in flight");
    T_EQ(2, vqd_in_flight(&f.d), "nothing may complete");
    dfix_fini(&f);

    /* Nothing in flight at all. */
    dfix_init(&f, 8, 0, false, false);
    rt_set_used_elem(&f.e, 0, 0, 1);
    rt_set_used_idx(&f.e, 1);
    T_ERR(RING_E_USED_IDX, vqd_get_used(&f.d, &u), "used idx 1 with nothing in flight");
    T_EQ(8, vqd_num_free(&f.d), "num_free changed");
    dfix_fini(&f);
}

/* ---- callbacks ------------------------------------------------------------------------------ */

RT_TC(drv_cb_flags, "without EVENT_IDX, disable/enable_cb set and clear NO_INTERRUPT");
ATF_TC_BODY(drv_cb_flags, tc)
{
    struct dfix f;

    dfix_init(&f, 8, 0, false, false);
    T_EQ(0, rt_avail_flags(&f.e) & VIRTQ_AVAIL_F_NO_INTERRUPT, "interrupts start enabled");
    vqd_disable_cb(&f.d);
    T_EQ(VIRTQ_AVAIL_F_NO_INTERRUPT, rt_avail_flags(&f.e), "disable_cb");
    add1(&f, &tok[0]);
    T_EQ(VIRTQ_AVAIL_F_NO_INTERRUPT, rt_avail_flags(&f.e), "an add changed the flags");
    T_TRUE(vqd_enable_cb(&f.d), "enable_cb with nothing used pending");
    T_EQ(0, rt_avail_flags(&f.e), "enable_cb");
    vqd_disable_cb(&f.d);
    T_EQ(VIRTQ_AVAIL_F_NO_INTERRUPT, rt_avail_flags(&f.e), "disable_cb again");
    T_TRUE(vqd_enable_cb_delayed(&f.d), "enable_cb_delayed with nothing used pending");
    T_EQ(0, rt_avail_flags(&f.e), "enable_cb_delayed without EVENT_IDX clears NO_INTERRUPT");
    dfix_fini(&f);
}

RT_TC(drv_enable_cb_pending, "enable_cb returns false while used entries are pending");
ATF_TC_BODY(drv_enable_cb_pending, tc)
{
    for (int ev = 0; ev <= 1; ev++) {
        struct dfix f;
        uint16_t h[4];

        dfix_init(&f, 8, 0, ev, false);
        for (int i = 0; i < 4; i++)
            h[i] = add1(&f, &tok[i]);
        rt_hand_push(&f.e, h[0], 1);
        vqd_disable_cb(&f.d);
        T_TRUE(!vqd_enable_cb(&f.d), "event_idx=%d: a used entry is pending", ev);
        get_used_ok(&f, &tok[0], 1, 64);
        vqd_disable_cb(&f.d);
        T_TRUE(vqd_enable_cb(&f.d), "event_idx=%d: nothing pending any more", ev);
        if (ev)
            T_EQ(1, rt_used_event(&f.e), "enable_cb must ask for the next entry");
        /* All three remaining complete: more than 3/4 of what is in flight. */
        rt_hand_push(&f.e, h[1], 1);
        rt_hand_push(&f.e, h[2], 1);
        rt_hand_push(&f.e, h[3], 1);
        vqd_disable_cb(&f.d);
        T_TRUE(!vqd_enable_cb_delayed(&f.d), "event_idx=%d: all in flight already used", ev);
        dfix_fini(&f);
    }
}

RT_TC(drv_cb_event_idx, "with EVENT_IDX, enable_cb writes used_event = the next used index");
ATF_TC_BODY(drv_cb_event_idx, tc)
{
    struct dfix f;
    uint16_t h[5];

    dfix_init(&f, 8, 0, true, false);
    for (int i = 0; i < 5; i++)
        h[i] = add1(&f, &tok[i]);
    for (int i = 0; i < 3; i++) {
        rt_hand_push(&f.e, h[i], 1);
        get_used_ok(&f, &tok[i], 1, 64);
    }
    vqd_disable_cb(&f.d);
    T_TRUE(vqd_enable_cb(&f.d), "nothing pending");
    T_EQ(3, rt_used_event(&f.e), "used_event after consuming 3 entries");
    rt_hand_push(&f.e, h[3], 1);
    get_used_ok(&f, &tok[3], 1, 64);
    T_TRUE(vqd_enable_cb(&f.d), "nothing pending");
    T_EQ(4, rt_used_event(&f.e), "used_event after consuming 4 entries");
    dfix_fini(&f);
}

RT_TC(drv_enable_cb_delayed, "with EVENT_IDX, enable_cb_delayed asks for ~3/4 of the chains in flight");
ATF_TC_BODY(drv_enable_cb_delayed, tc)
{
    struct dfix f;
    uint16_t h[21];
    uint16_t ue;

    dfix_init(&f, 32, 0, true, false);
    for (int i = 0; i < 21; i++)
        h[i] = add1(&f, &tok[i]);
    for (int i = 0; i < 5; i++) {
        rt_hand_push(&f.e, h[i], 1);
        get_used_ok(&f, &tok[i], 1, 64);
    }
    vqd_disable_cb(&f.d);
    T_TRUE(vqd_enable_cb_delayed(&f.d), "nothing pending");
    ue = rt_used_event(&f.e);
    T_TRUE((uint16_t)(ue - 5) >= 11 && (uint16_t)(ue - 5) <= 13,
           "16 in flight after 5 used: used_event %u should be about 5 + 12", ue);
    dfix_fini(&f);
}

/* ---- reset ------------------------------------------------------------------------------- */

struct detach_log {
    void *tok[64];
    unsigned n;
};

static void detach_cb(void *token, void *ctx)
{
    struct detach_log *l = ctx;

    T_TRUE(l->n < 64, "detach called too often");
    l->tok[l->n++] = token;
}

RT_TC(drv_reset, "reset detaches every chain in flight once, in head order, and the queue works after");
ATF_TC_BODY(drv_reset, tc)
{
    struct dfix f;
    struct detach_log log;
    struct vq_seg s[3];
    uint16_t head_of[6];
    void *want[6];
    unsigned nwant = 0;

    memset(&log, 0, sizeof log);
    dfix_init(&f, 8, 4, false, true);
    for (unsigned i = 0; i < 3; i++)
        s[i] = seg(&f, 0x100ull * i, 64);
    head_of[0] = add1(&f, &tok[0]);                                  /* A */
    head_of[1] = add1(&f, &tok[1]);                                  /* B */
    head_of[2] = add1(&f, &tok[2]);                                  /* C */
    rt_hand_push(&f.e, head_of[1], 1);
    get_used_ok(&f, &tok[1], 1, 64);                                 /* B done */
    head_of[3] = add_ok(&f, s, 1, 2, &tok[3], VQ_ADD_DIRECT);        /* D */
    head_of[4] = add_ok(&f, s, 2, 1, &tok[4], VQ_ADD_INDIRECT);      /* E */
    rt_hand_push(&f.e, head_of[2], 1);                               /* C used, not consumed */
    T_EQ(4, vqd_in_flight(&f.d), "A, C, D, E in flight");

    /* Expected: the in-flight tokens sorted by head. */
    for (uint32_t h = 0; h < 8; h++)
        for (unsigned t = 0; t < 5; t++)
            if (t != 1 && head_of[t] == h)
                want[nwant++] = &tok[t];
    T_EQ(4, nwant, "test bug: heads not distinct");

    vqd_reset(&f.d, detach_cb, &log);
    T_EQ(4, log.n, "detach must be called once per chain in flight");
    for (unsigned i = 0; i < 4; i++)
        T_TRUE(log.tok[i] == want[i], "detach #%u got token %p, expected %p (head order)", i,
               log.tok[i], want[i]);
    T_EQ(8, vqd_num_free(&f.d), "reset frees every descriptor");
    T_EQ(0, vqd_in_flight(&f.d), "reset leaves nothing in flight");
    T_EQ(0, rt_avail_idx(&f.e), "reset returns avail idx to 0");
    T_EQ(0, rt_avail_flags(&f.e), "reset clears avail flags");

    /* The device side is re-initialized too; the queue works again. */
    rt_zero_used(&f.e);
    for (unsigned round = 0; round < 20; round++) {
        uint16_t ha = add_ok(&f, s, 1, 2, &tok[10], VQ_ADD_DIRECT);
        uint16_t hb = add_ok(&f, s, 1, 2, &tok[11], VQ_ADD_INDIRECT);
        rt_hand_push(&f.e, hb, 9);
        rt_hand_push(&f.e, ha, 8);
        get_used_ok(&f, &tok[11], 9, 128);
        get_used_ok(&f, &tok[10], 8, 128);
    }
    T_EQ(8, vqd_num_free(&f.d), "after reuse");

    /* A second reset with nothing in flight detaches nothing. */
    log.n = 0;
    vqd_reset(&f.d, detach_cb, &log);
    T_EQ(0, log.n, "nothing in flight, nothing detached");
    dfix_fini(&f);
}

/* ---- free list --------------------------------------------------------------------------- */

RT_TC(drv_free_list_random, "random adds and out-of-order completions never share a descriptor");
ATF_TC_BODY(drv_free_list_random, tc)
{
    static const uint64_t seeds[] = {7, 8, 9};

    for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
        enum { Q = 16 };
        struct dfix f;
        struct rt_prng p;
        int owner[Q];             /* token index owning each descriptor, -1 free */
        int head_tok[Q];          /* token index whose chain starts at a head, -1 */
        unsigned ndesc[64];
        uint32_t cap[64];
        bool busy[64] = {false};
        uint32_t free_model = Q;

        rt_prng_seed(&p, seeds[si]);
        dfix_init(&f, Q, 0, false, false);
        for (int i = 0; i < Q; i++)
            owner[i] = head_tok[i] = -1;
        for (unsigned it = 0; it < 5000; it++) {
            if (rt_prng_chance(&p, 55)) {
                struct vq_seg s[4];
                unsigned n = rt_prng_range(&p, 1, 4), n_out = rt_prng_below(&p, n + 1);
                int t = -1;
                for (int k = 0; k < 64; k++)
                    if (!busy[k]) {
                        t = k;
                        break;
                    }
                T_TRUE(t >= 0, "test bug: out of tokens");
                cap[t] = 0;
                for (unsigned i = 0; i < n; i++) {
                    s[i] = seg(&f, 0x40ull * i, rt_prng_range(&p, 1, 64));
                    if (i >= n_out)
                        cap[t] += s[i].len;
                }
                if (n > free_model) {
                    T_ERR(RING_E_FULL, vqd_add(&f.d, s, n_out, n - n_out, &tok[t], VQ_ADD_DIRECT),
                          "seed %llu it %u: %u descriptors, %u free", (unsigned long long)seeds[si],
                          it, n, free_model);
                } else {
                    uint16_t h = add_ok(&f, s, n_out, n - n_out, &tok[t], VQ_ADD_DIRECT);
                    uint32_t idx = h;
                    check_direct(&f, h, s, n_out, n - n_out);
                    for (unsigned i = 0; i < n; i++) {
                        T_TRUE(owner[idx] == -1,
                               "seed %llu it %u: descriptor %u given to token %d while token %d holds it",
                               (unsigned long long)seeds[si], it, idx, t, owner[idx]);
                        owner[idx] = t;
                        idx = rt_desc_get(&f.e, f.e.lay.desc, idx).next;
                    }
                    head_tok[h] = t;
                    busy[t] = true;
                    ndesc[t] = n;
                    free_model -= n;
                }
            } else {
                /* Complete a random chain in flight, out of order. */
                uint32_t live = 0, pick;
                for (int h = 0; h < Q; h++)
                    live += head_tok[h] >= 0;
                if (live == 0)
                    continue;
                pick = rt_prng_below(&p, live);
                for (int h = 0; h < Q; h++) {
                    if (head_tok[h] < 0 || pick-- != 0)
                        continue;
                    int t = head_tok[h];
                    rt_hand_push(&f.e, (uint32_t)h, cap[t]);
                    get_used_ok(&f, &tok[t], cap[t], cap[t]);
                    for (int i = 0; i < Q; i++)
                        if (owner[i] == t)
                            owner[i] = -1;
                    head_tok[h] = -1;
                    busy[t] = false;
                    free_model += ndesc[t];
                    break;
                }
            }
            T_EQ(free_model, vqd_num_free(&f.d), "seed %llu it %u: num_free",
                 (unsigned long long)seeds[si], it);
        }
        dfix_fini(&f);
    }
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, drv_init_bad_size);
    ATF_TP_ADD_TC(tp, drv_init_misaligned);
    ATF_TP_ADD_TC(tp, drv_init_outside);
    ATF_TP_ADD_TC(tp, drv_init_state);
    ATF_TP_ADD_TC(tp, drv_add_direct);
    ATF_TP_ADD_TC(tp, drv_add_direct_single);
    ATF_TP_ADD_TC(tp, drv_add_indirect);
    ATF_TP_ADD_TC(tp, drv_add_auto);
    ATF_TP_ADD_TC(tp, drv_add_indirect_unavailable);
    ATF_TP_ADD_TC(tp, drv_add_invalid);
    ATF_TP_ADD_TC(tp, drv_add_longer_than_queue);
    ATF_TP_ADD_TC(tp, drv_add_chain_len);
    ATF_TP_ADD_TC(tp, drv_add_full);
    ATF_TP_ADD_TC(tp, drv_kick_flags);
    ATF_TP_ADD_TC(tp, drv_kick_event_idx);
    ATF_TP_ADD_TC(tp, drv_kick_event_idx_wrap);
    ATF_TP_ADD_TC(tp, drv_get_used);
    ATF_TP_ADD_TC(tp, drv_get_used_indirect);
    ATF_TP_ADD_TC(tp, drv_used_id_range);
    ATF_TP_ADD_TC(tp, drv_used_id_free_desc);
    ATF_TP_ADD_TC(tp, drv_used_id_not_head);
    ATF_TP_ADD_TC(tp, drv_used_id_twice);
    ATF_TP_ADD_TC(tp, drv_used_idx_jump);
    ATF_TP_ADD_TC(tp, drv_cb_flags);
    ATF_TP_ADD_TC(tp, drv_enable_cb_pending);
    ATF_TP_ADD_TC(tp, drv_cb_event_idx);
    ATF_TP_ADD_TC(tp, drv_enable_cb_delayed);
    ATF_TP_ADD_TC(tp, drv_reset);
    ATF_TP_ADD_TC(tp, drv_free_list_random);
    return atf_no_error();
}
