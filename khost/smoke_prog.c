/* vsocksim-kernel-smoke: our driver against the real Linux vhost-vsock,
 * inside the QEMU test guest only (ci/guest-image.sh, make check-kernel-smoke).
 *
 *   1. guest -> host: our driver connects to a real AF_VSOCK listener (bound
 *      to VMADDR_CID_ANY) through vhost, and both sides send SMOKE_BYTES of a
 *      pattern; each receiver checks every byte and a CRC-32 of the stream.
 *   2. host -> guest: a real AF_VSOCK socket connects to our guest CID, our
 *      driver's listener accepts, and the same exchange runs.
 *   3. seqpacket (when vhost offers it): messages of varied sizes both ways,
 *      lengths, contents and EOR checked.
 *   4. both ends close; our driver must end with no live connection.
 *
 * The last line is "SMOKE PASS ..." or "SMOKE FAIL: reason"; the exit status
 * is 0, 1 (fail) or 2 (refused: not inside the test guest). -v prints every
 * packet vhost placed on our rx ring. */
#include "khost/khost.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMOKE_BYTES (512u * 1024u)
#define SMOKE_TIMEOUT_NS (20ull * 1000000000ull)
#define PORT_G2H 5000u
#define PORT_H2G 6000u
#define PORT_SEQ 7000u

static bool verbose;
static uint64_t rx_seen[8];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("SMOKE FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    exit(1);
}

static void observe(void *ctx, const struct vsock_hdr *h, const uint8_t *payload, uint32_t len)
{
    (void)ctx;
    (void)payload;
    rx_seen[h->op < 8 ? h->op : 0]++;
    if (verbose)
        printf("  rx %" PRIu64 ":%" PRIu32 " -> %" PRIu64 ":%" PRIu32 " %s %s len=%" PRIu32
               " flags=%#" PRIx32 " buf_alloc=%" PRIu32 " fwd_cnt=%" PRIu32 " (came %" PRIu32 ")\n",
               h->src_cid, h->src_port, h->dst_cid, h->dst_port, vsock_op_name(h->op),
               vsock_type_name(h->type), h->len, h->flags, h->buf_alloc, h->fwd_cnt, len);
}

/* ---- the stream pattern and its checksum ------------------------------------ */

static uint8_t pattern(unsigned dir, uint64_t i)
{
    return (uint8_t)(i * 131u + (i >> 9) + dir * 77u);
}

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

struct dir {
    const char *name;
    unsigned id;
    uint64_t sent, recvd;
    uint32_t crc_sent, crc_recvd;
    bool eof;
};

static void fill(const struct dir *d, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(d->id, d->sent + i);
}

static void check(struct dir *d, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern(d->id, d->recvd + i))
            fail("%s: byte %" PRIu64 " is %#x, expected %#x", d->name, d->recvd + i, buf[i],
                 pattern(d->id, d->recvd + i));
    d->crc_recvd = crc32_update(d->crc_recvd, buf, n);
    d->recvd += n;
}

/* ---- one connection's exchange -------------------------------------------------- */

struct conn {
    struct khost *k;
    int gfd; /* our driver's socket */
    int hfd; /* the real socket */
};

static size_t chunk(uint64_t left)
{
    return left < 16384 ? (size_t)left : 16384;
}

static void exchange(struct conn *c, const char *label)
{
    static uint8_t buf[16384];
    struct vep *ep = khost_sockets(c->k);
    struct dir g2h = {.name = "guest->host", .id = 1}, h2g = {.name = "host->guest", .id = 2};
    char n1[64], n2[64];
    snprintf(n1, sizeof(n1), "%s guest->host", label);
    snprintf(n2, sizeof(n2), "%s host->guest", label);
    g2h.name = n1;
    h2g.name = n2;
    uint64_t t0 = khost_now(), deadline = t0 + SMOKE_TIMEOUT_NS;
    while (g2h.recvd < SMOKE_BYTES || h2g.recvd < SMOKE_BYTES) {
        bool progress = false;
        if (g2h.sent < SMOKE_BYTES) {
            size_t n = chunk(SMOKE_BYTES - g2h.sent);
            fill(&g2h, buf, n);
            int64_t r = vep_send(ep, c->gfd, buf, n, 0);
            if (r > 0) {
                g2h.crc_sent = crc32_update(g2h.crc_sent, buf, (size_t)r);
                g2h.sent += (uint64_t)r;
                progress = true;
            } else if (r != -EAGAIN) {
                fail("%s: vep_send: %s", g2h.name, strerror((int)-r));
            }
        }
        if (h2g.sent < SMOKE_BYTES) {
            size_t n = chunk(SMOKE_BYTES - h2g.sent);
            fill(&h2g, buf, n);
            int64_t r = khost_vsock_send(c->hfd, buf, n, 0);
            if (r > 0) {
                h2g.crc_sent = crc32_update(h2g.crc_sent, buf, (size_t)r);
                h2g.sent += (uint64_t)r;
                progress = true;
            } else if (r != -EAGAIN) {
                fail("%s: send: %s", h2g.name, strerror((int)-r));
            }
        }
        int64_t r = khost_vsock_recv(c->hfd, buf, sizeof(buf), 0, NULL);
        if (r > 0) {
            check(&g2h, buf, (size_t)r);
            progress = true;
        } else if (r == 0) {
            fail("%s: end of stream after %" PRIu64 " bytes", g2h.name, g2h.recvd);
        } else if (r != -EAGAIN) {
            fail("%s: recv: %s", g2h.name, strerror((int)-r));
        }
        r = vep_recv(ep, c->gfd, buf, sizeof(buf), 0, NULL);
        if (r > 0) {
            check(&h2g, buf, (size_t)r);
            progress = true;
        } else if (r == 0) {
            fail("%s: end of stream after %" PRIu64 " bytes", h2g.name, h2g.recvd);
        } else if (r != -EAGAIN) {
            fail("%s: vep_recv: %s", h2g.name, strerror((int)-r));
        }
        khost_pump(c->k);
        (void)khost_step(c->k, progress ? 0 : 1000000u);
        if (khost_now() > deadline)
            fail("%s: timed out: guest->host %" PRIu64 "/%" PRIu64 " received, host->guest %" PRIu64
                 "/%" PRIu64 " received",
                 label, g2h.recvd, g2h.sent, h2g.recvd, h2g.sent);
        if (vdrv_broken(khost_driver(c->k)))
            fail("%s: our driver marked the device broken", label);
    }
    if (g2h.crc_sent != g2h.crc_recvd || h2g.crc_sent != h2g.crc_recvd)
        fail("%s: checksum mismatch", label);
    double ms = (double)(khost_now() - t0) / 1e6;
    printf("  %s: %u bytes each way, crc32 %08" PRIx32 " / %08" PRIx32 " match, %.1f ms\n", label,
           SMOKE_BYTES, g2h.crc_recvd, h2g.crc_recvd, ms);
}

/* ---- waiting ------------------------------------------------------------------ */

static void settle(struct khost *k, uint64_t ns)
{
    uint64_t end = khost_now() + ns;
    while (khost_now() < end) {
        khost_pump(k);
        (void)khost_step(k, 1000000u);
    }
}

static int wait_accept_real(struct khost *k, int lfd)
{
    uint64_t deadline = khost_now() + SMOKE_TIMEOUT_NS;
    for (;;) {
        uint64_t cid;
        uint32_t port;
        int fd = khost_vsock_accept(lfd, &cid, &port);
        if (fd >= 0) {
            printf("  real listener accepted %" PRIu64 ":%" PRIu32 "\n", cid, port);
            return fd;
        }
        if (fd != -EAGAIN)
            fail("accept: %s", strerror(-fd));
        if (khost_now() > deadline)
            fail("accept: timed out");
        khost_pump(k);
        (void)khost_step(k, 1000000u);
    }
}

static int wait_accept_ours(struct khost *k, int lfd)
{
    struct vep *ep = khost_sockets(k);
    uint64_t deadline = khost_now() + SMOKE_TIMEOUT_NS;
    for (;;) {
        uint64_t cid;
        uint32_t port;
        int fd = vep_accept(ep, lfd, &cid, &port);
        if (fd >= 0) {
            printf("  our listener accepted %" PRIu64 ":%" PRIu32 "\n", cid, port);
            return fd;
        }
        if (fd != -EAGAIN)
            fail("vep_accept: %s", strerror(-fd));
        if (khost_now() > deadline)
            fail("vep_accept: timed out");
        khost_pump(k);
        (void)khost_step(k, 1000000u);
    }
}

static void wait_connected_ours(struct khost *k, int fd)
{
    struct vep *ep = khost_sockets(k);
    uint64_t deadline = khost_now() + SMOKE_TIMEOUT_NS;
    for (;;) {
        unsigned ev = vep_poll(ep, fd);
        if (ev & (VEP_POLLERR | VEP_POLLHUP))
            fail("our connect failed: %s", strerror(-vep_sock_error(ep, fd)));
        if (ev & VEP_POLLOUT)
            return;
        if (khost_now() > deadline)
            fail("our connect timed out");
        khost_pump(k);
        (void)khost_step(k, 1000000u);
    }
}

static void wait_connected_real(struct khost *k, int fd)
{
    uint64_t deadline = khost_now() + SMOKE_TIMEOUT_NS;
    for (;;) {
        unsigned ev = khost_vsock_poll(fd);
        if (ev & (VEP_POLLERR | VEP_POLLHUP))
            fail("real connect failed: %s", strerror(-khost_vsock_error(fd)));
        if (ev & VEP_POLLOUT)
            return;
        if (khost_now() > deadline)
            fail("real connect timed out");
        khost_pump(k);
        (void)khost_step(k, 1000000u);
    }
}

static void closing(struct conn *c, const char *label)
{
    struct vep *ep = khost_sockets(c->k);
    int r = vep_close(ep, c->gfd, khost_now());
    if (r != 0)
        fail("%s: vep_close: %s", label, strerror(-r));
    khost_pump(c->k);
    /* The real side sees end of stream, then closes too. */
    uint64_t deadline = khost_now() + SMOKE_TIMEOUT_NS;
    uint8_t b[64];
    for (;;) {
        int64_t n = khost_vsock_recv(c->hfd, b, sizeof(b), 0, NULL);
        if (n == 0)
            break;
        if (n > 0)
            fail("%s: data after the exchange", label);
        if (n != -EAGAIN)
            fail("%s: real recv after close: %s", label, strerror((int)-n));
        if (khost_now() > deadline)
            fail("%s: the real socket never saw end of stream", label);
        khost_pump(c->k);
        (void)khost_step(c->k, 1000000u);
    }
    khost_vsock_close(c->hfd);
}

/* ---- the three parts -------------------------------------------------------------- */

static void guest_to_host(struct khost *k)
{
    struct vep *ep = khost_sockets(k);
    int lfd = khost_vsock_socket(VSOCK_TYPE_STREAM);
    if (lfd < 0)
        fail("real socket: %s", strerror(-lfd));
    int r = khost_vsock_bind(lfd, VSOCK_CID_ANY, PORT_G2H);
    if (r == 0)
        r = khost_vsock_listen(lfd, 4);
    if (r != 0)
        fail("real listener: %s", strerror(-r));
    int gfd = vep_socket(ep, VSOCK_TYPE_STREAM);
    if (gfd < 0)
        fail("vep_socket: %s", strerror(-gfd));
    r = vep_connect(ep, gfd, VSOCK_CID_HOST, PORT_G2H, khost_now());
    if (r != -EINPROGRESS && r != 0)
        fail("vep_connect: %s", strerror(-r));
    khost_pump(k);
    printf("part 1: our driver connects to a real listener on CID 2 port %u\n", PORT_G2H);
    int hfd = wait_accept_real(k, lfd);
    wait_connected_ours(k, gfd);
    struct conn c = {k, gfd, hfd};
    exchange(&c, "part 1");
    closing(&c, "part 1");
    khost_vsock_close(lfd);
}

static void host_to_guest(struct khost *k)
{
    struct vep *ep = khost_sockets(k);
    int lfd = vep_socket(ep, VSOCK_TYPE_STREAM);
    int r = lfd < 0 ? lfd : vep_bind(ep, lfd, PORT_H2G);
    if (r >= 0)
        r = vep_listen(ep, lfd, 4);
    if (r < 0)
        fail("our listener: %s", strerror(-r));
    int hfd = khost_vsock_socket(VSOCK_TYPE_STREAM);
    if (hfd < 0)
        fail("real socket: %s", strerror(-hfd));
    printf("part 2: a real socket connects to our CID %" PRIu64 " port %u\n", khost_guest_cid(k),
           PORT_H2G);
    r = khost_vsock_connect(hfd, khost_guest_cid(k), PORT_H2G);
    if (r != -EINPROGRESS && r != 0)
        fail("real connect: %s", strerror(-r));
    int gfd = wait_accept_ours(k, lfd);
    wait_connected_real(k, hfd);
    struct conn c = {k, gfd, hfd};
    exchange(&c, "part 2");
    closing(&c, "part 2");
    vep_close(ep, lfd, khost_now());
}

static void seqpacket(struct khost *k)
{
    if (!(vdrv_features(khost_driver(k)) & (1ull << VIRTIO_VSOCK_F_SEQPACKET))) {
        printf("part 3: seqpacket not negotiated: skipped\n");
        return;
    }
    struct vep *ep = khost_sockets(k);
    int lfd = khost_vsock_socket(VSOCK_TYPE_SEQPACKET);
    int r = lfd < 0 ? lfd : khost_vsock_bind(lfd, VSOCK_CID_ANY, PORT_SEQ);
    if (r == 0)
        r = khost_vsock_listen(lfd, 4);
    if (r != 0)
        fail("real seqpacket listener: %s", strerror(-r));
    int gfd = vep_socket(ep, VSOCK_TYPE_SEQPACKET);
    r = gfd < 0 ? gfd : vep_connect(ep, gfd, VSOCK_CID_HOST, PORT_SEQ, khost_now());
    if (r != -EINPROGRESS && r != 0)
        fail("seqpacket connect: %s", strerror(-r));
    printf("part 3: seqpacket, our driver to a real listener on port %u\n", PORT_SEQ);
    int hfd = wait_accept_real(k, lfd);
    wait_connected_ours(k, gfd);
    static uint8_t msg[20000], got[20000];
    static const uint32_t sizes[] = {1, 44, 4052, 4053, 8192, 12345, 19999};
    unsigned nmsg = sizeof(sizes) / sizeof(sizes[0]);
    for (unsigned dir = 0; dir < 2; dir++) {
        for (unsigned m = 0; m < nmsg; m++) {
            uint32_t n = sizes[m];
            for (uint32_t i = 0; i < n; i++)
                msg[i] = (uint8_t)(i * 7u + m * 13u + dir);
            int64_t s = dir == 0 ? vep_send(ep, gfd, msg, n, VEP_MSG_EOR)
                                 : khost_vsock_send(hfd, msg, n, VEP_MSG_EOR);
            if (s != (int64_t)n)
                fail("seqpacket send %u (%u bytes, dir %u): %" PRId64, m, n, dir, s);
            uint64_t deadline = khost_now() + SMOKE_TIMEOUT_NS;
            for (;;) {
                khost_pump(k);
                unsigned of = 0;
                int64_t g = dir == 0 ? khost_vsock_recv(hfd, got, sizeof(got), 0, &of)
                                     : vep_recv(ep, gfd, got, sizeof(got), 0, &of);
                if (g > 0) {
                    if (g != (int64_t)n || memcmp(got, msg, n) != 0)
                        fail("seqpacket message %u dir %u: %" PRId64 " bytes for %u, or wrong bytes",
                             m, dir, g, n);
                    if (!(of & VEP_MSG_EOR))
                        fail("seqpacket message %u dir %u: no EOR", m, dir);
                    break;
                }
                if (g != -EAGAIN)
                    fail("seqpacket recv %u dir %u: %" PRId64, m, dir, g);
                if (khost_now() > deadline)
                    fail("seqpacket message %u dir %u timed out", m, dir);
                (void)khost_step(k, 1000000u);
            }
        }
    }
    printf("  part 3: %u messages each way, lengths, bytes and EOR match\n", nmsg);
    struct conn c = {k, gfd, hfd};
    closing(&c, "part 3");
    khost_vsock_close(lfd);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-v") == 0)
            verbose = true;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (khost_guest_check() != 0) {
        fprintf(stderr, "vsocksim-kernel-smoke: %s\n", khost_refusal());
        return 2;
    }
    uint64_t t0 = khost_now();
    struct khost_cfg cfg = {0};
    cfg.sockets.observe_rx = observe;
    char why[256];
    int err;
    struct khost *k = khost_open(&cfg, &err, why, sizeof(why));
    if (k == NULL)
        fail("khost_open: %s", why);
    printf("vhost-vsock up: offered %#" PRIx64 ", negotiated %#" PRIx64 ", guest CID %" PRIu64
           ", %.1f ms\n",
           khost_device_features(k), vdrv_features(khost_driver(k)), khost_guest_cid(k),
           (double)(khost_now() - t0) / 1e6);
    guest_to_host(k);
    host_to_guest(k);
    seqpacket(k);
    settle(k, 200000000u);
    struct vep_conn_info info[8];
    uint32_t live = vep_conns(khost_sockets(k), info, 8);
    const struct vdrv_counters *dc = vdrv_counters(khost_driver(k));
    const struct vep_counters *ec = vep_counters(khost_sockets(k));
    const struct khost_stats *st = khost_stats(k);
    printf("driver: rx pkts %" PRIu64 ", tx pkts %" PRIu64 ", bad used %" PRIu64 ", rx bad len %" PRIu64
           ", tx ring full %" PRIu64 "\n",
           dc->rx_pkts, dc->tx_pkts, dc->bad_used, dc->rx_bad_len, dc->tx_ring_full);
    printf("packets from vhost:");
    for (int op = 1; op < 8; op++)
        printf(" %s %" PRIu64, vsock_op_name((uint16_t)op), rx_seen[op]);
    printf("\npackets to vhost:  ");
    for (int op = 1; op < 8; op++)
        printf(" %s %" PRIu64, vsock_op_name((uint16_t)op), ec->tx_pkts[op]);
    printf("\nendpoint drops:");
    uint64_t drops = 0;
    for (int d = 0; d < VEP_DROP_COUNT; d++)
        if (ec->drops[d] != 0) {
            printf(" %s %" PRIu64, vep_drop_name((enum vep_drop)d), ec->drops[d]);
            drops += ec->drops[d];
        }
    printf("%s\nnotifications: kicks rx %" PRIu64 " tx %" PRIu64 ", calls rx %" PRIu64 " tx %" PRIu64
           ", vq errors rx %" PRIu64 " tx %" PRIu64 "\n",
           drops ? "" : " none", st->kicks[0], st->kicks[1], st->calls[0], st->calls[1],
           st->errors[0], st->errors[1]);
    if (st->errors[0] || st->errors[1])
        fail("vhost signalled a queue error");
    if (vdrv_broken(khost_driver(k)))
        fail("our driver marked the device broken");
    if (live != 0) {
        for (uint32_t i = 0; i < live && i < 8; i++)
            printf("  left: fd %d state %d port %" PRIu32 " peer %" PRIu64 ":%" PRIu32 "\n", info[i].fd,
                   (int)info[i].state, info[i].local_port, info[i].peer_cid, info[i].peer_port);
        fail("%" PRIu32 " connection(s) left on our side after both ends closed", live);
    }
    khost_close(k);
    printf("SMOKE PASS: 3 parts, %.2f s\n", (double)(khost_now() - t0) / 1e9);
    return 0;
}
