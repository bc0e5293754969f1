/* The device half of a split virtqueue, as vhost sees it: every descriptor is
 * read through the guest-memory map and checked against every split-ring
 * rule, each with its own error. It writes only the used ring and the
 * writable buffers. */
#include "ring/ring.h"
#include "ring/vring_access.h"

#include <string.h>

int vqdev_init(struct vq_device *dev, const struct gmem *m, const struct vq_device_cfg *cfg)
{
    if (dev == NULL || m == NULL || cfg == NULL)
        return RING_E_INVAL;
    memset(dev, 0, sizeof(*dev));
    uint8_t *desc, *avail, *used;
    int err = vring_map_layout(m, &cfg->layout, &desc, &avail, &used);
    if (err != RING_OK)
        return err;
    dev->mem = m;
    dev->num = cfg->layout.num;
    dev->event_idx = cfg->event_idx;
    dev->indirect = cfg->indirect;
    dev->stop_at_bad_head = cfg->stop_at_bad_head;
    dev->desc = desc;
    dev->avail = avail;
    dev->used = used;
    vqdev_reset(dev);
    return RING_OK;
}

void vqdev_reset(struct vq_device *dev)
{
    dev->last_avail_idx = 0;
    dev->used_idx = 0;
    dev->signalled_used = 0;
    dev->signalled_used_valid = false;
    dev->notify_enabled = true;
    dev->popped = 0;
}

int vqdev_set_base(struct vq_device *dev, uint16_t idx)
{
    if (dev->num == 0)
        return RING_E_NOT_READY;
    if (dev->popped != 0)
        return RING_E_INVAL;
    dev->last_avail_idx = idx;
    dev->used_idx = vr_ld16_acquire(dev->used + USED_IDX);
    dev->signalled_used_valid = false;
    return RING_OK;
}

uint16_t vqdev_avail_idx(const struct vq_device *dev)
{
    return vr_ld16_acquire(dev->avail + AVAIL_IDX);
}

bool vqdev_has_avail(const struct vq_device *dev)
{
    return dev->num != 0 && vqdev_avail_idx(dev) != dev->last_avail_idx;
}

static void chain_begin(struct vq_chain *c, const struct vq_device *dev, uint16_t head)
{
    memset(c, 0, sizeof(*c));
    c->dev = dev;
    c->head = head;
    c->next = head;
    c->has_next = true;
}

/* Moves the walk into the indirect table that descriptor d points to. */
static int enter_indirect(struct vq_chain *c, const struct vr_desc *d)
{
    if (!c->dev->indirect)
        return RING_E_INDIRECT_FEATURE;
    if (d->flags & VIRTQ_DESC_F_NEXT)
        return RING_E_INDIRECT_NEXT;
    if (d->len == 0 || d->len % VIRTQ_DESC_SIZE != 0)
        return RING_E_INDIRECT_LEN;
    if (gmem_translate(c->dev->mem, d->addr, d->len) == NULL)
        return RING_E_DESC_RANGE;
    c->in_indirect = true;
    c->table_gpa = d->addr;
    c->table_len = d->len / VIRTQ_DESC_SIZE;
    c->walked_table = 0;
    c->next = 0;
    c->has_next = true;
    return RING_OK;
}

/* Reads the descriptor c->next of the current table, with range and loop checks. */
static int load_next_desc(struct vq_chain *c, struct vr_desc *d)
{
    uint32_t limit = c->in_indirect ? c->table_len : c->dev->num;
    if (c->next >= limit)
        return RING_E_NEXT_RANGE;
    if (++c->walked_table > limit)
        return RING_E_CHAIN_LOOP;
    const uint8_t *p;
    if (c->in_indirect) {
        /* Re-translated each time: the table was checked on entry, but a
         * concurrent driver cannot move it, so this cannot fail afterwards. */
        p = gmem_translate(c->dev->mem, c->table_gpa + 16ull * c->next, VIRTQ_DESC_SIZE);
        if (p == NULL)
            return RING_E_DESC_RANGE;
    } else {
        p = c->dev->desc + 16u * c->next;
    }
    *d = vr_desc_load(p);
    return RING_OK;
}

int vq_chain_next(struct vq_chain *c, struct vq_buf *buf)
{
    struct vr_desc d;
    for (;;) {
        if (!c->has_next)
            return 0;
        int err = load_next_desc(c, &d);
        if (err != RING_OK)
            return err;
        if (!(d.flags & VIRTQ_DESC_F_INDIRECT))
            break;
        if (c->in_indirect)
            return RING_E_INDIRECT_NESTED;
        err = enter_indirect(c, &d);
        if (err != RING_OK)
            return err;
    }

    if (++c->walked_total > c->dev->num)
        return RING_E_CHAIN_TOO_LONG;
    bool writable = (d.flags & VIRTQ_DESC_F_WRITE) != 0;
    if (!writable && c->seen_writable)
        return RING_E_WRITE_ORDER;
    c->total_len += d.len;
    if (c->total_len > UINT32_MAX)
        return RING_E_CHAIN_LEN;
    if (gmem_translate(c->dev->mem, d.addr, d.len) == NULL)
        return RING_E_DESC_RANGE;

    c->seen_writable = c->seen_writable || writable;
    c->has_next = (d.flags & VIRTQ_DESC_F_NEXT) != 0;
    c->next = d.next;
    *buf = (struct vq_buf){.gpa = d.addr, .len = d.len, .writable = writable};
    return 1;
}

/* Walks a copy of the chain to the end, validating it and summing its shape. */
static int validate_chain(struct vq_chain *c)
{
    struct vq_chain walk = *c;
    struct vq_buf b;
    int r;
    while ((r = vq_chain_next(&walk, &b)) == 1) {
        if (b.writable) {
            c->in_bytes += b.len;
            c->in_count++;
        } else {
            c->out_bytes += b.len;
            c->out_count++;
        }
    }
    return r;
}

int vqdev_pop(struct vq_device *dev, struct vq_chain *chain)
{
    if (dev->num == 0)
        return RING_E_NOT_READY;
    uint16_t avail_idx = vqdev_avail_idx(dev);
    if (avail_idx == dev->last_avail_idx)
        return 0;
    if ((uint16_t)(avail_idx - dev->last_avail_idx) > dev->num)
        return RING_E_AVAIL_IDX;

    uint16_t head = vr_ld16(dev->avail + AVAIL_RING(dev->last_avail_idx & (dev->num - 1)));
    int err = RING_E_HEAD_RANGE;
    if (head < dev->num) {
        chain_begin(chain, dev, head);
        err = validate_chain(chain);
    }
    if (err < 0) {
        if (!dev->stop_at_bad_head)
            dev->last_avail_idx++;
        return err;
    }
    dev->last_avail_idx++;
    dev->popped++;
    return 1;
}

int vqdev_keep(struct vq_device *dev)
{
    if (dev->popped == 0)
        return RING_E_USED_OVERFLOW;
    dev->popped--;
    return RING_OK;
}

void vqdev_unpop(struct vq_device *dev)
{
    if (dev->popped == 0)
        return;
    dev->popped--;
    dev->last_avail_idx--;
}

/* Copies between data and the part of the chain in one direction (readable
 * or writable), starting off bytes into that part; re-walks from the head so
 * every descriptor is checked again. */
static int64_t chain_copy(const struct vq_chain *chain, uint64_t off, uint8_t *data, size_t len,
                          bool to_guest)
{
    struct vq_chain walk;
    chain_begin(&walk, chain->dev, chain->head);
    struct vq_buf b;
    size_t done = 0;
    int r = 0;
    while (done < len && (r = vq_chain_next(&walk, &b)) == 1) {
        if (b.writable != to_guest)
            continue;
        if (off >= b.len) {
            off -= b.len;
            continue;
        }
        size_t n = b.len - off;
        if (n > len - done)
            n = len - done;
        uint8_t *gp = gmem_translate(chain->dev->mem, b.gpa + off, n);
        if (gp == NULL)
            return RING_E_DESC_RANGE;
        if (to_guest)
            memcpy(gp, data + done, n);
        else
            memcpy(data + done, gp, n);
        done += n;
        off = 0;
    }
    if (done < len && r < 0)
        return r;
    return (int64_t)done;
}

int64_t vq_chain_read(const struct vq_chain *chain, uint64_t off, void *dst, size_t len)
{
    return chain_copy(chain, off, dst, len, false);
}

int64_t vq_chain_write(const struct vq_chain *chain, uint64_t off, const void *src, size_t len)
{
    return chain_copy(chain, off, (uint8_t *)(uintptr_t)src, len, true);
}

int vqdev_push(struct vq_device *dev, uint16_t head, uint32_t len)
{
    if (dev->num == 0)
        return RING_E_NOT_READY;
    if (head >= dev->num)
        return RING_E_INVAL;
    if (dev->popped == 0)
        return RING_E_USED_OVERFLOW;
    uint8_t *elem = dev->used + USED_ELEM(dev->used_idx & (dev->num - 1));
    vr_st32(elem, head);
    vr_st32(elem + 4, len);
    dev->used_idx++;
    vr_st16_release(dev->used + USED_IDX, dev->used_idx);
    dev->popped--;
    return RING_OK;
}

bool vqdev_should_interrupt(struct vq_device *dev)
{
    vr_full_fence();
    if (!dev->event_idx)
        return !(vr_ld16(dev->avail + AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t old = dev->signalled_used;
    bool valid = dev->signalled_used_valid;
    uint16_t new_idx = dev->used_idx;
    dev->signalled_used = new_idx;
    dev->signalled_used_valid = true;
    if (!valid)
        return true;
    return vring_need_event(vr_ld16(dev->avail + AVAIL_USED_EVENT(dev->num)), new_idx, old);
}

void vqdev_disable_notify(struct vq_device *dev)
{
    dev->notify_enabled = false;
    if (!dev->event_idx)
        vr_st16(dev->used + USED_FLAGS, VIRTQ_USED_F_NO_NOTIFY);
}

bool vqdev_enable_notify(struct vq_device *dev)
{
    dev->notify_enabled = true;
    if (dev->event_idx)
        vr_st16(dev->used + USED_AVAIL_EVENT(dev->num), dev->last_avail_idx);
    else
        vr_st16(dev->used + USED_FLAGS, 0);
    vr_full_fence();
    return vqdev_avail_idx(dev) == dev->last_avail_idx;
}
