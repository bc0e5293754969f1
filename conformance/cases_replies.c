/* Replies flooding both ways, and the two rules that pause on them: Linux's
 * reply-pause deadlock (traces/corpus/linux-reply-pause-deadlock.md).
 *
 * A reply is a packet sent in answer to a received one: the RESPONSE to a
 * REQUEST, an RST to a packet no socket takes (virtio_transport_send_response,
 * virtio_transport_reset_no_sock, virtio_transport_reset with a packet: the
 * packets marked virtio_vsock_skb_reply). Each side counts the replies it has
 * queued and not yet put on a ring, and pauses on them:
 *   - Linux's guest driver stops taking rx while as many replies wait for tx
 *     as the rx ring holds (net/vmw_vsock/virtio_transport.c:
 *     virtio_transport_rx_work, virtio_transport_more_replies); a reply put
 *     on tx lowers the count, and crossing the ring size restarts rx
 *     (virtio_transport_send_pkt_work). Our driver follows the same rule.
 *   - vhost stops taking tx while as many replies wait for rx buffers as the
 *     tx ring holds (drivers/vhost/vsock.c: vhost_vsock_handle_tx_kick,
 *     vhost_vsock_more_replies), kicks left disabled; a reply put on rx
 *     lowers the count, and crossing the ring size re-polls tx
 *     (vhost_transport_do_send_pkt). Otherwise only a socket's cancelled
 *     replies re-poll it (vhost_transport_cancel_pkt), and an RST for no
 *     socket belongs to none.
 * Flood both ways with packets that draw replies, behind packets that do not
 * (each side's send queue is FIFO), and each side ends up waiting for the
 * other: vhost for rx buffers the paused guest does not give back, the guest
 * for tx descriptors vhost does not return. 6.1.192 and 6.12.118 have the
 * same code on both sides (6.12's guest only skips its queue, and the count,
 * when the queue is empty and the ring has room).
 *
 * The flood: host sockets connect to guest ports nobody listens on (our
 * driver answers each REQUEST with an RST reply), then guest sockets connect
 * to host ports nobody listens on (vhost answers each with an RST reply).
 * Measured on the kernel target (10 boots of each kernel, power-of-two rings
 * from 1 to 128, either side first) and on sim alike: n connects each way on
 * q-entry rings deadlock every time for n >= 2q (n = 2q - 1 too on 8 and 128
 * entries, not on 2) and drain every time for n <= 3q/2. */
#include "conformance/conf_case.h"

#include <inttypes.h>
#include <stdio.h>

#define RP_QSIZE 2u
#define RP_FLOOD_MAX (3u * 128u) /* connects per direction, at most */
#define RP_GUEST_PORT0 47100u    /* guest ports nobody listens on */
#define RP_HOST_PORT0 47300u     /* host ports nobody listens on */
#define RP_QUIET_NS CONF_MS(300) /* nothing moved for this long: the flood is over */
#define RP_SETTLE_NS CONF_MS(1500) /* at most, before the 2 s connect timeouts */
#define RP_OUTLIVE_NS CONF_MS(2500) /* past every connect timeout */

/* What the case can see of both rings and of our driver at one moment. */
struct rp_snap {
    struct conf_ring_info rx, tx;
    struct conf_driver_info d;
    int64_t pkts; /* transcript entries */
};

static void rp_take(struct conf *c, struct rp_snap *s)
{
    CONF_REQUIRE_RET(c, conf_ring_info(c, 0, &s->rx), 0);
    CONF_REQUIRE_RET(c, conf_ring_info(c, 1, &s->tx), 0);
    CONF_REQUIRE_RET(c, conf_driver_info(c, &s->d), 0);
    s->pkts = conf_transcript(c, 0, NULL, 0);
    CONF_REQUIRE(c, s->pkts >= 0);
}

/* Whether anything moved between a and b: a ring index, an entry our driver
 * collected, a packet that crossed, a reply that went out. */
static bool rp_moved(const struct rp_snap *a, const struct rp_snap *b)
{
    return a->rx.avail_idx != b->rx.avail_idx || a->rx.used_idx != b->rx.used_idx ||
           a->tx.avail_idx != b->tx.avail_idx || a->tx.used_idx != b->tx.used_idx ||
           a->d.rx_last_used != b->d.rx_last_used || a->d.tx_last_used != b->d.tx_last_used ||
           a->d.replies_queued != b->d.replies_queued || a->pkts != b->pkts;
}

struct rp_watch {
    struct rp_snap last;
    bool moved;
};

static bool rp_changed(struct conf *c, void *arg)
{
    struct rp_watch *w = arg;
    struct rp_snap now;
    rp_take(c, &now);
    w->moved = rp_moved(&w->last, &now);
    return w->moved;
}

/* Runs the target until nothing has moved for RP_QUIET_NS (at most
 * RP_SETTLE_NS), and returns what it looks like then. */
static void rp_settle(struct conf *c, struct rp_snap *out)
{
    uint64_t start = conf_now(c);
    struct rp_watch w;
    rp_take(c, &w.last);
    while (conf_wait(c, rp_changed, &w, RP_QUIET_NS)) {
        CONF_REQUIRE_MSG(c, conf_now(c) - start < RP_SETTLE_NS,
                         "the reply flood still moves after %" PRIu64 " ms",
                         (conf_now(c) - start) / 1000000u);
        rp_take(c, &w.last);
    }
    *out = w.last;
}

/* Replies vhost (or our device) still holds: every REQUEST it took from tx
 * (the first tx.used_idx packets our driver sent) went to a port nobody
 * listens on and is answered by exactly one RST. The RSTs it placed on rx
 * are among the used rx entries: those our driver collected are its first
 * rx_last_used h>g packets in the transcript (every target logs them in
 * ring order), the rest are read from the used ring. */
struct rp_count {
    int64_t taken;     /* REQUESTs the device took from tx */
    int64_t rsts;      /* RSTs our driver collected */
    int64_t rsts_held; /* RSTs in used rx buffers our driver has not collected */
    int64_t reqs_held; /* REQUESTs there */
    int64_t owes;      /* replies still inside the device */
};

static struct rp_count rp_count(struct conf *c, const struct rp_snap *s)
{
    struct rp_count n = {0};
    uint32_t k = (uint32_t)s->pkts;
    struct conf_pktlog_entry *e = conf_scratch(c, (k + 1) * sizeof(*e));
    CONF_REQUIRE_EQ(c, conf_transcript(c, 0, e, k), k);
    uint32_t sent = 0, came = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (e[i].to_host && sent++ < s->tx.used_idx && e[i].h.op == VSOCK_OP_REQUEST)
            n.taken++;
        if (!e[i].to_host && came++ < s->d.rx_last_used && e[i].h.op == VSOCK_OP_RST)
            n.rsts++;
    }
    for (uint16_t pos = s->d.rx_last_used; pos != s->rx.used_idx; pos++) {
        struct vsock_hdr h;
        CONF_REQUIRE_RET(c, conf_used_header(c, 0, pos, &h), 0);
        n.rsts_held += h.op == VSOCK_OP_RST;
        n.reqs_held += h.op == VSOCK_OP_REQUEST;
    }
    n.owes = n.taken - n.rsts - n.rsts_held;
    return n;
}

static void rp_print(struct conf *c, const char *what, const struct rp_snap *s)
{
    struct rp_count n = rp_count(c, s);
    printf("%s: guest: %u replies wait for tx (rx pauses at %u; paused %s, %" PRIu64
           " pauses), %u packets queued; rx ring %u: avail %u used %u, collected %u (%" PRId64
           " REQUESTs and %" PRId64 " RSTs not collected); tx ring %u: avail %u used %u, "
           "collected %u, %u descriptors free; device: took %" PRId64 " REQUESTs, %" PRId64
           " RSTs came back, owes %" PRId64 " replies\n",
           what, s->d.replies_queued, s->d.rx_pause_at, s->d.rx_paused ? "yes" : "no",
           s->d.rx_pauses, s->d.pkts_queued, s->rx.num, s->rx.avail_idx, s->rx.used_idx,
           s->d.rx_last_used, n.reqs_held, n.rsts_held, s->tx.num, s->tx.avail_idx,
           s->tx.used_idx, s->d.tx_last_used, s->d.tx_free, n.taken, n.rsts + n.rsts_held,
           n.owes);
}

/* The flood: n connects each way to ports nobody listens on, the host's
 * first (their REQUESTs fill rx) or the guest's first. */
struct rp_flood {
    unsigned n;
    int host[RP_FLOOD_MAX], guest[RP_FLOOD_MAX];
};

static void rp_connect_all(struct conf *c, enum conf_side s, int *fd, unsigned n)
{
    uint64_t cid = s == CONF_HOST ? conf_guest_cid(c) : conf_host_cid(c);
    uint32_t port0 = s == CONF_HOST ? RP_GUEST_PORT0 : RP_HOST_PORT0;
    for (unsigned i = 0; i < n; i++) {
        fd[i] = conf_socket(c, s, VSOCK_TYPE_STREAM);
        CONF_REQUIRE(c, fd[i] >= 0);
        CONF_REQUIRE_RET(c, conf_connect(c, s, fd[i], cid, port0 + i), -EINPROGRESS);
    }
}

static struct rp_flood *rp_flood(struct conf *c, unsigned n, bool host_first)
{
    CONF_REQUIRE(c, n <= RP_FLOOD_MAX);
    struct rp_flood *f = conf_scratch(c, sizeof(*f));
    f->n = n;
    rp_connect_all(c, host_first ? CONF_HOST : CONF_GUEST, host_first ? f->host : f->guest, n);
    rp_connect_all(c, host_first ? CONF_GUEST : CONF_HOST, host_first ? f->guest : f->host, n);
    return f;
}

/* How the connects of one side ended: refused (ECONNRESET: the RST came),
 * timed out, or still pending. */
struct rp_ends {
    unsigned reset, timed_out, pending, other;
};

static struct rp_ends rp_outcome(struct conf *c, enum conf_side s, const struct rp_flood *f)
{
    const int *fd = s == CONF_HOST ? f->host : f->guest;
    struct rp_ends e = {0};
    for (unsigned i = 0; i < f->n; i++) {
        int err = conf_sock_error(c, s, fd[i]);
        if (err == -ECONNRESET)
            e.reset++;
        else if (err == -ETIMEDOUT)
            e.timed_out++;
        else if (err == 0 && !(conf_poll(c, s, fd[i]) & (VEP_POLLOUT | VEP_POLLERR)))
            e.pending++;
        else
            e.other++;
    }
    return e;
}

/* Linux's deadlock, as the case sees it once nothing moves:
 *   guest  our driver holds rx_pause_at replies or more and has paused rx;
 *          vhost has filled every rx buffer posted (used == avail) and our
 *          driver has collected none of the last ones;
 *   tx     vhost holds chains it does not take (avail != used), we have
 *          collected all it returned, and no descriptor is free for the
 *          replies;
 *   device it owes at least a tx ring's worth of replies, so
 *          vhost_vsock_more_replies is false and only an rx buffer could
 *          restart it. */
static const char *rp_not_deadlocked(struct conf *c, const struct rp_snap *s)
{
    struct rp_count n = rp_count(c, s);
    if (s->d.replies_queued < s->d.rx_pause_at || !s->d.rx_paused)
        return "our driver's rx is not paused on replies";
    if (s->rx.used_idx != s->rx.avail_idx || s->rx.used_idx == s->d.rx_last_used)
        return "rx still has buffers for the device, or nothing uncollected";
    if (s->tx.avail_idx == s->tx.used_idx || s->tx.used_idx != s->d.tx_last_used ||
        s->d.tx_free != 0)
        return "tx is not full of chains the device holds";
    if (n.owes < (int64_t)s->tx.num)
        return "the device owes fewer replies than its tx ring holds";
    return NULL;
}

static void rp_require_deadlock(struct conf *c, const struct rp_snap *s)
{
    const char *why = rp_not_deadlocked(c, s);
    if (why != NULL) {
        rp_print(c, "no deadlock", s);
        conf_fail(c, __FILE__, __LINE__, "Linux's reply-pause deadlock did not happen: %s", why);
    }
}

/* Everything answered: nothing waits on either ring or in our driver, and
 * every connect was refused on both sides. */
static bool rp_drained(struct conf *c, const struct rp_snap *s, const struct rp_flood *f)
{
    if (s->d.replies_queued != 0 || s->d.pkts_queued != 0 || s->tx.used_idx != s->tx.avail_idx ||
        s->d.rx_last_used != s->rx.used_idx)
        return false;
    struct rp_ends g = rp_outcome(c, CONF_GUEST, f), h = rp_outcome(c, CONF_HOST, f);
    return g.reset == f->n && h.reset == f->n;
}

/* Floods n each way on the case's rings and requires Linux's deadlock; with
 * outlive, also that nothing moves past every connect timeout and that the
 * connects on both sides time out. */
static void rp_deadlock_case(struct conf *c, unsigned n, bool outlive)
{
    struct rp_flood *f = rp_flood(c, n, true);
    struct rp_snap s;
    rp_settle(c, &s);
    rp_require_deadlock(c, &s);
    rp_print(c, "reply-pause deadlock", &s);
    if (!outlive)
        return;
    /* Nothing restarts either side: not the connect timeouts (they drop
     * the REQUESTs still queued, never a reply), not time. */
    conf_sleep(c, RP_OUTLIVE_NS);
    struct rp_snap later;
    rp_take(c, &later);
    rp_print(c, "after the connect timeouts", &later);
    CONF_REQUIRE_MSG(c, !rp_moved(&s, &later), "the rings moved again after the deadlock");
    rp_require_deadlock(c, &later);
    struct rp_ends g = rp_outcome(c, CONF_GUEST, f), h = rp_outcome(c, CONF_HOST, f);
    printf("guest connects: %u refused, %u timed out; host connects: %u refused, %u timed out\n",
           g.reset, g.timed_out, h.reset, h.timed_out);
    CONF_REQUIRE_EQ(c, g.reset + g.timed_out, f->n);
    CONF_REQUIRE_EQ(c, h.reset + h.timed_out, f->n);
    CONF_REQUIRE(c, g.timed_out > 0 && h.timed_out > 0);
}

/* Floods n each way and requires that everything drains: every connect
 * refused on both sides, nothing left on either ring. */
static void rp_drain_case(struct conf *c, unsigned n)
{
    struct rp_flood *f = rp_flood(c, n, true);
    struct rp_snap s;
    rp_settle(c, &s);
    rp_print(c, "drained", &s);
    CONF_REQUIRE_MSG(c, rp_drained(c, &s, f), "the flood did not drain");
}

#define RP_CAPS (CONF_CAP_CONFIG | CONF_CAP_RING_INSPECT | CONF_CAP_DRIVER_STATE)

CONF_CASE_OPTS(reply_flood_linux_rule_deadlocks, "VS-02 VS-03 VS-I7", CONF_SIM | CONF_KERNEL,
               RP_CAPS,
               "documents a Linux deadlock, and passes when it happens: our driver with Linux's "
               "guest rule (rx pauses at an rx ring's worth of queued replies) and vhost (tx "
               "pauses at a tx ring's worth), flooded with 6 RST replies each way on 2-entry "
               "rings, wait on each other for good (past every connect timeout)",
               .queue_size = RP_QSIZE)
{
    rp_deadlock_case(c, 3 * RP_QSIZE, true);
}

CONF_CASE_OPTS(reply_flood_linux_rule_deadlocks_default_rings, "VS-02 VS-03 VS-I7",
               CONF_SIM | CONF_KERNEL, RP_CAPS,
               "documents a Linux deadlock, and passes when it happens: the same on QEMU's "
               "128-entry rings, with 256 RST replies each way",
               .queue_size = 128)
{
    rp_deadlock_case(c, 256, false);
}

CONF_CASE_OPTS(reply_flood_linux_rule_small_flood_drains, "VS-02 VS-03", CONF_SIM | CONF_KERNEL,
               RP_CAPS,
               "with Linux's rules on both sides a smaller flood (12 each way on 8-entry rings) "
               "drains: each side's pause ends as the other's replies get through",
               .queue_size = 8)
{
    rp_drain_case(c, 12);
}

CONF_CASE_OPTS(reply_flood_budget_rule_drains, "VS-02 VS-03", CONF_SIM | CONF_KERNEL, RP_CAPS,
               "the deadlocking flood with our driver's reply-budget deviation (rx goes on while "
               "replies wait, until the budget is spent): vhost still pauses tx at a tx ring's "
               "worth of replies, the rx buffers our driver gives back restart it, and every "
               "connect is refused on both sides",
               .queue_size = RP_QSIZE, .deviate = VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET))
{
    rp_drain_case(c, 3 * RP_QSIZE);
}

/* ---- the guest's half on the real guest driver ---- */

/* What the device side shows of both rings, for a guest it cannot see into. */
static bool rp_device_moved(const struct conf_device_info *a, const struct conf_device_info *b)
{
    return memcmp(&a->rx, &b->rx, sizeof(a->rx)) != 0 ||
           memcmp(&a->tx, &b->tx, sizeof(a->tx)) != 0 || a->replies_queued != b->replies_queued ||
           a->pkts_queued != b->pkts_queued;
}

struct rp_dwatch {
    struct conf_device_info last;
    bool moved;
};

static bool rp_device_changed(struct conf *c, void *arg)
{
    struct rp_dwatch *w = arg;
    struct conf_device_info now;
    CONF_REQUIRE_RET(c, conf_device_info(c, &now), 0);
    w->moved = rp_device_moved(&w->last, &now);
    return w->moved;
}

static void rp_device_settle(struct conf *c, struct conf_device_info *out)
{
    uint64_t start = conf_now(c);
    struct rp_dwatch w;
    CONF_REQUIRE_RET(c, conf_device_info(c, &w.last), 0);
    while (conf_wait(c, rp_device_changed, &w, RP_QUIET_NS)) {
        CONF_REQUIRE_MSG(c, conf_now(c) - start < RP_SETTLE_NS,
                         "the reply flood still moves after %" PRIu64 " ms",
                         (conf_now(c) - start) / 1000000u);
        CONF_REQUIRE_RET(c, conf_device_info(c, &w.last), 0);
    }
    *out = w.last;
}

/* Packets of one op in one direction in the transcript so far. */
static unsigned rp_count_op(struct conf *c, bool to_host, uint16_t op)
{
    int64_t k = conf_transcript(c, 0, NULL, 0);
    CONF_REQUIRE(c, k >= 0);
    struct conf_pktlog_entry *e = conf_scratch(c, ((size_t)k + 1) * sizeof(*e));
    CONF_REQUIRE_EQ(c, conf_transcript(c, 0, e, (uint32_t)k), k);
    unsigned n = 0;
    for (int64_t i = 0; i < k; i++)
        n += e[i].to_host == to_host && e[i].h.op == op;
    return n;
}

static void rp_device_print(const char *what, const struct conf_device_info *d, unsigned g_rst,
                            unsigned h_req)
{
    printf("%s: device: %u replies wait for rx (tx pauses at %u; paused %s), %u packets queued; "
           "rx ring %u: avail %u, taken %u, used %u; tx ring %u: avail %u, taken %u, used %u; "
           "guest: %u REQUESTs placed for it, %u RSTs from it\n",
           what, d->replies_queued, d->pause_at, d->tx_paused ? "yes" : "no", d->pkts_queued,
           d->rx.num, d->rx.avail, d->rx.taken, d->rx.used, d->tx.num, d->tx.avail, d->tx.taken,
           d->tx.used, h_req, g_rst);
}

CONF_CASE(reply_flood_linux_guest_deadlocks, "VS-02 VS-03 VS-I7", CONF_SIM | CONF_GUEST_TARGET,
          CONF_CAP_DEVICE_STOP | CONF_CAP_DEVICE_STATE,
          "documents a Linux deadlock, and passes when it happens: the guest driver (the real "
          "one on the guest target) against our device with vhost's reply rule, flooded with "
          "two rings' worth of RST replies each way while the device was stopped, stops "
          "taking rx with a ring's worth of replies unsent while the device holds its whole tx "
          "ring; lifting the device's pause lets the guest send them and drain")
{
    struct conf_device_info d;
    CONF_REQUIRE_RET(c, conf_device_info(c, &d), 0);
    unsigned q = d.rx.num;
    CONF_REQUIRE(c, q > 0 && q == d.tx.num && 2 * q <= RP_FLOOD_MAX);
    /* Both floods queue before either side can answer: the guest's
     * REQUESTs fill its tx ring, the host's wait in our device. */
    CONF_REQUIRE_RET(c, conf_device_stop(c), 0);
    rp_flood(c, 2 * q, true);
    CONF_REQUIRE_RET(c, conf_device_start(c), 0);
    rp_device_settle(c, &d);
    unsigned g_rst = rp_count_op(c, true, VSOCK_OP_RST);
    unsigned h_req = rp_count_op(c, false, VSOCK_OP_REQUEST);
    rp_device_print("reply-pause deadlock", &d, g_rst, h_req);
    /* Our device: tx paused on a ring's worth of replies, every rx buffer
     * the guest posted used, every tx chain it exposed taken and held. */
    CONF_REQUIRE_MSG(c, d.tx_paused && d.replies_queued >= d.pause_at && d.pause_at == q,
                     "our device's tx is not paused on a ring's worth of replies");
    CONF_REQUIRE_MSG(c, d.rx.avail == d.rx.taken && d.rx.taken == d.rx.used && d.rx.used != 0,
                     "rx still has buffers for the device");
    CONF_REQUIRE_MSG(c, (uint16_t)(d.tx.avail - d.tx.used) == q && d.tx.taken == d.tx.used,
                     "the guest's tx ring is not full of chains the device holds");
    /* The guest: it has sent no reply, and it gives back no rx buffer
     * though every one it posted is used, for as long as we wait. */
    CONF_REQUIRE_EQ(c, g_rst, 0);
    struct conf_device_info later;
    conf_sleep(c, RP_QUIET_NS);
    CONF_REQUIRE_RET(c, conf_device_info(c, &later), 0);
    CONF_REQUIRE_MSG(c, !rp_device_moved(&d, &later), "the rings moved again");
    /* Lift our side: the device takes tx again, the guest's replies go
     * out (a ring's worth at least: what it held when it stopped taking
     * rx), rx resumes, and everything drains. */
    CONF_REQUIRE_RET(c, conf_device_reply_bound(c, CONF_REPLIES_UNBOUND), 0);
    rp_device_settle(c, &d);
    g_rst = rp_count_op(c, true, VSOCK_OP_RST);
    h_req = rp_count_op(c, false, VSOCK_OP_REQUEST);
    unsigned h_rst = rp_count_op(c, false, VSOCK_OP_RST);
    unsigned g_req = rp_count_op(c, true, VSOCK_OP_REQUEST);
    rp_device_print("after lifting the device's pause", &d, g_rst, h_req);
    CONF_REQUIRE_EQ(c, d.replies_queued, 0);
    CONF_REQUIRE_EQ(c, d.pkts_queued, 0);
    CONF_REQUIRE_EQ(c, d.tx.used, d.tx.avail);
    CONF_REQUIRE(c, g_rst >= q);
    CONF_REQUIRE_EQ(c, g_rst, h_req); /* every host REQUEST answered */
    CONF_REQUIRE_EQ(c, h_rst, g_req); /* and every guest one */
    CONF_REQUIRE_EQ(c, g_req, 2 * q);
}
