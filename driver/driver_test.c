/*
 * driver/ tests: the driver against a hand-written device that works the
 * rings through the device half (vqdev_*) directly, so every packet, chain
 * shape, used entry and event can be chosen (or made hostile) by the test.
 */
#include <atf-c.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"

/* ---- requirements -------------------------------------------------------------- */

#define D_EQ(expected, actual)                                                          \
    do {                                                                                \
        unsigned long long d_e_ = (unsigned long long)(expected);                       \
        unsigned long long d_a_ = (unsigned long long)(actual);                         \
        if (d_e_ != d_a_)                                                               \
            atf_tc_fail_requirement(__FILE__, __LINE__,                                 \
                                    "%s: expected %lld (%#llx), got %lld (%#llx)",      \
                                    #actual, (long long)d_e_, d_e_, (long long)d_a_,    \
                                    d_a_);                                              \
    } while (0)

#define D_TRUE(cond) ATF_REQUIRE_MSG((cond), "%s", #cond)

#define TC(name, descr)                                                                 \
    ATF_TC(name);                                                                       \
    ATF_TC_HEAD(name, tc) { atf_tc_set_md_var(tc, "descr", descr); }                    \
    ATF_TC_BODY(name, tc)

#define RX VSOCK_VQ_RX
#define TX VSOCK_VQ_TX
#define EV VSOCK_VQ_EVENT

#define F(bit) (1ull << (bit))
#define ALL_FEATURES                                                                    \
    (F(VIRTIO_F_VERSION_1) | F(VIRTIO_VSOCK_F_STREAM) | F(VIRTIO_VSOCK_F_SEQPACKET) |   \
     F(VIRTIO_VSOCK_F_NO_IMPLIED_STREAM) | F(VIRTIO_F_EVENT_IDX) |                      \
     F(VIRTIO_F_INDIRECT_DESC))
#define PLAIN_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_VSOCK_F_STREAM))

#define SEC 1000000000ull

/* ---- the harness ------------------------------------------------------------------ */

#define RAM_GPA 0x100000ull
#define RAM_SIZE (8ull << 20)
#define GUEST_CID 3u
#define MAX_PAYLOAD 8192u

struct harness {
    uint8_t *ram;
    struct gmem mem;
    struct vdrv_cfg cfg;
    struct vdrv *drv;
    struct vq_device dq[VSOCK_VQ_COUNT];
    uint64_t cid; /* what config space says */
    unsigned cid_reads;
    uint64_t now;
};

static uint64_t read_cid(void *ctx)
{
    struct harness *h = ctx;
    h->cid_reads++;
    return h->cid;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* Defaults: rx 8, tx 8, event 4, every feature offered, CID 3. Tests change
 * h->cfg before h_start. */
static void h_setup(struct harness *h)
{
    memset(h, 0, sizeof(*h));
    h->ram = aligned_alloc(4096, RAM_SIZE);
    ATF_REQUIRE(h->ram != NULL);
    memset(h->ram, 0, RAM_SIZE);
    gmem_init(&h->mem);
    D_EQ(RING_OK, gmem_add_region(&h->mem, RAM_GPA, RAM_SIZE, h->ram));
    h->cid = GUEST_CID;
    h->now = 1000;
    h->cfg.mem = &h->mem;
    h->cfg.vq[RX].num = 8;
    h->cfg.vq[TX].num = 8;
    h->cfg.vq[EV].num = 4;
    h->cfg.device_features = ALL_FEATURES;
    h->cfg.read_cid = read_cid;
    h->cfg.read_cid_ctx = h;
}

/* Rings first, then the arena on the next page, to the end of RAM. */
static void h_layout(struct harness *h)
{
    uint64_t base = RAM_GPA;
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        uint64_t bytes = vring_layout_contiguous(&h->cfg.vq[q], h->cfg.vq[q].num, base, 4);
        if (bytes == 0) { /* invalid size on purpose: keep a layout anyway */
            h->cfg.vq[q].desc = base;
            h->cfg.vq[q].avail = base + 16ull * 64;
            h->cfg.vq[q].used = base + 32ull * 64;
            bytes = 64ull * 64;
        }
        base = align_up(base + bytes, 64);
    }
    h->cfg.arena_gpa = align_up(base, 4096);
    h->cfg.arena_size = RAM_GPA + RAM_SIZE - h->cfg.arena_gpa;
}

static int h_try_start(struct harness *h)
{
    int err = 12345;
    h_layout(h);
    h->drv = vdrv_new(&h->cfg, &err);
    D_TRUE((err == 0) == (h->drv != NULL));
    return err;
}

static void h_devq_init(struct harness *h)
{
    uint64_t f = vdrv_features(h->drv);
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        struct vq_device_cfg dc = {.layout = h->cfg.vq[q],
                                   .event_idx = (f & F(VIRTIO_F_EVENT_IDX)) != 0,
                                   .indirect = (f & F(VIRTIO_F_INDIRECT_DESC)) != 0};
        D_EQ(RING_OK, vqdev_init(&h->dq[q], &h->mem, &dc));
    }
}

static void h_start(struct harness *h)
{
    D_EQ(0, h_try_start(h));
    h_devq_init(h);
}

static void h_fini(struct harness *h)
{
    vdrv_free(h->drv);
    free(h->ram);
    h->drv = NULL;
    h->ram = NULL;
}

static struct vep *EP(struct harness *h)
{
    return vdrv_sockets(h->drv);
}

static const struct vdrv_counters *CTR(struct harness *h)
{
    return vdrv_counters(h->drv);
}

static uint64_t vep_drops(struct harness *h, enum vep_drop d)
{
    return vep_counters(EP(h))->drops[d];
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- the device side ------------------------------------------------------------ */

static void irq(struct harness *h)
{
    vdrv_interrupt(h->drv, h->now);
}

/* Pops the next rx buffer, writes n bytes into it and completes it with
 * used_len (which a hostile device may make anything). */
static uint16_t dev_rx_raw(struct harness *h, const uint8_t *bytes, uint32_t n, uint32_t used_len)
{
    struct vq_chain c;
    D_EQ(1, vqdev_pop(&h->dq[RX], &c));
    if (n > 0)
        D_EQ(n, vq_chain_write(&c, 0, bytes, n));
    D_EQ(RING_OK, vqdev_push(&h->dq[RX], c.head, used_len));
    return c.head;
}

static void dev_rx(struct harness *h, const struct vsock_hdr *hdr, const void *payload,
                   uint32_t len)
{
    static uint8_t buf[VSOCK_HDR_LEN + MAX_PAYLOAD];
    D_TRUE(len <= MAX_PAYLOAD);
    vsock_hdr_encode(hdr, buf);
    if (len > 0)
        memcpy(buf + VSOCK_HDR_LEN, payload, len);
    dev_rx_raw(h, buf, VSOCK_HDR_LEN + len, VSOCK_HDR_LEN + len);
}

struct txpkt {
    struct vsock_hdr hdr;
    uint8_t payload[MAX_PAYLOAD];
    uint32_t plen;
    uint16_t head;
    uint32_t out_count;
    bool indirect;
};

/* Pops one tx chain and decodes it without completing it. */
static bool dev_tx_pop(struct harness *h, struct txpkt *p)
{
    struct vq_chain c;
    int r = vqdev_pop(&h->dq[TX], &c);
    ATF_REQUIRE_MSG(r >= 0, "tx pop: ring error %d", r);
    if (r == 0)
        return false;
    D_EQ(0, c.in_count);
    D_TRUE(c.out_bytes >= VSOCK_HDR_LEN);
    uint8_t raw[VSOCK_HDR_LEN];
    D_EQ(VSOCK_HDR_LEN, vq_chain_read(&c, 0, raw, VSOCK_HDR_LEN));
    vsock_hdr_decode(raw, &p->hdr);
    p->plen = c.out_bytes - VSOCK_HDR_LEN;
    D_TRUE(p->plen <= MAX_PAYLOAD);
    if (p->plen > 0)
        D_EQ(p->plen, vq_chain_read(&c, VSOCK_HDR_LEN, p->payload, p->plen));
    p->head = c.head;
    p->out_count = c.out_count;
    uint16_t flags = get_le16(h->dq[TX].desc + 16u * c.head + 12);
    p->indirect = (flags & VIRTQ_DESC_F_INDIRECT) != 0;
    return true;
}

static bool dev_tx(struct harness *h, struct txpkt *p)
{
    if (!dev_tx_pop(h, p))
        return false;
    D_EQ(RING_OK, vqdev_push(&h->dq[TX], p->head, 0));
    return true;
}

/* Completes every tx chain the driver offered, then interrupts. */
static unsigned dev_tx_drain(struct harness *h)
{
    static struct txpkt p;
    unsigned n = 0;
    while (dev_tx(h, &p))
        n++;
    irq(h);
    return n;
}

/* A used entry written by hand: any id, any len. */
static void dev_hand_push(struct harness *h, enum vsock_vq q, uint32_t id, uint32_t len)
{
    struct vq_device *d = &h->dq[q];
    uint8_t *elem = d->used + 4u + 8u * (d->used_idx & (d->num - 1));
    put_le32(elem, id);
    put_le32(elem + 4, len);
    d->used_idx++;
    put_le16(d->used + 2, d->used_idx);
}

static void dev_event(struct harness *h, uint32_t id, uint32_t used_len)
{
    uint8_t raw[4];
    put_le32(raw, id);
    struct vq_chain c;
    D_EQ(1, vqdev_pop(&h->dq[EV], &c));
    D_EQ(4, vq_chain_write(&c, 0, raw, 4));
    D_EQ(RING_OK, vqdev_push(&h->dq[EV], c.head, used_len));
    vdrv_handle_event(h->drv, h->now);
}

static struct vsock_hdr host_hdr(struct harness *h, uint16_t op, uint32_t sport, uint32_t dport)
{
    return (struct vsock_hdr){.src_cid = VSOCK_CID_HOST,
                              .dst_cid = h->cid,
                              .src_port = sport,
                              .dst_port = dport,
                              .type = VSOCK_TYPE_STREAM,
                              .op = op,
                              .buf_alloc = 256 * 1024};
}

static struct vsock_hdr reply_to(const struct vsock_hdr *in, uint16_t op)
{
    return (struct vsock_hdr){.src_cid = in->dst_cid,
                              .dst_cid = in->src_cid,
                              .src_port = in->dst_port,
                              .dst_port = in->src_port,
                              .type = in->type,
                              .op = op,
                              .buf_alloc = 256 * 1024};
}

/* A guest socket of type connected to host port hport. */
static int h_connect(struct harness *h, int type, uint32_t hport, struct vsock_hdr *req)
{
    struct vep *ep = EP(h);
    int fd = vep_socket(ep, type);
    D_TRUE(fd >= 0);
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, hport, h->now));
    vdrv_handle_tx(h->drv, h->now);
    static struct txpkt p;
    D_TRUE(dev_tx(h, &p));
    D_EQ(VSOCK_OP_REQUEST, p.hdr.op);
    struct vsock_hdr r = reply_to(&p.hdr, VSOCK_OP_RESPONSE);
    dev_rx(h, &r, NULL, 0);
    irq(h);
    D_EQ(VEP_SS_CONNECTED, vep_sock_state(ep, fd));
    if (req != NULL)
        *req = p.hdr;
    return fd;
}

static int h_listen(struct harness *h, uint32_t port)
{
    struct vep *ep = EP(h);
    int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_TRUE(fd >= 0);
    D_EQ(0, vep_bind(ep, fd, port));
    D_EQ(0, vep_listen(ep, fd, 16));
    return fd;
}

/* Pops every rx chain the driver offered, checking each is one writable
 * buffer; their GPAs go to gpas (sorted), the count is returned. */
static unsigned dev_rx_collect(struct harness *h, uint64_t *gpas, unsigned max)
{
    unsigned n = 0;
    struct vq_chain c;
    while (vqdev_pop(&h->dq[RX], &c) == 1) {
        D_EQ(1, c.in_count);
        D_EQ(0, c.out_count);
        struct vq_chain w = c;
        struct vq_buf b;
        D_EQ(1, vq_chain_next(&w, &b));
        D_TRUE(b.writable);
        D_TRUE(n < max);
        gpas[n++] = b.gpa;
    }
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && gpas[j - 1] > gpas[j]; j--) {
            uint64_t t = gpas[j];
            gpas[j] = gpas[j - 1];
            gpas[j - 1] = t;
        }
    return n;
}

/* ---- features and probe ------------------------------------------------------------ */

TC(features_subset, "features = offered & wanted & known; unknown offered bits are ignored")
{
    struct harness h;
    h_setup(&h);
    h.cfg.device_features = ALL_FEATURES | F(3) | F(30) | F(33) | F(40);
    h_start(&h);
    D_EQ(ALL_FEATURES, vdrv_features(h.drv));
    D_TRUE(vdrv_queue(h.drv, TX)->event_idx);
    D_TRUE(vdrv_queue(h.drv, TX)->indirect);
    h_fini(&h);
}

TC(features_driver_mask, "driver_features limits what is negotiated")
{
    struct harness h;
    h_setup(&h);
    h.cfg.driver_features = F(VIRTIO_F_VERSION_1) | F(VIRTIO_VSOCK_F_STREAM) | F(20);
    h_start(&h);
    D_EQ(F(VIRTIO_F_VERSION_1) | F(VIRTIO_VSOCK_F_STREAM), vdrv_features(h.drv));
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        D_TRUE(!vdrv_queue(h.drv, q)->event_idx);
        D_TRUE(!vdrv_queue(h.drv, q)->indirect);
    }
    D_TRUE(vdrv_queue(h.drv, VSOCK_VQ_COUNT) == NULL);
    h_fini(&h);
}

TC(features_no_version1, "a device without VERSION_1 (or a driver not wanting it) is -ENODEV")
{
    struct harness h;
    h_setup(&h);
    h.cfg.device_features = ALL_FEATURES & ~F(VIRTIO_F_VERSION_1);
    D_EQ(-ENODEV, h_try_start(&h));
    h.cfg.device_features = ALL_FEATURES;
    h.cfg.driver_features = F(VIRTIO_VSOCK_F_STREAM);
    D_EQ(-ENODEV, h_try_start(&h));
    h.cfg.device_features = 0;
    h.cfg.driver_features = 0;
    D_EQ(-ENODEV, h_try_start(&h));
    h_fini(&h);
}

TC(cid_reserved, "guest_cid 0, 1, 2 and 0xffffffff are -EINVAL")
{
    const uint64_t bad[] = {0, 1, 2, 0xffffffffull};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct harness h;
        h_setup(&h);
        h.cid = bad[i];
        D_EQ(-EINVAL, h_try_start(&h));
        D_EQ(1, h.cid_reads);
        h_fini(&h);
    }
}

TC(cid_upper_bits, "a guest_cid with any of the reserved upper 32 bits set is -EINVAL")
{
    const uint64_t bad[] = {(1ull << 32) | 5, 1ull << 63, UINT64_MAX, 0x100000000ull};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct harness h;
        h_setup(&h);
        h.cid = bad[i];
        D_EQ(-EINVAL, h_try_start(&h));
        h_fini(&h);
    }
}

TC(cid_valid_edges, "CIDs 3 and 0xfffffffe are accepted and used as the source CID")
{
    const uint64_t good[] = {3, 0xfffffffeull};
    for (unsigned i = 0; i < 2; i++) {
        struct harness h;
        h_setup(&h);
        h.cid = good[i];
        h_start(&h);
        D_EQ(good[i], vdrv_guest_cid(h.drv));
        D_EQ(good[i], vep_local_cid(EP(&h)));
        struct vsock_hdr req;
        h_connect(&h, VSOCK_TYPE_STREAM, 1234, &req);
        D_EQ(good[i], req.src_cid);
        h_fini(&h);
    }
}

TC(arena_bytes_formula, "vdrv_arena_bytes: rx + tx + event slots (16-aligned), tables with indirect")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[RX].num = 16;
    h.cfg.vq[TX].num = 8;
    h.cfg.vq[EV].num = 4;
    h.cfg.rx_buf_size = 1000; /* rounds up to 1008 */
    h.cfg.tx_max_payload = 100; /* 144 per slot */
    h.cfg.device_features = PLAIN_FEATURES;
    uint64_t plain = 16ull * 1008 + 8ull * 144 + 4ull * 16;
    D_EQ(plain, vdrv_arena_bytes(&h.cfg));
    h.cfg.device_features = ALL_FEATURES;
    D_EQ(plain + 8ull * 2 * 16, vdrv_arena_bytes(&h.cfg));
    h.cfg.rx_buf_size = 0;
    h.cfg.tx_max_payload = 0; /* Linux's: 3776-byte rx buffers, 64 KiB tx packets */
    D_EQ(16ull * 3776 + 8ull * (65536 + 48) + 4ull * 16 + 8ull * 2 * 16,
         vdrv_arena_bytes(&h.cfg));
    h.cfg.vq[TX].num = 6;
    D_EQ(0, vdrv_arena_bytes(&h.cfg));
    D_EQ(0, vdrv_arena_bytes(NULL));
    h_fini(&h);
}

TC(arena_errors, "too small, misaligned, outside memory or over a ring: refused, nothing leaks")
{
    struct harness h;
    h_setup(&h);
    h_layout(&h);
    uint64_t need = vdrv_arena_bytes(&h.cfg);
    D_TRUE(need > 0);
    int err = 0;

    h.cfg.arena_size = need - 1;
    D_TRUE(vdrv_new(&h.cfg, &err) == NULL);
    D_EQ(-EINVAL, err);

    h.cfg.arena_size = need + 64;
    h.cfg.arena_gpa += 8;
    D_TRUE(vdrv_new(&h.cfg, &err) == NULL);
    D_EQ(-EINVAL, err);

    h.cfg.arena_gpa = RAM_GPA + RAM_SIZE - need + 16; /* runs past the region */
    h.cfg.arena_size = need;
    D_TRUE(vdrv_new(&h.cfg, &err) == NULL);
    D_EQ(RING_E_GPA_RANGE, err);

    h.cfg.arena_gpa = h.cfg.vq[TX].avail & ~15ull; /* over the tx ring */
    D_TRUE(vdrv_new(&h.cfg, &err) == NULL);
    D_EQ(-EINVAL, err);

    h.cfg.arena_gpa = align_up(h.cfg.vq[EV].used + vring_used_bytes(4), 16);
    h.cfg.rx_buf_size = VSOCK_HDR_LEN - 1;
    D_TRUE(vdrv_new(&h.cfg, &err) == NULL);
    D_EQ(-EINVAL, err);
    h.cfg.tiny_rx_ok = true; /* a test's own choice */
    struct vdrv *tiny = vdrv_new(&h.cfg, &err);
    D_TRUE(tiny != NULL);
    vdrv_free(tiny);
    h.cfg.tiny_rx_ok = false;

    h.cfg.rx_buf_size = 0;
    h.cfg.read_cid = NULL;
    D_TRUE(vdrv_new(&h.cfg, &err) == NULL);
    D_EQ(-EINVAL, err);
    D_TRUE(vdrv_new(NULL, &err) == NULL);
    D_EQ(-EINVAL, err);

    h.cfg.read_cid = read_cid;
    h.drv = vdrv_new(&h.cfg, NULL); /* a NULL err is allowed */
    D_TRUE(h.drv != NULL);
    h_fini(&h);
}

TC(queue_size_invalid, "a queue size that is not a power of two is RING_E_QUEUE_SIZE")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[EV].num = 3;
    D_EQ(RING_E_QUEUE_SIZE, h_try_start(&h));
    h_fini(&h);
}

/* ---- buffers at start ------------------------------------------------------------ */

TC(rx_posted_at_start, "rx: one writable rx_buf_size buffer per queue entry, distinct arena slots")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[RX].num = 16;
    h.cfg.rx_buf_size = 2000;
    h_start(&h);
    D_EQ(16, CTR(&h)->rx_bufs_posted);
    D_EQ(0, vqd_num_free(vdrv_queue(h.drv, RX)));
    uint64_t gpas[16];
    struct vq_chain c;
    /* Check the sizes on the first chain, then collect all of them. */
    D_EQ(1, vqdev_pop(&h.dq[RX], &c));
    D_EQ(2000, c.in_bytes);
    D_EQ(0, c.out_bytes);
    vqdev_unpop(&h.dq[RX]);
    D_EQ(16, dev_rx_collect(&h, gpas, 16));
    for (unsigned i = 0; i < 16; i++) {
        D_EQ(0, gpas[i] % 16);
        D_TRUE(gpas[i] >= h.cfg.arena_gpa);
        D_TRUE(gpas[i] + 2000 <= h.cfg.arena_gpa + vdrv_arena_bytes(&h.cfg));
        if (i > 0)
            D_TRUE(gpas[i] >= gpas[i - 1] + 2000);
    }
    h_fini(&h);
}

TC(event_posted_at_start, "event: one writable 8-byte buffer per queue entry")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[EV].num = 8;
    h_start(&h);
    unsigned n = 0;
    struct vq_chain c;
    while (vqdev_pop(&h.dq[EV], &c) == 1) {
        D_EQ(1, c.in_count);
        D_EQ(8, c.in_bytes);
        D_EQ(0, c.out_count);
        n++;
    }
    D_EQ(8, n);
    h_fini(&h);
}

TC(initial_kicks, "probe kicks rx and event once, not tx; take_kicks clears")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    D_EQ((1u << RX) | (1u << EV), vdrv_take_kicks(h.drv));
    D_EQ(0, vdrv_take_kicks(h.drv));
    irq(&h); /* nothing used: nothing to do */
    D_EQ(0, vdrv_take_kicks(h.drv));
    h_fini(&h);
}

/* ---- packets both ways ------------------------------------------------------------- */

TC(request_to_listener, "a REQUEST to a listening port gets a RESPONSE on tx and accept works")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    (void)vdrv_take_kicks(h.drv);
    int lfd = h_listen(&h, 5000);
    struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 40000, 5000);
    dev_rx(&h, &req, NULL, 0);
    irq(&h);
    D_EQ(1, CTR(&h)->rx_pkts);
    D_TRUE(vdrv_take_kicks(h.drv) & (1u << TX));
    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(VSOCK_OP_RESPONSE, p.hdr.op);
    D_EQ(GUEST_CID, p.hdr.src_cid);
    D_EQ(VSOCK_CID_HOST, p.hdr.dst_cid);
    D_EQ(5000, p.hdr.src_port);
    D_EQ(40000, p.hdr.dst_port);
    D_EQ(VSOCK_TYPE_STREAM, p.hdr.type);
    D_EQ(0, p.hdr.len);
    D_EQ(0, p.plen);
    D_TRUE(!dev_tx_pop(&h, &p));
    uint64_t pcid = 0;
    uint32_t pport = 0;
    int fd = vep_accept(EP(&h), lfd, &pcid, &pport);
    D_TRUE(fd >= 0);
    D_EQ(VSOCK_CID_HOST, pcid);
    D_EQ(40000, pport);
    D_EQ(VEP_SS_CONNECTED, vep_sock_state(EP(&h), fd));
    h_fini(&h);
}

TC(guest_connect_request, "a guest connect puts a REQUEST on tx with the right CIDs, ports, credit")
{
    struct harness h;
    h_setup(&h);
    h.cfg.sockets.buf_alloc = 65536;
    h_start(&h);
    (void)vdrv_take_kicks(h.drv);
    struct vep *ep = EP(&h);
    int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_TRUE(fd >= 0);
    D_EQ(0, vep_bind(ep, fd, 7777));
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 1234, h.now));
    D_EQ(0, vdrv_take_kicks(h.drv)); /* nothing moves before handle_tx */
    vdrv_handle_tx(h.drv, h.now);
    D_EQ(1u << TX, vdrv_take_kicks(h.drv));
    D_EQ(1, CTR(&h)->tx_pkts);
    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(VSOCK_OP_REQUEST, p.hdr.op);
    D_EQ(GUEST_CID, p.hdr.src_cid);
    D_EQ(VSOCK_CID_HOST, p.hdr.dst_cid);
    D_EQ(7777, p.hdr.src_port);
    D_EQ(1234, p.hdr.dst_port);
    D_EQ(65536, p.hdr.buf_alloc);
    D_EQ(0, p.hdr.fwd_cnt);
    D_EQ(0, p.hdr.len);
    D_EQ(1, p.out_count); /* no payload: the header alone */
    h_fini(&h);
}

TC(data_both_ways, "RW payload goes out on tx intact and comes in from rx to vep_recv")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    struct vsock_hdr req;
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, &req);
    D_EQ(5, vep_send(EP(&h), fd, "hello", 5, 0));
    vdrv_handle_tx(h.drv, h.now);
    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(VSOCK_OP_RW, p.hdr.op);
    D_EQ(5, p.hdr.len);
    D_EQ(5, p.plen);
    D_TRUE(memcmp(p.payload, "hello", 5) == 0);

    struct vsock_hdr rw = reply_to(&req, VSOCK_OP_RW);
    rw.len = 6;
    dev_rx(&h, &rw, "world!", 6);
    irq(&h);
    char buf[16];
    unsigned of = 0;
    D_EQ(6, vep_recv(EP(&h), fd, buf, sizeof buf, 0, &of));
    D_TRUE(memcmp(buf, "world!", 6) == 0);
    D_EQ(6, vep_counters(EP(&h))->rx_bytes);
    h_fini(&h);
}

/* ---- tx ------------------------------------------------------------------------------ */

TC(tx_backpressure, "a full tx ring leaves packets in the endpoint until used entries return")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[TX].num = 2;
    h_start(&h);
    struct vep *ep = EP(&h);
    for (int i = 0; i < 5; i++) {
        int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
        D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 100 + (uint32_t)i, h.now));
    }
    vdrv_handle_tx(h.drv, h.now);
    D_EQ(2, CTR(&h)->tx_pkts);
    D_EQ(1, CTR(&h)->tx_ring_full);
    D_EQ(3, vep_tx_queued_pkts(ep));
    D_EQ(0, vqd_num_free(vdrv_queue(h.drv, TX)));
    vdrv_handle_tx(h.drv, h.now); /* still nothing completed */
    D_EQ(2, CTR(&h)->tx_pkts);
    D_EQ(3, vep_tx_queued_pkts(ep));

    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(100, p.hdr.dst_port); /* order is kept */
    irq(&h);
    D_EQ(3, CTR(&h)->tx_pkts);
    D_EQ(2, vep_tx_queued_pkts(ep));
    uint32_t want = 101;
    while (vep_tx_queued_pkts(ep) > 0 || vqd_in_flight(vdrv_queue(h.drv, TX)) > 0) {
        D_TRUE(dev_tx(&h, &p));
        D_EQ(want++, p.hdr.dst_port);
        irq(&h);
    }
    D_EQ(105, want);
    D_EQ(5, CTR(&h)->tx_pkts);
    h_fini(&h);
}

TC(tx_split_large_send, "a send larger than tx_max_payload goes out in tx_max_payload parts")
{
    struct harness h;
    h_setup(&h);
    h.cfg.tx_max_payload = 1024;
    h.cfg.vq[TX].num = 4;
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    static uint8_t data[10000], got[10000];
    for (unsigned i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    D_EQ(10000, vep_send(EP(&h), fd, data, sizeof data, 0));
    vdrv_handle_tx(h.drv, h.now);
    uint32_t off = 0, pkts = 0;
    static struct txpkt p;
    while (off < sizeof data) {
        D_TRUE(dev_tx(&h, &p));
        D_EQ(VSOCK_OP_RW, p.hdr.op);
        D_EQ(p.plen, p.hdr.len);
        D_EQ(off + 1024 <= sizeof data ? 1024 : sizeof data - off, p.plen);
        memcpy(got + off, p.payload, p.plen);
        off += p.plen;
        pkts++;
        irq(&h);
    }
    D_EQ(10, pkts);
    D_TRUE(memcmp(data, got, sizeof data) == 0);
    D_EQ(0, vep_tx_queued_pkts(EP(&h)));
    D_TRUE(!dev_tx_pop(&h, &p));
    h_fini(&h);
}

TC(tx_large_slots_bounded, "64 KiB tx packets by default: 32 slots for packets above 4 KiB, "
                           "the rest of the queue for smaller ones; a 33rd large packet waits")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[TX].num = 64;
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    (void)dev_tx_drain(&h);
    static uint8_t data[5000];
    for (int i = 0; i < 33; i++)
        D_EQ(5000, vep_send(EP(&h), fd, data, sizeof data, 0));
    D_EQ(5, vep_send(EP(&h), fd, "small", 5, 0));
    vdrv_handle_tx(h.drv, h.now);
    D_EQ(32, vqd_in_flight(vdrv_queue(h.drv, TX)));
    D_TRUE(CTR(&h)->tx_ring_full > 0);
    D_EQ(2, vep_tx_queued_pkts(EP(&h)));
    static struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(5000, p.plen);
    irq(&h); /* one large slot back: the 33rd and the small one go */
    D_EQ(33, vqd_in_flight(vdrv_queue(h.drv, TX)));
    D_EQ(0, vep_tx_queued_pkts(EP(&h)));
    h_fini(&h);
}

TC(seqpacket_split_eom, "a split seqpacket message carries EOM/EOR on its last part only")
{
    struct harness h;
    h_setup(&h);
    h.cfg.tx_max_payload = 1000;
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_SEQPACKET, 1234, NULL);
    static uint8_t msg[2500];
    memset(msg, 0x5a, sizeof msg);
    D_EQ(2500, vep_send(EP(&h), fd, msg, sizeof msg, VEP_MSG_EOR));
    vdrv_handle_tx(h.drv, h.now);
    static struct txpkt p;
    const uint32_t lens[3] = {1000, 1000, 500};
    for (int i = 0; i < 3; i++) {
        D_TRUE(dev_tx(&h, &p));
        D_EQ(VSOCK_TYPE_SEQPACKET, p.hdr.type);
        D_EQ(lens[i], p.hdr.len);
        if (i < 2)
            D_EQ(0, p.hdr.flags & (VSOCK_SEQ_EOM | VSOCK_SEQ_EOR));
        else
            D_EQ(VSOCK_SEQ_EOM | VSOCK_SEQ_EOR, p.hdr.flags & (VSOCK_SEQ_EOM | VSOCK_SEQ_EOR));
    }
    D_TRUE(!dev_tx_pop(&h, &p));
    h_fini(&h);
}

TC(tx_chain_indirect, "with INDIRECT_DESC a tx packet with payload is one indirect descriptor")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    D_EQ(3, vep_send(EP(&h), fd, "abc", 3, 0));
    vdrv_handle_tx(h.drv, h.now);
    struct txpkt p;
    D_TRUE(dev_tx_pop(&h, &p));
    D_TRUE(p.indirect);
    D_EQ(2, p.out_count);
    D_EQ(3, p.plen);
    D_EQ(vqd_num_free(vdrv_queue(h.drv, TX)), 8 - 1);
    h_fini(&h);
}

TC(tx_chain_direct, "without INDIRECT_DESC: header and payload as two chained descriptors")
{
    struct harness h;
    h_setup(&h);
    h.cfg.device_features = PLAIN_FEATURES;
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    D_EQ(3, vep_send(EP(&h), fd, "abc", 3, 0));
    vdrv_handle_tx(h.drv, h.now);
    struct txpkt p;
    D_TRUE(dev_tx_pop(&h, &p));
    D_TRUE(!p.indirect);
    D_EQ(2, p.out_count);
    D_EQ(8 - 2, vqd_num_free(vdrv_queue(h.drv, TX)));
    uint16_t flags = get_le16(h.dq[TX].desc + 16u * p.head + 12);
    D_EQ(VIRTQ_DESC_F_NEXT, flags);
    h_fini(&h);
}

TC(tx_one_entry_ring, "a one-entry tx ring without indirect still carries payload, one descriptor")
{
    struct harness h;
    h_setup(&h);
    h.cfg.device_features = PLAIN_FEATURES;
    h.cfg.vq[TX].num = 1;
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    D_EQ(4, vep_send(EP(&h), fd, "wxyz", 4, 0));
    vdrv_handle_tx(h.drv, h.now);
    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(1, p.out_count);
    D_EQ(4, p.hdr.len);
    D_TRUE(memcmp(p.payload, "wxyz", 4) == 0);
    h_fini(&h);
}

TC(tx_one_entry_ring_indirect, "a one-entry tx ring with indirect also uses one descriptor: a "
                               "table may be no longer than the queue")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[TX].num = 1;
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    D_EQ(4, vep_send(EP(&h), fd, "wxyz", 4, 0));
    vdrv_handle_tx(h.drv, h.now);
    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(1, p.out_count);
    D_EQ(4, p.hdr.len);
    D_TRUE(memcmp(p.payload, "wxyz", 4) == 0);
    D_TRUE(!p.indirect);
    D_EQ(0, CTR(&h)->tx_ring_full);
    h_fini(&h);
}

/* ---- hostile used entries ---------------------------------------------------------------- */

TC(hostile_used_id_range, "a used id beyond the queue is counted and skipped; the driver goes on")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    struct vep *ep = EP(&h);
    int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 1234, h.now));
    vdrv_handle_tx(h.drv, h.now);
    struct txpkt p;
    D_TRUE(dev_tx_pop(&h, &p));
    dev_hand_push(&h, TX, 8 + 3, 0);
    dev_hand_push(&h, RX, 0xffffffffu, 44);
    irq(&h);
    D_EQ(2, CTR(&h)->bad_used);
    D_TRUE(!vdrv_broken(h.drv));
    D_EQ(1, vqd_in_flight(vdrv_queue(h.drv, TX))); /* the real chain is still out */
    D_EQ(RING_OK, vqdev_push(&h.dq[TX], p.head, 0));
    irq(&h);
    D_EQ(0, vqd_in_flight(vdrv_queue(h.drv, TX)));
    /* and it still works */
    struct vsock_hdr r = reply_to(&p.hdr, VSOCK_OP_RESPONSE);
    dev_rx(&h, &r, NULL, 0);
    irq(&h);
    D_EQ(VEP_SS_CONNECTED, vep_sock_state(ep, fd));
    h_fini(&h);
}

TC(hostile_double_completion, "a chain completed twice: the second completion is a counted bad id")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    /* An RST for no connection: consumed without reply. */
    struct vsock_hdr rst = host_hdr(&h, VSOCK_OP_RST, 1, 2);
    uint8_t raw[VSOCK_HDR_LEN];
    vsock_hdr_encode(&rst, raw);
    uint16_t head = dev_rx_raw(&h, raw, sizeof raw, sizeof raw);
    dev_hand_push(&h, RX, head, sizeof raw);
    irq(&h);
    D_EQ(1, CTR(&h)->rx_pkts);
    D_EQ(1, CTR(&h)->bad_used);
    D_EQ(1, vep_drops(&h, VEP_DROP_RST_NO_SOCKET));
    D_TRUE(!vdrv_broken(h.drv));

    /* the same on tx, with a second chain in flight so the used idx stays
     * within what is outstanding */
    struct vep *ep = EP(&h);
    for (uint32_t port = 1; port <= 2; port++) {
        int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
        D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, port, h.now));
    }
    vdrv_handle_tx(h.drv, h.now);
    struct txpkt a, b;
    D_TRUE(dev_tx(&h, &a));
    D_TRUE(dev_tx_pop(&h, &b));
    dev_hand_push(&h, TX, a.head, 0);
    irq(&h);
    D_EQ(2, CTR(&h)->bad_used);
    D_TRUE(!vdrv_broken(h.drv));
    D_EQ(1, vqd_in_flight(vdrv_queue(h.drv, TX)));
    D_EQ(RING_OK, vqdev_push(&h.dq[TX], b.head, 0));
    irq(&h);
    D_EQ(8, vqd_num_free(vdrv_queue(h.drv, TX)));
    D_TRUE(!vdrv_broken(h.drv));
    h_fini(&h);
}

TC(hostile_double_completion_alone, "a repeat completion beyond the chains in flight breaks the ring")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    struct vep *ep = EP(&h);
    int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 1234, h.now));
    vdrv_handle_tx(h.drv, h.now);
    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    dev_hand_push(&h, TX, p.head, 0); /* two entries, one chain */
    irq(&h);
    D_EQ(1, CTR(&h)->bad_used);
    D_TRUE(vdrv_broken(h.drv));
    D_EQ(0, vdrv_take_kicks(h.drv));
    h_fini(&h);
}

TC(hostile_used_idx, "a used idx past the chains in flight breaks the driver: rings left alone")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    (void)vdrv_take_kicks(h.drv);
    struct vq_device *d = &h.dq[RX];
    put_le16(d->used + 2, (uint16_t)(d->used_idx + 8 + 5));
    irq(&h);
    D_TRUE(vdrv_broken(h.drv));
    D_EQ(1, CTR(&h)->bad_used);
    /* Nothing reaches the rings any more. */
    uint16_t tx_avail = vqdev_avail_idx(&h.dq[TX]);
    struct vep *ep = EP(&h);
    int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 1234, h.now));
    vdrv_handle_tx(h.drv, h.now);
    irq(&h);
    D_EQ(tx_avail, vqdev_avail_idx(&h.dq[TX]));
    D_EQ(0, vdrv_take_kicks(h.drv));
    D_EQ(1, CTR(&h)->bad_used);
    D_EQ(1, vep_tx_queued_pkts(ep));
    h_fini(&h);
}

/* ---- rx ---------------------------------------------------------------------------------- */

TC(rx_short_len, "a used len shorter than a header is rx_bad_len (and a runt for the endpoint)")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    uint8_t junk[VSOCK_HDR_LEN] = {0};
    dev_rx_raw(&h, junk, sizeof junk, 0);
    dev_rx_raw(&h, junk, sizeof junk, VSOCK_HDR_LEN - 1);
    irq(&h);
    D_EQ(2, CTR(&h)->rx_bad_len);
    D_EQ(0, CTR(&h)->rx_pkts);
    D_EQ(2, vep_drops(&h, VEP_DROP_SHORT));
    D_EQ(0, vep_tx_queued_pkts(EP(&h)));
    h_fini(&h);
}

TC(rx_len_beyond_capacity, "a used len past the buffer is rx_bad_len and nothing is delivered")
{
    struct harness h;
    h_setup(&h);
    h.cfg.rx_buf_size = 512;
    h_start(&h);
    int lfd = h_listen(&h, 5000);
    struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 40000, 5000);
    uint8_t raw[VSOCK_HDR_LEN];
    vsock_hdr_encode(&req, raw);
    dev_rx_raw(&h, raw, sizeof raw, 513);
    dev_rx_raw(&h, raw, sizeof raw, 0xffffffffu);
    irq(&h);
    D_EQ(2, CTR(&h)->rx_bad_len);
    D_EQ(0, CTR(&h)->rx_pkts);
    D_EQ(-EAGAIN, vep_accept(EP(&h), lfd, NULL, NULL));
    /* Exactly the capacity is fine, and so are the 468 bytes beyond hdr.len
     * (0): Linux's rx work only drops a used len past the buffer. */
    dev_rx_raw(&h, raw, sizeof raw, 512);
    irq(&h);
    D_EQ(1, CTR(&h)->rx_pkts);
    D_EQ(1, CTR(&h)->rx_len_slack);
    D_EQ(0, vep_drops(&h, VEP_DROP_LEN_MISMATCH));
    D_TRUE(vep_accept(EP(&h), lfd, NULL, NULL) >= 0);
    h_fini(&h);
}

TC(rx_used_len_rules, "rx used len as Linux's rx work takes it: beyond 44 + hdr.len only hdr.len "
                      "bytes are data; short of it the packet is dropped")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    struct vsock_hdr rw = host_hdr(&h, VSOCK_OP_RW, 1234, 0);
    uint32_t lport = 0;
    D_EQ(0, vep_sock_name(EP(&h), fd, &lport, NULL, NULL));
    rw.dst_port = lport;
    rw.len = 5;
    static uint8_t raw[VSOCK_HDR_LEN + 100];
    vsock_hdr_encode(&rw, raw);
    memcpy(raw + VSOCK_HDR_LEN, "hello-and-then-garbage", 22);
    /* used len 44 + 22: five bytes of data, the rest ignored */
    dev_rx_raw(&h, raw, VSOCK_HDR_LEN + 22, VSOCK_HDR_LEN + 22);
    irq(&h);
    D_EQ(1, CTR(&h)->rx_len_slack);
    uint8_t got[32];
    D_EQ(5, vep_recv(EP(&h), fd, got, sizeof got, 0, NULL));
    D_TRUE(memcmp(got, "hello", 5) == 0);
    /* used len 44 + 4 with hdr.len 5: dropped (Linux: payload_len > len - 44) */
    dev_rx_raw(&h, raw, VSOCK_HDR_LEN + 22, VSOCK_HDR_LEN + 4);
    irq(&h);
    D_EQ(1, vep_drops(&h, VEP_DROP_LEN_MISMATCH));
    D_EQ(-EAGAIN, vep_recv(EP(&h), fd, got, sizeof got, 0, NULL));
    D_EQ(VEP_SS_CONNECTED, vep_sock_state(EP(&h), fd));
    h_fini(&h);
}

TC(rx_dst_cid_wrong, "a packet for another CID is dropped by the endpoint (VEP_DROP_DST_CID)")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    int lfd = h_listen(&h, 5000);
    struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 40000, 5000);
    req.dst_cid = GUEST_CID + 1;
    dev_rx(&h, &req, NULL, 0);
    irq(&h);
    D_EQ(1, CTR(&h)->rx_pkts);
    D_EQ(1, vep_drops(&h, VEP_DROP_DST_CID));
    D_EQ(-EAGAIN, vep_accept(EP(&h), lfd, NULL, NULL));
    struct txpkt p;
    D_TRUE(!dev_tx_pop(&h, &p));
    h_fini(&h);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

TC(rx_garbage_fuzz, "random headers and used lengths: every buffer accounted for, no crash")
{
    struct harness h;
    h_setup(&h);
    h.cfg.rx_buf_size = 256;
    h.cfg.vq[RX].num = 4;
    h.cfg.vq[TX].num = 4;
    h_start(&h);
    h_listen(&h, 5000);
    uint64_t seed = 42;
    static uint8_t raw[256];
    for (int i = 0; i < 2000; i++) {
        for (unsigned k = 0; k < sizeof raw; k++)
            raw[k] = (uint8_t)lcg(&seed);
        if (lcg(&seed) % 2) { /* half of them look plausible */
            struct vsock_hdr hd = host_hdr(&h, (uint16_t)(lcg(&seed) % 9),
                                           (uint32_t)lcg(&seed) % 4, 5000);
            hd.type = (uint16_t)(lcg(&seed) % 4);
            hd.len = (uint32_t)(lcg(&seed) % 300);
            vsock_hdr_encode(&hd, raw);
        }
        uint32_t used = (uint32_t)(lcg(&seed) % 600);
        dev_rx_raw(&h, raw, sizeof raw, used);
        irq(&h);
        dev_tx_drain(&h);
        D_TRUE(!vdrv_broken(h.drv));
    }
    D_EQ(2000, CTR(&h)->rx_pkts + CTR(&h)->rx_bad_len);
    D_TRUE(CTR(&h)->rx_bad_len > 0);
    D_EQ(0, CTR(&h)->bad_used);
    h_fini(&h);
}

TC(rx_refill_policy, "rx is refilled once fewer than half the buffers remain posted, then kicked")
{
    struct harness h;
    h_setup(&h);
    h.cfg.device_features = PLAIN_FEATURES; /* kicks by flag, not avail_event */
    h_start(&h);
    (void)vdrv_take_kicks(h.drv);
    struct vsock_hdr rst = host_hdr(&h, VSOCK_OP_RST, 1, 2);
    for (int i = 0; i < 4; i++)
        dev_rx(&h, &rst, NULL, 0);
    irq(&h);
    D_EQ(8, CTR(&h)->rx_bufs_posted); /* 4 of 8 left: not below half */
    D_EQ(0, vdrv_take_kicks(h.drv) & (1u << RX));
    dev_rx(&h, &rst, NULL, 0);
    irq(&h);
    D_EQ(8 + 5, CTR(&h)->rx_bufs_posted);
    D_EQ(0, vqd_num_free(vdrv_queue(h.drv, RX)));
    D_TRUE(vdrv_take_kicks(h.drv) & (1u << RX));
    D_EQ(5, vep_drops(&h, VEP_DROP_RST_NO_SOCKET));
    h_fini(&h);
}

TC(rx_one_entry_queue, "a one-entry rx queue is refilled after every packet")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[RX].num = 1;
    h_start(&h);
    struct vsock_hdr rst = host_hdr(&h, VSOCK_OP_RST, 1, 2);
    for (int i = 0; i < 3; i++) {
        dev_rx(&h, &rst, NULL, 0);
        irq(&h);
    }
    D_EQ(3, CTR(&h)->rx_pkts);
    D_EQ(4, CTR(&h)->rx_bufs_posted);
    h_fini(&h);
}

TC(rx_pause_reply_budget, "with the reply-budget deviation rx keeps going while replies wait: it pauses only when the reply budget is spent")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[RX].num = 4;
    h.cfg.vq[TX].num = 2;
    h.cfg.device_features = PLAIN_FEATURES;
    h.cfg.sockets.max_replies = 6;
    h.cfg.sockets.deviate = VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET);
    h_start(&h);
    D_EQ(6, vdrv_rx_pause_replies(h.drv));
    for (int i = 0; i < 4; i++) {
        struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 100 + (uint32_t)i, 9);
        dev_rx(&h, &req, NULL, 0);
    }
    vdrv_handle_rx(h.drv, h.now);
    D_EQ(4, CTR(&h)->rx_pkts);
    D_EQ(4, vep_tx_queued_replies(EP(&h)));
    D_EQ(0, CTR(&h)->rx_paused); /* 4 replies, budget 6: rx goes on */
    for (int i = 0; i < 3; i++) {
        struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 200 + (uint32_t)i, 9);
        dev_rx(&h, &req, NULL, 0);
    }
    vdrv_handle_rx(h.drv, h.now);
    D_EQ(6, vep_tx_queued_replies(EP(&h))); /* the budget is reached: rx pauses */
    D_EQ(1, CTR(&h)->rx_paused);
    h_fini(&h);
}

TC(rx_pause_rule_choice, "the pause rule: Linux's (the rx ring size) by default and with VDRV_RX_PAUSE_LINUX whatever the deviations, the reply budget with reply-budget, a number as given")
{
    static const struct {
        uint32_t pause;
        uint64_t deviate;
        uint32_t want;
    } t[] = {
        {0, 0, 4},
        {VDRV_RX_PAUSE_LINUX, 0, 4},
        {VDRV_RX_PAUSE_LINUX, VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET), 4},
        {0, VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET), 1024},
        {3, VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET), 3},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct harness h;
        h_setup(&h);
        h.cfg.vq[RX].num = 4;
        h.cfg.rx_pause_replies = t[i].pause;
        h.cfg.sockets.deviate = t[i].deviate;
        h_start(&h);
        D_EQ(t[i].want, vdrv_rx_pause_replies(h.drv));
        D_TRUE(!vdrv_rx_paused(h.drv));
        h_fini(&h);
    }
}

TC(rx_pause_on_replies, "by Linux's rule (the default) rx stops while rx-size replies wait for tx, and resumes as tx drains")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[RX].num = 4;
    h.cfg.vq[TX].num = 2;
    h.cfg.device_features = PLAIN_FEATURES;
    h_start(&h);
    /* REQUESTs to a closed port: each one is answered with an RST. */
    for (int i = 0; i < 4; i++) {
        struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 100 + (uint32_t)i, 9);
        dev_rx(&h, &req, NULL, 0);
    }
    vdrv_handle_rx(h.drv, h.now);
    D_EQ(4, CTR(&h)->rx_pkts);
    D_EQ(4, vep_tx_queued_replies(EP(&h)));
    D_EQ(1, CTR(&h)->rx_paused);
    D_TRUE(vdrv_rx_paused(h.drv));
    /* rx interrupts stay off while paused */
    D_TRUE(get_le16(h.dq[RX].avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    for (int i = 0; i < 3; i++) {
        struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 200 + (uint32_t)i, 9);
        dev_rx(&h, &req, NULL, 0);
    }
    vdrv_handle_rx(h.drv, h.now);
    D_EQ(4, CTR(&h)->rx_pkts);
    /* tx moves two replies: rx restarts and takes new requests */
    vdrv_handle_tx(h.drv, h.now);
    D_TRUE(CTR(&h)->rx_pkts > 4);
    unsigned sent = 0;
    for (int round = 0; round < 20 && CTR(&h)->rx_pkts < 7; round++)
        sent += dev_tx_drain(&h);
    D_EQ(7, CTR(&h)->rx_pkts);
    for (int round = 0; round < 20 && vep_tx_queued_pkts(EP(&h)) > 0; round++)
        sent += dev_tx_drain(&h);
    sent += dev_tx_drain(&h);
    D_EQ(7, sent);
    D_EQ(7, vep_drops(&h, VEP_DROP_NO_SOCKET));
    D_TRUE(!(get_le16(h.dq[RX].avail) & VIRTQ_AVAIL_F_NO_INTERRUPT));
    h_fini(&h);
}

/* ---- events --------------------------------------------------------------------------------- */

TC(transport_reset_event, "TRANSPORT_RESET: CID re-read, connections reset, listener kept")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    struct vep *ep = EP(&h);
    int lfd = h_listen(&h, 5000);
    int cfd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    unsigned reads = h.cid_reads;
    h.cid = 77;
    dev_event(&h, VSOCK_EVENT_TRANSPORT_RESET, 4);
    D_EQ(reads + 1, h.cid_reads);
    D_EQ(1, CTR(&h)->events);
    D_EQ(1, CTR(&h)->transport_resets);
    D_EQ(0, CTR(&h)->bad_events);
    D_EQ(77, vdrv_guest_cid(h.drv));
    D_EQ(77, vep_local_cid(ep));
    D_TRUE(vep_sock_state(ep, cfd) != VEP_SS_CONNECTED);
    D_EQ(-ECONNRESET, vep_sock_error(ep, cfd));
    D_EQ(VEP_SS_LISTEN, vep_sock_state(ep, lfd));
    D_TRUE(vdrv_take_kicks(h.drv) & (1u << EV)); /* the buffer went back */
    D_TRUE(vqdev_has_avail(&h.dq[EV]));
    /* the listener answers at the new CID */
    struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 40000, 5000);
    D_EQ(77, req.dst_cid);
    dev_rx(&h, &req, NULL, 0);
    irq(&h);
    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(VSOCK_OP_RESPONSE, p.hdr.op);
    D_EQ(77, p.hdr.src_cid);
    D_TRUE(vep_accept(ep, lfd, NULL, NULL) >= 0);
    h_fini(&h);
}

TC(transport_reset_reserved_cid, "a reset whose new CID is reserved keeps the old CID, counts bad_cid")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    int cfd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    h.cid = VSOCK_CID_HOST;
    dev_event(&h, VSOCK_EVENT_TRANSPORT_RESET, 4);
    D_EQ(1, CTR(&h)->bad_cid);
    D_EQ(1, CTR(&h)->transport_resets);
    D_EQ(GUEST_CID, vdrv_guest_cid(h.drv));
    D_EQ(GUEST_CID, vep_local_cid(EP(&h)));
    D_EQ(-ECONNRESET, vep_sock_error(EP(&h), cfd));
    h.cid = 1ull << 40;
    dev_event(&h, VSOCK_EVENT_TRANSPORT_RESET, 8);
    D_EQ(2, CTR(&h)->bad_cid);
    D_EQ(GUEST_CID, vdrv_guest_cid(h.drv));
    h_fini(&h);
}

TC(event_unknown_id, "an unknown event id is counted, ignored, and its buffer reposted")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    int cfd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    unsigned reads = h.cid_reads;
    dev_event(&h, 1, 4);
    dev_event(&h, 0xdeadbeef, 4);
    D_EQ(2, CTR(&h)->events);
    D_EQ(2, CTR(&h)->bad_events);
    D_EQ(0, CTR(&h)->transport_resets);
    D_EQ(reads, h.cid_reads);
    D_EQ(VEP_SS_CONNECTED, vep_sock_state(EP(&h), cfd));
    D_EQ(0, vqd_num_free(vdrv_queue(h.drv, EV)));
    h_fini(&h);
}

TC(event_bad_len, "an event shorter than its id or longer than its buffer is a bad event")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    int cfd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    dev_event(&h, VSOCK_EVENT_TRANSPORT_RESET, 3);
    dev_event(&h, VSOCK_EVENT_TRANSPORT_RESET, 9);
    dev_event(&h, VSOCK_EVENT_TRANSPORT_RESET, 0);
    D_EQ(3, CTR(&h)->bad_events);
    D_EQ(0, CTR(&h)->transport_resets);
    D_EQ(VEP_SS_CONNECTED, vep_sock_state(EP(&h), cfd));
    /* A device claiming 4 bytes it never wrote finds the poison, not a reset. */
    struct vq_chain c;
    D_EQ(1, vqdev_pop(&h.dq[EV], &c));
    D_EQ(RING_OK, vqdev_push(&h.dq[EV], c.head, 4));
    vdrv_handle_event(h.drv, h.now);
    D_EQ(4, CTR(&h)->bad_events);
    D_EQ(0, CTR(&h)->transport_resets);
    h_fini(&h);
}

/* ---- device reset ---------------------------------------------------------------------------- */

TC(device_reset_returns_slots, "device reset reclaims every chain, reposts the same slots, works again")
{
    struct harness h;
    h_setup(&h);
    h.cfg.vq[TX].num = 4;
    h_start(&h);
    uint64_t before[8], after[8];
    D_EQ(8, dev_rx_collect(&h, before, 8));
    for (int i = 0; i < 8; i++)
        vqdev_unpop(&h.dq[RX]);

    struct vep *ep = EP(&h);
    int lfd = h_listen(&h, 5000);
    int cfd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    /* leave tx chains and packets in flight */
    static const uint8_t data[100];
    for (int i = 0; i < 6; i++)
        D_EQ(100, vep_send(ep, cfd, data, sizeof data, 0));
    vdrv_handle_tx(h.drv, h.now);
    D_TRUE(vqd_in_flight(vdrv_queue(h.drv, TX)) > 0);
    D_TRUE(vep_tx_queued_pkts(ep) > 0);
    uint32_t queued = vep_tx_queued_pkts(ep);
    unsigned reads = h.cid_reads;
    h.cid = 9;

    vdrv_device_reset(h.drv, h.now);
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        vqdev_reset(&h.dq[q]);
    D_EQ(reads + 1, h.cid_reads);
    D_EQ(9, vdrv_guest_cid(h.drv));
    D_TRUE(CTR(&h)->tx_purged <= queued); /* the endpoint may have dropped some itself */
    D_EQ(0, vep_tx_queued_pkts(ep));
    D_EQ(4, vqd_num_free(vdrv_queue(h.drv, TX)));
    D_EQ(0, vqd_in_flight(vdrv_queue(h.drv, TX)));
    D_EQ(0, vqd_num_free(vdrv_queue(h.drv, RX)));
    D_EQ(0, vqd_num_free(vdrv_queue(h.drv, EV)));
    D_EQ((1u << RX) | (1u << EV), vdrv_take_kicks(h.drv));
    D_EQ(-ECONNRESET, vep_sock_error(ep, cfd));
    D_EQ(VEP_SS_LISTEN, vep_sock_state(ep, lfd));
    D_EQ(8, dev_rx_collect(&h, after, 8));
    D_TRUE(memcmp(before, after, sizeof before) == 0);
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        vqdev_reset(&h.dq[q]);
    vdrv_device_reset(h.drv, h.now);

    /* all four tx slots usable again, then a full exchange */
    for (int i = 0; i < 4; i++) {
        int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
        D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 300 + (uint32_t)i, h.now));
    }
    vdrv_handle_tx(h.drv, h.now);
    D_EQ(0, vep_tx_queued_pkts(ep));
    D_EQ(4, dev_tx_drain(&h));
    struct vsock_hdr req;
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, &req);
    D_EQ(9, req.src_cid);
    D_EQ(VEP_SS_CONNECTED, vep_sock_state(ep, fd));
    h_fini(&h);
}

TC(device_reset_recovers_broken, "a broken driver works again after a device reset")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    struct vq_device *d = &h.dq[TX];
    put_le16(d->used + 2, 50);
    irq(&h);
    D_TRUE(vdrv_broken(h.drv));
    vdrv_device_reset(h.drv, h.now);
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        vqdev_reset(&h.dq[q]);
    D_TRUE(!vdrv_broken(h.drv));
    h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    h_fini(&h);
}

/* ---- notifications ----------------------------------------------------------------------------- */

TC(kick_no_notify, "without EVENT_IDX, the device's NO_NOTIFY flag suppresses kicks")
{
    struct harness h;
    h_setup(&h);
    h.cfg.device_features = PLAIN_FEATURES;
    h_start(&h);
    (void)vdrv_take_kicks(h.drv);
    struct vep *ep = EP(&h);
    vqdev_disable_notify(&h.dq[TX]);
    int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 1, h.now));
    vdrv_handle_tx(h.drv, h.now);
    D_EQ(1, CTR(&h)->tx_pkts);
    D_EQ(0, vdrv_take_kicks(h.drv));
    D_TRUE(!vqdev_enable_notify(&h.dq[TX])); /* the chain is there to poll */
    fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 2, h.now));
    vdrv_handle_tx(h.drv, h.now);
    D_EQ(1u << TX, vdrv_take_kicks(h.drv));
    h_fini(&h);
}

TC(kick_avail_event, "with EVENT_IDX, kicks follow the device's avail_event")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    (void)vdrv_take_kicks(h.drv);
    struct vep *ep = EP(&h);
    uint32_t port = 1;
    unsigned kicks[4];
    for (int i = 0; i < 3; i++) {
        int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
        D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, port++, h.now));
        vdrv_handle_tx(h.drv, h.now);
        kicks[i] = vdrv_take_kicks(h.drv) & (1u << TX);
    }
    /* avail_event is 0: only the move from 0 to 1 crosses it */
    D_EQ(1u << TX, kicks[0]);
    D_EQ(0, kicks[1]);
    D_EQ(0, kicks[2]);
    struct txpkt p;
    while (dev_tx_pop(&h, &p))
        ;
    D_TRUE(vqdev_enable_notify(&h.dq[TX])); /* avail_event = 3 */
    int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, port++, h.now));
    vdrv_handle_tx(h.drv, h.now);
    D_EQ(1u << TX, vdrv_take_kicks(h.drv));
    h_fini(&h);
}

TC(interrupts_reenabled, "after handling, interrupts are on again (flag or used_event)")
{
    struct harness h;
    h_setup(&h);
    h.cfg.device_features = PLAIN_FEATURES;
    h_start(&h);
    struct vsock_hdr rst = host_hdr(&h, VSOCK_OP_RST, 1, 2);
    dev_rx(&h, &rst, NULL, 0);
    D_TRUE(vqdev_should_interrupt(&h.dq[RX]));
    irq(&h);
    D_EQ(0, get_le16(h.dq[RX].avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    dev_rx(&h, &rst, NULL, 0);
    D_TRUE(vqdev_should_interrupt(&h.dq[RX]));
    irq(&h);
    h_fini(&h);

    h_setup(&h);
    h_start(&h); /* EVENT_IDX */
    dev_rx(&h, &rst, NULL, 0);
    D_TRUE(vqdev_should_interrupt(&h.dq[RX]));
    dev_rx(&h, &rst, NULL, 0);
    irq(&h);
    uint16_t used_event = get_le16((const uint8_t *)h.dq[RX].avail + 4 + 2 * 8);
    D_EQ(2, used_event);
    dev_rx(&h, &rst, NULL, 0);
    D_TRUE(vqdev_should_interrupt(&h.dq[RX]));
    h_fini(&h);
}

/* ---- timers, types, determinism ---------------------------------------------------------------- */

TC(tick_connect_timeout, "next_deadline is the endpoint's; a tick past it times the connect out")
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    struct vep *ep = EP(&h);
    D_EQ(UINT64_MAX, vdrv_next_deadline(h.drv));
    int fd = vep_socket(ep, VSOCK_TYPE_STREAM);
    D_EQ(-EINPROGRESS, vep_connect(ep, fd, VSOCK_CID_HOST, 1234, h.now));
    vdrv_handle_tx(h.drv, h.now);
    uint64_t dl = vdrv_next_deadline(h.drv);
    D_EQ(vep_next_deadline(ep), dl);
    D_EQ(h.now + 2 * SEC, dl);
    vdrv_tick(h.drv, dl - 1);
    D_EQ(VEP_SS_CONNECTING, vep_sock_state(ep, fd));
    vdrv_tick(h.drv, dl);
    D_EQ(-ETIMEDOUT, vep_sock_error(ep, fd));
    D_EQ(UINT64_MAX, vdrv_next_deadline(h.drv));
    h_fini(&h);
}

TC(seqpacket_not_negotiated, "without SEQPACKET a seqpacket REQUEST is refused by the endpoint")
{
    struct harness h;
    h_setup(&h);
    h.cfg.device_features = PLAIN_FEATURES;
    h_start(&h);
    /* As Linux: the socket is created and listens; connect refuses it, and
     * so does the listener every REQUEST. */
    int sp = vep_socket(EP(&h), VSOCK_TYPE_SEQPACKET);
    D_TRUE(sp >= 0);
    D_EQ(-ESOCKTNOSUPPORT, vep_connect(EP(&h), sp, VSOCK_CID_HOST, 1234, h.now));
    D_EQ(0, vep_bind(EP(&h), sp, 5001));
    D_EQ(0, vep_listen(EP(&h), sp, 4));
    int fd = vep_socket(EP(&h), VSOCK_TYPE_STREAM);
    D_EQ(0, vep_bind(EP(&h), fd, 5000));
    D_EQ(0, vep_listen(EP(&h), fd, 4));
    struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 40000, 5000);
    req.type = VSOCK_TYPE_SEQPACKET;
    dev_rx(&h, &req, NULL, 0);
    irq(&h);
    D_EQ(1, vep_drops(&h, VEP_DROP_BAD_TYPE));
    struct txpkt p;
    D_TRUE(dev_tx(&h, &p));
    D_EQ(VSOCK_OP_RST, p.hdr.op);
    req.dst_port = 5001;
    dev_rx(&h, &req, NULL, 0);
    irq(&h);
    D_EQ(2, vep_drops(&h, VEP_DROP_BAD_TYPE));
    D_TRUE(dev_tx(&h, &p));
    D_EQ(VSOCK_OP_RST, p.hdr.op);
    D_EQ(-EAGAIN, vep_accept(EP(&h), sp, NULL, NULL));
    D_EQ(0, vep_close(EP(&h), sp, h.now));
    h_fini(&h);
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ p[i]) * 0x100000001b3ull;
    return x;
}

static uint64_t scripted_run(void)
{
    struct harness h;
    h_setup(&h);
    h_start(&h);
    int lfd = h_listen(&h, 5000);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 1234, NULL);
    D_EQ(11, vep_send(EP(&h), fd, "deterministic", 11, 0));
    struct vsock_hdr req = host_hdr(&h, VSOCK_OP_REQUEST, 40000, 5000);
    dev_rx(&h, &req, NULL, 0);
    irq(&h);
    dev_tx_drain(&h);
    D_TRUE(vep_accept(EP(&h), lfd, NULL, NULL) >= 0);
    dev_event(&h, VSOCK_EVENT_TRANSPORT_RESET, 4);
    uint64_t x = fnv(h.ram, RAM_SIZE);
    h_fini(&h);
    return x;
}

TC(deterministic_memory, "the same script leaves guest memory byte-for-byte identical")
{
    D_EQ(scripted_run(), scripted_run());
}

/* ---- Linux 6.12's guest: fragment layout, fast path, SIOCOUTQ ------------------- */

TC(linux_tx_frags, "the payload descriptors of Linux's tx packets: one on 6.1; on 6.12 one up "
                   "to 32404 bytes, then page fragments of up to 32 KiB, smaller for the rest")
{
    uint32_t f[VDRV_TX_FRAGS_MAX];
    D_EQ(0, vdrv_linux_tx_frags(VSOCK_LINUX_6_12, 0, f, VDRV_TX_FRAGS_MAX));
    D_EQ(1, vdrv_linux_tx_frags(VSOCK_LINUX_6_1, 65536, f, VDRV_TX_FRAGS_MAX));
    D_EQ(65536, f[0]);
    D_EQ(1, vdrv_linux_tx_frags(VSOCK_LINUX_6_12, 32404, f, VDRV_TX_FRAGS_MAX));
    D_EQ(32404, f[0]);
    D_EQ(1, vdrv_linux_tx_frags(VSOCK_LINUX_6_12, 32405, f, VDRV_TX_FRAGS_MAX));
    D_EQ(32405, f[0]);
    D_EQ(1, vdrv_linux_tx_frags(VSOCK_LINUX_6_12, 32768, f, VDRV_TX_FRAGS_MAX));
    D_EQ(2, vdrv_linux_tx_frags(VSOCK_LINUX_6_12, 40000, f, VDRV_TX_FRAGS_MAX));
    D_EQ(32768, f[0]);
    D_EQ(7232, f[1]);
    D_EQ(3, vdrv_linux_tx_frags(VSOCK_LINUX_6_12, 52000, f, VDRV_TX_FRAGS_MAX));
    D_EQ(16384, f[1]);
    D_EQ(2848, f[2]);
    D_EQ(2, vdrv_linux_tx_frags(VSOCK_LINUX_6_12, 65536, f, VDRV_TX_FRAGS_MAX));
    D_EQ(32768, f[1]);
    D_EQ(2, vdrv_linux_tx_frags(VSOCK_LINUX_6_12, 52000, f, 2));
    D_EQ(52000 - 32768, f[1]); /* capped: the last takes the rest */
}

/* Pops the next tx chain and gives its readable descriptors' lengths. */
static unsigned dev_tx_layout(struct harness *h, uint32_t *lens, unsigned max, uint16_t *head)
{
    struct vq_chain c;
    D_EQ(1, vqdev_pop(&h->dq[TX], &c));
    *head = c.head;
    struct vq_buf b;
    unsigned n = 0;
    int r;
    while ((r = vq_chain_next(&c, &b)) == 1) {
        D_TRUE(!b.writable && n < max);
        lens[n++] = b.len;
    }
    D_EQ(0, r);
    return n;
}

TC(tx_layout_profiles, "a 40000-byte packet goes out as header + payload under 6.1 and as "
                       "header + 32768 + 7232 under 6.12 (indirect or not); a ring too short "
                       "for that gets header + payload")
{
    for (int v = 0; v < 2; v++) {
        for (int ind = 0; ind < 3; ind++) {
            struct harness h;
            h_setup(&h);
            h.cfg.sockets.linux_ver = v ? VSOCK_LINUX_6_12 : VSOCK_LINUX_6_1;
            if (ind == 1)
                h.cfg.device_features &= ~F(VIRTIO_F_INDIRECT_DESC);
            if (ind == 2)
                h.cfg.vq[TX].num = 2;
            h_start(&h);
            int fd = h_connect(&h, VSOCK_TYPE_STREAM, 5000, NULL);
            static uint8_t data[40000];
            for (size_t i = 0; i < sizeof data; i++)
                data[i] = (uint8_t)(i * 7);
            D_EQ(sizeof data, vep_send(EP(&h), fd, data, sizeof data, 0));
            vdrv_handle_tx(h.drv, h.now);
            uint32_t lens[8];
            uint16_t head;
            unsigned n = dev_tx_layout(&h, lens, 8, &head);
            D_EQ(VSOCK_HDR_LEN, lens[0]);
            if (v == 0 || ind == 2) {
                D_EQ(2, n);
                D_EQ(40000, lens[1]);
            } else {
                D_EQ(3, n);
                D_EQ(32768, lens[1]);
                D_EQ(7232, lens[2]);
            }
            uint16_t flags = get_le16(h.dq[TX].desc + 16u * head + 12);
            D_EQ(ind != 1, (flags & VIRTQ_DESC_F_INDIRECT) != 0);
            D_EQ(RING_OK, vqdev_push(&h.dq[TX], head, 0));
            irq(&h);
            h_fini(&h);
        }
    }
}

TC(tx_fast_path_profiles, "under 6.12 a packet nothing waits before goes on the tx ring in the "
                          "send call (or the rx handling of a reply) with a kick; under 6.1 tx "
                          "work moves it; a full ring makes 6.12 queue too")
{
    for (int v = 0; v < 2; v++) {
        struct harness h;
        h_setup(&h);
        h.cfg.sockets.linux_ver = v ? VSOCK_LINUX_6_12 : VSOCK_LINUX_6_1;
        h.cfg.device_features &= ~F(VIRTIO_F_EVENT_IDX); /* every add may kick */
        h_start(&h);
        int fd = h_connect(&h, VSOCK_TYPE_STREAM, 5000, NULL);
        (void)vdrv_take_kicks(h.drv);
        D_EQ(3, vep_send(EP(&h), fd, "abc", 3, 0));
        struct vq_chain c;
        D_EQ(v, vqdev_pop(&h.dq[TX], &c));
        D_EQ(v ? 1u << TX : 0u, vdrv_take_kicks(h.drv) & (1u << TX));
        if (v)
            D_EQ(RING_OK, vqdev_push(&h.dq[TX], c.head, 0));
        vdrv_handle_tx(h.drv, h.now);
        if (!v) {
            D_EQ(1, vqdev_pop(&h.dq[TX], &c));
            D_EQ(RING_OK, vqdev_push(&h.dq[TX], c.head, 0));
        }
        irq(&h);
        /* A reply: the guest answers a REQUEST to nobody with RST. */
        struct vsock_hdr q = host_hdr(&h, VSOCK_OP_REQUEST, 6000, 7000);
        dev_rx(&h, &q, NULL, 0);
        vdrv_handle_rx(h.drv, h.now);
        D_EQ(v ? 0u : 1u, vep_tx_queued_replies(EP(&h)));
        D_EQ(v, vqdev_pop(&h.dq[TX], &c));
        if (v)
            D_EQ(RING_OK, vqdev_push(&h.dq[TX], c.head, 0));
        irq(&h);
        dev_tx_drain(&h);
        /* A full ring: the packet that finds no room waits for tx work,
         * and so does every one after it. */
        for (int i = 0; i < 10; i++)
            D_EQ(1, vep_send(EP(&h), fd, "x", 1, 0));
        D_EQ(v ? 2u : 10u, vep_tx_queued_pkts(EP(&h)));
        if (v)
            D_TRUE(CTR(&h)->tx_ring_full > 0);
        unsigned total = 0;
        for (int i = 0; i < 4; i++)
            total += dev_tx_drain(&h);
        D_EQ(10, total);
        D_EQ(0, vep_tx_queued_pkts(EP(&h)));
        h_fini(&h);
    }
}

TC(tx_outq_reclaim, "6.12's SIOCOUTQ counts a packet's payload until tx work takes its buffer "
                    "back from the used ring")
{
    struct harness h;
    h_setup(&h);
    h.cfg.sockets.linux_ver = VSOCK_LINUX_6_12;
    h_start(&h);
    int fd = h_connect(&h, VSOCK_TYPE_STREAM, 5000, NULL);
    D_EQ(0, vep_outq(EP(&h), fd));
    static uint8_t data[100];
    D_EQ(100, vep_send(EP(&h), fd, data, sizeof data, 0));
    D_EQ(100, vep_outq(EP(&h), fd));
    struct vq_chain c;
    D_EQ(1, vqdev_pop(&h.dq[TX], &c));
    D_EQ(100, vep_outq(EP(&h), fd)); /* the device has it */
    D_EQ(RING_OK, vqdev_push(&h.dq[TX], c.head, 0));
    D_EQ(100, vep_outq(EP(&h), fd)); /* used, not yet reclaimed */
    vdrv_handle_tx(h.drv, h.now);
    D_EQ(0, vep_outq(EP(&h), fd));
    h_fini(&h);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, features_subset);
    ATF_TP_ADD_TC(tp, features_driver_mask);
    ATF_TP_ADD_TC(tp, features_no_version1);
    ATF_TP_ADD_TC(tp, cid_reserved);
    ATF_TP_ADD_TC(tp, cid_upper_bits);
    ATF_TP_ADD_TC(tp, cid_valid_edges);
    ATF_TP_ADD_TC(tp, arena_bytes_formula);
    ATF_TP_ADD_TC(tp, arena_errors);
    ATF_TP_ADD_TC(tp, queue_size_invalid);
    ATF_TP_ADD_TC(tp, rx_posted_at_start);
    ATF_TP_ADD_TC(tp, event_posted_at_start);
    ATF_TP_ADD_TC(tp, initial_kicks);
    ATF_TP_ADD_TC(tp, request_to_listener);
    ATF_TP_ADD_TC(tp, guest_connect_request);
    ATF_TP_ADD_TC(tp, data_both_ways);
    ATF_TP_ADD_TC(tp, tx_backpressure);
    ATF_TP_ADD_TC(tp, tx_split_large_send);
    ATF_TP_ADD_TC(tp, tx_large_slots_bounded);
    ATF_TP_ADD_TC(tp, seqpacket_split_eom);
    ATF_TP_ADD_TC(tp, tx_chain_indirect);
    ATF_TP_ADD_TC(tp, tx_chain_direct);
    ATF_TP_ADD_TC(tp, tx_one_entry_ring);
    ATF_TP_ADD_TC(tp, tx_one_entry_ring_indirect);
    ATF_TP_ADD_TC(tp, hostile_used_id_range);
    ATF_TP_ADD_TC(tp, hostile_double_completion);
    ATF_TP_ADD_TC(tp, hostile_double_completion_alone);
    ATF_TP_ADD_TC(tp, hostile_used_idx);
    ATF_TP_ADD_TC(tp, rx_short_len);
    ATF_TP_ADD_TC(tp, rx_len_beyond_capacity);
    ATF_TP_ADD_TC(tp, rx_used_len_rules);
    ATF_TP_ADD_TC(tp, rx_dst_cid_wrong);
    ATF_TP_ADD_TC(tp, rx_garbage_fuzz);
    ATF_TP_ADD_TC(tp, rx_refill_policy);
    ATF_TP_ADD_TC(tp, rx_one_entry_queue);
    ATF_TP_ADD_TC(tp, rx_pause_on_replies);
    ATF_TP_ADD_TC(tp, rx_pause_reply_budget);
    ATF_TP_ADD_TC(tp, rx_pause_rule_choice);
    ATF_TP_ADD_TC(tp, transport_reset_event);
    ATF_TP_ADD_TC(tp, transport_reset_reserved_cid);
    ATF_TP_ADD_TC(tp, event_unknown_id);
    ATF_TP_ADD_TC(tp, event_bad_len);
    ATF_TP_ADD_TC(tp, device_reset_returns_slots);
    ATF_TP_ADD_TC(tp, device_reset_recovers_broken);
    ATF_TP_ADD_TC(tp, kick_no_notify);
    ATF_TP_ADD_TC(tp, kick_avail_event);
    ATF_TP_ADD_TC(tp, interrupts_reenabled);
    ATF_TP_ADD_TC(tp, tick_connect_timeout);
    ATF_TP_ADD_TC(tp, seqpacket_not_negotiated);
    ATF_TP_ADD_TC(tp, deterministic_memory);
    ATF_TP_ADD_TC(tp, linux_tx_frags);
    ATF_TP_ADD_TC(tp, tx_layout_profiles);
    ATF_TP_ADD_TC(tp, tx_fast_path_profiles);
    ATF_TP_ADD_TC(tp, tx_outq_reclaim);
    return atf_no_error();
}
