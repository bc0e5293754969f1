/* One bridged connection: a Unix socket and one of the device's host
 * sockets, with a bounded buffer each way. The host socket's send respects
 * the guest's credit (vep_send takes only what the guest has room for), and
 * the Unix socket is read only while its buffer has room, so a slow reader
 * on either side stops the writer on the other. Half-closes travel: EOF on
 * the Unix side becomes SHUT_WR towards the guest and the guest's end of
 * stream becomes shutdown(SHUT_WR) on the Unix socket. */
#include "vhostuser/vu_bridge_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

short br_conn_events(const struct br_conn *c)
{
    short ev = 0;
    bool seq = c->type == VSOCK_TYPE_SEQPACKET;
    if (c->st == BR_HANDSHAKE)
        ev |= POLLIN;
    if (c->st == BR_OPEN && !c->u_eof && (seq ? c->tg_len == 0 : c->tg_len < BR_BUF))
        ev |= POLLIN;
    if (c->th_len > 0)
        ev |= POLLOUT;
    return ev;
}

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Ends the connection: gracefully when both sides finished, else with an
 * RST to the guest. */
static enum br_result finish(struct vu_bridge *br, struct br_conn *c, bool graceful, uint64_t now)
{
    if (c->vfd >= 0) {
        if (graceful)
            vep_close(br->ep, c->vfd, now);
        else
            vep_abort(br->ep, c->vfd, now);
    }
    close(c->ufd);
    return BR_DONE;
}

/* ---- "CONNECT <port>\n" ---- */

static bool parse_connect(const char *line, uint32_t *port)
{
    static const char verb[] = "CONNECT ";
    if (strncmp(line, verb, sizeof(verb) - 1) != 0)
        return false;
    const char *p = line + sizeof(verb) - 1;
    uint64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 11; p++, digits++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (*p == '\r')
        p++;
    if (digits == 0 || *p != '\0' || v > UINT32_MAX)
        return false;
    *port = (uint32_t)v;
    return true;
}

static bool start_connect(struct vu_bridge *br, struct br_conn *c, const char *line, uint64_t now)
{
    uint32_t port;
    if (!parse_connect(line, &port)) {
        br_log(br, "host connection sent a bad request line");
        return false;
    }
    c->vfd = vep_socket(br->ep, VSOCK_TYPE_STREAM);
    if (c->vfd < 0)
        return false;
    int r = vep_connect(br->ep, c->vfd, br->guest_cid, port, now);
    if (r != -EINPROGRESS && r != 0)
        return false;
    c->st = BR_CONNECTING;
    return true;
}

static enum br_result handshake(struct vu_bridge *br, struct br_conn *c, uint64_t now)
{
    ssize_t n = read(c->ufd, c->line + c->line_len, BR_LINE - 1 - c->line_len);
    if (n < 0 && would_block())
        return BR_IDLE;
    if (n <= 0)
        return finish(br, c, false, now);
    c->line_len += (uint32_t)n;
    char *nl = memchr(c->line, '\n', c->line_len);
    if (nl == NULL)
        return c->line_len == BR_LINE - 1 ? finish(br, c, false, now) : BR_MOVED;
    /* Bytes after the line are the stream's first bytes. */
    uint32_t rest = c->line_len - (uint32_t)(nl + 1 - c->line);
    memcpy(c->tg, nl + 1, rest);
    c->tg_len = rest;
    *nl = '\0';
    if (!start_connect(br, c, c->line, now)) {
        br->stats->bridge_refused++;
        return finish(br, c, false, now);
    }
    return BR_MOVED;
}

static enum br_result connecting(struct vu_bridge *br, struct br_conn *c, uint64_t now)
{
    enum vep_sock_state s = vep_sock_state(br->ep, c->vfd);
    if (s == VEP_SS_CONNECTING)
        return BR_IDLE;
    if (s != VEP_SS_CONNECTED) {
        br->stats->bridge_refused++;
        return finish(br, c, false, now);
    }
    uint32_t port = 0, peer_port;
    uint64_t peer_cid;
    vep_sock_name(br->ep, c->vfd, &port, &peer_cid, &peer_port);
    int n = snprintf((char *)c->th, BR_BUF, "OK %u\n", port);
    c->th_len = (uint32_t)n;
    c->st = BR_OPEN;
    br->stats->bridged++;
    br_log(br, "host -> guest port connected as host port %u", port);
    return BR_MOVED;
}

/* ---- bytes ---- */

/* Unix -> buffer. 1 moved, 0 nothing, -1 the connection is broken. */
static int unix_in(struct br_conn *c)
{
    bool seq = c->type == VSOCK_TYPE_SEQPACKET;
    if (c->u_eof || (seq ? c->tg_len != 0 : c->tg_len == BR_BUF))
        return 0;
    if (c->tg_off > 0) {
        memmove(c->tg, c->tg + c->tg_off, c->tg_len);
        c->tg_off = 0;
    }
    ssize_t n = recv(c->ufd, c->tg + c->tg_len, BR_BUF - c->tg_len, MSG_DONTWAIT);
    if (n < 0)
        return would_block() ? 0 : -1;
    if (n == 0)
        c->u_eof = true; /* for seqpacket an empty message reads as the end, too */
    c->tg_len += (uint32_t)n;
    return 1;
}

/* Buffer -> guest, as far as credit allows. */
static int vep_out(struct vu_bridge *br, struct br_conn *c)
{
    int moved = 0;
    if (c->tg_len > 0) {
        bool seq = c->type == VSOCK_TYPE_SEQPACKET;
        int64_t r = vep_send(br->ep, c->vfd, c->tg + c->tg_off, c->tg_len, seq ? VEP_MSG_EOR : 0);
        if (r == -EAGAIN)
            return 0;
        if (r < 0)
            return -1;
        c->tg_off += (uint32_t)r;
        c->tg_len -= (uint32_t)r;
        br->stats->bytes_to_guest += (uint64_t)r;
        moved = r > 0;
    }
    if (c->tg_len == 0) {
        c->tg_off = 0;
        if (c->u_eof && !c->v_shut) {
            vep_shutdown(br->ep, c->vfd, VEP_SHUT_WR);
            c->v_shut = true;
            moved = 1;
        }
    }
    return moved;
}

/* Guest -> buffer. */
static int vep_in(struct vu_bridge *br, struct br_conn *c)
{
    bool seq = c->type == VSOCK_TYPE_SEQPACKET;
    if (c->v_eof || (seq ? c->th_len != 0 : c->th_off + c->th_len == BR_BUF))
        return 0;
    if (!seq && c->th_off > 0) {
        memmove(c->th, c->th + c->th_off, c->th_len);
        c->th_off = 0;
    }
    unsigned fl = 0;
    uint8_t *dst = c->th + c->th_off + c->th_len;
    int64_t r = vep_recv(br->ep, c->vfd, dst, BR_BUF - c->th_off - c->th_len, 0, &fl);
    if (r == -EAGAIN)
        return 0;
    if (r < 0)
        return -1;
    if (r == 0)
        c->v_eof = true;
    c->th_len += (uint32_t)r;
    return 1;
}

/* Buffer -> Unix. */
static int unix_out(struct vu_bridge *br, struct br_conn *c)
{
    int moved = 0;
    if (c->th_len > 0) {
        ssize_t n = send(c->ufd, c->th + c->th_off, c->th_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return would_block() ? 0 : -1;
        c->th_off += (uint32_t)n;
        c->th_len -= (uint32_t)n;
        br->stats->bytes_to_host += (uint64_t)n;
        moved = n > 0;
    }
    if (c->th_len == 0) {
        c->th_off = 0;
        if (c->v_eof && !c->u_shut) {
            shutdown(c->ufd, SHUT_WR);
            c->u_shut = true;
            moved = 1;
        }
    }
    return moved;
}

static enum br_result open_run(struct vu_bridge *br, struct br_conn *c, uint64_t now)
{
    int steps[4];
    steps[0] = unix_in(c);
    steps[1] = steps[0] < 0 ? -1 : vep_out(br, c);
    steps[2] = steps[1] < 0 ? -1 : vep_in(br, c);
    steps[3] = steps[2] < 0 ? -1 : unix_out(br, c);
    bool moved = false;
    for (int i = 0; i < 4; i++) {
        if (steps[i] < 0)
            return finish(br, c, false, now);
        moved = moved || steps[i] > 0;
    }
    if (c->v_shut && c->u_shut)
        return finish(br, c, true, now);
    return moved ? BR_MOVED : BR_IDLE;
}

enum br_result br_conn_run(struct vu_bridge *br, struct br_conn *c, uint64_t now)
{
    switch (c->st) {
    case BR_HANDSHAKE:
        return handshake(br, c, now);
    case BR_CONNECTING:
        return connecting(br, c, now);
    case BR_OPEN:
        break;
    }
    /* "OK <port>\n" goes out before anything else. */
    return open_run(br, c, now);
}
