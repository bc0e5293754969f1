/* The control channel's server (protocol in vu_ctl.h): one connection at a
 * time, one request at a time, each answered before the next is read. The
 * host sockets it acts on are our device's (vu_sockets); a session may touch
 * only the ones it opened. Raw mode intercepts what the guest sends before
 * the host sockets see it and injects crafted packets for the guest. */
#define _GNU_SOURCE /* accept4 */
#include "vhostuser/vu_ctl_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CTL_MSG_TIMEOUT_MS 2000
#define CTL_MAX_FDS 1024u
#define CTL_RAW_QMAX 1024u
#define CTL_RAW_QBYTES (4u << 20) /* payload bytes queued at most: memory stays bounded */
#define CTL_MAX_PAIRS 256u

struct ctl_pkt {
    struct vsock_hdr h;
    uint32_t len;
    uint8_t *data;
};

/* A connection the session spoke for the host in raw mode: reset at END. */
struct ctl_pair {
    uint32_t hport, gport;
    uint16_t type;
};

struct ctl_sock {
    int fd;
    int type;
};

struct vu_ctl {
    int lfd;               /* not owned */
    int fd;                /* the connection, -1 when none */
    struct ctl_sock owned[CTL_MAX_FDS]; /* host sockets the session opened */
    unsigned nowned;
    bool raw;
    struct ctl_pkt q[CTL_RAW_QMAX];
    uint32_t qhead, qcount;
    uint64_t qbytes;
    uint64_t qoverflow;
    struct ctl_pair pairs[CTL_MAX_PAIRS];
    unsigned npairs;
    uint64_t errs_at_hello;  /* the backend's err eventfd writes when the session began */
    uint64_t pkts;           /* packets intercepted this session */
    bool logging;            /* between HELLO and END: the transcript grows */
    uint8_t *log;            /* VCTL_PKTLOG_MAX entries, allocated at the first HELLO */
    uint32_t nlog;
    uint64_t log_lost;       /* packets past VCTL_PKTLOG_MAX */
    uint8_t *txlog;          /* VCTL_TXLOG_MAX entries, allocated with log */
    uint32_t ntxlog;
    uint64_t txlog_lost;
    uint8_t in[VCTL_FIXED + VCTL_MAX_DATA];
    uint8_t out[VCTL_MAX_MSG];
    uint8_t data[VCTL_MAX_DATA];
};

/* ---- life cycle ---- */

struct vu_ctl *vu_ctl_new(void)
{
    struct vu_ctl *c = calloc(1, sizeof(*c));
    if (c != NULL)
        c->lfd = c->fd = -1;
    return c;
}

static void queue_clear(struct vu_ctl *c)
{
    while (c->qcount > 0) {
        free(c->q[c->qhead].data);
        c->q[c->qhead].data = NULL;
        c->qhead = (c->qhead + 1) % CTL_RAW_QMAX;
        c->qcount--;
    }
    c->qhead = 0;
    c->qbytes = 0;
}

void vu_ctl_free(struct vu_ctl *c)
{
    if (c == NULL)
        return;
    queue_clear(c);
    if (c->fd >= 0)
        close(c->fd);
    free(c->log);
    free(c->txlog);
    free(c);
}

void vu_ctl_note_packet(struct vu_ctl *c, bool to_host, const struct vsock_hdr *h)
{
    if (!c->logging)
        return;
    if (c->nlog == VCTL_PKTLOG_MAX) {
        c->log_lost++;
        return;
    }
    uint8_t *e = c->log + (size_t)c->nlog++ * VCTL_PKTLOG_ENTRY;
    e[0] = to_host ? 1 : 0;
    vsock_hdr_encode(h, e + 1);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void vu_ctl_note_chain(struct vu_ctl *c, const struct vsock_hdr *h, const uint32_t *lens,
                       uint32_t n)
{
    if (!c->logging || c->txlog == NULL)
        return;
    if (c->ntxlog == VCTL_TXLOG_MAX) {
        c->txlog_lost++;
        return;
    }
    uint8_t *e = c->txlog + (size_t)c->ntxlog++ * VCTL_TXLOG_ENTRY;
    memset(e, 0, VCTL_TXLOG_ENTRY);
    vsock_hdr_encode(h, e);
    put_le32(e + VSOCK_HDR_LEN, n);
    for (uint32_t i = 0; i < n && i < VCTL_TXLOG_LENS; i++)
        put_le32(e + VSOCK_HDR_LEN + 4 + 4 * i, lens[i]);
}

void vu_ctl_set_listener(struct vu_ctl *c, int lfd)
{
    c->lfd = lfd;
}

int vu_ctl_attach(struct vu_ctl *c, int fd)
{
    if (c->fd >= 0) {
        close(fd);
        return -EBUSY;
    }
    /* Reads wait with poll and a deadline, never in read itself. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    c->fd = fd;
    return 0;
}

/* ---- the session: owned sockets, raw mode, clean-up ---- */

/* The socket's type, or 0 when the session did not open fd. */
static int owned_type(const struct vu_ctl *c, int fd)
{
    for (unsigned i = 0; i < c->nowned; i++)
        if (c->owned[i].fd == fd)
            return c->owned[i].type;
    return 0;
}

static int own(struct vu_ctl *c, struct vep *ep, int fd, int type)
{
    if (c->nowned == CTL_MAX_FDS) {
        vep_abort(ep, fd, vu_now_ns());
        return -EMFILE;
    }
    c->owned[c->nowned++] = (struct ctl_sock){fd, type};
    return fd;
}

static void disown(struct vu_ctl *c, int fd)
{
    for (unsigned i = 0; i < c->nowned; i++)
        if (c->owned[i].fd == fd) {
            c->owned[i] = c->owned[--c->nowned];
            return;
        }
}

static void note_pair(struct vu_ctl *c, uint32_t hport, uint32_t gport, uint16_t type)
{
    for (unsigned i = 0; i < c->npairs; i++)
        if (c->pairs[i].hport == hport && c->pairs[i].gport == gport && c->pairs[i].type == type)
            return;
    if (c->npairs < CTL_MAX_PAIRS)
        c->pairs[c->npairs++] = (struct ctl_pair){hport, gport, type};
}

static void on_guest_pkt(void *ctx, const struct vsock_hdr *h, const uint8_t *payload,
                         uint32_t len)
{
    struct vu_ctl *c = ctx;
    c->pkts++;
    if (h->op != VSOCK_OP_RST)
        note_pair(c, h->dst_port, h->src_port, h->type);
    if (c->qcount == CTL_RAW_QMAX || c->qbytes + len > CTL_RAW_QBYTES) {
        c->qoverflow++;
        return;
    }
    struct ctl_pkt *p = &c->q[(c->qhead + c->qcount) % CTL_RAW_QMAX];
    *p = (struct ctl_pkt){.h = *h, .len = len};
    if (len > 0 && (p->data = malloc(len)) == NULL) {
        c->qoverflow++;
        return;
    }
    if (len > 0)
        memcpy(p->data, payload, len);
    c->qbytes += len;
    c->qcount++;
}

/* Leaves the host side as a fresh session finds it: what the session spoke
 * for the host ends with an RST to the guest, and every socket it opened is
 * aborted (RST to a connected peer, pending connections of a listener
 * refused). Returns how many sockets were still open. */
static unsigned end_session(struct vu_backend *b, struct vu_ctl *c)
{
    struct vep *ep = vu_sockets(b);
    vep_set_rx_intercept(ep, NULL, NULL);
    for (unsigned i = 0; i < c->npairs; i++) {
        struct vsock_hdr h = {
            .src_cid = VSOCK_CID_HOST,
            .dst_cid = b->cfg.guest_cid,
            .src_port = c->pairs[i].hport,
            .dst_port = c->pairs[i].gport,
            .type = c->pairs[i].type,
            .op = VSOCK_OP_RST,
        };
        (void)vep_tx_inject(ep, &h, NULL, 0);
    }
    unsigned n = c->nowned;
    uint64_t now = vu_now_ns();
    for (unsigned i = 0; i < c->nowned; i++)
        (void)vep_abort(ep, c->owned[i].fd, now);
    c->nowned = 0;
    c->npairs = 0;
    c->raw = false;
    queue_clear(c);
    c->qoverflow = 0;
    c->pkts = 0;
    c->logging = false;
    c->nlog = 0;
    c->log_lost = 0;
    c->ntxlog = 0;
    c->txlog_lost = 0;
    c->errs_at_hello = b->stats.errs;
    vdev_set_rx_used_len_extra(vu_device(b), 0);
    /* A case may have left a real guest driver in Linux's reply-pause
     * deadlock with our device: lifting our side lets it recover before
     * the next case (whose HELLO restores vhost's rule). */
    vdev_set_max_queued_replies(vu_device(b), VCTL_REPLIES_UNBOUND, now);
    if (b->held) { /* a session that stopped the device and never started it */
        b->held = false;
        vu_try_start(b, now);
    }
    return n;
}

/* ---- argument checks ---- */

static int arg_fd(const struct vu_ctl *c, uint64_t v)
{
    if (v > (uint64_t)INT32_MAX || owned_type(c, (int)v) == 0)
        return -EBADF;
    return (int)v;
}

static bool fits_u32(uint64_t v)
{
    return v <= UINT32_MAX;
}

/* ---- the operations: each returns the result (value or -errno) ---- */

typedef int64_t (*ctl_op_fn)(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                             struct vctl_msg *rp);

static int64_t op_hello(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                        struct vctl_msg *rp)
{
    (void)rq;
    unsigned left = end_session(b, c);
    if (left != 0)
        vu_log(b, "control: a new session closed %u host sockets of the last one", left);
    vdev_set_max_queued_replies(vu_device(b), 0, vu_now_ns()); /* vhost's rule */
    if (c->log == NULL)
        c->log = malloc((size_t)VCTL_PKTLOG_MAX * VCTL_PKTLOG_ENTRY);
    if (c->txlog == NULL)
        c->txlog = malloc((size_t)VCTL_TXLOG_MAX * VCTL_TXLOG_ENTRY);
    c->logging = c->log != NULL; /* without memory, the session has no transcript */
    rp->v[1] = b->cfg.guest_cid;
    return 0;
}

static int64_t op_end(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                      struct vctl_msg *rp)
{
    (void)rq;
    rp->v[1] = c->qoverflow;
    rp->v[2] = b->stats.errs - c->errs_at_hello;
    rp->v[3] = c->pkts;
    return end_session(b, c);
}

static int64_t op_socket(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                         struct vctl_msg *rp)
{
    (void)rp;
    if (rq->v[0] != VSOCK_TYPE_STREAM && rq->v[0] != VSOCK_TYPE_SEQPACKET)
        return -EINVAL;
    if (!fits_u32(rq->v[1]))
        return -EINVAL;
    struct vep *ep = vu_sockets(b);
    int fd = vep_socket(ep, (int)rq->v[0]);
    if (fd < 0)
        return fd;
    if (rq->v[1] != 0) {
        int err = vep_set_buf_size(ep, fd, (uint32_t)rq->v[1]);
        if (err != 0) {
            vep_abort(ep, fd, vu_now_ns());
            return err;
        }
    }
    return own(c, ep, fd, (int)rq->v[0]);
}

static int64_t op_bind(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                       struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    return fits_u32(rq->v[1]) ? vep_bind(vu_sockets(b), fd, (uint32_t)rq->v[1]) : -EINVAL;
}

static int64_t op_listen(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                         struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    int64_t backlog = (int64_t)rq->v[1];
    if (backlog < INT32_MIN || backlog > INT32_MAX)
        return -EINVAL;
    return vep_listen(vu_sockets(b), fd, (int)backlog);
}

static int64_t op_accept(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                         struct vctl_msg *rp)
{
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    uint64_t cid = 0;
    uint32_t port = 0;
    int nfd = vep_accept(vu_sockets(b), fd, &cid, &port);
    if (nfd < 0)
        return nfd;
    rp->v[1] = cid;
    rp->v[2] = port;
    return own(c, vu_sockets(b), nfd, owned_type(c, fd));
}

static int64_t op_connect(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                          struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    if (!fits_u32(rq->v[2]))
        return -EINVAL;
    return vep_connect(vu_sockets(b), fd, rq->v[1], (uint32_t)rq->v[2], vu_now_ns());
}

static int64_t op_send(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                       struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    if (rq->v[1] & ~(uint64_t)(VEP_MSG_EOR | VEP_MSG_DONTWAIT | VEP_MSG_NOSIGNAL) ||
        rq->v[2] < rq->dlen)
        return -EINVAL;
    /* Only part of a bigger send came: a stream may take a part, a message
     * must be whole. */
    if (rq->v[2] > rq->dlen && owned_type(c, fd) == VSOCK_TYPE_SEQPACKET)
        return -EMSGSIZE;
    return vep_send(vu_sockets(b), fd, rq->data, rq->dlen, (unsigned)rq->v[1]);
}

static int64_t op_recv(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                       struct vctl_msg *rp)
{
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    if (rq->v[1] > VCTL_MAX_DATA)
        return -EMSGSIZE;
    if (rq->v[2] & ~(uint64_t)(VEP_MSG_PEEK | VEP_MSG_TRUNC | VEP_MSG_DONTWAIT))
        return -EINVAL;
    unsigned oflags = 0;
    int64_t r = vep_recv(vu_sockets(b), fd, c->data, (size_t)rq->v[1], (unsigned)rq->v[2],
                         &oflags);
    rp->v[1] = oflags;
    if (r > 0) {
        /* With MSG_TRUNC the result may exceed what was read. */
        rp->dlen = (uint32_t)((uint64_t)r < rq->v[1] ? (uint64_t)r : rq->v[1]);
        rp->data = c->data;
    }
    return r;
}

static int64_t op_shutdown(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                           struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    if (rq->v[1] > VEP_SHUT_RDWR)
        return -EINVAL;
    return vep_shutdown(vu_sockets(b), fd, (int)rq->v[1]);
}

static int64_t op_close(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                        struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    disown(c, fd);
    return vep_close(vu_sockets(b), fd, vu_now_ns());
}

static int64_t op_poll(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                       struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    return fd < 0 ? fd : (int64_t)vep_poll(vu_sockets(b), fd);
}

static int64_t op_sock_error(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                             struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    return fd < 0 ? fd : vep_sock_error(vu_sockets(b), fd);
}

static int64_t op_set_size(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                           struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    if (!fits_u32(rq->v[1]))
        return -EINVAL;
    if (rq->op == VCTL_SET_BUF_SIZE)
        return vep_set_buf_size(vu_sockets(b), fd, (uint32_t)rq->v[1]);
    return vep_set_rcvlowat(vu_sockets(b), fd, (uint32_t)rq->v[1]);
}

/* The buffer size's bounds are 64-bit, as Linux's. */
static int64_t op_set_bound(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                            struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    if (rq->op == VCTL_SET_BUF_MAX)
        return vep_set_buf_max_size(vu_sockets(b), fd, rq->v[1]);
    return vep_set_buf_min_size(vu_sockets(b), fd, rq->v[1]);
}

static int64_t op_names(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                        struct vctl_msg *rp)
{
    int fd = arg_fd(c, rq->v[0]);
    if (fd < 0)
        return fd;
    uint32_t lport = 0, pport = 0;
    uint64_t pcid = 0;
    int r = rq->op == VCTL_LOCAL_PORT ? vep_sock_name(vu_sockets(b), fd, &lport, NULL, NULL)
                                      : vep_sock_name(vu_sockets(b), fd, NULL, &pcid, &pport);
    rp->v[1] = rq->op == VCTL_LOCAL_PORT ? lport : pcid;
    rp->v[2] = pport;
    return r;
}

static int64_t op_drops(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                        struct vctl_msg *rp)
{
    (void)c;
    (void)rp;
    if (rq->v[0] >= VEP_DROP_COUNT)
        return -EINVAL;
    uint64_t n = vep_counters(vu_sockets(b))->drops[rq->v[0]];
    return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

static int64_t op_raw_begin(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                            struct vctl_msg *rp)
{
    (void)rq;
    (void)rp;
    c->raw = true;
    vep_set_rx_intercept(vu_sockets(b), on_guest_pkt, c);
    return 0;
}

static int64_t op_raw_send(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                           struct vctl_msg *rp)
{
    (void)rp;
    if (!c->raw)
        return -EINVAL;
    if (rq->dlen < VSOCK_HDR_LEN)
        return -EINVAL;
    struct vsock_hdr h;
    vsock_hdr_decode(rq->data, &h);
    if (h.op != VSOCK_OP_RST)
        note_pair(c, h.src_port, h.dst_port, h.type);
    return vep_tx_inject(vu_sockets(b), &h, rq->data + VSOCK_HDR_LEN,
                         rq->dlen - VSOCK_HDR_LEN);
}

static int64_t op_raw_recv(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                           struct vctl_msg *rp)
{
    (void)b;
    if (!c->raw)
        return -EINVAL;
    if (rq->v[0] > VCTL_MAX_DATA - VSOCK_HDR_LEN)
        return -EMSGSIZE;
    if (c->qcount == 0)
        return 0;
    struct ctl_pkt *p = &c->q[c->qhead];
    uint32_t n = p->len < rq->v[0] ? p->len : (uint32_t)rq->v[0];
    vsock_hdr_encode(&p->h, c->data);
    if (n > 0)
        memcpy(c->data + VSOCK_HDR_LEN, p->data, n);
    rp->v[1] = p->len;
    rp->dlen = VSOCK_HDR_LEN + n;
    rp->data = c->data;
    free(p->data);
    p->data = NULL;
    c->qbytes -= p->len;
    c->qhead = (c->qhead + 1) % CTL_RAW_QMAX;
    c->qcount--;
    return 1;
}

/* A VM stop and cont as QEMU drives a vhost-user backend, without QEMU:
 * the device stops as GET_VRING_BASE stops it and no ring message restarts
 * it until DEVICE_START; host sockets stay and keep queueing, the guest's
 * kicks meanwhile are lost. */
static int64_t op_device_stop(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                              struct vctl_msg *rp)
{
    (void)c;
    (void)rq;
    (void)rp;
    if (!vu_device_running(b))
        return -EAGAIN;
    vu_stop_device(b);
    b->held = true;
    return 0;
}

static int64_t op_device_start(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                               struct vctl_msg *rp)
{
    (void)c;
    (void)rq;
    (void)rp;
    if (!b->held)
        return -EINVAL;
    b->held = false;
    vu_try_start(b, vu_now_ns());
    return vu_device_running(b) ? 0 : -EIO;
}

static int64_t op_used_len_extra(struct vu_backend *b, struct vu_ctl *c,
                                 const struct vctl_msg *rq, struct vctl_msg *rp)
{
    (void)c;
    (void)rp;
    int64_t v = (int64_t)rq->v[0]; /* two's complement, as every signed value here */
    if (v < INT32_MIN || v > INT32_MAX)
        return -EINVAL;
    vdev_set_rx_used_len_extra(vu_device(b), (int32_t)v);
    return 0;
}

static uint64_t ring_state(const struct vdev *dev, enum vsock_vq q)
{
    const struct vq_device *v = vdev_queue(dev, q);
    if (v == NULL || v->num == 0)
        return 0; /* stopped: the device holds no ring */
    return VCTL_RING(v->num, vqdev_avail_idx(v), v->last_avail_idx, v->used_idx);
}

/* The device's side of the reply pauses (vhost_vsock_more_replies), and its
 * rings, for a case that floods a real guest driver with replies. */
static int64_t op_reply_state(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                              struct vctl_msg *rp)
{
    (void)c;
    (void)rq;
    struct vdev *dev = vu_device(b);
    struct vep *ep = vdev_sockets(dev);
    rp->v[1] = vep_tx_queued_replies(ep);
    rp->v[2] = vdev_max_replies(dev);
    rp->v[3] = vep_tx_queued_pkts(ep) | (uint64_t)vdev_tx_paused(dev) << 32;
    rp->v[4] = ring_state(dev, VSOCK_VQ_RX);
    rp->v[5] = ring_state(dev, VSOCK_VQ_TX);
    return 0;
}

static int64_t op_reply_bound(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                              struct vctl_msg *rp)
{
    (void)c;
    (void)rp;
    if (!fits_u32(rq->v[0]))
        return -EINVAL;
    vdev_set_max_queued_replies(vu_device(b), (uint32_t)rq->v[0], vu_now_ns());
    return 0;
}

static int64_t op_pktlog(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                         struct vctl_msg *rp)
{
    (void)b;
    if (!c->logging)
        return -EINVAL; /* no session */
    if (rq->v[0] > c->nlog)
        return -EINVAL;
    uint32_t first = (uint32_t)rq->v[0];
    uint32_t n = c->nlog - first;
    if (n > VCTL_MAX_DATA / VCTL_PKTLOG_ENTRY)
        n = VCTL_MAX_DATA / VCTL_PKTLOG_ENTRY;
    rp->v[1] = c->nlog;
    rp->v[2] = c->log_lost;
    rp->dlen = n * VCTL_PKTLOG_ENTRY;
    rp->data = n > 0 ? c->log + (size_t)first * VCTL_PKTLOG_ENTRY : NULL;
    return n;
}

static int64_t op_outq(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                       struct vctl_msg *rp)
{
    (void)rp;
    int fd = arg_fd(c, rq->v[0]);
    return fd < 0 ? fd : vep_outq(vu_sockets(b), fd);
}

static int64_t op_sigpipes(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                           struct vctl_msg *rp)
{
    (void)c;
    (void)rq;
    (void)rp;
    uint64_t n = vep_counters(vu_sockets(b))->sigpipes;
    return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

static int64_t op_txlog(struct vu_backend *b, struct vu_ctl *c, const struct vctl_msg *rq,
                        struct vctl_msg *rp)
{
    (void)b;
    if (!c->logging || c->txlog == NULL)
        return -EINVAL; /* no session, or no memory for its chains */
    if (rq->v[0] > c->ntxlog)
        return -EINVAL;
    uint32_t first = (uint32_t)rq->v[0];
    uint32_t n = c->ntxlog - first;
    if (n > VCTL_MAX_DATA / VCTL_TXLOG_ENTRY)
        n = VCTL_MAX_DATA / VCTL_TXLOG_ENTRY;
    rp->v[1] = c->ntxlog;
    rp->v[2] = c->txlog_lost;
    rp->dlen = n * VCTL_TXLOG_ENTRY;
    rp->data = n > 0 ? c->txlog + (size_t)first * VCTL_TXLOG_ENTRY : NULL;
    return n;
}

static const ctl_op_fn ops[VCTL_OP_END_] = {
    [VCTL_HELLO] = op_hello,         [VCTL_END] = op_end,
    [VCTL_SOCKET] = op_socket,       [VCTL_BIND] = op_bind,
    [VCTL_LISTEN] = op_listen,       [VCTL_ACCEPT] = op_accept,
    [VCTL_CONNECT] = op_connect,     [VCTL_SEND] = op_send,
    [VCTL_RECV] = op_recv,           [VCTL_SHUTDOWN] = op_shutdown,
    [VCTL_CLOSE] = op_close,         [VCTL_POLL] = op_poll,
    [VCTL_SOCK_ERROR] = op_sock_error, [VCTL_SET_BUF_SIZE] = op_set_size,
    [VCTL_SET_RCVLOWAT] = op_set_size, [VCTL_LOCAL_PORT] = op_names,
    [VCTL_PEER_NAME] = op_names,     [VCTL_DROPS] = op_drops,
    [VCTL_RAW_BEGIN] = op_raw_begin, [VCTL_RAW_SEND] = op_raw_send,
    [VCTL_RAW_RECV] = op_raw_recv,   [VCTL_PKTLOG] = op_pktlog,
    [VCTL_SET_BUF_MAX] = op_set_bound, [VCTL_SET_BUF_MIN] = op_set_bound,
    [VCTL_DEVICE_STOP] = op_device_stop, [VCTL_DEVICE_START] = op_device_start,
    [VCTL_USED_LEN_EXTRA] = op_used_len_extra,
    [VCTL_OUTQ] = op_outq,           [VCTL_SIGPIPES] = op_sigpipes,
    [VCTL_TXLOG] = op_txlog,
    [VCTL_REPLY_STATE] = op_reply_state,
    [VCTL_REPLY_BOUND] = op_reply_bound,
};

/* ---- the connection ---- */

static void drop_conn(struct vu_backend *b, struct vu_ctl *c, const char *why)
{
    vu_log(b, "control: connection ended: %s", why);
    unsigned left = end_session(b, c);
    if (left != 0)
        vu_log(b, "control: closed %u host sockets the session left open", left);
    close(c->fd);
    c->fd = -1;
}

static bool reply(struct vu_backend *b, struct vu_ctl *c, struct vctl_msg *rp, int64_t result)
{
    rp->v[0] = (uint64_t)result;
    size_t n = vctl_encode(rp, c->out, sizeof(c->out));
    if (n == 0 || vctl_write_full(c->fd, c->out, n, CTL_MSG_TIMEOUT_MS) != 0) {
        drop_conn(b, c, "the reply could not be sent");
        return false;
    }
    return true;
}

/* One request: read, checked, done, answered. false when the connection ended. */
static bool one_request(struct vu_backend *b, struct vu_ctl *c)
{
    uint8_t hdr[VCTL_HDR];
    int err = vctl_read_full(c->fd, hdr, sizeof(hdr), CTL_MSG_TIMEOUT_MS);
    if (err != 0) {
        drop_conn(b, c, err == -EPIPE ? "closed by the peer" : "torn header");
        return false;
    }
    struct vctl_msg rq = {0}, rp = {0};
    const char *why = "";
    uint32_t body;
    err = vctl_parse_header(hdr, &rq.op, &rq.seq, &body, &why);
    rp.op = rq.op;
    rp.seq = rq.seq;
    if (err != 0) {
        b->stats.ctl_bad++;
        vu_log(b, "control: malformed message: %s", why);
        if (reply(b, c, &rp, err))
            drop_conn(b, c, why);
        return false;
    }
    if (vctl_read_full(c->fd, c->in, body, CTL_MSG_TIMEOUT_MS) != 0) {
        b->stats.ctl_bad++;
        drop_conn(b, c, "torn body");
        return false;
    }
    vctl_decode_body(c->in, body, &rq);
    b->stats.ctl_msgs++;
    ctl_op_fn fn = rq.op < VCTL_OP_END_ ? ops[rq.op] : NULL;
    int64_t result = -EOPNOTSUPP;
    if (fn == NULL) {
        b->stats.ctl_bad++;
        vu_log(b, "control: unknown op %u", rq.op);
    } else {
        result = fn(b, c, &rq, &rp);
    }
    return reply(b, c, &rp, result);
}

unsigned vu_ctl_pollfds(const struct vu_ctl *c, struct pollfd *p)
{
    p[0] = (struct pollfd){.fd = c->fd < 0 ? c->lfd : -1, .events = POLLIN};
    p[1] = (struct pollfd){.fd = c->fd, .events = POLLIN};
    return 2;
}

void vu_ctl_run(struct vu_backend *b, struct vu_ctl *c, const struct pollfd *p)
{
    if (p[0].revents && c->fd < 0 && c->lfd >= 0) {
        int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            c->fd = fd;
            vu_log(b, "control: connected");
        }
    }
    if (p[1].revents && c->fd >= 0 && c->fd == p[1].fd)
        (void)one_request(b, c);
}
