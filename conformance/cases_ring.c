/* Hand-made descriptor chains on the tx queue (2.7.4, 2.7.5): the device
 * takes any arrangement of a well-formed chain, and refuses malformed ones
 * as Linux's vhost does (6.1.192 and 6.12.118): a queue error on its error
 * eventfd, and the chain never returned (vhost_get_vq_desc failing leaves
 * it at the head of avail; vhost_vsock_alloc_skb refusing a chain it read
 * keeps it and goes on). Each case gets a fresh target, since the queue
 * stops after a ring error.
 *
 * Where the spec binds only the driver (SR-14, SR-16, SR-17) a device may
 * still take such a chain (vhost follows NEXT after an INDIRECT
 * descriptor, for one); refusing it is our device's rule, so those cases
 * run on sim only. */
#include "conformance/conf_case.h"
#include "ring/ring.h"

#define RING CONF_RAW_TARGETS
#define CAPS (CONF_CAP_RAW | CONF_CAP_RAW_RING)
#define PORT 9500u

static struct vsock_hdr request(struct conf *c, uint32_t gport)
{
    return conf_raw_hdr(c, VSOCK_OP_REQUEST, gport, PORT, VSOCK_TYPE_STREAM);
}

static void chain(struct conf *c, const struct conf_desc *d, unsigned n,
                  struct conf_chain_result *res)
{
    CONF_REQUIRE_RET(c, conf_raw_chain(c, d, n, res, CONF_MS(1000)), 0);
}

/* The chain was refused as vhost refuses it: a queue error, the chain
 * never returned, and its REQUEST not taken as one. */
static void require_refused(struct conf *c, const struct conf_chain_result *res)
{
    CONF_REQUIRE_MSG(c, res->error && !res->returned,
                     "a malformed chain: expected a queue error and no used entry, got error %d, "
                     "returned %d (used len %u)", res->error, res->returned, res->used_len);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(100));
}

/* The chain was taken: returned with used len 0 (tx writes nothing) and
 * its REQUEST answered. */
static void require_taken(struct conf *c, const struct conf_chain_result *res, uint32_t gport)
{
    CONF_REQUIRE_MSG(c, res->returned && !res->error,
                     "the device refused a well-formed chain (returned %d, error %d)",
                     res->returned, res->error);
    CONF_REQUIRE_EQ(c, res->used_len, 0);
    struct vsock_hdr r;
    CONF_RAW_EXPECT(c, &r, NULL, 0, VSOCK_OP_RESPONSE);
    CONF_REQUIRE_ADDR(c, &r, PORT, gport);
}

/* Raw mode, a host listener on PORT (returned) and a REQUEST header from
 * gport in hdr. */
static int setup(struct conf *c, uint8_t hdr[VSOCK_HDR_LEN], uint32_t gport)
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, PORT, 8);
    struct vsock_hdr h = request(c, gport);
    vsock_hdr_encode(&h, hdr);
    return lfd;
}

#define NEXT VIRTQ_DESC_F_NEXT
#define WRITE VIRTQ_DESC_F_WRITE
#define INDIRECT VIRTQ_DESC_F_INDIRECT

CONF_CASE(ring_header_split, "SR-05 SR-I2", RING, CAPS,
          "a REQUEST header cut into descriptors of 1, 10, 0, 20 and 13 bytes is taken as one "
          "packet")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3000);
    const struct conf_desc d[] = {
        {.len = 1, .flags = NEXT, .next = 1, .data = hdr},
        {.len = 10, .flags = NEXT, .next = 2, .data = hdr + 1},
        {.len = 0, .flags = NEXT, .next = 3},
        {.len = 20, .flags = NEXT, .next = 4, .data = hdr + 11},
        {.len = 13, .data = hdr + 31},
    };
    struct conf_chain_result res;
    chain(c, d, 5, &res);
    require_taken(c, &res, 3000);
}

CONF_CASE(ring_payload_split, "SR-05", RING, CAPS,
          "an RW whose header and payload share descriptors in odd places delivers exactly its "
          "payload")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    int lfd = setup(c, hdr, 3010);
    struct conf_chain_result res;
    const struct conf_desc req = {.len = VSOCK_HDR_LEN, .data = hdr};
    chain(c, &req, 1, &res);
    require_taken(c, &res, 3010);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    uint8_t pkt[VSOCK_HDR_LEN + 100];
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RW, 3010, PORT, VSOCK_TYPE_STREAM);
    h.len = 100;
    vsock_hdr_encode(&h, pkt);
    conf_fill(pkt + VSOCK_HDR_LEN, 100, 40, 0);
    const struct conf_desc d[] = {
        {.len = 40, .flags = NEXT, .next = 2, .data = pkt},
        {.len = 68, .data = pkt + 76},
        {.len = 36, .flags = NEXT, .next = 1, .data = pkt + 40},
    };
    chain(c, d, 3, &res);
    CONF_REQUIRE(c, res.returned && !res.error);
    uint8_t in[100];
    CONF_RECV_EXACT(c, CONF_HOST, a, in, 100);
    CONF_REQUIRE_EQ(c, conf_check(in, 100, 40, 0), 100);
}

CONF_CASE(ring_chain_loop, "SR-12", RING, CAPS,
          "a chain whose next fields loop is refused, not followed for ever")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3020);
    const struct conf_desc d[] = {
        {.len = 22, .flags = NEXT, .next = 1, .data = hdr},
        {.len = 22, .flags = NEXT, .next = 0, .data = hdr + 22},
    };
    struct conf_chain_result res;
    chain(c, d, 2, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_next_out_of_range, "SR-05 SR-I2", RING, CAPS,
          "a next field beyond the descriptor table is refused")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3030);
    const struct conf_desc d[] = {{.len = VSOCK_HDR_LEN, .flags = NEXT, .next = 0xffff,
                                   .data = hdr}};
    struct conf_chain_result res;
    chain(c, d, 1, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_buffer_outside_memory, "SR-05 SR-I2", RING, CAPS,
          "a descriptor pointing outside guest memory is refused")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3040);
    const struct conf_desc d[] = {
        {.len = 20, .flags = NEXT, .next = 1, .data = hdr},
        {.addr = 0xfff0000000000ull, .len = 24},
    };
    struct conf_chain_result res;
    chain(c, d, 2, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_readable_after_writable, "SR-07", RING, CAPS,
          "a device-readable descriptor after a device-writable one is refused")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3050);
    const struct conf_desc d[] = {
        {.len = 16, .flags = NEXT | WRITE, .next = 1},
        {.len = VSOCK_HDR_LEN, .data = hdr},
    };
    struct conf_chain_result res;
    chain(c, d, 2, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_writable_tx_chain, "VS-I11", RING, CAPS,
          "a tx chain that is all device-writable is never taken as a packet, whatever bytes "
          "it holds")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3060);
    const struct conf_desc d[] = {{.len = VSOCK_HDR_LEN, .flags = WRITE, .data = hdr}};
    struct conf_chain_result res;
    chain(c, d, 1, &res);
    require_refused(c, &res); /* vhost: "Expected 0 input buffers" */
}

CONF_CASE(ring_short_header, "SR-05 VS-I5", RING, CAPS,
          "a chain of fewer bytes than a header is dropped without an answer")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3070);
    const struct conf_desc d[] = {{.len = 30, .data = hdr}};
    struct conf_chain_result res;
    chain(c, d, 1, &res);
    require_refused(c, &res); /* vhost: "Expected 44 bytes for pkt->hdr" */
}

CONF_CASE_OPTS(ring_indirect_without_feature, "SR-14", CONF_SIM, CAPS | CONF_CAP_CONFIG,
               "our device refuses an INDIRECT descriptor when VIRTIO_F_INDIRECT_DESC was not "
               "negotiated",
               .features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_VSOCK_F_STREAM) |
                           (1ull << VIRTIO_VSOCK_F_SEQPACKET) | (1ull << VIRTIO_F_EVENT_IDX))
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3080);
    const struct conf_desc table[] = {{.len = VSOCK_HDR_LEN, .data = hdr}};
    const struct conf_desc d[] = {{.flags = INDIRECT, .table = table, .ntable = 1}};
    struct conf_chain_result res;
    chain(c, d, 1, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_indirect_taken, "SR-20 SR-19 SR-I2", RING, CAPS,
          "a direct descriptor followed by one INDIRECT table holding the rest is taken; so is "
          "an INDIRECT descriptor with WRITE set, which the device must ignore")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3090);
    const struct conf_desc table[] = {
        {.len = 20, .flags = NEXT, .next = 1, .data = hdr + 4},
        {.len = 20, .data = hdr + 24},
    };
    const struct conf_desc d[] = {
        {.len = 4, .flags = NEXT, .next = 1, .data = hdr},
        {.flags = INDIRECT, .table = table, .ntable = 2},
    };
    struct conf_chain_result res;
    chain(c, d, 2, &res);
    require_taken(c, &res, 3090);
    struct vsock_hdr h = request(c, 3091);
    vsock_hdr_encode(&h, hdr);
    const struct conf_desc t2[] = {{.len = VSOCK_HDR_LEN, .data = hdr}};
    const struct conf_desc w[] = {{.flags = INDIRECT | WRITE, .table = t2, .ntable = 1}};
    chain(c, w, 1, &res);
    require_taken(c, &res, 3091);
}

CONF_CASE(ring_indirect_nested, "SR-15", RING, CAPS,
          "an INDIRECT descriptor inside an indirect table is refused")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3100);
    const struct conf_desc inner[] = {{.len = VSOCK_HDR_LEN, .data = hdr}};
    const struct conf_desc outer[] = {{.flags = INDIRECT, .table = inner, .ntable = 1}};
    const struct conf_desc d[] = {{.flags = INDIRECT, .table = outer, .ntable = 1}};
    struct conf_chain_result res;
    chain(c, d, 1, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_indirect_with_next, "SR-17", CONF_SIM, CAPS,
          "our device refuses a descriptor with both INDIRECT and NEXT")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3110);
    const struct conf_desc table[] = {{.len = 22, .data = hdr}};
    const struct conf_desc d[] = {
        {.flags = INDIRECT | NEXT, .next = 1, .table = table, .ntable = 1},
        {.len = 22, .data = hdr + 22},
    };
    struct conf_chain_result res;
    chain(c, d, 2, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_indirect_bad_length, "SR-I2", RING, CAPS,
          "an indirect table whose length is not a multiple of 16 (or is 0) is refused")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3120);
    const struct conf_desc table[] = {{.len = VSOCK_HDR_LEN, .data = hdr}};
    const struct conf_desc d[] = {{.len = 15, .flags = INDIRECT, .table = table, .ntable = 1}};
    struct conf_chain_result res;
    chain(c, d, 1, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_chain_longer_than_queue, "SR-16 SR-06", CONF_SIM, CAPS,
          "our device refuses an indirect table of more descriptors than the queue size (a "
          "limit SR-06 allows)")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3130);
    enum { N = 300 }; /* the default queue holds 128 */
    struct conf_desc *table = conf_scratch(c, N * sizeof(*table));
    for (int i = 0; i < N; i++)
        table[i] = (struct conf_desc){.len = 1, .flags = i + 1 < N ? NEXT : 0,
                                      .next = (uint16_t)(i + 1),
                                      .data = i < (int)VSOCK_HDR_LEN ? hdr + i : NULL};
    const struct conf_desc d[] = {{.flags = INDIRECT, .table = table, .ntable = N}};
    struct conf_chain_result res;
    chain(c, d, 1, &res);
    require_refused(c, &res);
}

CONF_CASE(ring_len_mismatch, "VS-I6 VS-05", RING, CAPS,
          "an RW whose header claims more payload than the chain holds is dropped; one that "
          "holds more than it claims delivers only what it claims")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    int lfd = setup(c, hdr, 3140);
    struct conf_chain_result res;
    const struct conf_desc req = {.len = VSOCK_HDR_LEN, .data = hdr};
    chain(c, &req, 1, &res);
    require_taken(c, &res, 3140);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    uint8_t pkt[VSOCK_HDR_LEN + 50];
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RW, 3140, PORT, VSOCK_TYPE_STREAM);
    h.len = 100; /* only 50 follow */
    vsock_hdr_encode(&h, pkt);
    memset(pkt + VSOCK_HDR_LEN, 'L', 50);
    const struct conf_desc lie[] = {{.len = sizeof(pkt), .data = pkt}};
    chain(c, lie, 1, &res);
    CONF_REQUIRE_MSG(c, res.error && !res.returned,
                     "a header claiming more than the chain: expected vhost's queue error and "
                     "no used entry, got error %d, returned %d", res.error, res.returned);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(50));
    uint8_t in[64];
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_HOST, a, in, sizeof(in), 0, NULL), -EAGAIN);
    h.len = 10; /* 50 follow */
    vsock_hdr_encode(&h, pkt);
    chain(c, lie, 1, &res);
    CONF_RECV_EXACT(c, CONF_HOST, a, in, 10);
    /* The read emptied the queue: the CREDIT_UPDATE (Linux) counts the 10
     * bytes claimed, not the 50 that came. */
    struct vsock_hdr u;
    CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE);
    CONF_REQUIRE_EQ(c, u.fwd_cnt, 10);
    CONF_RAW_EXPECT_NONE(c, CONF_MS(50));
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_HOST, a, in, sizeof(in), 0, NULL), -EAGAIN);
}

CONF_CASE(ring_tx_chain_size_limit, "VS-I5 SR-I2", RING, CAPS,
          "a tx chain of up to 64 KiB + 44 bytes is a packet; one byte more is refused with a "
          "queue error whatever its hdr.len says (vhost_vsock_alloc_skb), and the queue goes "
          "on")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    int lfd = setup(c, hdr, 3150);
    struct conf_chain_result res;
    const struct conf_desc req = {.len = VSOCK_HDR_LEN, .data = hdr};
    chain(c, &req, 1, &res);
    require_taken(c, &res, 3150);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    enum { MAX = 64 * 1024 };
    uint8_t *pkt = conf_scratch(c, VSOCK_HDR_LEN + MAX + 1);
    struct vsock_hdr h = conf_raw_hdr(c, VSOCK_OP_RW, 3150, PORT, VSOCK_TYPE_STREAM);
    h.len = 10; /* the chain holds 65537 payload bytes */
    vsock_hdr_encode(&h, pkt);
    conf_fill(pkt + VSOCK_HDR_LEN, MAX + 1, 70, 0);
    const struct conf_desc big[] = {{.len = VSOCK_HDR_LEN + MAX + 1, .data = pkt}};
    chain(c, big, 1, &res);
    CONF_REQUIRE_MSG(c, res.error && !res.returned,
                     "a chain of 64 KiB + 45 bytes: expected a queue error and no used entry, "
                     "got error %d, returned %d", res.error, res.returned);
    uint8_t *in = conf_scratch(c, MAX);
    CONF_REQUIRE_RET(c, conf_recv(c, CONF_HOST, a, in, MAX, 0, NULL), -EAGAIN);
    h.len = MAX;
    vsock_hdr_encode(&h, pkt);
    const struct conf_desc max[] = {{.len = VSOCK_HDR_LEN + MAX, .data = pkt}};
    chain(c, max, 1, &res);
    CONF_REQUIRE_MSG(c, res.returned && !res.error,
                     "a chain of 64 KiB + 44 bytes was refused (error %d)", res.error);
    CONF_RECV_EXACT(c, CONF_HOST, a, in, MAX);
    CONF_REQUIRE_EQ(c, conf_check(in, MAX, 70, 0), MAX);
}

/* ---- what the device and the driver do to ring memory (CONF_CAP_RING_INSPECT) ---- */

CONF_CASE(ring_device_writes_only_writable, "SR-09 SR-11", RING, CAPS | CONF_CAP_RING_INSPECT,
          "the device writes neither the readable buffers nor the descriptors of tx chains, "
          "well-formed (split, indirect) or malformed")
{
    uint8_t hdr[VSOCK_HDR_LEN];
    setup(c, hdr, 3200);
    const struct conf_desc table[] = {{.len = 30, .flags = NEXT, .next = 1, .data = hdr + 14},
                                      {.len = 0}};
    const struct conf_desc good[] = {{.len = 14, .flags = NEXT, .next = 1, .data = hdr},
                                     {.flags = INDIRECT, .table = table, .ntable = 2}};
    struct conf_chain_result res;
    chain(c, good, 2, &res);
    require_taken(c, &res, 3200);
    CONF_REQUIRE(c, res.inspected);
    CONF_REQUIRE_MSG(c, !res.readable_written, "the device wrote a device-readable buffer");
    CONF_REQUIRE_MSG(c, !res.table_written, "the device wrote a descriptor");
    struct vsock_hdr h = request(c, 3201);
    vsock_hdr_encode(&h, hdr);
    const struct conf_desc loop[] = {{.len = 22, .flags = NEXT, .next = 1, .data = hdr},
                                     {.len = 22, .flags = NEXT, .next = 0, .data = hdr + 22}};
    chain(c, loop, 2, &res);
    CONF_REQUIRE(c, res.inspected && !res.readable_written && !res.table_written);
}

static void require_layout(struct conf *c, unsigned q)
{
    struct conf_ring_info r;
    CONF_REQUIRE_RET(c, conf_ring_info(c, q, &r), 0);
    CONF_REQUIRE_MSG(c, r.num >= 1 && r.num <= VIRTQ_MAX_SIZE && (r.num & (r.num - 1)) == 0,
                     "queue %u: size %u is not a power of 2 up to 32768", q, r.num);
    CONF_REQUIRE_MSG(c, r.desc % 16 == 0 && r.avail % 2 == 0 && r.used % 4 == 0,
                     "queue %u misaligned: desc 0x%llx, avail 0x%llx, used 0x%llx", q,
                     (unsigned long long)r.desc, (unsigned long long)r.avail,
                     (unsigned long long)r.used);
    /* The three parts do not overlap. */
    CONF_REQUIRE(c, r.desc + vring_desc_bytes(r.num) <= r.avail || r.avail +
                    vring_avail_bytes(r.num) <= r.desc);
    CONF_REQUIRE(c, r.avail + vring_avail_bytes(r.num) <= r.used || r.used +
                    vring_used_bytes(r.num) <= r.avail);
}

CONF_CASE(ring_layout_aligned, "SR-01 SR-I1", RING, CONF_CAP_RING_INSPECT,
          "every queue's size is a power of 2 up to 32768 and its descriptor table, available "
          "and used rings are aligned to 16, 2 and 4 bytes without overlapping")
{
    for (unsigned q = 0; q < 3; q++)
        require_layout(c, q);
}

CONF_CASE_OPTS(ring_layout_aligned_small, "SR-01 SR-I1", RING,
               CONF_CAP_RING_INSPECT | CONF_CAP_CONFIG,
               "the same alignment with 4-entry queues", .queue_size = 4)
{
    for (unsigned q = 0; q < 3; q++)
        require_layout(c, q);
}

/* The indices of the rx and tx rings as last seen. */
struct index_watch {
    uint16_t avail[2], used[2];
    bool seen;
    const char *problem;
    enum conf_side from;
    int sfd, rfd;
    size_t sent, got, len;
    uint8_t buf[8192];
};

/* Between two looks the indices only move forward: used by no more than
 * the chains that were outstanding at the last look plus those made
 * available since, so it never passes avail, and avail never leaves more
 * than the queue size outstanding. A device running concurrently (vhost's
 * worker on the kernel target) may return several queues' worth between two
 * looks, so the distance itself is not bounded by the queue size; a move
 * of half the index space or more is a step back. */
static const char *index_problem(const struct index_watch *w, unsigned q,
                                 const struct conf_ring_info *r)
{
    uint16_t outstanding = (uint16_t)(r->avail_idx - r->used_idx);
    if (outstanding > r->num)
        return q ? "tx used idx passed avail idx, or too many outstanding"
                 : "rx used idx passed avail idx, or too many outstanding";
    if (!w->seen)
        return NULL;
    if ((uint16_t)(r->avail_idx - w->avail[q]) >= 0x8000u)
        return q ? "tx avail idx went back" : "rx avail idx went back";
    if ((uint16_t)(r->used_idx - w->used[q]) > (uint16_t)(r->avail_idx - w->used[q]))
        return q ? "tx used idx went back or beyond avail" : "rx used idx went back or beyond avail";
    return NULL;
}

static void watch(struct conf *c, struct index_watch *w)
{
    for (unsigned q = 0; q < 2 && w->problem == NULL; q++) {
        struct conf_ring_info r;
        if (conf_ring_info(c, q, &r) != 0) {
            w->problem = "ring info failed";
            return;
        }
        w->problem = index_problem(w, q, &r);
        w->avail[q] = r.avail_idx;
        w->used[q] = r.used_idx;
    }
    w->seen = true;
}

/* One look at the indices, then as much sending and reading as the
 * sockets allow (a condition that acts must do all it can each time). */
static bool watched_transfer(struct conf *c, void *arg)
{
    struct index_watch *w = arg;
    watch(c, w);
    bool progress = true;
    while (progress) {
        progress = false;
        if (w->sent < w->len) {
            size_t n = w->len - w->sent < sizeof(w->buf) ? w->len - w->sent : sizeof(w->buf);
            int64_t r = conf_send(c, w->from, w->sfd, w->buf, n, 0);
            if (r > 0) {
                w->sent += (size_t)r;
                progress = true;
            }
        }
        int64_t r = conf_recv(c, conf_other(w->from), w->rfd, w->buf, sizeof(w->buf), 0, NULL);
        if (r > 0) {
            w->got += (size_t)r;
            progress = true;
        }
    }
    return w->problem != NULL || w->got >= w->len;
}

CONF_CASE_OPTS(ring_indices_only_forward, "SR-21 SR-40 SR-42", RING,
               CONF_CAP_RING_INSPECT | CONF_CAP_CONFIG,
               "through 2 MB each way on 8-entry queues, looked at between every step: avail and "
               "used indices only move forward, used never passes avail, at most the queue size "
               "is outstanding, and (with a concurrent device, as on the kernel target) no notification "
               "or chain is lost to a missing barrier",
               .queue_size = 8)
{
    struct conf_pair p;
    CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 3300, &p);
    struct index_watch *w = conf_scratch(c, sizeof(*w));
    for (int dir = 0; dir < 2; dir++) {
        w->from = dir == 0 ? CONF_GUEST : CONF_HOST;
        w->sfd = dir == 0 ? p.client : p.server;
        w->rfd = dir == 0 ? p.server : p.client;
        w->sent = w->got = 0;
        w->len = 2u << 20;
        CONF_REQUIRE_MSG(c, conf_wait(c, watched_transfer, w, CONF_MS(20000)),
                         "transfer %d stalled: %zu of %zu bytes received, %zu sent", dir, w->got,
                         w->len, w->sent);
        CONF_REQUIRE_MSG(c, w->problem == NULL, "%s", w->problem);
    }
}

CONF_CASE_OPTS(ring_flags_with_event_idx, "SR-23 SR-31 SR-35", RING,
               CONF_CAP_RING_INSPECT | CONF_CAP_CONFIG,
               "with EVENT_IDX negotiated the available and used rings' flags stay 0 on every "
               "queue, from the start and through traffic",
               .features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_VSOCK_F_STREAM) |
                           (1ull << VIRTIO_VSOCK_F_SEQPACKET) | (1ull << VIRTIO_F_EVENT_IDX))
{
    for (int round = 0; round < 20; round++) {
        for (unsigned q = 0; q < 3; q++) {
            struct conf_ring_info r;
            CONF_REQUIRE_RET(c, conf_ring_info(c, q, &r), 0);
            CONF_REQUIRE_MSG(c, r.avail_flags == 0 && r.used_flags == 0,
                             "round %d, queue %u: avail flags %u, used flags %u", round, q,
                             r.avail_flags, r.used_flags);
        }
        struct conf_pair p;
        CONF_PAIR(c, round % 2 ? CONF_HOST : CONF_GUEST, VSOCK_TYPE_STREAM, 3400 + (uint32_t)round,
                  &p);
        CONF_TRANSFER(c, p.client_side, p.client, p.server, 20000, 80);
    }
}

CONF_CASE(ring_rx_used_len_exact, "SR-27 SR-28 VS-I6", RING, CONF_CAP_RAW,
          "every rx buffer the device returns holds a whole header and exactly the payload "
          "its len says, for control packets and RW of many sizes")
{
    CONF_RAW_BEGIN(c);
    int lfd = CONF_LISTEN(c, CONF_HOST, VSOCK_TYPE_STREAM, 3500, 4);
    CONF_RAW_CONNECT(c, 3500, 3500, VSOCK_TYPE_STREAM, 1u << 20);
    int a = CONF_ACCEPT(c, CONF_HOST, lfd);
    static const uint32_t sizes[] = {1, 2, 43, 44, 100, 4052, 4053, 8104, 10000, 65536};
    uint8_t *data = conf_scratch(c, 65536), *in = conf_scratch(c, 65536);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        conf_fill(data, sizes[i], 90 + (uint32_t)i, 0);
        CONF_SEND_ALL(c, CONF_HOST, a, data, sizes[i]);
        uint32_t got = 0;
        while (got < sizes[i]) {
            struct vsock_hdr h;
            uint32_t n = CONF_RAW_EXPECT(c, &h, in, 65536, VSOCK_OP_RW);
            CONF_REQUIRE_MSG(c, n == h.len, "rx used len says %u payload bytes, header %u", n,
                             h.len);
            CONF_REQUIRE_EQ(c, conf_check(in, n, 90 + (uint32_t)i, got), n);
            got += n;
        }
        CONF_REQUIRE_EQ(c, got, sizes[i]);
        struct vsock_hdr q = conf_raw_hdr(c, VSOCK_OP_CREDIT_REQUEST, 3500, 3500,
                                          VSOCK_TYPE_STREAM);
        CONF_RAW_SEND(c, &q, NULL, 0);
        struct vsock_hdr u;
        CONF_REQUIRE_EQ(c, CONF_RAW_EXPECT(c, &u, NULL, 0, VSOCK_OP_CREDIT_UPDATE), 0);
        CONF_REQUIRE_EQ(c, u.len, 0);
    }
}
