/* Private to ring/: little-endian field access and the ordered index accesses
 * shared by both halves. */
#ifndef VSOCKSIM_RING_VRING_ACCESS_H
#define VSOCKSIM_RING_VRING_ACCESS_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VR_LE16(x) __builtin_bswap16(x)
#define VR_LE32(x) __builtin_bswap32(x)
#define VR_LE64(x) __builtin_bswap64(x)
#else
#define VR_LE16(x) (x)
#define VR_LE32(x) (x)
#define VR_LE64(x) (x)
#endif

/* Offsets inside the avail and used rings for queue size q. */
#define AVAIL_FLAGS 0u
#define AVAIL_IDX 2u
#define AVAIL_RING(i) (4u + 2u * (uint32_t)(i))
#define AVAIL_USED_EVENT(q) (4u + 2u * (uint32_t)(q))
#define USED_FLAGS 0u
#define USED_IDX 2u
#define USED_ELEM(i) (4u + 8u * (uint32_t)(i))
#define USED_AVAIL_EVENT(q) (4u + 8u * (uint32_t)(q))

/* Plain fields: the peer may write them at any time, so they are read once
 * into a local and never trusted twice. */
static inline uint16_t vr_ld16(const uint8_t *p)
{
    return VR_LE16(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}
static inline void vr_st16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, VR_LE16(v), __ATOMIC_RELAXED);
}
static inline uint32_t vr_ld32(const uint8_t *p)
{
    return VR_LE32(__atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED));
}
static inline void vr_st32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)p, VR_LE32(v), __ATOMIC_RELAXED);
}

/* Index publication: entries written before the release are visible to a
 * peer that acquires the index. */
static inline uint16_t vr_ld16_acquire(const uint8_t *p)
{
    return VR_LE16(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE));
}
static inline void vr_st16_release(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, VR_LE16(v), __ATOMIC_RELEASE);
}

/* Between publishing an index and reading the peer's event field (and the
 * other way round) only a full fence prevents a lost notification. */
static inline void vr_full_fence(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

struct gmem;
struct vring_layout;
/* Translates one ring part and checks both its GPA and its host alignment. */
int vring_map_part(const struct gmem *m, uint64_t gpa, uint64_t len, uint64_t align,
                   uint8_t **out);
/* Maps all three parts of a layout (RING_E_QUEUE_SIZE, _ALIGN, _GPA_RANGE). */
int vring_map_layout(const struct gmem *m, const struct vring_layout *l, uint8_t **desc,
                     uint8_t **avail, uint8_t **used);

struct vr_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static inline struct vr_desc vr_desc_load(const uint8_t *p)
{
    uint8_t raw[16];
    memcpy(raw, p, sizeof(raw)); /* one snapshot of a descriptor the peer may rewrite */
    struct vr_desc d;
    uint64_t a;
    uint32_t l;
    uint16_t f, n;
    memcpy(&a, raw, 8);
    memcpy(&l, raw + 8, 4);
    memcpy(&f, raw + 12, 2);
    memcpy(&n, raw + 14, 2);
    d.addr = VR_LE64(a);
    d.len = VR_LE32(l);
    d.flags = VR_LE16(f);
    d.next = VR_LE16(n);
    return d;
}

static inline void vr_desc_store(uint8_t *p, uint64_t addr, uint32_t len, uint16_t flags,
                                 uint16_t next)
{
    uint64_t a = VR_LE64(addr);
    uint32_t l = VR_LE32(len);
    uint16_t f = VR_LE16(flags), n = VR_LE16(next);
    memcpy(p, &a, 8);
    memcpy(p + 8, &l, 4);
    memcpy(p + 12, &f, 2);
    memcpy(p + 14, &n, 2);
}

#endif
