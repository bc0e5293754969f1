/*
 * Both halves of one queue driven together by a seeded random sequence of
 * operations, every result checked against a small reference model: which
 * chains are available, popped, used or consumed; FIFO avail order; exact
 * token / len / capacity from the used ring in push order; num_free and
 * in_flight accounting; descriptor ownership; buffer contents in both
 * directions; and every kick / interrupt decision against vring_need_event.
 */
#include <stdlib.h>
#include <string.h>

#include "ring/ring_testlib.h"


#define MAXSEG 6u
#define SEGLEN 64u
#define SLOT_BYTES (MAXSEG * SEGLEN)

enum rec_state { R_FREE, R_AVAIL, R_POPPED, R_USED };

/* One chain the model knows about; the token is its address. */
struct rec {
    enum rec_state state;
    uint64_t serial;
    unsigned n_out, n_in;
    struct vq_seg seg[MAXSEG];
    unsigned ndesc;
    uint16_t desc[MAXSEG]; /* descriptors of the queue's table it holds */
    uint16_t head;
    uint32_t out_total, capacity;
    uint32_t written;  /* bytes the device wrote into it */
    uint32_t used_len; /* len the device pushed */
    struct vq_chain chain;
};

struct model {
    struct rt_env e;
    struct vq_driver d;
    struct vq_device v;
    struct rt_prng p;
    uint64_t seed;
    uint32_t q;
    bool event_idx, indirect;
    bool hostile_events; /* the test rewrites avail_event / used_event at random */
    bool no_reset;
    unsigned long step;

    struct rec *rec;     /* q records */
    uint32_t *avail;     /* rec indices, avail order */
    uint32_t av_first, av_n;
    uint32_t *popped;    /* rec indices popped, not pushed */
    uint32_t n_popped;
    uint32_t *used;      /* rec indices, push order */
    uint32_t us_first, us_n;
    int *owner;          /* per descriptor: rec index or -1 */

    uint32_t num_free, in_flight;
    uint16_t avail_idx, last_avail, used_idx, last_used;
    uint16_t kick_old;
    unsigned added_since_kick;
    uint16_t sig_old;
    bool sig_valid;
    unsigned pushes_since_sig;
    uint64_t serial_next;

    unsigned long n_add, n_full, n_get, n_kick[2], n_irq[2], n_reset, n_indirect;
};

#define MSG_PREFIX "seed %llu Q=%u event_idx=%d indirect=%d step %lu: "
#define MSG_ARGS(m) (unsigned long long)(m)->seed, (m)->q, (m)->event_idx, (m)->indirect, (m)->step
#define M_EQ(m, exp, act, fmt, ...) T_EQ(exp, act, MSG_PREFIX fmt, MSG_ARGS(m), ##__VA_ARGS__)
#define M_ERR(m, exp, act, fmt, ...) T_ERR(exp, act, MSG_PREFIX fmt, MSG_ARGS(m), ##__VA_ARGS__)
#define M_TRUE(m, cond, fmt, ...) T_TRUE(cond, MSG_PREFIX fmt, MSG_ARGS(m), ##__VA_ARGS__)

static uint8_t rbyte(uint64_t serial, unsigned seg, unsigned j)
{
    return (uint8_t)(serial * 131 + seg * 17 + j * 7 + 3);
}

static uint8_t wbyte(uint64_t serial, unsigned j) { return (uint8_t)(serial * 37 + j * 11 + 5); }

static uint32_t rec_index(const struct model *m, const void *token)
{
    const struct rec *r = token;

    M_TRUE(m, r >= m->rec && r < m->rec + m->q, "token %p is not one of the model's", token);
    return (uint32_t)(r - m->rec);
}

static void model_init(struct model *m, uint32_t q, uint64_t seed, bool event_idx, bool indirect)
{
    struct vq_driver_cfg dc;
    struct vq_device_cfg vc;

    memset(m, 0, sizeof *m);
    m->seed = seed;
    m->q = q;
    m->event_idx = event_idx;
    m->indirect = indirect;
    rt_prng_seed(&m->p, seed);
    rt_env_init(&m->e, q, MAXSEG, (uint64_t)q * SLOT_BYTES);
    dc = rt_drv_cfg(&m->e, event_idx, indirect);
    vc = rt_dev_cfg(&m->e, event_idx, indirect);
    M_ERR(m, RING_OK, vqd_init(&m->d, &m->e.mem, &dc), "vqd_init");
    M_ERR(m, RING_OK, vqdev_init(&m->v, &m->e.mem, &vc), "vqdev_init");
    m->rec = calloc(q, sizeof *m->rec);
    m->avail = calloc(q, sizeof *m->avail);
    m->popped = calloc(q, sizeof *m->popped);
    m->used = calloc(q, sizeof *m->used);
    m->owner = calloc(q, sizeof *m->owner);
    T_TRUE(m->rec && m->avail && m->popped && m->used && m->owner, "calloc");
    for (uint32_t i = 0; i < q; i++)
        m->owner[i] = -1;
    m->num_free = q;
}

static void model_fini(struct model *m)
{
    vqd_destroy(&m->d);
    free(m->rec);
    free(m->avail);
    free(m->popped);
    free(m->used);
    free(m->owner);
    rt_env_fini(&m->e);
}

/* Everything observable that must agree with the model after any operation. */
static void check_invariants(struct model *m)
{
    M_EQ(m, m->num_free, vqd_num_free(&m->d), "num_free");
    M_EQ(m, m->in_flight, vqd_in_flight(&m->d), "in_flight");
    M_EQ(m, m->us_n > 0, vqd_has_used(&m->d), "has_used with %u used entries pending", m->us_n);
    M_EQ(m, m->av_n > 0, vqdev_has_avail(&m->v), "has_avail with %u chains available", m->av_n);
    M_EQ(m, m->avail_idx, rt_avail_idx(&m->e), "avail idx in memory");
    M_EQ(m, m->used_idx, rt_used_idx(&m->e), "used idx in memory");
    if (m->us_n == 0)
        M_EQ(m, m->used_idx, vqd_used_idx(&m->d), "vqd_used_idx with nothing pending");
    if (m->av_n == 0)
        M_EQ(m, m->avail_idx, vqdev_avail_idx(&m->v), "vqdev_avail_idx with nothing pending");
}

/* ---- operations -------------------------------------------------------------------------- */

/* Adds a chain of n_out + n_in segments in the given mode and checks the outcome. */
static void do_add(struct model *m, enum vq_add_mode mode, unsigned n_out, unsigned n_in)
{
    unsigned n = n_out + n_in;
    bool indirect = mode == VQ_ADD_INDIRECT || (mode == VQ_ADD_AUTO && m->indirect && n > 1);
    uint32_t need = indirect ? 1 : n;
    int want = (mode == VQ_ADD_INDIRECT && !m->indirect) ? RING_E_INVAL
               : need > m->num_free                     ? RING_E_FULL
                                                        : RING_OK;
    static int dummy;
    struct rec *r = NULL;
    uint32_t k = 0;
    int rc;

    for (k = 0; k < m->q; k++)
        if (m->rec[k].state == R_FREE) {
            r = &m->rec[k];
            break;
        }
    if (r == NULL) {
        /* q chains in flight: every descriptor is taken. */
        struct vq_seg tmp[MAXSEG];
        for (unsigned i = 0; i < n; i++) {
            tmp[i].gpa = rt_data(&m->e, 0);
            tmp[i].len = 1;
        }
        M_EQ(m, 0, m->num_free, "q chains in flight but descriptors free");
        M_ERR(m, want, vqd_add(&m->d, tmp, n_out, n_in, &dummy, mode), "add with every descriptor taken");
        m->n_full++;
        return;
    }
    r->serial = ++m->serial_next;
    r->n_out = n_out;
    r->n_in = n_in;
    r->out_total = r->capacity = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t off = (uint64_t)k * SLOT_BYTES + i * SEGLEN;
        uint8_t *buf;

        r->seg[i].gpa = rt_data(&m->e, off);
        r->seg[i].len = rt_prng_range(&m->p, 1, SEGLEN);
        buf = rt_host(&m->e, r->seg[i].gpa, SEGLEN);
        if (i < n_out) {
            r->out_total += r->seg[i].len;
            for (unsigned j = 0; j < r->seg[i].len; j++)
                buf[j] = rbyte(r->serial, i, j);
        } else {
            r->capacity += r->seg[i].len;
            memset(buf, 0, SEGLEN);
        }
    }
    rc = vqd_add(&m->d, r->seg, n_out, n_in, r, mode);
    M_ERR(m, want, rc, "add %u out + %u in, mode %d, %u free", n_out, n_in, (int)mode, m->num_free);
    if (rc != RING_OK) {
        m->n_full += rc == RING_E_FULL;
        return;
    }
    r->head = rt_avail_ring(&m->e, m->avail_idx);
    M_TRUE(m, r->head < m->q, "published head %u", r->head);
    r->ndesc = need;
    if (indirect) {
        struct rt_desc d = rt_desc_get(&m->e, m->e.lay.desc, r->head);
        M_TRUE(m, d.flags & VIRTQ_DESC_F_INDIRECT, "chain expected indirect, head flags %#x", d.flags);
        M_EQ(m, 16ull * n, d.len, "indirect table length");
        r->desc[0] = r->head;
        m->n_indirect++;
    } else {
        uint16_t idx = r->head;
        for (unsigned i = 0; i < n; i++) {
            struct rt_desc d;
            M_TRUE(m, idx < m->q, "descriptor index %u", idx);
            d = rt_desc_get(&m->e, m->e.lay.desc, idx);
            M_EQ(m, 0, d.flags & VIRTQ_DESC_F_INDIRECT, "direct chain with an INDIRECT descriptor");
            r->desc[i] = idx;
            idx = d.next;
        }
    }
    for (unsigned i = 0; i < r->ndesc; i++) {
        M_TRUE(m, m->owner[r->desc[i]] == -1, "descriptor %u handed out while chain %d holds it",
               r->desc[i], m->owner[r->desc[i]]);
        m->owner[r->desc[i]] = (int)k;
    }
    r->state = R_AVAIL;
    m->avail[(m->av_first + m->av_n++) % m->q] = k;
    m->avail_idx++;
    m->num_free -= need;
    m->in_flight++;
    m->added_since_kick++;
    m->n_add++;
}

static void random_add(struct model *m)
{
    unsigned r = rt_prng_below(&m->p, 100);
    enum vq_add_mode mode;
    unsigned max_n, n, n_out;

    if (m->indirect)
        mode = r < 40 ? VQ_ADD_AUTO : r < 70 ? VQ_ADD_DIRECT : VQ_ADD_INDIRECT;
    else
        mode = r < 50 ? VQ_ADD_AUTO : r < 97 ? VQ_ADD_DIRECT : VQ_ADD_INDIRECT;
    /* No chain longer than Q, even indirect (2.7.5.3.1). */
    max_n = m->q < MAXSEG ? m->q : MAXSEG;
    n = rt_prng_range(&m->p, 1, max_n);
    n_out = rt_prng_below(&m->p, n + 1);
    do_add(m, mode, n_out, n - n_out);
}

static void do_kick(struct model *m)
{
    bool want, got;

    if (m->hostile_events && m->event_idx && rt_prng_chance(&m->p, 60))
        rt_set_avail_event(&m->e, (uint16_t)(m->avail_idx + 4 - rt_prng_below(&m->p, 14)));
    if (m->event_idx)
        want = vring_need_event(rt_avail_event(&m->e), m->avail_idx, m->kick_old);
    else /* nothing added since the last decision: nothing to kick for */
        want = m->added_since_kick > 0 && !(rt_used_flags(&m->e) & VIRTQ_USED_F_NO_NOTIFY);
    got = vqd_kick_prepare(&m->d);
    M_EQ(m, want, got, "kick: avail_event %u, used flags %#x, avail idx %u -> %u",
         rt_avail_event(&m->e), rt_used_flags(&m->e), m->kick_old, m->avail_idx);
    m->n_kick[got]++;
    m->kick_old = m->avail_idx;
    m->added_since_kick = 0;
}

/* Checks a popped chain against the record it must be. */
static void check_chain(struct model *m, struct rec *r, const struct vq_chain *ch)
{
    struct vq_chain it = *ch;
    struct vq_buf b;
    uint8_t buf[MAXSEG * SEGLEN + 16], want[MAXSEG * SEGLEN];
    unsigned n = r->n_out + r->n_in, pos = 0;
    uint32_t off, len;
    int64_t got;

    M_EQ(m, r->head, ch->head, "popped head (FIFO order)");
    M_EQ(m, r->out_total, ch->out_bytes, "out_bytes");
    M_EQ(m, r->capacity, ch->in_bytes, "in_bytes");
    M_EQ(m, r->n_out, ch->out_count, "out_count");
    M_EQ(m, r->n_in, ch->in_count, "in_count");
    for (unsigned i = 0; i < n; i++) {
        M_EQ(m, 1, vq_chain_next(&it, &b), "buffer %u of %u", i, n);
        M_EQ(m, r->seg[i].gpa, b.gpa, "buffer %u gpa", i);
        M_EQ(m, r->seg[i].len, b.len, "buffer %u len", i);
        M_EQ(m, i >= r->n_out, b.writable, "buffer %u writable", i);
    }
    M_EQ(m, 0, vq_chain_next(&it, &b), "chain end after %u buffers", n);

    for (unsigned i = 0; i < r->n_out; i++)
        for (unsigned j = 0; j < r->seg[i].len; j++)
            want[pos++] = rbyte(r->serial, i, j);
    off = rt_prng_below(&m->p, r->out_total + 1);
    len = rt_prng_below(&m->p, r->out_total - off + 16);
    memset(buf, 0, sizeof buf);
    got = vq_chain_read(ch, off, buf, len);
    M_EQ(m, len < r->out_total - off ? len : r->out_total - off, got, "read(%u, %u) of %u readable bytes",
         off, len, r->out_total);
    M_TRUE(m, memcmp(buf, want + off, (size_t)got) == 0, "read(%u, %u) data", off, len);
}

static void do_pop(struct model *m)
{
    struct vq_chain ch;
    int rc = vqdev_pop(&m->v, &ch);
    uint32_t k;
    struct rec *r;

    if (m->av_n == 0) {
        M_EQ(m, 0, rc, "pop with nothing available");
        return;
    }
    M_EQ(m, 1, rc, "pop with %u chains available", m->av_n);
    k = m->avail[m->av_first];
    r = &m->rec[k];
    check_chain(m, r, &ch);
    if (rt_prng_chance(&m->p, 5)) {
        vqdev_unpop(&m->v);
        M_TRUE(m, vqdev_has_avail(&m->v), "unpop made the chain unavailable");
        memset(&ch, 0, sizeof ch);
        M_EQ(m, 1, vqdev_pop(&m->v, &ch), "pop after unpop");
        M_EQ(m, r->head, ch.head, "pop after unpop returns the same head");
    }
    r->chain = ch;
    r->state = R_POPPED;
    m->av_first = (m->av_first + 1) % m->q;
    m->av_n--;
    m->popped[m->n_popped++] = k;
    m->last_avail++;
}

/* Device completes popped chain number i (of m->popped). */
static void do_push(struct model *m, uint32_t i)
{
    uint32_t k = m->popped[i];
    struct rec *r = &m->rec[k];
    uint8_t src[MAXSEG * SEGLEN];
    uint32_t first;
    uint32_t id, len;

    r->written = rt_prng_below(&m->p, r->capacity + 1);
    for (unsigned j = 0; j < r->written; j++)
        src[j] = wbyte(r->serial, j);
    /* In one or two writes. */
    first = rt_prng_below(&m->p, r->written + 1);
    M_EQ(m, first, vq_chain_write(&r->chain, 0, src, first), "write %u bytes at 0", first);
    M_EQ(m, r->written - first, vq_chain_write(&r->chain, first, src + first, r->written - first),
         "write %u bytes at %u", r->written - first, first);
    r->used_len = r->written;
    if (rt_prng_chance(&m->p, 3))
        r->used_len += rt_prng_range(&m->p, 1, 1000); /* a device may claim more */
    M_ERR(m, RING_OK, vqdev_push(&m->v, r->head, r->used_len), "push head %u", r->head);
    rt_used_elem(&m->e, m->used_idx, &id, &len);
    M_EQ(m, r->head, id, "used elem id at used idx %u", m->used_idx);
    M_EQ(m, r->used_len, len, "used elem len at used idx %u", m->used_idx);
    m->used_idx++;
    m->popped[i] = m->popped[--m->n_popped];
    m->used[(m->us_first + m->us_n++) % m->q] = k;
    r->state = R_USED;
    m->pushes_since_sig++;
}

static void random_push(struct model *m)
{
    if (m->n_popped == 0) {
        M_ERR(m, RING_E_USED_OVERFLOW, vqdev_push(&m->v, 0, 0), "push with nothing popped");
        return;
    }
    do_push(m, rt_prng_below(&m->p, m->n_popped));
}

static void do_interrupt(struct model *m)
{
    bool got;
    uint16_t ue;

    if (m->pushes_since_sig == 0)
        return;
    if (m->hostile_events && m->event_idx && rt_prng_chance(&m->p, 60))
        rt_set_used_event(&m->e, (uint16_t)(m->used_idx + 4 - rt_prng_below(&m->p, 14)));
    ue = rt_used_event(&m->e);
    got = vqdev_should_interrupt(&m->v);
    if (!m->event_idx) {
        M_EQ(m, !(rt_avail_flags(&m->e) & VIRTQ_AVAIL_F_NO_INTERRUPT), got,
             "interrupt: avail flags %#x", rt_avail_flags(&m->e));
    } else if (m->sig_valid) {
        M_EQ(m, vring_need_event(ue, m->used_idx, m->sig_old), got,
             "interrupt: used_event %u, used idx %u -> %u", ue, m->sig_old, m->used_idx);
    } else if (vring_need_event(ue, m->used_idx, 0)) {
        /* First decision since init/reset: the entries 0.. were written. */
        M_EQ(m, true, got, "first interrupt decision: used_event %u, used idx 0 -> %u", ue, m->used_idx);
    }
    m->n_irq[got]++;
    m->sig_old = m->used_idx;
    m->sig_valid = true;
    m->pushes_since_sig = 0;
}

static void do_get_used(struct model *m)
{
    struct vq_used_entry u;
    int rc;
    uint32_t k;
    struct rec *r;
    unsigned pos = 0;

    memset(&u, 0, sizeof u);
    rc = vqd_get_used(&m->d, &u);
    if (m->us_n == 0) {
        M_EQ(m, 0, rc, "get_used with nothing used");
        return;
    }
    M_EQ(m, 1, rc, "get_used with %u used entries", m->us_n);
    k = m->used[m->us_first];
    r = &m->rec[k];
    M_TRUE(m, u.token == r, "get_used token %p (rec %u), expected rec %u (push order)", u.token,
           u.token ? rec_index(m, u.token) : 9999, k);
    M_EQ(m, r->used_len, u.len, "used len");
    M_EQ(m, r->capacity, u.capacity, "capacity");
    /* What the device wrote arrived in the writable segments, in order. */
    for (unsigned i = r->n_out; i < r->n_out + r->n_in && pos < r->written; i++) {
        const uint8_t *b = rt_host(&m->e, r->seg[i].gpa, r->seg[i].len);
        for (unsigned j = 0; j < r->seg[i].len && pos < r->written; j++, pos++)
            M_EQ(m, wbyte(r->serial, pos), b[j], "written byte %u of chain %u", pos, k);
    }
    for (unsigned i = 0; i < r->ndesc; i++)
        m->owner[r->desc[i]] = -1;
    m->num_free += r->ndesc;
    m->in_flight--;
    m->us_first = (m->us_first + 1) % m->q;
    m->us_n--;
    m->last_used++;
    r->state = R_FREE;
    m->n_get++;
}

static void do_cb(struct model *m)
{
    unsigned r = rt_prng_below(&m->p, 3);

    if (r == 0) {
        vqd_disable_cb(&m->d);
        if (!m->event_idx)
            M_TRUE(m, rt_avail_flags(&m->e) & VIRTQ_AVAIL_F_NO_INTERRUPT, "disable_cb");
    } else if (r == 1) {
        bool got = vqd_enable_cb(&m->d);
        M_EQ(m, m->us_n == 0, got, "enable_cb with %u used pending", m->us_n);
        if (!m->event_idx)
            M_EQ(m, 0, rt_avail_flags(&m->e) & VIRTQ_AVAIL_F_NO_INTERRUPT, "enable_cb");
        else
            M_EQ(m, m->last_used, rt_used_event(&m->e), "enable_cb used_event");
    } else {
        bool got = vqd_enable_cb_delayed(&m->d);
        if (!m->event_idx) {
            M_EQ(m, m->us_n == 0, got, "enable_cb_delayed with %u used pending", m->us_n);
            M_EQ(m, 0, rt_avail_flags(&m->e) & VIRTQ_AVAIL_F_NO_INTERRUPT, "enable_cb_delayed");
        } else {
            uint16_t bufs = (uint16_t)(rt_used_event(&m->e) - m->last_used);
            uint32_t q34 = m->in_flight * 3 / 4;
            M_TRUE(m, (uint32_t)bufs + 1 >= q34 && bufs <= q34 + 1,
                   "enable_cb_delayed: used_event %u is last_used %u + %u, in flight %u",
                   rt_used_event(&m->e), m->last_used, bufs, m->in_flight);
            if (m->us_n == 0)
                M_EQ(m, true, got, "enable_cb_delayed with nothing pending");
            else if (m->us_n > bufs)
                M_EQ(m, false, got, "enable_cb_delayed with %u pending past used_event", m->us_n);
        }
    }
}

static void do_notify(struct model *m)
{
    if (rt_prng_chance(&m->p, 50)) {
        vqdev_disable_notify(&m->v);
        if (!m->event_idx)
            M_TRUE(m, rt_used_flags(&m->e) & VIRTQ_USED_F_NO_NOTIFY, "disable_notify");
    } else {
        bool got = vqdev_enable_notify(&m->v);
        M_EQ(m, m->av_n == 0, got, "enable_notify with %u chains available", m->av_n);
        if (!m->event_idx)
            M_EQ(m, 0, rt_used_flags(&m->e) & VIRTQ_USED_F_NO_NOTIFY, "enable_notify");
        else if (m->av_n == 0)
            M_EQ(m, m->last_avail, rt_avail_event(&m->e), "enable_notify avail_event");
    }
}

struct detach_log {
    struct model *m;
    uint32_t order[VIRTQ_MAX_SIZE];
    uint32_t n;
};

static void detach_cb(void *token, void *ctx)
{
    struct detach_log *l = ctx;

    M_TRUE(l->m, l->n < l->m->q, "detach called more than Q times");
    l->order[l->n++] = rec_index(l->m, token);
}

static void do_reset(struct model *m)
{
    static struct detach_log log;
    uint32_t n = 0;

    log.m = m;
    log.n = 0;
    vqd_reset(&m->d, detach_cb, &log);
    for (uint16_t h = 0; h < m->q; h++)
        for (uint32_t k = 0; k < m->q; k++)
            if (m->rec[k].state != R_FREE && m->rec[k].head == h) {
                M_TRUE(m, n < log.n, "reset detached %u chains, %u in flight", log.n, m->in_flight);
                M_EQ(m, k, log.order[n], "detach #%u: expected the chain at head %u", n, h);
                n++;
            }
    M_EQ(m, m->in_flight, log.n, "reset must detach every chain in flight once");
    vqdev_reset(&m->v);
    rt_zero_used(&m->e);
    M_EQ(m, 0, rt_avail_idx(&m->e), "avail idx after reset");
    M_EQ(m, 0, rt_avail_flags(&m->e), "avail flags after reset");
    for (uint32_t k = 0; k < m->q; k++) {
        m->rec[k].state = R_FREE;
        m->owner[k] = -1;
    }
    m->av_first = m->av_n = m->n_popped = m->us_first = m->us_n = 0;
    m->num_free = m->q;
    m->in_flight = 0;
    m->avail_idx = m->last_avail = m->used_idx = m->last_used = 0;
    m->kick_old = 0;
    m->added_since_kick = 0;
    m->sig_valid = false;
    m->sig_old = 0;
    m->pushes_since_sig = 0;
    m->n_reset++;
}

/* One random operation. */
static void random_step(struct model *m)
{
    unsigned r = rt_prng_below(&m->p, 100);

    if (rt_prng_below(&m->p, 5000) == 0 && !m->no_reset)
        do_reset(m);
    else if (r < 28)
        random_add(m);
    else if (r < 36)
        do_kick(m);
    else if (r < 58)
        do_pop(m);
    else if (r < 76)
        random_push(m);
    else if (r < 92)
        do_get_used(m);
    else if (r < 96)
        do_interrupt(m);
    else if (r < 98)
        do_cb(m);
    else
        do_notify(m);
    check_invariants(m);
    m->step++;
}

/* Moves every index forward to target with one-chain cycles, checking every
 * decision along the way. */
static void fast_forward(struct model *m, uint16_t target)
{
    while (m->avail_idx != target) {
        do_add(m, VQ_ADD_DIRECT, 0, 1);
        do_kick(m);
        do_pop(m);
        do_push(m, 0);
        do_interrupt(m);
        do_get_used(m);
        check_invariants(m);
        m->step++;
    }
}

static void run(uint32_t q, uint64_t seed, bool event_idx, bool indirect, unsigned long steps)
{
    struct model *m = calloc(1, sizeof *m);

    T_TRUE(m != NULL, "calloc");
    model_init(m, q, seed, event_idx, indirect);
    while (m->step < steps)
        random_step(m);
    /* Drain: everything completes and comes back exactly once. */
    while (m->av_n > 0)
        do_pop(m);
    while (m->n_popped > 0)
        do_push(m, 0);
    while (m->us_n > 0)
        do_get_used(m);
    check_invariants(m);
    M_EQ(m, q, m->num_free, "drained");
    /* The run exercised what it claims to. */
    M_TRUE(m, m->n_get > steps / 50, "only %lu chains completed", m->n_get);
    M_TRUE(m, m->n_kick[0] > 0 && m->n_kick[1] > 0, "kicks: %lu no, %lu yes", m->n_kick[0], m->n_kick[1]);
    M_TRUE(m, m->n_irq[1] > 0, "interrupts: %lu no, %lu yes", m->n_irq[0], m->n_irq[1]);
    M_TRUE(m, m->n_full > 0, "the queue was never full");
    M_TRUE(m, !indirect || m->n_indirect > 0, "no indirect chain was added");
    model_fini(m);
    free(m);
}

static void run_seeds(uint32_t q)
{
    static const uint64_t seeds[] = {1, 2, 3, 4};

    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        run(q, seeds[i] * 1000003u + q, i & 1, (i >> 1) & 1, 20000);
}

RT_TC(model_q1, "randomized run against the reference model, Q=1, four seeds");
ATF_TC_BODY(model_q1, tc) { run_seeds(1); }

RT_TC(model_q2, "randomized run against the reference model, Q=2, four seeds");
ATF_TC_BODY(model_q2, tc) { run_seeds(2); }

RT_TC(model_q16, "randomized run against the reference model, Q=16, four seeds");
ATF_TC_BODY(model_q16, tc) { run_seeds(16); }

RT_TC(model_q256, "randomized run against the reference model, Q=256, four seeds");
ATF_TC_BODY(model_q256, tc) { run_seeds(256); }

/* Indices driven across 65535 -> 0, then a random run with the test moving
 * avail_event / used_event around the current indices. */
static void run_wrap(uint32_t q, uint64_t seed, bool event_idx)
{
    struct model *m = calloc(1, sizeof *m);

    T_TRUE(m != NULL, "calloc");
    model_init(m, q, seed, event_idx, true);
    fast_forward(m, (uint16_t)(65536 - 40 - q));
    m->hostile_events = true;
    m->no_reset = true;
    while ((m->avail_idx >= 0x8000 || m->used_idx >= 0x8000 || m->step < 80000) && m->step < 200000)
        random_step(m);
    M_TRUE(m, m->used_idx < 0x8000 && m->avail_idx < 0x8000, "indices did not wrap: avail %u used %u",
           m->avail_idx, m->used_idx);
    if (event_idx)
        M_TRUE(m, m->n_kick[0] > 0 && m->n_kick[1] > 0 && m->n_irq[0] > 0 && m->n_irq[1] > 0,
               "decisions: kick %lu/%lu irq %lu/%lu", m->n_kick[0], m->n_kick[1], m->n_irq[0],
               m->n_irq[1]);
    model_fini(m);
    free(m);
}

RT_TC(model_wrap_event_idx, "EVENT_IDX kick and interrupt decisions across 65535 -> 0 match vring_need_event");
ATF_TC_BODY(model_wrap_event_idx, tc)
{
    run_wrap(8, 11, true);
    run_wrap(2, 12, true);
    run_wrap(64, 13, true);
}

RT_TC(model_wrap_flags, "flag-based kick and interrupt decisions across 65535 -> 0");
ATF_TC_BODY(model_wrap_flags, tc)
{
    run_wrap(8, 21, false);
    run_wrap(1, 22, false);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, model_q1);
    ATF_TP_ADD_TC(tp, model_q2);
    ATF_TP_ADD_TC(tp, model_q16);
    ATF_TP_ADD_TC(tp, model_q256);
    ATF_TP_ADD_TC(tp, model_wrap_event_idx);
    ATF_TP_ADD_TC(tp, model_wrap_flags);
    return atf_no_error();
}
