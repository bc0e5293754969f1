/* The host side as Unix sockets, in the Firecracker / vhost-device-vsock
 * convention:
 *   host -> guest  a host application connects to PREFIX, writes
 *                  "CONNECT <port>\n" and gets "OK <hostport>\n" once the
 *                  guest accepted (the connection is closed if it refused);
 *   guest -> host  a guest connecting to host port P reaches a listener at
 *                  "PREFIX_P" (SOCK_STREAM for stream sockets, SOCK_SEQPACKET
 *                  for seqpacket ones); nobody there means an RST.
 * Each Unix connection is paired with one of the device's host sockets
 * (vep_*); vu_bridge_conn.c moves the bytes. This file owns the listener,
 * the connection table and the guest-connect path. */
#define _GNU_SOURCE /* accept4, MSG_CMSG_CLOEXEC */
#include "vhostuser/vu_bridge_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_MAX_BRIDGED 256u

static int fill_sockaddr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    strcpy(sa->sun_path, path);
    return 0;
}

int vu_listen_unix(const char *path)
{
    struct sockaddr_un sa;
    int err = fill_sockaddr(&sa, path);
    if (err != 0)
        return err;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
        err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

struct vu_bridge *vu_bridge_new(const struct vu_cfg *cfg, struct vu_stats *stats, int *err)
{
    struct vu_bridge *br = calloc(1, sizeof(*br));
    if (br == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    br->lfd = -1;
    br->stats = stats;
    br->guest_cid = cfg->guest_cid;
    br->max = cfg->max_bridged != 0 ? cfg->max_bridged : DEFAULT_MAX_BRIDGED;
    br->log = cfg->log;
    br->log_ctx = cfg->log_ctx;
    if (cfg->uds_path == NULL)
        return br;
    /* PREFIX_4294967295 must fit a sockaddr_un too. */
    if (strlen(cfg->uds_path) + 12 > sizeof(br->prefix)) {
        *err = -ENAMETOOLONG;
        free(br);
        return NULL;
    }
    strcpy(br->prefix, cfg->uds_path);
    br->lfd = vu_listen_unix(br->prefix);
    if (br->lfd < 0) {
        *err = br->lfd;
        free(br);
        return NULL;
    }
    return br;
}

void vu_bridge_free(struct vu_bridge *br)
{
    if (br == NULL)
        return;
    for (unsigned i = 0; i < br->n; i++) {
        close(br->c[i]->ufd);
        free(br->c[i]);
    }
    for (unsigned i = 0; i < br->npend; i++)
        close(br->pend[i].ufd);
    free(br->c);
    free(br->lp);
    if (br->lfd >= 0) {
        close(br->lfd);
        unlink(br->prefix);
    }
    free(br);
}

void vu_bridge_set_sockets(struct vu_bridge *br, struct vep *ep)
{
    br->ep = ep;
}

void br_log(const struct vu_bridge *br, const char *fmt, ...)
{
    if (br->log == NULL)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    br->log(br->log_ctx, line);
}

/* ---- the connection table ---- */

struct br_conn *br_add(struct vu_bridge *br, int ufd, int vfd, int type, enum br_state st)
{
    if (br->n == br->cap) {
        unsigned cap = br->cap ? br->cap * 2 : 8;
        struct br_conn **c = realloc(br->c, cap * sizeof(*c));
        if (c == NULL)
            return NULL;
        br->c = c;
        br->cap = cap;
    }
    struct br_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->ufd = ufd;
    c->vfd = vfd;
    c->type = type;
    c->st = st;
    br->c[br->n++] = c;
    return c;
}

static void br_remove(struct vu_bridge *br, unsigned i)
{
    free(br->c[i]);
    br->c[i] = br->c[--br->n];
}

/* ---- host -> guest: the listener at PREFIX ---- */

static void accept_host(struct vu_bridge *br)
{
    for (;;) {
        int fd = accept4(br->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (br->n >= br->max || br_add(br, fd, -1, VSOCK_TYPE_STREAM, BR_HANDSHAKE) == NULL) {
            br->stats->bridge_refused++;
            close(fd);
        }
    }
}

/* ---- guest -> host: PREFIX_P ---- */

static int connect_unix(const struct vu_bridge *br, uint32_t port, uint16_t type)
{
    char path[sizeof(br->prefix) + 16];
    snprintf(path, sizeof(path), "%s_%u", br->prefix, port);
    struct sockaddr_un sa;
    if (fill_sockaddr(&sa, path) != 0)
        return -1;
    int st = type == VSOCK_TYPE_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
    int fd = socket(AF_UNIX, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static struct br_lport *find_lport(const struct vu_bridge *br, uint32_t port)
{
    for (unsigned i = 0; i < br->nlp; i++)
        if (br->lp[i].port == port)
            return &br->lp[i];
    return NULL;
}

/* A host socket listening on port, for the endpoint to accept the REQUEST. */
static bool ensure_listener(struct vu_bridge *br, uint32_t port, uint16_t type)
{
    struct br_lport *lp = find_lport(br, port);
    if (lp != NULL)
        return lp->type == type;
    if (br->nlp == br->caplp) {
        unsigned cap = br->caplp ? br->caplp * 2 : 8;
        struct br_lport *n = realloc(br->lp, cap * sizeof(*n));
        if (n == NULL)
            return false;
        br->lp = n;
        br->caplp = cap;
    }
    int fd = vep_socket(br->ep, type);
    if (fd < 0)
        return false;
    if (vep_bind(br->ep, fd, port) != 0 || vep_listen(br->ep, fd, 64) != 0) {
        vep_close(br->ep, fd, 0);
        return false;
    }
    br->lp[br->nlp++] = (struct br_lport){.port = port, .vfd = fd, .type = type};
    return true;
}

static bool is_guest_connect(const struct vu_bridge *br, const struct vsock_hdr *h)
{
    return h->op == VSOCK_OP_REQUEST && h->src_cid == br->guest_cid &&
           h->dst_cid == VSOCK_CID_HOST &&
           (h->type == VSOCK_TYPE_STREAM || h->type == VSOCK_TYPE_SEQPACKET);
}

void vu_bridge_observe(void *ctx, const struct vsock_hdr *h, const uint8_t *payload,
                       uint32_t len)
{
    (void)payload;
    (void)len;
    struct vu_bridge *br = ctx;
    if (br->lfd < 0 || br->ep == NULL || !is_guest_connect(br, h))
        return;
    if (br->npend == BR_MAX_PENDING || br->n + br->npend >= br->max)
        return; /* no Unix side: the endpoint answers RST */
    int ufd = connect_unix(br, h->dst_port, h->type);
    if (ufd < 0) {
        br->stats->bridge_refused++;
        return;
    }
    if (!ensure_listener(br, h->dst_port, h->type)) {
        close(ufd);
        return;
    }
    br->pend[br->npend++] = (struct br_pending){
        .port = h->dst_port, .peer_port = h->src_port, .ufd = ufd, .type = h->type};
}

static int take_pending(struct vu_bridge *br, uint32_t port, uint32_t peer_port)
{
    for (unsigned i = 0; i < br->npend; i++) {
        if (br->pend[i].port != port || br->pend[i].peer_port != peer_port)
            continue;
        int fd = br->pend[i].ufd;
        br->pend[i] = br->pend[--br->npend];
        return fd;
    }
    return -1;
}

static void accept_port(struct vu_bridge *br, const struct br_lport *lp, uint64_t now)
{
    for (;;) {
        uint32_t peer_port;
        int vfd = vep_accept(br->ep, lp->vfd, NULL, &peer_port);
        if (vfd < 0)
            return;
        int ufd = take_pending(br, lp->port, peer_port);
        if (ufd < 0 || br_add(br, ufd, vfd, lp->type, BR_OPEN) == NULL) {
            if (ufd >= 0)
                close(ufd);
            br->stats->bridge_refused++;
            vep_abort(br->ep, vfd, now); /* nobody at PREFIX_P any more */
            continue;
        }
        br->stats->bridged++;
        br_log(br, "guest port %u -> %s_%u bridged", peer_port, br->prefix, lp->port);
    }
}

void vu_bridge_accept(struct vu_bridge *br, uint64_t now)
{
    if (br->ep == NULL)
        return;
    for (unsigned i = 0; i < br->nlp; i++)
        accept_port(br, &br->lp[i], now);
    /* Connected for a REQUEST the endpoint did not accept. */
    for (unsigned i = 0; i < br->npend; i++)
        close(br->pend[i].ufd);
    br->npend = 0;
}

/* ---- polling ---- */

unsigned vu_bridge_max_pollfds(const struct vu_bridge *br)
{
    return 1 + br->n;
}

unsigned vu_bridge_pollfds(struct vu_bridge *br, struct pollfd *pfd, unsigned max)
{
    unsigned k = 0;
    if (k < max)
        pfd[k++] = (struct pollfd){.fd = br->lfd, .events = POLLIN};
    /* No events wanted: fd -1, or a hung-up peer would wake poll at once
     * every round. */
    for (unsigned i = 0; i < br->n && k < max; i++) {
        short ev = br_conn_events(br->c[i]);
        pfd[k++] = (struct pollfd){.fd = ev ? br->c[i]->ufd : -1, .events = ev};
    }
    return k;
}

bool vu_bridge_run(struct vu_bridge *br, const struct pollfd *pfd, unsigned n, uint64_t now)
{
    if (br->ep == NULL)
        return false;
    if (n > 0 && pfd[0].fd == br->lfd && br->lfd >= 0 && pfd[0].revents)
        accept_host(br);
    bool moved = false;
    for (unsigned i = 0; i < br->n;) {
        enum br_result r = br_conn_run(br, br->c[i], now);
        moved = moved || r != BR_IDLE;
        if (r == BR_DONE)
            br_remove(br, i);
        else
            i++;
    }
    return moved;
}
