/* The sim target: the simulator stepped by the case. A scenario with no
 * flows leaves the sockets to the case; the seed decides every interleaving
 * (who runs next, notification latencies) while the invariant oracle checks
 * every step. Guest sockets are the endpoint our driver serves, host
 * sockets the one our device serves. */
#include "conformance/target_sim_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIMT_CAPS                                                                         \
    (CONF_CAP_RAW | CONF_CAP_RAW_RING | CONF_CAP_RESET | CONF_CAP_COUNTERS | CONF_CAP_CONFIG | \
     CONF_CAP_RAW_HOST | CONF_CAP_RING_INSPECT | CONF_CAP_DEVICE_STOP | CONF_CAP_USED_LEN | \
     CONF_CAP_DEVICE_RESET | CONF_CAP_DRIVER_STATE | CONF_CAP_DEVICE_STATE)

/* How long, in simulated time, a closing case's world may run to deliver
 * what is in transit (the kernel target waits for 30 ms of quiet). */
#define SIMT_SETTLE_NS 30000000ull

static struct vep *ep_of(struct simt *t, enum conf_side s)
{
    return s == CONF_GUEST ? world_guest(t->w) : world_host(t->w);
}

static uint64_t now_of(const struct simt *t)
{
    return sim_now(t->s);
}

/* While the case speaks for one side, the other side's connections have
 * no socket at this end by design: the oracle must not ask for one.
 * Everything else (rings, credit of socket pairs) is still checked. */
static bool raw_exempt(void *ctx, bool guest_side, const struct vep_conn_info *c)
{
    const struct simt *t = ctx;
    (void)c;
    return guest_side ? t->raw_host : t->raw;
}

static void world_settings(struct world_cfg *wc, const struct conf_opts *o)
{
    memset(wc, 0, sizeof(*wc));
    wc->linux_ver = o->linux_ver;
    wc->deviate = o->deviate;
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        wc->qsize[q] = o->queue_size;
    wc->rx_buf_size = o->rx_buf_size;
    wc->tiny_rx_ok = o->rx_buf_size != 0 && o->rx_buf_size < VSOCK_HDR_LEN;
    wc->tx_max_payload = o->tx_max_payload;
    wc->features = o->features;
    wc->host.buf_alloc = o->host_buf_alloc;
}

/* The transcript: g>h what our driver put on the tx ring, as the kernel
 * target logs it (a packet the device then refuses is in it too; hand-made
 * chains are logged by target_sim_ring.c as the kernel target logs them);
 * h>g what our device placed on rx, as the guest target logs it (a packet
 * the driver then drops, for a used len it does not take, is in it too). */
static void observe_g2h(void *ctx, const struct vsock_hdr *h)
{
    conf_pktlog_add(&((struct simt *)ctx)->log, true, h);
}

static void observe_h2g(void *ctx, const struct vsock_hdr *h)
{
    conf_pktlog_add(&((struct simt *)ctx)->log, false, h);
}

static void observe_layout(void *ctx, const struct vsock_hdr *h, const uint32_t *lens, uint32_t n)
{
    conf_chainlog_add(&((struct simt *)ctx)->chains, h, lens, n);
}

static void describe_result(const struct sim_result *r, char *why, size_t len)
{
    snprintf(why, len, "%s: %s: %s (step %" PRIu64 ", t=%.3f ms)", sim_status_name(r->status),
             r->invariant, r->message, r->step, (double)r->t_ns / 1e6);
}

static void simt_free(struct simt *t)
{
    conf_pktq_free(&t->gq);
    conf_pktq_free(&t->hq);
    free(t->mem);
    free(t->shadow);
    conf_pktlog_free(&t->log);
    conf_chainlog_free(&t->chains);
    free(t);
}

static void *simt_open(const struct conf_opts *o, char *why, size_t len)
{
    struct simt *t = calloc(1, sizeof(*t));
    char head[48];
    snprintf(head, sizeof(head), "target=sim seed=%" PRIu64 " linux=%s", o->seed,
             vsock_linux_name(o->linux_ver));
    if (t == NULL || !conf_pktlog_init(&t->log, CONF_PKTLOG_MAX, head)) {
        free(t);
        snprintf(why, len, "out of memory");
        return NULL;
    }
    world_settings(&t->wc, o);
    struct sim_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.seed = o->seed;
    cfg.linux_ver = o->linux_ver;
    cfg.deviate = o->deviate;
    snprintf(cfg.scenario.name, sizeof(cfg.scenario.name), "conformance");
    cfg.scenario.ngroups = 0; /* no workload: the case is the only application */
    cfg.check_every_step = true;
    cfg.world = &t->wc;
    t->s = sim_open(&cfg, &t->res);
    if (t->s == NULL || t->res.status != SIM_OK) {
        describe_result(&t->res, why, len);
        if (t->s != NULL)
            sim_close(t->s, false);
        simt_free(t);
        return NULL;
    }
    t->w = sim_world(t->s);
    world_set_exempt(t->w, raw_exempt, t);
    vdrv_set_tx_observer(world_driver(t->w), observe_g2h, t);
    vdev_set_rx_observer(world_device(t->w), observe_h2g, t);
    vdev_set_tx_layout_observer(world_device(t->w), observe_layout, t);
    if (t->wc.tiny_rx_ok) /* the case posts buffers the device must refuse */
        world_accept_kept_chains(t->w, VSOCK_VQ_RX);
    return t;
}

static bool world_settled(void *arg)
{
    return world_quiescent(arg);
}

static bool simt_close(void *tp, char *why, size_t len)
{
    struct simt *t = tp;
    /* What the case left in flight reaches the transcript first (a credit
     * update a last read decided, the answer to a last close), as the real
     * targets settle before theirs: the world runs until nothing is in
     * transit, within SIMT_SETTLE_NS of simulated time (timers further
     * away, such as a close's linger, do not fire). No final socket
     * check: sockets may linger legitimately (a close waits up to 8 s for
     * the peer's RST). */
    if (!sim_stopped(t->s))
        (void)sim_run_until(t->s, world_settled, t->w, now_of(t) + SIMT_SETTLE_NS);
    conf_pktlog_print(&t->log);
    enum sim_status st = sim_close(t->s, false);
    uint64_t lost = t->gq.overflow + t->hq.overflow;
    bool ok = st == SIM_OK && lost == 0;
    if (st != SIM_OK)
        describe_result(&t->res, why, len);
    else if (lost != 0)
        snprintf(why, len, "a raw packet queue overflowed: %" PRIu64 " packets lost", lost);
    simt_free(t);
    return ok;
}

static bool simt_available(char *why, size_t len)
{
    (void)why;
    (void)len;
    return true;
}

static unsigned simt_caps(const void *tp)
{
    (void)tp;
    return SIMT_CAPS;
}

static uint64_t simt_guest_cid(const void *tp)
{
    const struct simt *t = tp;
    return world_guest_cid(t->w);
}

static uint64_t simt_now(const void *tp)
{
    return now_of(tp);
}

bool simt_wait(void *tp, bool (*cond)(void *arg), void *arg, uint64_t timeout_ns)
{
    struct simt *t = tp;
    uint64_t now = now_of(t);
    uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    return sim_run_until(t->s, cond, arg, deadline);
}

/* ---- sockets ---- */

static int simt_socket(void *tp, enum conf_side s, int type)
{
    return vep_socket(ep_of(tp, s), type);
}

static int simt_bind(void *tp, enum conf_side s, int fd, uint32_t port)
{
    return vep_bind(ep_of(tp, s), fd, port);
}

static int simt_listen(void *tp, enum conf_side s, int fd, int backlog)
{
    return vep_listen(ep_of(tp, s), fd, backlog);
}

static int simt_accept(void *tp, enum conf_side s, int fd)
{
    return vep_accept(ep_of(tp, s), fd, NULL, NULL);
}

static int simt_connect(void *tp, enum conf_side s, int fd, uint64_t cid, uint32_t port)
{
    return vep_connect(ep_of(tp, s), fd, cid, port, now_of(tp));
}

static int64_t simt_send(void *tp, enum conf_side s, int fd, const void *buf, size_t len,
                         unsigned flags)
{
    return vep_send(ep_of(tp, s), fd, buf, len, flags);
}

static int64_t simt_recv(void *tp, enum conf_side s, int fd, void *buf, size_t len,
                         unsigned flags, unsigned *out_flags)
{
    return vep_recv(ep_of(tp, s), fd, buf, len, flags, out_flags);
}

static int simt_shutdown(void *tp, enum conf_side s, int fd, int how)
{
    return vep_shutdown(ep_of(tp, s), fd, how);
}

static int simt_close_sock(void *tp, enum conf_side s, int fd)
{
    return vep_close(ep_of(tp, s), fd, now_of(tp));
}

static unsigned simt_poll(void *tp, enum conf_side s, int fd)
{
    return vep_poll(ep_of(tp, s), fd);
}

static int simt_sock_error(void *tp, enum conf_side s, int fd)
{
    return vep_sock_error(ep_of(tp, s), fd);
}

static int simt_set_buf_size(void *tp, enum conf_side s, int fd, uint32_t bytes)
{
    return vep_set_buf_size(ep_of(tp, s), fd, bytes);
}

static int simt_set_buf_bound(void *tp, enum conf_side s, int fd, bool max, uint64_t bytes)
{
    struct vep *ep = ep_of(tp, s);
    return max ? vep_set_buf_max_size(ep, fd, bytes) : vep_set_buf_min_size(ep, fd, bytes);
}

static int simt_set_rcvlowat(void *tp, enum conf_side s, int fd, uint32_t bytes)
{
    return vep_set_rcvlowat(ep_of(tp, s), fd, bytes);
}

static int simt_local_port(void *tp, enum conf_side s, int fd, uint32_t *port)
{
    return vep_sock_name(ep_of(tp, s), fd, port, NULL, NULL);
}

static int simt_peer_name(void *tp, enum conf_side s, int fd, uint64_t *cid, uint32_t *port)
{
    return vep_sock_name(ep_of(tp, s), fd, NULL, cid, port);
}

static int simt_outq(void *tp, enum conf_side s, int fd)
{
    return vep_outq(ep_of(tp, s), fd);
}

static int64_t simt_sigpipes(void *tp, enum conf_side s)
{
    return (int64_t)vep_counters(ep_of(tp, s))->sigpipes;
}

/* ---- the rest ---- */

static int simt_transport_reset(void *tp)
{
    struct simt *t = tp;
    return vdev_inject_transport_reset(world_device(t->w));
}

static uint64_t simt_drops(void *tp, enum conf_side s, enum vep_drop why)
{
    if ((unsigned)why >= VEP_DROP_COUNT)
        return 0;
    return vep_counters(ep_of(tp, s))->drops[why];
}

static int simt_device_stop(void *tp)
{
    sim_device_stop(((struct simt *)tp)->s);
    return 0;
}

static int simt_device_start(void *tp)
{
    return sim_device_start(((struct simt *)tp)->s);
}

static int simt_device_reset(void *tp)
{
    return sim_device_reset(((struct simt *)tp)->s);
}

static int simt_rx_used_len_extra(void *tp, int32_t extra)
{
    struct simt *t = tp;
    vdev_set_rx_used_len_extra(world_device(t->w), extra);
    if (extra != 0)
        world_accept_lost_bytes(t->w); /* the guest may drop what the device misreports */
    return 0;
}

static int simt_device_features(void *tp, uint64_t *out)
{
    struct simt *t = tp;
    *out = vdev_offered_features(world_device(t->w));
    return 0;
}

static int64_t simt_queue_errors(void *tp, unsigned q)
{
    struct simt *t = tp;
    if (q >= VSOCK_VQ_COUNT)
        return -EINVAL;
    return (int64_t)vdev_counters(world_device(t->w))->queue_errors[q];
}

static int simt_driver_info(void *tp, struct conf_driver_info *out)
{
    struct simt *t = tp;
    conf_fill_driver_info(world_driver(t->w), out);
    return 0;
}

static struct conf_device_ring device_ring(const struct vdev *dev, enum vsock_vq q)
{
    const struct vq_device *v = vdev_queue(dev, q);
    if (v == NULL || v->num == 0)
        return (struct conf_device_ring){0, 0, 0, 0};
    return (struct conf_device_ring){(uint16_t)v->num, vqdev_avail_idx(v), v->last_avail_idx,
                                     v->used_idx};
}

static int simt_device_info(void *tp, struct conf_device_info *out)
{
    struct simt *t = tp;
    struct vdev *dev = world_device(t->w);
    const struct vep *ep = world_host(t->w);
    out->replies_queued = vep_tx_queued_replies(ep);
    out->pause_at = vdev_max_replies(dev);
    out->pkts_queued = vep_tx_queued_pkts(ep);
    out->tx_paused = vdev_tx_paused(dev);
    out->rx = device_ring(dev, VSOCK_VQ_RX);
    out->tx = device_ring(dev, VSOCK_VQ_TX);
    return 0;
}

static int simt_device_reply_bound(void *tp, uint32_t at)
{
    struct simt *t = tp;
    vdev_set_max_queued_replies(world_device(t->w), at, now_of(t));
    return 0;
}

static int simt_mem_read(void *tp, uint64_t gpa, void *dst, size_t len)
{
    struct simt *t = tp;
    return gmem_read(world_mem(t->w), gpa, dst, len) == RING_OK ? 0 : -EFAULT;
}

static int64_t simt_transcript(void *tp, uint32_t first, struct conf_pktlog_entry *out,
                               uint32_t max)
{
    return conf_pktlog_copy(&((struct simt *)tp)->log, first, out, max);
}

static int64_t simt_tx_chains(void *tp, uint32_t first, struct conf_tx_chain *out, uint32_t max)
{
    return conf_chainlog_copy(&((struct simt *)tp)->chains, first, out, max);
}

const struct conf_target_ops conf_target_sim = {
    .name = "sim",
    .mask = CONF_SIM,
    .available = simt_available,
    .open = simt_open,
    .close = simt_close,
    .caps = simt_caps,
    .guest_cid = simt_guest_cid,
    .now = simt_now,
    .socket = simt_socket,
    .bind = simt_bind,
    .listen = simt_listen,
    .accept = simt_accept,
    .connect = simt_connect,
    .send = simt_send,
    .recv = simt_recv,
    .shutdown = simt_shutdown,
    .close_sock = simt_close_sock,
    .poll = simt_poll,
    .sock_error = simt_sock_error,
    .set_buf_size = simt_set_buf_size,
    .set_buf_bound = simt_set_buf_bound,
    .set_rcvlowat = simt_set_rcvlowat,
    .local_port = simt_local_port,
    .peer_name = simt_peer_name,
    .outq = simt_outq,
    .sigpipes = simt_sigpipes,
    .wait = simt_wait,
    .raw_begin = simt_raw_begin,
    .raw_send = simt_raw_send,
    .raw_recv = simt_raw_recv,
    .raw_chain = simt_raw_chain,
    .raw_host_begin = simt_raw_host_begin,
    .raw_host_send = simt_raw_host_send,
    .raw_host_recv = simt_raw_host_recv,
    .ring_info = simt_ring_info,
    .driver_info = simt_driver_info,
    .mem_read = simt_mem_read,
    .device_info = simt_device_info,
    .device_reply_bound = simt_device_reply_bound,
    .transport_reset = simt_transport_reset,
    .drops = simt_drops,
    .device_stop = simt_device_stop,
    .device_start = simt_device_start,
    .device_reset = simt_device_reset,
    .rx_used_len_extra = simt_rx_used_len_extra,
    .device_features = simt_device_features,
    .queue_errors = simt_queue_errors,
    .transcript = simt_transcript,
    .tx_chains = simt_tx_chains,
};
