/* The two-endpoint harness: see transport_testlib.h. */
#include "transport/transport_testlib.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ---------------------------------------------------------------- */

const char *tt_fmt(const char *fmt, ...)
{
    static char bufs[4][512];
    static unsigned next;
    char *b = bufs[next++ % 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

const char *tt_errname(long long err)
{
    static const struct {
        int e;
        const char *n;
    } names[] = {
        {EPERM, "EPERM"},           {ENOENT, "ENOENT"},
        {EBADF, "EBADF"},           {EAGAIN, "EAGAIN"},
        {ENOMEM, "ENOMEM"},         {EFAULT, "EFAULT"},
        {EBUSY, "EBUSY"},           {EINVAL, "EINVAL"},
        {EMFILE, "EMFILE"},         {EPIPE, "EPIPE"},
        {ERANGE, "ERANGE"},         {ENODEV, "ENODEV"},
        {EPROTO, "EPROTO"},         {EMSGSIZE, "EMSGSIZE"},
        {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},
        {EOPNOTSUPP, "EOPNOTSUPP"}, {EADDRINUSE, "EADDRINUSE"},
        {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
        {ENOBUFS, "ENOBUFS"},       {EISCONN, "EISCONN"},
        {ENOTCONN, "ENOTCONN"},     {ETIMEDOUT, "ETIMEDOUT"},
        {ECONNREFUSED, "ECONNREFUSED"},
        {ECONNRESET, "ECONNRESET"}, {EALREADY, "EALREADY"},
        {EINPROGRESS, "EINPROGRESS"},
    };
    if (err == 0)
        return "0";
    long long e = err < 0 ? -err : err;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].e == e)
            return tt_fmt("%s%s", err < 0 ? "-" : "", names[i].n);
    return tt_fmt("%lld", err);
}

/* ---- the pair ------------------------------------------------------------------ */

struct vep_cfg tt_guest_cfg(void)
{
    struct vep_cfg c;
    memset(&c, 0, sizeof c);
    c.local_cid = TT_GUEST_CID;
    c.peer_cid = TT_HOST_CID;
    c.check_dst_cid = true;
    c.seqpacket = true;
    c.ephemeral_seed = 1;
    return c;
}

struct vep_cfg tt_host_cfg(void)
{
    struct vep_cfg c;
    memset(&c, 0, sizeof c);
    c.local_cid = TT_HOST_CID;
    c.peer_cid = TT_GUEST_CID;
    c.check_src_cid = true;
    c.seqpacket = true;
    c.ephemeral_seed = 2;
    return c;
}

void tt_pair_init_cfg(struct tt_pair *p, const struct vep_cfg *guest, const struct vep_cfg *host)
{
    memset(p, 0, sizeof *p);
    p->ep[TT_GUEST] = vep_new(guest);
    p->ep[TT_HOST] = vep_new(host);
    ATF_REQUIRE_MSG(p->ep[TT_GUEST] != NULL && p->ep[TT_HOST] != NULL, "vep_new failed");
    p->check_credit = true;
}

void tt_pair_init(struct tt_pair *p)
{
    struct vep_cfg g = tt_guest_cfg();
    struct vep_cfg h = tt_host_cfg();
    tt_pair_init_cfg(p, &g, &h);
}

void tt_rec_free(struct tt_rec *r)
{
    free(r->payload);
    r->payload = NULL;
}

void tt_log_clear(struct tt_pair *p)
{
    for (uint32_t i = 0; i < p->nlog; i++)
        tt_rec_free(&p->log[i]);
    p->nlog = 0;
}

void tt_pair_fini(struct tt_pair *p)
{
    tt_log_clear(p);
    free(p->log);
    free(p->flows);
    vep_free(p->ep[TT_GUEST]);
    vep_free(p->ep[TT_HOST]);
    memset(p, 0, sizeof *p);
}

/* ---- the log ------------------------------------------------------------------- */

static void rec_copy(struct tt_rec *dst, const struct tt_rec *src)
{
    *dst = *src;
    dst->payload = NULL;
    if (src->paylen > 0 && src->payload != NULL) {
        dst->payload = malloc(src->paylen);
        ATF_REQUIRE(dst->payload != NULL);
        memcpy(dst->payload, src->payload, src->paylen);
    }
}

static void log_append(struct tt_pair *p, const struct tt_rec *r)
{
    if (!p->record)
        return;
    if (p->nlog == p->caplog) {
        uint32_t cap = p->caplog ? p->caplog * 2 : 64;
        struct tt_rec *n = realloc(p->log, cap * sizeof *n);
        ATF_REQUIRE(n != NULL);
        p->log = n;
        p->caplog = cap;
    }
    rec_copy(&p->log[p->nlog++], r);
}

void tt_log_dump(const struct tt_pair *p)
{
    fprintf(stderr, "packet log (%u):\n%s", p->nlog, tt_log_str(p));
}

const struct tt_rec *tt_log_at(const struct tt_pair *p, uint32_t i)
{
    if (i >= p->nlog) {
        tt_log_dump(p);
        atf_tc_fail("log entry %u asked for, but the log has %u (log on stderr)", i, p->nlog);
    }
    return &p->log[i];
}

const char *tt_rec_str(const struct tt_rec *r)
{
    const struct vsock_hdr *h = &r->hdr;
    return tt_fmt("%s%s %s %s(%u) %llu:%u->%llu:%u len=%u flags=%#x buf=%u fwd=%u%s",
                  r->injected ? "inject " : "", r->from == TT_GUEST ? "G>H" : "H>G",
                  vsock_op_name(h->op), vsock_type_name(h->type), h->type,
                  (unsigned long long)h->src_cid, h->src_port, (unsigned long long)h->dst_cid,
                  h->dst_port, h->len, h->flags, h->buf_alloc, h->fwd_cnt,
                  r->reply ? " reply" : "");
}

const char *tt_log_str(const struct tt_pair *p)
{
    static char buf[16384];
    size_t off = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < p->nlog && off < sizeof buf - 1; i++) {
        int n = snprintf(buf + off, sizeof buf - off, "  [%u] %s\n", i, tt_rec_str(&p->log[i]));
        if (n < 0)
            break;
        off += (size_t)n;
    }
    return buf;
}

size_t tt_log_serialize(const struct tt_pair *p, uint8_t **out)
{
    size_t total = 0;
    for (uint32_t i = 0; i < p->nlog; i++)
        total += 1 + VSOCK_HDR_LEN + p->log[i].paylen;
    uint8_t *b = malloc(total ? total : 1);
    ATF_REQUIRE(b != NULL);
    size_t off = 0;
    for (uint32_t i = 0; i < p->nlog; i++) {
        const struct tt_rec *r = &p->log[i];
        b[off++] = (uint8_t)(r->from | (r->injected ? 2 : 0) | (r->reply ? 4 : 0));
        vsock_hdr_encode(&r->hdr, b + off);
        off += VSOCK_HDR_LEN;
        if (r->paylen > 0) {
            memcpy(b + off, r->payload, r->paylen);
            off += r->paylen;
        }
    }
    *out = b;
    return total;
}

uint32_t tt_log_count(const struct tt_pair *p, int from, uint16_t op)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->nlog; i++)
        if (p->log[i].from == from && (op == 0xffff || p->log[i].hdr.op == op))
            n++;
    return n;
}

static uint64_t side_cid(int side)
{
    return side == TT_GUEST ? TT_GUEST_CID : TT_HOST_CID;
}

void tt_check_pkt(const char *file, int line, const struct tt_pair *p, uint32_t i, int from,
                  uint16_t type, uint16_t op, uint32_t src_port, uint32_t dst_port,
                  uint32_t flags, uint32_t len)
{
    if (i >= p->nlog) {
        tt_log_dump(p);
        atf_tc_fail_requirement(file, line, "packet [%u] expected, the log has %u (on stderr)",
                                i, p->nlog);
    }
    const struct tt_rec *r = &p->log[i];
    const struct vsock_hdr *h = &r->hdr;
    bool ok = r->from == from && h->src_cid == side_cid(from) &&
              h->dst_cid == side_cid(TT_OTHER(from)) && h->type == type && h->op == op &&
              h->src_port == src_port && h->dst_port == dst_port && h->flags == flags &&
              h->len == len;
    if (!ok) {
        tt_log_dump(p);
        atf_tc_fail_requirement(
            file, line, "packet [%u]: expected %s %s %s(%u) %u->%u flags=%#x len=%u, got %s", i,
            from == TT_GUEST ? "G>H" : "H>G", vsock_op_name(op), vsock_type_name(type), type,
            src_port, dst_port, flags, len, tt_rec_str(r));
    }
}

/* ---- flow control check ------------------------------------------------------------ */

static struct tt_flow *flow_find(struct tt_pair *p, uint32_t gport, uint32_t hport, bool create)
{
    for (uint32_t i = 0; i < p->nflows; i++)
        if (p->flows[i].gport == gport && p->flows[i].hport == hport)
            return &p->flows[i];
    if (!create)
        return NULL;
    if (p->nflows == p->capflows) {
        uint32_t cap = p->capflows ? p->capflows * 2 : 16;
        struct tt_flow *n = realloc(p->flows, cap * sizeof *n);
        ATF_REQUIRE(n != NULL);
        p->flows = n;
        p->capflows = cap;
    }
    struct tt_flow *f = &p->flows[p->nflows++];
    memset(f, 0, sizeof *f);
    f->gport = gport;
    f->hport = hport;
    return f;
}

static void flows_snapshot(struct tt_pair *p)
{
    for (uint32_t i = 0; i < p->nflows; i++) {
        struct tt_flow *f = &p->flows[i];
        for (int s = 0; s < 2; s++) {
            f->snap_buf_alloc[s] = f->buf_alloc[s];
            f->snap_fwd_cnt[s] = f->fwd_cnt[s];
            f->snap_known[s] = f->known[s];
        }
    }
}

/* Looks at a packet crossing from side from. Returns false (with why) when it
 * is an RW beyond the credit the receiver gave. in_pump: the sender's view of
 * the receiver's credit is the snapshot taken when the pump began (RW packets
 * are only made by vep_send, never while the pump runs). */
static bool flow_see(struct tt_pair *p, int from, const struct vsock_hdr *h, bool in_pump,
                     char *why, size_t whylen)
{
    if (h->src_cid != side_cid(from) || h->dst_cid != side_cid(TT_OTHER(from)))
        return true;
    uint32_t gport = from == TT_GUEST ? h->src_port : h->dst_port;
    uint32_t hport = from == TT_GUEST ? h->dst_port : h->src_port;
    int to = TT_OTHER(from);
    struct tt_flow *f = flow_find(p, gport, hport, h->op == VSOCK_OP_REQUEST);
    bool fresh = f != NULL && f->gport == gport && !f->known[0] && !f->known[1];
    if (f == NULL) {
        if (h->op == VSOCK_OP_RW && p->check_credit) {
            snprintf(why, whylen, "RW on a connection without REQUEST: %u->%u", h->src_port,
                     h->dst_port);
            return false;
        }
        return true;
    }
    /* A REQUEST an endpoint sends starts a connection; a crafted one on a
     * live connection is ignored by the receiver, so by the tracker too. */
    if (h->op == VSOCK_OP_REQUEST && (in_pump || fresh)) {
        memset(f->sent, 0, sizeof f->sent);
        memset(f->known, 0, sizeof f->known);
        memset(f->snap_known, 0, sizeof f->snap_known);
    }
    if (h->op == VSOCK_OP_RW) {
        f->sent[from] += h->len;
        bool known = in_pump ? f->snap_known[to] : f->known[to];
        uint32_t buf = in_pump ? f->snap_buf_alloc[to] : f->buf_alloc[to];
        uint32_t fwd = in_pump ? f->snap_fwd_cnt[to] : f->fwd_cnt[to];
        uint32_t in_flight = f->sent[from] - fwd;
        p->rw_checked++;
        if (in_flight > p->max_in_flight[from])
            p->max_in_flight[from] = in_flight;
        if (p->check_credit && (!known || in_flight > buf)) {
            snprintf(why, whylen,
                     "%s RW %u->%u len %u beyond credit: sent %u, peer fwd_cnt %u, peer "
                     "buf_alloc %u%s",
                     from == TT_GUEST ? "G>H" : "H>G", h->src_port, h->dst_port, h->len,
                     f->sent[from], fwd, buf, known ? "" : " (never advertised)");
            return false;
        }
    }
    /* An RST carries no credit (reset_no_sock RSTs have 0/0). */
    if (h->op != VSOCK_OP_RST) {
        f->known[from] = true;
        f->buf_alloc[from] = h->buf_alloc;
        f->fwd_cnt[from] = h->fwd_cnt;
        if (!in_pump) {
            f->snap_known[from] = true;
            f->snap_buf_alloc[from] = h->buf_alloc;
            f->snap_fwd_cnt[from] = h->fwd_cnt;
        }
    }
    return true;
}

/* ---- moving packets ------------------------------------------------------------------ */

/* Pops the head packet of side from into r (payload copied). */
static bool pop(struct tt_pair *p, int from, struct tt_rec *r)
{
    struct vep_tx tx;
    if (!vep_tx_peek(p->ep[from], &tx))
        return false;
    memset(r, 0, sizeof *r);
    r->from = from;
    r->reply = tx.is_reply;
    r->hdr = tx.hdr;
    r->paylen = tx.hdr.len;
    if (tx.hdr.len > 0) {
        r->payload = malloc(tx.hdr.len);
        ATF_REQUIRE(r->payload != NULL);
        memcpy(r->payload, tx.payload, tx.hdr.len);
    }
    vep_tx_advance(p->ep[from], tx.hdr.len);
    return true;
}

void tt_deliver(struct tt_pair *p, const struct tt_rec *r)
{
    vep_rx(p->ep[TT_OTHER(r->from)], &r->hdr, r->payload, r->paylen, p->now);
    p->moved[r->from]++;
}

static bool move_one(struct tt_pair *p, int from, bool in_pump, char *why, size_t whylen)
{
    struct tt_rec r;
    if (!pop(p, from, &r))
        return false;
    log_append(p, &r);
    bool ok = flow_see(p, from, &r.hdr, in_pump, why, whylen);
    tt_deliver(p, &r);
    tt_rec_free(&r);
    if (!ok)
        return false;
    return true;
}

long tt_pump_try(struct tt_pair *p, unsigned max_passes, char *why, size_t whylen)
{
    char dummy[8];
    if (why == NULL) {
        why = dummy;
        whylen = sizeof dummy;
    }
    why[0] = '\0';
    flows_snapshot(p);
    long total = 0;
    for (unsigned pass = 0; pass < max_passes; pass++) {
        long moved = 0;
        for (int side = 0; side < 2; side++) {
            while (vep_tx_queued_pkts(p->ep[side]) > 0) {
                if (!move_one(p, side, true, why, whylen)) {
                    if (why[0] != '\0')
                        return -1;
                    break;
                }
                moved++;
            }
        }
        total += moved;
        if (moved == 0)
            return total;
    }
    snprintf(why, whylen, "the pair did not settle in %u passes (%lu packets)", max_passes,
             (unsigned long)total);
    return -1;
}

long tt_pump_at(const char *file, int line, struct tt_pair *p)
{
    char why[512];
    long n = tt_pump_try(p, 10000, why, sizeof why);
    if (n < 0) {
        tt_log_dump(p);
        atf_tc_fail_requirement(file, line, "pump: %s (log on stderr)", why);
    }
    return n;
}

bool tt_step(struct tt_pair *p, int from)
{
    char why[512] = "";
    flows_snapshot(p);
    bool moved = move_one(p, from, true, why, sizeof why);
    if (why[0] != '\0')
        atf_tc_fail("step: %s", why);
    return moved;
}

bool tt_take(struct tt_pair *p, int from, struct tt_rec *out)
{
    if (!pop(p, from, out))
        return false;
    log_append(p, out);
    return true;
}

uint32_t tt_discard(struct tt_pair *p, int from)
{
    uint32_t n = 0;
    struct tt_rec r;
    while (pop(p, from, &r)) {
        tt_rec_free(&r);
        n++;
    }
    return n;
}

struct vsock_hdr tt_hdr(int from, uint16_t type, uint16_t op, uint32_t src_port,
                        uint32_t dst_port)
{
    struct vsock_hdr h;
    memset(&h, 0, sizeof h);
    h.src_cid = side_cid(from);
    h.dst_cid = side_cid(TT_OTHER(from));
    h.src_port = src_port;
    h.dst_port = dst_port;
    h.type = type;
    h.op = op;
    return h;
}

void tt_inject(struct tt_pair *p, int to, const struct vsock_hdr *hdr, const void *payload,
               uint32_t len)
{
    struct tt_rec r;
    memset(&r, 0, sizeof r);
    r.from = TT_OTHER(to);
    r.injected = true;
    r.hdr = *hdr;
    r.paylen = len;
    r.payload = (uint8_t *)(uintptr_t)payload; /* copied by log_append */
    log_append(p, &r);
    if (len == hdr->len && len <= 65536) {
        char why[8];
        (void)flow_see(p, r.from, hdr, false, why, sizeof why);
    }
    vep_rx(p->ep[to], hdr, payload, len, p->now);
}

void tt_advance(struct tt_pair *p, uint64_t ns)
{
    p->now += ns;
    vep_tick(p->ep[TT_GUEST], p->now);
    vep_tick(p->ep[TT_HOST], p->now);
}

/* ---- socket helpers --------------------------------------------------------------------- */

int tt_listen_at(const char *file, int line, struct tt_pair *p, int side, int type,
                 uint32_t port, int backlog)
{
    struct vep *ep = p->ep[side];
    int fd = vep_socket(ep, type);
    if (fd < 0)
        atf_tc_fail_requirement(file, line, "vep_socket: %s", tt_errname(fd));
    int err = vep_bind(ep, fd, port);
    if (err != 0)
        atf_tc_fail_requirement(file, line, "vep_bind %u: %s", port, tt_errname(err));
    err = vep_listen(ep, fd, backlog);
    if (err != 0)
        atf_tc_fail_requirement(file, line, "vep_listen: %s", tt_errname(err));
    return fd;
}

int tt_connect_at(const char *file, int line, struct tt_pair *p, int side, int type, int lfd,
                  uint32_t port, int *cfd)
{
    struct vep *ep = p->ep[side];
    int fd = vep_socket(ep, type);
    if (fd < 0)
        atf_tc_fail_requirement(file, line, "vep_socket: %s", tt_errname(fd));
    int err = vep_connect(ep, fd, side_cid(TT_OTHER(side)), port, p->now);
    if (err != -EINPROGRESS)
        atf_tc_fail_requirement(file, line, "vep_connect: %s", tt_errname(err));
    tt_pump_at(file, line, p);
    if (vep_sock_state(ep, fd) != VEP_SS_CONNECTED)
        atf_tc_fail_requirement(file, line, "connect did not complete: state %d, error %s",
                                (int)vep_sock_state(ep, fd),
                                tt_errname(vep_sock_error(ep, fd)));
    uint64_t pcid = 0;
    uint32_t pport = 0, lport = 0;
    int afd = vep_accept(p->ep[TT_OTHER(side)], lfd, &pcid, &pport);
    if (afd < 0)
        atf_tc_fail_requirement(file, line, "vep_accept: %s", tt_errname(afd));
    vep_sock_name(ep, fd, &lport, NULL, NULL);
    if (pcid != side_cid(side) || pport != lport)
        atf_tc_fail_requirement(file, line, "accepted %llu:%u, connected from %llu:%u",
                                (unsigned long long)pcid, pport,
                                (unsigned long long)side_cid(side), lport);
    *cfd = fd;
    return afd;
}

int tt_stream_pair(struct tt_pair *p, uint32_t port, int *g, int *h)
{
    int lfd = tt_listen(p, TT_HOST, VSOCK_TYPE_STREAM, port, 16);
    *h = tt_connect(p, TT_GUEST, VSOCK_TYPE_STREAM, lfd, port, g);
    return lfd;
}

uint64_t tt_drops(const struct tt_pair *p, int side, enum vep_drop why)
{
    return vep_counters(p->ep[side])->drops[why];
}

struct vep_conn_info tt_conn(const struct tt_pair *p, int side, int fd)
{
    struct vep_conn_info info[512];
    uint32_t n = vep_conns(p->ep[side], info, 512);
    for (uint32_t i = 0; i < n && i < 512; i++)
        if (info[i].fd == fd)
            return info[i];
    atf_tc_fail("%s fd %d not in vep_conns", side == TT_GUEST ? "guest" : "host", fd);
}

uint32_t tt_nsocks(const struct tt_pair *p, int side)
{
    return vep_conns(p->ep[side], NULL, 0);
}

uint8_t tt_pattern(uint32_t salt, uint64_t i)
{
    uint64_t x = i * 0x9e3779b97f4a7c15ull + salt * 0xbf58476d1ce4e5b9ull + salt;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 32;
    return (uint8_t)x;
}

void tt_fill(uint8_t *buf, size_t n, uint32_t salt, uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = tt_pattern(salt, offset + i);
}

uint64_t tt_hash(const void *buf, size_t n, uint64_t h)
{
    const uint8_t *b = buf;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
