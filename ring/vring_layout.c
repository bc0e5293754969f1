/* Split-ring layout: sizes, alignment and mapping into guest memory (2.7). */
#include "ring/ring.h"
#include "ring/vring_access.h"

bool vring_size_valid(uint32_t num)
{
    return num >= 1 && num <= VIRTQ_MAX_SIZE && (num & (num - 1)) == 0;
}

uint64_t vring_layout_contiguous(struct vring_layout *l, uint32_t num, uint64_t base,
                                 uint64_t used_align)
{
    if (!vring_size_valid(num) || base % VIRTQ_DESC_ALIGN != 0 || used_align == 0 ||
        (used_align & (used_align - 1)) != 0 || used_align < VIRTQ_USED_ALIGN)
        return 0;
    /* The worst case needs every part plus a full alignment gap; it must not
     * run past the top of the address space. */
    uint64_t worst = vring_desc_bytes(num) + vring_avail_bytes(num) + used_align +
                     vring_used_bytes(num);
    if (base > UINT64_MAX - worst)
        return 0;
    l->num = num;
    l->desc = base;
    l->avail = base + vring_desc_bytes(num);
    uint64_t avail_end = l->avail + vring_avail_bytes(num);
    l->used = (avail_end + used_align - 1) & ~(used_align - 1);
    return l->used + vring_used_bytes(num) - base;
}

int vring_map_part(const struct gmem *m, uint64_t gpa, uint64_t len, uint64_t align,
                   uint8_t **out)
{
    if (gpa % align != 0)
        return RING_E_ALIGN;
    uint8_t *p = gmem_translate(m, gpa, len);
    if (p == NULL)
        return RING_E_GPA_RANGE;
    if ((uintptr_t)p % align != 0)
        return RING_E_ALIGN;
    *out = p;
    return RING_OK;
}

int vring_map_layout(const struct gmem *m, const struct vring_layout *l, uint8_t **desc,
                     uint8_t **avail, uint8_t **used)
{
    if (!vring_size_valid(l->num))
        return RING_E_QUEUE_SIZE;
    int err = vring_map_part(m, l->desc, vring_desc_bytes(l->num), VIRTQ_DESC_ALIGN, desc);
    if (err == RING_OK)
        err = vring_map_part(m, l->avail, vring_avail_bytes(l->num), VIRTQ_AVAIL_ALIGN, avail);
    if (err == RING_OK)
        err = vring_map_part(m, l->used, vring_used_bytes(l->num), VIRTQ_USED_ALIGN, used);
    return err;
}

