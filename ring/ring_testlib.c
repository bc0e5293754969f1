/* Shared helpers for the ring/ tests; see ring_testlib.h. */
#include "ring/ring_testlib.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ---------------------------------------------------------------- */

const char *rt_fmt(const char *fmt, ...)
{
    static char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

const char *rt_errname(int err)
{
    static char unknown[32];

    switch (err) {
    case RING_OK: return "RING_OK";
    case RING_E_INVAL: return "RING_E_INVAL";
    case RING_E_NOMEM: return "RING_E_NOMEM";
    case RING_E_GPA_RANGE: return "RING_E_GPA_RANGE";
    case RING_E_REGION_OVERLAP: return "RING_E_REGION_OVERLAP";
    case RING_E_REGION_FULL: return "RING_E_REGION_FULL";
    case RING_E_QUEUE_SIZE: return "RING_E_QUEUE_SIZE";
    case RING_E_ALIGN: return "RING_E_ALIGN";
    case RING_E_FULL: return "RING_E_FULL";
    case RING_E_AVAIL_IDX: return "RING_E_AVAIL_IDX";
    case RING_E_HEAD_RANGE: return "RING_E_HEAD_RANGE";
    case RING_E_NEXT_RANGE: return "RING_E_NEXT_RANGE";
    case RING_E_CHAIN_LOOP: return "RING_E_CHAIN_LOOP";
    case RING_E_CHAIN_TOO_LONG: return "RING_E_CHAIN_TOO_LONG";
    case RING_E_INDIRECT_FEATURE: return "RING_E_INDIRECT_FEATURE";
    case RING_E_INDIRECT_NESTED: return "RING_E_INDIRECT_NESTED";
    case RING_E_INDIRECT_NEXT: return "RING_E_INDIRECT_NEXT";
    case RING_E_INDIRECT_LEN: return "RING_E_INDIRECT_LEN";
    case RING_E_WRITE_ORDER: return "RING_E_WRITE_ORDER";
    case RING_E_DESC_RANGE: return "RING_E_DESC_RANGE";
    case RING_E_CHAIN_LEN: return "RING_E_CHAIN_LEN";
    case RING_E_USED_ID: return "RING_E_USED_ID";
    case RING_E_USED_IDX: return "RING_E_USED_IDX";
    case RING_E_USED_OVERFLOW: return "RING_E_USED_OVERFLOW";
    case RING_E_NOT_READY: return "RING_E_NOT_READY";
    default:
        snprintf(unknown, sizeof unknown, "<%d>", err);
        return unknown;
    }
}

/* ---- PRNG --------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rt_prng_seed(struct rt_prng *p, uint64_t seed)
{
    uint64_t x = seed;

    p->seed = seed;
    for (int i = 0; i < 4; i++)
        p->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rt_prng_next(struct rt_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t rt_prng_below(struct rt_prng *p, uint32_t n)
{
    ATF_REQUIRE_MSG(n > 0, "rt_prng_below(0)");
    return (uint32_t)(((rt_prng_next(p) >> 32) * (uint64_t)n) >> 32);
}

uint32_t rt_prng_range(struct rt_prng *p, uint32_t lo, uint32_t hi)
{
    ATF_REQUIRE_MSG(lo <= hi, "rt_prng_range(%u, %u)", lo, hi);
    if (hi - lo == UINT32_MAX)
        return (uint32_t)rt_prng_next(p);
    return lo + rt_prng_below(p, hi - lo + 1);
}

bool rt_prng_chance(struct rt_prng *p, unsigned percent) { return rt_prng_below(p, 100) < percent; }

/* ---- little endian ------------------------------------------------------------------- */

uint16_t rt_le16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (b[1] << 8));
}

uint32_t rt_le32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}

uint64_t rt_le64(const void *p)
{
    const uint8_t *b = p;
    return (uint64_t)rt_le32(b) | ((uint64_t)rt_le32(b + 4) << 32);
}

void rt_put_le16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

void rt_put_le32(void *p, uint32_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

void rt_put_le64(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

uint64_t rt_hash(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- guarded buffers ------------------------------------------------------------------- */

static uint8_t guard_byte(size_t i) { return (uint8_t)(0xa5 ^ (i * 37)); }

void rt_buf_alloc(struct rt_buf *b, size_t size)
{
    b->raw = malloc(size + 2 * RT_GUARD);
    ATF_REQUIRE_MSG(b->raw != NULL, "malloc(%zu) failed", size + 2 * RT_GUARD);
    b->p = b->raw + RT_GUARD;
    b->size = size;
    memset(b->p, 0, size);
    for (size_t i = 0; i < RT_GUARD; i++) {
        b->raw[i] = guard_byte(i);
        b->p[size + i] = guard_byte(i + RT_GUARD);
    }
}

void rt_buf_check_guards(const struct rt_buf *b, const char *what)
{
    for (size_t i = 0; i < RT_GUARD; i++) {
        T_EQ(guard_byte(i), b->raw[i], "%s: guard byte %zu before the buffer was overwritten",
             what, RT_GUARD - i);
        T_EQ(guard_byte(i + RT_GUARD), b->p[b->size + i],
             "%s: guard byte %zu after the buffer was overwritten", what, i);
    }
}

void rt_buf_free(struct rt_buf *b)
{
    if (b->raw == NULL)
        return;
    rt_buf_check_guards(b, "buffer");
    free(b->raw);
    b->raw = b->p = NULL;
    b->size = 0;
}

/* ---- environment ------------------------------------------------------------------------ */

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

void rt_env_init(struct rt_env *e, uint32_t num, uint32_t ind_max, uint64_t data_size)
{
    uint64_t end;

    memset(e, 0, sizeof *e);
    e->ram_gpa = RT_RAM_GPA;
    /* Computed here, independently of vring_layout_contiguous. */
    e->lay.num = num;
    e->lay.desc = e->ram_gpa;
    e->lay.avail = e->lay.desc + 16ull * num;
    e->lay.used = align_up(e->lay.avail + 6ull + 2ull * num, 4);
    e->ring_bytes = e->lay.used + 6ull + 8ull * num - e->ram_gpa;
    e->ind_max = ind_max;
    e->ind_gpa = align_up(e->ram_gpa + e->ring_bytes, 16);
    end = e->ind_gpa + 16ull * num * ind_max;
    e->data_gpa = align_up(end, 64);
    e->data_size = data_size;
    end = e->data_gpa + data_size;

    rt_buf_alloc(&e->ram, (size_t)(end - e->ram_gpa));
    gmem_init(&e->mem);
    T_ERR(RING_OK, gmem_add_region(&e->mem, e->ram_gpa, e->ram.size, e->ram.p),
          "registering the test RAM at %#llx (%zu bytes)", (unsigned long long)e->ram_gpa,
          e->ram.size);
}

void rt_env_fini(struct rt_env *e)
{
    rt_buf_check_guards(&e->ram, "guest RAM");
    rt_buf_free(&e->ram);
}

struct vq_driver_cfg rt_drv_cfg(const struct rt_env *e, bool event_idx, bool indirect)
{
    struct vq_driver_cfg c;

    memset(&c, 0, sizeof c);
    c.layout = e->lay;
    c.event_idx = event_idx;
    c.indirect = indirect;
    c.indirect_gpa = e->ind_gpa;
    c.indirect_max = e->ind_max;
    return c;
}

struct vq_device_cfg rt_dev_cfg(const struct rt_env *e, bool event_idx, bool indirect)
{
    struct vq_device_cfg c;

    memset(&c, 0, sizeof c);
    c.layout = e->lay;
    c.event_idx = event_idx;
    c.indirect = indirect;
    return c;
}

uint8_t *rt_host(const struct rt_env *e, uint64_t gpa, uint64_t len)
{
    T_TRUE(gpa >= e->ram_gpa && len <= e->ram.size && gpa - e->ram_gpa <= e->ram.size - len,
           "test bug: [%#llx, +%llu) is not inside the test RAM", (unsigned long long)gpa,
           (unsigned long long)len);
    return e->ram.p + (gpa - e->ram_gpa);
}

uint64_t rt_data(const struct rt_env *e, uint64_t off)
{
    T_TRUE(off <= e->data_size, "test bug: data offset %llu past %llu", (unsigned long long)off,
           (unsigned long long)e->data_size);
    return e->data_gpa + off;
}

/* ---- raw ring fields ------------------------------------------------------------------------ */

void rt_desc_put(const struct rt_env *e, uint64_t table_gpa, uint32_t i, uint64_t addr,
                 uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = rt_host(e, table_gpa + 16ull * i, 16);

    rt_put_le64(d, addr);
    rt_put_le32(d + 8, len);
    rt_put_le16(d + 12, flags);
    rt_put_le16(d + 14, next);
}

struct rt_desc rt_desc_get(const struct rt_env *e, uint64_t table_gpa, uint32_t i)
{
    const uint8_t *d = rt_host(e, table_gpa + 16ull * i, 16);
    struct rt_desc r;

    r.addr = rt_le64(d);
    r.len = rt_le32(d + 8);
    r.flags = rt_le16(d + 12);
    r.next = rt_le16(d + 14);
    return r;
}

static uint8_t *avail_at(const struct rt_env *e, uint64_t off)
{
    return rt_host(e, e->lay.avail + off, 2);
}

static uint8_t *used_at(const struct rt_env *e, uint64_t off, uint64_t len)
{
    return rt_host(e, e->lay.used + off, len);
}

uint16_t rt_avail_flags(const struct rt_env *e) { return rt_le16(avail_at(e, 0)); }
uint16_t rt_avail_idx(const struct rt_env *e) { return rt_le16(avail_at(e, 2)); }
uint16_t rt_avail_ring(const struct rt_env *e, uint32_t slot)
{
    return rt_le16(avail_at(e, 4 + 2ull * (slot % e->lay.num)));
}
uint16_t rt_used_event(const struct rt_env *e) { return rt_le16(avail_at(e, 4 + 2ull * e->lay.num)); }
void rt_set_avail_flags(const struct rt_env *e, uint16_t v) { rt_put_le16(avail_at(e, 0), v); }
void rt_set_avail_idx(const struct rt_env *e, uint16_t v) { rt_put_le16(avail_at(e, 2), v); }
void rt_set_avail_ring(const struct rt_env *e, uint32_t slot, uint16_t head)
{
    rt_put_le16(avail_at(e, 4 + 2ull * (slot % e->lay.num)), head);
}
void rt_set_used_event(const struct rt_env *e, uint16_t v)
{
    rt_put_le16(avail_at(e, 4 + 2ull * e->lay.num), v);
}

uint16_t rt_used_flags(const struct rt_env *e) { return rt_le16(used_at(e, 0, 2)); }
uint16_t rt_used_idx(const struct rt_env *e) { return rt_le16(used_at(e, 2, 2)); }
void rt_used_elem(const struct rt_env *e, uint32_t slot, uint32_t *id, uint32_t *len)
{
    const uint8_t *p = used_at(e, 4 + 8ull * (slot % e->lay.num), 8);

    *id = rt_le32(p);
    *len = rt_le32(p + 4);
}
uint16_t rt_avail_event(const struct rt_env *e) { return rt_le16(used_at(e, 4 + 8ull * e->lay.num, 2)); }
void rt_set_used_flags(const struct rt_env *e, uint16_t v) { rt_put_le16(used_at(e, 0, 2), v); }
void rt_set_used_idx(const struct rt_env *e, uint16_t v) { rt_put_le16(used_at(e, 2, 2), v); }
void rt_set_used_elem(const struct rt_env *e, uint32_t slot, uint32_t id, uint32_t len)
{
    uint8_t *p = used_at(e, 4 + 8ull * (slot % e->lay.num), 8);

    rt_put_le32(p, id);
    rt_put_le32(p + 4, len);
}
void rt_set_avail_event(const struct rt_env *e, uint16_t v)
{
    rt_put_le16(used_at(e, 4 + 8ull * e->lay.num, 2), v);
}

void rt_hand_offer(const struct rt_env *e, uint16_t head)
{
    uint16_t idx = rt_avail_idx(e);

    rt_set_avail_ring(e, idx, head);
    rt_set_avail_idx(e, (uint16_t)(idx + 1));
}

void rt_hand_push(const struct rt_env *e, uint32_t id, uint32_t len)
{
    uint16_t idx = rt_used_idx(e);

    rt_set_used_elem(e, idx, id, len);
    rt_set_used_idx(e, (uint16_t)(idx + 1));
}

void rt_zero_used(const struct rt_env *e)
{
    memset(used_at(e, 0, 6 + 8ull * e->lay.num), 0, 6 + 8ull * e->lay.num);
}
