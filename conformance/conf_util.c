/* Helpers for cases: assertions with both values, connection set-up, whole
 * sends and exact receives with waits, and the raw packet conveniences.
 * Each takes the case's file and line so a failure points at the case. */
#include "conformance/conf_case.h"
#include "conformance/conf_target.h"

#include "driver/driver.h"
#include "ring/ring.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ---- */

static const struct {
    int err;
    const char *name;
} errnames[] = {
    {EPERM, "EPERM"},           {ENOENT, "ENOENT"},           {EINTR, "EINTR"},
    {EIO, "EIO"},               {EBADF, "EBADF"},             {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},         {EACCES, "EACCES"},           {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},           {EINVAL, "EINVAL"},           {ENOSPC, "ENOSPC"},
    {EPIPE, "EPIPE"},           {ERANGE, "ERANGE"},           {ENODEV, "ENODEV"},
    {EPROTO, "EPROTO"},         {EMSGSIZE, "EMSGSIZE"},       {EOPNOTSUPP, "EOPNOTSUPP"},
    {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},                     {EADDRINUSE, "EADDRINUSE"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"},                         {ENETUNREACH, "ENETUNREACH"},
    {ECONNABORTED, "ECONNABORTED"},                           {ECONNRESET, "ECONNRESET"},
    {ENOBUFS, "ENOBUFS"},       {EISCONN, "EISCONN"},         {ENOTCONN, "ENOTCONN"},
    {ETIMEDOUT, "ETIMEDOUT"},   {ECONNREFUSED, "ECONNREFUSED"},
    {EALREADY, "EALREADY"},     {EINPROGRESS, "EINPROGRESS"}, {EDESTADDRREQ, "EDESTADDRREQ"},
};

const char *conf_errname(int err, char *buf, size_t len)
{
    int e = err < 0 ? -err : err;
    for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
        if (errnames[i].err == e) {
            snprintf(buf, len, "%s%s", err < 0 ? "-" : "", errnames[i].name);
            return buf;
        }
    snprintf(buf, len, "errno %d", err);
    return buf;
}

_Noreturn void conf_fail_eq(struct conf *c, const char *file, int line, const char *a,
                            const char *e, int64_t av, int64_t ev)
{
    conf_fail(c, file, line, "%s == %s failed: got %" PRId64 " (0x%" PRIx64 "), expected %" PRId64
              " (0x%" PRIx64 ")", a, e, av, (uint64_t)av, ev, (uint64_t)ev);
}

/* A value that is a count or a negative errno, as text. */
static const char *ret_text(int64_t v, char *buf, size_t len)
{
    if (v < 0 && v > -4096)
        return conf_errname((int)v, buf, len);
    snprintf(buf, len, "%" PRId64, v);
    return buf;
}

_Noreturn void conf_fail_ret(struct conf *c, const char *file, int line, const char *a,
                             int64_t av, int64_t ev)
{
    char x[32], y[32];
    conf_fail(c, file, line, "%s returned %s, expected %s", a, ret_text(av, x, sizeof(x)),
              ret_text(ev, y, sizeof(y)));
}

void conf_hdr_format(const struct vsock_hdr *h, char *buf, size_t len)
{
    char op[16], type[16];
    if (h->op >= 1 && h->op <= 7)
        snprintf(op, sizeof(op), "%s", vsock_op_name(h->op));
    else
        snprintf(op, sizeof(op), "op%u", (unsigned)h->op);
    if (h->type == VSOCK_TYPE_STREAM || h->type == VSOCK_TYPE_SEQPACKET)
        snprintf(type, sizeof(type), "%s", vsock_type_name(h->type));
    else
        snprintf(type, sizeof(type), "%u", (unsigned)h->type);
    snprintf(buf, len,
             "%s %" PRIu64 ":%" PRIu32 " -> %" PRIu64 ":%" PRIu32 " type=%s len=%" PRIu32
             " flags=0x%" PRIx32 " buf_alloc=%" PRIu32 " fwd_cnt=%" PRIu32,
             op, h->src_cid, h->src_port, h->dst_cid, h->dst_port, type, h->len, h->flags,
             h->buf_alloc, h->fwd_cnt);
}

bool conf_pktlog_init(struct conf_pktlog *log, uint32_t cap, const char *head)
{
    memset(log, 0, sizeof(*log));
    snprintf(log->head, sizeof(log->head), "%s", head);
    log->e = calloc(cap, sizeof(*log->e));
    log->cap = log->e != NULL ? cap : 0;
    if (log->e == NULL)
        snprintf(log->unavailable, sizeof(log->unavailable), "out of memory for the transcript");
    return log->e != NULL;
}

void conf_pktlog_add(struct conf_pktlog *log, bool to_host, const struct vsock_hdr *h)
{
    if (log->n == log->cap) {
        log->dropped++;
        return;
    }
    log->e[log->n++] = (struct conf_pktlog_entry){to_host, *h};
}

void conf_pktlog_insert(struct conf_pktlog *log, uint32_t at, bool to_host,
                        const struct vsock_hdr *h)
{
    if (log->n == log->cap || at > log->n) {
        log->dropped++;
        return;
    }
    memmove(&log->e[at + 1], &log->e[at], (size_t)(log->n - at) * sizeof(log->e[0]));
    log->e[at] = (struct conf_pktlog_entry){to_host, *h};
    log->n++;
}

void conf_pktlog_print(const struct conf_pktlog *log)
{
    char line[256];
    printf("vsocksim-pkt begin %s\n", log->head);
    for (uint32_t i = 0; i < log->n; i++) {
        conf_hdr_format(&log->e[i].h, line, sizeof(line));
        printf("vsocksim-pkt %s %s\n", log->e[i].to_host ? "g>h" : "h>g", line);
    }
    if (log->unavailable[0] != '\0')
        printf("vsocksim-pkt unavailable: %s\n", log->unavailable);
    printf("vsocksim-pkt end packets=%" PRIu32 " dropped=%" PRIu64 "\n", log->n, log->dropped);
    fflush(stdout);
}

/* The readable bytes of a hand-made chain, walked as a device walks it:
 * the first VSOCK_HDR_LEN into hdr (got of them), their total length. */
struct chain_bytes {
    uint8_t hdr[VSOCK_HDR_LEN];
    uint32_t got;
    uint64_t total;
};

/* False when the walk leaves the array, loops, nests tables, or meets a
 * header byte it does not know (a buffer the case gave no data for). */
static bool walk_readable(const struct conf_desc *d, unsigned n, int depth, struct chain_bytes *b)
{
    unsigned i = 0;
    for (unsigned steps = 0; steps < n; steps++) {
        const struct conf_desc *x = &d[i];
        if ((x->flags & VIRTQ_DESC_F_INDIRECT) && x->table != NULL) {
            if (depth > 0 || !walk_readable(x->table, x->ntable, depth + 1, b))
                return false;
        } else if (!(x->flags & VIRTQ_DESC_F_WRITE)) {
            uint32_t take = x->len < VSOCK_HDR_LEN - b->got ? x->len : VSOCK_HDR_LEN - b->got;
            if (take > 0 && x->data == NULL)
                return false;
            if (take > 0)
                memcpy(b->hdr + b->got, x->data, take);
            b->got += take;
            b->total += x->len;
        }
        if (!(x->flags & VIRTQ_DESC_F_NEXT))
            return true;
        if ((i = x->next) >= n)
            return false;
    }
    return false;
}

static uint64_t le_bytes(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | b[i];
    return v;
}

int conf_read_used_header(int (*read)(void *ctx, uint64_t gpa, void *dst, size_t len), void *ctx,
                          const struct conf_ring_info *r, uint16_t pos, struct vsock_hdr *out)
{
    memset(out, 0, sizeof(*out));
    uint16_t behind = (uint16_t)(r->used_idx - pos);
    if (r->num == 0 || behind == 0 || behind > r->num)
        return -EINVAL;
    /* used: flags, idx, then {le32 id, le32 len} per entry (2.7.8); the
     * id names the chain's first descriptor, whose buffer starts with the
     * packet header. */
    uint8_t elem[8], desc[VIRTQ_DESC_SIZE], hdr[VSOCK_HDR_LEN];
    int err = read(ctx, r->used + 4 + (uint64_t)(pos % r->num) * 8, elem, sizeof(elem));
    if (err != 0)
        return err;
    uint32_t id = (uint32_t)le_bytes(elem, 4);
    if (id >= r->num)
        return -EFAULT;
    err = read(ctx, r->desc + (uint64_t)id * VIRTQ_DESC_SIZE, desc, sizeof(desc));
    if (err == 0)
        err = read(ctx, le_bytes(desc, 8), hdr, sizeof(hdr));
    if (err != 0)
        return err;
    vsock_hdr_decode(hdr, out);
    return 0;
}

void conf_fill_driver_info(struct vdrv *drv, struct conf_driver_info *out)
{
    const struct vep *e = vdrv_sockets(drv);
    const struct vq_driver *rx = vdrv_queue(drv, VSOCK_VQ_RX);
    const struct vq_driver *tx = vdrv_queue(drv, VSOCK_VQ_TX);
    memset(out, 0, sizeof(*out));
    out->replies_queued = vep_tx_queued_replies(e);
    out->pkts_queued = vep_tx_queued_pkts(e);
    out->rx_pause_at = vdrv_rx_pause_replies(drv);
    out->rx_paused = vdrv_rx_paused(drv);
    out->rx_pauses = vdrv_counters(drv)->rx_paused;
    out->rx_last_used = rx->last_used_idx;
    out->tx_last_used = tx->last_used_idx;
    out->tx_free = vqd_num_free(tx);
}

bool conf_chain_read_header(const struct conf_desc *d, unsigned n, bool returned, bool error,
                            struct vsock_hdr *h)
{
    struct chain_bytes b;
    memset(&b, 0, sizeof(b));
    if (!walk_readable(d, n, 0, &b) || b.got < VSOCK_HDR_LEN)
        return false;
    vsock_hdr_decode(b.hdr, h);
    return returned || (error && h->len > b.total - VSOCK_HDR_LEN);
}

int64_t conf_pktlog_copy(const struct conf_pktlog *log, uint32_t first,
                         struct conf_pktlog_entry *out, uint32_t max)
{
    if (first > log->n)
        return -EINVAL;
    uint32_t n = log->n - first;
    for (uint32_t i = 0; i < n && i < max; i++)
        out[i] = log->e[first + i];
    return n;
}

void conf_pktlog_free(struct conf_pktlog *log)
{
    free(log->e);
    memset(log, 0, sizeof(*log));
}

void conf_chainlog_add(struct conf_chainlog *log, const struct vsock_hdr *h, const uint32_t *lens,
                       uint32_t n)
{
    if (log->n == log->cap) {
        uint32_t cap = log->cap ? log->cap * 2 : 64;
        struct conf_tx_chain *e = log->cap < CONF_CHAINLOG_MAX ? realloc(log->e, cap * sizeof(*e))
                                                                : NULL;
        if (e == NULL) {
            log->dropped++;
            return;
        }
        log->e = e;
        log->cap = cap;
    }
    struct conf_tx_chain *c = &log->e[log->n++];
    memset(c, 0, sizeof(*c));
    c->h = *h;
    c->ndesc = n;
    for (uint32_t i = 0; i < n && i < CONF_TX_CHAIN_LENS; i++)
        c->len[i] = lens[i];
}

int64_t conf_chainlog_copy(const struct conf_chainlog *log, uint32_t first,
                           struct conf_tx_chain *out, uint32_t max)
{
    if (first > log->n)
        return -EINVAL;
    uint32_t n = log->n - first;
    for (uint32_t i = 0; i < n && i < max; i++)
        out[i] = log->e[first + i];
    return n;
}

void conf_chainlog_free(struct conf_chainlog *log)
{
    free(log->e);
    memset(log, 0, sizeof(*log));
}

int conf_pktq_init(struct conf_pktq *q)
{
    if (q->pkts == NULL)
        q->pkts = calloc(CONF_PKTQ_MAX, sizeof(*q->pkts));
    return q->pkts != NULL ? 0 : -ENOMEM;
}

void conf_pktq_push(struct conf_pktq *q, const struct vsock_hdr *h, const uint8_t *payload,
                    uint32_t len)
{
    if (q->pkts == NULL || q->count == CONF_PKTQ_MAX) {
        q->overflow++;
        return;
    }
    struct conf_pkt *p = &q->pkts[(q->head + q->count) % CONF_PKTQ_MAX];
    p->h = *h;
    p->len = len;
    p->data = NULL;
    if (len > 0) {
        p->data = malloc(len);
        if (p->data == NULL) {
            q->overflow++;
            return;
        }
        memcpy(p->data, payload, len);
    }
    q->count++;
}

bool conf_pktq_nonempty(void *q)
{
    return ((const struct conf_pktq *)q)->count > 0;
}

bool conf_pktq_pop(struct conf_pktq *q, struct vsock_hdr *h, void *payload, uint32_t cap,
                   uint32_t *len)
{
    if (q->count == 0)
        return false;
    struct conf_pkt *p = &q->pkts[q->head];
    *h = p->h;
    *len = p->len;
    if (payload != NULL && p->data != NULL)
        memcpy(payload, p->data, p->len < cap ? p->len : cap);
    free(p->data);
    p->data = NULL;
    q->head = (q->head + 1) % CONF_PKTQ_MAX;
    q->count--;
    return true;
}

void conf_pktq_free(struct conf_pktq *q)
{
    struct vsock_hdr h;
    uint32_t len;
    while (q->pkts != NULL && conf_pktq_pop(q, &h, NULL, 0, &len))
        ;
    free(q->pkts);
    q->pkts = NULL;
}

uint64_t conf_peer_cid(const struct conf *c, enum conf_side s)
{
    return s == CONF_GUEST ? conf_host_cid(c) : conf_guest_cid(c);
}

/* ---- sockets ---- */

static void require_ok(struct conf *c, const char *file, int line, const char *what, int64_t r)
{
    char e[32];
    if (r < 0)
        conf_fail(c, file, line, "%s failed: %s", what, conf_errname((int)r, e, sizeof(e)));
}

int conf_listen_at(struct conf *c, const char *file, int line, enum conf_side side, int type,
                   uint32_t port, int backlog)
{
    int fd = conf_socket(c, side, type);
    require_ok(c, file, line, "socket", fd);
    require_ok(c, file, line, "bind", conf_bind(c, side, fd, port));
    require_ok(c, file, line, "listen", conf_listen(c, side, fd, backlog));
    return fd;
}

int conf_connect_at(struct conf *c, const char *file, int line, enum conf_side side, int type,
                    uint32_t port, int *fd)
{
    *fd = conf_socket(c, side, type);
    require_ok(c, file, line, "socket", *fd);
    int r = conf_connect(c, side, *fd, conf_peer_cid(c, side), port);
    if (r != -EINPROGRESS)
        return r;
    unsigned ev = conf_wait_poll(c, side, *fd, VEP_POLLOUT | VEP_POLLERR, CONF_CONNECT_TIMEOUT_NS);
    if (ev == 0)
        conf_fail(c, file, line, "connect to port %" PRIu32 " had no outcome within %" PRIu64
                  " ms", port, CONF_CONNECT_TIMEOUT_NS / 1000000);
    return conf_sock_error(c, side, *fd);
}

int conf_accept_at(struct conf *c, const char *file, int line, enum conf_side side, int lfd)
{
    if (conf_wait_poll(c, side, lfd, VEP_POLLIN, CONF_CONNECT_TIMEOUT_NS) == 0)
        conf_fail(c, file, line, "no connection to accept within %" PRIu64 " ms",
                  CONF_CONNECT_TIMEOUT_NS / 1000000);
    int fd = conf_accept(c, side, lfd);
    require_ok(c, file, line, "accept", fd);
    return fd;
}

void conf_pair_at(struct conf *c, const char *file, int line, enum conf_side client_side,
                  int type, uint32_t port, struct conf_pair *p)
{
    enum conf_side server = conf_other(client_side);
    p->client_side = client_side;
    p->listener = conf_listen_at(c, file, line, server, type, port, 16);
    int r = conf_connect_at(c, file, line, client_side, type, port, &p->client);
    require_ok(c, file, line, "connect", r);
    p->server = conf_accept_at(c, file, line, server, p->listener);
}

struct send_state {
    enum conf_side side;
    int fd;
    const uint8_t *buf;
    size_t len;
    size_t sent;
    unsigned flags;
    int64_t err;
};

/* Sends what credit allows; done when all went or an error came. */
static bool send_some(struct conf *c, void *arg)
{
    struct send_state *s = arg;
    while (s->sent < s->len && s->err == 0) {
        int64_t r = conf_send(c, s->side, s->fd, s->buf + s->sent, s->len - s->sent, s->flags);
        if (r == -EAGAIN)
            return false;
        if (r <= 0)
            s->err = r < 0 ? r : -EIO;
        else
            s->sent += (size_t)r;
    }
    return true;
}

void conf_send_all_at(struct conf *c, const char *file, int line, enum conf_side side, int fd,
                      const void *buf, size_t len, unsigned flags)
{
    struct send_state s = {side, fd, buf, len, 0, flags, 0};
    if (len == 0) {
        require_ok(c, file, line, "send", conf_send(c, side, fd, buf, 0, flags));
        return;
    }
    if (!conf_wait(c, send_some, &s, CONF_IO_TIMEOUT_NS))
        conf_fail(c, file, line, "send: only %zu of %zu bytes went within %" PRIu64 " ms",
                  s.sent, len, CONF_IO_TIMEOUT_NS / 1000000);
    require_ok(c, file, line, "send", s.err);
}

struct recv_state {
    enum conf_side side;
    int fd;
    uint8_t *buf;
    size_t len;
    size_t got;
    unsigned flags;
    unsigned out_flags;
    int64_t ret; /* of the last recv that ended the wait */
    bool one;    /* one read ends it */
};

static bool recv_some(struct conf *c, void *arg)
{
    struct recv_state *s = arg;
    while (s->got < s->len || (s->one && s->len == 0)) {
        int64_t r = conf_recv(c, s->side, s->fd, s->buf + s->got, s->len - s->got, s->flags,
                              &s->out_flags);
        if (r == -EAGAIN)
            return false;
        s->ret = r;
        if (r <= 0 || s->one)
            return true;
        s->got += (size_t)r;
    }
    return true;
}

void conf_recv_exact_at(struct conf *c, const char *file, int line, enum conf_side side, int fd,
                        void *buf, size_t len)
{
    struct recv_state s = {side, fd, buf, len, 0, 0, 0, 1, false};
    if (!conf_wait(c, recv_some, &s, CONF_IO_TIMEOUT_NS))
        conf_fail(c, file, line, "recv: only %zu of %zu bytes came within %" PRIu64 " ms", s.got,
                  len, CONF_IO_TIMEOUT_NS / 1000000);
    if (s.ret == 0)
        conf_fail(c, file, line, "recv: end of stream after %zu of %zu bytes", s.got, len);
    require_ok(c, file, line, "recv", s.ret);
}

int64_t conf_recv_msg_at(struct conf *c, const char *file, int line, enum conf_side side, int fd,
                         void *buf, size_t cap, unsigned flags, unsigned *out_flags)
{
    struct recv_state s = {side, fd, buf, cap, 0, flags, 0, 0, true};
    if (!conf_wait(c, recv_some, &s, CONF_IO_TIMEOUT_NS))
        conf_fail(c, file, line, "recv: nothing came within %" PRIu64 " ms",
                  CONF_IO_TIMEOUT_NS / 1000000);
    if (out_flags != NULL)
        *out_flags = s.out_flags;
    return s.ret;
}

void conf_wait_eof_at(struct conf *c, const char *file, int line, enum conf_side side, int fd)
{
    uint8_t b[64];
    int64_t r = conf_recv_msg_at(c, file, line, side, fd, b, sizeof(b), 0, NULL);
    if (r > 0)
        conf_fail(c, file, line, "expected end of stream, got %" PRId64 " bytes", r);
    require_ok(c, file, line, "recv", r);
}

unsigned conf_wait_poll_at(struct conf *c, const char *file, int line, enum conf_side side,
                           int fd, unsigned events)
{
    unsigned got = conf_wait_poll(c, side, fd, events, CONF_IO_TIMEOUT_NS);
    if (got == 0)
        conf_fail(c, file, line, "poll events 0x%x did not come within %" PRIu64
                  " ms (poll shows 0x%x)", events, CONF_IO_TIMEOUT_NS / 1000000,
                  conf_poll(c, side, fd));
    return got;
}

struct transfer {
    enum conf_side from;
    int sfd, rfd;
    size_t len, sent, got;
    uint32_t tag;
    uint8_t *buf; /* TRANSFER_CHUNK bytes */
    int64_t err;
    size_t bad; /* offset of the first wrong byte, or SIZE_MAX */
};

#define TRANSFER_CHUNK 16384u

static bool transfer_step(struct conf *c, void *arg)
{
    struct transfer *t = arg;
    bool progress = true;
    while (progress && t->err == 0 && t->bad == SIZE_MAX && t->got < t->len) {
        progress = false;
        if (t->sent < t->len) {
            size_t n = t->len - t->sent < TRANSFER_CHUNK ? t->len - t->sent : TRANSFER_CHUNK;
            conf_fill(t->buf, n, t->tag, t->sent);
            int64_t r = conf_send(c, t->from, t->sfd, t->buf, n, 0);
            if (r > 0) {
                t->sent += (size_t)r;
                progress = true;
            } else if (r != -EAGAIN) {
                t->err = r < 0 ? r : -EIO;
            }
        }
        int64_t r = conf_recv(c, conf_other(t->from), t->rfd, t->buf, TRANSFER_CHUNK, 0, NULL);
        if (r > 0) {
            size_t ok = conf_check(t->buf, (size_t)r, t->tag, t->got);
            if (ok < (size_t)r)
                t->bad = t->got + ok;
            t->got += (size_t)r;
            progress = true;
        } else if (r != -EAGAIN) {
            t->err = r < 0 ? r : -EPIPE; /* end of stream before all came */
        }
    }
    return t->err != 0 || t->bad != SIZE_MAX || t->got >= t->len;
}

void conf_transfer_at(struct conf *c, const char *file, int line, enum conf_side from, int sfd,
                      int rfd, size_t len, uint32_t tag)
{
    struct transfer t = {from, sfd, rfd, len, 0, 0, tag, conf_scratch(c, TRANSFER_CHUNK), 0,
                         SIZE_MAX};
    /* Generous: a real target moves about a megabyte in well under this. */
    uint64_t timeout = CONF_IO_TIMEOUT_NS + (uint64_t)(len / 65536) * CONF_MS(100);
    if (!conf_wait(c, transfer_step, &t, timeout))
        conf_fail(c, file, line, "transfer: %zu of %zu bytes sent, %zu received within %" PRIu64
                  " ms", t.sent, len, t.got, timeout / 1000000);
    if (t.bad != SIZE_MAX)
        conf_fail(c, file, line, "transfer: byte %zu of the stream is wrong", t.bad);
    if (t.got > len)
        conf_fail(c, file, line, "transfer: %zu bytes received, only %zu sent", t.got, len);
    require_ok(c, file, line, "transfer", t.err);
}

static uint8_t pattern_byte(uint32_t tag, size_t off)
{
    uint32_t x = tag * 2654435761u ^ (uint32_t)off * 40503u ^ (uint32_t)(off >> 16);
    return (uint8_t)(x ^ x >> 8 ^ x >> 16);
}

void conf_fill(void *buf, size_t len, uint32_t tag, size_t offset)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(tag, offset + i);
}

size_t conf_check(const void *buf, size_t len, uint32_t tag, size_t offset)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_byte(tag, offset + i))
            return i;
    return len;
}

/* ---- raw ---- */

struct vsock_hdr conf_raw_hdr(const struct conf *c, uint16_t op, uint32_t src_port,
                              uint32_t dst_port, uint16_t type)
{
    struct vsock_hdr h = {
        .src_cid = conf_guest_cid(c),
        .dst_cid = conf_host_cid(c),
        .src_port = src_port,
        .dst_port = dst_port,
        .type = type,
        .op = op,
        .buf_alloc = CONF_DEFAULT_BUF_ALLOC,
    };
    return h;
}

void conf_raw_begin_at(struct conf *c, const char *file, int line)
{
    require_ok(c, file, line, "conf_raw_begin", conf_raw_begin(c));
}

void conf_raw_send_at(struct conf *c, const char *file, int line, const struct vsock_hdr *h,
                      const void *payload, uint32_t len)
{
    require_ok(c, file, line, "conf_raw_send", conf_raw_send(c, h, payload, len));
}

uint32_t conf_raw_expect_at(struct conf *c, const char *file, int line, struct vsock_hdr *h,
                            void *payload, uint32_t cap, int op)
{
    uint32_t len = 0;
    int r = conf_raw_recv(c, h, payload, cap, &len, CONF_MS(1000));
    require_ok(c, file, line, "conf_raw_recv", r);
    if (r == 0)
        conf_fail(c, file, line, "expected %s, but no packet came within 1000 ms",
                  op < 0 ? "a packet" : vsock_op_name((uint16_t)op));
    if (op >= 0 && h->op != op) {
        char got[160];
        conf_hdr_format(h, got, sizeof(got));
        conf_fail(c, file, line, "expected %s, got %s", vsock_op_name((uint16_t)op), got);
    }
    return len;
}

void conf_raw_expect_none_at(struct conf *c, const char *file, int line, uint64_t timeout_ns)
{
    struct vsock_hdr h;
    uint32_t len;
    int r = conf_raw_recv(c, &h, NULL, 0, &len, timeout_ns);
    require_ok(c, file, line, "conf_raw_recv", r);
    if (r == 1) {
        char got[160];
        conf_hdr_format(&h, got, sizeof(got));
        conf_fail(c, file, line, "expected no packet within %" PRIu64 " ms, got %s",
                  timeout_ns / 1000000, got);
    }
}

void conf_require_addr_at(struct conf *c, const char *file, int line, const struct vsock_hdr *h,
                          uint32_t host_port, uint32_t guest_port)
{
    if (h->src_cid != conf_host_cid(c) || h->dst_cid != conf_guest_cid(c) ||
        h->src_port != host_port || h->dst_port != guest_port) {
        char got[160];
        conf_hdr_format(h, got, sizeof(got));
        conf_fail(c, file, line, "expected %" PRIu64 ":%" PRIu32 " -> %" PRIu64 ":%" PRIu32
                  ", got %s", conf_host_cid(c), host_port, conf_guest_cid(c), guest_port, got);
    }
}

struct vsock_hdr conf_raw_connect_at(struct conf *c, const char *file, int line, uint32_t gport,
                                     uint32_t hport, uint16_t type, uint32_t buf_alloc)
{
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_REQUEST, gport, hport, type);
    h.buf_alloc = buf_alloc;
    conf_raw_send_at(c, file, line, &h, NULL, 0);
    struct vsock_hdr r;
    conf_raw_expect_at(c, file, line, &r, NULL, 0, VSOCK_OP_RESPONSE);
    conf_require_addr_at(c, file, line, &r, hport, gport);
    if (r.type != type)
        conf_fail(c, file, line, "RESPONSE has type %u, the REQUEST had %u", (unsigned)r.type,
                  (unsigned)type);
    return r;
}

/* ---- the host side's raw mode ---- */

struct vsock_hdr conf_raw_host_hdr(const struct conf *c, uint16_t op, uint32_t src_port,
                                   uint32_t dst_port, uint16_t type)
{
    struct vsock_hdr h = conf_raw_hdr(c, op, src_port, dst_port, type);
    h.src_cid = conf_host_cid(c);
    h.dst_cid = conf_guest_cid(c);
    return h;
}

void conf_raw_host_begin_at(struct conf *c, const char *file, int line)
{
    require_ok(c, file, line, "conf_raw_host_begin", conf_raw_host_begin(c));
}

void conf_raw_host_send_at(struct conf *c, const char *file, int line, const struct vsock_hdr *h,
                           const void *payload, uint32_t len)
{
    require_ok(c, file, line, "conf_raw_host_send", conf_raw_host_send(c, h, payload, len));
}

uint32_t conf_raw_host_expect_at(struct conf *c, const char *file, int line, struct vsock_hdr *h,
                                 void *payload, uint32_t cap, int op)
{
    uint32_t len = 0;
    int r = conf_raw_host_recv(c, h, payload, cap, &len, CONF_MS(1000));
    require_ok(c, file, line, "conf_raw_host_recv", r);
    if (r == 0)
        conf_fail(c, file, line, "expected %s from the guest, but none came within 1000 ms",
                  op < 0 ? "a packet" : vsock_op_name((uint16_t)op));
    if (op >= 0 && h->op != op) {
        char got[160];
        conf_hdr_format(h, got, sizeof(got));
        conf_fail(c, file, line, "expected %s from the guest, got %s",
                  vsock_op_name((uint16_t)op), got);
    }
    return len;
}

void conf_raw_host_expect_none_at(struct conf *c, const char *file, int line,
                                  uint64_t timeout_ns)
{
    struct vsock_hdr h;
    uint32_t len;
    int r = conf_raw_host_recv(c, &h, NULL, 0, &len, timeout_ns);
    require_ok(c, file, line, "conf_raw_host_recv", r);
    if (r == 1) {
        char got[160];
        conf_hdr_format(&h, got, sizeof(got));
        conf_fail(c, file, line, "expected nothing from the guest within %" PRIu64
                  " ms, got %s", timeout_ns / 1000000, got);
    }
}
