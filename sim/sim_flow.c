/* The applications: each flow is a client and a server, one on the guest and
 * one on the host, using only the socket API. Every byte is checked against
 * a generator keyed by flow, direction and offset, so loss, duplication,
 * reordering and corruption all show at the first wrong byte; seqpacket
 * servers also check each message's length and EOR against what the client
 * sent. Flows hit by a disruptive fault may end early, never with bad data. */
#include "sim/sim_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SEND_CHUNK_MAX 16384u
#define RECV_BUF 65536u
#define STALL_MAX_NS 20000000u
#define BACKLOG 4
#define SEQ_OFFSET(msg) ((uint64_t)(msg) << 20)

/* Every flow and direction has its own byte sequence, so bytes delivered to
 * the wrong connection, or reflected, fail the check as surely as lost or
 * reordered ones: the salt is mixed into every bit of each byte. */
static uint8_t content(uint32_t flow, bool c2s, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)(flow * 2u + c2s + 1) * 0xc2b2ae3d27d4eb4full;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    return (uint8_t)x;
}

static void fill(uint8_t *buf, size_t n, uint32_t flow, bool c2s, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = content(flow, c2s, off + i);
}

/* The offset of the first wrong byte, or n when all are right. */
static size_t first_mismatch(const uint8_t *buf, size_t n, uint32_t flow, bool c2s, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != content(flow, c2s, off + i))
            return i;
    return n;
}

/* A stream flow's pattern is made as far as it is used: a run often ends
 * (step budget, fault) long before a flow has sent all its bytes, and
 * making them all up front was a large part of a short run. */
static void pattern_upto(struct flow *f, uint64_t end)
{
    if (end > f->total)
        end = f->total;
    if (end <= f->pattern_made)
        return;
    fill(f->pattern + f->pattern_made, (size_t)(end - f->pattern_made), f->id, true,
         f->pattern_made);
    f->pattern_made = end;
}

/* The same for a stream flow, against its pattern where it reaches. */
static size_t stream_mismatch(struct flow *f, const uint8_t *buf, size_t n, uint64_t off)
{
    if (f->pattern == NULL || off > f->total || n > f->total - off)
        return first_mismatch(buf, n, f->id, true, off);
    pattern_upto(f, off + n);
    if (memcmp(buf, f->pattern + off, n) == 0)
        return n;
    size_t i = 0;
    while (buf[i] == f->pattern[off + i])
        i++;
    return i;
}

/* ---- the active flows, in index order (the order actors are listed in) ---- */

static void active_add(struct sim *s, uint32_t id)
{
    uint32_t k = s->nactive;
    while (k > 0 && s->active[k - 1] > id) {
        s->active[k] = s->active[k - 1];
        k--;
    }
    s->active[k] = id;
    s->nactive++;
}

static void active_remove(struct sim *s, uint32_t id)
{
    uint32_t k = 0;
    while (k < s->nactive && s->active[k] != id)
        k++;
    if (k == s->nactive)
        return;
    memmove(&s->active[k], &s->active[k + 1], (s->nactive - k - 1) * sizeof(*s->active));
    s->nactive--;
}

static struct vep *side_ep(struct sim *s, const struct flow_side *sd)
{
    return sd->guest ? s->g : s->h;
}

static const char *side_name(const struct flow_side *sd)
{
    return sd->guest ? "guest" : "host";
}

static int sock_type(const struct flow *f)
{
    return f->kind == FLOW_SEQPACKET ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM;
}

/* ---- lifecycle ---- */

static void activate_pending(struct sim *s, uint32_t g);

int sim_flows_init(struct sim *s)
{
    const struct scenario *sc = &s->cfg->scenario;
    uint32_t n = 0;
    for (uint32_t g = 0; g < sc->ngroups; g++)
        n += sc->group[g].count;
    s->flows = calloc(n ? n : 1, sizeof(*s->flows));
    s->active = calloc(n ? n : 1, sizeof(*s->active));
    s->nactive = 0;
    s->scratch = malloc(4u << 18);
    if (s->flows == NULL || s->active == NULL || s->scratch == NULL)
        return -1;
    uint32_t id = 0;
    for (uint32_t g = 0; g < sc->ngroups; g++) {
        const struct flow_group *grp = &sc->group[g];
        s->group_next[g] = id;
        for (uint32_t i = 0; i < grp->count; i++, id++) {
            struct flow *f = &s->flows[id];
            f->id = id;
            f->group = g;
            f->index = i;
            f->kind = grp->kind;
            f->total = grp->kind == FLOW_SEQPACKET ? grp->messages : grp->bytes;
            f->max_msg = grp->bytes;
            f->cl.fd = f->sv.fd = f->sv.lfd = f->cl.lfd = -1;
        }
    }
    s->nflows = n;
    for (uint32_t g = 0; g < sc->ngroups; g++)
        activate_pending(s, g);
    return 0;
}

void sim_flows_free(struct sim *s)
{
    for (uint32_t i = 0; i < s->nflows && s->flows != NULL; i++) {
        free(s->flows[i].msg_len);
        free(s->flows[i].msg_eor);
        free(s->flows[i].pattern);
    }
    free(s->flows);
    free(s->active);
    free(s->scratch);
    s->flows = NULL;
    s->active = NULL;
    s->scratch = NULL;
}

static void flow_error(struct sim *s, struct flow *f, const struct flow_side *sd, const char *op,
                       int64_t err);

static void start_server(struct sim *s, struct flow *f)
{
    struct vep *ep = side_ep(s, &f->sv);
    int fd = vep_socket(ep, sock_type(f));
    if (fd < 0) {
        flow_error(s, f, &f->sv, "socket", fd);
        return;
    }
    f->sv.lfd = fd;
    int err = vep_bind(ep, fd, f->port);
    if (err == 0)
        err = vep_listen(ep, fd, BACKLOG);
    if (err < 0) {
        flow_error(s, f, &f->sv, "bind/listen", err);
        return;
    }
    f->sv.st = SIDE_LISTENING;
}

static void maybe_stall_device_for_connect(struct sim *s, struct flow *f)
{
    if (!sim_faults_active(s) ||
        !sim_chance(s, "connect-timeout", s->cfg->faults.ppm[FAULT_CONNECT_TIMEOUT]))
        return;
    char detail[24];
    snprintf(detail, sizeof(detail), "flow=%" PRIu32, f->id);
    sim_note_fault(s, FAULT_CONNECT_TIMEOUT, detail);
    s->device_stall_until = s->now + 2500000000ull;
    f->disrupted = true;
    sim_flows_disrupt_connecting(s);
}

static void start_client(struct sim *s, struct flow *f)
{
    struct vep *ep = side_ep(s, &f->cl);
    int fd = vep_socket(ep, sock_type(f));
    if (fd < 0) {
        flow_error(s, f, &f->cl, "socket", fd);
        return;
    }
    f->cl.fd = fd;
    f->cl.st = SIDE_CONNECTING;
    maybe_stall_device_for_connect(s, f);
    if (s->now < s->device_stall_until)
        f->disrupted = true; /* the device will answer after the connect timeout */
    uint64_t cid = f->cl.guest ? VSOCK_CID_HOST : world_guest_cid(s->w);
    int err = vep_connect(ep, fd, cid, f->port, s->now);
    if (err != -EINPROGRESS)
        flow_error(s, f, &f->cl, "connect", err);
}

static bool client_is_guest(struct sim *s, enum flow_client c)
{
    if (c == CLIENT_GUEST)
        return true;
    if (c == CLIENT_HOST)
        return false;
    return sim_decide(s, "client-side", 2) == 0;
}

static bool port_taken(const struct sim *s, uint32_t group, uint32_t port)
{
    for (uint32_t k = 0; k < s->nactive; k++) {
        const struct flow *o = &s->flows[s->active[k]];
        if (o->group == group && o->port == port)
            return true;
    }
    return false;
}

/* Flows reuse a small set of ports, to exercise port reuse after close, but
 * never one an unfinished flow of the group still holds: a slow flow (a
 * connect waiting out its timeout) can outlive many faster ones. */
static uint32_t pick_port(const struct sim *s, const struct flow *f)
{
    const struct flow_group *grp = &s->cfg->scenario.group[f->group];
    uint32_t ports = grp->concurrent + 1 > 16 ? grp->concurrent + 1 : 16;
    for (uint32_t k = 0; k < ports; k++) {
        uint32_t port = grp->port + (f->index + k) % ports;
        if (!port_taken(s, f->group, port))
            return port;
    }
    return grp->port; /* unreachable: fewer than `ports` flows are active */
}

static void activate(struct sim *s, struct flow *f)
{
    const struct flow_group *grp = &s->cfg->scenario.group[f->group];
    f->port = pick_port(s, f);
    f->st = FLOW_ACTIVE;
    active_add(s, f->id);
    f->disrupted = sim_reset_in_flight(s);
    f->cl.guest = client_is_guest(s, grp->client);
    f->sv.guest = !f->cl.guest;
    if (f->kind == FLOW_SEQPACKET) {
        f->msg_len = calloc(f->total, sizeof(*f->msg_len));
        f->msg_eor = calloc(f->total, sizeof(*f->msg_eor));
        if (f->msg_len == NULL || f->msg_eor == NULL) {
            sim_fail(s, SIM_ERROR, "error", "out of memory for flow %" PRIu32, f->id);
            return;
        }
    } else {
        /* Both ends of a stream flow send and check the c2s pattern (the
         * echo server sends back what it read): made once, here. */
        f->pattern = malloc(f->total ? f->total : 1);
        if (f->pattern == NULL) {
            sim_fail(s, SIM_ERROR, "error", "out of memory for flow %" PRIu32, f->id);
            return;
        }
        f->pattern_made = 0;
    }
    s->group_active[f->group]++;
    start_server(s, f);
    if (!s->stopped && f->st == FLOW_ACTIVE)
        start_client(s, f);
}

static void activate_pending(struct sim *s, uint32_t g)
{
    const struct flow_group *grp = &s->cfg->scenario.group[g];
    uint32_t first = 0;
    for (uint32_t i = 0; i < g; i++)
        first += s->cfg->scenario.group[i].count;
    while (!s->stopped && s->group_active[g] < grp->concurrent &&
           s->group_next[g] < first + grp->count)
        activate(s, &s->flows[s->group_next[g]++]);
}

static void close_fd(struct sim *s, const struct flow_side *sd, int *fd)
{
    if (*fd >= 0)
        vep_close(side_ep(s, sd), *fd, s->now);
    *fd = -1;
}

static void close_side(struct sim *s, struct flow_side *sd)
{
    close_fd(s, sd, &sd->fd);
    close_fd(s, sd, &sd->lfd);
    if (sd->st != SIDE_CLOSED)
        sd->closed_at = s->now;
    sd->st = SIDE_CLOSED;
}

/* When the harness gives up on side sd of a flow a device reset hit: its
 * peer side is closed, so nothing more may ever come (a half-open host end
 * waits for ever, as on Linux). UINT64_MAX: not such a side. */
static uint64_t give_up_at(const struct flow *f, const struct flow_side *sd)
{
    const struct flow_side *other = sd == &f->cl ? &f->sv : &f->cl;
    if (!f->device_reset || sd->st != SIDE_OPEN || other->st != SIDE_CLOSED)
        return UINT64_MAX;
    uint64_t since = other->closed_at > f->device_reset_at ? other->closed_at : f->device_reset_at;
    return since + SIM_HALF_OPEN_GIVE_UP_NS;
}

static void finish_if_closed(struct sim *s, struct flow *f)
{
    if (f->st != FLOW_ACTIVE || f->cl.st != SIDE_CLOSED || f->sv.st != SIDE_CLOSED)
        return;
    f->st = FLOW_DONE;
    active_remove(s, f->id);
    free(f->pattern);
    f->pattern = NULL;
    s->flows_done++;
    if (f->aborted)
        s->res->stats.flows_disrupted++;
    else
        s->res->stats.flows_completed++;
    s->group_active[f->group]--;
    activate_pending(s, f->group);
}

/* A disrupted flow that hit an error ends: both sides close, as a test
 * harness would tear down a broken connection. */
static void abort_flow(struct sim *s, struct flow *f)
{
    f->aborted = true;
    close_side(s, &f->cl);
    close_side(s, &f->sv);
    finish_if_closed(s, f);
}

/* A connection this side lost without a packet (a TRANSPORT_RESET its
 * endpoint handled) ends silently when closed or aborted: the other side
 * would wait for ever, so the disrupted flow ends on both sides. Asked
 * before the side closes its socket. */
static bool lost_silently(struct sim *s, const struct flow *f, const struct flow_side *sd)
{
    return f->disrupted && sd->fd >= 0 &&
           vep_sock_state(side_ep(s, sd), sd->fd) == VEP_SS_UNCONNECTED;
}

/* Closes a finished side; a silently lost connection ends the flow. */
static void close_finished_side(struct sim *s, struct flow *f, struct flow_side *sd)
{
    bool lost = lost_silently(s, f, sd);
    close_side(s, sd);
    if (lost)
        abort_flow(s, f);
}

static void flow_error(struct sim *s, struct flow *f, const struct flow_side *sd, const char *op,
                       int64_t err)
{
    if (f->disrupted) {
        abort_flow(s, f);
        return;
    }
    sim_violation(s, "flow", "flow %" PRIu32 " (%s, port %" PRIu32 "): %s on the %s side failed: %s",
                  f->id, sim_flow_kind_name(f->kind), f->port, op, side_name(sd),
                  err < 0 ? strerror((int)-err) : "unexpected end of stream");
}

/* ---- runnability ---- */

static bool wants_write(const struct flow *f, bool client)
{
    if (client)
        return f->c2s_sent < f->total && !f->cl.sent_eof;
    return f->kind == FLOW_ECHO && f->s2c_sent < f->c2s_rcvd;
}

static bool wants_read(const struct flow *f, bool client)
{
    if (client)
        return f->kind == FLOW_ECHO ? f->s2c_rcvd < f->total : f->cl.sent_eof;
    return !f->sv.got_eof;
}

static bool finished(const struct flow *f, bool client)
{
    if (client) {
        if (f->kind == FLOW_ECHO)
            return f->c2s_sent == f->total && f->s2c_rcvd == f->total;
        return f->c2s_sent == f->total && (f->cl.got_eof || !f->cl.sent_eof);
    }
    return f->sv.got_eof && !wants_write(f, false);
}

/* A seqpacket client with a blocking sender waits until the credit for its
 * whole next message is there (a message the connection can never carry,
 * larger than min(peer buf_alloc, own buf_alloc), is tried anyway and
 * fails). Others write whenever the socket is writable. */
static bool message_fits(const struct sim *s, const struct flow *f)
{
    if (f->next_len == 0 || s->cfg->scenario.group[f->group].nonblocking)
        return true;
    uint32_t limit;
    uint32_t space = vep_send_space(f->cl.guest ? s->g : s->h, f->cl.fd, &limit);
    return space >= f->next_len || f->next_len > limit;
}

static bool can_write(const struct sim *s, const struct flow *f, bool client, unsigned ev)
{
    if (!wants_write(f, client) || !(ev & VEP_POLLOUT))
        return false;
    return !client || f->kind != FLOW_SEQPACKET || message_fits(s, f);
}

static bool side_runnable(const struct sim *s, const struct flow *f, bool client)
{
    const struct flow_side *sd = client ? &f->cl : &f->sv;
    if (sd->st == SIDE_NONE || sd->st == SIDE_CLOSED || s->now < sd->stall_until)
        return false;
    if (s->now >= give_up_at(f, sd))
        return true;
    const struct vep *ep = sd->guest ? s->g : s->h;
    if (sd->st == SIDE_LISTENING)
        return (vep_poll(ep, sd->lfd) & (VEP_POLLIN | VEP_POLLERR)) != 0;
    if (sd->st == SIDE_OPEN && finished(f, client))
        return true; /* whatever poll says (vep_poll only reads) */
    unsigned ev = vep_poll(ep, sd->fd);
    if (sd->st == SIDE_CONNECTING)
        return (ev & (VEP_POLLOUT | VEP_POLLERR)) != 0;
    if (ev & VEP_POLLERR)
        return true;
    if (can_write(s, f, client, ev))
        return true;
    return wants_read(f, client) && (ev & (VEP_POLLIN | VEP_POLLHUP | VEP_POLLRDHUP));
}

uint32_t sim_flows_runnable(struct sim *s, uint32_t *out, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < s->nactive && n + 2 <= max; k++) {
        uint32_t i = s->active[k];
        const struct flow *f = &s->flows[i];
        if (side_runnable(s, f, true))
            out[n++] = i * 2;
        if (side_runnable(s, f, false))
            out[n++] = i * 2 + 1;
    }
    return n;
}

uint64_t sim_flows_next_wake(const struct sim *s)
{
    uint64_t t = UINT64_MAX;
    for (uint32_t k = 0; k < s->nactive; k++) {
        const struct flow *f = &s->flows[s->active[k]];
        uint64_t w[4] = {f->cl.stall_until, f->sv.stall_until, give_up_at(f, &f->cl),
                         give_up_at(f, &f->sv)};
        for (int i = 0; i < 4; i++)
            if (w[i] > s->now && w[i] < t)
                t = w[i];
    }
    return t;
}

/* ---- actions ---- */

static void do_accept(struct sim *s, struct flow *f)
{
    struct vep *ep = side_ep(s, &f->sv);
    int fd = vep_accept(ep, f->sv.lfd, NULL, NULL);
    if (fd == -EAGAIN)
        return;
    if (fd < 0) {
        flow_error(s, f, &f->sv, "accept", fd);
        return;
    }
    f->sv.fd = fd;
    close_fd(s, &f->sv, &f->sv.lfd); /* one connection per flow: the port is free again */
    f->sv.st = SIDE_OPEN;
}

static void do_connected(struct sim *s, struct flow *f)
{
    int err = vep_sock_error(side_ep(s, &f->cl), f->cl.fd);
    if (err < 0) {
        flow_error(s, f, &f->cl, "connect", err);
        return;
    }
    if (vep_sock_state(side_ep(s, &f->cl), f->cl.fd) == VEP_SS_CONNECTED)
        f->cl.st = SIDE_OPEN;
}

static void send_stream(struct sim *s, struct flow *f, bool client)
{
    struct flow_side *sd = client ? &f->cl : &f->sv;
    uint64_t off = client ? f->c2s_sent : f->s2c_sent;
    uint64_t limit = client ? f->total : f->c2s_rcvd;
    uint32_t room = (uint32_t)(limit - off < SEND_CHUNK_MAX ? limit - off : SEND_CHUNK_MAX);
    uint32_t n = 1 + sim_decide(s, "send-size", room);
    /* An echo server sends back exactly what it read: the c2s pattern. */
    pattern_upto(f, off + n);
    int64_t r = vep_send(side_ep(s, sd), sd->fd, f->pattern + off, n, 0);
    if (r == -EAGAIN)
        return;
    if (r <= 0) {
        flow_error(s, f, sd, "send", r < 0 ? r : -EIO);
        return;
    }
    if (client)
        f->c2s_sent += (uint64_t)r;
    else
        f->s2c_sent += (uint64_t)r;
}

/* The client's next message: its size and EOR are drawn once, and a send
 * that comes back EAGAIN is retried with the same message, as an
 * application would. A blocking sender only gets here once the credit for
 * all of it is there (message_fits); a non-blocking one may have part of it
 * sent by Linux's rules, and the retry then completes a merged message,
 * which the server's check reports. */
static void send_message(struct sim *s, struct flow *f)
{
    uint32_t j = (uint32_t)f->c2s_sent;
    if (f->next_len == 0) {
        f->next_len = 1 + sim_decide(s, "msg-size", f->max_msg);
        f->next_eor = sim_decide(s, "msg-eor", 4) == 0;
        if (!message_fits(s, f))
            return; /* waits for credit, runnable again once it is there */
    }
    uint32_t len = f->next_len;
    bool eor = f->next_eor;
    fill(s->scratch, len, f->id, true, SEQ_OFFSET(j));
    int64_t r = vep_send(side_ep(s, &f->cl), f->cl.fd, s->scratch, len, eor ? VEP_MSG_EOR : 0);
    if (r == -EAGAIN)
        return;
    if (r != (int64_t)len) {
        flow_error(s, f, &f->cl, "send message", r < 0 ? r : -EIO);
        return;
    }
    f->msg_len[j] = len;
    f->msg_eor[j] = eor;
    f->c2s_sent++;
    f->next_len = 0;
}

static void got_eof(struct sim *s, struct flow *f, bool client)
{
    struct flow_side *sd = client ? &f->cl : &f->sv;
    sd->got_eof = true;
    bool complete = client ? (f->kind != FLOW_ECHO || f->s2c_rcvd == f->total)
                           : f->c2s_rcvd == f->total;
    if (!complete)
        flow_error(s, f, sd, "recv (end of stream before all data)", 0);
}

static void recv_stream(struct sim *s, struct flow *f, bool client)
{
    struct flow_side *sd = client ? &f->cl : &f->sv;
    int64_t r = vep_recv(side_ep(s, sd), sd->fd, s->scratch, RECV_BUF, 0, NULL);
    if (r == -EAGAIN)
        return;
    if (r < 0) {
        flow_error(s, f, sd, "recv", r);
        return;
    }
    if (r == 0) {
        got_eof(s, f, client);
        return;
    }
    uint64_t *rcvd = client ? &f->s2c_rcvd : &f->c2s_rcvd;
    uint64_t expect_max = client ? f->s2c_sent : f->c2s_sent;
    size_t bad = stream_mismatch(f, s->scratch, (size_t)r, *rcvd);
    if (bad < (size_t)r || *rcvd + (uint64_t)r > expect_max) {
        sim_violation(s, "stream-data",
                      "flow %" PRIu32 " (%s, port %" PRIu32 "): %s received a wrong byte at offset "
                      "%" PRIu64 " (%" PRId64 " bytes read, %" PRIu64 " sent so far)",
                      f->id, sim_flow_kind_name(f->kind), f->port, side_name(sd), *rcvd + bad, r,
                      expect_max);
        return;
    }
    *rcvd += (uint64_t)r;
    if (client)
        f->bytes_s2c += (uint64_t)r;
    else
        f->bytes_c2s += (uint64_t)r;
}

static void check_message(struct sim *s, struct flow *f, int64_t r, uint32_t buf, bool want_full,
                          unsigned flags)
{
    uint32_t j = (uint32_t)f->c2s_rcvd;
    if (j >= f->c2s_sent) {
        sim_violation(s, "seqpacket", "flow %" PRIu32 ": message %" PRIu32 " received but only %"
                      PRIu64 " sent", f->id, j, f->c2s_sent);
        return;
    }
    uint32_t len = f->msg_len[j];
    int64_t expect = want_full ? len : (len < buf ? len : buf);
    bool trunc = len > buf;
    bool eor = (flags & VEP_MSG_EOR) != 0;
    size_t copied = (size_t)(len < buf ? len : buf);
    size_t bad = first_mismatch(s->scratch, copied, f->id, true, SEQ_OFFSET(j));
    if (r != expect || trunc != ((flags & VEP_MSG_TRUNC) != 0) || eor != f->msg_eor[j] ||
        bad < copied) {
        sim_violation(s, "seqpacket",
                      "flow %" PRIu32 ": message %" PRIu32 " of %" PRIu32 " bytes (EOR %d) read "
                      "into %" PRIu32 " bytes: got %" PRId64 " (expected %" PRId64 "), TRUNC %d, "
                      "EOR %d, first wrong byte %zu",
                      f->id, j, len, f->msg_eor[j], buf, r, expect,
                      (flags & VEP_MSG_TRUNC) != 0, eor, bad);
        return;
    }
    f->c2s_rcvd++;
    f->bytes_c2s += copied;
}

static void recv_message(struct sim *s, struct flow *f)
{
    /* Now and then read into a short buffer, to check truncation. */
    uint32_t buf = f->max_msg;
    if (sim_decide(s, "msg-trunc", 8) == 0)
        buf = 1 + sim_decide(s, "msg-buf", f->max_msg);
    bool want_full = sim_decide(s, "msg-trunc-flag", 2) == 0;
    unsigned flags = 0;
    int64_t r = vep_recv(side_ep(s, &f->sv), f->sv.fd, s->scratch, buf,
                         want_full ? VEP_MSG_TRUNC : 0, &flags);
    if (r == -EAGAIN)
        return;
    if (r < 0) {
        flow_error(s, f, &f->sv, "recv message", r);
        return;
    }
    if (r == 0) { /* clients never send empty messages: this is the end */
        got_eof(s, f, false);
        return;
    }
    check_message(s, f, r, buf, want_full, flags);
}

static void end_writing(struct sim *s, struct flow *f)
{
    /* Either shut down for writing and wait for the peer's close, or close
     * at once: both are how real clients end. */
    if (f->kind != FLOW_ECHO && sim_decide(s, "client-end", 2) == 0) {
        int err = vep_shutdown(side_ep(s, &f->cl), f->cl.fd, VEP_SHUT_WR);
        if (err < 0) {
            flow_error(s, f, &f->cl, "shutdown", err);
            return;
        }
        f->cl.sent_eof = true;
        return;
    }
    close_side(s, &f->cl);
}

static void maybe_fault_side(struct sim *s, struct flow *f, struct flow_side *sd)
{
    if (!sim_faults_active(s))
        return;
    enum sim_fault stall = sd->guest ? FAULT_GUEST_STALL : FAULT_HOST_STALL;
    if (sim_chance(s, sd->guest ? "guest-stall" : "host-stall", s->cfg->faults.ppm[stall])) {
        sd->stall_until = s->now + 1 + sim_decide(s, "stall-ns", STALL_MAX_NS);
        sim_note_fault(s, stall, side_name(sd));
    }
    if (sd->st == SIDE_OPEN &&
        sim_chance(s, "peer-reset", s->cfg->faults.ppm[FAULT_PEER_RESET])) {
        sim_note_fault(s, FAULT_PEER_RESET, side_name(sd));
        f->disrupted = true;
        bool lost = lost_silently(s, f, sd); /* then no RST goes out */
        vep_abort(side_ep(s, sd), sd->fd, s->now);
        sd->fd = -1;
        close_side(s, sd);
        if (lost)
            abort_flow(s, f);
    }
}

static void run_open(struct sim *s, struct flow *f, bool client)
{
    struct flow_side *sd = client ? &f->cl : &f->sv;
    unsigned ev = vep_poll(side_ep(s, sd), sd->fd);
    if (finished(f, client)) {
        if (client && !f->cl.sent_eof && f->kind != FLOW_ECHO && !f->cl.got_eof)
            end_writing(s, f);
        else
            close_finished_side(s, f, sd);
        return;
    }
    bool w = can_write(s, f, client, ev);
    bool r = wants_read(f, client) && (ev & (VEP_POLLIN | VEP_POLLHUP | VEP_POLLRDHUP | VEP_POLLERR));
    if (w && r)
        w = sim_decide(s, "read-or-write", 2) == 0;
    if (!w && !r && (ev & VEP_POLLERR)) {
        flow_error(s, f, sd, "poll", vep_sock_error(side_ep(s, sd), sd->fd));
        return;
    }
    if (w && client && f->kind == FLOW_SEQPACKET)
        send_message(s, f);
    else if (w)
        send_stream(s, f, client);
    else if (!client && f->kind == FLOW_SEQPACKET)
        recv_message(s, f);
    else if (r)
        recv_stream(s, f, client);
    if (client && !s->stopped && f->st == FLOW_ACTIVE && f->cl.st == SIDE_OPEN &&
        f->kind != FLOW_ECHO && f->c2s_sent == f->total && !f->cl.sent_eof)
        end_writing(s, f);
}

void sim_flow_run(struct sim *s, uint32_t actor)
{
    struct flow *f = &s->flows[actor / 2];
    bool client = (actor & 1) == 0;
    struct flow_side *sd = client ? &f->cl : &f->sv;
    maybe_fault_side(s, f, sd);
    if (sd->st == SIDE_CLOSED || s->now < sd->stall_until) {
        finish_if_closed(s, f);
        return;
    }
    if (s->now >= give_up_at(f, sd)) {
        abort_flow(s, f); /* half-open since the device reset: ended by the fault */
        return;
    }
    if (sd->st == SIDE_LISTENING)
        do_accept(s, f);
    else if (sd->st == SIDE_CONNECTING)
        do_connected(s, f);
    else if (sd->st == SIDE_OPEN)
        run_open(s, f, client);
    if (!s->stopped)
        finish_if_closed(s, f);
}

/* ---- faults and the end ---- */

void sim_flows_disrupt_all(struct sim *s)
{
    for (uint32_t i = 0; i < s->nflows; i++)
        if (s->flows[i].st == FLOW_ACTIVE)
            s->flows[i].disrupted = true;
}

void sim_flows_device_reset(struct sim *s)
{
    for (uint32_t i = 0; i < s->nflows; i++) {
        if (s->flows[i].st != FLOW_ACTIVE)
            continue;
        s->flows[i].disrupted = true;
        s->flows[i].device_reset = true;
        s->flows[i].device_reset_at = s->now;
    }
}

void sim_flows_disrupt_connecting(struct sim *s)
{
    for (uint32_t i = 0; i < s->nflows; i++)
        if (s->flows[i].st == FLOW_ACTIVE && s->flows[i].cl.st == SIDE_CONNECTING)
            s->flows[i].disrupted = true;
}

bool sim_flows_all_done(const struct sim *s)
{
    return s->flows_done == s->nflows;
}

void sim_flows_describe_pending(const struct sim *s, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    uint32_t shown = 0;
    for (uint32_t i = 0; i < s->nflows && used < len; i++) {
        const struct flow *f = &s->flows[i];
        if (f->st == FLOW_DONE)
            continue;
        if (shown++ == 3) {
            snprintf(buf + used, len - used, "; ...");
            return;
        }
        int n = snprintf(buf + used, len - used,
                         "%sflow %" PRIu32 " %s %s c2s %" PRIu64 "/%" PRIu64 " s2c %" PRIu64 "/%" PRIu64
                         " client=%d server=%d",
                         shown > 1 ? "; " : "", f->id, sim_flow_kind_name(f->kind),
                         f->st == FLOW_PENDING ? "pending" : "active", f->c2s_rcvd, f->c2s_sent,
                         f->s2c_rcvd, f->s2c_sent, f->cl.st, f->sv.st);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

uint64_t sim_flows_digest(const struct sim *s, uint64_t h)
{
    for (uint32_t i = 0; i < s->nflows; i++) {
        const struct flow *f = &s->flows[i];
        uint64_t v[4] = {f->bytes_c2s, f->bytes_s2c, f->c2s_rcvd, (uint64_t)f->aborted << 1 | f->disrupted};
        h = fnv1a(h, v, sizeof(v));
    }
    return h;
}

/* world_check's exemption: an application socket of a flow a reset hit may
 * have lost its other end without a packet saying so. */
bool sim_flow_conn_exempt(void *ctx, bool guest_side, const struct vep_conn_info *c)
{
    const struct sim *s = ctx;
    for (uint32_t k = 0; k < s->nactive; k++) {
        const struct flow *f = &s->flows[s->active[k]];
        if (!f->disrupted)
            continue;
        if (f->cl.guest == guest_side && f->cl.fd == c->fd)
            return true;
        /* the server's end, accepted or still in the listener's queue */
        if (f->sv.guest == guest_side && c->local_port == f->port)
            return true;
    }
    /* A socket its application closed lingers until the peer's RST or the
     * close timeout; if the peer lost the connection silently (a disrupted
     * flow), the RST never comes and it lingers alone, done flow or not. */
    for (uint32_t i = 0; c->released && i < s->nflows; i++) {
        const struct flow *f = &s->flows[i];
        if (f->disrupted && f->st != FLOW_PENDING && f->cl.guest == guest_side &&
            c->peer_port == f->port)
            return true;
    }
    return false;
}
