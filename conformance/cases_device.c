/* The device's life and the sizes of what crosses the rings, as Debian's
 * Linux has them (6.1.192 and 6.12.118 alike):
 *
 * - vhost-vsock offers VHOST_VSOCK_FEATURES (drivers/vhost/vsock.c): no
 *   STREAM bit, no NO_IMPLIED_STREAM;
 * - its guest driver posts rx buffers of SKB_WITH_OVERHEAD(4096) = 3776
 *   bytes, header included (virtio_vsock_rx_fill), and sends up to 64 KiB
 *   of payload as one packet (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE);
 * - its rx work drops a used len shorter than a header or longer than the
 *   buffer, and a hdr.len beyond the used len, and takes anything else
 *   (virtio_transport_rx_work);
 * - vhost keeps host sockets through VHOST_VSOCK_SET_RUNNING 0 (a VM stop)
 *   and through a guest's device reset (vhost_vsock_stop only clears the
 *   queues' backends); only closing /dev/vhost-vsock orphans them
 *   (vhost_vsock_dev_release);
 * - an rx buffer vhost cannot use (shorter than a header) costs the packet,
 *   with a queue error (vhost_transport_do_send_pkt). */
#include "conformance/conf_case.h"
#include "ring/ring.h"

#define BIT(n) (1ull << (n))
/* VHOST_GET_FEATURES on /dev/vhost-vsock, 6.1.192 and 6.12.118: SEQPACKET,
 * NOTIFY_ON_EMPTY, LOG_ALL, ANY_LAYOUT, INDIRECT_DESC, EVENT_IDX, VERSION_1,
 * ACCESS_PLATFORM. */
#define VHOST_VSOCK_OFFER 0x33d000002ull
#define SOCKET_AND_RING_BITS                                                                 \
    (BIT(VIRTIO_VSOCK_F_STREAM) | BIT(VIRTIO_VSOCK_F_SEQPACKET) |                              \
     BIT(VIRTIO_VSOCK_F_NO_IMPLIED_STREAM) | BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | \
     BIT(VIRTIO_F_INDIRECT_DESC))

CONF_CASE(device_offer_is_vhosts, "VS-I1 VS-N2", CONF_SIM | CONF_KERNEL, 0,
          "the device offers what Linux's vhost-vsock offers (0x33d000002): SEQPACKET, "
          "VERSION_1, EVENT_IDX and INDIRECT_DESC, no STREAM bit and no NO_IMPLIED_STREAM; "
          "stream sockets work all the same (implied)")
{
    uint64_t f = 0;
    CONF_REQUIRE_RET(c, conf_device_features(c, &f), 0);
    CONF_REQUIRE_MSG(c, (f & ~VHOST_VSOCK_OFFER) == 0,
                     "offer 0x%llx has bits vhost does not offer", (unsigned long long)f);
    CONF_REQUIRE_MSG(c, (f & SOCKET_AND_RING_BITS) == (VHOST_VSOCK_OFFER & SOCKET_AND_RING_BITS),
                     "offer 0x%llx: socket and ring bits differ from vhost's",
                     (unsigned long long)f);
    if (conf_target_mask(c) == CONF_KERNEL)
        CONF_REQUIRE_EQ(c, f, VHOST_VSOCK_OFFER);
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 11000, &p);
    CONF_SEND_ALL(c, CONF_GUEST, p.client, "stream", 6);
    uint8_t b[6];
    CONF_RECV_EXACT(c, CONF_HOST, p.server, b, 6);
}

/* ---- sizes ---- */

/* The payload sizes of the RW packets between guest port gport and host
 * port hport in direction to_host, from transcript entry `from` on. */
static unsigned rw_sizes(struct conf *c, uint32_t from, bool to_host, uint32_t gport,
                         uint32_t hport, uint32_t *len, unsigned max)
{
    struct conf_pktlog_entry *e = conf_scratch(c, 4096 * sizeof(*e));
    int64_t n = conf_transcript(c, from, e, 4096);
    CONF_REQUIRE_MSG(c, n >= 0, "no transcript: %lld", (long long)n);
    unsigned k = 0;
    for (int64_t i = 0; i < n && i < 4096; i++) {
        const struct vsock_hdr *h = &e[i].h;
        if (e[i].to_host != to_host || h->op != VSOCK_OP_RW)
            continue;
        uint32_t gp = to_host ? h->src_port : h->dst_port;
        uint32_t hp = to_host ? h->dst_port : h->src_port;
        if (gp == gport && hp == hport && k < max)
            len[k++] = h->len;
    }
    return k;
}

static uint32_t transcript_len(struct conf *c)
{
    struct conf_pktlog_entry e;
    int64_t n = conf_transcript(c, 0, &e, 0);
    CONF_REQUIRE_MSG(c, n >= 0, "no transcript: %lld", (long long)n);
    return (uint32_t)n;
}

CONF_CASE(device_linux_packet_sizes, "VS-I6 VS-S1", CONF_ALL, 0,
          "rx buffers of 3776 bytes, header included: 8000 bytes from the host reach the guest "
          "as 3732 + 3732 + 536; a 64 KiB send from the guest crosses as one packet")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 11010, &p);
    uint32_t gport;
    CONF_REQUIRE_RET(c, conf_local_port(c, CONF_GUEST, p.client, &gport), 0);
    uint32_t from = transcript_len(c);
    uint8_t *out = conf_scratch(c, 65536), *in = conf_scratch(c, 65536);
    conf_fill(out, 8000, 41, 0);
    CONF_SEND_ALL(c, CONF_HOST, p.server, out, 8000);
    CONF_RECV_EXACT(c, CONF_GUEST, p.client, in, 8000);
    CONF_REQUIRE_EQ(c, conf_check(in, 8000, 41, 0), 8000);
    uint32_t len[8];
    unsigned n = rw_sizes(c, from, false, gport, 11010, len, 8);
    CONF_REQUIRE_MSG(c, n == 3 && len[0] == 3732 && len[1] == 3732 && len[2] == 536,
                     "host to guest: %u parts (%u, %u, %u), expected 3732, 3732, 536", n,
                     n > 0 ? len[0] : 0, n > 1 ? len[1] : 0, n > 2 ? len[2] : 0);
    from = transcript_len(c);
    conf_fill(out, 65536, 42, 0);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_GUEST, p.client, out, 65536, 0), 65536);
    CONF_RECV_EXACT(c, CONF_HOST, p.server, in, 65536);
    CONF_REQUIRE_EQ(c, conf_check(in, 65536, 42, 0), 65536);
    n = rw_sizes(c, from, true, gport, 11010, len, 8);
    CONF_REQUIRE_MSG(c, n == 1 && len[0] == 65536,
                     "guest to host: %u packets (first %u), expected one of 65536", n,
                     n > 0 ? len[0] : 0);
}

/* One host send of a 5-byte word, delivered with used len off by extra. */
static void send_with_used_len(struct conf *c, int hfd, const char *word, int32_t extra)
{
    CONF_REQUIRE_RET(c, conf_rx_used_len_extra(c, extra), 0);
    CONF_SEND_ALL(c, CONF_HOST, hfd, word, 5);
    conf_sleep(c, CONF_MS(50));
}

CONF_CASE(device_rx_used_len_rules, "VS-I6 SR-27", CONF_SIM | CONF_GUEST_TARGET,
          CONF_CAP_USED_LEN,
          "the guest driver takes an rx used len beyond 44 + hdr.len (hdr.len bytes are data) "
          "up to its 3776-byte buffer, and drops one past the buffer or short of hdr.len")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 11020, &p);
    send_with_used_len(c, p.server, "hello", 100);          /* 149: taken */
    send_with_used_len(c, p.server, "fills", 3776 - 49);    /* the buffer exactly: taken */
    send_with_used_len(c, p.server, "LOST1", 3776 - 49 + 1); /* past the buffer: dropped */
    send_with_used_len(c, p.server, "LOST2", -1);           /* short of hdr.len: dropped */
    send_with_used_len(c, p.server, "final", 0);
    CONF_REQUIRE_RET(c, conf_rx_used_len_extra(c, 0), 0);
    char buf[16] = {0};
    CONF_RECV_EXACT(c, CONF_GUEST, p.client, buf, 15);
    CONF_REQUIRE_MSG(c, memcmp(buf, "hellofillsfinal", 15) == 0, "the guest read '%.15s'", buf);
    conf_sleep(c, CONF_MS(50));
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, p.client, buf, sizeof(buf), 0, NULL), -EAGAIN);
}

/* ---- stop and reset ---- */

CONF_CASE(device_stop_keeps_host_connections, "VS-S1 VS-I12", CONF_ALL, CONF_CAP_DEVICE_STOP,
          "a device stop and start (VM stop and cont: VHOST_VSOCK_SET_RUNNING 0, then 1) "
          "leaves host sockets connected: what the host sends meanwhile waits and arrives "
          "after the start, and both ways carry data again")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 11030, &p);
    CONF_SEND_ALL(c, CONF_GUEST, p.client, "ping", 4);
    uint8_t b[16];
    CONF_RECV_EXACT(c, CONF_HOST, p.server, b, 4);
    CONF_REQUIRE_RET(c, conf_device_stop(c), 0);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_HOST, p.server, "while stopped", 13, 0), 13);
    conf_sleep(c, CONF_MS(200));
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_GUEST, p.client, b, sizeof(b), 0, NULL), -EAGAIN);
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_HOST, p.server), 0);
    CONF_REQUIRE_MSG(c, !(conf_poll(c, CONF_HOST, p.server) & (VEP_POLLERR | VEP_POLLHUP)),
                     "the host socket shows an error or hang-up while the device is stopped");
    CONF_REQUIRE_RET(c, conf_device_start(c), 0);
    CONF_RECV_EXACT(c, CONF_GUEST, p.client, b, 13);
    CONF_REQUIRE(c, memcmp(b, "while stopped", 13) == 0);
    CONF_SEND_ALL(c, CONF_GUEST, p.client, "after", 5);
    CONF_RECV_EXACT(c, CONF_HOST, p.server, b, 5);
    CONF_REQUIRE(c, memcmp(b, "after", 5) == 0);
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_HOST, p.server), 0);
}

CONF_CASE(device_reset_host_half_open, "VS-S1 VS-S3 VS-I12", CONF_SIM | CONF_KERNEL,
          CONF_CAP_DEVICE_RESET,
          "when the guest resets the device, its connections reset but vhost keeps the host "
          "socket connected, with no error (half-open); when the host then sends, the guest "
          "answers RST and the host sees end of stream")
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 11040, &p);
    CONF_SEND_ALL(c, CONF_HOST, p.server, "hi", 2);
    uint8_t b[8];
    CONF_RECV_EXACT(c, CONF_GUEST, p.client, b, 2);
    conf_sleep(c, CONF_MS(50)); /* the read's CREDIT_UPDATE goes out before the reset */
    CONF_REQUIRE_RET(c, conf_device_reset(c), 0);
    CONF_WAIT_POLL(c, CONF_GUEST, p.client, VEP_POLLERR);
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_GUEST, p.client), -ECONNRESET);
    conf_sleep(c, CONF_MS(200));
    CONF_REQUIRE_RET(c, conf_sock_error(c, CONF_HOST, p.server), 0);
    CONF_REQUIRE_MSG(c, !(conf_poll(c, CONF_HOST, p.server) &
                          (VEP_POLLERR | VEP_POLLHUP | VEP_POLLRDHUP | VEP_POLLIN)),
                     "the host socket learned of the reset: poll 0x%x",
                     conf_poll(c, CONF_HOST, p.server));
    CONF_REQUIRE_RET(c, conf_send(c, CONF_HOST, p.server, "anyone?", 7, 0), 7);
    CONF_WAIT_EOF(c, CONF_HOST, p.server);
    CONF_REQUIRE_RET(c, conf_send(c, CONF_HOST, p.server, "x", 1, 0), -EPIPE);
    /* The listener and the guest's new rings work. */
    int fd;
    CONF_REQUIRE_RET(c, CONF_CONNECT(c, CONF_GUEST, VSOCK_TYPE_STREAM, 11040, &fd), 0);
    int a = CONF_ACCEPT(c, CONF_HOST, p.listener);
    CONF_SEND_ALL(c, CONF_GUEST, fd, "again", 5);
    CONF_RECV_EXACT(c, CONF_HOST, a, b, 5);
}

CONF_CASE_OPTS(device_rx_buffer_too_small, "VS-I11 SR-I2", CONF_SIM | CONF_KERNEL,
               CONF_CAP_CONFIG,
               "an rx buffer shorter than a header costs the packet meant for it: the device "
               "signals a queue error, never returns the buffer and the packet is gone (a host "
               "connect waits in vain)",
               .rx_buf_size = 40)
{
    int64_t before = conf_queue_errors(c, 0); /* rx */
    CONF_REQUIRE_MSG(c, before >= 0, "the target cannot tell queue errors");
    int lfd = CONF_LISTEN(c, CONF_GUEST, VSOCK_TYPE_STREAM, 11050, 4);
    int fd = conf_socket(c, CONF_HOST, VSOCK_TYPE_STREAM);
    CONF_REQUIRE(c, fd >= 0);
    CONF_REQUIRE_RET(c, conf_connect(c, CONF_HOST, fd, conf_guest_cid(c), 11050), -EINPROGRESS);
    conf_sleep(c, CONF_MS(300));
    CONF_REQUIRE_MSG(c, conf_queue_errors(c, 0) > before,
                     "no queue error on rx for a 40-byte buffer");
    CONF_REQUIRE_RET(c, conf_accept(c, CONF_GUEST, lfd), -EAGAIN);
    CONF_REQUIRE_MSG(c, !(conf_poll(c, CONF_HOST, fd) & VEP_POLLOUT),
                     "the host connect completed: the REQUEST got through");
}
