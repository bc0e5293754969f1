/* The driver half of a split virtqueue. Its bookkeeping (free list, tokens,
 * chain shapes) is private, so nothing the device writes can corrupt it. */
#include "ring/ring.h"
#include "ring/vring_access.h"

#include <stdlib.h>
#include <string.h>

struct vq_inflight {
    void *token;     /* NULL when the head is not in flight */
    uint32_t last;   /* last descriptor of the chain in the table */
    uint32_t ndesc;  /* descriptors of the table it holds */
    uint32_t in_bytes;
};

static void reset_free_list(struct vq_driver *vq)
{
    for (uint32_t i = 0; i < vq->num; i++)
        vq->next_free[i] = (uint16_t)(i + 1); /* the last link is never followed */
    vq->free_head = 0;
    vq->num_free = vq->num;
}

static void clear_ring_memory(struct vq_driver *vq)
{
    memset(vq->desc, 0, vring_desc_bytes(vq->num));
    memset(vq->avail, 0, vring_avail_bytes(vq->num));
    memset(vq->used, 0, vring_used_bytes(vq->num));
    vq->avail_idx_shadow = 0;
    vq->avail_flags_shadow = 0;
    vq->num_added = 0;
    vq->last_used_idx = 0;
    vq->in_flight = 0;
}

int vqd_init(struct vq_driver *vq, struct gmem *m, const struct vq_driver_cfg *cfg)
{
    if (vq == NULL || m == NULL || cfg == NULL)
        return RING_E_INVAL;
    memset(vq, 0, sizeof(*vq));
    uint8_t *avail;
    int err = vring_map_layout(m, &cfg->layout, &vq->desc, &avail, &vq->used);
    if (err != RING_OK)
        return err;
    vq->avail = (uint16_t *)(void *)avail;
    vq->num = cfg->layout.num;
    vq->event_idx = cfg->event_idx;

    if (cfg->indirect) {
        if (cfg->indirect_max == 0 || cfg->indirect_max > VIRTQ_MAX_SIZE)
            return RING_E_INVAL;
        uint64_t bytes = (uint64_t)vq->num * cfg->indirect_max * VIRTQ_DESC_SIZE;
        err = vring_map_part(m, cfg->indirect_gpa, bytes, VIRTQ_DESC_ALIGN, &vq->indirect_hva);
        if (err != RING_OK)
            return err;
        vq->indirect = true;
        vq->indirect_gpa = cfg->indirect_gpa;
        vq->indirect_max = cfg->indirect_max;
    }

    vq->next_free = calloc(vq->num, sizeof(*vq->next_free));
    vq->inflight = calloc(vq->num, sizeof(*vq->inflight));
    if (vq->next_free == NULL || vq->inflight == NULL) {
        vqd_destroy(vq);
        return RING_E_NOMEM;
    }
    reset_free_list(vq);
    clear_ring_memory(vq);
    return RING_OK;
}

void vqd_destroy(struct vq_driver *vq)
{
    free(vq->next_free);
    free(vq->inflight);
    vq->next_free = NULL;
    vq->inflight = NULL;
    vq->num = 0;
}

static uint8_t *avail_bytes(struct vq_driver *vq)
{
    return (uint8_t *)(void *)vq->avail;
}

static uint64_t sum_len(const struct vq_seg *segs, unsigned from, unsigned to)
{
    uint64_t total = 0;
    for (unsigned i = from; i < to; i++)
        total += segs[i].len;
    return total;
}

static uint16_t seg_flags(unsigned i, unsigned n_out, unsigned n, bool chained)
{
    uint16_t f = i >= n_out ? VIRTQ_DESC_F_WRITE : 0;
    if (chained && i + 1 < n)
        f |= VIRTQ_DESC_F_NEXT;
    return (uint16_t)f;
}

/* Takes ndesc descriptors off the free list; returns the head and the last. */
static uint32_t take_descs(struct vq_driver *vq, uint32_t ndesc, uint32_t *last)
{
    uint32_t head = vq->free_head, i = head;
    for (uint32_t k = 1; k < ndesc; k++)
        i = vq->next_free[i];
    *last = i;
    vq->free_head = vq->next_free[i];
    vq->num_free -= ndesc;
    return head;
}

static void write_direct(struct vq_driver *vq, uint32_t head, const struct vq_seg *segs,
                         unsigned n_out, unsigned n)
{
    uint32_t i = head;
    for (unsigned k = 0; k < n; k++) {
        uint16_t next = k + 1 < n ? vq->next_free[i] : 0;
        vr_desc_store(vq->desc + 16u * i, segs[k].gpa, segs[k].len, seg_flags(k, n_out, n, true),
                      next);
        i = next;
    }
}

static void write_indirect(struct vq_driver *vq, uint32_t head, const struct vq_seg *segs,
                           unsigned n_out, unsigned n)
{
    uint64_t table_off = (uint64_t)head * vq->indirect_max * VIRTQ_DESC_SIZE;
    uint8_t *table = vq->indirect_hva + table_off;
    for (unsigned k = 0; k < n; k++)
        vr_desc_store(table + 16u * k, segs[k].gpa, segs[k].len, seg_flags(k, n_out, n, true),
                      (uint16_t)(k + 1 < n ? k + 1 : 0));
    vr_desc_store(vq->desc + 16u * head, vq->indirect_gpa + table_off, n * VIRTQ_DESC_SIZE,
                  VIRTQ_DESC_F_INDIRECT, 0);
}

static bool choose_indirect(const struct vq_driver *vq, unsigned n, enum vq_add_mode mode)
{
    if (mode == VQ_ADD_DIRECT)
        return false;
    bool possible = vq->indirect && n <= vq->indirect_max;
    if (mode == VQ_ADD_INDIRECT)
        return possible;
    return possible && n > 1;
}

/* Publishes a chain whose descriptors are written: bookkeeping, then the
 * avail entry and the index (release). */
static void publish(struct vq_driver *vq, uint32_t head, uint32_t last, uint32_t ndesc,
                    void *token, uint32_t in_bytes)
{
    vq->inflight[head] = (struct vq_inflight){
        .token = token, .last = last, .ndesc = ndesc, .in_bytes = in_bytes};
    vq->in_flight++;

    uint8_t *av = avail_bytes(vq);
    vr_st16(av + AVAIL_RING(vq->avail_idx_shadow & (vq->num - 1)), (uint16_t)head);
    vq->avail_idx_shadow++;
    vr_st16_release(av + AVAIL_IDX, vq->avail_idx_shadow);
    if (vq->num_added < UINT16_MAX)
        vq->num_added++;
}

/* One segment is always one direct descriptor (AUTO and DIRECT never put a
 * single segment in a table): the common case of every rx and event buffer
 * and of header-only tx packets, without the general path's loops. */
static int add_one(struct vq_driver *vq, const struct vq_seg *seg, bool in, void *token)
{
    if (vq->num_free == 0)
        return RING_E_FULL;
    uint32_t head = vq->free_head;
    vq->free_head = vq->next_free[head];
    vq->num_free--;
    vr_desc_store(vq->desc + 16u * head, seg->gpa, seg->len, in ? VIRTQ_DESC_F_WRITE : 0, 0);
    publish(vq, head, head, 1, token, in ? seg->len : 0);
    return RING_OK;
}

int vqd_add(struct vq_driver *vq, const struct vq_seg *segs, unsigned n_out, unsigned n_in,
            void *token, enum vq_add_mode mode)
{
    unsigned n = n_out + n_in;
    if (vq->num == 0)
        return RING_E_NOT_READY;
    /* 2.7.5.2 and 2.7.5.3.1: no chain longer than the queue (indirect entries
     * count too) and no chain of 2^32 bytes or more. */
    if (token == NULL || segs == NULL || n == 0 || n < n_out || n > vq->num)
        return RING_E_INVAL;
    if (n == 1 && mode != VQ_ADD_INDIRECT)
        return add_one(vq, segs, n_in == 1, token); /* a u32 len is below 2^32 */
    if (sum_len(segs, 0, n) > UINT32_MAX)
        return RING_E_INVAL;
    bool indirect = choose_indirect(vq, n, mode);
    if (mode == VQ_ADD_INDIRECT && !indirect)
        return RING_E_INVAL;
    uint32_t ndesc = indirect ? 1 : n;
    if (ndesc > vq->num_free)
        return RING_E_FULL;

    uint32_t last;
    uint32_t head = take_descs(vq, ndesc, &last);
    if (indirect)
        write_indirect(vq, head, segs, n_out, n);
    else
        write_direct(vq, head, segs, n_out, n);
    publish(vq, head, last, ndesc, token, (uint32_t)sum_len(segs, n_out, n));
    return RING_OK;
}

bool vqd_kick_prepare(struct vq_driver *vq)
{
    vr_full_fence();
    uint16_t new_idx = vq->avail_idx_shadow;
    uint16_t added = vq->num_added;
    vq->num_added = 0;
    if (added == UINT16_MAX)
        return true; /* too many to reason about with 16-bit indices */
    if (vq->event_idx) {
        uint16_t event = vr_ld16(vq->used + USED_AVAIL_EVENT(vq->num));
        return vring_need_event(event, new_idx, (uint16_t)(new_idx - added));
    }
    return added > 0 && !(vr_ld16(vq->used + USED_FLAGS) & VIRTQ_USED_F_NO_NOTIFY);
}

bool vqd_has_used(const struct vq_driver *vq)
{
    return vq->num != 0 && vr_ld16_acquire(vq->used + USED_IDX) != vq->last_used_idx;
}

uint16_t vqd_used_idx(const struct vq_driver *vq)
{
    return vr_ld16_acquire(vq->used + USED_IDX);
}

static void free_chain(struct vq_driver *vq, uint32_t head)
{
    struct vq_inflight *st = &vq->inflight[head];
    vq->next_free[st->last] = (uint16_t)vq->free_head;
    vq->free_head = head;
    vq->num_free += st->ndesc;
    vq->in_flight--;
    st->token = NULL;
}

static bool callbacks_enabled(const struct vq_driver *vq)
{
    return !(vq->avail_flags_shadow & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* With EVENT_IDX, keep asking for an interrupt at the next used entry. */
static void publish_used_event(struct vq_driver *vq, uint16_t ev)
{
    vr_st16(avail_bytes(vq) + AVAIL_USED_EVENT(vq->num), ev);
    vr_full_fence();
}

int vqd_get_used(struct vq_driver *vq, struct vq_used_entry *out)
{
    if (vq->num == 0)
        return RING_E_NOT_READY;
    uint16_t used_idx = vr_ld16_acquire(vq->used + USED_IDX);
    if (used_idx == vq->last_used_idx)
        return 0;
    if ((uint16_t)(used_idx - vq->last_used_idx) > vq->in_flight)
        return RING_E_USED_IDX; /* the ring is broken; nothing is consumed */

    const uint8_t *elem = vq->used + USED_ELEM(vq->last_used_idx & (vq->num - 1));
    uint32_t id = vr_ld32(elem);
    uint32_t len = vr_ld32(elem + 4);
    vq->last_used_idx++;
    if (vq->event_idx && callbacks_enabled(vq))
        publish_used_event(vq, vq->last_used_idx);
    if (id >= vq->num || vq->inflight[id].token == NULL)
        return RING_E_USED_ID;

    out->token = vq->inflight[id].token;
    out->len = len;
    out->capacity = vq->inflight[id].in_bytes;
    free_chain(vq, id);
    return 1;
}

void vqd_disable_cb(struct vq_driver *vq)
{
    if (!callbacks_enabled(vq))
        return;
    vq->avail_flags_shadow |= VIRTQ_AVAIL_F_NO_INTERRUPT;
    if (vq->event_idx)
        /* An event one behind what we consumed is not reached again until
         * the index wraps: no interrupt. */
        vr_st16(avail_bytes(vq) + AVAIL_USED_EVENT(vq->num), (uint16_t)(vq->last_used_idx - 1));
    else
        vr_st16(avail_bytes(vq) + AVAIL_FLAGS, vq->avail_flags_shadow);
}

static bool enable_cb_at(struct vq_driver *vq, uint16_t event, uint16_t pending_allowed)
{
    vq->avail_flags_shadow &= (uint16_t)~VIRTQ_AVAIL_F_NO_INTERRUPT;
    if (vq->event_idx)
        vr_st16(avail_bytes(vq) + AVAIL_USED_EVENT(vq->num), event);
    else
        vr_st16(avail_bytes(vq) + AVAIL_FLAGS, vq->avail_flags_shadow);
    vr_full_fence();
    uint16_t pending = (uint16_t)(vr_ld16(vq->used + USED_IDX) - vq->last_used_idx);
    return pending <= pending_allowed;
}

bool vqd_enable_cb(struct vq_driver *vq)
{
    return enable_cb_at(vq, vq->last_used_idx, 0);
}

bool vqd_enable_cb_delayed(struct vq_driver *vq)
{
    if (!vq->event_idx)
        return vqd_enable_cb(vq);
    uint16_t bufs = (uint16_t)(vq->in_flight * 3 / 4);
    if (bufs == 0)
        return vqd_enable_cb(vq);
    return enable_cb_at(vq, (uint16_t)(vq->last_used_idx + bufs), bufs);
}

void vqd_reset(struct vq_driver *vq, void (*detach)(void *token, void *ctx), void *ctx)
{
    for (uint32_t h = 0; h < vq->num; h++) {
        void *token = vq->inflight[h].token;
        vq->inflight[h].token = NULL;
        if (token != NULL && detach != NULL)
            detach(token, ctx);
    }
    reset_free_list(vq);
    clear_ring_memory(vq);
}

int vqd_adopt(struct vq_driver *vq)
{
    if (vq->num == 0)
        return RING_E_NOT_READY;
    if (vq->in_flight != 0)
        return RING_E_INVAL;
    vq->avail_idx_shadow = vr_ld16(avail_bytes(vq) + AVAIL_IDX);
    vq->num_added = 0;
    vq->last_used_idx = vr_ld16_acquire(vq->used + USED_IDX);
    /* With EVENT_IDX, the next completion must still interrupt us. */
    if (vq->event_idx && callbacks_enabled(vq))
        publish_used_event(vq, vq->last_used_idx);
    return RING_OK;
}
