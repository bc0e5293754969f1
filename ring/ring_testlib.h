/*
 * Shared helpers for the ring/ tests: requirement macros that print values,
 * a seeded PRNG, guarded host buffers, a standard guest-memory environment
 * with one queue, and raw little-endian accessors for every ring field so a
 * test can play the other side of the queue by hand (or be hostile).
 *
 * The raw accessors compute host pointers from the test's own buffer, never
 * through gmem_translate, so they do not depend on the code under test.
 */
#ifndef VSOCKSIM_RING_TESTLIB_H
#define VSOCKSIM_RING_TESTLIB_H

#include <atf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring/ring.h"

/* ---- messages and requirements ------------------------------------------- */

/* printf into a static buffer (one message at a time). */
const char *rt_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The enum name of a ring error code ("RING_E_FULL"), or "<n>" if unknown. */
const char *rt_errname(int err);

/* Integer equality; prints both values in decimal and hex. */
#define T_EQ(expected, actual, ...)                                                      \
    do {                                                                                 \
        unsigned long long rt_e_ = (unsigned long long)(expected);                       \
        unsigned long long rt_a_ = (unsigned long long)(actual);                         \
        if (rt_e_ != rt_a_)                                                              \
            atf_tc_fail_requirement(__FILE__, __LINE__,                                  \
                                    "%s: expected %s == %lld (%#llx), got %lld (%#llx)", \
                                    rt_fmt(__VA_ARGS__), #actual, (long long)rt_e_,      \
                                    rt_e_, (long long)rt_a_, rt_a_);                     \
    } while (0)

/* Ring error-code equality; prints the code names. */
#define T_ERR(expected, actual, ...)                                                     \
    do {                                                                                 \
        int rt_e_ = (int)(expected);                                                     \
        int rt_a_ = (int)(actual);                                                       \
        if (rt_e_ != rt_a_)                                                              \
            atf_tc_fail_requirement(__FILE__, __LINE__, "%s: expected %s == %s, got %s", \
                                    rt_fmt(__VA_ARGS__), #actual, rt_errname(rt_e_),     \
                                    rt_errname(rt_a_));                                  \
    } while (0)

/* A condition with a formatted explanation of what went wrong. */
#define T_TRUE(cond, ...)                                                                \
    do {                                                                                 \
        if (!(cond))                                                                     \
            atf_tc_fail_requirement(__FILE__, __LINE__, "%s: %s", #cond,                 \
                                    rt_fmt(__VA_ARGS__));                                \
    } while (0)

/* ATF test case with a description. */
#define RT_TC(name, descr)                                                               \
    ATF_TC(name);                                                                        \
    ATF_TC_HEAD(name, tc) { atf_tc_set_md_var(tc, "descr", descr); }


/* ---- PRNG (xoshiro256**, seeded by splitmix64) ---------------------------- */

struct rt_prng {
    uint64_t s[4];
    uint64_t seed;
};

void rt_prng_seed(struct rt_prng *p, uint64_t seed);
uint64_t rt_prng_next(struct rt_prng *p);
/* Uniform in [0, n); n > 0. */
uint32_t rt_prng_below(struct rt_prng *p, uint32_t n);
/* Uniform in [lo, hi]. */
uint32_t rt_prng_range(struct rt_prng *p, uint32_t lo, uint32_t hi);
/* True with probability percent/100. */
bool rt_prng_chance(struct rt_prng *p, unsigned percent);

/* ---- little endian --------------------------------------------------------- */

uint16_t rt_le16(const void *p);
uint32_t rt_le32(const void *p);
uint64_t rt_le64(const void *p);
void rt_put_le16(void *p, uint16_t v);
void rt_put_le32(void *p, uint32_t v);
void rt_put_le64(void *p, uint64_t v);

/* FNV-1a over a byte range: to prove memory did not change. */
uint64_t rt_hash(const void *p, size_t len);

/* ---- guarded host buffers ------------------------------------------------------ */

#define RT_GUARD 64u

/* size usable bytes at p, zeroed, with RT_GUARD pattern bytes on each side. */
struct rt_buf {
    uint8_t *raw;
    uint8_t *p;
    size_t size;
};

void rt_buf_alloc(struct rt_buf *b, size_t size);
/* Fails the test if a guard byte changed. */
void rt_buf_check_guards(const struct rt_buf *b, const char *what);
void rt_buf_free(struct rt_buf *b);

/* ---- the standard environment ---------------------------------------------------- */

#define RT_RAM_GPA 0x100000ull

/*
 * One guest region at RT_RAM_GPA holding, in order: the queue (contiguous
 * virtio 1.x layout, used aligned to 4), the indirect tables (num * ind_max
 * entries, 16-aligned; none when ind_max is 0), then data_size bytes of data
 * area (64-aligned).
 */
struct rt_env {
    struct gmem mem;
    struct rt_buf ram;
    uint64_t ram_gpa;
    struct vring_layout lay;
    uint64_t ring_bytes;
    uint64_t ind_gpa;
    uint32_t ind_max;
    uint64_t data_gpa;
    uint64_t data_size;
};

void rt_env_init(struct rt_env *e, uint32_t num, uint32_t ind_max, uint64_t data_size);
/* Checks the guard bytes, then frees. */
void rt_env_fini(struct rt_env *e);
struct vq_driver_cfg rt_drv_cfg(const struct rt_env *e, bool event_idx, bool indirect);
struct vq_device_cfg rt_dev_cfg(const struct rt_env *e, bool event_idx, bool indirect);

/* Host pointer for [gpa, gpa+len) inside the environment's RAM (fails the
 * test otherwise). */
uint8_t *rt_host(const struct rt_env *e, uint64_t gpa, uint64_t len);
/* GPA of byte off of the data area. */
uint64_t rt_data(const struct rt_env *e, uint64_t off);

/* ---- raw ring fields ---------------------------------------------------------------- */

struct rt_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

void rt_desc_put(const struct rt_env *e, uint64_t table_gpa, uint32_t i, uint64_t addr,
                 uint32_t len, uint16_t flags, uint16_t next);
struct rt_desc rt_desc_get(const struct rt_env *e, uint64_t table_gpa, uint32_t i);

uint16_t rt_avail_flags(const struct rt_env *e);
uint16_t rt_avail_idx(const struct rt_env *e);
uint16_t rt_avail_ring(const struct rt_env *e, uint32_t slot); /* slot taken mod Q */
uint16_t rt_used_event(const struct rt_env *e);
void rt_set_avail_flags(const struct rt_env *e, uint16_t v);
void rt_set_avail_idx(const struct rt_env *e, uint16_t v);
void rt_set_avail_ring(const struct rt_env *e, uint32_t slot, uint16_t head);
void rt_set_used_event(const struct rt_env *e, uint16_t v);

uint16_t rt_used_flags(const struct rt_env *e);
uint16_t rt_used_idx(const struct rt_env *e);
void rt_used_elem(const struct rt_env *e, uint32_t slot, uint32_t *id, uint32_t *len);
uint16_t rt_avail_event(const struct rt_env *e);
void rt_set_used_flags(const struct rt_env *e, uint16_t v);
void rt_set_used_idx(const struct rt_env *e, uint16_t v);
void rt_set_used_elem(const struct rt_env *e, uint32_t slot, uint32_t id, uint32_t len);
void rt_set_avail_event(const struct rt_env *e, uint16_t v);

/* Playing the driver by hand: put head in the next avail slot, bump idx. */
void rt_hand_offer(const struct rt_env *e, uint16_t head);
/* Playing the device by hand: write {id, len} at the next used slot, bump idx. */
void rt_hand_push(const struct rt_env *e, uint32_t id, uint32_t len);

/* Zero the whole used ring (what a driver does when it re-initializes a queue
 * after a reset). */
void rt_zero_used(const struct rt_env *e);

#endif
