/* Guest memory: GPA regions, every access bounds-checked. */
#include "ring/ring.h"

#include <string.h>

void gmem_init(struct gmem *m)
{
    memset(m, 0, sizeof(*m));
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size, void *hva)
{
    if (m == NULL || hva == NULL || size == 0)
        return RING_E_INVAL;
    if (size > UINT64_MAX - gpa)
        return RING_E_INVAL; /* the end must be representable */
    for (unsigned i = 0; i < m->nregions; i++)
        if (ranges_overlap(gpa, size, m->region[i].gpa, m->region[i].size))
            return RING_E_REGION_OVERLAP;
    if (m->nregions == GMEM_MAX_REGIONS)
        return RING_E_REGION_FULL;

    unsigned pos = m->nregions;
    while (pos > 0 && m->region[pos - 1].gpa > gpa) {
        m->region[pos] = m->region[pos - 1];
        pos--;
    }
    m->region[pos] = (struct gmem_region){.gpa = gpa, .size = size, .hva = hva};
    m->nregions++;
    return RING_OK;
}

void *gmem_translate(const struct gmem *m, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < m->nregions; i++) {
        const struct gmem_region *r = &m->region[i];
        if (gpa < r->gpa)
            return NULL; /* sorted: no later region can hold it */
        uint64_t off = gpa - r->gpa;
        if (off > r->size || (off == r->size && len > 0))
            continue; /* starts at or past this region's end: maybe the next one */
        if (len > r->size - off)
            return NULL; /* runs past this region: straddling is an error */
        return r->hva + off;
    }
    return NULL;
}

int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len)
{
    const void *src = gmem_translate(m, gpa, len);
    if (src == NULL)
        return RING_E_GPA_RANGE;
    if (len > 0)
        memcpy(dst, src, len);
    return RING_OK;
}

int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len)
{
    void *dst = gmem_translate(m, gpa, len);
    if (dst == NULL)
        return RING_E_GPA_RANGE;
    if (len > 0)
        memcpy(dst, src, len);
    return RING_OK;
}

const char *ring_strerror(int err)
{
    switch (err) {
    case RING_OK: return "success";
    case RING_E_INVAL: return "invalid argument";
    case RING_E_NOMEM: return "out of memory";
    case RING_E_GPA_RANGE: return "guest-physical range outside guest memory";
    case RING_E_REGION_OVERLAP: return "memory region overlaps an existing one";
    case RING_E_REGION_FULL: return "too many memory regions";
    case RING_E_QUEUE_SIZE: return "queue size is not a power of two in 1..32768";
    case RING_E_ALIGN: return "ring part misaligned";
    case RING_E_FULL: return "not enough free descriptors";
    case RING_E_AVAIL_IDX: return "avail idx moved more than the queue size";
    case RING_E_HEAD_RANGE: return "avail ring names a head beyond the queue size";
    case RING_E_NEXT_RANGE: return "descriptor next beyond the table";
    case RING_E_CHAIN_LOOP: return "descriptor chain loops";
    case RING_E_CHAIN_TOO_LONG: return "descriptor chain longer than the queue size";
    case RING_E_INDIRECT_FEATURE: return "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
    case RING_E_INDIRECT_NESTED: return "indirect descriptor inside an indirect table";
    case RING_E_INDIRECT_NEXT: return "indirect descriptor with NEXT set";
    case RING_E_INDIRECT_LEN: return "indirect table length zero or not a multiple of 16";
    case RING_E_WRITE_ORDER: return "readable descriptor after a writable one";
    case RING_E_DESC_RANGE: return "descriptor buffer outside guest memory";
    case RING_E_CHAIN_LEN: return "descriptor chain total length >= 2^32";
    case RING_E_USED_ID: return "used entry names no chain in flight";
    case RING_E_USED_IDX: return "used idx moved beyond the chains in flight";
    case RING_E_USED_OVERFLOW: return "used entry pushed with no chain popped";
    case RING_E_NOT_READY: return "queue not set up";
    }
    return "unknown ring error";
}
