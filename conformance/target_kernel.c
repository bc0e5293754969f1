/* The kernel target: our driver (driver/) against the real Linux
 * vhost-vsock, with real AF_VSOCK sockets of the same kernel as the host
 * side, inside the QEMU test guest (make check-kernel). khost/ does the
 * vhost plumbing; this file maps the conformance ops onto it.
 *
 *   guest side  our driver's sockets (vep_*), pumped onto the ring after
 *               every call
 *   host side   real AF_VSOCK sockets, non-blocking, errors as -errno
 *   raw         our endpoint's rx intercept and vep_tx_inject
 *   raw ring    hand-made chains written into our tx ring (khost_raw_chain):
 *               the outcome is the used ring and vhost's err eventfd
 *   reset       what a hypervisor does at live migration: the vhost device
 *               is torn down (vhost resets the host sockets connected to
 *               us) and a new one takes the rings over, then TRANSPORT_RESET
 *               goes into our event queue (khost_transport_reset)
 *   waiting     poll on the call/err eventfds in slices of 1 ms with the
 *               real monotonic clock
 *
 * Outside the guest the target is unavailable (khost_guest_check): every
 * case is skipped with the reason, and nothing is opened.
 *
 * Every packet that crossed the ring is printed when the target closes, one
 * "vsocksim-pkt g>h ..." or "vsocksim-pkt h>g ..." line each (conf_hdr_format),
 * for the referee (conformance/referee.h). */
#include "conformance/conf_case.h"
#include "conformance/conf_target.h"
#include "khost/khost.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KT_CAPS                                                                              \
    (CONF_CAP_RAW | CONF_CAP_RAW_RING | CONF_CAP_RESET | CONF_CAP_CONFIG | CONF_CAP_RING_INSPECT | \
     CONF_CAP_DEVICE_STOP | CONF_CAP_DEVICE_RESET | CONF_CAP_DRIVER_STATE)
#define KT_SLICE_NS 1000000u
#define KT_IDLE_TIMEOUT_NS 1000000000ull
#define KT_MAX_TABLE_DEPTH 4
#define KT_MAX_HOST_FDS 1024u
#define KT_MAX_RAW_PAIRS 256u
#define KT_QUIESCE_NS 300000000ull /* at most, at close */
#define KT_QUIET_NS 30000000ull    /* no notification for this long: settled */
#define KT_MAX_BUFS 64u
#define KT_TX_DRAIN_NS 500000000ull /* at most, for vhost to take an injected packet */

/* A buffer provided for a hand-made chain, remembered for the inspection. */
struct kt_buf {
    uint64_t gpa;
    uint32_t len;
    bool check;    /* the device must not write it (readable, or a table) */
    bool is_table;
    uint8_t *before;
};

/* A connection the case spoke for the guest in raw mode. */
struct kt_pair {
    uint32_t gport, hport;
    uint16_t type;
};

struct kt {
    struct khost *k;
    struct conf_opts o;
    int host_fds[KT_MAX_HOST_FDS]; /* real sockets the case opened, -1 when closed */
    unsigned nhost;
    bool raw;
    struct conf_pktq q; /* what vhost placed on rx, while the case speaks for the guest */
    struct conf_pktlog log; /* g>h: our driver sent it; h>g: vhost placed it on rx */
    uint64_t errors_expected; /* tx err eventfd counts a hand-made chain asked for */
    /* vhost refused a hand-made chain and left it at the head of avail:
     * every later tx kick meets it again and signals again. */
    bool tx_stuck;
    struct kt_pair pairs[KT_MAX_RAW_PAIRS];
    unsigned npairs;
    bool closing; /* the transcript ends: what follows is our clean-up */
    struct kt_buf bufs[KT_MAX_BUFS];
    unsigned nbufs;
};

static void forget_bufs(struct kt *t)
{
    for (unsigned i = 0; i < t->nbufs; i++)
        free(t->bufs[i].before);
    t->nbufs = 0;
}

/* ---- the transcript ---- */

static void log_pkt(struct kt *t, bool to_host, const struct vsock_hdr *h)
{
    if (!t->closing)
        conf_pktlog_add(&t->log, to_host, h);
}

static void observe_rx(void *ctx, const struct vsock_hdr *h, const uint8_t *payload, uint32_t len)
{
    (void)payload;
    (void)len;
    log_pkt(ctx, false, h);
}

static void observe_tx(void *ctx, const struct vsock_hdr *h)
{
    log_pkt(ctx, true, h);
}

/* ---- life cycle ---- */

static bool kt_available(char *why, size_t len)
{
    if (khost_guest_check() != 0) {
        snprintf(why, len, "%s", khost_refusal());
        return false;
    }
    return true;
}

static void kt_free(struct kt *t)
{
    for (unsigned i = 0; i < t->nhost; i++)
        if (t->host_fds[i] >= 0)
            khost_vsock_close(t->host_fds[i]);
    khost_close(t->k);
    forget_bufs(t);
    conf_pktq_free(&t->q);
    conf_pktlog_free(&t->log);
    free(t);
}

static void *kt_open(const struct conf_opts *o, char *why, size_t len)
{
    if (!kt_available(why, len))
        return NULL;
    struct kt *t = calloc(1, sizeof(*t));
    char head[48];
    snprintf(head, sizeof(head), "target=kernel linux=%s", vsock_linux_name(o->linux_ver));
    if (t == NULL || conf_pktq_init(&t->q) != 0 || !conf_pktlog_init(&t->log, CONF_PKTLOG_MAX, head)) {
        if (t != NULL) {
            conf_pktq_free(&t->q);
            free(t);
        }
        snprintf(why, len, "out of memory");
        return NULL;
    }
    t->o = *o;
    struct khost_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.queue_size = o->queue_size;
    cfg.rx_buf_size = o->rx_buf_size;
    cfg.tx_max_payload = o->tx_max_payload;
    /* Our driver's deviations (reply-budget): the host side is Linux's. */
    cfg.sockets.deviate = o->deviate;
    cfg.tiny_rx_ok = o->rx_buf_size != 0 && o->rx_buf_size < VSOCK_HDR_LEN;
    /* vhost's offer is what the kernel offers: a case's feature set limits
     * what our driver accepts, which is what it sees of an offer. */
    cfg.driver_features = o->features;
    /* The kernel outlives the case: sockets of earlier cases (in the same
     * guest) may linger for up to 8 s (close timeout), keyed by CID and
     * port. A CID of the case's own keeps them out of its way, and so do
     * ephemeral ports that start at a different point each time. */
    cfg.guest_cid = KHOST_DEFAULT_GUEST_CID + (uint64_t)getpid();
    cfg.sockets.ephemeral_seed = (uint32_t)getpid() * 2654435761u;
    /* Our guest follows the rules of the kernel it runs against, as the
     * sim target's two sides follow one profile. */
    cfg.sockets.linux_ver = o->linux_ver;
    cfg.sockets.observe_rx = observe_rx;
    cfg.sockets.observe_ctx = t;
    int err;
    char kwhy[256];
    t->k = khost_open(&cfg, &err, kwhy, sizeof(kwhy));
    if (t->k == NULL) {
        snprintf(why, len, "khost_open: %s", kwhy);
        kt_free(t);
        return NULL;
    }
    khost_set_tx_observer(t->k, observe_tx, t);
    return t;
}

static void note_pair(struct kt *t, uint32_t gport, uint32_t hport, uint16_t type)
{
    for (unsigned i = 0; i < t->npairs; i++)
        if (t->pairs[i].gport == gport && t->pairs[i].hport == hport && t->pairs[i].type == type)
            return;
    if (t->npairs < KT_MAX_RAW_PAIRS)
        t->pairs[t->npairs++] = (struct kt_pair){gport, hport, type};
}

/* Leaves the kernel as the case found it: every connection on either side
 * ends now, with an RST the kernel acts on, rather than lingering there for
 * the close timeout (a later case could meet it). The raw intercept goes
 * first, so our endpoint answers what arrives for nothing with RST; then an
 * RST for every connection the case spoke for the guest, an abort of every
 * socket of ours, the real sockets closed, and a short settling time. */
/* Runs our side until vhost and our driver have been quiet for KT_QUIET_NS
 * (at most KT_QUIESCE_NS). */
static void settle(struct kt *t)
{
    uint64_t start = khost_now(), quiet_since = start;
    while (khost_now() - start < KT_QUIESCE_NS && khost_now() - quiet_since < KT_QUIET_NS) {
        khost_pump(t->k);
        if (khost_step(t->k, KT_SLICE_NS) > 0)
            quiet_since = khost_now();
    }
}

static void quiesce(struct kt *t)
{
    struct vep *e = khost_sockets(t->k);
    t->closing = true;
    vep_set_rx_intercept(e, NULL, NULL);
    for (unsigned i = 0; i < t->npairs; i++) {
        struct vsock_hdr h = {
            .src_cid = khost_guest_cid(t->k),
            .dst_cid = VSOCK_CID_HOST,
            .src_port = t->pairs[i].gport,
            .dst_port = t->pairs[i].hport,
            .type = t->pairs[i].type,
            .op = VSOCK_OP_RST,
        };
        (void)vep_tx_inject(e, &h, NULL, 0);
        khost_pump(t->k);
    }
    struct vep_conn_info info[64];
    uint32_t n = vep_conns(e, info, 64);
    for (uint32_t i = 0; i < n && i < 64; i++)
        (void)vep_abort(e, info[i].fd, khost_now());
    khost_pump(t->k);
    for (unsigned i = 0; i < t->nhost; i++)
        if (t->host_fds[i] >= 0) {
            khost_vsock_close(t->host_fds[i]);
            t->host_fds[i] = -1;
        }
    settle(t);
}

static int kt_ring_info(void *tp, unsigned q, struct conf_ring_info *out);
static int kt_mem_read(void *tp, uint64_t gpa, void *dst, size_t len);

/* What vhost placed on rx and our driver has not collected (a driver that
 * stopped taking rx, as Linux's does while its replies wait) crossed the
 * ring all the same: the sim target logs h>g as its device places packets,
 * so these go into the transcript too, in ring order. */
static void log_uncollected_rx(struct kt *t)
{
    struct conf_ring_info r;
    const struct vq_driver *rx = vdrv_queue(khost_driver(t->k), VSOCK_VQ_RX);
    if (rx == NULL || kt_ring_info(t, VSOCK_VQ_RX, &r) != 0)
        return;
    for (uint16_t pos = rx->last_used_idx; pos != r.used_idx; pos++) {
        struct vsock_hdr h;
        if (conf_read_used_header(kt_mem_read, t, &r, pos, &h) != 0)
            break;
        log_pkt(t, false, &h);
    }
}

static bool kt_close(void *tp, char *why, size_t len)
{
    struct kt *t = tp;
    /* Let what the case left in flight reach the transcript: what the case
     * did last (a read that frees credit, a close) may still be answered by
     * vhost's worker. The sim target settles the same way (simt_close), so
     * that the referee compares everything the case caused on both. */
    settle(t);
    log_uncollected_rx(t);
    const struct khost_stats *st = khost_stats(t->k);
    bool ok = true;
    if (t->q.overflow != 0) {
        snprintf(why, len, "the raw rx queue overflowed: %" PRIu64 " packets lost", t->q.overflow);
        ok = false;
    } else if (vdrv_broken(khost_driver(t->k))) {
        snprintf(why, len, "our driver marked the device broken (bad used ring from vhost)");
        ok = false;
    } else if ((st->errors[VSOCK_VQ_RX] != 0 && !(t->o.rx_buf_size != 0 &&
                                                  t->o.rx_buf_size < VSOCK_HDR_LEN)) ||
               (st->errors[VSOCK_VQ_TX] > t->errors_expected && !t->tx_stuck)) {
        snprintf(why, len,
                 "vhost signalled a queue error the case did not provoke (rx %" PRIu64
                 ", tx %" PRIu64 ")",
                 st->errors[VSOCK_VQ_RX], st->errors[VSOCK_VQ_TX] - t->errors_expected);
        ok = false;
    }
    conf_pktlog_print(&t->log);
    quiesce(t);
    kt_free(t);
    return ok;
}

static unsigned kt_caps(const void *tp)
{
    (void)tp;
    return KT_CAPS;
}

static uint64_t kt_guest_cid(const void *tp)
{
    const struct kt *t = tp;
    return khost_guest_cid(t->k);
}

static uint64_t kt_now(const void *tp)
{
    (void)tp;
    return khost_now();
}

static bool kt_wait(void *tp, bool (*cond)(void *arg), void *arg, uint64_t timeout_ns)
{
    struct kt *t = tp;
    uint64_t now = khost_now();
    uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    for (;;) {
        khost_pump(t->k);
        if (cond != NULL && cond(arg))
            return true;
        now = khost_now();
        if (now >= deadline)
            return false;
        uint64_t left = deadline - now;
        (void)khost_step(t->k, left < KT_SLICE_NS ? left : KT_SLICE_NS);
    }
}

/* ---- sockets ---- */

static struct vep *ep(struct kt *t)
{
    return khost_sockets(t->k);
}

/* Guest-side calls move what they queued onto the ring at once. */
static int pumped(struct kt *t, int r)
{
    khost_pump(t->k);
    return r;
}

static int64_t pumped64(struct kt *t, int64_t r)
{
    khost_pump(t->k);
    return r;
}

static void track_host_fd(struct kt *t, int fd)
{
    for (unsigned i = 0; i < t->nhost; i++)
        if (t->host_fds[i] < 0) {
            t->host_fds[i] = fd;
            return;
        }
    if (t->nhost < KT_MAX_HOST_FDS)
        t->host_fds[t->nhost++] = fd;
}

static void untrack_host_fd(struct kt *t, int fd)
{
    for (unsigned i = 0; i < t->nhost; i++)
        if (t->host_fds[i] == fd)
            t->host_fds[i] = -1;
}

static int host_buf_alloc(struct kt *t, int fd)
{
    if (t->o.host_buf_alloc == 0)
        return 0;
    return khost_vsock_set_buf_size(fd, t->o.host_buf_alloc);
}

static int kt_socket(void *tp, enum conf_side s, int type)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_socket(ep(t), type));
    int fd = khost_vsock_socket(type);
    if (fd < 0)
        return fd;
    track_host_fd(t, fd);
    int r = host_buf_alloc(t, fd);
    if (r < 0) {
        untrack_host_fd(t, fd);
        khost_vsock_close(fd);
        return r;
    }
    return fd;
}

static int kt_bind(void *tp, enum conf_side s, int fd, uint32_t port)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_bind(ep(t), fd, port));
    return khost_vsock_bind(fd, VSOCK_CID_ANY, port);
}

static int kt_listen(void *tp, enum conf_side s, int fd, int backlog)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_listen(ep(t), fd, backlog));
    return khost_vsock_listen(fd, backlog);
}

static int kt_accept(void *tp, enum conf_side s, int fd)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_accept(ep(t), fd, NULL, NULL));
    int nfd = khost_vsock_accept(fd, NULL, NULL);
    if (nfd >= 0)
        track_host_fd(t, nfd);
    return nfd;
}

static int kt_connect(void *tp, enum conf_side s, int fd, uint64_t cid, uint32_t port)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_connect(ep(t), fd, cid, port, khost_now()));
    return khost_vsock_connect(fd, cid, port);
}

static int64_t kt_send(void *tp, enum conf_side s, int fd, const void *buf, size_t len,
                       unsigned flags)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped64(t, vep_send(ep(t), fd, buf, len, flags));
    return khost_vsock_send(fd, buf, len, flags);
}

static int64_t kt_recv(void *tp, enum conf_side s, int fd, void *buf, size_t len, unsigned flags,
                       unsigned *out_flags)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped64(t, vep_recv(ep(t), fd, buf, len, flags, out_flags));
    return khost_vsock_recv(fd, buf, len, flags, out_flags);
}

static int kt_shutdown(void *tp, enum conf_side s, int fd, int how)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_shutdown(ep(t), fd, how));
    return khost_vsock_shutdown(fd, how);
}

static int kt_close_sock(void *tp, enum conf_side s, int fd)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_close(ep(t), fd, khost_now()));
    untrack_host_fd(t, fd);
    return khost_vsock_close(fd);
}

static unsigned kt_poll(void *tp, enum conf_side s, int fd)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return vep_poll(ep(t), fd);
    return khost_vsock_poll(fd);
}

static int kt_sock_error(void *tp, enum conf_side s, int fd)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return vep_sock_error(ep(t), fd);
    return khost_vsock_error(fd);
}

static int kt_set_buf_size(void *tp, enum conf_side s, int fd, uint32_t bytes)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_set_buf_size(ep(t), fd, bytes));
    return khost_vsock_set_buf_size(fd, bytes);
}

static int kt_set_rcvlowat(void *tp, enum conf_side s, int fd, uint32_t bytes)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return pumped(t, vep_set_rcvlowat(ep(t), fd, bytes)); /* 6.12 may send CREDIT_UPDATE */
    return khost_vsock_set_rcvlowat(fd, bytes);
}

static int kt_set_buf_bound(void *tp, enum conf_side s, int fd, bool max, uint64_t bytes)
{
    struct kt *t = tp;
    if (s == CONF_HOST)
        return khost_vsock_set_buf_bound(fd, max, bytes);
    return pumped(t, max ? vep_set_buf_max_size(ep(t), fd, bytes)
                         : vep_set_buf_min_size(ep(t), fd, bytes));
}

static int kt_local_port(void *tp, enum conf_side s, int fd, uint32_t *port)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return vep_sock_name(ep(t), fd, port, NULL, NULL);
    return khost_vsock_local_port(fd, port);
}

static int kt_peer_name(void *tp, enum conf_side s, int fd, uint64_t *cid, uint32_t *port)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return vep_sock_name(ep(t), fd, NULL, cid, port);
    return khost_vsock_peer_name(fd, cid, port);
}

static int kt_outq(void *tp, enum conf_side s, int fd)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return vep_outq(ep(t), fd);
    return khost_vsock_outq(fd);
}

static int64_t kt_sigpipes(void *tp, enum conf_side s)
{
    struct kt *t = tp;
    if (s == CONF_GUEST)
        return (int64_t)vep_counters(ep(t))->sigpipes;
    return (int64_t)khost_sigpipes();
}

/* ---- raw packets ---- */

static void on_rx(void *ctx, const struct vsock_hdr *hdr, const uint8_t *payload, uint32_t len)
{
    struct kt *t = ctx;
    if (hdr->op != VSOCK_OP_RST)
        note_pair(t, hdr->dst_port, hdr->src_port, hdr->type);
    conf_pktq_push(&t->q, hdr, payload, len);
}

static int kt_raw_begin(void *tp)
{
    struct kt *t = tp;
    t->raw = true;
    vep_set_rx_intercept(ep(t), on_rx, t);
    return 0;
}

/* Everything our driver put on tx has been through vhost: nothing waits in
 * the socket layer, and vhost's next avail entry (read under its queue
 * lock) is past our last chain, so each was handed to a socket and
 * returned, or refused with a queue error and kept. */
static bool tx_drained(void *arg)
{
    struct kt *t = arg;
    const struct vq_driver *tx = vdrv_queue(khost_driver(t->k), VSOCK_VQ_TX);
    if (vep_tx_queued_pkts(ep(t)) != 0)
        return false;
    if (tx == NULL || vqd_in_flight(tx) == 0)
        return true;
    uint16_t base;
    return khost_vring_base(t->k, VSOCK_VQ_TX, &base) == 0 && base == tx->avail_idx_shadow;
}

/* vhost's worker takes tx chains concurrently; a script's next line (a host
 * recv, say) must see what the injected packet did, as on the sim, where
 * the device handles it before the script goes on.  vhost enqueues a packet
 * on its socket before it returns the chain, so a drained tx queue means
 * delivered.  A crafted packet vhost refuses costs our driver the chain,
 * with a queue error: the case's doing, not vhost's.  A hand-made chain
 * vhost could not read stays at the head of avail for good. */
static int kt_raw_send(void *tp, const struct vsock_hdr *h, const void *payload, uint32_t len)
{
    struct kt *t = tp;
    if (len > 0 && payload == NULL)
        return -EFAULT;
    if (h->op != VSOCK_OP_RST)
        note_pair(t, h->src_port, h->dst_port, h->type);
    uint64_t before = khost_stats(t->k)->errors[VSOCK_VQ_TX];
    int r = vep_tx_inject(ep(t), h, payload, len);
    if (r >= 0 && !t->tx_stuck) {
        (void)kt_wait(t, tx_drained, t, KT_TX_DRAIN_NS);
        (void)khost_step(t->k, 0); /* an error signalled by now is counted */
        t->errors_expected += khost_stats(t->k)->errors[VSOCK_VQ_TX] - before;
    } else {
        khost_pump(t->k);
    }
    return r;
}

static int kt_raw_recv(void *tp, struct vsock_hdr *h, void *payload, uint32_t cap, uint32_t *len,
                       uint64_t timeout_ns)
{
    struct kt *t = tp;
    if (!t->raw)
        return -EINVAL;
    if (!kt_wait(t, conf_pktq_nonempty, &t->q, timeout_ns))
        return 0;
    return conf_pktq_pop(&t->q, h, payload, cap, len) ? 1 : 0;
}

/* ---- hand-made chains ---- */

static int lay_descs(struct kt *t, const struct conf_desc *d, unsigned n, int depth,
                     struct khost_desc *out);

static void remember(struct kt *t, uint64_t gpa, uint32_t len, bool check, bool is_table)
{
    if (t->nbufs < KT_MAX_BUFS)
        t->bufs[t->nbufs++] = (struct kt_buf){gpa, len, check, is_table, NULL};
}

/* Copies of what the device must leave alone, taken before it sees the
 * chain: the provided readable buffers and tables (filled by now). */
static void snapshot(struct kt *t)
{
    for (unsigned i = 0; i < t->nbufs; i++) {
        struct kt_buf *b = &t->bufs[i];
        if (!b->check || b->len == 0 || (b->before = malloc(b->len)) == NULL)
            continue;
        if (khost_mem_read(t->k, b->gpa, b->before, b->len) != 0) {
            free(b->before);
            b->before = NULL;
        }
    }
}

static void encode_desc(const struct khost_desc *d, uint8_t out[VIRTQ_DESC_SIZE])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(d->addr >> (8 * i));
    for (int i = 0; i < 4; i++)
        out[8 + i] = (uint8_t)(d->len >> (8 * i));
    out[12] = (uint8_t)d->flags;
    out[13] = (uint8_t)(d->flags >> 8);
    out[14] = (uint8_t)d->next;
    out[15] = (uint8_t)(d->next >> 8);
}

/* After the device was done with the chain: did it write a readable
 * buffer, an indirect table, or one of the table slots the chain used? */
static void inspect(struct kt *t, const struct khost_desc *kd, unsigned n,
                    struct conf_chain_result *out)
{
    out->inspected = true;
    uint8_t now[VIRTQ_DESC_SIZE], want[VIRTQ_DESC_SIZE];
    for (unsigned i = 0; i < t->nbufs; i++) {
        const struct kt_buf *b = &t->bufs[i];
        if (b->before == NULL)
            continue;
        uint8_t *cur = malloc(b->len);
        if (cur == NULL || khost_mem_read(t->k, b->gpa, cur, b->len) != 0) {
            free(cur);
            continue;
        }
        if (memcmp(cur, b->before, b->len) != 0) {
            if (b->is_table)
                out->table_written = true;
            else
                out->readable_written = true;
        }
        free(cur);
    }
    const struct vring_layout *l = khost_layout(t->k, VSOCK_VQ_TX);
    for (unsigned k = 0; k < n; k++) {
        encode_desc(&kd[k], want);
        if (khost_mem_read(t->k, l->desc + (uint64_t)k * VIRTQ_DESC_SIZE, now, sizeof(now)) == 0 &&
            memcmp(now, want, sizeof(now)) != 0)
            out->table_written = true;
    }
}

/* Where descriptor d points: its own address, a provided buffer, or an
 * indirect table written into provided memory (as the sim target does). */
static int desc_target(struct kt *t, const struct conf_desc *d, int depth, uint64_t *addr,
                       uint32_t *len)
{
    *len = d->len;
    if (d->table != NULL) {
        if (depth >= KT_MAX_TABLE_DEPTH || d->ntable == 0)
            return -EINVAL;
        uint32_t bytes = (uint32_t)d->ntable * VIRTQ_DESC_SIZE;
        *addr = khost_scratch(t->k, bytes, NULL);
        if (*addr == 0)
            return -ENOMEM;
        remember(t, *addr, bytes, true, true);
        if (*len == 0)
            *len = bytes;
        struct khost_desc *tab = calloc(d->ntable, sizeof(*tab));
        if (tab == NULL)
            return -ENOMEM;
        int err = lay_descs(t, d->table, d->ntable, depth + 1, tab);
        for (unsigned k = 0; err == 0 && k < d->ntable; k++)
            err = khost_desc_store(t->k, *addr + (uint64_t)k * VIRTQ_DESC_SIZE, &tab[k]);
        free(tab);
        return err;
    }
    if (d->addr != 0) {
        *addr = d->addr;
        return 0;
    }
    *addr = khost_scratch(t->k, d->len, d->data);
    if (*addr != 0)
        remember(t, *addr, d->len, !(d->flags & VIRTQ_DESC_F_WRITE), false);
    return *addr != 0 || d->len == 0 ? 0 : -ENOMEM;
}

static int lay_descs(struct kt *t, const struct conf_desc *d, unsigned n, int depth,
                     struct khost_desc *out)
{
    for (unsigned k = 0; k < n; k++) {
        uint64_t addr;
        uint32_t len;
        int err = desc_target(t, &d[k], depth, &addr, &len);
        if (err != 0)
            return err;
        out[k] = (struct khost_desc){addr, len, d[k].flags, d[k].next};
    }
    return 0;
}

/* A hand-made chain goes into the transcript as the packet vhost read, as
 * the sim target's transcript holds every header its device read: when
 * vhost took the chain, or refused it after reading a header whose len
 * the chain cannot hold (vhost_vsock_alloc_skb, 6.1.192 and 6.12.118).
 * Chains refused for their shape never had a header read. */
static void log_raw_chain(struct kt *t, const struct conf_desc *d, unsigned n,
                          const struct khost_chain_result *r)
{
    struct vsock_hdr h;
    if (conf_chain_read_header(d, n, r->returned, r->error, &h))
        log_pkt(t, true, &h);
}

static int kt_raw_chain(void *tp, const struct conf_desc *d, unsigned n,
                        struct conf_chain_result *out, uint64_t timeout_ns)
{
    struct kt *t = tp;
    if (d == NULL || n == 0)
        return -EINVAL;
    struct khost_desc *kd = calloc(n, sizeof(*kd));
    if (kd == NULL)
        return -ENOMEM;
    khost_scratch_reset(t->k); /* earlier chains are finished or dead */
    forget_bufs(t);
    int err = lay_descs(t, d, n, 0, kd);
    struct khost_chain_result r = {0};
    uint64_t before = khost_stats(t->k)->errors[VSOCK_VQ_TX];
    if (err == 0) {
        snapshot(t);
        err = khost_raw_chain(t->k, kd, n, &r, timeout_ns, KT_IDLE_TIMEOUT_NS);
        if (err == 0) {
            inspect(t, kd, n, out);
            log_raw_chain(t, d, n, &r);
        }
    }
    forget_bufs(t);
    free(kd);
    /* An error the chain provoked is what the case asked for. */
    t->errors_expected += khost_stats(t->k)->errors[VSOCK_VQ_TX] - before;
    if (r.error && !r.returned)
        t->tx_stuck = true;
    out->returned = r.returned;
    out->used_len = r.used_len;
    out->error = r.error;
    return err;
}

static int kt_transport_reset(void *tp)
{
    struct kt *t = tp;
    char why[256];
    int r = khost_transport_reset(t->k, why, sizeof(why));
    if (r != 0)
        fprintf(stderr, "kernel target: transport reset: %s\n", why);
    khost_pump(t->k);
    return r;
}

static int kt_ring_info(void *tp, unsigned q, struct conf_ring_info *out)
{
    struct kt *t = tp;
    const struct vring_layout *l = khost_layout(t->k, q);
    if (l == NULL)
        return -EINVAL;
    uint8_t a[4], u[4];
    if (khost_mem_read(t->k, l->avail, a, 4) != 0 || khost_mem_read(t->k, l->used, u, 4) != 0)
        return -EFAULT;
    out->num = l->num;
    out->desc = l->desc;
    out->avail = l->avail;
    out->used = l->used;
    out->avail_flags = (uint16_t)(a[0] | a[1] << 8);
    out->avail_idx = (uint16_t)(a[2] | a[3] << 8);
    out->used_flags = (uint16_t)(u[0] | u[1] << 8);
    out->used_idx = (uint16_t)(u[2] | u[3] << 8);
    return 0;
}

static int kt_driver_info(void *tp, struct conf_driver_info *out)
{
    struct kt *t = tp;
    conf_fill_driver_info(khost_driver(t->k), out);
    return 0;
}

static int kt_mem_read(void *tp, uint64_t gpa, void *dst, size_t len)
{
    struct kt *t = tp;
    return khost_mem_read(t->k, gpa, dst, len);
}

static uint64_t kt_drops(void *tp, enum conf_side s, enum vep_drop why)
{
    struct kt *t = tp;
    /* Only our side counts: the kernel keeps no such counters. The target
     * does not claim CONF_CAP_COUNTERS for that reason. */
    if (s != CONF_GUEST || (unsigned)why >= VEP_DROP_COUNT)
        return 0;
    return vep_counters(ep(t))->drops[why];
}

static int kt_device_op(struct kt *t, int (*op)(struct khost *, char *, size_t), const char *what)
{
    char why[256];
    int r = op(t->k, why, sizeof(why));
    if (r != 0)
        fprintf(stderr, "kernel target: %s: %s\n", what, why);
    khost_pump(t->k);
    return r;
}

static int kt_device_stop(void *tp)
{
    return kt_device_op(tp, khost_stop, "device stop");
}

static int kt_device_start(void *tp)
{
    return kt_device_op(tp, khost_start, "device start");
}

static int kt_device_reset(void *tp)
{
    return kt_device_op(tp, khost_guest_reset, "guest's device reset");
}

static int kt_device_features(void *tp, uint64_t *out)
{
    *out = khost_device_features(((struct kt *)tp)->k);
    return 0;
}

static int64_t kt_queue_errors(void *tp, unsigned q)
{
    struct kt *t = tp;
    if (q >= VSOCK_VQ_COUNT)
        return -EINVAL;
    (void)khost_step(t->k, 0); /* what vhost signalled by now */
    return q < 2 ? (int64_t)khost_stats(t->k)->errors[q] : 0;
}

static int64_t kt_transcript(void *tp, uint32_t first, struct conf_pktlog_entry *out,
                             uint32_t max)
{
    return conf_pktlog_copy(&((struct kt *)tp)->log, first, out, max);
}

const struct conf_target_ops conf_target_kernel = {
    .name = "kernel",
    .mask = CONF_KERNEL,
    .available = kt_available,
    .open = kt_open,
    .close = kt_close,
    .caps = kt_caps,
    .guest_cid = kt_guest_cid,
    .now = kt_now,
    .socket = kt_socket,
    .bind = kt_bind,
    .listen = kt_listen,
    .accept = kt_accept,
    .connect = kt_connect,
    .send = kt_send,
    .recv = kt_recv,
    .shutdown = kt_shutdown,
    .close_sock = kt_close_sock,
    .poll = kt_poll,
    .sock_error = kt_sock_error,
    .set_buf_size = kt_set_buf_size,
    .set_buf_bound = kt_set_buf_bound,
    .set_rcvlowat = kt_set_rcvlowat,
    .local_port = kt_local_port,
    .peer_name = kt_peer_name,
    .outq = kt_outq,
    .sigpipes = kt_sigpipes,
    .wait = kt_wait,
    .raw_begin = kt_raw_begin,
    .raw_send = kt_raw_send,
    .raw_recv = kt_raw_recv,
    .raw_chain = kt_raw_chain,
    .ring_info = kt_ring_info,
    .driver_info = kt_driver_info,
    .mem_read = kt_mem_read,
    .transport_reset = kt_transport_reset,
    .drops = kt_drops,
    .device_stop = kt_device_stop,
    .device_start = kt_device_start,
    .device_reset = kt_device_reset,
    .device_features = kt_device_features,
    .queue_errors = kt_queue_errors,
    .transcript = kt_transcript,
};
