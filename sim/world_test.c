/*
 * sim/world tests: the protocol end to end through the whole stack. Guest
 * sockets sit on our driver, host sockets on our device, and every packet
 * crosses real split virtqueues in one guest-memory buffer. The world's
 * invariant oracle (world_check) runs after every step of every test, and
 * each test ends with it passing on a settled world.
 */
#include <atf-c.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/world.h"
#include "transport/transport_testlib.h"

#define SEC 1000000000ull
#define HOST_PORT 1234u
#define GUEST_PORT 6000u
#define MAX_STEPS 200000u
#define MAX_ROUNDS 200000u
#define BIT(b) (1ull << (b))
#define STREAM VSOCK_TYPE_STREAM
#define SEQPACKET VSOCK_TYPE_SEQPACKET
#define BASE_FEATURES (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_VSOCK_F_STREAM))

#define TC(name, descr)                                                                   \
    TT_TC(name, descr)                                                                    \
    ATF_TC_BODY(name, tc)

/* ---- the harness ------------------------------------------------------------------ */

struct t {
    struct world *w;
    struct vep *g, *h;
    uint64_t now;
    uint64_t steps;
    bool dirty; /* the test broke an invariant on purpose */
};

static void t_init_cfg(struct t *t, const struct world_cfg *cfg)
{
    memset(t, 0, sizeof(*t));
    int err = 1;
    t->w = world_new(cfg, &err);
    TT_EQ(0, err, "world_new");
    ATF_REQUIRE(t->w != NULL);
    t->g = world_guest(t->w);
    t->h = world_host(t->w);
    t->now = 1000;
}

static void t_init(struct t *t)
{
    struct world_cfg cfg = {0};
    t_init_cfg(t, &cfg);
}

/* Steps until idle, checking every invariant after every step. */
#define t_settle(t) t_settle_at(__FILE__, __LINE__, (t))
static void t_settle_at(const char *file, int line, struct t *t)
{
    for (unsigned i = 0; i < MAX_STEPS; i++) {
        bool busy = world_step(t->w, t->now);
        t->steps++;
        const char *why = world_check(t->w);
        if (why != NULL)
            atf_tc_fail_requirement(file, line, "invariant broken after step %u: %s", i, why);
        if (!busy)
            return;
    }
    atf_tc_fail_requirement(file, line, "the world did not settle in %u steps", MAX_STEPS);
}

/* At most n steps, each checked; false once idle. */
static bool t_steps(struct t *t, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        bool busy = world_step(t->w, t->now);
        t->steps++;
        const char *why = world_check(t->w);
        TT_TRUE(why == NULL, "invariant broken mid-run: %s", why);
        if (!busy)
            return false;
    }
    return true;
}

static void t_advance(struct t *t, uint64_t ns)
{
    t->now += ns;
    t_settle(t);
}

static uint64_t drops(struct vep *ep, enum vep_drop d)
{
    return vep_counters(ep)->drops[d];
}

/* Nothing in an honest stack is ever malformed, over credit or lost. */
static void t_check_clean(struct t *t)
{
    const struct vdrv_counters *dc = vdrv_counters(world_driver(t->w));
    const struct vdev_counters *vc = vdev_counters(world_device(t->w));
    TT_EQ(0, world_ring_errors(t->w), "ring errors");
    TT_EQ(0, dc->rx_bad_len + dc->bad_used + dc->bad_events + dc->bad_cid, "driver saw bad input");
    TT_EQ(0, vc->tx_bad_chain + vc->tx_bad_pkt + vc->rx_bad_chain + vc->rx_buf_too_small,
          "device saw bad input");
    struct vep *eps[2] = {t->g, t->h};
    for (int i = 0; i < 2; i++) {
        TT_EQ(0, drops(eps[i], VEP_DROP_OVER_CREDIT), "side %d over credit", i);
        TT_EQ(0, drops(eps[i], VEP_DROP_BAD_CREDIT), "side %d bad credit", i);
        TT_EQ(0, drops(eps[i], VEP_DROP_LEN_MISMATCH), "side %d length mismatch", i);
        TT_EQ(0, drops(eps[i], VEP_DROP_TOO_BIG), "side %d too big", i);
        TT_EQ(0, drops(eps[i], VEP_DROP_SRC_CID) + drops(eps[i], VEP_DROP_DST_CID),
              "side %d misaddressed", i);
        TT_EQ(0, drops(eps[i], VEP_DROP_REPLY_LIMIT), "side %d reply limit", i);
    }
}

static void t_fini(struct t *t)
{
    if (!t->dirty) {
        t_settle(t);
        TT_TRUE(world_quiescent(t->w), "not quiescent at the end");
        const char *why = world_check(t->w);
        TT_TRUE(why == NULL, "invariant broken at the end: %s", why);
        t_check_clean(t);
    }
    world_free(t->w);
    t->w = NULL;
}

static uint32_t nsocks(struct vep *ep)
{
    return vep_conns(ep, NULL, 0);
}

static struct vep_conn_info conn_of(struct vep *ep, int fd)
{
    struct vep_conn_info c[256];
    uint32_t n = vep_conns(ep, c, 256);
    for (uint32_t i = 0; i < n && i < 256; i++)
        if (c[i].fd == fd)
            return c[i];
    atf_tc_fail("fd %d has no socket", fd);
}

/* ---- sockets -------------------------------------------------------------------------- */

static int t_listen(struct vep *ep, int type, uint32_t port, int backlog)
{
    int fd = vep_socket(ep, type);
    TT_TRUE(fd >= 0, "socket: %s", tt_errname(fd));
    TT_EQ(0, vep_bind(ep, fd, port), "bind %u", port);
    TT_EQ(0, vep_listen(ep, fd, backlog), "listen");
    return fd;
}

static int t_connect_start(struct t *t, struct vep *ep, int type, uint64_t cid, uint32_t port)
{
    int fd = vep_socket(ep, type);
    TT_TRUE(fd >= 0, "socket: %s", tt_errname(fd));
    TT_EQ(-EINPROGRESS, vep_connect(ep, fd, cid, port, t->now), "connect");
    return fd;
}

static int t_accept(struct vep *ep, int lfd, uint64_t want_cid, uint32_t want_port)
{
    uint64_t cid = 0;
    uint32_t port = 0;
    int fd = vep_accept(ep, lfd, &cid, &port);
    TT_TRUE(fd >= 0, "accept: %s", tt_errname(fd));
    TT_EQ(want_cid, cid, "accepted peer cid");
    TT_EQ(want_port, port, "accepted peer port");
    return fd;
}

static uint32_t local_port(struct vep *ep, int fd)
{
    uint32_t port = 0;
    TT_EQ(0, vep_sock_name(ep, fd, &port, NULL, NULL), "sock_name");
    return port;
}

/* A connection from side cep (whose CID is ccid) to a new listener of side
 * aep (CID acid) on port: *cfd connected, the accepted fd returned. */
static int t_pair(struct t *t, struct vep *cep, uint64_t ccid, struct vep *aep, uint64_t acid,
                  int type, uint32_t port, int *cfd, int *lfd_out)
{
    int lfd = t_listen(aep, type, port, 16);
    *cfd = t_connect_start(t, cep, type, acid, port);
    t_settle(t);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(cep, *cfd), "connected");
    TT_EQ(0, vep_sock_error(cep, *cfd), "no error");
    int afd = t_accept(aep, lfd, ccid, local_port(cep, *cfd));
    if (lfd_out != NULL)
        *lfd_out = lfd;
    return afd;
}

/* The guest connects to a host listener on port. */
static void g2h(struct t *t, int type, uint32_t port, int *g, int *h)
{
    *h = t_pair(t, t->g, world_guest_cid(t->w), t->h, VSOCK_CID_HOST, type, port, g, NULL);
}

/* The host connects to a guest listener on port. */
static void h2g(struct t *t, int type, uint32_t port, int *h, int *g)
{
    *g = t_pair(t, t->h, VSOCK_CID_HOST, t->g, world_guest_cid(t->w), type, port, h, NULL);
}

static void t_send(struct vep *ep, int fd, const void *buf, size_t len, unsigned flags)
{
    TT_EQ((long long)len, vep_send(ep, fd, buf, len, flags), "send of %zu bytes", len);
}

static void t_send_str(struct vep *ep, int fd, const char *s)
{
    t_send(ep, fd, s, strlen(s), 0);
}

/* Settles, then reads exactly the string s. */
static void t_expect_str(struct t *t, struct vep *ep, int fd, const char *s)
{
    char buf[512];
    size_t len = strlen(s);
    ATF_REQUIRE(len < sizeof(buf));
    t_settle(t);
    memset(buf, 0, sizeof(buf));
    TT_EQ((long long)len, vep_recv(ep, fd, buf, sizeof(buf) - 1, 0, NULL), "recv");
    TT_TRUE(memcmp(buf, s, len) == 0, "got '%s', want '%s'", buf, s);
}

/* ---- streams: byte-exact transfers -------------------------------------------------- */

struct flow {
    struct vep *src, *dst;
    int sfd, dfd;
    uint64_t total;
    uint32_t salt;
    size_t chunk;  /* bytes offered per send call; 0 = 8 KiB */
    uint64_t sent, rcvd;
    uint64_t hash_sent, hash_rcvd;
};

static void flow_init(struct flow *f, struct vep *src, int sfd, struct vep *dst, int dfd,
                      uint64_t total, uint32_t salt)
{
    *f = (struct flow){.src = src, .sfd = sfd, .dst = dst, .dfd = dfd, .total = total,
                       .salt = salt, .hash_sent = TT_HASH_INIT, .hash_rcvd = TT_HASH_INIT};
}

static void flow_send(struct flow *f)
{
    uint8_t buf[8192];
    size_t chunk = f->chunk != 0 && f->chunk < sizeof(buf) ? f->chunk : sizeof(buf);
    while (f->sent < f->total) {
        size_t n = f->total - f->sent < chunk ? (size_t)(f->total - f->sent) : chunk;
        tt_fill(buf, n, f->salt, f->sent);
        int64_t r = vep_send(f->src, f->sfd, buf, n, 0);
        if (r == -EAGAIN)
            return;
        TT_TRUE(r > 0 && (size_t)r <= n, "send at %llu: %s", (unsigned long long)f->sent,
                tt_errname(r));
        f->hash_sent = tt_hash(buf, (size_t)r, f->hash_sent);
        f->sent += (uint64_t)r;
    }
}

/* Reads what arrived, byte for byte against the pattern. */
static void flow_recv(struct flow *f)
{
    uint8_t buf[8192], want[8192];
    for (;;) {
        int64_t r = vep_recv(f->dst, f->dfd, buf, sizeof(buf), 0, NULL);
        if (r == -EAGAIN)
            return;
        TT_TRUE(r > 0, "recv at %llu: %s", (unsigned long long)f->rcvd, tt_errname(r));
        TT_TRUE(f->rcvd + (uint64_t)r <= f->total, "more bytes than sent");
        tt_fill(want, (size_t)r, f->salt, f->rcvd);
        for (int64_t i = 0; i < r; i++)
            TT_TRUE(buf[i] == want[i], "salt %u: byte %llu is %#x, want %#x", f->salt,
                    (unsigned long long)(f->rcvd + (uint64_t)i), buf[i], want[i]);
        f->hash_rcvd = tt_hash(buf, (size_t)r, f->hash_rcvd);
        f->rcvd += (uint64_t)r;
    }
}

static uint64_t pattern_hash(uint32_t salt, uint64_t total)
{
    uint8_t buf[4096];
    uint64_t h = TT_HASH_INIT;
    for (uint64_t off = 0; off < total; off += sizeof(buf)) {
        size_t n = total - off < sizeof(buf) ? (size_t)(total - off) : sizeof(buf);
        tt_fill(buf, n, salt, off);
        h = tt_hash(buf, n, h);
    }
    return h;
}

/* Runs the flows to completion: each round every sender offers what credit
 * allows, the world runs (to idle, or steps_per_round steps), and every
 * receiver reads what arrived. Ends with checksums compared. */
static void flows_run(struct t *t, struct flow *f, unsigned n, unsigned steps_per_round)
{
    for (unsigned round = 0;; round++) {
        TT_TRUE(round < MAX_ROUNDS, "flows stuck");
        for (unsigned i = 0; i < n; i++)
            flow_send(&f[i]);
        if (steps_per_round == 0)
            t_settle(t);
        else
            t_steps(t, steps_per_round);
        bool done = true;
        for (unsigned i = 0; i < n; i++) {
            flow_recv(&f[i]);
            done = done && f[i].rcvd == f[i].total;
        }
        if (done)
            break;
    }
    t_settle(t);
    for (unsigned i = 0; i < n; i++) {
        uint64_t want = pattern_hash(f[i].salt, f[i].total);
        TT_TRUE(f[i].hash_sent == want && f[i].hash_rcvd == want,
                "flow %u: checksum sent %#llx, received %#llx, pattern %#llx", i,
                (unsigned long long)f[i].hash_sent, (unsigned long long)f[i].hash_rcvd,
                (unsigned long long)want);
    }
}

/* total bytes each way at once over one guest-initiated connection. */
static void transfer_both_ways(struct t *t, uint32_t port, uint64_t total, unsigned spr)
{
    int g, h;
    g2h(t, STREAM, port, &g, &h);
    struct flow f[2];
    flow_init(&f[0], t->g, g, t->h, h, total, port);
    flow_init(&f[1], t->h, h, t->g, g, total, port + 1000);
    flows_run(t, f, 2, spr);
}

/* ---- seqpacket helpers ---------------------------------------------------------------- */

/* Sends a message of len pattern bytes and reads it on the other side,
 * checking length, content and the EOR mark. */
static void seq_roundtrip(struct t *t, struct vep *src, int sfd, struct vep *dst, int dfd,
                          size_t len, uint32_t salt, bool eor)
{
    static uint8_t out[65536], in[65536];
    ATF_REQUIRE(len <= sizeof(out));
    tt_fill(out, len, salt, 0);
    t_send(src, sfd, out, len, eor ? VEP_MSG_EOR : 0);
    t_settle(t);
    unsigned fl = 0;
    memset(in, 0, len);
    TT_EQ((long long)len, vep_recv(dst, dfd, in, sizeof(in), 0, &fl), "message of %zu", len);
    TT_TRUE(memcmp(in, out, len) == 0, "message of %zu bytes corrupted", len);
    TT_EQ(eor ? VEP_MSG_EOR : 0, fl, "out flags for a %zu-byte message", len);
}

/* ---- construction ------------------------------------------------------------------ */

TC(world_new_defaults, "A default world negotiates everything, posts rx and event buffers and "
                       "settles quiescent")
{
    struct t t;
    t_init(&t);
    struct vdrv *drv = world_driver(t.w);
    /* vhost's socket and ring bits: no STREAM bit, stream is implied. */
    uint64_t want = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_VSOCK_F_SEQPACKET) |
                    BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC);
    TT_EQ(want, vdrv_features(drv), "features");
    /* Linux's rx buffer: one descriptor of SKB_WITH_OVERHEAD(4096), header
     * included. */
    uint8_t d[16];
    TT_EQ(RING_OK, gmem_read(world_mem(t.w), world_layout(t.w, VSOCK_VQ_RX)->desc, d, 16), "desc");
    TT_EQ(3776, (uint32_t)d[8] | (uint32_t)d[9] << 8 | (uint32_t)d[10] << 16, "rx buffer bytes");
    TT_EQ(VIRTQ_DESC_F_WRITE, d[12], "one writable descriptor");
    TT_EQ(WORLD_DEFAULT_GUEST_CID, vdrv_guest_cid(drv), "guest cid");
    TT_EQ(WORLD_DEFAULT_GUEST_CID, vep_local_cid(t.g), "guest endpoint cid");
    TT_TRUE(world_step(t.w, t.now), "the probe's kicks are pending");
    t_settle(&t);
    TT_TRUE(!world_step(t.w, t.now), "idle world stays idle");
    TT_TRUE(world_quiescent(t.w), "quiescent");
    TT_EQ(WORLD_DEFAULT_QSIZE, vdrv_counters(drv)->rx_bufs_posted, "rx buffers posted");
    const struct vq_device *rx = vdev_queue(world_device(t.w), VSOCK_VQ_RX);
    TT_EQ(WORLD_DEFAULT_QSIZE, (uint16_t)(vqdev_avail_idx(rx) - rx->last_avail_idx),
          "rx buffers waiting at the device");
    TT_TRUE(rx->event_idx && vdev_queue(world_device(t.w), VSOCK_VQ_TX)->indirect,
            "device queues run with the negotiated features");
    TT_EQ(WORLD_GPA, world_layout(t.w, VSOCK_VQ_RX)->desc, "rx ring at the start of RAM");
    TT_TRUE(world_layout(t.w, VSOCK_VQ_COUNT) == NULL, "no fourth queue");
    TT_TRUE(gmem_translate(world_mem(t.w), WORLD_GPA, 4096) != NULL, "RAM mapped");
    t_fini(&t);
}

TC(world_new_rejects_bad_cfg, "Bad configurations fail cleanly with the lower layers' errors")
{
    int err = 0;
    TT_TRUE(world_new(NULL, &err) == NULL && err == -EINVAL, "NULL cfg: %d", err);
    struct world_cfg c = {.qsize = {8, 3, 8}};
    TT_TRUE(world_new(&c, &err) == NULL && err == RING_E_QUEUE_SIZE, "queue size 3: %d", err);
    c = (struct world_cfg){.guest_cid = VSOCK_CID_HOST};
    TT_TRUE(world_new(&c, &err) == NULL && err == -EINVAL, "guest cid 2: %d", err);
    c = (struct world_cfg){.features = BIT(VIRTIO_VSOCK_F_STREAM)};
    TT_TRUE(world_new(&c, &err) == NULL && err == -ENODEV, "no VERSION_1: %d", err);
    c = (struct world_cfg){.rx_buf_size = 16};
    TT_TRUE(world_new(&c, &err) == NULL && err == -EINVAL, "rx buffer below a header: %d", err);
    c = (struct world_cfg){.qsize = {1, 1, 1}};
    struct world *w = world_new(&c, NULL);
    TT_TRUE(w != NULL, "NULL err pointer is allowed");
    world_free(w);
    world_free(NULL);
}

TC(guest_cid_from_config, "The guest takes its CID from the device's config space")
{
    struct world_cfg c = {.guest_cid = 42};
    struct t t;
    t_init_cfg(&t, &c);
    TT_EQ(42, vdrv_guest_cid(world_driver(t.w)), "guest cid");
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h); /* t_accept checks the peer CID is 42 */
    int hc, gc;
    h2g(&t, STREAM, GUEST_PORT, &hc, &gc);
    int fd = vep_socket(t.h, STREAM);
    TT_EQ(-ENODEV, vep_connect(t.h, fd, 43, GUEST_PORT, t.now), "no device serves CID 43");
    t_fini(&t);
}

/* ---- connections and data ---------------------------------------------------------- */

TC(connect_guest_to_host, "Guest connects to a host listener; both ends mirror each other")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    struct vep_conn_info gi = conn_of(t.g, g), hi = conn_of(t.h, h);
    TT_EQ(HOST_PORT, gi.peer_port, "guest peer port");
    TT_EQ(VSOCK_CID_HOST, gi.peer_cid, "guest peer cid");
    TT_EQ(gi.local_port, hi.peer_port, "host peer port");
    TT_EQ(HOST_PORT, hi.local_port, "host local port");
    TT_TRUE(gi.local_port > VSOCK_LAST_RESERVED_PORT, "ephemeral port %u", gi.local_port);
    TT_EQ(1, vep_counters(t.g)->connects, "guest connects");
    TT_EQ(1, vep_counters(t.h)->connects, "host connects");
    TT_EQ(1, vep_counters(t.h)->rx_pkts[VSOCK_OP_REQUEST], "REQUEST crossed tx");
    TT_EQ(1, vep_counters(t.g)->rx_pkts[VSOCK_OP_RESPONSE], "RESPONSE crossed rx");
    TT_EQ(VEP_POLLOUT, vep_poll(t.g, g), "guest writable");
    TT_EQ(VEP_POLLOUT, vep_poll(t.h, h), "host writable");
    TT_EQ(1, vdev_counters(world_device(t.w))->tx_pkts, "device took one packet");
    t_fini(&t);
}

TC(connect_host_to_guest, "Host connects to a guest listener")
{
    struct t t;
    t_init(&t);
    int h, g;
    h2g(&t, STREAM, GUEST_PORT, &h, &g);
    struct vep_conn_info gi = conn_of(t.g, g), hi = conn_of(t.h, h);
    TT_EQ(GUEST_PORT, gi.local_port, "guest local port");
    TT_EQ(hi.local_port, gi.peer_port, "guest peer port");
    TT_EQ(WORLD_DEFAULT_GUEST_CID, hi.peer_cid, "host peer cid");
    TT_EQ(1, vep_counters(t.g)->rx_pkts[VSOCK_OP_REQUEST], "REQUEST crossed rx");
    TT_EQ(1, vep_counters(t.h)->rx_pkts[VSOCK_OP_RESPONSE], "RESPONSE crossed tx");
    TT_EQ(1, vdrv_counters(world_driver(t.w))->tx_pkts, "driver sent the RESPONSE");
    t_fini(&t);
}

TC(data_both_ways, "Data flows both ways on connections opened from either side")
{
    struct t t;
    t_init(&t);
    int g, h, h2, g2;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    h2g(&t, STREAM, GUEST_PORT, &h2, &g2);
    t_send_str(t.g, g, "ping from the guest");
    t_expect_str(&t, t.h, h, "ping from the guest");
    t_send_str(t.h, h, "pong from the host");
    t_expect_str(&t, t.g, g, "pong from the host");
    t_send_str(t.h, h2, "host-initiated, host speaks");
    t_expect_str(&t, t.g, g2, "host-initiated, host speaks");
    t_send_str(t.g, g2, "host-initiated, guest answers");
    t_expect_str(&t, t.h, h2, "host-initiated, guest answers");
    /* Peek leaves the data in place. */
    t_send_str(t.g, g, "peek");
    t_settle(&t);
    char buf[8] = {0};
    TT_EQ(4, vep_recv(t.h, h, buf, sizeof(buf), VEP_MSG_PEEK, NULL), "peek");
    TT_EQ(4, vep_rx_queued(t.h, h), "still queued");
    TT_EQ(4, vep_recv(t.h, h, buf, sizeof(buf), 0, NULL), "read");
    TT_EQ(-EAGAIN, vep_recv(t.h, h, buf, sizeof(buf), 0, NULL), "empty");
    TT_EQ(3, vep_counters(t.h)->rx_pkts[VSOCK_OP_RW], "RW packets the host received");
    t_fini(&t);
}

TC(stream_1mib_small_rings, "1 MiB each way over 8-entry rings and 256-byte rx buffers, byte "
                            "for byte")
{
    struct world_cfg c = {.qsize = {8, 8, 8}, .rx_buf_size = 256, .tx_max_payload = 1024};
    struct t t;
    t_init_cfg(&t, &c);
    transfer_both_ways(&t, HOST_PORT, 1u << 20, 0);
    const struct vdev_counters *vc = vdev_counters(world_device(t.w));
    const struct vdrv_counters *dc = vdrv_counters(world_driver(t.w));
    TT_TRUE(vc->rx_partial > 0, "host packets were split over rx buffers");
    TT_TRUE(vc->rx_pkts >= (1u << 20) / (256 - VSOCK_HDR_LEN), "rx parts: %llu",
            (unsigned long long)vc->rx_pkts);
    TT_TRUE(dc->tx_pkts >= (1u << 20) / 1024, "guest packets split at tx_max_payload: %llu",
            (unsigned long long)dc->tx_pkts);
    TT_TRUE(dc->tx_ring_full > 0, "the 8-entry tx ring filled up");
    TT_EQ(1u << 20, vep_counters(t.h)->rx_bytes, "host received");
    TT_EQ(1u << 20, vep_counters(t.g)->rx_bytes, "guest received");
    TT_TRUE(vep_counters(t.g)->rx_pkts[VSOCK_OP_CREDIT_UPDATE] > 0 &&
                vep_counters(t.h)->rx_pkts[VSOCK_OP_CREDIT_UPDATE] > 0,
            "1 MiB needs credit updates both ways");
    t_fini(&t);
}

TC(stream_interleaved_steps, "256 KiB each way while receivers read between single steps")
{
    struct world_cfg c = {.qsize = {16, 16, 4}, .rx_buf_size = 1024};
    struct t t;
    t_init_cfg(&t, &c);
    transfer_both_ways(&t, HOST_PORT, 256u << 10, 1);
    t_fini(&t);
}

/* ---- shutdown ---------------------------------------------------------------------------- */

/* Shuts a's end for writing: b reads what came before and then EOF, a
 * cannot send, and b can still send to a. */
static void check_shut_wr(struct t *t, struct vep *a, int afd, struct vep *b, int bfd)
{
    t_send_str(a, afd, "last words");
    TT_EQ(0, vep_shutdown(a, afd, VEP_SHUT_WR), "shutdown");
    TT_EQ(-EPIPE, vep_send(a, afd, "x", 1, 0), "send after SHUT_WR");
    t_expect_str(t, b, bfd, "last words");
    char buf[16];
    TT_EQ(0, vep_recv(b, bfd, buf, sizeof(buf), 0, NULL), "EOF");
    TT_TRUE(vep_poll(b, bfd) & VEP_POLLRDHUP, "RDHUP");
    t_send_str(b, bfd, "still listening");
    t_expect_str(t, a, afd, "still listening");
}

TC(shutdown_wr_guest, "Guest SHUT_WR: host reads EOF, host->guest still flows")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    check_shut_wr(&t, t.g, g, t.h, h);
    TT_EQ(VSOCK_SHUTDOWN_SEND, conn_of(t.h, h).peer_shutdown, "host saw SHUTDOWN(SEND)");
    t_fini(&t);
}

TC(shutdown_wr_host, "Host SHUT_WR: guest reads EOF, guest->host still flows")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    check_shut_wr(&t, t.h, h, t.g, g);
    TT_EQ(VSOCK_SHUTDOWN_SEND, conn_of(t.g, g).peer_shutdown, "guest saw SHUTDOWN(SEND)");
    t_fini(&t);
}

/* Shuts a's end for reading: b's sends fail with EPIPE, a reads nothing
 * more, a->b still flows. */
static void check_shut_rd(struct t *t, struct vep *a, int afd, struct vep *b, int bfd)
{
    TT_EQ(0, vep_shutdown(a, afd, VEP_SHUT_RD), "shutdown");
    t_settle(t);
    TT_EQ(-EPIPE, vep_send(b, bfd, "x", 1, 0), "peer send after SHUT_RD");
    char buf[16];
    TT_EQ(0, vep_recv(a, afd, buf, sizeof(buf), 0, NULL), "reading a shut end");
    t_send_str(a, afd, "I still talk");
    t_expect_str(t, b, bfd, "I still talk");
}

TC(shutdown_rd_guest, "Guest SHUT_RD: host sends get EPIPE, guest->host still flows")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    check_shut_rd(&t, t.g, g, t.h, h);
    TT_EQ(VSOCK_SHUTDOWN_RCV, conn_of(t.h, h).peer_shutdown, "host saw SHUTDOWN(RCV)");
    t_fini(&t);
}

TC(shutdown_rd_host, "Host SHUT_RD: guest sends get EPIPE, host->guest still flows")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    check_shut_rd(&t, t.h, h, t.g, g);
    TT_EQ(VSOCK_SHUTDOWN_RCV, conn_of(t.g, g).peer_shutdown, "guest saw SHUTDOWN(RCV)");
    t_fini(&t);
}

/* a shuts both ways with nothing unread at b: b answers with RST, as Linux,
 * and both ends are finished. */
static void check_shut_rdwr(struct t *t, struct vep *a, int afd, struct vep *b, int bfd)
{
    uint64_t b_rst = vep_counters(b)->tx_pkts[VSOCK_OP_RST];
    uint64_t a_resets = vep_counters(a)->resets;
    TT_EQ(0, vep_shutdown(a, afd, VEP_SHUT_RDWR), "shutdown");
    t_settle(t);
    TT_EQ(b_rst + 1, vep_counters(b)->tx_pkts[VSOCK_OP_RST], "peer answered with RST");
    TT_EQ(a_resets + 1, vep_counters(a)->resets, "RST reached the shutting side");
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(b, bfd), "peer closing");
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(a, afd), "shutting side closing");
    char buf[8];
    TT_EQ(0, vep_recv(b, bfd, buf, sizeof(buf), 0, NULL), "peer reads EOF");
    TT_EQ(-EPIPE, vep_send(b, bfd, "x", 1, 0), "peer cannot send");
    TT_EQ(-EPIPE, vep_send(a, afd, "x", 1, 0), "shut side cannot send");
    TT_EQ(0, vep_close(a, afd, t->now), "close a");
    TT_EQ(0, vep_close(b, bfd, t->now), "close b");
    t_settle(t);
}

TC(shutdown_rdwr_guest, "Guest SHUT_RDWR: host answers RST, both ends finish")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    check_shut_rdwr(&t, t.g, g, t.h, h);
    TT_EQ(0, nsocks(t.g), "guest sockets gone");
    TT_EQ(1, nsocks(t.h), "host listener only");
    t_fini(&t);
}

TC(shutdown_rdwr_host, "Host SHUT_RDWR: guest answers RST, both ends finish")
{
    struct t t;
    t_init(&t);
    int h, g;
    h2g(&t, STREAM, GUEST_PORT, &h, &g);
    check_shut_rdwr(&t, t.h, h, t.g, g);
    TT_EQ(0, nsocks(t.h), "host sockets gone");
    TT_EQ(1, nsocks(t.g), "guest listener only");
    t_fini(&t);
}

/* ---- close ------------------------------------------------------------------------------ */

TC(close_with_unread_data, "Closing with unread data: SHUTDOWN(both), the peer's RST ends it")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    uint8_t data[1000];
    tt_fill(data, sizeof(data), 7, 0);
    t_send(t.g, g, data, sizeof(data), 0);
    t_settle(&t);
    TT_EQ(1000, vep_rx_queued(t.h, h), "host holds unread data");
    TT_EQ(0, vep_close(t.h, h, t.now), "host closes");
    t_settle(&t);
    TT_EQ(1, nsocks(t.h), "host socket freed by the guest's RST; listener left");
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(t.g, g), "guest closing");
    char buf[8];
    TT_EQ(0, vep_recv(t.g, g, buf, sizeof(buf), 0, NULL), "guest reads EOF");
    TT_EQ(-EPIPE, vep_send(t.g, g, "x", 1, 0), "guest cannot send");
    TT_EQ(1, vep_counters(t.g)->tx_pkts[VSOCK_OP_RST], "guest sent one RST");
    TT_EQ(1, vep_counters(t.h)->resets, "host counted it");
    t_fini(&t);
}

TC(close_then_peer_drains, "Data sent before close is still read by the peer, then EOF")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    uint8_t data[20000], got[20000];
    tt_fill(data, sizeof(data), 9, 0);
    t_send(t.h, h, data, sizeof(data), 0);
    TT_EQ(0, vep_close(t.h, h, t.now), "host closes at once");
    t_settle(&t);
    TT_EQ(2, nsocks(t.h), "host lingers: the guest holds unread data, so no RST yet");
    TT_EQ((long long)sizeof(got), vep_recv(t.g, g, got, sizeof(got), 0, NULL), "guest drains");
    TT_TRUE(memcmp(got, data, sizeof(got)) == 0, "data intact");
    TT_EQ(0, vep_recv(t.g, g, got, sizeof(got), 0, NULL), "then EOF");
    TT_EQ(0, vep_close(t.g, g, t.now), "guest closes: RST");
    t_settle(&t);
    TT_EQ(1, nsocks(t.h), "host socket freed");
    TT_EQ(0, nsocks(t.g), "guest socket freed");
    t_fini(&t);
}

TC(close_linger_timeout, "A closed socket whose peer never finishes sends RST after 8 s")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    t_send_str(t.h, h, "unread");
    t_settle(&t);
    TT_EQ(0, vep_close(t.h, h, t.now), "host closes");
    t_advance(&t, 7 * SEC);
    TT_EQ(2, nsocks(t.h), "still lingering at 7 s");
    t_advance(&t, 1 * SEC);
    TT_EQ(1, nsocks(t.h), "gone at 8 s");
    TT_EQ(1, vep_counters(t.h)->tx_pkts[VSOCK_OP_RST], "the timeout sent RST");
    TT_EQ(1, vep_counters(t.g)->resets, "the guest got it");
    char buf[16] = {0};
    TT_EQ(6, vep_recv(t.g, g, buf, sizeof(buf), 0, NULL), "unread data survives the RST");
    TT_EQ(0, vep_recv(t.g, g, buf, sizeof(buf), 0, NULL), "then EOF");
    TT_EQ(0, vep_close(t.g, g, t.now), "guest closes");
    t_fini(&t);
}

/* ---- refused connections and RST ------------------------------------------------------- */

TC(refused_connect_guest, "Guest connect to a host port nobody listens on: ECONNRESET")
{
    struct t t;
    t_init(&t);
    int fd = t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, 9999);
    t_settle(&t);
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(t.g, fd), "unconnected");
    TT_TRUE(vep_poll(t.g, fd) & VEP_POLLERR, "POLLERR");
    TT_EQ(-ECONNRESET, vep_sock_error(t.g, fd), "SO_ERROR");
    TT_EQ(1, drops(t.h, VEP_DROP_NO_SOCKET), "host answered for no socket");
    TT_EQ(1, vep_counters(t.g)->rx_pkts[VSOCK_OP_RST], "RST crossed rx");
    TT_EQ(0, nsocks(t.h), "host made nothing");
    t_fini(&t);
}

TC(refused_connect_host, "Host connect to a guest port nobody listens on: ECONNRESET")
{
    struct t t;
    t_init(&t);
    int fd = t_connect_start(&t, t.h, STREAM, world_guest_cid(t.w), 9999);
    t_settle(&t);
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(t.h, fd), "unconnected");
    TT_EQ(-ECONNRESET, vep_sock_error(t.h, fd), "SO_ERROR");
    TT_EQ(1, drops(t.g, VEP_DROP_NO_SOCKET), "guest answered for no socket");
    TT_EQ(1, vdrv_counters(world_driver(t.w))->tx_pkts, "the RST went out on tx");
    t_fini(&t);
}

TC(rst_mid_stream_peer_close, "The receiver closes mid-transfer: the sender gets RST and EPIPE")
{
    struct world_cfg c = {.qsize = {8, 8, 4}};
    struct t t;
    t_init_cfg(&t, &c);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    struct flow f;
    flow_init(&f, t.h, h, t.g, g, 1u << 20, 3);
    flow_send(&f);
    TT_TRUE(f.sent > 0 && f.sent < f.total, "credit stops the sender");
    t_steps(&t, 4);
    flow_recv(&f);
    TT_TRUE(f.rcvd > 0 && f.rcvd < f.sent, "mid-transfer: %llu of %llu",
            (unsigned long long)f.rcvd, (unsigned long long)f.sent);
    TT_EQ(0, vep_close(t.g, g, t.now), "guest closes with data in flight");
    t_settle(&t);
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(t.h, h), "host done");
    TT_EQ(-EPIPE, vep_send(t.h, h, "x", 1, 0), "host send");
    TT_EQ(1, vep_counters(t.h)->tx_pkts[VSOCK_OP_RST], "host sent RST");
    TT_EQ(0, nsocks(t.g), "guest socket freed by the RST");
    t_fini(&t);
}

TC(rst_mid_stream_injected, "An RST from the host reaches a guest behind data in flight")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    uint8_t data[3000];
    tt_fill(data, sizeof(data), 5, 0);
    t_send(t.h, h, data, sizeof(data), 0);
    /* A SHUTDOWN(both) the guest never sent, handed to the host's endpoint:
     * with nothing unread the host resets the connection, and its RST
     * crosses the rx ring right behind the data. */
    struct vsock_hdr shut = {.src_cid = world_guest_cid(t.w), .dst_cid = VSOCK_CID_HOST,
                             .src_port = local_port(t.g, g), .dst_port = HOST_PORT,
                             .type = STREAM, .op = VSOCK_OP_SHUTDOWN,
                             .flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND,
                             .buf_alloc = conn_of(t.g, g).buf_alloc};
    vep_rx(t.h, &shut, NULL, 0, t.now);
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(t.h, h), "host finished the connection");
    t_settle(&t);
    TT_EQ(1, vep_counters(t.g)->resets, "guest got the RST");
    uint8_t got[3000];
    TT_EQ(3000, vep_recv(t.g, g, got, sizeof(got), 0, NULL), "data before the RST survives");
    TT_TRUE(memcmp(got, data, sizeof(got)) == 0, "intact");
    TT_EQ(0, vep_recv(t.g, g, got, sizeof(got), 0, NULL), "then EOF");
    TT_EQ(-EPIPE, vep_send(t.g, g, "x", 1, 0), "guest cannot send");
    TT_EQ(-EPIPE, vep_send(t.h, h, "x", 1, 0), "host cannot send");
    TT_EQ(1, vep_counters(t.h)->tx_pkts[VSOCK_OP_RST], "one RST");
    TT_EQ(0, vep_close(t.g, g, t.now), "guest close");
    TT_EQ(0, vep_close(t.h, h, t.now), "host close");
    t_fini(&t);
}

TC(backlog_full, "A listener with backlog 1 holds two connections; the third gets ECONNRESET")
{
    struct t t;
    t_init(&t);
    int lfd = t_listen(t.h, STREAM, HOST_PORT, 1);
    int fd[3];
    for (int i = 0; i < 3; i++)
        fd[i] = t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    t_settle(&t);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t.g, fd[0]), "first");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t.g, fd[1]), "second");
    TT_EQ(-ECONNRESET, vep_sock_error(t.g, fd[2]), "third refused");
    TT_EQ(1, drops(t.h, VEP_DROP_BACKLOG), "counted");
    for (int i = 0; i < 2; i++)
        t_accept(t.h, lfd, world_guest_cid(t.w), local_port(t.g, fd[i]));
    TT_EQ(-EAGAIN, vep_accept(t.h, lfd, NULL, NULL), "nothing more");
    t_fini(&t);
}

TC(listener_close_with_pending, "Closing a listener ends the connections it had not accepted")
{
    struct t t;
    t_init(&t);
    int lfd = t_listen(t.h, STREAM, HOST_PORT, 4);
    int a = t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    int b = t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    t_settle(&t);
    TT_EQ(3, nsocks(t.h), "listener and two pending");
    TT_EQ(0, vep_close(t.h, lfd, t.now), "close listener");
    t_settle(&t);
    TT_EQ(0, nsocks(t.h), "all host sockets gone");
    int fds[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        char buf[4];
        TT_EQ(VEP_SS_CLOSING, vep_sock_state(t.g, fds[i]), "guest %d closing", i);
        TT_EQ(0, vep_recv(t.g, fds[i], buf, sizeof(buf), 0, NULL), "EOF");
        TT_EQ(-EPIPE, vep_send(t.g, fds[i], "x", 1, 0), "no sending");
    }
    t_fini(&t);
}

/* ---- credit ------------------------------------------------------------------------------ */

TC(credit_stall_and_resume, "With a 128-byte buffer the sender stalls, and each read resumes it")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    TT_EQ(0, vep_set_buf_size(t.h, h, 128), "buffer size");
    t_settle(&t);
    TT_EQ(128, conn_of(t.g, g).peer_buf_alloc, "guest learned the new buf_alloc");
    uint8_t data[4096], got[4096];
    tt_fill(data, sizeof(data), 11, 0);
    size_t sent = 0, rcvd = 0;
    unsigned windows = 0;
    int64_t r;
    while (rcvd < sizeof(data)) {
        if (sent < sizeof(data)) {
            r = vep_send(t.g, g, data + sent, sizeof(data) - sent, 0);
            TT_TRUE(r > 0 && r <= 128, "at most one buffer's worth: %lld", (long long)r);
            sent += (size_t)r;
            windows++;
        }
        if (sent < sizeof(data)) {
            TT_EQ(-EAGAIN, vep_send(t.g, g, data + sent, sizeof(data) - sent, 0), "stalled");
            TT_TRUE(!(vep_poll(t.g, g) & VEP_POLLOUT), "not writable while stalled");
        }
        t_settle(&t);
        TT_TRUE(vep_rx_queued(t.h, h) <= 128, "host buffer never overfilled");
        /* A partial read frees no credit: Linux frees a whole packet. */
        r = vep_recv(t.h, h, got + rcvd, 50, 0, NULL);
        TT_TRUE(r > 0, "read: %s", tt_errname(r));
        rcvd += (size_t)r;
        t_settle(&t);
        r = vep_recv(t.h, h, got + rcvd, sizeof(got) - rcvd, 0, NULL);
        if (r > 0)
            rcvd += (size_t)r;
        t_settle(&t);
    }
    TT_TRUE(memcmp(got, data, sizeof(data)) == 0, "data intact");
    TT_EQ(32, windows, "4096 bytes in 128-byte credit windows");
    TT_TRUE(vep_counters(t.g)->rx_pkts[VSOCK_OP_CREDIT_UPDATE] >= 32, "credit updates: %llu",
            (unsigned long long)vep_counters(t.g)->rx_pkts[VSOCK_OP_CREDIT_UPDATE]);
    TT_TRUE(vep_poll(t.g, g) & VEP_POLLOUT, "writable again");
    t_fini(&t);
}

TC(credit_request_answered, "CREDIT_REQUEST from either side is answered with the current credit")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    uint8_t buf[1000];
    tt_fill(buf, sizeof(buf), 1, 0);
    t_send(t.g, g, buf, sizeof(buf), 0);
    t_send(t.h, h, buf, 500, 0);
    /* A second packet each way stays queued: a read that empties the queue
     * (fewer than SO_RCVLOWAT bytes left) would send an update. */
    t_send(t.g, g, buf, 200, 0);
    t_send(t.h, h, buf, 200, 0);
    t_settle(&t);
    TT_EQ(1000, vep_recv(t.h, h, buf, sizeof(buf), 0, NULL), "host reads");
    TT_EQ(500, vep_recv(t.g, g, buf, 500, 0, NULL), "guest reads");
    TT_EQ(200, vep_rx_queued(t.h, h), "host has 200 left");
    TT_EQ(200, vep_rx_queued(t.g, g), "guest has 200 left");
    t_settle(&t);
    /* Plenty of room and data left: no update went out on its own. */
    TT_EQ(0, conn_of(t.g, g).peer_fwd_cnt, "guest's view is stale");
    TT_EQ(0, conn_of(t.h, h).peer_fwd_cnt, "host's view is stale");
    TT_EQ(0, vep_credit_request(t.g, g), "guest asks");
    t_settle(&t);
    TT_EQ(1, vep_counters(t.h)->rx_pkts[VSOCK_OP_CREDIT_REQUEST], "host got it");
    TT_EQ(1, vep_counters(t.g)->rx_pkts[VSOCK_OP_CREDIT_UPDATE], "guest got the answer");
    TT_EQ(1000, conn_of(t.g, g).peer_fwd_cnt, "guest's view is current");
    TT_EQ(0, vep_credit_request(t.h, h), "host asks");
    t_settle(&t);
    TT_EQ(1, vep_counters(t.g)->rx_pkts[VSOCK_OP_CREDIT_REQUEST], "guest got it");
    TT_EQ(500, conn_of(t.h, h).peer_fwd_cnt, "host's view is current");
    t_fini(&t);
}

/* ---- seqpacket -------------------------------------------------------------------------- */

TC(seqpacket_boundaries, "Seqpacket messages keep their boundaries both ways")
{
    static const size_t sizes[] = {1, 17, 1000, 4052, 4053, 9000, 30000};
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, SEQPACKET, HOST_PORT, &g, &h);
    /* Several queued at once, then read one by one. */
    uint8_t msg[30000], got[32768];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        tt_fill(msg, sizes[i], (uint32_t)i, 0);
        t_send(t.g, g, msg, sizes[i], 0);
        tt_fill(msg, sizes[i], (uint32_t)i + 100, 0);
        t_send(t.h, h, msg, sizes[i], 0);
    }
    t_settle(&t);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned fl = 1;
        TT_EQ((long long)sizes[i], vep_recv(t.h, h, got, sizeof(got), 0, &fl), "to host %zu", i);
        tt_fill(msg, sizes[i], (uint32_t)i, 0);
        TT_TRUE(memcmp(got, msg, sizes[i]) == 0 && fl == 0, "host message %zu", i);
        TT_EQ((long long)sizes[i], vep_recv(t.g, g, got, sizeof(got), 0, &fl), "to guest %zu", i);
        tt_fill(msg, sizes[i], (uint32_t)i + 100, 0);
        TT_TRUE(memcmp(got, msg, sizes[i]) == 0 && fl == 0, "guest message %zu", i);
    }
    TT_EQ(-EAGAIN, vep_recv(t.h, h, got, sizeof(got), 0, NULL), "host drained");
    TT_EQ(-EAGAIN, vep_recv(t.g, g, got, sizeof(got), 0, NULL), "guest drained");
    t_fini(&t);
}

TC(seqpacket_large_message, "A message larger than an rx buffer or a tx packet arrives whole")
{
    struct world_cfg c = {.rx_buf_size = 512, .tx_max_payload = 512};
    struct t t;
    t_init_cfg(&t, &c);
    int g, h;
    h2g(&t, SEQPACKET, GUEST_PORT, &h, &g);
    uint64_t partial = vdev_counters(world_device(t.w))->rx_partial;
    seq_roundtrip(&t, t.h, h, t.g, g, 3000, 1, false);
    TT_EQ(partial + 1, vdev_counters(world_device(t.w))->rx_partial, "split over rx buffers");
    TT_EQ(7, vep_counters(t.g)->rx_pkts[VSOCK_OP_RW], "guest saw 7 parts of 468, one message");
    uint64_t tx = vdrv_counters(world_driver(t.w))->tx_pkts;
    seq_roundtrip(&t, t.g, g, t.h, h, 3000, 2, false);
    TT_TRUE(vdrv_counters(world_driver(t.w))->tx_pkts >= tx + 6, "split at tx_max_payload");
    TT_EQ(6, vep_counters(t.h)->rx_pkts[VSOCK_OP_RW], "host saw 6 parts of 512, one message");
    seq_roundtrip(&t, t.h, h, t.g, g, 65536, 3, true);
    seq_roundtrip(&t, t.g, g, t.h, h, 65536, 4, true);
    t_fini(&t);
}

static void check_trunc(struct t *t, struct vep *src, int sfd, struct vep *dst, int dfd)
{
    uint8_t msg[1000], got[1000];
    tt_fill(msg, sizeof(msg), 21, 0);
    t_send(src, sfd, msg, sizeof(msg), 0);
    t_send(src, sfd, msg, sizeof(msg), 0);
    t_send(src, sfd, msg, 10, 0);
    t_settle(t);
    unsigned fl = 0;
    TT_EQ(100, vep_recv(dst, dfd, got, 100, 0, &fl), "truncated read");
    TT_EQ(VEP_MSG_TRUNC, fl, "MSG_TRUNC out");
    TT_TRUE(memcmp(got, msg, 100) == 0, "the head of the message");
    TT_EQ(1000, vep_recv(dst, dfd, got, 100, VEP_MSG_TRUNC, &fl), "MSG_TRUNC in: real length");
    TT_EQ(VEP_MSG_TRUNC, fl, "MSG_TRUNC out again");
    TT_EQ(10, vep_recv(dst, dfd, got, sizeof(got), 0, &fl), "the next message is whole");
    TT_EQ(0, fl, "not truncated");
}

TC(seqpacket_trunc, "A short read truncates one message (MSG_TRUNC), the next is intact")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, SEQPACKET, HOST_PORT, &g, &h);
    check_trunc(&t, t.g, g, t.h, h);
    check_trunc(&t, t.h, h, t.g, g);
    t_fini(&t);
}

TC(seqpacket_eor, "MSG_EOR travels with its message only, both ways, even when split")
{
    struct world_cfg c = {.rx_buf_size = 256, .tx_max_payload = 256};
    struct t t;
    t_init_cfg(&t, &c);
    int g, h;
    g2h(&t, SEQPACKET, HOST_PORT, &g, &h);
    for (int i = 0; i < 4; i++) {
        bool eor = (i & 1) != 0;
        seq_roundtrip(&t, t.g, g, t.h, h, 100, 30 + (uint32_t)i, eor);
        seq_roundtrip(&t, t.h, h, t.g, g, 100, 40 + (uint32_t)i, eor);
        seq_roundtrip(&t, t.g, g, t.h, h, 1000, 50 + (uint32_t)i, eor);
        seq_roundtrip(&t, t.h, h, t.g, g, 1000, 60 + (uint32_t)i, eor);
    }
    TT_TRUE(vdev_counters(world_device(t.w))->rx_partial >= 4, "split messages");
    t_fini(&t);
}

/* ---- many connections, port reuse --------------------------------------------------------- */

TC(many_connections_64, "64 connections at once, each with its own data both ways")
{
    enum { N = 64 };
    struct t t;
    t_init(&t);
    int lfd = t_listen(t.h, STREAM, HOST_PORT, N);
    int g[N], h[N];
    for (int i = 0; i < N; i++)
        g[i] = t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    t_settle(&t);
    TT_EQ(N, vep_counters(t.h)->connects, "host accepted all");
    TT_EQ(N, vep_counters(t.g)->connects, "guest connected all");
    for (int i = 0; i < N; i++) {
        uint32_t port = 0;
        int fd = vep_accept(t.h, lfd, NULL, &port);
        TT_TRUE(fd >= 0, "accept %d", i);
        int j = 0;
        while (j < N && local_port(t.g, g[j]) != port)
            j++;
        TT_TRUE(j < N, "accepted port %u belongs to no guest socket", port);
        h[j] = fd;
    }
    struct flow f[2 * N];
    for (int i = 0; i < N; i++) {
        flow_init(&f[2 * i], t.g, g[i], t.h, h[i], 3000 + 517u * (unsigned)i, 1000 + (unsigned)i);
        flow_init(&f[2 * i + 1], t.h, h[i], t.g, g[i], 5000 + 311u * (unsigned)i,
                  2000 + (unsigned)i);
    }
    flows_run(&t, f, 2 * N, 0);
    for (int i = 0; i < N; i++) {
        TT_EQ(0, vep_close(t.g, g[i], t.now), "close guest %d", i);
        TT_EQ(0, vep_close(t.h, h[i], t.now), "close host %d", i);
    }
    t_settle(&t);
    TT_EQ(0, nsocks(t.g), "guest sockets gone");
    TT_EQ(1, nsocks(t.h), "host listener left");
    t_fini(&t);
}

TC(port_reuse_after_close, "A fixed port is reused once both ends of its connection closed")
{
    struct t t;
    t_init(&t);
    int lfd = t_listen(t.h, STREAM, HOST_PORT, 4);
    for (int round = 0; round < 3; round++) {
        int g = vep_socket(t.g, STREAM);
        TT_EQ(0, vep_bind(t.g, g, GUEST_PORT), "bind round %d", round);
        TT_EQ(-EINPROGRESS, vep_connect(t.g, g, VSOCK_CID_HOST, HOST_PORT, t.now), "connect");
        t_settle(&t);
        TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t.g, g), "round %d connected", round);
        int h = t_accept(t.h, lfd, world_guest_cid(t.w), GUEST_PORT);
        t_send_str(t.g, g, "again");
        t_expect_str(&t, t.h, h, "again");
        TT_EQ(0, vep_close(t.g, g, t.now), "guest close");
        t_settle(&t);
        /* The host's end is finished but still open; the guest's SHUTDOWN
         * took it out of the connected table (Linux's recv_connected), so
         * a new REQUEST on the same four-tuple reaches the listener
         * (conformance/scripts/shutdown_both_unread_reconnect.pkt). */
        if (round == 0) {
            int again = vep_socket(t.g, STREAM);
            TT_EQ(0, vep_bind(t.g, again, GUEST_PORT), "bind while the host holds it");
            vep_connect(t.g, again, VSOCK_CID_HOST, HOST_PORT, t.now);
            t_settle(&t);
            TT_EQ(0, vep_sock_error(t.g, again), "connected");
            TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t.g, again), "connected");
            int h2 = t_accept(t.h, lfd, world_guest_cid(t.w), GUEST_PORT);
            TT_EQ(0, vep_close(t.g, again, t.now), "close");
            TT_EQ(0, vep_close(t.h, h2, t.now), "close");
            t_settle(&t);
        }
        TT_EQ(0, vep_close(t.h, h, t.now), "host close");
        t_settle(&t);
        TT_EQ(0, nsocks(t.g), "guest port free");
        TT_EQ(1, nsocks(t.h), "only the listener");
    }
    /* The listener's port, too. */
    TT_EQ(0, vep_close(t.h, lfd, t.now), "close listener");
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    t_fini(&t);
}

/* ---- resets --------------------------------------------------------------------------------- */

struct reset_scene {
    int hl, gl;         /* listeners */
    int g1, h1, h2, g2; /* a guest-initiated and a host-initiated connection */
    struct flow f[2];
};

/* Two listeners and two connections, each with a transfer cut mid-way. */
static void reset_scene_start(struct t *t, struct reset_scene *s)
{
    s->h1 = t_pair(t, t->g, world_guest_cid(t->w), t->h, VSOCK_CID_HOST, STREAM, HOST_PORT,
                   &s->g1, &s->hl);
    s->g2 = t_pair(t, t->h, VSOCK_CID_HOST, t->g, world_guest_cid(t->w), STREAM, GUEST_PORT,
                   &s->h2, &s->gl);
    flow_init(&s->f[0], t->g, s->g1, t->h, s->h1, 1u << 20, 71);
    flow_init(&s->f[1], t->h, s->h2, t->g, s->g2, 1u << 20, 72);
    flow_send(&s->f[0]);
    flow_send(&s->f[1]);
    t_steps(t, 3);
    flow_recv(&s->f[0]);
    flow_recv(&s->f[1]);
    TT_TRUE(s->f[0].rcvd < s->f[0].total && s->f[1].rcvd < s->f[1].total, "mid-transfer");
}

/* A host connection whose guest end a device reset took away: vhost keeps
 * it (no error), half-open until it sends; the guest then answers with RST
 * and it ends. It may have sent already (credit updates, queued data). */
static void check_half_open(struct t *t, int fd, int i)
{
    TT_EQ(0, vep_sock_error(t->h, fd), "host conn %d: no error, vhost kept it", i);
    if (vep_sock_state(t->h, fd) == VEP_SS_CONNECTED) {
        TT_TRUE(vep_send(t->h, fd, "x", 1, 0) == 1, "host conn %d still sends", i);
        t_settle(t);
    }
    TT_EQ(VEP_SS_CLOSING, vep_sock_state(t->h, fd), "host conn %d ended by the guest's RST", i);
}

/* A host connection orphaned as vhost_vsock_reset_orphans does: still
 * CONNECTED, ECONNRESET, unread data then EOF, EPIPE. */
static void check_orphaned(struct t *t, int fd, int i)
{
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t->h, fd), "host conn %d orphaned", i);
    TT_TRUE(vep_poll(t->h, fd) & VEP_POLLERR, "host conn %d POLLERR", i);
    TT_EQ(-ECONNRESET, vep_sock_error(t->h, fd), "host conn %d error", i);
    TT_EQ(-EPIPE, vep_send(t->h, fd, "x", 1, 0), "host conn %d cannot send", i);
}

/* Every connection is reset on the guest side; on the host side orphaned
 * (a TRANSPORT_RESET: the old vhost device was released) or half-open (a
 * device reset); listeners survive, and new connections both ways carry
 * data. */
static void reset_scene_check_as(struct t *t, struct reset_scene *s, bool orphaned)
{
    int gfd[2] = {s->g1, s->g2}, hfd[2] = {s->h1, s->h2};
    for (int i = 0; i < 2; i++) {
        TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(t->g, gfd[i]), "guest conn %d reset", i);
        TT_EQ(-ECONNRESET, vep_sock_error(t->g, gfd[i]), "guest conn %d error", i);
        TT_TRUE(vep_send(t->g, gfd[i], "x", 1, 0) < 0, "guest conn %d cannot send", i);
        if (orphaned)
            check_orphaned(t, hfd[i], i);
        else
            check_half_open(t, hfd[i], i);
        uint8_t rb[4096];
        int64_t r;
        while ((r = vep_recv(t->h, hfd[i], rb, sizeof(rb), 0, NULL)) > 0)
            ;
        TT_EQ(0, r, "host conn %d: unread data, then EOF", i);
    }
    TT_EQ(VEP_SS_LISTEN, vep_sock_state(t->h, s->hl), "host listener survives");
    TT_EQ(VEP_SS_LISTEN, vep_sock_state(t->g, s->gl), "guest listener survives");
    int g = t_connect_start(t, t->g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    int h = t_connect_start(t, t->h, STREAM, world_guest_cid(t->w), GUEST_PORT);
    t_settle(t);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t->g, g), "new guest connection");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t->h, h), "new host connection");
    int ha = t_accept(t->h, s->hl, world_guest_cid(t->w), local_port(t->g, g));
    int ga = t_accept(t->g, s->gl, VSOCK_CID_HOST, local_port(t->h, h));
    struct flow f[2];
    flow_init(&f[0], t->g, g, t->h, ha, 200000, 81);
    flow_init(&f[1], t->h, h, t->g, ga, 200000, 82);
    flows_run(t, f, 2, 0);
    for (int i = 0; i < 2; i++) {
        TT_EQ(0, vep_close(t->g, gfd[i], t->now), "close old guest %d", i);
        TT_EQ(0, vep_close(t->h, hfd[i], t->now), "close old host %d", i);
    }
}

static void reset_scene_check(struct t *t, struct reset_scene *s)
{
    reset_scene_check_as(t, s, true);
}

TC(transport_reset_mid_transfer, "TRANSPORT_RESET mid-transfer: connections reset, listeners "
                                 "survive, new connections work")
{
    /* Default (Linux-sized) queues: every packet in flight to a reset
     * connection draws an RST reply; reply_flood_* do it on small queues. */
    struct t t;
    t_init(&t);
    struct reset_scene s;
    reset_scene_start(&t, &s);
    TT_EQ(0, vdev_inject_transport_reset(world_device(t.w)), "inject");
    t_settle(&t);
    TT_EQ(1, vdev_counters(world_device(t.w))->events, "event posted");
    TT_EQ(1, vdrv_counters(world_driver(t.w))->transport_resets, "guest handled it");
    TT_EQ(WORLD_DEFAULT_GUEST_CID, vdrv_guest_cid(world_driver(t.w)), "CID re-read, unchanged");
    reset_scene_check(&t, &s);
    t_fini(&t);
}

/* A TRANSPORT_RESET with 16-entry queues full of data: every packet still
 * in flight reaches a reset connection and draws an RST reply, more than a
 * queue's worth each way. */
static void reply_flood(struct t *t, uint64_t deviate, struct reset_scene *s)
{
    /* 4 KiB packets both ways: many of them in flight. */
    struct world_cfg c = {.qsize = {16, 16, 4}, .deviate = deviate,
                          .rx_buf_size = 4096, .tx_max_payload = 4096};
    t_init_cfg(t, &c);
    reset_scene_start(t, s);
    TT_EQ(0, vdev_inject_transport_reset(world_device(t->w)), "inject");
    t_settle(t);
}

TC(reply_flood_stalls_linux_rule, "Linux's rx pause rule (the default): replies flooding both "
                                  "ways stop both rings for good")
{
    /* The guest stops taking rx while a queue's worth of replies waits for
     * tx (virtio_transport_more_replies); the device stops taking tx while
     * a queue's worth waits for rx buffers (vhost_vsock_more_replies). Each
     * waits for the other: idle, yet never quiescent. Nothing is corrupt,
     * so the oracle stays quiet; the liveness check is quiescence. */
    struct t t;
    struct reset_scene s;
    reply_flood(&t, 0, &s);
    TT_TRUE(!world_step(t.w, t.now), "idle");
    TT_TRUE(!world_quiescent(t.w), "but stalled");
    TT_TRUE(world_check(t.w) == NULL, "no invariant broken");
    char why[256];
    TT_TRUE(world_reply_pause_deadlock(t.w, why, sizeof(why)), "the known deadlock's state");
    TT_TRUE(strstr(why, "guest rx paused with") != NULL, "%s", why);
    TT_TRUE(vep_tx_queued_replies(t.g) >= 16, "guest owes %u replies", vep_tx_queued_replies(t.g));
    TT_TRUE(vep_tx_queued_replies(t.h) >= 16, "host owes %u replies", vep_tx_queued_replies(t.h));
    TT_TRUE(vdrv_counters(world_driver(t.w))->rx_paused > 0, "guest rx paused");
    TT_TRUE(vdev_counters(world_device(t.w))->tx_paused_replies > 0, "device tx paused");
    int g = t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    t_settle(&t);
    TT_EQ(VEP_SS_CONNECTING, vep_sock_state(t.g, g), "a new connection cannot get through");
    t.dirty = true;
    t_fini(&t);
}

TC(reply_flood_reply_budget, "The reply-budget deviation rides out the same reply flood")
{
    struct t t;
    struct reset_scene s;
    reply_flood(&t, VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET), &s);
    TT_TRUE(world_quiescent(t.w), "drained");
    char why[256];
    TT_TRUE(!world_reply_pause_deadlock(t.w, why, sizeof(why)), "no deadlock");
    TT_TRUE(vdev_counters(world_device(t.w))->tx_paused_replies > 0, "device tx did pause");
    reset_scene_check(&t, &s);
    t_fini(&t);
}

TC(device_reset_recovery, "A device reset mid-transfer: guest connections reset, host ones "
                          "half-open until they send, listeners survive, the rings run again")
{
    struct world_cfg c = {.qsize = {16, 16, 4}};
    struct t t;
    t_init_cfg(&t, &c);
    struct reset_scene s;
    reset_scene_start(&t, &s);
    uint64_t posted = vdrv_counters(world_driver(t.w))->rx_bufs_posted;
    TT_EQ(0, world_device_reset(t.w, t.now), "reset");
    TT_EQ(posted + 16, vdrv_counters(world_driver(t.w))->rx_bufs_posted, "rx reposted");
    t_settle(&t);
    reset_scene_check_as(&t, &s, false);
    /* And a second time, on an idle world. */
    TT_EQ(0, world_device_reset(t.w, t.now), "reset again");
    int g, h;
    g2h(&t, STREAM, HOST_PORT + 1, &g, &h);
    t_send_str(t.g, g, "after two resets");
    t_expect_str(&t, t.h, h, "after two resets");
    t_fini(&t);
}

TC(device_stop_start_keeps_connections, "A VM stop and cont (the device stops and starts "
                                        "again where it was): nothing is lost either way")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    world_device_stop(t.w);
    t_send_str(t.h, h, "sent while stopped");
    t_send_str(t.g, g, "queued while stopped");
    t_advance(&t, SEC);
    TT_EQ(0, vep_rx_queued(t.g, g), "nothing reaches the guest while stopped");
    TT_EQ(0, vep_rx_queued(t.h, h), "nothing reaches the host while stopped");
    TT_TRUE(world_check(t.w) == NULL, "a stopped device is no violation");
    TT_EQ(0, world_device_start(t.w), "start");
    t_expect_str(&t, t.g, g, "sent while stopped");
    t_expect_str(&t, t.h, h, "queued while stopped");
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t.h, h), "host end connected");
    TT_EQ(0, vep_sock_error(t.h, h), "no error on the host end");
    t_settle(&t);
    TT_TRUE(world_quiescent(t.w), "quiescent");
    t_fini(&t);
}

TC(connect_timeout_device_stopped, "With the device stopped a connect times out after 2 s; a "
                                   "device reset brings it back")
{
    struct t t;
    t_init(&t);
    int lfd = t_listen(t.h, STREAM, HOST_PORT, 4);
    t_settle(&t);
    vdev_reset(world_device(t.w)); /* stopped: kicks are lost, as in vhost */
    int fd = t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    t_advance(&t, 2 * SEC - 1);
    TT_EQ(VEP_SS_CONNECTING, vep_sock_state(t.g, fd), "still connecting");
    t_advance(&t, 1);
    TT_EQ(VEP_SS_UNCONNECTED, vep_sock_state(t.g, fd), "gave up");
    TT_EQ(-ETIMEDOUT, vep_sock_error(t.g, fd), "ETIMEDOUT");
    TT_EQ(0, vep_counters(t.h)->rx_pkts[VSOCK_OP_REQUEST], "the device never saw it");
    TT_EQ(0, world_device_reset(t.w, t.now), "reset and start");
    t_settle(&t);
    TT_EQ(0, vep_counters(t.h)->rx_pkts[VSOCK_OP_REQUEST], "the stale REQUEST was purged");
    int g = t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    t_settle(&t);
    TT_EQ(VEP_SS_CONNECTED, vep_sock_state(t.g, g), "connects now");
    t_accept(t.h, lfd, world_guest_cid(t.w), local_port(t.g, g));
    t_fini(&t);
}

/* ---- features and queue sizes ----------------------------------------------------------- */

static void feature_run(uint64_t offer, uint64_t driver_features, uint32_t qsize)
{
    struct world_cfg c = {.qsize = {qsize, qsize, qsize},
                          .features = offer,
                          .driver_features = driver_features,
                          .rx_buf_size = 1024};
    struct t t;
    t_init_cfg(&t, &c);
    uint64_t want = offer & (driver_features != 0 ? driver_features : ~0ull);
    TT_EQ(want, vdrv_features(world_driver(t.w)), "negotiated");
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        const struct vq_device *v = vdev_queue(world_device(t.w), (enum vsock_vq)q);
        const struct vq_driver *d = vdrv_queue(world_driver(t.w), (enum vsock_vq)q);
        TT_EQ((want & BIT(VIRTIO_F_EVENT_IDX)) != 0, v->event_idx, "device event_idx q%d", q);
        TT_EQ((want & BIT(VIRTIO_F_EVENT_IDX)) != 0, d->event_idx, "driver event_idx q%d", q);
        TT_EQ((want & BIT(VIRTIO_F_INDIRECT_DESC)) != 0, v->indirect, "device indirect q%d", q);
    }
    TT_EQ((want & BIT(VIRTIO_F_INDIRECT_DESC)) != 0,
          vdrv_queue(world_driver(t.w), VSOCK_VQ_TX)->indirect, "driver tx indirect");
    transfer_both_ways(&t, HOST_PORT, 300000, 0);
    TT_TRUE(vdev_counters(world_device(t.w))->rx_partial > 0, "splits");
    if (want & BIT(VIRTIO_VSOCK_F_SEQPACKET)) {
        int g, h;
        g2h(&t, SEQPACKET, HOST_PORT + 1, &g, &h);
        seq_roundtrip(&t, t.g, g, t.h, h, 5000, 1, true);
        seq_roundtrip(&t, t.h, h, t.g, g, 5000, 2, false);
    } else {
        /* As Linux: the socket is created and listens, connect refuses it. */
        int sp = vep_socket(t.g, SEQPACKET);
        TT_TRUE(sp >= 0, "seqpacket socket: %s", tt_errname(sp));
        TT_EQ(-ESOCKTNOSUPPORT, vep_connect(t.g, sp, VSOCK_CID_HOST, HOST_PORT + 1, t.now),
              "no seqpacket connect in the guest");
        TT_EQ(0, vep_bind(t.g, sp, GUEST_PORT + 1), "bind");
        TT_EQ(0, vep_listen(t.g, sp, 4), "seqpacket listen in the guest");
        TT_EQ(0, vep_close(t.g, sp, t.now), "close");
    }
    t_fini(&t);
}

TC(features_plain, "VERSION_1 and STREAM only: no event index, no indirect, no seqpacket")
{
    feature_run(BASE_FEATURES, 0, 16);
}

TC(features_event_idx, "EVENT_IDX without INDIRECT_DESC")
{
    feature_run(BASE_FEATURES | BIT(VIRTIO_F_EVENT_IDX), 0, 16);
}

TC(features_indirect, "INDIRECT_DESC without EVENT_IDX, with seqpacket")
{
    feature_run(BASE_FEATURES | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_VSOCK_F_SEQPACKET), 0,
                16);
}

TC(features_all, "Every feature at once")
{
    feature_run(BASE_FEATURES | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
                    BIT(VIRTIO_VSOCK_F_SEQPACKET),
                0, 16);
}

TC(features_driver_declines, "The device offers everything; the driver takes only part")
{
    feature_run(BASE_FEATURES | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
                    BIT(VIRTIO_VSOCK_F_SEQPACKET),
                BASE_FEATURES | BIT(VIRTIO_VSOCK_F_SEQPACKET) | BIT(VIRTIO_F_EVENT_IDX), 16);
}

TC(queue_size_1, "One-entry queues, with indirect descriptors")
{
    feature_run(BASE_FEATURES | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
                    BIT(VIRTIO_VSOCK_F_SEQPACKET),
                0, 1);
}

TC(queue_size_1_direct, "One-entry queues without indirect: header and payload share a "
                        "descriptor")
{
    feature_run(BASE_FEATURES | BIT(VIRTIO_VSOCK_F_SEQPACKET), 0, 1);
}

TC(queue_size_2, "Two-entry queues, with and without event index")
{
    feature_run(BASE_FEATURES | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_VSOCK_F_SEQPACKET), 0, 2);
    feature_run(BASE_FEATURES | BIT(VIRTIO_VSOCK_F_SEQPACKET), 0, 2);
}

/* ---- the world itself ------------------------------------------------------------------------ */

TC(run_until_idle_bounds, "run_until_idle reports -EBUSY when the step budget runs out")
{
    struct t t;
    t_init(&t);
    t_settle(&t);
    TT_EQ(0, world_run_until_idle(t.w, t.now, 1), "idle in one step");
    t_listen(t.h, STREAM, HOST_PORT, 4);
    t_connect_start(&t, t.g, STREAM, VSOCK_CID_HOST, HOST_PORT);
    TT_EQ(-EBUSY, world_run_until_idle(t.w, t.now, 1), "a connect takes more than one step");
    TT_EQ(0, world_run_until_idle(t.w, t.now, 100), "then settles");
    TT_EQ(1, vep_counters(t.g)->connects, "connected");
    t_fini(&t);
}

/* One scripted workload; returns a digest of every counter afterwards. */
static uint64_t scripted_run(void)
{
    struct world_cfg c = {.qsize = {4, 4, 2}, .rx_buf_size = 300, .tx_max_payload = 700};
    struct t t;
    t_init_cfg(&t, &c);
    transfer_both_ways(&t, HOST_PORT, 100000, 2);
    int g, h;
    g2h(&t, SEQPACKET, HOST_PORT + 1, &g, &h);
    seq_roundtrip(&t, t.g, g, t.h, h, 2000, 9, true);
    vep_close(t.g, g, t.now);
    t_settle(&t);
    uint64_t d = TT_HASH_INIT;
    d = tt_hash(vdrv_counters(world_driver(t.w)), sizeof(struct vdrv_counters), d);
    d = tt_hash(vdev_counters(world_device(t.w)), sizeof(struct vdev_counters), d);
    d = tt_hash(vep_counters(t.g), sizeof(struct vep_counters), d);
    d = tt_hash(vep_counters(t.h), sizeof(struct vep_counters), d);
    d = tt_hash(&t.steps, sizeof(t.steps), d);
    d = tt_hash(world_mem(t.w)->region[0].hva, world_mem(t.w)->region[0].size, d);
    t_fini(&t);
    return d;
}

TC(deterministic, "The same workload twice ends in identical counters, steps and guest memory")
{
    uint64_t a = scripted_run();
    uint64_t b = scripted_run();
    TT_TRUE(a == b, "digests %#llx and %#llx", (unsigned long long)a, (unsigned long long)b);
}

/* ---- the oracle, tested ----------------------------------------------------------------------- */

/* A packet the guest never sent, handed straight to the host's endpoint. */
static void forge_rw(struct t *t, int g, uint32_t len)
{
    static uint8_t junk[256];
    ATF_REQUIRE(len <= sizeof(junk));
    struct vsock_hdr hd = {.src_cid = world_guest_cid(t->w), .dst_cid = VSOCK_CID_HOST,
                           .src_port = local_port(t->g, g), .dst_port = HOST_PORT,
                           .len = len, .type = STREAM, .op = VSOCK_OP_RW,
                           .buf_alloc = conn_of(t->g, g).buf_alloc};
    vep_rx(t->h, &hd, junk, len, t->now);
}

TC(checker_credit_overrun, "The oracle reports a receiver that consumed more than was sent")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    TT_TRUE(world_check(t.w) == NULL, "clean before");
    forge_rw(&t, g, 100);
    uint8_t buf[100];
    TT_EQ(100, vep_recv(t.h, h, buf, sizeof(buf), 0, NULL), "host reads the forged bytes");
    const char *why = world_check(t.w);
    TT_TRUE(why != NULL && strstr(why, "outstanding") != NULL, "reported: %s",
            why ? why : "nothing");
    TT_TRUE(strstr(why, "guest fd") != NULL, "names the sender: %s", why);
    t.dirty = true;
    t_fini(&t);
}

TC(checker_lost_bytes, "The oracle reports bytes that arrived but were never sent")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    forge_rw(&t, g, 40);
    TT_TRUE(world_quiescent(t.w), "nothing in transit");
    const char *why = world_check(t.w);
    TT_TRUE(why != NULL && strstr(why, "sent 0 bytes") != NULL && strstr(why, "holds 40"),
            "reported: %s", why ? why : "nothing");
    t.dirty = true;
    t_fini(&t);
}

TC(checker_orphan_connection, "The oracle reports a host connection with no guest end")
{
    struct t t;
    t_init(&t);
    int lfd = t_listen(t.h, STREAM, HOST_PORT, 4);
    t_settle(&t);
    struct vsock_hdr req = {.src_cid = world_guest_cid(t.w), .dst_cid = VSOCK_CID_HOST,
                            .src_port = 7777, .dst_port = HOST_PORT, .type = STREAM,
                            .op = VSOCK_OP_REQUEST, .buf_alloc = 4096};
    vep_rx(t.h, &req, NULL, 0, t.now);
    TT_TRUE(world_check(t.w) == NULL, "the RESPONSE is in transit: nothing to say yet");
    struct vep_tx tx;
    TT_TRUE(vep_tx_peek(t.h, &tx) && tx.hdr.op == VSOCK_OP_RESPONSE, "RESPONSE queued");
    vep_tx_advance(t.h, 0); /* lost on the way */
    const char *why = world_check(t.w);
    TT_TRUE(why != NULL && strstr(why, "host fd") && strstr(why, "no connection on the guest"),
            "reported: %s", why ? why : "nothing");
    TT_TRUE(vep_accept(t.h, lfd, NULL, NULL) >= 0, "the orphan is acceptable");
    t.dirty = true;
    t_fini(&t);
}

TC(checker_ring_index, "The oracle reports a used index rewritten in guest memory")
{
    struct t t;
    t_init(&t);
    int g, h;
    g2h(&t, STREAM, HOST_PORT, &g, &h);
    uint64_t idx_gpa = world_layout(t.w, VSOCK_VQ_TX)->used + 2;
    uint8_t saved[2], bad[2];
    TT_EQ(RING_OK, gmem_read(world_mem(t.w), idx_gpa, saved, 2), "read used idx");
    bad[0] = (uint8_t)(saved[0] + 1);
    bad[1] = saved[1];
    TT_EQ(RING_OK, gmem_write(world_mem(t.w), idx_gpa, bad, 2), "corrupt");
    const char *why = world_check(t.w);
    TT_TRUE(why != NULL && strstr(why, "tx ring: used idx") != NULL, "reported: %s",
            why ? why : "nothing");
    TT_EQ(RING_OK, gmem_write(world_mem(t.w), idx_gpa, saved, 2), "restore");
    TT_TRUE(world_check(t.w) == NULL, "clean again");
    t_fini(&t);
}

TC(checker_ring_error, "The oracle reports a ring error the device signalled")
{
    struct t t;
    t_init(&t);
    t_settle(&t);
    /* Publish a head beyond the table on tx, behind the driver's back. */
    const struct vring_layout *l = world_layout(t.w, VSOCK_VQ_TX);
    const struct vq_driver *d = vdrv_queue(world_driver(t.w), VSOCK_VQ_TX);
    uint16_t idx = d->avail_idx_shadow;
    uint8_t head[2] = {0xff, 0x7f};
    uint8_t next[2] = {(uint8_t)(idx + 1), (uint8_t)((idx + 1) >> 8)};
    TT_EQ(RING_OK, gmem_write(world_mem(t.w), l->avail + 4 + 2u * (idx % l->num), head, 2),
          "entry");
    TT_EQ(RING_OK, gmem_write(world_mem(t.w), l->avail + 2, next, 2), "idx");
    vdev_handle_tx_kick(world_device(t.w), t.now);
    world_step(t.w, t.now);
    const char *why = world_check(t.w);
    TT_TRUE(why != NULL && strstr(why, "malformed chains (tx 1, rx 0, event 0") != NULL,
            "reported: %s", why ? why : "nothing");
    TT_EQ(1, vdev_counters(world_device(t.w))->tx_bad_chain, "device counted it");
    TT_EQ(RING_E_HEAD_RANGE, vdev_counters(world_device(t.w))->last_ring_error, "which error");
    TT_EQ(2, world_ring_errors(t.w), "tx bit");
    t.dirty = true;
    t_fini(&t);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, world_new_defaults);
    ATF_TP_ADD_TC(tp, world_new_rejects_bad_cfg);
    ATF_TP_ADD_TC(tp, guest_cid_from_config);
    ATF_TP_ADD_TC(tp, connect_guest_to_host);
    ATF_TP_ADD_TC(tp, connect_host_to_guest);
    ATF_TP_ADD_TC(tp, data_both_ways);
    ATF_TP_ADD_TC(tp, stream_1mib_small_rings);
    ATF_TP_ADD_TC(tp, stream_interleaved_steps);
    ATF_TP_ADD_TC(tp, shutdown_wr_guest);
    ATF_TP_ADD_TC(tp, shutdown_wr_host);
    ATF_TP_ADD_TC(tp, shutdown_rd_guest);
    ATF_TP_ADD_TC(tp, shutdown_rd_host);
    ATF_TP_ADD_TC(tp, shutdown_rdwr_guest);
    ATF_TP_ADD_TC(tp, shutdown_rdwr_host);
    ATF_TP_ADD_TC(tp, close_with_unread_data);
    ATF_TP_ADD_TC(tp, close_then_peer_drains);
    ATF_TP_ADD_TC(tp, close_linger_timeout);
    ATF_TP_ADD_TC(tp, refused_connect_guest);
    ATF_TP_ADD_TC(tp, refused_connect_host);
    ATF_TP_ADD_TC(tp, rst_mid_stream_peer_close);
    ATF_TP_ADD_TC(tp, rst_mid_stream_injected);
    ATF_TP_ADD_TC(tp, backlog_full);
    ATF_TP_ADD_TC(tp, listener_close_with_pending);
    ATF_TP_ADD_TC(tp, credit_stall_and_resume);
    ATF_TP_ADD_TC(tp, credit_request_answered);
    ATF_TP_ADD_TC(tp, seqpacket_boundaries);
    ATF_TP_ADD_TC(tp, seqpacket_large_message);
    ATF_TP_ADD_TC(tp, seqpacket_trunc);
    ATF_TP_ADD_TC(tp, seqpacket_eor);
    ATF_TP_ADD_TC(tp, many_connections_64);
    ATF_TP_ADD_TC(tp, port_reuse_after_close);
    ATF_TP_ADD_TC(tp, transport_reset_mid_transfer);
    ATF_TP_ADD_TC(tp, reply_flood_stalls_linux_rule);
    ATF_TP_ADD_TC(tp, reply_flood_reply_budget);
    ATF_TP_ADD_TC(tp, device_reset_recovery);
    ATF_TP_ADD_TC(tp, device_stop_start_keeps_connections);
    ATF_TP_ADD_TC(tp, connect_timeout_device_stopped);
    ATF_TP_ADD_TC(tp, features_plain);
    ATF_TP_ADD_TC(tp, features_event_idx);
    ATF_TP_ADD_TC(tp, features_indirect);
    ATF_TP_ADD_TC(tp, features_all);
    ATF_TP_ADD_TC(tp, features_driver_declines);
    ATF_TP_ADD_TC(tp, queue_size_1);
    ATF_TP_ADD_TC(tp, queue_size_1_direct);
    ATF_TP_ADD_TC(tp, queue_size_2);
    ATF_TP_ADD_TC(tp, run_until_idle_bounds);
    ATF_TP_ADD_TC(tp, deterministic);
    ATF_TP_ADD_TC(tp, checker_credit_overrun);
    ATF_TP_ADD_TC(tp, checker_lost_bytes);
    ATF_TP_ADD_TC(tp, checker_orphan_connection);
    ATF_TP_ADD_TC(tp, checker_ring_index);
    ATF_TP_ADD_TC(tp, checker_ring_error);
    return atf_no_error();
}
