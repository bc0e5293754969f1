/* The hostile-device harness: our driver (driver/) against a device written
 * by hand from the input. The device offers features and a config CID of
 * the input's choosing (changing it at any time), completes chains with
 * arbitrary used ids and lengths, writes arbitrary packets into rx buffers
 * and arbitrary event ids, rewrites the used ring raw, and interrupts at
 * will; guest applications use the driver's sockets. Oracles after each
 * operation, beyond ASan and UBSan:
 *   - the driver wrote only its descriptor tables, avail rings and arena
 *     (never a used ring, which is the device's);
 *   - each queue's bookkeeping holds: chains in flight plus free
 *     descriptors never exceed the queue size;
 *   - the guest CID in use is never a reserved one;
 *   - memory the driver keeps is bounded: sockets, replies, received bytes
 *     per connection (credit). */
#include "fuzz/fuzz_ring.h"

#include "driver/driver.h"

#include <stdlib.h>
#include <string.h>

#define D_MAX_OPS 256u
#define D_MAX_SOCKETS 16u
#define D_MAX_REPLIES 8u
#define D_BUF_ALLOC 4096u
#define D_ARENA_OFF 0x1000u

struct hdev {
    struct fuzz_mem m;
    struct fuzz_hand q[VSOCK_VQ_COUNT]; /* layouts; the driver owns desc and avail */
    uint16_t last_avail[VSOCK_VQ_COUNT];
    uint16_t used_idx[VSOCK_VQ_COUNT];
    uint64_t cid;
    uint64_t arena_bytes;
    struct vdrv *drv;
    struct vep *guest;
    uint64_t now;
    uint8_t *before;
    uint8_t *allowed;
    struct fuzz_report *rep;
    uint8_t scratch[1024];
};

static uint64_t read_cid(void *ctx)
{
    return ((const struct hdev *)ctx)->cid;
}

static uint64_t pick_cid(struct fuzz_in *in)
{
    static const uint64_t cids[] = {3, 4, 0, 1, 2, 0xffffffffull, 0x100000003ull, 0xfffffffeull};
    uint8_t k = fuzz_u8(in);
    return k < 8 ? cids[k] : k < 128 ? 3u + (uint64_t)k : fuzz_u64(in);
}

static uint64_t pick_features(uint8_t b, struct fuzz_in *in)
{
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_VSOCK_F_STREAM);
    if (b & 0x01)
        f |= 1ull << VIRTIO_VSOCK_F_SEQPACKET;
    if (b & 0x02)
        f |= 1ull << VIRTIO_F_EVENT_IDX;
    if (b & 0x04)
        f |= 1ull << VIRTIO_F_INDIRECT_DESC;
    if (b & 0x08)
        f |= 1ull << VIRTIO_VSOCK_F_NO_IMPLIED_STREAM;
    if (b & 0x10)
        f = fuzz_u64(in); /* anything, VERSION_1 or not */
    return f;
}

static bool hdev_setup(struct hdev *d, struct fuzz_in *in)
{
    uint8_t b0 = fuzz_u8(in), b1 = fuzz_u8(in);
    uint32_t qsize = 1u << (b0 % 5);
    if (fuzz_mem_init(&d->m) < 0)
        return false;
    struct vdrv_cfg c = {.mem = &d->m.gm, .arena_gpa = FUZZ_MEM_GPA + D_ARENA_OFF,
                         .arena_size = FUZZ_MEM_SIZE - D_ARENA_OFF, .read_cid = read_cid,
                         .read_cid_ctx = d};
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++) {
        fuzz_hand_init(&d->q[q], &d->m, q, qsize);
        c.vq[q] = d->q[q].layout;
    }
    c.device_features = pick_features(b1, in);
    d->cid = (b0 & 0x80) ? pick_cid(in) : 3;
    c.rx_buf_size = (b0 & 0x40) ? VSOCK_HDR_LEN + fuzz_u8(in) : 256;
    c.tx_max_payload = (b0 & 0x20) ? 1u + fuzz_u8(in) : 256;
    c.rx_pause_replies = (b1 & 0x20) ? VDRV_RX_PAUSE_LINUX : (b1 >> 6);
    c.sockets = (struct vep_cfg){.max_sockets = D_MAX_SOCKETS, .max_replies = D_MAX_REPLIES,
                                 .buf_alloc = D_BUF_ALLOC, .max_sndbuf = 8192,
                                 .max_payload = 1024, .max_rx_payload = 1024};
    d->arena_bytes = vdrv_arena_bytes(&c);
    d->before = malloc(FUZZ_MEM_SIZE);
    d->allowed = malloc(FUZZ_MEM_SIZE);
    if (d->before == NULL || d->allowed == NULL)
        return false;
    int err;
    d->drv = vdrv_new(&c, &err);
    if (d->drv != NULL)
        d->guest = vdrv_sockets(d->drv);
    return true;
}

/* ---- oracles ------------------------------------------------------------------ */

static void before_driver(struct hdev *d)
{
    memcpy(d->before, d->m.ram, FUZZ_MEM_SIZE);
    memset(d->allowed, 0, FUZZ_MEM_SIZE);
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++) {
        const struct vring_layout *l = &d->q[q].layout;
        fuzz_mark(d->allowed, l->desc, vring_desc_bytes(l->num));
        fuzz_mark(d->allowed, l->avail, vring_avail_bytes(l->num));
    }
    fuzz_mark(d->allowed, FUZZ_MEM_GPA + D_ARENA_OFF, d->arena_bytes);
}

static void check_queues(struct hdev *d)
{
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++) {
        const struct vq_driver *v = vdrv_queue(d->drv, (enum vsock_vq)q);
        if (v->num_free + v->in_flight > v->num)
            fuzz_found(d->rep, "queue %u: %u descriptors free and %u chains in flight on a ring "
                       "of %u", q, v->num_free, v->in_flight, v->num);
    }
    uint64_t cid = vdrv_guest_cid(d->drv);
    if (cid <= VSOCK_CID_HOST || cid >= VSOCK_CID_ANY)
        fuzz_found(d->rep, "the driver uses reserved guest CID %llu", (unsigned long long)cid);
}

static void after_driver(struct hdev *d, const char *what, bool may_clear_rings)
{
    size_t off;
    if (!may_clear_rings &&
        fuzz_first_bad_write(d->before, d->m.ram, d->allowed, FUZZ_MEM_SIZE, &off))
        fuzz_found(d->rep, "driver (%s) wrote guest memory at 0x%llx, outside its rings and "
                   "arena", what, (unsigned long long)(FUZZ_MEM_GPA + off));
    check_queues(d);
}

static void check_bounds(struct hdev *d)
{
    struct vep_conn_info c[D_MAX_SOCKETS + 1];
    uint32_t n = vep_conns(d->guest, c, D_MAX_SOCKETS + 1);
    if (n > D_MAX_SOCKETS)
        fuzz_found(d->rep, "guest endpoint holds %u sockets, limit %u", n, D_MAX_SOCKETS);
    for (uint32_t i = 0; i < n && i <= D_MAX_SOCKETS; i++)
        if (c[i].rx_queued > c[i].buf_alloc)
            fuzz_found(d->rep, "guest fd %d holds %u received bytes, beyond its buf_alloc %u",
                       c[i].fd, c[i].rx_queued, c[i].buf_alloc);
    if (vep_tx_queued_replies(d->guest) > D_MAX_REPLIES)
        fuzz_found(d->rep, "guest endpoint queues %u replies, limit %u",
                   vep_tx_queued_replies(d->guest), D_MAX_REPLIES);
}

/* ---- the hand device ---------------------------------------------------------- */

/* The next available head of queue q (0xffff when none), taken. */
static uint32_t take_avail(struct hdev *d, unsigned q)
{
    struct fuzz_hand *h = &d->q[q];
    uint16_t idx = (uint16_t)fuzz_ld(h->avail + 2, 2);
    if (idx == d->last_avail[q])
        return 0xffff;
    uint32_t head = (uint32_t)fuzz_ld(h->avail + 4 + 2u * (d->last_avail[q] & (h->layout.num - 1)), 2);
    d->last_avail[q]++;
    return head;
}

static void push_used(struct hdev *d, unsigned q, uint32_t id, uint32_t len)
{
    struct fuzz_hand *h = &d->q[q];
    uint8_t *e = h->used + 4 + 8u * (d->used_idx[q] & (h->layout.num - 1));
    fuzz_st(e, id, 4);
    fuzz_st(e + 4, len, 4);
    d->used_idx[q]++;
    fuzz_st(h->used + 2, d->used_idx[q], 2);
}

/* Guest memory a descriptor points at, clipped to the region (NULL if none). */
static uint8_t *desc_buf(struct hdev *d, unsigned q, uint32_t head, uint32_t *len)
{
    struct fuzz_hand *h = &d->q[q];
    if (head >= h->layout.num)
        return NULL;
    const uint8_t *de = h->desc + 16u * head;
    uint64_t addr = fuzz_ld(de, 8);
    *len = (uint32_t)fuzz_ld(de + 8, 4);
    if (addr < FUZZ_MEM_GPA || addr >= FUZZ_MEM_GPA + FUZZ_MEM_SIZE)
        return NULL;
    uint64_t room = FUZZ_MEM_GPA + FUZZ_MEM_SIZE - addr;
    if (*len > room)
        *len = (uint32_t)room;
    return d->m.ram + (addr - FUZZ_MEM_GPA);
}

static void fill_rx(struct hdev *d, struct fuzz_in *in)
{
    uint32_t head = take_avail(d, VSOCK_VQ_RX), cap = 0;
    uint8_t shape = fuzz_u8(in);
    uint8_t *buf = desc_buf(d, VSOCK_VQ_RX, head, &cap);
    uint32_t payload = fuzz_u16(in) % 1024u;
    struct vsock_hdr h = {.src_cid = VSOCK_CID_HOST, .dst_cid = vdrv_guest_cid(d->drv),
                          .src_port = 1024u + fuzz_u8(in) % 4u, .dst_port = 1024u + fuzz_u8(in) % 4u,
                          .len = payload, .type = (uint16_t)(1 + fuzz_u8(in) % 2u),
                          .op = (uint16_t)(fuzz_u8(in) % 9u), .flags = fuzz_u8(in) % 4u,
                          .buf_alloc = 65536, .fwd_cnt = fuzz_u16(in)};
    if (shape & 0x01)
        h.src_cid = fuzz_u64(in);
    if (shape & 0x02)
        h.dst_cid = fuzz_u64(in);
    if (shape & 0x04)
        h.len = fuzz_u32(in);
    if (shape & 0x08)
        h.buf_alloc = fuzz_u32(in);
    uint8_t raw[VSOCK_HDR_LEN + 1024];
    vsock_hdr_encode(&h, raw);
    memset(raw + VSOCK_HDR_LEN, 0x3c, payload);
    uint32_t n = VSOCK_HDR_LEN + payload;
    if (buf != NULL)
        memcpy(buf, raw, n < cap ? n : cap);
    uint32_t used_len = (shape & 0x10) ? fuzz_u32(in) : n;
    push_used(d, VSOCK_VQ_RX, head == 0xffff ? fuzz_u16(in) : head, used_len);
}

static void complete(struct hdev *d, unsigned q, struct fuzz_in *in)
{
    uint8_t shape = fuzz_u8(in);
    uint32_t head = take_avail(d, q);
    if (head == 0xffff || (shape & 1))
        head = fuzz_u16(in) % 32u; /* a head that may not be in flight */
    uint32_t len = 0, cap = 0;
    if (q == VSOCK_VQ_EVENT) {
        uint8_t *buf = desc_buf(d, q, head, &cap);
        uint32_t id = (shape & 2) ? fuzz_u32(in) : VSOCK_EVENT_TRANSPORT_RESET;
        if (buf != NULL && cap >= 4)
            fuzz_st(buf, id, 4);
        len = 4;
    }
    if (shape & 4)
        len = fuzz_u32(in);
    push_used(d, q, head, len);
}

/* ---- operations ------------------------------------------------------------------- */

enum d_op {
    D_WRITE, D_FILL_RX, D_TX_DONE, D_EVENT, D_USED_IDX, D_IRQ_RX, D_IRQ_TX, D_IRQ_EVENT,
    D_IRQ_ALL, D_TICK, D_SET_CID, D_RESET, D_LISTEN, D_CONNECT, D_SEND, D_RECV, D_CLOSE,
    D_OP_COUNT
};

static void guest_app(struct hdev *d, enum d_op op, struct fuzz_in *in)
{
    uint32_t port = 1024u + fuzz_u8(in) % 4u;
    int fd = fuzz_u8(in) % (D_MAX_SOCKETS + 2);
    int type = (fuzz_u8(in) & 1) ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM;
    unsigned fl;
    size_t len = fuzz_u16(in) % sizeof(d->scratch);
    switch (op) {
    case D_LISTEN: {
        int s = vep_socket(d->guest, type);
        if (s >= 0 && (vep_bind(d->guest, s, port) < 0 || vep_listen(d->guest, s, 2) < 0))
            vep_close(d->guest, s, d->now);
        (void)vep_accept(d->guest, fd, NULL, NULL);
        return;
    }
    case D_CONNECT: {
        int s = vep_socket(d->guest, type);
        if (s >= 0)
            (void)vep_connect(d->guest, s, VSOCK_CID_HOST, port, d->now);
        return;
    }
    case D_SEND:
        memset(d->scratch, 0x77, len);
        (void)vep_send(d->guest, fd, d->scratch, len, (len & 1) ? VEP_MSG_EOR : 0);
        return;
    case D_RECV:
        (void)vep_recv(d->guest, fd, d->scratch, len, 0, &fl);
        return;
    default:
        if (len & 1)
            (void)vep_shutdown(d->guest, fd, (int)(len % 3));
        else
            (void)vep_close(d->guest, fd, d->now);
        return;
    }
}

static void driver_call(struct hdev *d, enum d_op op, struct fuzz_in *in)
{
    static const char *const names[] = {
        [D_IRQ_RX] = "rx interrupt", [D_IRQ_TX] = "tx interrupt",
        [D_IRQ_EVENT] = "event interrupt", [D_IRQ_ALL] = "interrupt", [D_TICK] = "tick",
        [D_RESET] = "device reset", [D_LISTEN] = "socket call", [D_CONNECT] = "socket call",
        [D_SEND] = "socket call", [D_RECV] = "socket call", [D_CLOSE] = "socket call"};
    before_driver(d);
    switch (op) {
    case D_IRQ_RX: vdrv_handle_rx(d->drv, d->now); break;
    case D_IRQ_TX: vdrv_handle_tx(d->drv, d->now); break;
    case D_IRQ_EVENT: vdrv_handle_event(d->drv, d->now); break;
    case D_IRQ_ALL: vdrv_interrupt(d->drv, d->now); break;
    case D_TICK:
        d->now += (uint64_t)fuzz_u16(in) * 100000u;
        vdrv_tick(d->drv, d->now);
        break;
    case D_RESET:
        vdrv_device_reset(d->drv, d->now);
        memset(d->last_avail, 0, sizeof(d->last_avail));
        memset(d->used_idx, 0, sizeof(d->used_idx));
        break;
    default:
        guest_app(d, op, in);
        vdrv_handle_tx(d->drv, d->now); /* the guest's send worker */
        break;
    }
    (void)vdrv_take_kicks(d->drv);
    after_driver(d, names[op], op == D_RESET);
}

static void hdev_op(struct hdev *d, struct fuzz_in *in)
{
    enum d_op op = (enum d_op)(fuzz_u8(in) % D_OP_COUNT);
    switch (op) {
    case D_WRITE: fuzz_mem_write(&d->m, in, NULL, NULL); break;
    case D_FILL_RX: fill_rx(d, in); break;
    case D_TX_DONE: complete(d, VSOCK_VQ_TX, in); break;
    case D_EVENT: complete(d, VSOCK_VQ_EVENT, in); break;
    case D_USED_IDX: {
        unsigned q = fuzz_u8(in) % VSOCK_VQ_COUNT;
        d->used_idx[q] = fuzz_u16(in);
        fuzz_st(d->q[q].used + 2, d->used_idx[q], 2);
        break;
    }
    case D_SET_CID: d->cid = pick_cid(in); break;
    default: driver_call(d, op, in); break;
    }
    check_bounds(d);
}

void fuzz_device_one(const uint8_t *data, size_t len, struct fuzz_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    if (len > FUZZ_DEVICE_MAX_LEN) {
        rep->outcome = FUZZ_NOTHING;
        return;
    }
    struct fuzz_in in;
    fuzz_in_init(&in, data, len);
    struct hdev *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        fuzz_found(rep, "out of memory");
        return;
    }
    d->rep = rep;
    if (!hdev_setup(d, &in))
        fuzz_found(rep, "device harness: setup failed (out of memory)");
    for (unsigned i = 0; d->drv != NULL && i < D_MAX_OPS && !fuzz_in_done(&in) &&
                         rep->outcome == FUZZ_OK; i++)
        hdev_op(d, &in);
    vdrv_free(d->drv);
    fuzz_mem_free(&d->m);
    free(d->before);
    free(d->allowed);
    free(d);
}
