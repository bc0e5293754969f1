/* The guest target: the real Linux virtio-vsock guest driver against our
 * device, served by `vsocksim vhost-user` through QEMU's
 * vhost-user-vsock-pci (make check-guest). The case programs run inside
 * that QEMU guest:
 *
 *   guest side  real AF_VSOCK sockets of the guest kernel (khost_vsock_*),
 *               so the packets are the real virtio_vsock driver's
 *   host side   our device's host sockets (vep_*) inside the backend on the
 *               host, driven over the control channel (vhostuser/vu_ctl.h:
 *               a virtio-serial port, VCTL_GUEST_PORT in the guest); one
 *               session per case, opened with HELLO and closed with END,
 *               which closes every host socket the case opened
 *   raw host    the backend's rx intercept on the device's host endpoint and
 *               vep_tx_inject: the case speaks for the host, packets reach
 *               the real guest driver
 *   waiting     cond is polled in slices of 1 ms with the real monotonic
 *               clock; cond's host-side reads are control requests
 *   transcript  the packets our device took from tx and placed on rx during
 *               the case (VCTL_PKTLOG), printed as vsocksim-pkt lines at
 *               close, as the sim and kernel targets print theirs
 *
 * Not offered: raw packets for the guest or its ring (the guest driver is
 * the kernel's), TRANSPORT_RESET (QEMU keeps the event queue and sends it
 * only after a migration), counters (the guest kernel keeps none), and
 * config beyond the host sockets' buffer size: QEMU and the guest driver
 * choose queue and rx buffer sizes and negotiate features once, at boot. A
 * case whose options ask only for host_buf_alloc gets CONF_CAP_CONFIG,
 * since the host sockets honour it; any other option takes it away.
 *
 * Outside the guest image the target is unavailable (khost_guest_check):
 * every case is skipped with the reason, and nothing is opened. */
#include "conformance/conf_case.h"
#include "conformance/conf_target.h"
#include "khost/khost.h"
#include "vhostuser/vu_ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GT_CAPS (CONF_CAP_RAW_HOST | CONF_CAP_DEVICE_STOP | CONF_CAP_USED_LEN | CONF_CAP_DEVICE_STATE)
#define GT_RPC_TIMEOUT_MS 5000
#define GT_SLICE_NS 1000000u
#define GT_QUIET_NS 30000000ull   /* the transcript has not grown for this long: settled */
#define GT_SETTLE_NS 300000000ull /* at most, at close */
#define GT_MAX_GUEST_FDS 1024u
#define GT_STALE_REPLIES 64 /* replies of an earlier case's requests, skipped at HELLO */

struct gt {
    int ctl;
    uint32_t seq;
    uint64_t guest_cid;
    uint32_t host_buf_alloc;
    bool config_ok; /* the case's options are all ones this target honours */
    enum vsock_linux linux_ver; /* the run's profile (check-guest.sh gives the backend the same) */
    int guest_fds[GT_MAX_GUEST_FDS]; /* real sockets the case opened, -1 when closed */
    unsigned nguest;
    char broken[256]; /* the control channel failed: why (empty while healthy) */
    uint8_t out[VCTL_MAX_MSG];
    uint8_t in[VCTL_FIXED + VCTL_MAX_DATA];
};

/* ---- the control channel ---- */

static int64_t channel_broke(struct gt *t, const char *what, int err)
{
    if (t->broken[0] == '\0')
        snprintf(t->broken, sizeof(t->broken), "control channel: %s: %s", what, strerror(-err));
    return -EIO;
}

/* Reads replies until the one for seq; earlier ones (a request of a case
 * that was killed mid-way) are skipped, up to skip of them. */
static int read_reply(struct gt *t, uint32_t seq, struct vctl_msg *rp, int skip)
{
    for (int i = 0; i <= skip; i++) {
        uint8_t hdr[VCTL_HDR];
        uint32_t body;
        const char *why = "";
        int err = vctl_read_full(t->ctl, hdr, sizeof(hdr), GT_RPC_TIMEOUT_MS);
        if (err == 0)
            err = vctl_parse_header(hdr, &rp->op, &rp->seq, &body, &why);
        if (err == 0)
            err = vctl_read_full(t->ctl, t->in, body, GT_RPC_TIMEOUT_MS);
        if (err != 0)
            return err;
        if (rp->seq == seq) {
            vctl_decode_body(t->in, body, rp);
            return 0;
        }
    }
    return -EPROTO;
}

/* One request and its reply: the result, or -EIO once the channel broke
 * (the case then fails at close with the reason). */
static int64_t rpc_skip(struct gt *t, struct vctl_msg *rq, struct vctl_msg *rp, int skip)
{
    if (t->broken[0] != '\0')
        return -EIO;
    rq->seq = ++t->seq;
    size_t n = vctl_encode(rq, t->out, sizeof(t->out));
    if (n == 0)
        return -EMSGSIZE;
    int err = vctl_write_full(t->ctl, t->out, n, GT_RPC_TIMEOUT_MS);
    if (err != 0)
        return channel_broke(t, vctl_op_name(rq->op), err);
    memset(rp, 0, sizeof(*rp));
    err = read_reply(t, rq->seq, rp, skip);
    if (err != 0)
        return channel_broke(t, vctl_op_name(rq->op), err);
    return (int64_t)rp->v[0];
}

static int64_t rpc(struct gt *t, struct vctl_msg *rq, struct vctl_msg *rp)
{
    return rpc_skip(t, rq, rp, 0);
}

/* A request with up to three values and no data; outputs in rp if not NULL. */
static int64_t call3(struct gt *t, uint16_t op, uint64_t a, uint64_t b, uint64_t c,
                     struct vctl_msg *rp)
{
    struct vctl_msg rq = {.op = op, .v = {a, b, c}};
    struct vctl_msg local;
    return rpc(t, &rq, rp != NULL ? rp : &local);
}

static int call_fd(struct gt *t, uint16_t op, int fd, uint64_t b)
{
    return (int)call3(t, op, (uint64_t)fd, b, 0, NULL);
}

/* ---- life cycle ---- */

static bool gt_available(char *why, size_t len)
{
    if (khost_guest_check() != 0) {
        snprintf(why, len, "%s", khost_refusal());
        return false;
    }
    if (access(VCTL_GUEST_PORT, R_OK | W_OK) != 0) {
        snprintf(why, len,
                 "no control channel at " VCTL_GUEST_PORT " (the guest target runs only "
                 "through make check-guest, behind vsocksim vhost-user --control)");
        return false;
    }
    return true;
}

/* Bytes an earlier case left unread in the port. */
static void drain(int fd)
{
    uint8_t junk[4096];
    while (read(fd, junk, sizeof(junk)) > 0) {
    }
}

static void *gt_open(const struct conf_opts *o, char *why, size_t len)
{
    if (!gt_available(why, len))
        return NULL;
    struct gt *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(why, len, "out of memory");
        return NULL;
    }
    t->host_buf_alloc = o->host_buf_alloc;
    t->linux_ver = o->linux_ver;
    t->config_ok = o->queue_size == 0 && o->rx_buf_size == 0 && o->features == 0 &&
                   o->tx_max_payload == 0;
    t->ctl = open(VCTL_GUEST_PORT, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->ctl < 0) {
        snprintf(why, len, "%s: %s", VCTL_GUEST_PORT, strerror(errno));
        free(t);
        return NULL;
    }
    drain(t->ctl);
    /* A seq no earlier process used, so its late replies cannot match. */
    t->seq = (uint32_t)getpid() << 16 ^ (uint32_t)khost_now();
    struct vctl_msg rq = {.op = VCTL_HELLO}, rp;
    int64_t r = rpc_skip(t, &rq, &rp, GT_STALE_REPLIES);
    if (r != 0) {
        snprintf(why, len, "HELLO: %s", t->broken[0] ? t->broken : strerror((int)-r));
        close(t->ctl);
        free(t);
        return NULL;
    }
    t->guest_cid = rp.v[1];
    return t;
}

static void close_guest_fds(struct gt *t)
{
    for (unsigned i = 0; i < t->nguest; i++)
        if (t->guest_fds[i] >= 0)
            khost_vsock_close(t->guest_fds[i]);
    t->nguest = 0;
}

static void nap(uint64_t ns);

/* Waits until the backend's transcript has not grown for GT_QUIET_NS (at
 * most GT_SETTLE_NS): what the case did last may still be answered by the
 * guest kernel or our device, and the other targets settle too. */
static void settle(struct gt *t)
{
    uint64_t start = khost_now(), quiet_since = start, seen = 0;
    while (khost_now() - start < GT_SETTLE_NS && khost_now() - quiet_since < GT_QUIET_NS) {
        struct vctl_msg rq = {.op = VCTL_PKTLOG, .v = {seen}}, rp = {0};
        if (rpc(t, &rq, &rp) < 0)
            return;
        if (rp.v[1] != seen) {
            seen = rp.v[1];
            quiet_since = khost_now();
        }
        nap(GT_SLICE_NS);
    }
}

/* The packets our device saw cross the rings during the case (the backend
 * keeps them from HELLO on), printed as the other targets print theirs, for
 * the referee. A broken channel or a bad reply leaves the case without a
 * transcript, said so in it ("unavailable"): that is no failure of the
 * case, but the referee cannot compare it. */
static void print_transcript(struct gt *t)
{
    struct conf_pktlog log;
    char head[48];
    snprintf(head, sizeof(head), "target=guest linux=%s", vsock_linux_name(t->linux_ver));
    if (!conf_pktlog_init(&log, CONF_PKTLOG_MAX, head) || t->broken[0] != '\0') {
        if (t->broken[0] != '\0')
            snprintf(log.unavailable, sizeof(log.unavailable), "the control channel broke: %s",
                     t->broken);
        conf_pktlog_print(&log);
        conf_pktlog_free(&log);
        return;
    }
    settle(t);
    uint64_t first = 0, lost = 0, total = 0;
    do {
        struct vctl_msg rq = {.op = VCTL_PKTLOG, .v = {first}}, rp = {0};
        int64_t n = rpc(t, &rq, &rp);
        if (n < 0 && t->broken[0] != '\0') {
            snprintf(log.unavailable, sizeof(log.unavailable), "the control channel broke: %s",
                     t->broken);
            break;
        }
        if (n < 0 || rp.dlen != (uint64_t)n * VCTL_PKTLOG_ENTRY || (n > 0 && rp.data == NULL)) {
            snprintf(log.unavailable, sizeof(log.unavailable),
                     "the backend's VCTL_PKTLOG reply from entry %" PRIu64 " was bad (%" PRId64
                     ", %" PRIu64 " bytes)",
                     first, n, (uint64_t)rp.dlen);
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *e = rp.data + i * VCTL_PKTLOG_ENTRY;
            struct vsock_hdr h;
            vsock_hdr_decode(e + 1, &h);
            conf_pktlog_add(&log, e[0] == 1, &h);
        }
        first += (uint64_t)n;
        total = rp.v[1];
        lost = rp.v[2];
        if (n == 0 && first < total) {
            snprintf(log.unavailable, sizeof(log.unavailable),
                     "the backend sent no entry from %" PRIu64 " of %" PRIu64, first, total);
            break;
        }
    } while (first < total);
    log.dropped += lost;
    conf_pktlog_print(&log);
    conf_pktlog_free(&log);
}

/* END first: the host side resets what the case left, so the guest's
 * sockets are reset too and close at once instead of lingering. The
 * transcript is taken before END: what END does is our clean-up. */
static bool gt_close(void *tp, char *why, size_t len)
{
    struct gt *t = tp;
    struct vctl_msg rp;
    print_transcript(t);
    int64_t r = call3(t, VCTL_END, 0, 0, 0, &rp);
    bool ok = true;
    if (t->broken[0] != '\0') {
        snprintf(why, len, "%s", t->broken);
        ok = false;
    } else if (r < 0) {
        snprintf(why, len, "END: %s", strerror((int)-r));
        ok = false;
    } else if (rp.v[1] != 0) {
        snprintf(why, len, "the raw host queue overflowed: %" PRIu64 " packets lost", rp.v[1]);
        ok = false;
    } else if (rp.v[2] != 0) {
        snprintf(why, len, "our device signalled %" PRIu64 " queue errors during the case",
                 rp.v[2]);
        ok = false;
    }
    close_guest_fds(t);
    close(t->ctl);
    free(t);
    return ok;
}

static unsigned gt_caps(const void *tp)
{
    const struct gt *t = tp;
    return GT_CAPS | (t->config_ok ? CONF_CAP_CONFIG : 0u);
}

static uint64_t gt_guest_cid(const void *tp)
{
    const struct gt *t = tp;
    return t->guest_cid;
}

static uint64_t gt_now(const void *tp)
{
    (void)tp;
    return khost_now();
}

static void nap(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

static bool gt_wait(void *tp, bool (*cond)(void *arg), void *arg, uint64_t timeout_ns)
{
    (void)tp;
    uint64_t now = khost_now();
    uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    for (;;) {
        if (cond != NULL && cond(arg))
            return true;
        now = khost_now();
        if (now >= deadline)
            return false;
        uint64_t left = deadline - now;
        nap(left < GT_SLICE_NS ? left : GT_SLICE_NS);
    }
}

/* ---- sockets ---- */

static void track_guest_fd(struct gt *t, int fd)
{
    for (unsigned i = 0; i < t->nguest; i++)
        if (t->guest_fds[i] < 0) {
            t->guest_fds[i] = fd;
            return;
        }
    if (t->nguest < GT_MAX_GUEST_FDS)
        t->guest_fds[t->nguest++] = fd;
}

static void untrack_guest_fd(struct gt *t, int fd)
{
    for (unsigned i = 0; i < t->nguest; i++)
        if (t->guest_fds[i] == fd)
            t->guest_fds[i] = -1;
}

static int gt_socket(void *tp, enum conf_side s, int type)
{
    struct gt *t = tp;
    if (s == CONF_HOST)
        return (int)call3(t, VCTL_SOCKET, (uint64_t)type, t->host_buf_alloc, 0, NULL);
    int fd = khost_vsock_socket(type);
    if (fd >= 0)
        track_guest_fd(t, fd);
    return fd;
}

static int gt_bind(void *tp, enum conf_side s, int fd, uint32_t port)
{
    if (s == CONF_HOST)
        return call_fd(tp, VCTL_BIND, fd, port);
    return khost_vsock_bind(fd, VSOCK_CID_ANY, port);
}

static int gt_listen(void *tp, enum conf_side s, int fd, int backlog)
{
    if (s == CONF_HOST)
        return call_fd(tp, VCTL_LISTEN, fd, (uint64_t)(int64_t)backlog);
    return khost_vsock_listen(fd, backlog);
}

static int gt_accept(void *tp, enum conf_side s, int fd)
{
    struct gt *t = tp;
    if (s == CONF_HOST)
        return call_fd(t, VCTL_ACCEPT, fd, 0);
    int nfd = khost_vsock_accept(fd, NULL, NULL);
    if (nfd >= 0)
        track_guest_fd(t, nfd);
    return nfd;
}

static int gt_connect(void *tp, enum conf_side s, int fd, uint64_t cid, uint32_t port)
{
    if (s == CONF_HOST)
        return (int)call3(tp, VCTL_CONNECT, (uint64_t)fd, cid, port, NULL);
    return khost_vsock_connect(fd, cid, port);
}

static int64_t gt_send(void *tp, enum conf_side s, int fd, const void *buf, size_t len,
                       unsigned flags)
{
    struct gt *t = tp;
    if (s == CONF_GUEST)
        return khost_vsock_send(fd, buf, len, flags);
    /* At most VCTL_MAX_DATA bytes go; v[2] says how many the case sent, so
     * that the backend refuses a seqpacket message it would cut (a stream
     * send may queue fewer bytes anyway). */
    uint32_t n = len < VCTL_MAX_DATA ? (uint32_t)len : VCTL_MAX_DATA;
    struct vctl_msg rq = {.op = VCTL_SEND, .v = {(uint64_t)fd, flags, len}, .dlen = n,
                          .data = buf},
                    rp;
    return rpc(t, &rq, &rp);
}

static int64_t gt_recv(void *tp, enum conf_side s, int fd, void *buf, size_t len, unsigned flags,
                       unsigned *out_flags)
{
    struct gt *t = tp;
    if (s == CONF_GUEST)
        return khost_vsock_recv(fd, buf, len, flags, out_flags);
    size_t want = len < VCTL_MAX_DATA ? len : VCTL_MAX_DATA;
    struct vctl_msg rp;
    int64_t r = call3(t, VCTL_RECV, (uint64_t)fd, want, flags, &rp);
    if (r < 0)
        return r;
    if (rp.dlen > want)
        return channel_broke(t, "RECV", -EPROTO);
    if (rp.dlen > 0)
        memcpy(buf, rp.data, rp.dlen);
    if (out_flags != NULL)
        *out_flags = (unsigned)rp.v[1];
    return r;
}

static int gt_shutdown(void *tp, enum conf_side s, int fd, int how)
{
    if (s == CONF_HOST)
        return call_fd(tp, VCTL_SHUTDOWN, fd, (uint64_t)how);
    return khost_vsock_shutdown(fd, how);
}

static int gt_close_sock(void *tp, enum conf_side s, int fd)
{
    struct gt *t = tp;
    if (s == CONF_HOST)
        return call_fd(t, VCTL_CLOSE, fd, 0);
    untrack_guest_fd(t, fd);
    return khost_vsock_close(fd);
}

static unsigned gt_poll(void *tp, enum conf_side s, int fd)
{
    if (s == CONF_GUEST)
        return khost_vsock_poll(fd);
    int r = call_fd(tp, VCTL_POLL, fd, 0);
    return r < 0 ? 0 : (unsigned)r;
}

static int gt_sock_error(void *tp, enum conf_side s, int fd)
{
    if (s == CONF_HOST)
        return call_fd(tp, VCTL_SOCK_ERROR, fd, 0);
    return khost_vsock_error(fd);
}

static int gt_set_buf_size(void *tp, enum conf_side s, int fd, uint32_t bytes)
{
    if (s == CONF_HOST)
        return call_fd(tp, VCTL_SET_BUF_SIZE, fd, bytes);
    return khost_vsock_set_buf_size(fd, bytes);
}

static int gt_set_buf_bound(void *tp, enum conf_side s, int fd, bool max, uint64_t bytes)
{
    if (s == CONF_HOST)
        return call_fd(tp, max ? VCTL_SET_BUF_MAX : VCTL_SET_BUF_MIN, fd, bytes);
    return khost_vsock_set_buf_bound(fd, max, bytes);
}

static int gt_set_rcvlowat(void *tp, enum conf_side s, int fd, uint32_t bytes)
{
    if (s == CONF_HOST)
        return call_fd(tp, VCTL_SET_RCVLOWAT, fd, bytes);
    return khost_vsock_set_rcvlowat(fd, bytes);
}

static int gt_local_port(void *tp, enum conf_side s, int fd, uint32_t *port)
{
    if (s == CONF_GUEST)
        return khost_vsock_local_port(fd, port);
    struct vctl_msg rp;
    int r = (int)call3(tp, VCTL_LOCAL_PORT, (uint64_t)fd, 0, 0, &rp);
    if (r == 0 && port != NULL)
        *port = (uint32_t)rp.v[1];
    return r;
}

static int gt_peer_name(void *tp, enum conf_side s, int fd, uint64_t *cid, uint32_t *port)
{
    if (s == CONF_GUEST)
        return khost_vsock_peer_name(fd, cid, port);
    struct vctl_msg rp;
    int r = (int)call3(tp, VCTL_PEER_NAME, (uint64_t)fd, 0, 0, &rp);
    if (r == 0 && cid != NULL)
        *cid = rp.v[1];
    if (r == 0 && port != NULL)
        *port = (uint32_t)rp.v[2];
    return r;
}

static int gt_outq(void *tp, enum conf_side s, int fd)
{
    if (s == CONF_GUEST)
        return khost_vsock_outq(fd);
    return call_fd(tp, VCTL_OUTQ, fd, 0);
}

static int64_t gt_sigpipes(void *tp, enum conf_side s)
{
    if (s == CONF_GUEST)
        return (int64_t)khost_sigpipes();
    return call3(tp, VCTL_SIGPIPES, 0, 0, 0, NULL);
}

/* ---- the host side's raw mode ---- */

static int gt_raw_host_begin(void *tp)
{
    return (int)call3(tp, VCTL_RAW_BEGIN, 0, 0, 0, NULL);
}

static int gt_raw_host_send(void *tp, const struct vsock_hdr *h, const void *payload,
                            uint32_t len)
{
    struct gt *t = tp;
    if (len > 0 && payload == NULL)
        return -EFAULT;
    if (len > VCTL_MAX_DATA - VSOCK_HDR_LEN)
        return -EMSGSIZE;
    /* Header and payload go as one data block. */
    uint8_t *blk = malloc(VSOCK_HDR_LEN + (size_t)len);
    if (blk == NULL)
        return -ENOMEM;
    vsock_hdr_encode(h, blk);
    if (len > 0)
        memcpy(blk + VSOCK_HDR_LEN, payload, len);
    struct vctl_msg rq = {.op = VCTL_RAW_SEND, .dlen = VSOCK_HDR_LEN + len, .data = blk}, rp;
    int r = (int)rpc(t, &rq, &rp);
    free(blk);
    return r;
}

/* One packet the guest sent, if the backend has one queued: 1, 0 or -errno. */
static int raw_host_take(struct gt *t, struct vsock_hdr *h, void *payload, uint32_t cap,
                         uint32_t *len)
{
    uint32_t want = cap < VCTL_MAX_DATA - VSOCK_HDR_LEN ? cap : VCTL_MAX_DATA - VSOCK_HDR_LEN;
    struct vctl_msg rp;
    int r = (int)call3(t, VCTL_RAW_RECV, want, 0, 0, &rp);
    if (r != 1)
        return r;
    if (rp.dlen < VSOCK_HDR_LEN || rp.dlen - VSOCK_HDR_LEN > want)
        return (int)channel_broke(t, "RAW_RECV", -EPROTO);
    vsock_hdr_decode(rp.data, h);
    if (payload != NULL && rp.dlen > VSOCK_HDR_LEN)
        memcpy(payload, rp.data + VSOCK_HDR_LEN, rp.dlen - VSOCK_HDR_LEN);
    *len = (uint32_t)rp.v[1];
    return 1;
}

static int gt_raw_host_recv(void *tp, struct vsock_hdr *h, void *payload, uint32_t cap,
                            uint32_t *len, uint64_t timeout_ns)
{
    struct gt *t = tp;
    uint64_t deadline = khost_now() + timeout_ns;
    for (;;) {
        int r = raw_host_take(t, h, payload, cap, len);
        if (r != 0)
            return r;
        uint64_t now = khost_now();
        if (now >= deadline)
            return 0;
        nap(deadline - now < GT_SLICE_NS ? deadline - now : GT_SLICE_NS);
    }
}

static uint64_t gt_drops(void *tp, enum conf_side s, enum vep_drop why)
{
    /* Only the host side (our device) counts: the guest kernel keeps no
     * such counters, so the target does not claim CONF_CAP_COUNTERS. */
    if (s != CONF_HOST)
        return 0;
    int64_t r = call3(tp, VCTL_DROPS, (uint64_t)why, 0, 0, NULL);
    return r < 0 ? 0 : (uint64_t)r;
}

static int gt_device_stop(void *tp)
{
    struct vctl_msg rp;
    return (int)call3(tp, VCTL_DEVICE_STOP, 0, 0, 0, &rp);
}

static int gt_device_start(void *tp)
{
    struct vctl_msg rp;
    return (int)call3(tp, VCTL_DEVICE_START, 0, 0, 0, &rp);
}

static int gt_rx_used_len_extra(void *tp, int32_t extra)
{
    struct vctl_msg rp;
    return (int)call3(tp, VCTL_USED_LEN_EXTRA, (uint64_t)(int64_t)extra, 0, 0, &rp);
}

static struct conf_device_ring unpack_ring(uint64_t v)
{
    return (struct conf_device_ring){VCTL_RING_NUM(v), VCTL_RING_AVAIL(v), VCTL_RING_TAKEN(v),
                                     VCTL_RING_USED(v)};
}

static int gt_device_info(void *tp, struct conf_device_info *out)
{
    struct vctl_msg rp;
    int64_t r = call3(tp, VCTL_REPLY_STATE, 0, 0, 0, &rp);
    if (r < 0)
        return (int)r;
    out->replies_queued = (uint32_t)rp.v[1];
    out->pause_at = (uint32_t)rp.v[2];
    out->pkts_queued = (uint32_t)rp.v[3];
    out->tx_paused = (rp.v[3] >> 32) != 0;
    out->rx = unpack_ring(rp.v[4]);
    out->tx = unpack_ring(rp.v[5]);
    return 0;
}

static int gt_device_reply_bound(void *tp, uint32_t at)
{
    struct vctl_msg rp;
    return (int)call3(tp, VCTL_REPLY_BOUND, at, 0, 0, &rp);
}

/* conf_transcript: the backend's transcript of this session (VCTL_PKTLOG)
 * from entry first on. */
static int64_t gt_transcript(void *tp, uint32_t first, struct conf_pktlog_entry *out,
                             uint32_t max)
{
    struct gt *t = tp;
    uint64_t at = first, total = first;
    uint32_t got = 0;
    do {
        struct vctl_msg rq = {.op = VCTL_PKTLOG, .v = {at}}, rp = {0};
        int64_t n = rpc(t, &rq, &rp);
        if (n < 0)
            return n;
        if (rp.dlen != (uint64_t)n * VCTL_PKTLOG_ENTRY || (n > 0 && rp.data == NULL))
            return -EPROTO;
        total = rp.v[1];
        for (int64_t i = 0; i < n && got < max; i++, got++) {
            const uint8_t *e = rp.data + i * VCTL_PKTLOG_ENTRY;
            out[got].to_host = e[0] == 1;
            vsock_hdr_decode(e + 1, &out[got].h);
        }
        at += (uint64_t)n;
        if (n == 0)
            break;
    } while (got < max && at < total);
    return total >= first ? (int64_t)(total - first) : -EINVAL;
}

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* conf_tx_chains: the tx chains our device took this session (VCTL_TXLOG)
 * from entry first on. */
static int64_t gt_tx_chains(void *tp, uint32_t first, struct conf_tx_chain *out, uint32_t max)
{
    struct gt *t = tp;
    uint64_t at = first, total = first;
    uint32_t got = 0;
    do {
        struct vctl_msg rq = {.op = VCTL_TXLOG, .v = {at}}, rp = {0};
        int64_t n = rpc(t, &rq, &rp);
        if (n < 0)
            return n;
        if (rp.dlen != (uint64_t)n * VCTL_TXLOG_ENTRY || (n > 0 && rp.data == NULL))
            return -EPROTO;
        total = rp.v[1];
        for (int64_t i = 0; i < n && got < max; i++, got++) {
            const uint8_t *e = rp.data + i * VCTL_TXLOG_ENTRY;
            memset(&out[got], 0, sizeof(out[got]));
            vsock_hdr_decode(e, &out[got].h);
            out[got].ndesc = le32_at(e + VSOCK_HDR_LEN);
            for (uint32_t j = 0; j < VCTL_TXLOG_LENS && j < CONF_TX_CHAIN_LENS; j++)
                out[got].len[j] = le32_at(e + VSOCK_HDR_LEN + 4 + 4 * j);
        }
        at += (uint64_t)n;
        if (n == 0)
            break;
    } while (got < max && at < total);
    return total >= first ? (int64_t)(total - first) : -EINVAL;
}

const struct conf_target_ops conf_target_guest = {
    .name = "guest",
    .mask = CONF_GUEST_TARGET,
    .available = gt_available,
    .open = gt_open,
    .close = gt_close,
    .caps = gt_caps,
    .guest_cid = gt_guest_cid,
    .now = gt_now,
    .socket = gt_socket,
    .bind = gt_bind,
    .listen = gt_listen,
    .accept = gt_accept,
    .connect = gt_connect,
    .send = gt_send,
    .recv = gt_recv,
    .shutdown = gt_shutdown,
    .close_sock = gt_close_sock,
    .poll = gt_poll,
    .sock_error = gt_sock_error,
    .set_buf_size = gt_set_buf_size,
    .set_buf_bound = gt_set_buf_bound,
    .set_rcvlowat = gt_set_rcvlowat,
    .local_port = gt_local_port,
    .peer_name = gt_peer_name,
    .outq = gt_outq,
    .sigpipes = gt_sigpipes,
    .wait = gt_wait,
    .raw_host_begin = gt_raw_host_begin,
    .raw_host_send = gt_raw_host_send,
    .raw_host_recv = gt_raw_host_recv,
    .drops = gt_drops,
    .device_stop = gt_device_stop,
    .device_start = gt_device_start,
    .rx_used_len_extra = gt_rx_used_len_extra,
    .device_info = gt_device_info,
    .device_reply_bound = gt_device_reply_bound,
    .transcript = gt_transcript,
    .tx_chains = gt_tx_chains,
};
