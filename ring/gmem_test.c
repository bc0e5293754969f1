/*
 * Guest memory (gmem_*), the split-ring layout helpers and vring_need_event,
 * and ring_strerror.
 */
#include <stdlib.h>
#include <string.h>

#include "ring/ring_testlib.h"


#define G0 0x10000ull /* a region [G0, G0 + 0x10000) used by several cases */

/* Fills b with a recognisable pattern derived from salt. */
static void fill_pattern(uint8_t *b, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 7 + salt * 13 + 1);
}

/* ---- gmem_add_region ------------------------------------------------------------ */

RT_TC(gmem_init_empty, "a fresh map has no regions and translates nothing");
ATF_TC_BODY(gmem_init_empty, tc)
{
    struct gmem m;
    uint8_t dst[4] = {0};

    memset(&m, 0xff, sizeof m);
    gmem_init(&m);
    T_EQ(0, m.nregions, "gmem_init must leave no regions");
    T_TRUE(gmem_translate(&m, 0, 0) == NULL, "an empty map translated GPA 0");
    T_TRUE(gmem_translate(&m, 0x1000, 4) == NULL, "an empty map translated GPA 0x1000");
    T_ERR(RING_E_GPA_RANGE, gmem_read(&m, 0x1000, dst, sizeof dst), "read from an empty map");
    T_ERR(RING_E_GPA_RANGE, gmem_write(&m, 0x1000, dst, sizeof dst), "write to an empty map");
}

RT_TC(gmem_add_size_zero, "a region of size 0 is RING_E_INVAL and not added");
ATF_TC_BODY(gmem_add_size_zero, tc)
{
    struct gmem m;
    static uint8_t buf[16];

    gmem_init(&m);
    T_ERR(RING_E_INVAL, gmem_add_region(&m, G0, 0, buf), "size 0");
    T_EQ(0, m.nregions, "a rejected region was added");
    T_TRUE(gmem_translate(&m, G0, 0) == NULL, "a rejected empty region translates");
}

RT_TC(gmem_add_null, "a region with a NULL host pointer is RING_E_INVAL and not added");
ATF_TC_BODY(gmem_add_null, tc)
{
    struct gmem m;

    gmem_init(&m);
    T_ERR(RING_E_INVAL, gmem_add_region(&m, G0, 0x1000, NULL), "NULL hva");
    T_EQ(0, m.nregions, "a rejected region was added");
    T_TRUE(gmem_translate(&m, G0, 1) == NULL, "a rejected region translates");
}

RT_TC(gmem_add_wrap, "a region wrapping past 2^64 is RING_E_INVAL");
ATF_TC_BODY(gmem_add_wrap, tc)
{
    struct gmem m;
    static uint8_t buf[64];

    gmem_init(&m);
    T_ERR(RING_E_INVAL, gmem_add_region(&m, UINT64_MAX - 15, 32, buf),
          "[2^64-16, +32) wraps past 2^64");
    T_ERR(RING_E_INVAL, gmem_add_region(&m, UINT64_MAX, 2, buf), "[2^64-1, +2) wraps");
    T_ERR(RING_E_INVAL, gmem_add_region(&m, 2, UINT64_MAX, buf), "[2, +2^64-1) wraps");
    T_ERR(RING_E_INVAL, gmem_add_region(&m, UINT64_MAX, UINT64_MAX, buf),
          "[2^64-1, +2^64-1) wraps");
    T_EQ(0, m.nregions, "a wrapping region was added");
    /* A wrapped region must not make low addresses translate. */
    T_TRUE(gmem_translate(&m, 0, 1) == NULL, "GPA 0 translates after wrapping adds");
    T_TRUE(gmem_translate(&m, 5, 1) == NULL, "GPA 5 translates after wrapping adds");
}

RT_TC(gmem_add_overlap, "every kind of overlap is RING_E_REGION_OVERLAP; touching is fine");
ATF_TC_BODY(gmem_add_overlap, tc)
{
    static const struct {
        uint64_t gpa, size;
        const char *what;
    } bad[] = {
        {G0, 0x10000, "identical"},
        {G0 + 0x100, 0x100, "strictly inside"},
        {G0, 1, "first byte only"},
        {G0 + 0xffff, 1, "last byte only"},
        {G0 - 0x100, 0x10100, "covering, ending at the same byte"},
        {G0, 0x20000, "covering, starting at the same byte"},
        {G0 - 0x1000, 0x12000, "strictly covering"},
        {G0 - 0x1000, 0x1001, "overlapping the start by one byte"},
        {G0 + 0xffff, 0x1000, "overlapping the end by one byte"},
        {G0 - 0x800, 0x1000, "overlapping the start"},
        {G0 + 0xf800, 0x1000, "overlapping the end"},
        {0, 0x100000, "covering the region and its neighbours"},
        {G0 + 0x10800, 0x10, "inside the second region"},
        {G0 + 0xfff0, 0x20, "straddling the first and second regions"},
        {G0 - 0x1010, 0x20, "overlapping the start of the third region"},
    };
    struct gmem m;
    static uint8_t a[0x10000], b[0x1000], c[0x1000], d[0x10];

    gmem_init(&m);
    T_ERR(RING_OK, gmem_add_region(&m, G0, 0x10000, a), "first region");
    T_ERR(RING_OK, gmem_add_region(&m, G0 + 0x10000, 0x1000, b),
          "a region touching the end of another is not an overlap");
    T_ERR(RING_OK, gmem_add_region(&m, G0 - 0x1000, 0x1000, c),
          "a region touching the start of another is not an overlap");
    T_EQ(3, m.nregions, "three regions");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        T_ERR(RING_E_REGION_OVERLAP, gmem_add_region(&m, bad[i].gpa, bad[i].size, d),
              "case %zu: [%#llx, +%#llx) %s", i, (unsigned long long)bad[i].gpa,
              (unsigned long long)bad[i].size, bad[i].what);
        T_EQ(3, m.nregions, "case %zu (%s) changed the region count", i, bad[i].what);
    }
    /* The original mappings are untouched. */
    T_TRUE(gmem_translate(&m, G0 + 0x100, 1) == a + 0x100, "first region moved");
    T_TRUE(gmem_translate(&m, G0 + 0x10000, 1) == b, "second region moved");
    T_TRUE(gmem_translate(&m, G0 - 0x1000, 1) == c, "third region moved");
}

RT_TC(gmem_add_full, "the ninth region is RING_E_REGION_FULL and the eight still work");
ATF_TC_BODY(gmem_add_full, tc)
{
    struct gmem m;
    static uint8_t buf[GMEM_MAX_REGIONS + 1][256];

    gmem_init(&m);
    for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++)
        T_ERR(RING_OK, gmem_add_region(&m, 0x1000ull * (i + 1), 256, buf[i]), "region %u", i);
    T_EQ(GMEM_MAX_REGIONS, m.nregions, "all regions present");
    T_ERR(RING_E_REGION_FULL, gmem_add_region(&m, 0x100000, 256, buf[GMEM_MAX_REGIONS]),
          "region %u of %u", GMEM_MAX_REGIONS + 1, GMEM_MAX_REGIONS);
    T_EQ(GMEM_MAX_REGIONS, m.nregions, "a region beyond the limit was counted");
    T_TRUE(gmem_translate(&m, 0x100000, 1) == NULL, "the rejected region translates");
    for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++)
        T_TRUE(gmem_translate(&m, 0x1000ull * (i + 1) + 255, 1) == &buf[i][255],
               "region %u translates wrongly after the rejected add", i);
}

RT_TC(gmem_sorted, "regions are kept sorted by GPA whatever the insertion order");
ATF_TC_BODY(gmem_sorted, tc)
{
    static const unsigned orders[][GMEM_MAX_REGIONS] = {
        {0, 1, 2, 3, 4, 5, 6, 7},
        {7, 6, 5, 4, 3, 2, 1, 0},
        {3, 7, 0, 5, 1, 6, 2, 4},
        {4, 0, 6, 2, 7, 3, 5, 1},
    };
    /* Host buffers deliberately in the opposite address order. */
    static uint8_t buf[GMEM_MAX_REGIONS][128];

    for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
        struct gmem m;

        gmem_init(&m);
        for (unsigned k = 0; k < GMEM_MAX_REGIONS; k++) {
            unsigned i = orders[o][k];
            T_ERR(RING_OK,
                  gmem_add_region(&m, 0x10000ull * (i + 1), 64 + i,
                                  buf[GMEM_MAX_REGIONS - 1 - i]),
                  "order %zu, region %u", o, i);
        }
        T_EQ(GMEM_MAX_REGIONS, m.nregions, "order %zu", o);
        for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++) {
            T_EQ(0x10000ull * (i + 1), m.region[i].gpa, "order %zu: region[%u] out of order", o, i);
            T_EQ(64 + i, m.region[i].size, "order %zu: region[%u] size", o, i);
            T_TRUE(m.region[i].hva == buf[GMEM_MAX_REGIONS - 1 - i],
                   "order %zu: region[%u] has the wrong host pointer", o, i);
            T_TRUE(gmem_translate(&m, 0x10000ull * (i + 1) + 63 + i, 1) ==
                       &buf[GMEM_MAX_REGIONS - 1 - i][63 + i],
                   "order %zu: last byte of region %u", o, i);
        }
    }
}

/* ---- translate / read / write ------------------------------------------------- */

RT_TC(gmem_translate_bounds, "translate inside, at the end, len 0, and just outside a region");
ATF_TC_BODY(gmem_translate_bounds, tc)
{
    struct gmem m;
    struct rt_buf b;
    const uint64_t end = G0 + 0x1000;

    rt_buf_alloc(&b, 0x1000);
    gmem_init(&m);
    T_ERR(RING_OK, gmem_add_region(&m, G0, 0x1000, b.p), "region");

    T_TRUE(gmem_translate(&m, G0, 1) == b.p, "first byte");
    T_TRUE(gmem_translate(&m, G0, 0x1000) == b.p, "the whole region");
    T_TRUE(gmem_translate(&m, G0 + 0x123, 0x10) == b.p + 0x123, "inside");
    T_TRUE(gmem_translate(&m, end - 8, 8) == b.p + 0x1000 - 8, "ending exactly at the end");
    T_TRUE(gmem_translate(&m, end - 1, 1) == b.p + 0xfff, "the last byte");
    T_TRUE(gmem_translate(&m, G0 + 5, 0) == b.p + 5, "len 0 inside");
    T_TRUE(gmem_translate(&m, G0, 0) == b.p, "len 0 at the start");
    T_TRUE(gmem_translate(&m, end, 0) == b.p + 0x1000, "len 0 exactly at the end");

    T_TRUE(gmem_translate(&m, end, 1) == NULL, "one byte at the end");
    T_TRUE(gmem_translate(&m, end - 8, 9) == NULL, "one byte past the end");
    T_TRUE(gmem_translate(&m, G0, 0x1001) == NULL, "longer than the region");
    T_TRUE(gmem_translate(&m, G0 - 1, 1) == NULL, "the byte before");
    T_TRUE(gmem_translate(&m, G0 - 1, 2) == NULL, "straddling the start");
    T_TRUE(gmem_translate(&m, G0 - 1, 0) == NULL, "len 0 just before the start");
    T_TRUE(gmem_translate(&m, end + 1, 0) == NULL, "len 0 just after the end");
    T_TRUE(gmem_translate(&m, 0, 1) == NULL, "GPA 0");
    T_TRUE(gmem_translate(&m, G0 + 0x10, UINT64_MAX) == NULL, "length wrapping past 2^64");
    T_TRUE(gmem_translate(&m, G0 + 0x10, UINT64_MAX - 0xf) == NULL,
           "length ending exactly at 2^64");
    T_TRUE(gmem_translate(&m, UINT64_MAX, 2) == NULL, "GPA 2^64-1, len 2");
    T_TRUE(gmem_translate(&m, UINT64_MAX, 0) == NULL, "GPA 2^64-1, len 0");
    rt_buf_free(&b);
}

RT_TC(gmem_translate_adjacent, "ranges straddling two adjacent regions fail even when host-contiguous");
ATF_TC_BODY(gmem_translate_adjacent, tc)
{
    struct gmem m;
    struct rt_buf b;
    uint8_t src[32], dst[32], before[0x2000];

    /* One host buffer split into two regions: contiguous in GPA and in the host. */
    rt_buf_alloc(&b, 0x2000);
    fill_pattern(b.p, 0x2000, 3);
    memcpy(before, b.p, sizeof before);
    gmem_init(&m);
    T_ERR(RING_OK, gmem_add_region(&m, G0 + 0x1000, 0x1000, b.p + 0x1000), "upper half");
    T_ERR(RING_OK, gmem_add_region(&m, G0, 0x1000, b.p), "lower half");

    T_TRUE(gmem_translate(&m, G0 + 0xff0, 0x10) == b.p + 0xff0, "ending at the boundary");
    T_TRUE(gmem_translate(&m, G0 + 0x1000, 0x10) == b.p + 0x1000, "starting at the boundary");
    T_TRUE(gmem_translate(&m, G0 + 0x1000, 0) == b.p + 0x1000, "len 0 at the boundary");
    T_TRUE(gmem_translate(&m, G0 + 0xff0, 0x20) == NULL, "straddling the boundary");
    T_TRUE(gmem_translate(&m, G0 + 0xfff, 2) == NULL, "two bytes across the boundary");
    T_TRUE(gmem_translate(&m, G0, 0x2000) == NULL, "both regions whole");

    memset(dst, 0x5a, sizeof dst);
    T_ERR(RING_E_GPA_RANGE, gmem_read(&m, G0 + 0xff0, dst, sizeof dst), "read across");
    fill_pattern(src, sizeof src, 9);
    T_ERR(RING_E_GPA_RANGE, gmem_write(&m, G0 + 0xff0, src, sizeof src), "write across");
    T_TRUE(memcmp(before, b.p, sizeof before) == 0,
           "a rejected write across the boundary changed guest memory");

    T_ERR(RING_OK, gmem_read(&m, G0 + 0xff0, dst, 16), "read up to the boundary");
    T_TRUE(memcmp(dst, b.p + 0xff0, 16) == 0, "read up to the boundary returned wrong bytes");
    T_ERR(RING_OK, gmem_read(&m, G0 + 0x1000, dst, 16), "read from the boundary");
    T_TRUE(memcmp(dst, b.p + 0x1000, 16) == 0, "read from the boundary returned wrong bytes");
    rt_buf_free(&b);
}

RT_TC(gmem_translate_gap, "GPAs in a gap between regions do not translate; lookups find the right region");
ATF_TC_BODY(gmem_translate_gap, tc)
{
    struct gmem m;
    struct rt_buf lo, hi;

    rt_buf_alloc(&lo, 0x100);
    rt_buf_alloc(&hi, 0x100);
    gmem_init(&m);
    T_ERR(RING_OK, gmem_add_region(&m, G0 + 0x1000, 0x100, hi.p), "high");
    T_ERR(RING_OK, gmem_add_region(&m, G0, 0x100, lo.p), "low");
    T_TRUE(gmem_translate(&m, G0 + 0x100, 0) == lo.p + 0x100, "len 0 at the low end");
    T_TRUE(gmem_translate(&m, G0 + 0x100, 1) == NULL, "first gap byte");
    T_TRUE(gmem_translate(&m, G0 + 0x800, 0) == NULL, "len 0 inside the gap");
    T_TRUE(gmem_translate(&m, G0 + 0xfff, 1) == NULL, "last gap byte");
    T_TRUE(gmem_translate(&m, G0 + 0xf0, 0x1000) == NULL, "spanning the gap");
    T_TRUE(gmem_translate(&m, G0 + 0x1000, 1) == hi.p, "high region start");
    T_TRUE(gmem_translate(&m, G0 + 0x10ff, 1) == hi.p + 0xff, "high region last byte");
    T_TRUE(gmem_translate(&m, G0 + 0xff, 1) == lo.p + 0xff, "low region last byte");
    rt_buf_free(&lo);
    rt_buf_free(&hi);
}

RT_TC(gmem_read_write, "read and write copy exactly the requested bytes and no others");
ATF_TC_BODY(gmem_read_write, tc)
{
    struct gmem m;
    struct rt_buf b, dst;
    uint8_t src[100];

    rt_buf_alloc(&b, 0x400);
    rt_buf_alloc(&dst, 100);
    gmem_init(&m);
    T_ERR(RING_OK, gmem_add_region(&m, G0, 0x400, b.p), "region");

    fill_pattern(src, sizeof src, 1);
    T_ERR(RING_OK, gmem_write(&m, G0 + 0x10, src, sizeof src), "write inside");
    T_TRUE(memcmp(b.p + 0x10, src, sizeof src) == 0, "write did not land at hva + 0x10");
    for (size_t i = 0; i < 0x10; i++)
        T_EQ(0, b.p[i], "write touched byte %zu before its range", i);
    for (size_t i = 0x10 + sizeof src; i < 0x400; i++)
        T_EQ(0, b.p[i], "write touched byte %zu after its range", i);

    T_ERR(RING_OK, gmem_read(&m, G0 + 0x10, dst.p, 100), "read inside");
    T_TRUE(memcmp(dst.p, src, 100) == 0, "read back differs from what was written");

    /* Exactly at the end of the region, into a guarded buffer. */
    fill_pattern(b.p, 0x400, 4);
    T_ERR(RING_OK, gmem_read(&m, G0 + 0x400 - 100, dst.p, 100), "read ending at the end");
    T_TRUE(memcmp(dst.p, b.p + 0x400 - 100, 100) == 0, "read at the end returned wrong bytes");
    T_ERR(RING_OK, gmem_write(&m, G0 + 0x400 - 100, src, 100), "write ending at the end");
    T_TRUE(memcmp(b.p + 0x400 - 100, src, 100) == 0, "write at the end");

    /* len 0 inside and at the end: success, nothing copied. */
    memset(dst.p, 0x77, 100);
    T_ERR(RING_OK, gmem_read(&m, G0 + 0x400, dst.p, 0), "len 0 read at the end");
    T_ERR(RING_OK, gmem_read(&m, G0 + 3, dst.p, 0), "len 0 read inside");
    for (size_t i = 0; i < 100; i++)
        T_EQ(0x77, dst.p[i], "a len-0 read wrote destination byte %zu", i);
    T_ERR(RING_OK, gmem_write(&m, G0 + 0x400, src, 0), "len 0 write at the end");

    /* Just outside: errors, guest memory unchanged. */
    {
        uint64_t h = rt_hash(b.p, 0x400);
        T_ERR(RING_E_GPA_RANGE, gmem_read(&m, G0 + 0x400 - 99, dst.p, 100), "read one past");
        T_ERR(RING_E_GPA_RANGE, gmem_write(&m, G0 + 0x400 - 99, src, 100), "write one past");
        T_ERR(RING_E_GPA_RANGE, gmem_write(&m, G0 - 1, src, 2), "write straddling the start");
        T_ERR(RING_E_GPA_RANGE, gmem_write(&m, G0 + 0x1000, src, 1), "write far outside");
        T_ERR(RING_E_GPA_RANGE, gmem_read(&m, G0 + 0x1000, dst.p, 1), "read far outside");
        T_ERR(RING_E_GPA_RANGE, gmem_read(&m, G0 + 0x401, dst.p, 0), "len 0 read outside");
        T_EQ(h, rt_hash(b.p, 0x400), "a rejected write changed guest memory");
    }
    rt_buf_free(&dst);
    rt_buf_free(&b);
}

/* Reference lookup for the randomized case. */
struct ref_region {
    uint64_t gpa, size;
    uint8_t *hva;
};

/* The host pointer for [gpa, gpa+len), or NULL. *alt gets a second valid
 * answer for len 0 exactly between two touching regions (end of one, start of
 * the next), where either is right. */
static void *ref_translate(const struct ref_region *r, unsigned n, uint64_t gpa, uint64_t len,
                           void **alt)
{
    void *found = NULL;

    *alt = NULL;
    for (unsigned i = 0; i < n; i++) {
        if (gpa >= r[i].gpa && gpa - r[i].gpa <= r[i].size && len <= r[i].size - (gpa - r[i].gpa)) {
            void *p = r[i].hva + (gpa - r[i].gpa);
            if (found == NULL)
                found = p;
            else
                *alt = p;
        }
    }
    return found;
}

RT_TC(gmem_random_lookup, "random translate/read/write against a reference map of 8 regions");
ATF_TC_BODY(gmem_random_lookup, tc)
{
    static const uint64_t seeds[] = {1, 0xdeadbeef, 42};

    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        struct rt_prng p;
        struct gmem m;
        struct ref_region ref[GMEM_MAX_REGIONS];
        struct rt_buf buf[GMEM_MAX_REGIONS];
        uint8_t tmp[300];
        uint64_t gpa = 0x1000;

        rt_prng_seed(&p, seeds[s]);
        gmem_init(&m);
        for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++) {
            uint64_t size = rt_prng_range(&p, 1, 512);
            /* Some regions touch the previous one, others leave a gap. */
            if (rt_prng_chance(&p, 50))
                gpa += rt_prng_range(&p, 1, 600);
            rt_buf_alloc(&buf[i], size);
            fill_pattern(buf[i].p, size, i);
            ref[i].gpa = gpa;
            ref[i].size = size;
            ref[i].hva = buf[i].p;
            gpa += size;
        }
        /* Insert in a shuffled order. */
        {
            unsigned order[GMEM_MAX_REGIONS];
            for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++)
                order[i] = i;
            for (unsigned i = GMEM_MAX_REGIONS - 1; i > 0; i--) {
                unsigned j = rt_prng_below(&p, i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++)
                T_ERR(RING_OK,
                      gmem_add_region(&m, ref[order[i]].gpa, ref[order[i]].size, ref[order[i]].hva),
                      "seed %llu region %u", (unsigned long long)seeds[s], order[i]);
        }
        for (unsigned it = 0; it < 20000; it++) {
            uint64_t g = 0x1000 - 16 + rt_prng_below(&p, (uint32_t)(gpa - 0x1000 + 32));
            uint64_t len = rt_prng_below(&p, 8) == 0 ? 0 : rt_prng_range(&p, 1, 300);
            void *alt;
            void *want = ref_translate(ref, GMEM_MAX_REGIONS, g, len, &alt);
            void *got = gmem_translate(&m, g, len);
            int rc;

            T_TRUE(want == got || (alt != NULL && alt == got), "seed %llu iteration %u: translate(%#llx, %llu) = %p, want %p",
                   (unsigned long long)seeds[s], it, (unsigned long long)g,
                   (unsigned long long)len, got, want);
            memset(tmp, 0xee, sizeof tmp);
            rc = gmem_read(&m, g, tmp, (size_t)len);
            T_ERR(want ? RING_OK : RING_E_GPA_RANGE, rc, "seed %llu iteration %u: read(%#llx, %llu)",
                  (unsigned long long)seeds[s], it, (unsigned long long)g, (unsigned long long)len);
            if (want != NULL)
                T_TRUE(memcmp(tmp, want, (size_t)len) == 0, "seed %llu iteration %u: read data",
                       (unsigned long long)seeds[s], it);
            if (rt_prng_chance(&p, 10)) {
                uint8_t src[300];
                fill_pattern(src, sizeof src, it);
                rc = gmem_write(&m, g, src, (size_t)len);
                T_ERR(want ? RING_OK : RING_E_GPA_RANGE, rc, "seed %llu iteration %u: write",
                      (unsigned long long)seeds[s], it);
                if (want != NULL)
                    T_TRUE(memcmp(want, src, (size_t)len) == 0, "seed %llu iteration %u: written data",
                           (unsigned long long)seeds[s], it);
            }
        }
        for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++)
            rt_buf_free(&buf[i]); /* checks the guards */
    }
}

RT_TC(ring_strerror_codes, "every error code has its own non-empty description");
ATF_TC_BODY(ring_strerror_codes, tc)
{
    const char *s[32];
    int n = 0;

    for (int err = RING_OK; err >= RING_E_NOT_READY; err--, n++) {
        s[n] = ring_strerror(err);
        T_TRUE(s[n] != NULL && s[n][0] != '\0', "ring_strerror(%s) is empty", rt_errname(err));
        for (int j = 0; j < n; j++)
            T_TRUE(strcmp(s[j], s[n]) != 0, "%s and %s share the description \"%s\"",
                   rt_errname(-j), rt_errname(err), s[n]);
    }
    T_TRUE(ring_strerror(-1000) != NULL, "unknown code gives NULL");
    T_TRUE(ring_strerror(5) != NULL, "positive unknown code gives NULL");
}

/* ---- layout -------------------------------------------------------------------------- */

RT_TC(vring_size_valid_values, "queue sizes: powers of two in 1..32768 only");
ATF_TC_BODY(vring_size_valid_values, tc)
{
    static const struct {
        uint32_t num;
        bool ok;
    } c[] = {
        {0, false}, {1, true}, {2, true}, {3, false}, {4, true}, {6, false},
        {256, true}, {257, false}, {16384, true}, {32767, false}, {32768, true},
        {32769, false}, {65535, false}, {65536, false}, {1u << 31, false}, {UINT32_MAX, false},
    };

    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        T_EQ(c[i].ok, vring_size_valid(c[i].num), "vring_size_valid(%u)", c[i].num);
}

static uint64_t up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

RT_TC(vring_layout_v1, "contiguous layout with used aligned to 4, every queue size");
ATF_TC_BODY(vring_layout_v1, tc)
{
    struct vring_layout l;
    const uint64_t base = 0x7000;

    for (uint32_t q = 1; q <= VIRTQ_MAX_SIZE; q *= 2) {
        uint64_t total;
        memset(&l, 0xff, sizeof l);
        total = vring_layout_contiguous(&l, q, base, 4);
        T_EQ(16ull * q, vring_desc_bytes(q), "desc bytes, Q=%u", q);
        T_EQ(6ull + 2ull * q, vring_avail_bytes(q), "avail bytes, Q=%u", q);
        T_EQ(6ull + 8ull * q, vring_used_bytes(q), "used bytes, Q=%u", q);
        T_EQ(q, l.num, "num, Q=%u", q);
        T_EQ(base, l.desc, "desc, Q=%u", q);
        T_EQ(base + 16ull * q, l.avail, "avail follows the table, Q=%u", q);
        T_EQ(up(base + 16ull * q + 6 + 2ull * q, 4), l.used, "used, Q=%u", q);
        T_EQ(0, l.used % 4, "used misaligned, Q=%u", q);
        T_EQ(l.used + 6 + 8ull * q - base, total, "total bytes, Q=%u", q);
    }
    /* A few by hand. */
    T_EQ(38, vring_layout_contiguous(&l, 1, 0, 4), "Q=1: 16 + 6+2 = 24, used 14");
    T_EQ(24, l.used, "Q=1 used");
    T_EQ(66, vring_layout_contiguous(&l, 2, 0, 4), "Q=2: 32 + 10 -> 44, used 22");
    T_EQ(44, l.used, "Q=2 used (42 rounded up to 44)");
    T_EQ(6670, vring_layout_contiguous(&l, 256, 0, 4), "Q=256");
    T_EQ(4616, l.used, "Q=256 used");
}

RT_TC(vring_layout_legacy, "contiguous layout with used aligned to 4096 (legacy)");
ATF_TC_BODY(vring_layout_legacy, tc)
{
    struct vring_layout l;
    const uint64_t base = 0x200000;

    for (uint32_t q = 1; q <= VIRTQ_MAX_SIZE; q *= 2) {
        uint64_t total = vring_layout_contiguous(&l, q, base, 4096);
        T_EQ(base, l.desc, "desc, Q=%u", q);
        T_EQ(base + 16ull * q, l.avail, "avail, Q=%u", q);
        T_EQ(up(base + 18ull * q + 6, 4096), l.used, "used, Q=%u", q);
        T_EQ(l.used + 6 + 8ull * q - base, total, "total, Q=%u", q);
    }
    /* Linux vring_size(256, 4096) without its trailing round-up: 8192 + 2054. */
    T_EQ(10246, vring_layout_contiguous(&l, 256, 0, 4096), "Q=256 legacy total");
    T_EQ(8192, l.used, "Q=256 legacy used");
    T_EQ(4110, vring_layout_contiguous(&l, 1, 0x1000, 4096) , "Q=1 legacy total");
    T_EQ(0x2000, l.used, "Q=1 legacy used");
}

RT_TC(vring_layout_bad, "vring_layout_contiguous returns 0 on bad size, base or alignment");
ATF_TC_BODY(vring_layout_bad, tc)
{
    struct vring_layout l;

    T_EQ(0, vring_layout_contiguous(&l, 0, 0x1000, 4), "Q=0");
    T_EQ(0, vring_layout_contiguous(&l, 3, 0x1000, 4), "Q=3");
    T_EQ(0, vring_layout_contiguous(&l, 32769, 0x1000, 4), "Q=32769");
    T_EQ(0, vring_layout_contiguous(&l, 65536, 0x1000, 4), "Q=65536");
    T_EQ(0, vring_layout_contiguous(&l, 8, 0x1008, 4), "base 8 bytes off 16-alignment");
    T_EQ(0, vring_layout_contiguous(&l, 8, 0x1001, 4), "odd base");
    T_EQ(0, vring_layout_contiguous(&l, 8, 0x1000, 0), "used_align 0");
    T_EQ(0, vring_layout_contiguous(&l, 8, 0x1000, 3), "used_align 3");
    T_TRUE(vring_layout_contiguous(&l, 8, 0x1000, 4) != 0, "the same queue with good arguments");
}

RT_TC(vring_layout_wrap, "a layout that would wrap past 2^64 is rejected");
ATF_TC_BODY(vring_layout_wrap, tc)
{
    struct vring_layout l;

    T_EQ(0, vring_layout_contiguous(&l, 256, UINT64_MAX - 0xf, 4), "base 2^64-16, Q=256");
    T_EQ(0, vring_layout_contiguous(&l, 1, UINT64_MAX - 0xf, 4), "base 2^64-16, Q=1");
    T_EQ(0, vring_layout_contiguous(&l, 1, UINT64_MAX - 0xfff, 4096), "base 2^64-4096, legacy");
}

/* ---- vring_need_event ------------------------------------------------------------------ */

/* Reference: was event written by one of the indices old, old+1, ..., new-1? */
static bool ref_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    for (uint16_t i = old; i != new_idx; i++)
        if (i == event)
            return true;
    return false;
}

RT_TC(vring_need_event_cases, "vring_need_event on hand-picked cases, including 65535 -> 0");
ATF_TC_BODY(vring_need_event_cases, tc)
{
    static const struct {
        uint16_t event, new_idx, old;
        bool want;
    } c[] = {
        {5, 6, 5, true},          /* exactly the event index written */
        {5, 7, 6, false},         /* already past */
        {5, 5, 0, false},         /* not reached: 0..4 written */
        {5, 6, 0, true},          /* batch covering it */
        {0, 1, 0, true},
        {0, 0, 0, false},         /* nothing written */
        {7, 7, 7, false},
        {65535, 0, 65535, true},  /* wrap: index 65535 written */
        {65535, 65535, 65534, false},
        {0, 1, 65535, true},      /* 65535 and 0 written */
        {0, 0, 65534, false},     /* 65534 and 65535 written */
        {65534, 3, 65535, false}, /* 65535, 0, 1, 2 written */
        {1, 3, 65533, true},
        {65533, 3, 65533, true},
        {3, 3, 65533, false},
        {100, 65535, 0, true},    /* almost the whole space written */
    };

    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        T_EQ(c[i].want, vring_need_event(c[i].event, c[i].new_idx, c[i].old),
             "case %zu: event %u new %u old %u", i, c[i].event, c[i].new_idx, c[i].old);
}

RT_TC(vring_need_event_reference, "vring_need_event agrees with a brute-force reference near 0 and 65535");
ATF_TC_BODY(vring_need_event_reference, tc)
{
    static const uint16_t olds[] = {0, 1, 100, 32767, 32768, 65400, 65530, 65535};

    for (size_t o = 0; o < sizeof olds / sizeof olds[0]; o++)
        for (unsigned d = 0; d < 200; d++)
            for (int de = -20; de < 220; de++) {
                uint16_t old = olds[o], new_idx = (uint16_t)(old + d);
                uint16_t ev = (uint16_t)(old + de);
                T_EQ(ref_need_event(ev, new_idx, old), vring_need_event(ev, new_idx, old),
                     "event %u new %u old %u", ev, new_idx, old);
            }
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, gmem_init_empty);
    ATF_TP_ADD_TC(tp, gmem_add_size_zero);
    ATF_TP_ADD_TC(tp, gmem_add_null);
    ATF_TP_ADD_TC(tp, gmem_add_wrap);
    ATF_TP_ADD_TC(tp, gmem_add_overlap);
    ATF_TP_ADD_TC(tp, gmem_add_full);
    ATF_TP_ADD_TC(tp, gmem_sorted);
    ATF_TP_ADD_TC(tp, gmem_translate_bounds);
    ATF_TP_ADD_TC(tp, gmem_translate_adjacent);
    ATF_TP_ADD_TC(tp, gmem_translate_gap);
    ATF_TP_ADD_TC(tp, gmem_read_write);
    ATF_TP_ADD_TC(tp, gmem_random_lookup);
    ATF_TP_ADD_TC(tp, ring_strerror_codes);
    ATF_TP_ADD_TC(tp, vring_size_valid_values);
    ATF_TP_ADD_TC(tp, vring_layout_v1);
    ATF_TP_ADD_TC(tp, vring_layout_legacy);
    ATF_TP_ADD_TC(tp, vring_layout_bad);
    ATF_TP_ADD_TC(tp, vring_layout_wrap);
    ATF_TP_ADD_TC(tp, vring_need_event_cases);
    ATF_TP_ADD_TC(tp, vring_need_event_reference);
    return atf_no_error();
}
