/* Running a packet script against a target: raw packets for the guest,
 * host sockets by port, variables bound by < lines. A mismatch fails the
 * case at the script's file:line with the expected and the received
 * packet. */
#include "conformance/conf_case.h"
#include "conformance/script_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define RX_CAP (64u * 1024u + 64u)

struct hconn {
    uint32_t port;
    int lfd;  /* listener named port, or -1 */
    int fd;   /* connection, or -1 */
    int type;
};

struct run {
    const struct script *s;
    struct conf *c;
    const struct scmd *cmd; /* the one running, for messages */
    uint64_t val[SCRIPT_MAX_VARS];
    bool bound[SCRIPT_MAX_VARS];
    struct hconn h[SCRIPT_MAX_CONNS];
    unsigned nh;
    uint8_t *rx;  /* RX_CAP bytes of scratch */
    int64_t qerr_seen[2]; /* queue errors (rx, tx) the script has accounted for */
};

#define FAIL(r, ...) conf_fail((r)->c, (r)->s->name, (int)(r)->cmd->line, __VA_ARGS__)

static const uint8_t *bytes_of(const struct run *r, const struct sbytes *b)
{
    return r->s->pool + b->off;
}

/* The line as written, for messages. */
static void line_text(const struct run *r, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s", (int)r->cmd->text.len, (const char *)bytes_of(r, &r->cmd->text));
}

/* Up to 48 payload bytes, escaped. */
static void show_bytes(const uint8_t *p, uint32_t n, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "\"");
    for (uint32_t i = 0; i < n && i < 48 && used + 6 < len; i++) {
        uint8_t ch = p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            buf[used++] = (char)ch;
        else
            used += (size_t)snprintf(buf + used, len - used, "\\x%02x", ch);
    }
    snprintf(buf + used, len - used, "\"%s", n > 48 ? "..." : "");
}

/* ---- values ---- */

static uint64_t resolve(struct run *r, const struct sval *v)
{
    switch (v->kind) {
    case SV_NUM: return v->num;
    case SV_GUEST: return conf_guest_cid(r->c);
    case SV_HOST: return conf_host_cid(r->c);
    case SV_VAR:
        if (!r->bound[v->var])
            FAIL(r, "$%s has no value yet (its < line did not run)", r->s->vars[v->var]);
        return r->val[v->var];
    case SV_ANY: break;
    }
    FAIL(r, "a value that matches anything cannot be sent");
}

/* Whether got matches v, binding an unbound variable. */
static bool match(struct run *r, const struct sval *v, uint64_t got)
{
    if (v->kind == SV_ANY)
        return true;
    if (v->kind == SV_VAR && !r->bound[v->var]) {
        r->bound[v->var] = true;
        r->val[v->var] = got;
        return true;
    }
    return resolve(r, v) == got;
}

/* ---- packets ---- */

static void build_hdr(struct run *r, const struct spkt *k, struct vsock_hdr *h)
{
    memset(h, 0, sizeof(*h));
    h->op = (uint16_t)resolve(r, &k->op);
    h->src_cid = resolve(r, &k->src_cid);
    h->src_port = (uint32_t)resolve(r, &k->src_port);
    h->dst_cid = resolve(r, &k->dst_cid);
    h->dst_port = (uint32_t)resolve(r, &k->dst_port);
    h->type = (uint16_t)resolve(r, &k->type);
    h->len = (uint32_t)resolve(r, &k->len);
    h->flags = (uint32_t)resolve(r, &k->flags);
    h->buf_alloc = (uint32_t)resolve(r, &k->buf_alloc);
    h->fwd_cnt = (uint32_t)resolve(r, &k->fwd_cnt);
}

/* A header whose len disagrees with its payload: one hand-made readable
 * descriptor holding both, as a driver that lies would post it. */
static void send_chain(struct run *r, const struct vsock_hdr *h, const uint8_t *payload,
                       uint32_t plen)
{
    uint8_t *buf = conf_scratch(r->c, VSOCK_HDR_LEN + (size_t)plen);
    vsock_hdr_encode(h, buf);
    if (plen > 0)
        memcpy(buf + VSOCK_HDR_LEN, payload, plen);
    struct conf_desc d = {.len = VSOCK_HDR_LEN + plen, .data = buf};
    struct conf_chain_result res;
    int err = conf_raw_chain(r->c, &d, 1, &res, SCRIPT_EXPECT_TIMEOUT_NS);
    char e[32];
    if (err < 0)
        FAIL(r, "sending a hand-made chain failed: %s", conf_errname(err, e, sizeof(e)));
    /* The spec leaves a lying header to the device: ours drops it and
     * returns the chain, vhost drops it, signals a queue error and keeps
     * the chain (known-differences.txt). A chain kept silently is lost to
     * the driver for good, and a tx chain is never written. */
    if (!res.returned && !res.error)
        FAIL(r, "the device kept the chain without signalling an error");
    if (res.returned && res.used_len != 0)
        FAIL(r, "the device returned a tx chain with used len %u", (unsigned)res.used_len);
}

static void do_send(struct run *r)
{
    const struct spkt *k = &r->cmd->pkt;
    struct vsock_hdr h;
    build_hdr(r, k, &h);
    uint32_t plen = k->payload.set ? k->payload.len : 0;
    const uint8_t *payload = k->payload.set ? bytes_of(r, &k->payload) : NULL;
    if (h.len != plen) {
        send_chain(r, &h, payload, plen);
        return;
    }
    int err = conf_raw_send(r->c, &h, payload, plen);
    char e[32];
    if (err < 0)
        FAIL(r, "sending failed: %s", conf_errname(err, e, sizeof(e)));
}

/* The first field of got that k does not match, or NULL. */
static const char *mismatch(struct run *r, const struct spkt *k, const struct vsock_hdr *g,
                            uint32_t glen)
{
    static const char *const names[] = {"op",   "src CID", "src port", "dst CID",   "dst port",
                                        "type", "len",     "flags",    "buf_alloc", "fwd_cnt"};
    const struct sval *v[] = {&k->op,   &k->src_cid, &k->src_port, &k->dst_cid,   &k->dst_port,
                              &k->type, &k->len,     &k->flags,    &k->buf_alloc, &k->fwd_cnt};
    const uint64_t got[] = {g->op,   g->src_cid, g->src_port, g->dst_cid,   g->dst_port,
                            g->type, g->len,     g->flags,    g->buf_alloc, g->fwd_cnt};
    for (size_t i = 0; i < sizeof(got) / sizeof(got[0]); i++)
        if (!match(r, v[i], got[i]))
            return names[i];
    if (k->payload.set &&
        (glen != k->payload.len || memcmp(r->rx, bytes_of(r, &k->payload), glen) != 0))
        return "payload";
    return NULL;
}

static void do_expect(struct run *r)
{
    struct vsock_hdr h;
    uint32_t len = 0;
    char want[512], got[200], pay[256];
    int n = conf_raw_recv(r->c, &h, r->rx, RX_CAP, &len, r->cmd->ns);
    line_text(r, want, sizeof(want));
    if (n < 0)
        FAIL(r, "receiving failed (%d)", n);
    if (n == 0)
        FAIL(r, "expected: %s | got: no packet within %" PRIu64 " ms", want,
             r->cmd->ns / 1000000);
    const char *field = mismatch(r, &r->cmd->pkt, &h, len);
    if (field == NULL)
        return;
    conf_hdr_format(&h, got, sizeof(got));
    show_bytes(r->rx, len < RX_CAP ? len : RX_CAP, pay, sizeof(pay));
    FAIL(r, "expected: %s | got: %s %s | (%s differs)", want, got, len ? pay : "", field);
}

static void do_none(struct run *r)
{
    struct vsock_hdr h;
    uint32_t len = 0;
    char got[200];
    int n = conf_raw_recv(r->c, &h, r->rx, RX_CAP, &len, r->cmd->ns);
    if (n == 1) {
        conf_hdr_format(&h, got, sizeof(got));
        FAIL(r, "expected no packet within %" PRIu64 " ms | got: %s", r->cmd->ns / 1000000, got);
    }
}

/* ---- host sockets ---- */

static struct hconn *conn_find(struct run *r, uint32_t port)
{
    for (unsigned i = 0; i < r->nh; i++)
        if (r->h[i].port == port)
            return &r->h[i];
    return NULL;
}

static struct hconn *conn_new(struct run *r, uint32_t port, int type)
{
    if (conn_find(r, port) != NULL)
        FAIL(r, "host port %" PRIu32 " is already in use by this script", port);
    if (r->nh == SCRIPT_MAX_CONNS)
        FAIL(r, "more than %u host sockets", SCRIPT_MAX_CONNS);
    struct hconn *h = &r->h[r->nh++];
    *h = (struct hconn){port, -1, -1, type};
    return h;
}

/* A call's result for messages: a count, or an errno name. */
static const char *ret_name(int64_t v, char *buf, size_t len)
{
    if (v >= 0) {
        snprintf(buf, len, "%" PRId64, v);
        return buf;
    }
    return conf_errname((int)v, buf, len);
}

static void check(struct run *r, const char *what, int64_t ret)
{
    char e[32];
    if (ret < 0)
        FAIL(r, "host %s failed: %s", what, conf_errname((int)ret, e, sizeof(e)));
}

static struct hconn *conn_get(struct run *r)
{
    struct hconn *h = conn_find(r, r->cmd->port);
    if (h == NULL)
        FAIL(r, "no host socket named %" PRIu32 " (host listen or host connect first)",
             r->cmd->port);
    return h;
}

/* The connection named port, accepting it from the listener if needed. */
static int conn_fd(struct run *r)
{
    struct hconn *h = conn_get(r);
    if (h->fd >= 0)
        return h->fd;
    if (h->lfd < 0)
        FAIL(r, "host socket %" PRIu32 " has no connection", r->cmd->port);
    if (conf_wait_poll(r->c, CONF_HOST, h->lfd, VEP_POLLIN, SCRIPT_HOST_TIMEOUT_NS) == 0)
        FAIL(r, "no connection to accept on host port %" PRIu32 " within %llu ms", r->cmd->port,
             SCRIPT_HOST_TIMEOUT_NS / 1000000);
    h->fd = conf_accept(r->c, CONF_HOST, h->lfd);
    check(r, "accept", h->fd);
    return h->fd;
}

static void host_listen(struct run *r)
{
    const struct scmd *c = r->cmd;
    struct hconn *h = conn_new(r, c->port, c->type);
    h->lfd = conf_socket(r->c, CONF_HOST, c->type);
    check(r, "socket", h->lfd);
    check(r, "bind", conf_bind(r->c, CONF_HOST, h->lfd, c->port));
    if (c->has_num)
        check(r, "bufsize", conf_set_buf_size(r->c, CONF_HOST, h->lfd, c->num));
    check(r, "listen", conf_listen(r->c, CONF_HOST, h->lfd, c->backlog));
}

static void host_connect(struct run *r)
{
    const struct scmd *c = r->cmd;
    struct hconn *h = conn_new(r, c->port, c->type);
    h->fd = conf_socket(r->c, CONF_HOST, c->type);
    check(r, "socket", h->fd);
    if (c->has_num)
        check(r, "bind", conf_bind(r->c, CONF_HOST, h->fd, c->num));
    int ret = conf_connect(r->c, CONF_HOST, h->fd, conf_guest_cid(r->c), c->port);
    if (ret != -EINPROGRESS && ret != 0)
        check(r, "connect", ret);
}

static void host_connected(struct run *r)
{
    struct hconn *h = conn_get(r);
    if (h->fd < 0)
        FAIL(r, "host socket %" PRIu32 " is not connecting", r->cmd->port);
    if (conf_wait_poll(r->c, CONF_HOST, h->fd, VEP_POLLOUT | VEP_POLLERR,
                       SCRIPT_HOST_TIMEOUT_NS) == 0)
        FAIL(r, "host connect to port %" PRIu32 " had no outcome", r->cmd->port);
    check(r, "connect", conf_sock_error(r->c, CONF_HOST, h->fd));
}

struct io {
    struct run *r;
    int fd;
    const uint8_t *out;
    uint8_t *in;
    size_t len, done;
    unsigned flags, out_flags;
    int64_t err; /* the call that ended it: 0 = end of stream, < 0 an error */
    bool ended;
    bool one_msg; /* seqpacket: one read is one message */
};

static bool send_more(struct conf *c, void *arg)
{
    struct io *io = arg;
    while (io->done < io->len) {
        int64_t n = conf_send(c, CONF_HOST, io->fd, io->out + io->done, io->len - io->done,
                              io->flags);
        if (n == -EAGAIN)
            return false;
        if (n <= 0) {
            io->err = n;
            io->ended = true;
            return true;
        }
        io->done += (size_t)n;
    }
    return true;
}

static void host_send(struct run *r)
{
    const struct scmd *c = r->cmd;
    int fd = conn_fd(r);
    const uint8_t *data = bytes_of(r, &c->payload);
    unsigned flags = c->eor ? VEP_MSG_EOR : 0;
    char e1[32], e2[32];
    if (c->has_ret) {
        int64_t n = conf_send(r->c, CONF_HOST, fd, data, c->payload.len, flags);
        if (n != c->ret)
            FAIL(r, "host send returned %s, expected %s", ret_name(n, e1, sizeof(e1)),
                 ret_name(c->ret, e2, sizeof(e2)));
        return;
    }
    struct io io = {.r = r, .fd = fd, .out = data, .len = c->payload.len, .flags = flags};
    if (io.len == 0) {
        check(r, "send", conf_send(r->c, CONF_HOST, fd, data, 0, flags));
        return;
    }
    if (!conf_wait(r->c, send_more, &io, SCRIPT_HOST_TIMEOUT_NS))
        FAIL(r, "host send: only %zu of %zu bytes went within %llu ms (no credit?)", io.done,
             io.len, SCRIPT_HOST_TIMEOUT_NS / 1000000);
    if (io.ended)
        check(r, "send", io.err ? io.err : -EIO);
}

static bool recv_more(struct conf *c, void *arg)
{
    struct io *io = arg;
    for (;;) {
        size_t room = io->len > io->done ? io->len - io->done : 1;
        int64_t n = conf_recv(c, CONF_HOST, io->fd, io->in + io->done, room, 0, &io->out_flags);
        if (n == -EAGAIN)
            return false;
        if (n <= 0) {
            io->err = n;
            io->ended = true;
            return true;
        }
        io->done += (size_t)n;
        /* A seqpacket read is one message; a stream read may need more. */
        if (io->done >= io->len || io->one_msg)
            return true;
    }
}

static void host_recv_ret(struct run *r, int fd)
{
    char e1[32], e2[32];
    int64_t n = conf_recv(r->c, CONF_HOST, fd, r->rx, RX_CAP, 0, NULL);
    if (n != r->cmd->ret)
        FAIL(r, "host recv returned %s, expected %s", ret_name(n, e1, sizeof(e1)),
             ret_name(r->cmd->ret, e2, sizeof(e2)));
}

static void host_recv(struct run *r)
{
    const struct scmd *c = r->cmd;
    struct hconn *h = conn_get(r);
    int fd = conn_fd(r);
    if (c->has_ret) {
        host_recv_ret(r, fd);
        return;
    }
    size_t want = c->eof ? 0 : c->payload.len;
    if (want > RX_CAP - 1)
        FAIL(r, "host recv of more than %u bytes", RX_CAP - 1);
    struct io io = {.r = r, .fd = fd, .in = r->rx, .len = want,
                    .one_msg = h->type == VSOCK_TYPE_SEQPACKET};
    if (!conf_wait(r->c, recv_more, &io, SCRIPT_HOST_TIMEOUT_NS))
        FAIL(r, "host recv: %zu of %zu bytes came within %llu ms", io.done, want,
             SCRIPT_HOST_TIMEOUT_NS / 1000000);
    char e[32], pay[256];
    if (c->eof) {
        if (io.done > 0 || io.err != 0) {
            show_bytes(r->rx, (uint32_t)io.done, pay, sizeof(pay));
            FAIL(r, "host recv: expected end of stream, got %s", io.done ? pay :
                 conf_errname((int)io.err, e, sizeof(e)));
        }
        return;
    }
    if (io.ended && io.done < want)
        FAIL(r, "host recv: %s after %zu of %zu bytes", io.err == 0 ? "end of stream" :
             conf_errname((int)io.err, e, sizeof(e)), io.done, want);
    if (io.done != want || memcmp(r->rx, bytes_of(r, &c->payload), want) != 0) {
        show_bytes(r->rx, (uint32_t)io.done, pay, sizeof(pay));
        FAIL(r, "host recv: got %zu bytes %s", io.done, pay);
    }
    if (c->eor && !(io.out_flags & VEP_MSG_EOR))
        FAIL(r, "host recv: the message came without MSG_EOR");
}

static void host_close(struct run *r)
{
    struct hconn *h = conn_get(r);
    if (h->fd >= 0) {
        check(r, "close", conf_close_sock(r->c, CONF_HOST, h->fd));
        h->fd = -1;
    } else if (h->lfd >= 0) {
        check(r, "close", conf_close_sock(r->c, CONF_HOST, h->lfd));
        h->lfd = -1;
    }
}

static void host_error(struct run *r)
{
    struct hconn *h = conn_get(r);
    int fd = h->fd >= 0 ? h->fd : h->lfd;
    char e1[32], e2[32];
    if (r->cmd->err != 0 &&
        conf_wait_poll(r->c, CONF_HOST, fd, VEP_POLLERR, SCRIPT_HOST_TIMEOUT_NS) == 0)
        FAIL(r, "host socket %" PRIu32 " shows no error within %llu ms", r->cmd->port,
             SCRIPT_HOST_TIMEOUT_NS / 1000000);
    int got = conf_sock_error(r->c, CONF_HOST, fd);
    if (got != -r->cmd->err)
        FAIL(r, "host socket %" PRIu32 ": SO_ERROR is %s, expected %s", r->cmd->port,
             got ? conf_errname(got, e1, sizeof(e1)) : "0",
             r->cmd->err ? conf_errname(r->cmd->err, e2, sizeof(e2)) : "0");
}

static void do_host(struct run *r)
{
    switch (r->cmd->verb) {
    case HV_LISTEN: host_listen(r); return;
    case HV_CONNECT: host_connect(r); return;
    case HV_CONNECTED: host_connected(r); return;
    case HV_ACCEPT: {
        struct hconn *h = conn_get(r);
        if (h->fd >= 0)
            FAIL(r, "host port %" PRIu32 " already has a connection", r->cmd->port);
        (void)conn_fd(r);
        return;
    }
    case HV_SEND: host_send(r); return;
    case HV_RECV: host_recv(r); return;
    case HV_SHUTDOWN: check(r, "shutdown", conf_shutdown(r->c, CONF_HOST, conn_fd(r),
                                                         r->cmd->how)); return;
    case HV_CLOSE: host_close(r); return;
    case HV_ERROR: host_error(r); return;
    case HV_BUFSIZE: {
        struct hconn *h = conn_get(r);
        int fd = h->fd >= 0 ? h->fd : h->lfd;
        check(r, "bufsize", conf_set_buf_size(r->c, CONF_HOST, fd, r->cmd->num));
        return;
    }
    case HV_BUFMAX:
    case HV_BUFMIN: {
        struct hconn *h = conn_get(r);
        int fd = h->fd >= 0 ? h->fd : h->lfd;
        bool max = r->cmd->verb == HV_BUFMAX;
        check(r, max ? "bufmax" : "bufmin",
              max ? conf_set_buf_max_size(r->c, CONF_HOST, fd, r->cmd->bound)
                  : conf_set_buf_min_size(r->c, CONF_HOST, fd, r->cmd->bound));
        return;
    }
    }
}

struct qerr_wait {
    unsigned q;
    int64_t seen, now;
};

static bool qerr_came(struct conf *c, void *arg)
{
    struct qerr_wait *w = arg;
    w->now = conf_queue_errors(c, w->q);
    return w->now < 0 || w->now > w->seen;
}

/* queue-error rx|tx: the device signalled one since the last look. */
static void do_queue_error(struct run *r)
{
    struct qerr_wait w = {r->cmd->queue, r->qerr_seen[r->cmd->queue], 0};
    bool came = conf_wait(r->c, qerr_came, &w, SCRIPT_EXPECT_TIMEOUT_NS);
    char e[32];
    if (w.now < 0)
        FAIL(r, "the target cannot tell queue errors: %s", conf_errname((int)w.now, e, sizeof(e)));
    if (!came)
        FAIL(r, "expected a queue error on %s, none came within %llu ms",
             r->cmd->queue ? "tx" : "rx", SCRIPT_EXPECT_TIMEOUT_NS / 1000000);
    r->qerr_seen[r->cmd->queue] = w.now;
}

void script_run(const struct script *s, struct conf *c)
{
    struct run *r = conf_scratch(c, sizeof(*r));
    r->s = s;
    r->c = c;
    r->rx = conf_scratch(c, RX_CAP);
    for (unsigned q = 0; q < 2; q++)
        r->qerr_seen[q] = conf_queue_errors(c, q);
    if (s->caps & (CONF_CAP_RAW | CONF_CAP_RAW_RING)) {
        int err = conf_raw_begin(c);
        if (err < 0)
            conf_fail(c, s->name, 1, "raw mode refused (%d)", err);
    }
    unsigned profile = 1u << conf_linux(c);
    for (unsigned i = 0; i < s->ncmds; i++) {
        r->cmd = &s->cmds[i];
        if (!(r->cmd->linux_mask & profile))
            continue; /* a line for another Linux profile */
        switch (r->cmd->kind) {
        case CMD_SEND: do_send(r); break;
        case CMD_EXPECT: do_expect(r); break;
        case CMD_NONE: do_none(r); break;
        case CMD_WAIT: conf_sleep(c, r->cmd->ns); break;
        case CMD_RESET: check(r, "transport reset", conf_transport_reset(c)); break;
        case CMD_HOST: do_host(r); break;
        case CMD_QERR: do_queue_error(r); break;
        }
    }
}
