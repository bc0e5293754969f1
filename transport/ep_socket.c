/* The endpoint's socket API, with the semantics of Linux's af_vsock.c and
 * virtio_transport_common.c (6.1.192; 6.12.118 where a comment says so) for
 * non-blocking sockets. */
#include "transport/ep_ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SHUT_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

uint32_t ep_tx_buf_size(const struct vep_sock *s)
{
    return s->peer_buf_alloc < s->buf_alloc ? s->peer_buf_alloc : s->buf_alloc;
}

uint32_t ep_peer_free(const struct vep_sock *s)
{
    int64_t free_bytes =
        (int64_t)ep_tx_buf_size(s) - (int64_t)(uint32_t)(s->tx_cnt - s->peer_fwd_cnt);
    return free_bytes > 0 ? (uint32_t)free_bytes : 0;
}

int vep_socket(struct vep *ep, int type)
{
    if (type != VSOCK_TYPE_STREAM && type != VSOCK_TYPE_SEQPACKET)
        return -ESOCKTNOSUPPORT;
    /* Linux creates a seqpacket socket even when the transport cannot carry
     * it, and refuses at connect or listen. */
    return ep_sock_alloc(ep, type);
}

static int bind_ephemeral(struct vep *ep, struct vep_sock *s)
{
    for (int i = 0; i < VEP_PORT_RETRIES; i++) {
        uint32_t port = ep->next_ephemeral++;
        if (port <= VSOCK_LAST_RESERVED_PORT || port == VSOCK_PORT_ANY) {
            port = VSOCK_LAST_RESERVED_PORT + 1;
            ep->next_ephemeral = port + 1;
        }
        if (!ep_port_in_use(ep, port)) {
            s->local_port = port;
            s->bound = true;
            ep_bound_insert(ep, s);
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}

int vep_bind(struct vep *ep, int fd, uint32_t port)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (s->bound)
        return -EINVAL;
    if (port == VSOCK_PORT_ANY)
        return bind_ephemeral(ep, s);
    if (ep_port_in_use(ep, port))
        return -EADDRINUSE;
    s->local_port = port;
    s->bound = true;
    ep_bound_insert(ep, s);
    return 0;
}

int vep_listen(struct vep *ep, int fd, int backlog)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    /* vsock_listen: sock->state must be SS_UNCONNECTED (a refused connect
     * leaves it SS_CONNECTING). */
    if (s->ever_connected || s->ss_connecting ||
        (s->state != VEP_SS_UNCONNECTED && s->state != VEP_SS_LISTEN))
        return -EINVAL;
    if (!s->bound)
        return -EINVAL; /* vsock requires an explicit bind before listen */
    /* No transport check here, as Linux's vsock_listen: a seqpacket
     * listener without SEQPACKET negotiated listens, and every REQUEST it
     * gets is refused (recv_listen). */
    if (backlog < 0 || backlog > VEP_MAX_BACKLOG)
        backlog = VEP_MAX_BACKLOG;
    s->backlog = backlog;
    s->state = VEP_SS_LISTEN; /* found through the bound table, where bind put it */
    return 0;
}

int vep_accept(struct vep *ep, int fd, uint64_t *peer_cid, uint32_t *peer_port)
{
    struct vep_sock *l = ep_user_sock(ep, fd);
    if (l == NULL)
        return -EBADF;
    if (l->state != VEP_SS_LISTEN)
        return -EINVAL;
    if (l->acc_head == VEP_NONE)
        return -EAGAIN;
    int child = l->acc_head;
    struct vep_sock *c = &ep->socks[child];
    l->acc_head = c->acc_next;
    if (l->acc_head == VEP_NONE)
        l->acc_tail = VEP_NONE;
    c->acc_next = VEP_NONE;
    c->parent = VEP_NONE;
    l->ack_backlog--;
    if (peer_cid != NULL)
        *peer_cid = c->peer_cid;
    if (peer_port != NULL)
        *peer_port = c->peer_port;
    return child;
}

/* The part of vsock_connect that fails before any packet. */
static int connect_precheck(const struct vep *ep, const struct vep_sock *s, uint64_t cid)
{
    if (s->ss_connecting)
        return -EALREADY; /* connecting, or refused: only the timeout resets it */
    if (s->ever_connected)
        return -EISCONN;
    if (s->state == VEP_SS_LISTEN)
        return -EINVAL;
    if (cid == VSOCK_CID_ANY || cid == ep->cfg.local_cid)
        return -EINVAL;
    if (s->type == VSOCK_TYPE_SEQPACKET && !ep->cfg.seqpacket)
        return -ESOCKTNOSUPPORT;
    if (ep->cfg.check_src_cid && cid != ep->cfg.peer_cid)
        return -ENODEV; /* vhost: no device serves that CID */
    return 0;
}

int vep_connect(struct vep *ep, int fd, uint64_t cid, uint32_t port, uint64_t now)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    int err = connect_precheck(ep, s, cid);
    if (err < 0)
        return err;
    if (!s->bound) {
        err = bind_ephemeral(ep, s);
        if (err < 0)
            return err;
    }
    /* 6.12 clears an error left by an earlier attempt; 6.1 keeps it. */
    if (ep_linux_6_12(ep))
        s->err = 0;
    s->peer_cid = cid;
    s->peer_port = port;
    s->has_transport = true;
    s->state = VEP_SS_CONNECTING;
    err = ep_send(ep, s, VSOCK_OP_REQUEST, 0, NULL, 0, false);
    if (err < 0) {
        s->state = VEP_SS_UNCONNECTED;
        return err;
    }
    s->ss_connecting = true;
    if (s->err != 0) {
        /* 6.1: the REQUEST is out, but the wait loop sees the old error
         * (an unread ETIMEDOUT), returns it and closes the socket again. */
        int old = s->err;
        s->err = 0;
        s->state = VEP_SS_UNCONNECTED;
        s->ss_connecting = false;
        return -old;
    }
    ep_timer_arm(ep, s, VEP_TIMER_CONNECT, now + ep->cfg.connect_timeout_ns);
    return -EINPROGRESS;
}

void ep_connect_timeout(struct vep *ep, struct vep_sock *s)
{
    if (s->state != VEP_SS_CONNECTING)
        return;
    s->state = VEP_SS_UNCONNECTED;
    s->ss_connecting = false; /* SS_UNCONNECTED: connect may be called again */
    s->err = ETIMEDOUT;
    ep_cancel_tx(ep, s);
}

/* Whether a send must fail before looking at credit, and with what
 * (vsock_connectible_sendmsg's order). */
static int send_precheck(const struct vep_sock *s)
{
    if ((s->shut & VSOCK_SHUTDOWN_SEND) || (s->peer_shut & VSOCK_SHUTDOWN_RCV))
        return -EPIPE;
    if (s->state != VEP_SS_CONNECTED || !s->bound)
        return -ENOTCONN;
    if (s->peer_port == VSOCK_PORT_ANY)
        return -EDESTADDRREQ; /* !vsock_addr_bound(&vsk->remote_addr) */
    return 0;
}

static uint32_t sndbuf_room(const struct vep *ep, const struct vep_sock *s)
{
    return s->tx_queued < ep->cfg.max_sndbuf ? ep->cfg.max_sndbuf - s->tx_queued : 0;
}

/* The credit a send may use now: has_space, and with the sndbuf-bound
 * deviation no more than the socket's unsent-payload bound leaves. */
static uint32_t send_room(const struct vep *ep, const struct vep_sock *s)
{
    uint32_t room = ep_peer_free(s);
    if (ep_deviates(ep, VSOCK_DEV_SNDBUF_BOUND)) {
        uint32_t sb = sndbuf_room(ep, s);
        if (sb < room)
            room = sb;
    }
    return room;
}

/* An enqueue or dequeue error as the caller sees it: 6.1's sendmsg and
 * recvmsg report every one as ENOMEM (vsock_connectible_sendmsg,
 * __vsock_stream_recvmsg, __vsock_seqpacket_recvmsg), 6.12 passes the
 * transport's errno on. */
static int enqueue_error(const struct vep *ep, int err)
{
    return ep_linux_6_12(ep) ? err : -ENOMEM;
}

/* One RW of up to room bytes, EOM (and EOR) on a seqpacket message's last
 * one: virtio_transport_send_pkt_info, one packet per call. */
static int send_chunk(struct vep *ep, struct vep_sock *s, const uint8_t *buf, size_t sent,
                      size_t len, uint32_t room, unsigned flags)
{
    size_t chunk = len - sent;
    if (chunk > ep->cfg.max_payload)
        chunk = ep->cfg.max_payload;
    if (chunk > room)
        chunk = room;
    uint32_t f = 0;
    if (s->type == VSOCK_TYPE_SEQPACKET && sent + chunk == len)
        f = VSOCK_SEQ_EOM | ((flags & VEP_MSG_EOR) ? VSOCK_SEQ_EOR : 0);
    if (buf == NULL)
        return -ENOMEM; /* the copy from the user failed: no packet (both kernels) */
    int err = ep_send(ep, s, VSOCK_OP_RW, f, buf + sent, (uint32_t)chunk, false);
    return err < 0 ? err : (int)chunk;
}

/* vsock_connectible_sendmsg, non-blocking: packets as long as there is
 * credit. A seqpacket message larger than tx_buf_size fails
 * (virtio_transport_seqpacket_enqueue checks what is left of it); one that
 * runs out of credit part way returns EAGAIN with its fragment sent
 * (total_written counts only for stream or a whole message). */
static int64_t send_linux(struct vep *ep, struct vep_sock *s, const uint8_t *buf, size_t len,
                          unsigned flags)
{
    size_t sent = 0;
    int64_t err = 0;
    while (sent < len) {
        uint32_t room = send_room(ep, s);
        if (room == 0) {
            err = -EAGAIN;
            break;
        }
        if (s->type == VSOCK_TYPE_SEQPACKET && len - sent > ep_tx_buf_size(s)) {
            err = enqueue_error(ep, -EMSGSIZE);
            break;
        }
        int n = send_chunk(ep, s, buf, sent, len, room, flags);
        if (n < 0) {
            err = enqueue_error(ep, n);
            break;
        }
        sent += (size_t)n;
    }
    if (sent > 0 && (s->type == VSOCK_TYPE_STREAM || sent == len))
        return (int64_t)sent;
    return err;
}

/* The seqpacket-whole deviation: a message goes out whole or not at all, so
 * a non-blocking sender never leaves half of one for the next to complete. */
static int64_t send_seqpacket_whole(struct vep *ep, struct vep_sock *s, const uint8_t *buf,
                                    size_t len, unsigned flags)
{
    if (len > ep_tx_buf_size(s) ||
        (ep_deviates(ep, VSOCK_DEV_SNDBUF_BOUND) && len > ep->cfg.max_sndbuf))
        return enqueue_error(ep, -EMSGSIZE);
    if (send_room(ep, s) < len)
        return -EAGAIN;
    size_t sent = 0;
    do {
        int n = send_chunk(ep, s, buf, sent, len, UINT32_MAX, flags);
        if (n < 0)
            return enqueue_error(ep, n); /* only allocation failure: the stream is broken */
        sent += (size_t)n;
    } while (sent < len);
    return (int64_t)len;
}

/* Linux 6.12's sk_stream_error on a stream send's result (6.1 has none):
 * EPIPE takes a pending error instead, once (sock_error clears it), and
 * otherwise raises SIGPIPE unless MSG_NOSIGNAL. */
static int64_t stream_error(struct vep *ep, struct vep_sock *s, int64_t err, unsigned flags)
{
    if (!ep_linux_6_12(ep) || s->type != VSOCK_TYPE_STREAM || err != -EPIPE)
        return err;
    if (s->err != 0) {
        int e = s->err;
        s->err = 0;
        return -e;
    }
    if (!(flags & VEP_MSG_NOSIGNAL))
        ep->ctr.sigpipes++;
    return err;
}

static int64_t send_checked(struct vep *ep, struct vep_sock *s, const void *buf, size_t len,
                            unsigned flags)
{
    int err = send_precheck(s);
    if (err < 0)
        return err;
    if (len == 0)
        return 0;
    if (s->type == VSOCK_TYPE_SEQPACKET && ep_deviates(ep, VSOCK_DEV_SEQPACKET_WHOLE))
        return send_seqpacket_whole(ep, s, buf, len, flags);
    return send_linux(ep, s, buf, len, flags);
}

int64_t vep_send(struct vep *ep, int fd, const void *buf, size_t len, unsigned flags)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    return stream_error(ep, s, send_checked(ep, s, buf, len, flags), flags);
}

/* After a read, Linux 6.1 (as Debian ships it, with 6.1.76's fix) sends a
 * credit update when something was freed and either the space it has not
 * announced leaves less than one maximum packet, or fewer bytes than
 * SO_RCVLOWAT remain queued (with the default of 1: the queue is empty). The
 * second half matters: a sender that caps what it has in flight at its own
 * buffer waits for exactly that update (the kernel target found the stall). */
static void maybe_credit_update(struct vep *ep, struct vep_sock *s)
{
    uint32_t unannounced = s->fwd_cnt - s->last_fwd_cnt;
    if (unannounced == 0)
        return;
    int64_t free_space = (int64_t)s->buf_alloc - unannounced;
    if (free_space < (int64_t)VEP_MAX_PKT_BUF_SIZE || ep_has_data(ep, s) < s->rcvlowat)
        ep_send(ep, s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, false);
}

/* A packet read to its end is freed: its bytes (its own and any copied into
 * it) count in fwd_cnt only now. */
static void consume_pkt(struct vep_sock *s)
{
    struct vep_pkt *p = pktq_pop(&s->rxq);
    s->rx_unread -= p->len - p->off;
    s->rx_bytes -= p->len;
    s->fwd_cnt += p->len;
    free(p);
}

static size_t peek_stream(const struct vep_sock *s, uint8_t *buf, size_t len)
{
    size_t copied = 0;
    for (const struct vep_pkt *p = s->rxq.head; p != NULL && copied < len; p = p->next) {
        size_t n = p->len - p->off;
        if (n > len - copied)
            n = len - copied;
        memcpy(buf + copied, p->data + p->off, n);
        copied += n;
    }
    return copied;
}

/* A read into memory the copy cannot reach (NULL here): the kernel's copy
 * fails with EFAULT, which 6.1 reports as ENOMEM. */
static int copy_fault(const struct vep *ep)
{
    return enqueue_error(ep, -EFAULT);
}

static int64_t recv_stream(struct vep *ep, struct vep_sock *s, uint8_t *buf, size_t len,
                           bool peek)
{
    if (buf == NULL)
        return copy_fault(ep); /* nothing taken, nothing announced */
    if (peek)
        return (int64_t)peek_stream(s, buf, len);
    size_t copied = 0;
    while (copied < len && s->rxq.head != NULL) {
        struct vep_pkt *p = s->rxq.head;
        size_t n = p->len - p->off;
        if (n > len - copied)
            n = len - copied;
        memcpy(buf + copied, p->data + p->off, n);
        copied += n;
        if (p->off + n == p->len) {
            consume_pkt(s); /* Linux frees credit a whole packet at a time */
            continue;
        }
        p->off += (uint32_t)n;
        s->rx_unread -= (uint32_t)n;
    }
    maybe_credit_update(ep, s);
    return (int64_t)copied;
}

/* __vsock_seqpacket_recvmsg after the transport gave the message (total
 * bytes, copied of them into the buffer): a pending error wins over it (the
 * RW overflow's ENOBUFS, say); MSG_TRUNC when it did not fit, and with
 * MSG_TRUNC asked for, its full length. */
static int64_t seqpacket_result(const struct vep_sock *s, size_t len, uint64_t total,
                                size_t copied, unsigned flags, unsigned *out_flags)
{
    if (s->err != 0)
        return -s->err;
    if (total > len)
        *out_flags |= VEP_MSG_TRUNC;
    if (flags & VEP_MSG_TRUNC)
        return total > INT64_MAX ? INT64_MAX : (int64_t)total;
    return (int64_t)copied;
}

/* Linux 6.12's virtio_transport_seqpacket_do_peek: the first message's
 * bytes as far as the buffer takes them, nothing dequeued, no credit
 * update. */
static int64_t peek_seqpacket(const struct vep *ep, const struct vep_sock *s, uint8_t *buf,
                              size_t len, unsigned flags, unsigned *out_flags)
{
    size_t copied = 0;
    uint64_t total = 0;
    for (const struct vep_pkt *p = s->rxq.head; p != NULL; p = p->next) {
        size_t n = p->len < len - copied ? p->len : len - copied;
        if (n > 0 && buf == NULL)
            return copy_fault(ep);
        if (n > 0)
            memcpy(buf + copied, p->data, n);
        copied += n;
        total += p->len;
        if (p->hdr.flags & VSOCK_SEQ_EOM) {
            if (p->hdr.flags & VSOCK_SEQ_EOR)
                *out_flags |= VEP_MSG_EOR;
            break;
        }
    }
    return seqpacket_result(s, len, total, copied, flags, out_flags);
}

/* virtio_transport_seqpacket_do_dequeue: the whole message leaves the
 * queue, copied as far as the buffer takes it, and a CREDIT_UPDATE follows
 * every message. A copy that fails (no buffer) still drops the message. */
static int64_t recv_seqpacket(struct vep *ep, struct vep_sock *s, uint8_t *buf, size_t len,
                              unsigned flags, unsigned *out_flags)
{
    if (flags & VEP_MSG_PEEK) {
        if (!ep_linux_6_12(ep))
            return -ENOMEM; /* 6.1: the transport's EOPNOTSUPP, reported as ENOMEM */
        return peek_seqpacket(ep, s, buf, len, flags, out_flags);
    }
    size_t copied = 0;
    uint64_t total = 0;
    bool eom = false, fault = false;
    while (!eom && s->rxq.head != NULL) {
        struct vep_pkt *p = s->rxq.head;
        size_t n = p->len < len - copied ? p->len : len - copied;
        if (n > 0 && buf == NULL)
            fault = true;
        if (n > 0 && !fault)
            memcpy(buf + copied, p->data, n);
        copied += n;
        total += p->len;
        if (p->hdr.flags & VSOCK_SEQ_EOM) {
            eom = true;
            s->msg_count--;
            if (p->hdr.flags & VSOCK_SEQ_EOR)
                *out_flags |= VEP_MSG_EOR;
        }
        consume_pkt(s);
    }
    ep_send(ep, s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, false);
    if (fault)
        return copy_fault(ep);
    return seqpacket_result(s, len, total, copied, flags, out_flags);
}

static bool peer_sent_all(const struct vep_sock *s)
{
    return s->err != 0 || (s->shut & VSOCK_SHUTDOWN_RCV) || (s->peer_shut & VSOCK_SHUTDOWN_SEND);
}

int64_t vep_recv(struct vep *ep, int fd, void *buf, size_t len, unsigned flags,
                 unsigned *out_flags)
{
    unsigned dummy;
    if (out_flags == NULL)
        out_flags = &dummy;
    *out_flags = 0;
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (s->state != VEP_SS_CONNECTED)
        return s->done ? 0 : -ENOTCONN;
    if ((s->shut & VSOCK_SHUTDOWN_RCV) || len == 0)
        return 0;
    bool empty = s->type == VSOCK_TYPE_SEQPACKET ? s->msg_count == 0 : ep_has_data(ep, s) == 0;
    if (empty) {
        /* __vsock_stream_recvmsg reports a pending error once the wait
         * ends; __vsock_seqpacket_recvmsg returns the wait's 0 (6.1.192
         * and 6.12.118). */
        if (s->err != 0 && s->type == VSOCK_TYPE_STREAM)
            return -s->err;
        return peer_sent_all(s) ? 0 : -EAGAIN;
    }
    if (s->type == VSOCK_TYPE_SEQPACKET)
        return recv_seqpacket(ep, s, buf, len, flags, out_flags);
    return recv_stream(ep, s, buf, len, (flags & VEP_MSG_PEEK) != 0);
}

int vep_shutdown(struct vep *ep, int fd, int how)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (how < VEP_SHUT_RD || how > VEP_SHUT_RDWR)
        return -EINVAL;
    if (!s->ever_connected)
        return -ENOTCONN;
    unsigned mode = (unsigned)how + 1; /* SHUT_RD -> RCV, SHUT_WR -> SEND */
    s->shut |= mode;
    return ep_send(ep, s, VSOCK_OP_SHUTDOWN, mode, NULL, 0, false);
}

void ep_do_close(struct vep *ep, struct vep_sock *s)
{
    s->done = true;
    s->peer_shut = SHUT_BOTH;
    if (ep_has_data(ep, s) == 0)
        s->state = VEP_SS_CLOSING;
    if (s->released)
        ep_sock_free(ep, s);
}

void ep_close_timeout(struct vep *ep, struct vep_sock *s)
{
    if (!s->done)
        ep_send(ep, s, VSOCK_OP_RST, 0, NULL, 0, false);
    ep_sock_free(ep, s);
}

/* Linux's virtio_transport_close: true when the socket can go now. */
static bool close_connection(struct vep *ep, struct vep_sock *s, uint64_t now)
{
    if (s->state != VEP_SS_CONNECTED && s->state != VEP_SS_CLOSING)
        return true;
    if ((s->peer_shut & SHUT_BOTH) == SHUT_BOTH) {
        ep_send(ep, s, VSOCK_OP_RST, 0, NULL, 0, false);
        return true;
    }
    if ((s->shut & SHUT_BOTH) != SHUT_BOTH) {
        s->shut = SHUT_BOTH;
        ep_send(ep, s, VSOCK_OP_SHUTDOWN, SHUT_BOTH, NULL, 0, false);
    }
    if (s->done)
        return true;
    s->released = true;
    ep_timer_arm(ep, s, VEP_TIMER_CLOSE, now + ep->cfg.close_timeout_ns);
    return false;
}

static void release(struct vep *ep, struct vep_sock *s, uint64_t now);

static void release_accept_queue(struct vep *ep, struct vep_sock *l, uint64_t now)
{
    while (l->acc_head != VEP_NONE) {
        struct vep_sock *c = &ep->socks[l->acc_head];
        l->acc_head = c->acc_next;
        c->acc_next = VEP_NONE;
        c->parent = VEP_NONE;
        release(ep, c, now);
    }
    l->acc_tail = VEP_NONE;
    l->ack_backlog = 0;
}

static void release(struct vep *ep, struct vep_sock *s, uint64_t now)
{
    if (s->state == VEP_SS_LISTEN)
        release_accept_queue(ep, s, now);
    /* Unread data stays queued (and counted in rx_bytes, and not in fwd_cnt)
     * until the socket is freed: Linux purges the virtio rx_queue only in
     * virtio_transport_remove_sock, never on release. */
    if (close_connection(ep, s, now))
        ep_sock_free(ep, s);
}

int vep_close(struct vep *ep, int fd, uint64_t now)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    release(ep, s, now);
    return 0;
}

unsigned vep_poll(const struct vep *ep, int fd)
{
    const struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return VEP_POLLERR;
    unsigned mask = 0;
    if (s->err != 0)
        mask |= VEP_POLLERR;
    if (s->shut == SHUT_BOTH ||
        ((s->shut & VSOCK_SHUTDOWN_SEND) && (s->peer_shut & VSOCK_SHUTDOWN_SEND)))
        mask |= VEP_POLLHUP;
    bool rdhup = (s->shut & VSOCK_SHUTDOWN_RCV) || (s->peer_shut & VSOCK_SHUTDOWN_SEND);
    if (rdhup)
        mask |= VEP_POLLRDHUP | VEP_POLLIN;
    if (s->state == VEP_SS_LISTEN && s->acc_head != VEP_NONE)
        mask |= VEP_POLLIN;
    if (s->state == VEP_SS_CONNECTED && !(s->shut & VSOCK_SHUTDOWN_RCV)) {
        uint32_t have = s->type == VSOCK_TYPE_SEQPACKET ? s->msg_count : ep_has_data(ep, s);
        uint32_t target = s->type == VSOCK_TYPE_SEQPACKET ? 1 : s->rcvlowat;
        if (have >= target && have > 0)
            mask |= VEP_POLLIN;
    }
    if (s->state == VEP_SS_CONNECTED && !(s->shut & VSOCK_SHUTDOWN_SEND) && ep_peer_free(s) > 0)
        mask |= VEP_POLLOUT;
    /* vsock_poll: TCP_CLOSE (never connected, refused, timed out, reset) and
     * TCP_CLOSING sockets are writable unless shut for sending. */
    if ((s->state == VEP_SS_CLOSING || s->state == VEP_SS_UNCONNECTED) &&
        !(s->shut & VSOCK_SHUTDOWN_SEND))
        mask |= VEP_POLLOUT;
    return mask;
}

int vep_abort(struct vep *ep, int fd, uint64_t now)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (s->state == VEP_SS_LISTEN)
        release_accept_queue(ep, s, now);
    bool has_peer = s->state == VEP_SS_CONNECTED || s->state == VEP_SS_CLOSING ||
                    s->state == VEP_SS_CONNECTING;
    if (has_peer && !s->done)
        ep_send(ep, s, VSOCK_OP_RST, 0, NULL, 0, false);
    ep_sock_free(ep, s);
    return 0;
}

int vep_sock_error(struct vep *ep, int fd)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    int e = s->err;
    s->err = 0;
    return -e;
}

enum vep_sock_state vep_sock_state(const struct vep *ep, int fd)
{
    const struct vep_sock *s = ep_sock(ep, fd);
    return s != NULL ? s->state : VEP_SS_FREE;
}

/* vsock_update_buffer_size: clamped to the socket's bounds; a socket with a
 * transport takes the new size as buf_alloc and announces a change with
 * CREDIT_UPDATE (virtio_transport_notify_buffer_size), whatever its state:
 * connecting, connected, refused, timed out. A listener has no transport:
 * its size only passes to the sockets it accepts. */
static int update_buffer_size(struct vep *ep, struct vep_sock *s, uint64_t val)
{
    if (val < s->buffer_min)
        val = s->buffer_min;
    if (val > s->buffer_max)
        val = s->buffer_max;
    bool changed = val != s->buffer_size;
    s->buffer_size = val;
    s->buf_alloc = val > UINT32_MAX ? UINT32_MAX : (uint32_t)val;
    if (changed && s->has_transport)
        return ep_send(ep, s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, false);
    return 0;
}

int vep_set_buf_size(struct vep *ep, int fd, uint32_t bytes)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    return update_buffer_size(ep, s, bytes);
}

int vep_set_buf_max_size(struct vep *ep, int fd, uint64_t bytes)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    s->buffer_max = bytes;
    return update_buffer_size(ep, s, s->buffer_size);
}

int vep_set_buf_min_size(struct vep *ep, int fd, uint64_t bytes)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    s->buffer_min = bytes;
    return update_buffer_size(ep, s, s->buffer_size);
}

/* vsock_set_rcvlowat; 6.12 first kicks a sender that may wait for space
 * (virtio_transport_notify_set_rcvlowat). */
int vep_set_rcvlowat(struct vep *ep, int fd, uint32_t bytes)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (bytes > s->buffer_size)
        return -EINVAL;
    if (ep_linux_6_12(ep) && s->has_transport && s->rx_unread < bytes &&
        s->fwd_cnt != s->last_fwd_cnt) {
        int err = ep_send(ep, s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, false);
        if (err < 0)
            return err;
    }
    s->rcvlowat = bytes ? bytes : 1;
    return 0;
}

int vep_sock_name(const struct vep *ep, int fd, uint32_t *local_port, uint64_t *peer_cid,
                  uint32_t *peer_port)
{
    const struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (local_port != NULL)
        *local_port = s->bound ? s->local_port : VSOCK_PORT_ANY;
    if (peer_cid != NULL)
        *peer_cid = s->peer_cid;
    if (peer_port != NULL)
        *peer_port = s->peer_port;
    return 0;
}

int vep_outq(const struct vep *ep, int fd)
{
    const struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (!ep_linux_6_12(ep))
        return -EOPNOTSUPP; /* 6.1: sock_no_ioctl */
    if (!s->has_transport)
        return -EOPNOTSUPP;
    if (s->state == VEP_SS_LISTEN)
        return -EINVAL;
    return s->unsent > INT32_MAX ? INT32_MAX : (int)s->unsent;
}

uint32_t vep_rx_queued(const struct vep *ep, int fd)
{
    const struct vep_sock *s = ep_sock(ep, fd);
    return s != NULL ? s->rx_bytes : 0;
}

uint32_t vep_send_space(const struct vep *ep, int fd, uint32_t *limit)
{
    const struct vep_sock *s = ep_user_sock(ep, fd);
    bool connected = s != NULL && s->state == VEP_SS_CONNECTED;
    if (limit != NULL)
        *limit = connected ? ep_tx_buf_size(s) : 0;
    return connected ? send_room(ep, s) : 0;
}

int vep_credit_request(struct vep *ep, int fd)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (s->state != VEP_SS_CONNECTED)
        return -ENOTCONN;
    return ep_send(ep, s, VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0, false);
}

/* What vsock_for_each_connected_socket walks. */
static bool in_connection_table(const struct vep_sock *s)
{
    return s->state != VEP_SS_FREE && s->in_conn;
}

void vep_reset_all(struct vep *ep)
{
    for (uint32_t i = 0; i < ep->nsocks; i++) {
        struct vep_sock *s = &ep->socks[i];
        if (!in_connection_table(s))
            continue;
        s->state = VEP_SS_UNCONNECTED;
        s->err = ECONNRESET;
    }
}

void vep_orphan_all(struct vep *ep)
{
    for (uint32_t i = 0; i < ep->nsocks; i++) {
        struct vep_sock *s = &ep->socks[i];
        if (!in_connection_table(s))
            continue;
        s->done = true;
        s->peer_shut = SHUT_BOTH;
        s->err = ECONNRESET;
        if (s->released)
            ep_sock_free(ep, s);
    }
}
