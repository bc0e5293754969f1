/* The endpoint's socket API, with the semantics of Linux 6.1's af_vsock.c and
 * virtio_transport_common.c for non-blocking sockets. */
#include "transport/ep_ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SHUT_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

uint32_t ep_peer_free(const struct vep_sock *s)
{
    int64_t free_bytes = (int64_t)s->peer_buf_alloc - (int64_t)(uint32_t)(s->tx_cnt - s->peer_fwd_cnt);
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
    return 0;
}

int vep_listen(struct vep *ep, int fd, int backlog)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (s->ever_connected || (s->state != VEP_SS_UNCONNECTED && s->state != VEP_SS_LISTEN))
        return -EINVAL;
    if (!s->bound)
        return -EINVAL; /* vsock requires an explicit bind before listen */
    /* No transport check here, as Linux's vsock_listen: a seqpacket
     * listener without SEQPACKET negotiated listens, and every REQUEST it
     * gets is refused (recv_listen). */
    if (backlog < 0 || backlog > VEP_MAX_BACKLOG)
        backlog = VEP_MAX_BACKLOG;
    s->backlog = backlog;
    if (s->state != VEP_SS_LISTEN) {
        s->state = VEP_SS_LISTEN;
        ep_hash(ep, s);
    }
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

int vep_connect(struct vep *ep, int fd, uint64_t cid, uint32_t port, uint64_t now)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (s->state == VEP_SS_CONNECTING)
        return -EALREADY;
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
    if (!s->bound) {
        int err = bind_ephemeral(ep, s);
        if (err < 0)
            return err;
    }
    s->peer_cid = cid;
    s->peer_port = port;
    s->err = 0;
    s->state = VEP_SS_CONNECTING;
    ep_hash(ep, s);
    int err = ep_send(ep, s, VSOCK_OP_REQUEST, 0, NULL, 0, false);
    if (err < 0) {
        ep_unhash(ep, s);
        s->state = VEP_SS_UNCONNECTED;
        return err;
    }
    ep_timer_arm(ep, s, VEP_TIMER_CONNECT, now + ep->cfg.connect_timeout_ns);
    return -EINPROGRESS;
}

void ep_connect_timeout(struct vep *ep, struct vep_sock *s)
{
    if (s->state != VEP_SS_CONNECTING)
        return;
    ep_unhash(ep, s);
    s->state = VEP_SS_UNCONNECTED;
    s->err = ETIMEDOUT;
    ep_cancel_tx(ep, s);
}

/* Whether a send must fail before looking at credit, and with what. */
static int send_precheck(const struct vep_sock *s)
{
    if ((s->shut & VSOCK_SHUTDOWN_SEND) || (s->peer_shut & VSOCK_SHUTDOWN_RCV))
        return -EPIPE;
    if (s->state != VEP_SS_CONNECTED)
        return -ENOTCONN;
    return 0;
}

static uint32_t sndbuf_room(const struct vep *ep, const struct vep_sock *s)
{
    return s->tx_queued < ep->cfg.max_sndbuf ? ep->cfg.max_sndbuf - s->tx_queued : 0;
}

static int64_t send_stream(struct vep *ep, struct vep_sock *s, const uint8_t *buf, size_t len)
{
    size_t sent = 0;
    while (sent < len) {
        uint32_t room = ep_peer_free(s);
        uint32_t sb = sndbuf_room(ep, s);
        if (sb < room)
            room = sb;
        if (room == 0)
            break;
        size_t chunk = len - sent;
        if (chunk > ep->cfg.max_payload)
            chunk = ep->cfg.max_payload;
        if (chunk > room)
            chunk = room;
        int err = ep_send(ep, s, VSOCK_OP_RW, 0, buf + sent, (uint32_t)chunk, false);
        if (err < 0)
            return sent > 0 ? (int64_t)sent : err;
        sent += chunk;
    }
    return sent > 0 ? (int64_t)sent : -EAGAIN;
}

/* A seqpacket message goes out whole or not at all, so a reader never sees
 * half of one: Linux may split it across credit waits, but the bytes and
 * boundaries the peer receives are the same. */
static int64_t send_seqpacket(struct vep *ep, struct vep_sock *s, const uint8_t *buf, size_t len,
                              unsigned flags)
{
    if (len > s->peer_buf_alloc || len > ep->cfg.max_sndbuf)
        return -EMSGSIZE;
    if (ep_peer_free(s) < len || sndbuf_room(ep, s) < len)
        return -EAGAIN;
    size_t sent = 0;
    do {
        size_t chunk = len - sent;
        if (chunk > ep->cfg.max_payload)
            chunk = ep->cfg.max_payload;
        uint32_t f = 0;
        if (sent + chunk == len)
            f = VSOCK_SEQ_EOM | ((flags & VEP_MSG_EOR) ? VSOCK_SEQ_EOR : 0);
        int err = ep_send(ep, s, VSOCK_OP_RW, f, buf + sent, (uint32_t)chunk, false);
        if (err < 0)
            return err; /* only allocation failure: the stream is now broken */
        sent += chunk;
    } while (sent < len);
    return (int64_t)len;
}

int64_t vep_send(struct vep *ep, int fd, const void *buf, size_t len, unsigned flags)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    int err = send_precheck(s);
    if (err < 0)
        return err;
    if (len == 0)
        return 0;
    if (buf == NULL)
        return -EFAULT;
    if (s->type == VSOCK_TYPE_SEQPACKET)
        return send_seqpacket(ep, s, buf, len, flags);
    return send_stream(ep, s, buf, len);
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
    if (free_space < (int64_t)VEP_MAX_PKT_BUF_SIZE || s->rx_bytes < s->rcvlowat)
        ep_send(ep, s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, false);
}

static void consume_pkt(struct vep_sock *s)
{
    struct vep_pkt *p = pktq_pop(&s->rxq);
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

static int64_t recv_stream(struct vep *ep, struct vep_sock *s, uint8_t *buf, size_t len,
                           bool peek)
{
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
        p->off += (uint32_t)n;
        if (p->off == p->len)
            consume_pkt(s); /* Linux frees credit a whole packet at a time */
    }
    maybe_credit_update(ep, s);
    return (int64_t)copied;
}

static int64_t recv_seqpacket(struct vep *ep, struct vep_sock *s, uint8_t *buf, size_t len,
                              unsigned flags, unsigned *out_flags)
{
    if (flags & VEP_MSG_PEEK)
        return -EOPNOTSUPP; /* 6.1 has no seqpacket peek */
    size_t copied = 0;
    uint64_t total = 0;
    bool eom = false;
    while (!eom && s->rxq.head != NULL) {
        struct vep_pkt *p = s->rxq.head;
        size_t n = p->len < len - copied ? p->len : len - copied;
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
    if (total > len)
        *out_flags |= VEP_MSG_TRUNC;
    if (flags & VEP_MSG_TRUNC)
        return total > INT64_MAX ? INT64_MAX : (int64_t)total;
    return (int64_t)copied;
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
    if (buf == NULL)
        return -EFAULT;
    bool empty = s->type == VSOCK_TYPE_SEQPACKET ? s->msg_count == 0 : s->rx_bytes == 0;
    if (empty) {
        if (s->err != 0)
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
    if (s->rx_bytes == 0)
        ep_set_state(ep, s, VEP_SS_CLOSING);
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
        uint32_t have = s->type == VSOCK_TYPE_SEQPACKET ? s->msg_count : s->rx_bytes;
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
    (void)ep;
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

int vep_set_buf_size(struct vep *ep, int fd, uint32_t bytes)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (bytes < VEP_BUF_SIZE_MIN)
        bytes = VEP_BUF_SIZE_MIN;
    if (bytes > VEP_BUF_SIZE_MAX)
        bytes = VEP_BUF_SIZE_MAX;
    /* af_vsock's vsock_update_buffer_size notifies the transport (which
     * sends CREDIT_UPDATE) only when the size changes. */
    bool changed = bytes != s->buf_alloc;
    s->buf_alloc = bytes;
    if (s->rcvlowat > bytes)
        s->rcvlowat = bytes;
    if (changed && s->state == VEP_SS_CONNECTED)
        return ep_send(ep, s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, false);
    return 0;
}

int vep_set_rcvlowat(struct vep *ep, int fd, uint32_t bytes)
{
    struct vep_sock *s = ep_user_sock(ep, fd);
    if (s == NULL)
        return -EBADF;
    if (bytes > s->buf_alloc)
        return -EINVAL;
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

uint32_t vep_rx_queued(const struct vep *ep, int fd)
{
    const struct vep_sock *s = ep_sock(ep, fd);
    return s != NULL ? s->rx_bytes : 0;
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

static bool in_connection_table(const struct vep_sock *s)
{
    return s->state != VEP_SS_FREE && s->ever_connected && s->hashed;
}

void vep_reset_all(struct vep *ep)
{
    for (uint32_t i = 0; i < ep->nsocks; i++) {
        struct vep_sock *s = &ep->socks[i];
        if (!in_connection_table(s))
            continue;
        ep_set_state(ep, s, VEP_SS_UNCONNECTED);
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
