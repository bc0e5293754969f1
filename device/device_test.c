/* The device driven by a hand-written guest: it uses the ring's driver half
 * directly to post rx buffers and tx packets, and writes raw descriptors
 * where a test plays a hostile guest. */
#include "device/device.h"

#include <atf-c.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GPA_BASE 0x100000ull
#define MEM_SIZE (4u << 20)
#define RING_AREA 0x10000ull    /* per queue */
#define INDIRECT_AREA 0x30000ull
#define BUF_AREA 0x100000ull
#define INDIRECT_MAX 8u
#define GUEST_CID 3u
#define HOST_PORT 1234u
#define GUEST_PORT 5000u

struct guest {
    uint8_t *hva;
    struct gmem mem;
    struct vq_driver vq[VSOCK_VQ_COUNT];
    bool has_vq[VSOCK_VQ_COUNT];
    uint64_t features;
    uint64_t next_buf;
    struct vdev *dev;
    struct vep *host;
    uint64_t now;
    unsigned irqs; /* accumulated vdev_take_interrupts */
    unsigned errs; /* accumulated vdev_take_errors */
};

struct gopts {
    uint32_t qsize;            /* 0 = 16 */
    uint64_t offer;            /* 0 = the device default */
    uint64_t features;         /* 0 = everything offered */
    bool no_event_queue;
    uint32_t max_replies;
    bool no_start;
    uint32_t max_rx_payload;
    bool lenient; /* the return-bad-chains deviation: our rule for malformed chains */
};

static uint64_t bit(unsigned n)
{
    return 1ull << n;
}

static void g_collect(struct guest *g)
{
    g->irqs |= vdev_take_interrupts(g->dev);
    g->errs |= vdev_take_errors(g->dev);
}

static unsigned g_take_irqs(struct guest *g)
{
    g_collect(g);
    unsigned v = g->irqs;
    g->irqs = 0;
    return v;
}

static unsigned g_take_errs(struct guest *g)
{
    g_collect(g);
    unsigned v = g->errs;
    g->errs = 0;
    return v;
}

static void g_init_rings(struct guest *g, uint32_t qsize)
{
    unsigned nq = g->has_vq[VSOCK_VQ_EVENT] ? 3 : 2;
    for (unsigned i = 0; i < nq; i++) {
        struct vq_driver_cfg dc = {
            .event_idx = (g->features & bit(VIRTIO_F_EVENT_IDX)) != 0,
            .indirect = (g->features & bit(VIRTIO_F_INDIRECT_DESC)) != 0,
            .indirect_gpa = GPA_BASE + INDIRECT_AREA + i * RING_AREA,
            .indirect_max = INDIRECT_MAX,
        };
        ATF_REQUIRE(vring_layout_contiguous(&dc.layout, qsize, GPA_BASE + i * RING_AREA, 4) != 0);
        ATF_REQUIRE_EQ(vqd_init(&g->vq[i], &g->mem, &dc), RING_OK);
        ATF_REQUIRE_EQ(vdev_set_queue(g->dev, (enum vsock_vq)i, &dc.layout), 0);
    }
}

static void g_setup(struct guest *g, const struct gopts *o)
{
    memset(g, 0, sizeof(*g));
    g->hva = aligned_alloc(4096, MEM_SIZE);
    ATF_REQUIRE(g->hva != NULL);
    memset(g->hva, 0, MEM_SIZE);
    gmem_init(&g->mem);
    ATF_REQUIRE_EQ(gmem_add_region(&g->mem, GPA_BASE, MEM_SIZE, g->hva), RING_OK);
    g->next_buf = GPA_BASE + BUF_AREA;

    struct vdev_cfg cfg = {
        .mem = &g->mem,
        .guest_cid = GUEST_CID,
        .features = o->offer,
        .max_queued_replies = o->max_replies,
        .event_queue = !o->no_event_queue,
    };
    if (o->lenient)
        cfg.sockets.deviate = VSOCK_DEV_BIT(VSOCK_DEV_RETURN_BAD_CHAINS);
    cfg.sockets.max_rx_payload = o->max_rx_payload;
    int err = 1;
    g->dev = vdev_new(&cfg, &err);
    ATF_REQUIRE(g->dev != NULL);
    ATF_REQUIRE_EQ(err, 0);
    g->host = vdev_sockets(g->dev);
    ATF_REQUIRE(g->host != NULL);

    g->features = o->features != 0 ? o->features : vdev_offered_features(g->dev);
    ATF_REQUIRE_EQ(vdev_set_features(g->dev, g->features), 0);
    g->has_vq[VSOCK_VQ_RX] = g->has_vq[VSOCK_VQ_TX] = true;
    g->has_vq[VSOCK_VQ_EVENT] = !o->no_event_queue;
    g_init_rings(g, o->qsize != 0 ? o->qsize : 16);
    if (!o->no_start)
        ATF_REQUIRE_EQ(vdev_start(g->dev), 0);
}

static void g_setup_default(struct guest *g)
{
    struct gopts o = {0};
    g_setup(g, &o);
}

static void g_setup_lenient(struct guest *g)
{
    struct gopts o = {.lenient = true};
    g_setup(g, &o);
}

static void g_teardown(struct guest *g)
{
    vdev_free(g->dev);
    for (unsigned i = 0; i < VSOCK_VQ_COUNT; i++)
        if (g->has_vq[i])
            vqd_destroy(&g->vq[i]);
    free(g->hva);
}

static uint64_t g_alloc(struct guest *g, uint32_t len)
{
    uint64_t gpa = g->next_buf;
    g->next_buf = (g->next_buf + len + 15) & ~15ull;
    ATF_REQUIRE(g->next_buf <= GPA_BASE + MEM_SIZE);
    return gpa;
}

static uint8_t *g_hva(struct guest *g, uint64_t gpa, uint64_t len)
{
    uint8_t *p = gmem_translate(&g->mem, gpa, len);
    ATF_REQUIRE(p != NULL);
    return p;
}

static void *tok(uint64_t gpa)
{
    return (void *)(uintptr_t)gpa;
}

/* ---- rx ---------------------------------------------------------------- */

/* One writable buffer of total bytes, split into descriptors of the given
 * sizes (contiguous in memory, so it reads back as one span). */
static void g_post_rx_split(struct guest *g, const uint32_t *lens, unsigned n)
{
    struct vq_seg segs[8];
    ATF_REQUIRE(n <= 8);
    uint32_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += lens[i];
    uint64_t gpa = g_alloc(g, total);
    uint64_t at = gpa;
    for (unsigned i = 0; i < n; i++) {
        segs[i] = (struct vq_seg){.gpa = at, .len = lens[i]};
        at += lens[i];
    }
    ATF_REQUIRE_EQ(vqd_add(&g->vq[VSOCK_VQ_RX], segs, 0, n, tok(gpa), VQ_ADD_DIRECT), RING_OK);
}

static void g_post_rx(struct guest *g, uint32_t size)
{
    g_post_rx_split(g, &size, 1);
}

static void g_post_rx_n(struct guest *g, unsigned n, uint32_t size)
{
    for (unsigned i = 0; i < n; i++)
        g_post_rx(g, size);
}

struct rxpkt {
    struct vsock_hdr hdr;
    uint32_t used_len;
    uint32_t cap;
    uint8_t data[4096];
    uint32_t data_len;
};

/* 1 and *p filled when the device returned an rx buffer, 0 when none. */
static int g_recv(struct guest *g, struct rxpkt *p)
{
    struct vq_used_entry e;
    int r = vqd_get_used(&g->vq[VSOCK_VQ_RX], &e);
    ATF_REQUIRE(r >= 0);
    if (r == 0)
        return 0;
    memset(p, 0, sizeof(*p));
    p->used_len = e.len;
    p->cap = e.capacity;
    ATF_REQUIRE(e.len <= e.capacity);
    if (e.len >= VSOCK_HDR_LEN) {
        uint64_t gpa = (uint64_t)(uintptr_t)e.token;
        vsock_hdr_decode(g_hva(g, gpa, VSOCK_HDR_LEN), &p->hdr);
        p->data_len = e.len - VSOCK_HDR_LEN;
        ATF_REQUIRE(p->data_len <= sizeof(p->data));
        memcpy(p->data, g_hva(g, gpa + VSOCK_HDR_LEN, p->data_len), p->data_len);
    }
    return 1;
}

/* The next packet that is not a credit update (which a socket layer may
 * send unsolicited, as Linux does). */
static int g_recv_pkt(struct guest *g, struct rxpkt *p)
{
    for (;;) {
        if (g_recv(g, p) == 0)
            return 0;
        if (p->used_len >= VSOCK_HDR_LEN && p->hdr.op == VSOCK_OP_CREDIT_UPDATE)
            continue;
        return 1;
    }
}

static void g_expect(struct guest *g, uint16_t op, struct rxpkt *p)
{
    ATF_REQUIRE_MSG(g_recv_pkt(g, p) == 1, "no rx packet, expected %s", vsock_op_name(op));
    ATF_REQUIRE_EQ(p->used_len, VSOCK_HDR_LEN + p->hdr.len);
    ATF_REQUIRE_EQ_MSG(p->hdr.op, op, "got %s, expected %s", vsock_op_name(p->hdr.op),
                       vsock_op_name(op));
    ATF_REQUIRE_EQ(p->hdr.src_cid, VSOCK_CID_HOST);
    ATF_REQUIRE_EQ(p->hdr.dst_cid, GUEST_CID);
}

static void g_expect_nothing(struct guest *g)
{
    struct rxpkt p;
    ATF_REQUIRE_EQ_MSG(g_recv_pkt(g, &p), 0, "unexpected %s", vsock_op_name(p.hdr.op));
}

/* ---- tx ---------------------------------------------------------------- */

static struct vsock_hdr ghdr(uint16_t op, uint16_t type, uint32_t sport, uint32_t dport)
{
    return (struct vsock_hdr){
        .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_HOST, .src_port = sport, .dst_port = dport,
        .type = type, .op = op, .buf_alloc = 65536};
}

static uint64_t g_put(struct guest *g, const void *bytes, uint32_t len)
{
    uint64_t gpa = g_alloc(g, len ? len : 1);
    if (len)
        memcpy(g_hva(g, gpa, len), bytes, len);
    return gpa;
}

static void g_queue_raw_segs(struct guest *g, const struct vq_seg *segs, unsigned n_out,
                             unsigned n_in, enum vq_add_mode mode)
{
    ATF_REQUIRE_EQ(vqd_add(&g->vq[VSOCK_VQ_TX], segs, n_out, n_in, tok(segs[0].gpa), mode),
                   RING_OK);
}

static void g_queue_raw(struct guest *g, const void *bytes, uint32_t len)
{
    struct vq_seg s = {.gpa = g_put(g, bytes, len), .len = len};
    g_queue_raw_segs(g, &s, 1, 0, VQ_ADD_DIRECT);
}

/* A packet whose chain carries plen payload bytes, whatever hdr.len says. */
static void g_queue_pkt(struct guest *g, const struct vsock_hdr *h, const void *payload,
                        uint32_t plen)
{
    uint8_t *buf = malloc(VSOCK_HDR_LEN + plen);
    ATF_REQUIRE(buf != NULL);
    vsock_hdr_encode(h, buf);
    if (plen)
        memcpy(buf + VSOCK_HDR_LEN, payload, plen);
    g_queue_raw(g, buf, VSOCK_HDR_LEN + plen);
    free(buf);
}

static void g_kick_tx(struct guest *g)
{
    vdev_handle_tx_kick(g->dev, g->now);
    g_collect(g);
}

static void g_send(struct guest *g, struct vsock_hdr h, const void *payload, uint32_t plen)
{
    h.len = plen;
    g_queue_pkt(g, &h, payload, plen);
    g_kick_tx(g);
}

/* Used tx entries since the last call; every one must have len 0. */
static unsigned g_tx_done(struct guest *g)
{
    unsigned n = 0;
    struct vq_used_entry e;
    int r;
    while ((r = vqd_get_used(&g->vq[VSOCK_VQ_TX], &e)) == 1) {
        ATF_REQUIRE_EQ(e.len, 0);
        n++;
    }
    ATF_REQUIRE_EQ(r, 0);
    return n;
}

/* Raw descriptor access for hostile chains (little-endian fields). */
static void g_desc_set(struct guest *g, enum vsock_vq q, uint16_t i, uint64_t addr, uint32_t len,
                       uint16_t flags, uint16_t next)
{
    uint8_t *d = g->vq[q].desc + 16u * i;
    for (unsigned k = 0; k < 8; k++)
        d[k] = (uint8_t)(addr >> (8 * k));
    for (unsigned k = 0; k < 4; k++)
        d[8 + k] = (uint8_t)(len >> (8 * k));
    d[12] = (uint8_t)flags;
    d[13] = (uint8_t)(flags >> 8);
    d[14] = (uint8_t)next;
    d[15] = (uint8_t)(next >> 8);
}

static uint16_t g_desc_next(struct guest *g, enum vsock_vq q, uint16_t i)
{
    const uint8_t *d = g->vq[q].desc + 16u * i;
    return (uint16_t)(d[14] | d[15] << 8);
}

/* Publishes a head the driver half never allocated. */
static void g_avail_raw(struct guest *g, enum vsock_vq q, uint16_t head)
{
    struct vq_driver *vq = &g->vq[q];
    vq->avail[2 + (vq->avail_idx_shadow & (vq->num - 1))] = head;
    vq->avail_idx_shadow++;
    __atomic_store_n(&vq->avail[1], vq->avail_idx_shadow, __ATOMIC_RELEASE);
}

/* ---- host side ------------------------------------------------------------ */

static int host_listen(struct guest *g, int type, uint32_t port)
{
    int fd = vep_socket(g->host, type);
    ATF_REQUIRE(fd >= 0);
    ATF_REQUIRE_EQ(vep_bind(g->host, fd, port), 0);
    ATF_REQUIRE_EQ(vep_listen(g->host, fd, 16), 0);
    return fd;
}

/* Guest connects to a host listener; returns the host's accepted fd. */
static int g_connect(struct guest *g, int lfd, uint16_t type, uint32_t sport)
{
    g_post_rx(g, 4096);
    g_send(g, ghdr(VSOCK_OP_REQUEST, type, sport, HOST_PORT), NULL, 0);
    ATF_REQUIRE(g_tx_done(g) >= 1);
    struct rxpkt p;
    g_expect(g, VSOCK_OP_RESPONSE, &p);
    ATF_REQUIRE_EQ(p.hdr.src_port, HOST_PORT);
    ATF_REQUIRE_EQ(p.hdr.dst_port, sport);
    ATF_REQUIRE_EQ(p.hdr.type, type);
    uint64_t cid = 0;
    uint32_t port = 0;
    int fd = vep_accept(g->host, lfd, &cid, &port);
    ATF_REQUIRE(fd >= 0);
    ATF_REQUIRE_EQ(cid, GUEST_CID);
    ATF_REQUIRE_EQ(port, sport);
    return fd;
}

/* ---- cases: lifecycle ------------------------------------------------------ */

ATF_TC_WITHOUT_HEAD(new_rejects_bad_cid);
ATF_TC_BODY(new_rejects_bad_cid, tc)
{
    struct gmem m;
    gmem_init(&m);
    const uint64_t bad[] = {0, 1, 2, 0xffffffffull, 0x100000000ull};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vdev_cfg cfg = {.mem = &m, .guest_cid = bad[i]};
        int err = 0;
        ATF_CHECK(vdev_new(&cfg, &err) == NULL);
        ATF_CHECK_EQ(err, -EINVAL);
    }
    struct vdev_cfg cfg = {.mem = &m, .guest_cid = 3};
    int err = 1;
    struct vdev *dev = vdev_new(&cfg, &err);
    ATF_REQUIRE(dev != NULL);
    ATF_CHECK_EQ(err, 0);
    ATF_CHECK_EQ(vdev_guest_cid(dev), 3);
    ATF_CHECK_EQ(vep_local_cid(vdev_sockets(dev)), VSOCK_CID_HOST);
    vdev_free(dev);
}

ATF_TC_WITHOUT_HEAD(features_subset);
ATF_TC_BODY(features_subset, tc)
{
    struct gopts o = {.no_start = true};
    struct guest g;
    g_setup(&g, &o);
    uint64_t offer = vdev_offered_features(g.dev);
    /* vhost's offer (0x33d000002) without the bits we do not implement:
     * no STREAM bit (stream is implied), no NO_IMPLIED_STREAM. */
    ATF_CHECK_EQ(offer, bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_VSOCK_F_SEQPACKET) |
                            bit(VIRTIO_F_EVENT_IDX) | bit(VIRTIO_F_INDIRECT_DESC));
    ATF_CHECK_EQ(offer & ~VDEV_VHOST_OFFER, 0);
    ATF_CHECK_EQ(vdev_set_features(g.dev, offer | bit(40)), -EINVAL);
    ATF_CHECK_EQ(vdev_set_features(g.dev, bit(VIRTIO_VSOCK_F_NO_IMPLIED_STREAM)), -EINVAL);
    ATF_CHECK_EQ(vdev_set_features(g.dev, bit(VIRTIO_F_VERSION_1)), 0);
    ATF_CHECK_EQ(vdev_set_features(g.dev, offer), 0);
    ATF_REQUIRE_EQ(vdev_start(g.dev), 0);
    ATF_CHECK_EQ(vdev_set_features(g.dev, offer), -EBUSY);
    ATF_CHECK(vdev_queue(g.dev, VSOCK_VQ_TX)->event_idx);
    ATF_CHECK(vdev_queue(g.dev, VSOCK_VQ_TX)->indirect);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(offer_without_optional_features);
ATF_TC_BODY(offer_without_optional_features, tc)
{
    struct gopts o = {.offer = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_VSOCK_F_STREAM)};
    struct guest g;
    g_setup(&g, &o);
    ATF_CHECK(!vdev_queue(g.dev, VSOCK_VQ_RX)->event_idx);
    ATF_CHECK(!vdev_queue(g.dev, VSOCK_VQ_RX)->indirect);
    ATF_CHECK_EQ(vdev_set_features(g.dev, bit(VIRTIO_VSOCK_F_SEQPACKET)), -EINVAL);
    /* Without SEQPACKET offered, host seqpacket sockets can be created and
     * listen (as Linux) but not connect, and a seqpacket connection is
     * refused, also by a seqpacket listener. */
    int sp = vep_socket(g.host, VSOCK_TYPE_SEQPACKET);
    ATF_REQUIRE(sp >= 0);
    ATF_CHECK_EQ(vep_connect(g.host, sp, GUEST_CID, 7000, 0), -ESOCKTNOSUPPORT);
    ATF_CHECK_EQ(vep_bind(g.host, sp, HOST_PORT + 1), 0);
    ATF_CHECK_EQ(vep_listen(g.host, sp, 4), 0);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_SEQPACKET, GUEST_PORT, HOST_PORT), NULL, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_SEQPACKET, GUEST_PORT, HOST_PORT + 1), NULL, 0);
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(vep_accept(g.host, sp, NULL, NULL), -EAGAIN);
    ATF_CHECK_EQ(vep_close(g.host, sp, 0), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(start_reports_bad_layout);
ATF_TC_BODY(start_reports_bad_layout, tc)
{
    struct gopts o = {.no_start = true};
    struct guest g;
    g_setup(&g, &o);
    struct vring_layout l = {.num = 16, .desc = GPA_BASE + 8, .avail = GPA_BASE + 0x1000,
                             .used = GPA_BASE + 0x2000};
    ATF_REQUIRE_EQ(vdev_set_queue(g.dev, VSOCK_VQ_TX, &l), 0);
    ATF_CHECK_EQ(vdev_start(g.dev), RING_E_ALIGN);
    ATF_CHECK(vdev_queue(g.dev, VSOCK_VQ_RX)->num == 0);
    l = (struct vring_layout){.num = 16, .desc = 0x1000, .avail = 0x2000, .used = 0x3000};
    ATF_REQUIRE_EQ(vdev_set_queue(g.dev, VSOCK_VQ_TX, &l), 0);
    ATF_CHECK_EQ(vdev_start(g.dev), RING_E_GPA_RANGE);
    l.num = 3;
    ATF_REQUIRE_EQ(vdev_set_queue(g.dev, VSOCK_VQ_TX, &l), 0);
    ATF_CHECK_EQ(vdev_start(g.dev), RING_E_QUEUE_SIZE);
    ATF_CHECK_EQ(vdev_set_queue(g.dev, (enum vsock_vq)7, &l), -EINVAL);
    /* A kick on a queue that never started is lost, not a crash. */
    vdev_handle_tx_kick(g.dev, 0);
    vdev_deliver(g.dev, 0);
    ATF_CHECK_EQ(vdev_take_interrupts(g.dev), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(event_queue_absent);
ATF_TC_BODY(event_queue_absent, tc)
{
    struct gopts o = {.no_event_queue = true};
    struct guest g;
    g_setup(&g, &o);
    struct vring_layout l = {.num = 16, .desc = GPA_BASE + 2 * RING_AREA};
    ATF_CHECK_EQ(vdev_set_queue(g.dev, VSOCK_VQ_EVENT, &l), -EINVAL);
    ATF_CHECK_EQ(vdev_inject_transport_reset(g.dev), -ENODEV);
    g_teardown(&g);
}

/* ---- cases: connections ---------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(request_no_listener_rst);
ATF_TC_BODY(request_no_listener_rst, tc)
{
    struct guest g;
    g_setup_default(&g);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 4321), NULL, 0);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(p.hdr.src_port, 4321);
    ATF_CHECK_EQ(p.hdr.dst_port, GUEST_PORT);
    ATF_CHECK_EQ(p.hdr.len, 0);
    ATF_CHECK_EQ(p.used_len, VSOCK_HDR_LEN);
    ATF_CHECK_EQ(vep_counters(g.host)->drops[VEP_DROP_NO_SOCKET], 1);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_pkts, 1);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_pkts, 1);
    unsigned irqs = g_take_irqs(&g);
    ATF_CHECK(irqs & (1u << VSOCK_VQ_TX));
    ATF_CHECK(irqs & (1u << VSOCK_VQ_RX));
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(request_listener_response);
ATF_TC_BODY(request_listener_response, tc)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    ATF_CHECK_EQ(vep_accept(g.host, lfd, NULL, NULL), -EAGAIN);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    ATF_CHECK_EQ(vep_sock_state(g.host, fd), VEP_SS_CONNECTED);
    ATF_CHECK_EQ(vep_counters(g.host)->connects, 1);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(data_guest_to_host);
ATF_TC_BODY(data_guest_to_host, tc)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    g_send(&g, ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT), "hello", 5);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    char buf[16] = {0};
    ATF_REQUIRE_EQ(vep_recv(g.host, fd, buf, sizeof(buf), 0, NULL), 5);
    ATF_CHECK_STREQ(buf, "hello");
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(data_host_to_guest);
ATF_TC_BODY(data_host_to_guest, tc)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    ATF_REQUIRE_EQ(vep_send(g.host, fd, "0123456789abcdef", 16, 0), 16);
    g_post_rx(&g, 4096);
    g_take_irqs(&g);
    vdev_deliver(g.dev, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RW, &p);
    ATF_CHECK_EQ(p.hdr.len, 16);
    ATF_CHECK_EQ(p.used_len, VSOCK_HDR_LEN + 16);
    ATF_CHECK(memcmp(p.data, "0123456789abcdef", 16) == 0);
    ATF_CHECK_EQ(p.hdr.src_port, HOST_PORT);
    ATF_CHECK_EQ(p.hdr.dst_port, GUEST_PORT);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_partial, 0);
    ATF_CHECK_EQ(g_take_irqs(&g), 1u << VSOCK_VQ_RX);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(host_connect_before_start);
ATF_TC_BODY(host_connect_before_start, tc)
{
    struct gopts o = {.no_start = true};
    struct guest g;
    g_setup(&g, &o);
    int fd = vep_socket(g.host, VSOCK_TYPE_STREAM);
    ATF_REQUIRE(fd >= 0);
    ATF_CHECK_EQ(vep_connect(g.host, fd, GUEST_CID, 7000, 0), -EINPROGRESS);
    g_post_rx(&g, 4096);
    vdev_deliver(g.dev, 0); /* not started: nothing moves */
    struct rxpkt p;
    ATF_CHECK_EQ(g_recv(&g, &p), 0);
    ATF_REQUIRE_EQ(vdev_start(g.dev), 0);
    g_expect(&g, VSOCK_OP_REQUEST, &p);
    ATF_CHECK_EQ(p.hdr.dst_port, 7000);
    ATF_CHECK_EQ(vdev_start(g.dev), 0); /* already running */
    g_teardown(&g);
}

/* ---- cases: rx buffers ------------------------------------------------------ */

/* What the rx observer saw: the headers as placed in rx buffers. */
struct seen_hdrs {
    struct vsock_hdr h[8];
    unsigned n;
};

static void see_hdr(void *ctx, const struct vsock_hdr *h)
{
    struct seen_hdrs *s = ctx;
    if (s->n < 8)
        s->h[s->n] = *h;
    s->n++;
}

static void split_check(uint16_t type)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, type, HOST_PORT);
    int fd = g_connect(&g, lfd, type, GUEST_PORT);
    char msg[25];
    for (unsigned i = 0; i < sizeof(msg); i++)
        msg[i] = (char)('a' + i);
    unsigned flags = type == VSOCK_TYPE_SEQPACKET ? VEP_MSG_EOR : 0;
    ATF_REQUIRE_EQ(vep_send(g.host, fd, msg, sizeof(msg), flags), (int64_t)sizeof(msg));
    g_post_rx_n(&g, 3, VSOCK_HDR_LEN + 10);
    struct seen_hdrs seen = {.n = 0};
    vdev_set_rx_observer(g.dev, see_hdr, &seen);
    vdev_deliver(g.dev, 0);
    ATF_REQUIRE_EQ(seen.n, 3); /* one per part, as placed */
    const uint32_t want[3] = {10, 10, 5};
    uint32_t off = 0;
    for (unsigned i = 0; i < 3; i++) {
        struct rxpkt p;
        g_expect(&g, VSOCK_OP_RW, &p);
        ATF_CHECK_EQ(p.hdr.len, want[i]);
        ATF_CHECK_EQ(p.used_len, VSOCK_HDR_LEN + want[i]);
        ATF_CHECK_EQ(p.hdr.type, type);
        ATF_CHECK(memcmp(p.data, msg + off, want[i]) == 0);
        ATF_CHECK(seen.h[i].op == p.hdr.op && seen.h[i].len == p.hdr.len &&
                  seen.h[i].flags == p.hdr.flags && seen.h[i].src_port == p.hdr.src_port &&
                  seen.h[i].dst_port == p.hdr.dst_port && seen.h[i].fwd_cnt == p.hdr.fwd_cnt &&
                  seen.h[i].buf_alloc == p.hdr.buf_alloc);
        off += want[i];
        uint32_t marks = p.hdr.flags & (VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
        if (type == VSOCK_TYPE_SEQPACKET)
            ATF_CHECK_EQ_MSG(marks, i == 2 ? VSOCK_SEQ_EOM | VSOCK_SEQ_EOR : 0u,
                             "part %u flags %#x", i, p.hdr.flags);
        else
            ATF_CHECK_EQ(p.hdr.flags, 0);
    }
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_partial, 1);
    ATF_CHECK_EQ(vep_tx_queued_pkts(g.host), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(split_stream_over_small_buffers);
ATF_TC_BODY(split_stream_over_small_buffers, tc)
{
    split_check(VSOCK_TYPE_STREAM);
}

ATF_TC_WITHOUT_HEAD(split_seqpacket_eom_on_last_part);
ATF_TC_BODY(split_seqpacket_eom_on_last_part, tc)
{
    split_check(VSOCK_TYPE_SEQPACKET);
}

ATF_TC_WITHOUT_HEAD(split_waits_for_buffers);
ATF_TC_BODY(split_waits_for_buffers, tc)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_SEQPACKET, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_SEQPACKET, GUEST_PORT);
    ATF_REQUIRE_EQ(vep_send(g.host, fd, "0123456789ABCDEFGHIJ", 20, 0), 20);
    g_post_rx(&g, VSOCK_HDR_LEN + 8);
    uint64_t no_buf = vdev_counters(g.dev)->rx_no_buffer;
    vdev_deliver(g.dev, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RW, &p);
    ATF_CHECK_EQ(p.hdr.len, 8);
    ATF_CHECK_EQ(p.hdr.flags & VSOCK_SEQ_EOM, 0);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_no_buffer, no_buf + 1);
    /* The rest waits for the next buffer, which is big enough. */
    g_post_rx(&g, 4096);
    vdev_handle_rx_kick(g.dev, 0);
    g_expect(&g, VSOCK_OP_RW, &p);
    ATF_CHECK_EQ(p.hdr.len, 12);
    ATF_CHECK(memcmp(p.data, "89ABCDEFGHIJ", 12) == 0);
    ATF_CHECK(p.hdr.flags & VSOCK_SEQ_EOM);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_partial, 1);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(rx_header_only_buffer);
ATF_TC_BODY(rx_header_only_buffer, tc)
{
    /* A buffer with room for the header alone gets a 0-length part and the
     * payload waits, as vhost does. */
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    ATF_REQUIRE_EQ(vep_send(g.host, fd, "xyz", 3, 0), 3);
    g_post_rx(&g, VSOCK_HDR_LEN);
    g_post_rx(&g, 4096);
    vdev_deliver(g.dev, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RW, &p);
    ATF_CHECK_EQ(p.hdr.len, 0);
    ATF_CHECK_EQ(p.used_len, VSOCK_HDR_LEN);
    g_expect(&g, VSOCK_OP_RW, &p);
    ATF_CHECK_EQ(p.hdr.len, 3);
    ATF_CHECK(memcmp(p.data, "xyz", 3) == 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(rx_header_scattered);
ATF_TC_BODY(rx_header_scattered, tc)
{
    struct guest g;
    g_setup_default(&g);
    const uint32_t lens[4] = {10, 30, 7, 100};
    g_post_rx_split(&g, lens, 4);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(p.hdr.dst_port, GUEST_PORT);
    ATF_CHECK_EQ(p.hdr.src_port, 99);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(rx_buffer_smaller_than_header);
ATF_TC_BODY(rx_buffer_smaller_than_header, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    g_post_rx(&g, 20);
    g_post_rx(&g, VSOCK_HDR_LEN - 1);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    struct rxpkt p;
    ATF_REQUIRE_EQ(g_recv(&g, &p), 1);
    ATF_CHECK_EQ(p.used_len, 0);
    ATF_REQUIRE_EQ(g_recv(&g, &p), 1);
    ATF_CHECK_EQ(p.used_len, 0);
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_buf_too_small, 2);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(rx_chain_with_readable_part);
ATF_TC_BODY(rx_chain_with_readable_part, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    uint64_t gpa = g_alloc(&g, 4096 + 64);
    struct vq_seg segs[2] = {{.gpa = gpa, .len = 64}, {.gpa = gpa + 64, .len = 4096}};
    ATF_REQUIRE_EQ(vqd_add(&g.vq[VSOCK_VQ_RX], segs, 1, 1, tok(gpa), VQ_ADD_DIRECT), RING_OK);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    struct rxpkt p;
    ATF_REQUIRE_EQ(g_recv(&g, &p), 1);
    ATF_CHECK_EQ(p.used_len, 0);
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_buf_too_small, 1);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(rx_descriptor_loop);
ATF_TC_BODY(rx_descriptor_loop, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    const uint32_t lens[2] = {100, 100};
    g_post_rx_split(&g, lens, 2);
    uint16_t second = g_desc_next(&g, VSOCK_VQ_RX, 0);
    uint64_t gpa = g.next_buf - 208;
    g_desc_set(&g, VSOCK_VQ_RX, second, gpa, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_RX);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_bad_chain, 1);
    ATF_CHECK_EQ(vdev_counters(g.dev)->last_ring_error, RING_E_CHAIN_LOOP);
    ATF_CHECK_EQ(vep_tx_queued_pkts(g.host), 1); /* the RST waits */
    g_post_rx(&g, 4096);
    vdev_handle_rx_kick(g.dev, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(rx_no_buffer_tx_still_runs);
ATF_TC_BODY(rx_no_buffer_tx_still_runs, tc)
{
    struct guest g;
    g_setup_default(&g);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_no_buffer, 1);
    ATF_CHECK_EQ(vep_tx_queued_replies(g.host), 1);
    ATF_CHECK_EQ(g_take_irqs(&g), 1u << VSOCK_VQ_TX);
    g_post_rx(&g, 4096);
    vdev_handle_rx_kick(g.dev, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(vep_tx_queued_replies(g.host), 0);
    ATF_CHECK_EQ(g_take_irqs(&g), 1u << VSOCK_VQ_RX);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(replies_bounded_then_resume);
ATF_TC_BODY(replies_bounded_then_resume, tc)
{
    struct gopts o = {.max_replies = 2, .features = bit(VIRTIO_F_VERSION_1)};
    struct guest g;
    g_setup(&g, &o);
    for (uint32_t i = 0; i < 5; i++) {
        struct vsock_hdr h = ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT + i, 99);
        g_queue_pkt(&g, &h, NULL, 0);
    }
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 2);
    ATF_CHECK_EQ(vep_tx_queued_replies(g.host), 2);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_paused_replies, 1);
    /* Paused, tx kicks stay disabled, as vhost leaves them. */
    ATF_CHECK(!vqd_kick_prepare(&g.vq[VSOCK_VQ_TX]));
    /* Another kick while still full takes nothing. */
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 0);
    ATF_CHECK_EQ(vep_tx_queued_replies(g.host), 2);

    /* rx buffers drain the replies, and tx resumes by itself. */
    g_post_rx_n(&g, 8, 4096);
    vdev_handle_rx_kick(g.dev, 0);
    ATF_CHECK_EQ(g_tx_done(&g), 3);
    for (uint32_t i = 0; i < 5; i++) {
        struct rxpkt p;
        g_expect(&g, VSOCK_OP_RST, &p);
        ATF_CHECK_EQ(p.hdr.dst_port, GUEST_PORT + i);
    }
    ATF_CHECK_EQ(vep_tx_queued_replies(g.host), 0);
    ATF_CHECK_EQ(g_take_irqs(&g) & (1u << VSOCK_VQ_TX), 1u << VSOCK_VQ_TX);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(replies_default_bound_is_tx_size);
ATF_TC_BODY(replies_default_bound_is_tx_size, tc)
{
    struct gopts o = {.qsize = 4};
    struct guest g;
    g_setup(&g, &o);
    for (uint32_t i = 0; i < 4; i++) {
        struct vsock_hdr h = ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT + i, 99);
        g_queue_pkt(&g, &h, NULL, 0);
    }
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 4);
    ATF_CHECK_EQ(vep_tx_queued_replies(g.host), 4);
    /* Like vhost, the bound is checked before each pop, so a full reply
     * queue pauses even with nothing left to take. */
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_paused_replies, 1);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT + 4, 99), NULL, 0);
    ATF_CHECK_EQ(g_tx_done(&g), 0);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_paused_replies, 2);
    g_post_rx_n(&g, 4, 4096);
    vdev_deliver(g.dev, 0);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    ATF_CHECK_EQ(vep_tx_queued_replies(g.host), 1);
    g_teardown(&g);
}

/* ---- cases: hostile tx packets -------------------------------------------- */

ATF_TC_WITHOUT_HEAD(tx_shorter_than_header);
ATF_TC_BODY(tx_shorter_than_header, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    g_post_rx(&g, 4096);
    uint8_t junk[20] = {1, 2, 3};
    g_queue_raw(&g, junk, sizeof(junk));
    g_queue_raw(&g, junk, 0); /* an empty descriptor */
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 2);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_bad_pkt, 2);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_pkts, 0);
    ATF_CHECK_EQ(vep_counters(g.host)->drops[VEP_DROP_SHORT], 2);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_expect_nothing(&g);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_header_over_descriptors);
ATF_TC_BODY(tx_header_over_descriptors, tc)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.len = 6;
    uint8_t raw[VSOCK_HDR_LEN];
    vsock_hdr_encode(&h, raw);
    struct vq_seg segs[4] = {
        {.gpa = g_put(&g, raw, 1), .len = 1},
        {.gpa = g_put(&g, raw + 1, 40), .len = 40},
        {.gpa = g_put(&g, raw + 41, 3), .len = 3},
        {.gpa = g_put(&g, "abcdef", 6), .len = 6},
    };
    g_queue_raw_segs(&g, segs, 4, 0, VQ_ADD_DIRECT);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    char buf[8] = {0};
    ATF_REQUIRE_EQ(vep_recv(g.host, fd, buf, sizeof(buf), 0, NULL), 6);
    ATF_CHECK(memcmp(buf, "abcdef", 6) == 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_indirect_chain);
ATF_TC_BODY(tx_indirect_chain, tc)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.len = 4;
    uint8_t raw[VSOCK_HDR_LEN];
    vsock_hdr_encode(&h, raw);
    struct vq_seg segs[2] = {
        {.gpa = g_put(&g, raw, sizeof(raw)), .len = sizeof(raw)},
        {.gpa = g_put(&g, "wxyz", 4), .len = 4},
    };
    g_queue_raw_segs(&g, segs, 2, 0, VQ_ADD_INDIRECT);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    char buf[8] = {0};
    ATF_REQUIRE_EQ(vep_recv(g.host, fd, buf, sizeof(buf), 0, NULL), 4);
    ATF_CHECK(memcmp(buf, "wxyz", 4) == 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_len_larger_than_payload);
ATF_TC_BODY(tx_len_larger_than_payload, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.len = 100;
    g_queue_pkt(&g, &h, "0123456789", 10);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    ATF_CHECK_EQ(vep_counters(g.host)->drops[VEP_DROP_LEN_MISMATCH], 1);
    char buf[128];
    ATF_CHECK_EQ(vep_recv(g.host, fd, buf, sizeof(buf), 0, NULL), -EAGAIN);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_len_smaller_than_payload);
ATF_TC_BODY(tx_len_smaller_than_payload, tc)
{
    /* vhost copies hdr.len bytes and ignores the rest of the chain. */
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.len = 4;
    g_queue_pkt(&g, &h, "0123456789", 10);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    char buf[16] = {0};
    ATF_CHECK_EQ(vep_recv(g.host, fd, buf, sizeof(buf), 0, NULL), 4);
    ATF_CHECK(memcmp(buf, "0123", 4) == 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_len_hostile_huge);
ATF_TC_BODY(tx_len_hostile_huge, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    const uint32_t lens[3] = {0xffffffffu, 64u * 1024u + 1u, 1u << 20};
    for (unsigned i = 0; i < 3; i++) {
        struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
        h.len = lens[i];
        g_queue_pkt(&g, &h, "abc", 3);
    }
    /* A chain really carrying more than the bound. */
    uint32_t big = 64u * 1024u + 10u;
    uint8_t *payload = calloc(1, big);
    ATF_REQUIRE(payload != NULL);
    struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.len = big;
    g_queue_pkt(&g, &h, payload, big);
    free(payload);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 4);
    const struct vep_counters *vc = vep_counters(g.host);
    ATF_CHECK_EQ(vc->drops[VEP_DROP_TOO_BIG] + vc->drops[VEP_DROP_LEN_MISMATCH], 4);
    ATF_CHECK_EQ(vep_rx_queued(g.host, fd), 0);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_unknown_op_rst);
ATF_TC_BODY(tx_unknown_op_rst, tc)
{
    struct guest g;
    g_setup_default(&g);
    host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    g_post_rx_n(&g, 2, 4096);
    /* To a listener (Linux answers anything but REQUEST there with RST)
     * and to a port nobody uses. */
    g_send(&g, ghdr(0x77, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT), NULL, 0);
    g_send(&g, ghdr(0, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(p.hdr.dst_port, GUEST_PORT);
    ATF_CHECK_EQ(p.hdr.src_port, HOST_PORT);
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(p.hdr.src_port, 99);
    ATF_CHECK_EQ(vep_counters(g.host)->connects, 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_unknown_type_rst);
ATF_TC_BODY(tx_unknown_type_rst, tc)
{
    struct guest g;
    g_setup_default(&g);
    host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, 9, GUEST_PORT, HOST_PORT), NULL, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(vep_counters(g.host)->drops[VEP_DROP_BAD_TYPE], 1);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_wrong_src_cid_dropped);
ATF_TC_BODY(tx_wrong_src_cid_dropped, tc)
{
    struct guest g;
    g_setup_default(&g);
    host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    g_post_rx(&g, 4096);
    struct vsock_hdr h = ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.src_cid = 42;
    g_send(&g, h, NULL, 0);
    h.src_cid = GUEST_CID | (1ull << 32); /* the upper half counts too */
    g_send(&g, h, NULL, 0);
    ATF_CHECK_EQ(g_tx_done(&g), 2);
    ATF_CHECK_EQ(vep_counters(g.host)->drops[VEP_DROP_SRC_CID], 2);
    g_expect_nothing(&g);
    ATF_CHECK_EQ(vep_counters(g.host)->connects, 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_wrong_dst_cid_dropped);
ATF_TC_BODY(tx_wrong_dst_cid_dropped, tc)
{
    struct guest g;
    g_setup_default(&g);
    host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    g_post_rx(&g, 4096);
    struct vsock_hdr h = ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.dst_cid = 77;
    g_send(&g, h, NULL, 0);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    ATF_CHECK_EQ(vep_counters(g.host)->drops[VEP_DROP_DST_CID], 1);
    g_expect_nothing(&g);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_chain_with_writable_part);
ATF_TC_BODY(tx_chain_with_writable_part, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    g_post_rx(&g, 4096);
    struct vsock_hdr h = ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99);
    uint8_t raw[VSOCK_HDR_LEN];
    vsock_hdr_encode(&h, raw);
    struct vq_seg segs[2] = {{.gpa = g_put(&g, raw, sizeof(raw)), .len = sizeof(raw)},
                             {.gpa = g_alloc(&g, 64), .len = 64}};
    g_queue_raw_segs(&g, segs, 1, 1, VQ_ADD_DIRECT);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_bad_pkt, 1);
    g_expect_nothing(&g);
    g_teardown(&g);
}

/* ---- cases: malformed tx rings ------------------------------------------- */

static void good_request_after(struct guest *g)
{
    g_post_rx(g, 4096);
    g_send(g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK_EQ(g_tx_done(g), 1);
    struct rxpkt p;
    g_expect(g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(g_take_errs(g), 0);
}

ATF_TC_WITHOUT_HEAD(tx_descriptor_loop);
ATF_TC_BODY(tx_descriptor_loop, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    uint8_t raw[VSOCK_HDR_LEN] = {0};
    struct vq_seg segs[2] = {{.gpa = g_put(&g, raw, 22), .len = 22},
                             {.gpa = g_put(&g, raw + 22, 22), .len = 22}};
    g_queue_raw_segs(&g, segs, 2, 0, VQ_ADD_DIRECT);
    uint16_t second = g_desc_next(&g, VSOCK_VQ_TX, 0);
    g_desc_set(&g, VSOCK_VQ_TX, second, segs[1].gpa, 22, VIRTQ_DESC_F_NEXT, 0);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_bad_chain, 1);
    ATF_CHECK_EQ(vdev_counters(g.dev)->last_ring_error, RING_E_CHAIN_LOOP);
    ATF_CHECK_EQ(g_tx_done(&g), 0); /* never returned */
    good_request_after(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_bad_chain_stops_kick);
ATF_TC_BODY(tx_bad_chain_stops_kick, tc)
{
    /* Chains behind a broken one wait for the next kick. */
    struct guest g;
    g_setup_lenient(&g);
    g_post_rx_n(&g, 2, 4096);
    g_avail_raw(&g, VSOCK_VQ_TX, 200); /* head beyond the queue */
    struct vsock_hdr h = ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99);
    g_queue_pkt(&g, &h, NULL, 0);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(vdev_counters(g.dev)->last_ring_error, RING_E_HEAD_RANGE);
    ATF_CHECK_EQ(g_tx_done(&g), 0);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_descriptor_outside_memory);
ATF_TC_BODY(tx_descriptor_outside_memory, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    uint8_t raw[VSOCK_HDR_LEN] = {0};
    g_queue_raw(&g, raw, sizeof(raw));
    g_desc_set(&g, VSOCK_VQ_TX, 0, GPA_BASE + MEM_SIZE - 10, 44, 0, 0);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(vdev_counters(g.dev)->last_ring_error, RING_E_DESC_RANGE);
    good_request_after(&g);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_indirect_not_negotiated);
ATF_TC_BODY(tx_indirect_not_negotiated, tc)
{
    struct gopts o = {.features = bit(VIRTIO_F_VERSION_1), .lenient = true};
    struct guest g;
    g_setup(&g, &o);
    uint8_t raw[VSOCK_HDR_LEN] = {0};
    g_queue_raw(&g, raw, sizeof(raw));
    uint64_t table = g_alloc(&g, 16);
    g_desc_set(&g, VSOCK_VQ_TX, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(vdev_counters(g.dev)->last_ring_error, RING_E_INDIRECT_FEATURE);
    good_request_after(&g);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(tx_avail_idx_runaway);
ATF_TC_BODY(tx_avail_idx_runaway, tc)
{
    struct guest g;
    g_setup_default(&g);
    struct vq_driver *vq = &g.vq[VSOCK_VQ_TX];
    __atomic_store_n(&vq->avail[1], (uint16_t)1000, __ATOMIC_RELEASE);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(vdev_counters(g.dev)->last_ring_error, RING_E_AVAIL_IDX);
    ATF_CHECK_EQ(g_tx_done(&g), 0);
    g_teardown(&g);
}

/* A fixed-seed stream of junk chains: each must end in a defined outcome. */
ATF_TC_WITHOUT_HEAD(tx_junk_stream);
ATF_TC_BODY(tx_junk_stream, tc)
{
    struct guest g;
    g_setup_lenient(&g);
    host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    uint32_t x = 12345;
    unsigned sent = 0, done = 0;
    for (unsigned round = 0; round < 64; round++) {
        while (vqd_in_flight(&g.vq[VSOCK_VQ_RX]) < 4)
            g_post_rx(&g, 256);
        uint8_t buf[120];
        for (unsigned i = 0; i < sizeof(buf); i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        struct vsock_hdr h;
        vsock_hdr_decode(buf, &h);
        if (round % 2 == 0) { /* plausible addressing, random rest */
            h.src_cid = GUEST_CID;
            h.dst_cid = VSOCK_CID_HOST;
            h.dst_port = HOST_PORT;
            h.op = (uint16_t)(h.op % 9);
            h.type = (uint16_t)(h.type % 3);
            h.len = h.len % 100;
            vsock_hdr_encode(&h, buf);
        }
        g_queue_raw(&g, buf, (x >> 8) % sizeof(buf));
        sent++;
        g_kick_tx(&g);
        done += g_tx_done(&g);
        struct rxpkt p;
        while (g_recv(&g, &p) == 1)
            ;
    }
    ATF_CHECK_EQ(done, sent);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    const struct vdev_counters *c = vdev_counters(g.dev);
    ATF_CHECK_EQ(c->tx_pkts + c->tx_bad_pkt, sent);
    g_teardown(&g);
}

/* ---- cases: malformed chains, vhost's rule (the default) -------------------- */

/* A well-formed REQUEST to nobody after the malformed ones: taken and
 * answered, so the queue went on past the kept chains. */
static void taken_after(struct guest *g, unsigned kept)
{
    g_post_rx(g, 4096);
    g_send(g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK_EQ(g_tx_done(g), 1);
    struct rxpkt p;
    g_expect(g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(vdev_kept_chains(g->dev, VSOCK_VQ_TX), kept);
}

ATF_TC_WITHOUT_HEAD(vhost_tx_not_a_packet_kept);
ATF_TC_BODY(vhost_tx_not_a_packet_kept, tc)
{
    /* vhost_vsock_alloc_skb's refusals: writable descriptors, fewer than
     * 44 bytes, hdr.len beyond the chain. Each is a queue error and a chain
     * never returned; the chains behind it are taken. */
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    uint8_t junk[20] = {1, 2, 3};
    g_queue_raw(&g, junk, sizeof(junk));
    struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.len = 100;
    g_queue_pkt(&g, &h, "0123456789", 10);
    uint8_t raw[VSOCK_HDR_LEN];
    h.len = 0;
    vsock_hdr_encode(&h, raw);
    struct vq_seg segs[2] = {{.gpa = g_put(&g, raw, sizeof(raw)), .len = sizeof(raw)},
                             {.gpa = g_alloc(&g, 64), .len = 64}};
    g_queue_raw_segs(&g, segs, 1, 1, VQ_ADD_DIRECT);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(g_tx_done(&g), 0);
    const struct vdev_counters *c = vdev_counters(g.dev);
    ATF_CHECK_EQ(c->tx_bad_pkt, 3);
    ATF_CHECK_EQ(c->tx_kept, 3);
    ATF_CHECK_EQ(vep_counters(g.host)->drops[VEP_DROP_LEN_MISMATCH], 0);
    char buf[16];
    ATF_CHECK_EQ(vep_recv(g.host, fd, buf, sizeof(buf), 0, NULL), -EAGAIN);
    ATF_CHECK_EQ(vdev_queue(g.dev, VSOCK_VQ_TX)->popped, 0);
    taken_after(&g, 3);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(vhost_tx_over_64k_kept);
ATF_TC_BODY(vhost_tx_over_64k_kept, tc)
{
    /* A chain of more than VIRTIO_VSOCK_MAX_PKT_BUF_SIZE + 44 bytes is
     * refused whatever its hdr.len; exactly that much is a packet. */
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    uint32_t max = 64u * 1024u;
    uint8_t *payload = calloc(1, max + 1);
    ATF_REQUIRE(payload != NULL);
    struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.len = 10;
    g_queue_pkt(&g, &h, payload, max + 1); /* claims 10 of 65537 */
    h.len = max;
    g_queue_pkt(&g, &h, payload, max);
    free(payload);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_kept, 1);
    ATF_CHECK_EQ(vep_rx_queued(g.host, fd), max);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(vhost_tx_ring_error_stays_at_head);
ATF_TC_BODY(vhost_tx_ring_error_stays_at_head, tc)
{
    /* vhost_get_vq_desc fails: a queue error, and the chain stays at the
     * head of avail with kicks disabled; every pass meets it again and the
     * chains behind it are never taken. */
    struct guest g;
    g_setup_default(&g);
    g_post_rx_n(&g, 2, 4096);
    g_avail_raw(&g, VSOCK_VQ_TX, 200); /* head beyond the queue */
    struct vsock_hdr h = ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99);
    g_queue_pkt(&g, &h, NULL, 0);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(vdev_counters(g.dev)->last_ring_error, RING_E_HEAD_RANGE);
    ATF_CHECK(!vqd_kick_prepare(&g.vq[VSOCK_VQ_TX]));
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(vdev_counters(g.dev)->tx_bad_chain, 2);
    ATF_CHECK_EQ(g_tx_done(&g), 0);
    g_expect_nothing(&g);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(vhost_rx_bad_buffer_drops_packet);
ATF_TC_BODY(vhost_rx_bad_buffer_drops_packet, tc)
{
    /* vhost_transport_do_send_pkt on a buffer shorter than a header, or
     * with a readable part: the packet is freed, a queue error, the chain
     * kept, and rx stops until the next delivery. */
    struct guest g;
    g_setup_default(&g);
    g_post_rx(&g, 20);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_RX);
    struct rxpkt p;
    ATF_CHECK_EQ(g_recv(&g, &p), 0);
    const struct vdev_counters *c = vdev_counters(g.dev);
    ATF_CHECK_EQ(c->rx_kept, 1);
    ATF_CHECK_EQ(c->rx_pkt_lost, 1);
    ATF_CHECK_EQ(vep_tx_queued_pkts(g.host), 0); /* the RST is gone */
    uint64_t gpa = g_alloc(&g, 4096 + 64);
    struct vq_seg segs[2] = {{.gpa = gpa, .len = 64}, {.gpa = gpa + 64, .len = 4096}};
    ATF_REQUIRE_EQ(vqd_add(&g.vq[VSOCK_VQ_RX], segs, 1, 1, tok(gpa), VQ_ADD_DIRECT), RING_OK);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT + 1, 99), NULL, 0);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_RX);
    ATF_CHECK_EQ(c->rx_kept, 2);
    ATF_CHECK_EQ(vdev_kept_chains(g.dev, VSOCK_VQ_RX), 2);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT + 2, 99), NULL, 0);
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK_EQ(p.hdr.dst_port, GUEST_PORT + 2);
    ATF_CHECK_EQ(g_take_errs(&g), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(vhost_rx_ring_error_stays_at_head);
ATF_TC_BODY(vhost_rx_ring_error_stays_at_head, tc)
{
    /* An rx chain vhost_get_vq_desc cannot read: the packet goes back to
     * the queue, the chain stays at the head, rx is stuck there. */
    struct guest g;
    g_setup_default(&g);
    const uint32_t lens[2] = {100, 100};
    g_post_rx_split(&g, lens, 2);
    uint16_t second = g_desc_next(&g, VSOCK_VQ_RX, 0);
    uint64_t gpa = g.next_buf - 208;
    g_desc_set(&g, VSOCK_VQ_RX, second, gpa, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_RX);
    ATF_CHECK_EQ(vep_tx_queued_pkts(g.host), 1); /* the RST waits */
    g_post_rx(&g, 4096);
    vdev_handle_rx_kick(g.dev, 0);
    ATF_CHECK_EQ(g_take_errs(&g), 1u << VSOCK_VQ_RX);
    g_expect_nothing(&g);
    ATF_CHECK_EQ(vdev_counters(g.dev)->rx_bad_chain, 2);
    g_teardown(&g);
}

/* ---- cases: events, reset, interrupts ------------------------------------ */

static void g_post_event(struct guest *g, uint32_t size)
{
    struct vq_seg s = {.gpa = g_alloc(g, size), .len = size};
    memset(g_hva(g, s.gpa, size), 0xee, size);
    ATF_REQUIRE_EQ(vqd_add(&g->vq[VSOCK_VQ_EVENT], &s, 0, 1, tok(s.gpa), VQ_ADD_DIRECT),
                   RING_OK);
}

/* A host socket whose guest went away (vep_orphan_all, as vhost does): it
 * stays CONNECTED, done and fully shut by the peer, with SO_ERROR ECONNRESET;
 * recv gives EOF and send EPIPE. */
static void check_orphaned(struct guest *g, int fd)
{
    char buf[8];
    ATF_CHECK_EQ(vep_sock_state(g->host, fd), VEP_SS_CONNECTED);
    ATF_CHECK(vep_poll(g->host, fd) & VEP_POLLERR);
    ATF_CHECK_EQ(vep_sock_error(g->host, fd), -ECONNRESET);
    ATF_CHECK_EQ(vep_recv(g->host, fd, buf, sizeof(buf), 0, NULL), 0);
    ATF_CHECK_EQ(vep_send(g->host, fd, "x", 1, 0), -EPIPE);
}

ATF_TC_WITHOUT_HEAD(transport_reset_event);
ATF_TC_BODY(transport_reset_event, tc)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    g_post_event(&g, 3); /* too small: skipped */
    g_post_event(&g, 8);
    g_take_irqs(&g);
    ATF_CHECK_EQ(vdev_inject_transport_reset(g.dev), 0);
    ATF_CHECK_EQ(g_take_irqs(&g), 1u << VSOCK_VQ_EVENT);
    struct vq_used_entry e;
    ATF_REQUIRE_EQ(vqd_get_used(&g.vq[VSOCK_VQ_EVENT], &e), 1);
    ATF_CHECK_EQ(e.len, 0);
    ATF_REQUIRE_EQ(vqd_get_used(&g.vq[VSOCK_VQ_EVENT], &e), 1);
    ATF_CHECK_EQ(e.len, 4);
    const uint8_t *ev = g_hva(&g, (uint64_t)(uintptr_t)e.token, 8);
    ATF_CHECK(ev[0] == 0 && ev[1] == 0 && ev[2] == 0 && ev[3] == 0);
    ATF_CHECK_EQ(ev[4], 0xee);
    ATF_CHECK_EQ(vdev_counters(g.dev)->events, 1);
    ATF_CHECK_EQ(vdev_counters(g.dev)->event_bad_buf, 1);
    check_orphaned(&g, fd);
    ATF_CHECK_EQ(vep_sock_state(g.host, lfd), VEP_SS_LISTEN);
    /* No RST goes out: the guest resets its side on the event. */
    g_post_rx(&g, 4096);
    vdev_deliver(g.dev, 0);
    g_expect_nothing(&g);
    /* The listener still works. */
    g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT + 1);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(transport_reset_without_buffer);
ATF_TC_BODY(transport_reset_without_buffer, tc)
{
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    g_take_irqs(&g);
    ATF_CHECK_EQ(vdev_inject_transport_reset(g.dev), -ENOSPC);
    ATF_CHECK_EQ(g_take_irqs(&g), 0);
    check_orphaned(&g, fd);
    g_teardown(&g);
}

/* The guest's rings as after a device reset: nothing in flight, and the
 * buffers it posts next start from the beginning of the buffer area. */
static void g_reset_rings(struct guest *g)
{
    for (unsigned i = 0; i < VSOCK_VQ_COUNT; i++)
        vqd_reset(&g->vq[i], NULL, NULL);
    g->next_buf = GPA_BASE + BUF_AREA;
}

ATF_TC_WITHOUT_HEAD(device_reset_keeps_host_connections);
ATF_TC_BODY(device_reset_keeps_host_connections, tc)
{
    /* As vhost: a guest's reset only stops the rings (vhost_vsock_stop);
     * the host connection stays, and what it sends meanwhile waits. */
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    vdev_reset(g.dev);
    ATF_CHECK(vdev_queue(g.dev, VSOCK_VQ_TX)->num == 0);
    ATF_CHECK_EQ(vdev_take_interrupts(g.dev), 0);
    ATF_CHECK_EQ(vep_sock_state(g.host, fd), VEP_SS_CONNECTED);
    ATF_CHECK_EQ(vep_sock_error(g.host, fd), 0);
    ATF_CHECK_EQ(vep_send(g.host, fd, "late", 4, 0), 4);
    g_reset_rings(&g);
    ATF_REQUIRE_EQ(vdev_start(g.dev), 0);
    ATF_CHECK_EQ(vdev_queue(g.dev, VSOCK_VQ_RX)->last_avail_idx, 0); /* from the start */
    /* The packet queued for the old connection goes to the new rings, and
     * a guest that no longer knows it answers RST: only now does the host
     * socket learn. */
    g_post_rx(&g, 4096);
    vdev_handle_rx_kick(g.dev, 0);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RW, &p);
    ATF_CHECK(p.hdr.len == 4 && memcmp(p.data, "late", 4) == 0);
    struct vsock_hdr rst = ghdr(VSOCK_OP_RST, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    g_send(&g, rst, NULL, 0);
    ATF_CHECK_EQ(vep_sock_state(g.host, fd), VEP_SS_CLOSING);
    ATF_CHECK(vep_send(g.host, fd, "x", 1, 0) < 0);
    ATF_CHECK_EQ(vep_sock_state(g.host, lfd), VEP_SS_LISTEN);
    g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT + 1);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(device_stop_resumes_rings);
ATF_TC_BODY(device_stop_resumes_rings, tc)
{
    /* VHOST_VSOCK_SET_RUNNING 0 then 1 (a VM stop and cont): the rings go
     * on where they stopped, and nothing the host sent is lost. */
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    uint16_t rx_at = vdev_queue(g.dev, VSOCK_VQ_RX)->last_avail_idx;
    uint16_t tx_at = vdev_queue(g.dev, VSOCK_VQ_TX)->last_avail_idx;
    vdev_stop(g.dev);
    ATF_CHECK(vdev_queue(g.dev, VSOCK_VQ_RX)->num == 0);
    ATF_CHECK_EQ(vep_send(g.host, fd, "while-stopped", 13, 0), 13);
    g_post_rx(&g, 4096);
    vdev_handle_rx_kick(g.dev, 0); /* lost: the device is stopped */
    struct rxpkt p;
    ATF_CHECK_EQ(g_recv(&g, &p), 0);
    struct vsock_hdr rw = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    rw.len = 2;
    g_queue_pkt(&g, &rw, "up", 2);
    g_kick_tx(&g); /* lost too */
    ATF_CHECK_EQ(g_tx_done(&g), 0);
    ATF_REQUIRE_EQ(vdev_start(g.dev), 0);
    ATF_CHECK_EQ(vdev_queue(g.dev, VSOCK_VQ_RX)->last_avail_idx, (uint16_t)(rx_at + 1));
    ATF_CHECK_EQ(vdev_queue(g.dev, VSOCK_VQ_TX)->last_avail_idx, tx_at);
    g_expect(&g, VSOCK_OP_RW, &p);
    ATF_CHECK(p.hdr.len == 13 && memcmp(p.data, "while-stopped", 13) == 0);
    g_kick_tx(&g);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    char buf[4];
    ATF_CHECK_EQ(vep_recv(g.host, fd, buf, sizeof(buf), 0, NULL), 2);
    ATF_CHECK_EQ(vep_sock_error(g.host, fd), 0);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(device_release_orphans);
ATF_TC_BODY(device_release_orphans, tc)
{
    /* The front end gone for good (vhost_vsock_dev_release): host
     * connections are orphaned and what they queued is dropped. */
    struct guest g;
    g_setup_default(&g);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    int fd = g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    ATF_CHECK_EQ(vep_send(g.host, fd, "lost", 4, 0), 4);
    vdev_release(g.dev);
    check_orphaned(&g, fd);
    ATF_CHECK_EQ(vep_tx_queued_pkts(g.host), 0);
    ATF_CHECK_EQ(vep_sock_state(g.host, lfd), VEP_SS_LISTEN);
    g_reset_rings(&g);
    ATF_REQUIRE_EQ(vdev_start(g.dev), 0);
    g_post_rx(&g, 4096);
    vdev_handle_rx_kick(g.dev, 0);
    g_expect_nothing(&g);
    g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT + 1);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(interrupts_suppressed_by_flag);
ATF_TC_BODY(interrupts_suppressed_by_flag, tc)
{
    struct gopts o = {.features = bit(VIRTIO_F_VERSION_1)};
    struct guest g;
    g_setup(&g, &o);
    vqd_disable_cb(&g.vq[VSOCK_VQ_RX]);
    vqd_disable_cb(&g.vq[VSOCK_VQ_TX]);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK_EQ(g_take_irqs(&g), 0);
    ATF_CHECK_EQ(g_tx_done(&g), 1);
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK(vqd_enable_cb(&g.vq[VSOCK_VQ_RX]));
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 98), NULL, 0);
    ATF_CHECK_EQ(g_take_irqs(&g), 1u << VSOCK_VQ_RX);
    /* Kicks: the device asks for them again once it has drained tx. */
    ATF_CHECK_EQ(vqd_used_idx(&g.vq[VSOCK_VQ_TX]), 2);
    struct vsock_hdr h = ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 97);
    g_queue_pkt(&g, &h, NULL, 0);
    ATF_CHECK(vqd_kick_prepare(&g.vq[VSOCK_VQ_TX]));
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(interrupts_event_idx);
ATF_TC_BODY(interrupts_event_idx, tc)
{
    struct guest g;
    g_setup_default(&g);
    ATF_REQUIRE(vdev_queue(g.dev, VSOCK_VQ_RX)->event_idx);
    g_post_rx_n(&g, 8, 4096);
    /* used_event = last_used_idx = 0: interrupt at the first entry. */
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK(g_take_irqs(&g) & (1u << VSOCK_VQ_RX));
    /* Nothing consumed: used_event is still 0, entry 2 is past it. */
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 98), NULL, 0);
    ATF_CHECK_EQ(g_take_irqs(&g) & (1u << VSOCK_VQ_RX), 0);
    /* Delayed callback: ask again only after several more entries. */
    struct rxpkt p;
    g_expect(&g, VSOCK_OP_RST, &p);
    g_expect(&g, VSOCK_OP_RST, &p);
    ATF_CHECK(vqd_enable_cb_delayed(&g.vq[VSOCK_VQ_RX]));
    unsigned seen = 0;
    for (uint32_t i = 0; i < 6; i++) {
        g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 90 - i), NULL, 0);
        if (g_take_irqs(&g) & (1u << VSOCK_VQ_RX))
            seen++;
    }
    ATF_CHECK_EQ(seen, 1);
    g_teardown(&g);
}

ATF_TC_WITHOUT_HEAD(take_bits_clear);
ATF_TC_BODY(take_bits_clear, tc)
{
    struct guest g;
    g_setup_default(&g);
    g_post_rx(&g, 4096);
    g_send(&g, ghdr(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, GUEST_PORT, 99), NULL, 0);
    ATF_CHECK(g_take_irqs(&g) != 0);
    ATF_CHECK_EQ(vdev_take_interrupts(g.dev), 0);
    g_avail_raw(&g, VSOCK_VQ_TX, 999);
    vdev_handle_tx_kick(g.dev, 0);
    ATF_CHECK_EQ(vdev_take_errors(g.dev), 1u << VSOCK_VQ_TX);
    ATF_CHECK_EQ(vdev_take_errors(g.dev), 0);
    g_teardown(&g);
}

struct seen_layout {
    uint32_t lens[VDEV_TX_LAYOUT_MAX];
    uint32_t n, calls;
    struct vsock_hdr h;
};

static void see_layout(void *ctx, const struct vsock_hdr *h, const uint32_t *lens, uint32_t n)
{
    struct seen_layout *s = ctx;
    s->h = *h;
    s->n = n;
    s->calls++;
    for (uint32_t i = 0; i < n && i < VDEV_TX_LAYOUT_MAX; i++)
        s->lens[i] = lens[i];
}

ATF_TC(tx_layout_observed);
ATF_TC_HEAD(tx_layout_observed, tc)
{
    atf_tc_set_md_var(tc, "descr", "the layout observer sees a packet's readable descriptors as "
                                   "the guest laid them out: header, then page fragments");
}
ATF_TC_BODY(tx_layout_observed, tc)
{
    struct guest g;
    g_setup_default(&g);
    struct seen_layout seen = {.n = 0};
    vdev_set_tx_layout_observer(g.dev, see_layout, &seen);
    int lfd = host_listen(&g, VSOCK_TYPE_STREAM, HOST_PORT);
    (void)g_connect(&g, lfd, VSOCK_TYPE_STREAM, GUEST_PORT);
    ATF_CHECK(seen.calls >= 1); /* the REQUEST: one descriptor */
    ATF_CHECK_EQ(seen.n, 1);
    static uint8_t buf[VSOCK_HDR_LEN + 3000];
    struct vsock_hdr h = ghdr(VSOCK_OP_RW, VSOCK_TYPE_STREAM, GUEST_PORT, HOST_PORT);
    h.len = 3000;
    vsock_hdr_encode(&h, buf);
    uint64_t gpa = g_put(&g, buf, sizeof(buf));
    struct vq_seg segs[3] = {{gpa, VSOCK_HDR_LEN}, {gpa + VSOCK_HDR_LEN, 2048},
                             {gpa + VSOCK_HDR_LEN + 2048, 952}};
    g_queue_raw_segs(&g, segs, 3, 0, VQ_ADD_AUTO);
    g_kick_tx(&g);
    ATF_CHECK_EQ(seen.h.op, VSOCK_OP_RW);
    ATF_CHECK_EQ(seen.h.len, 3000);
    ATF_CHECK_EQ(seen.n, 3);
    ATF_CHECK_EQ(seen.lens[0], VSOCK_HDR_LEN);
    ATF_CHECK_EQ(seen.lens[1], 2048);
    ATF_CHECK_EQ(seen.lens[2], 952);
    unsigned calls = seen.calls;
    g_queue_raw(&g, buf, 10); /* no packet: refused by shape, not observed */
    g_kick_tx(&g);
    ATF_CHECK_EQ(seen.calls, calls);
    g_teardown(&g);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, new_rejects_bad_cid);
    ATF_TP_ADD_TC(tp, features_subset);
    ATF_TP_ADD_TC(tp, offer_without_optional_features);
    ATF_TP_ADD_TC(tp, start_reports_bad_layout);
    ATF_TP_ADD_TC(tp, event_queue_absent);
    ATF_TP_ADD_TC(tp, request_no_listener_rst);
    ATF_TP_ADD_TC(tp, request_listener_response);
    ATF_TP_ADD_TC(tp, data_guest_to_host);
    ATF_TP_ADD_TC(tp, data_host_to_guest);
    ATF_TP_ADD_TC(tp, host_connect_before_start);
    ATF_TP_ADD_TC(tp, split_stream_over_small_buffers);
    ATF_TP_ADD_TC(tp, split_seqpacket_eom_on_last_part);
    ATF_TP_ADD_TC(tp, split_waits_for_buffers);
    ATF_TP_ADD_TC(tp, rx_header_only_buffer);
    ATF_TP_ADD_TC(tp, rx_header_scattered);
    ATF_TP_ADD_TC(tp, rx_buffer_smaller_than_header);
    ATF_TP_ADD_TC(tp, rx_chain_with_readable_part);
    ATF_TP_ADD_TC(tp, rx_descriptor_loop);
    ATF_TP_ADD_TC(tp, rx_no_buffer_tx_still_runs);
    ATF_TP_ADD_TC(tp, replies_bounded_then_resume);
    ATF_TP_ADD_TC(tp, replies_default_bound_is_tx_size);
    ATF_TP_ADD_TC(tp, tx_shorter_than_header);
    ATF_TP_ADD_TC(tp, tx_header_over_descriptors);
    ATF_TP_ADD_TC(tp, tx_indirect_chain);
    ATF_TP_ADD_TC(tp, tx_len_larger_than_payload);
    ATF_TP_ADD_TC(tp, tx_len_smaller_than_payload);
    ATF_TP_ADD_TC(tp, tx_len_hostile_huge);
    ATF_TP_ADD_TC(tp, tx_unknown_op_rst);
    ATF_TP_ADD_TC(tp, tx_unknown_type_rst);
    ATF_TP_ADD_TC(tp, tx_wrong_src_cid_dropped);
    ATF_TP_ADD_TC(tp, tx_wrong_dst_cid_dropped);
    ATF_TP_ADD_TC(tp, tx_chain_with_writable_part);
    ATF_TP_ADD_TC(tp, tx_descriptor_loop);
    ATF_TP_ADD_TC(tp, tx_bad_chain_stops_kick);
    ATF_TP_ADD_TC(tp, tx_descriptor_outside_memory);
    ATF_TP_ADD_TC(tp, tx_indirect_not_negotiated);
    ATF_TP_ADD_TC(tp, tx_avail_idx_runaway);
    ATF_TP_ADD_TC(tp, tx_junk_stream);
    ATF_TP_ADD_TC(tp, vhost_tx_not_a_packet_kept);
    ATF_TP_ADD_TC(tp, vhost_tx_over_64k_kept);
    ATF_TP_ADD_TC(tp, vhost_tx_ring_error_stays_at_head);
    ATF_TP_ADD_TC(tp, vhost_rx_bad_buffer_drops_packet);
    ATF_TP_ADD_TC(tp, vhost_rx_ring_error_stays_at_head);
    ATF_TP_ADD_TC(tp, transport_reset_event);
    ATF_TP_ADD_TC(tp, transport_reset_without_buffer);
    ATF_TP_ADD_TC(tp, device_reset_keeps_host_connections);
    ATF_TP_ADD_TC(tp, device_stop_resumes_rings);
    ATF_TP_ADD_TC(tp, device_release_orphans);
    ATF_TP_ADD_TC(tp, interrupts_suppressed_by_flag);
    ATF_TP_ADD_TC(tp, interrupts_event_idx);
    ATF_TP_ADD_TC(tp, take_bits_clear);
    ATF_TP_ADD_TC(tp, tx_layout_observed);
    return atf_no_error();
}
