/* The hostile-guest harness: our device (device/) against a guest written by
 * hand from the input. The guest writes descriptor tables, avail rings and
 * packets into a small guest memory, raw or through structured operations,
 * kicks, and host applications use the device's sockets. Oracles after each
 * operation, beyond ASan and UBSan:
 *   - the device wrote only used rings and buffers the guest marked
 *     writable (a snapshot of guest memory is compared);
 *   - an rx used len never exceeds what the chain offered;
 *   - memory the device keeps is bounded by its configuration: sockets,
 *     queued replies and received bytes per connection (credit);
 *   - a ring's popped count never exceeds its size. */
#include "fuzz/fuzz_ring.h"

#include "device/device.h"

#include <stdlib.h>
#include <string.h>

#define G_MAX_OPS 256u
#define G_MAX_SOCKETS 16u
#define G_MAX_REPLIES 8u
#define G_BUF_ALLOC 4096u
#define G_SNDBUF 8192u
#define G_MAX_PAYLOAD 4096u
#define G_GUEST_CID 3u

struct guest {
    struct fuzz_mem m;
    struct fuzz_hand q[VSOCK_VQ_COUNT];
    struct vdev *dev;
    struct vep *host;
    uint64_t now;
    uint8_t *before; /* snapshot of guest memory before a device call */
    uint8_t *allowed;
    uint8_t *extra;  /* writes allowed by the tables as the call left them */
    uint16_t used_before[VSOCK_VQ_COUNT]; /* the device's used idx before a call */
    bool used_shared[VSOCK_VQ_COUNT];     /* a writable buffer overlaps that used ring */
    struct fuzz_report *rep;
    uint8_t scratch[G_MAX_PAYLOAD];
};

static bool guest_setup(struct guest *g, struct fuzz_in *in)
{
    uint8_t cfg = fuzz_u8(in);
    uint32_t qsize = 1u << (cfg % 5); /* 1 .. 16 */
    if (fuzz_mem_init(&g->m) < 0)
        return false;
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++)
        fuzz_hand_init(&g->q[q], &g->m, q, qsize);
    struct vdev_cfg dc = {
        .mem = &g->m.gm,
        .guest_cid = G_GUEST_CID,
        .event_queue = true,
        .max_queued_replies = (cfg & 0x80) ? 0 : 1 + (cfg >> 5 & 3),
        /* Both rules for malformed chains: vhost's, and ours. */
        .sockets = {.max_sockets = G_MAX_SOCKETS, .max_replies = G_MAX_REPLIES,
                    .buf_alloc = G_BUF_ALLOC, .max_sndbuf = G_SNDBUF,
                    .max_rx_payload = G_MAX_PAYLOAD, .max_payload = G_MAX_PAYLOAD,
                    /* Both rules for malformed chains: vhost's, and ours. */
                    .deviate = (cfg >> 5 & 3) == 3 ? VSOCK_DEV_BIT(VSOCK_DEV_RETURN_BAD_CHAINS)
                                                   : 0},
    };
    int err;
    g->dev = vdev_new(&dc, &err);
    g->before = malloc(FUZZ_MEM_SIZE);
    g->allowed = malloc(FUZZ_MEM_SIZE);
    g->extra = malloc(FUZZ_MEM_SIZE);
    if (g->dev == NULL || g->before == NULL || g->allowed == NULL || g->extra == NULL)
        return false;
    g->host = vdev_sockets(g->dev);
    uint64_t feats = vdev_offered_features(g->dev);
    if (cfg & 0x08)
        feats &= ~(1ull << VIRTIO_F_EVENT_IDX);
    if (cfg & 0x10)
        feats &= ~(1ull << VIRTIO_F_INDIRECT_DESC);
    if (vdev_set_features(g->dev, feats) != 0)
        return false;
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++)
        if (vdev_set_queue(g->dev, (enum vsock_vq)q, &g->q[q].layout) != 0)
            return false;
    return vdev_start(g->dev) == 0;
}

static void guest_free(struct guest *g)
{
    vdev_free(g->dev);
    fuzz_mem_free(&g->m);
    free(g->before);
    free(g->allowed);
    free(g->extra);
}

/* ---- oracles ------------------------------------------------------------------ */

/* Whether mask marks any byte of queue q's used ring. */
static bool hits_used(const struct guest *g, const uint8_t *mask, unsigned q)
{
    size_t off = (size_t)(g->q[q].layout.used - FUZZ_MEM_GPA);
    size_t n = (size_t)vring_used_bytes(g->q[q].layout.num);
    for (size_t i = off; i < off + n; i++)
        if (mask[i])
            return true;
    return false;
}

static void before_device(struct guest *g)
{
    memcpy(g->before, g->m.ram, FUZZ_MEM_SIZE);
    fuzz_allowed_writes(&g->m, g->q, VSOCK_VQ_COUNT, false, g->allowed);
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++) {
        g->used_shared[q] = hits_used(g, g->allowed, q);
        fuzz_mark(g->allowed, g->q[q].layout.used, vring_used_bytes(g->q[q].layout.num));
        g->used_before[q] = vdev_queue(g->dev, (enum vsock_vq)q)->used_idx;
    }
}

/* A buffer may overlap the guest's own tables (hostile, and legal for the
 * device to write): descriptors the device rewrote during the call count
 * too, and the capacities the hand driver noted for them are void. True
 * when the call changed a descriptor table or an indirect table. */
static bool after_tables(struct guest *g)
{
    fuzz_allowed_writes(&g->m, g->q, VSOCK_VQ_COUNT, false, g->extra);
    for (size_t i = 0; i < FUZZ_MEM_SIZE; i++)
        g->allowed[i] |= g->extra[i];
    bool ind = memcmp(g->before + FUZZ_IND_OFF, g->m.ram + FUZZ_IND_OFF,
                      FUZZ_MEM_SIZE - FUZZ_IND_OFF) != 0;
    bool changed = ind;
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++) {
        g->used_shared[q] = g->used_shared[q] || hits_used(g, g->extra, q);
        uint32_t off = (uint32_t)(g->q[q].layout.desc - FUZZ_MEM_GPA);
        size_t n = 16u * g->q[q].layout.num;
        if (ind || memcmp(g->before + off, g->m.ram + off, n) != 0) {
            fuzz_hand_forget(&g->q[q], off, (uint32_t)n);
            changed = true;
        }
    }
    return changed;
}

static void after_device(struct guest *g, const char *what)
{
    size_t off;
    /* A chain whose buffer overlaps its own descriptors changes as the
     * device writes it, and the device follows each descriptor as it finds
     * it (vhost instead maps the chain once): what was writable at each
     * moment is not known here, so only the sanitizers judge that call. */
    bool self_modified = after_tables(g);
    if (!self_modified &&
        fuzz_first_bad_write(g->before, g->m.ram, g->allowed, FUZZ_MEM_SIZE, &off))
        fuzz_found(g->rep, "device (%s) wrote guest memory at 0x%llx, which no used ring or "
                   "writable descriptor covers", what,
                   (unsigned long long)(FUZZ_MEM_GPA + off));
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++) {
        const struct vq_device *v = vdev_queue(g->dev, (enum vsock_vq)q);
        if (v->num != 0 && v->popped > v->num)
            fuzz_found(g->rep, "queue %u: %u chains popped on a ring of %u", q, v->popped, v->num);
        /* A buffer over the used ring: the device's later writes may
         * legitimately overwrite the entries it pushed. */
        if (v->num != 0 && !g->used_shared[q])
            fuzz_hand_check_used(&g->q[q], g->used_before[q], v->used_idx, q != VSOCK_VQ_TX, g->rep);
    }
}

static void check_bounds(struct guest *g)
{
    struct vep_conn_info c[G_MAX_SOCKETS + 1];
    uint32_t n = vep_conns(g->host, c, G_MAX_SOCKETS + 1);
    if (n > G_MAX_SOCKETS)
        fuzz_found(g->rep, "host endpoint holds %u sockets, limit %u", n, G_MAX_SOCKETS);
    for (uint32_t i = 0; i < n && i <= G_MAX_SOCKETS; i++)
        if (c[i].rx_queued > c[i].buf_alloc)
            fuzz_found(g->rep, "host fd %d holds %u received bytes, beyond its buf_alloc %u",
                       c[i].fd, c[i].rx_queued, c[i].buf_alloc);
    /* Replies are bounded by max_replies; data packets by the sockets'
     * send buffers. */
    uint32_t pkts = vep_tx_queued_pkts(g->host);
    uint32_t bound = G_MAX_REPLIES + G_MAX_SOCKETS * (G_SNDBUF + 4);
    if (vep_tx_queued_replies(g->host) > G_MAX_REPLIES || pkts > bound)
        fuzz_found(g->rep, "host endpoint queues %u packets (%u replies)", pkts,
                   vep_tx_queued_replies(g->host));
}

/* ---- operations ----------------------------------------------------------------- */

enum g_op {
    G_WRITE, G_ADD_TX, G_ADD_RX, G_ADD_EVENT, G_AVAIL_IDX, G_KICK_TX, G_KICK_RX, G_DELIVER,
    G_TICK, G_RESET_EVENT, G_LISTEN, G_CONNECT, G_SEND, G_RECV, G_CLOSE, G_DEVICE_RESET,
    G_CONSUME, G_OP_COUNT
};

static void host_op(struct guest *g, enum g_op op, struct fuzz_in *in)
{
    uint32_t port = 1024u + fuzz_u8(in) % 4u;
    int fd = fuzz_u8(in) % (G_MAX_SOCKETS + 2);
    switch (op) {
    case G_LISTEN: {
        int s = vep_socket(g->host, (fuzz_u8(in) & 1) ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM);
        if (s >= 0 && (vep_bind(g->host, s, port) < 0 || vep_listen(g->host, s, 2) < 0))
            vep_close(g->host, s, g->now);
        (void)vep_accept(g->host, fd, NULL, NULL);
        return;
    }
    case G_CONNECT: {
        int s = vep_socket(g->host, (fuzz_u8(in) & 1) ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM);
        if (s >= 0)
            (void)vep_connect(g->host, s, G_GUEST_CID, port, g->now);
        return;
    }
    case G_SEND: {
        size_t len = fuzz_u16(in) % G_MAX_PAYLOAD;
        memset(g->scratch, 0x5a, len);
        (void)vep_send(g->host, fd, g->scratch, len, (fuzz_u8(in) & 1) ? VEP_MSG_EOR : 0);
        return;
    }
    case G_RECV: {
        unsigned fl;
        (void)vep_recv(g->host, fd, g->scratch, fuzz_u16(in) % G_MAX_PAYLOAD, 0, &fl);
        return;
    }
    default:
        if (fuzz_u8(in) & 1)
            (void)vep_shutdown(g->host, fd, fuzz_u8(in) % 3);
        else
            (void)vep_close(g->host, fd, g->now);
        return;
    }
}

static void device_op(struct guest *g, enum g_op op, struct fuzz_in *in)
{
    static const char *const names[] = {
        [G_KICK_TX] = "tx kick", [G_KICK_RX] = "rx kick", [G_DELIVER] = "deliver",
        [G_TICK] = "tick", [G_RESET_EVENT] = "transport reset", [G_DEVICE_RESET] = "device reset"};
    before_device(g);
    switch (op) {
    case G_KICK_TX: vdev_handle_tx_kick(g->dev, g->now); break;
    case G_KICK_RX: vdev_handle_rx_kick(g->dev, g->now); break;
    case G_DELIVER: vdev_deliver(g->dev, g->now); break;
    case G_TICK:
        g->now += (uint64_t)fuzz_u16(in) * 100000u; /* up to 6.5 s */
        vdev_tick(g->dev, g->now);
        break;
    case G_RESET_EVENT: (void)vdev_inject_transport_reset(g->dev); break;
    default:
        vdev_reset(g->dev);
        after_device(g, names[op]);
        /* The guest sets its queues up again, then DRIVER_OK. */
        for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++)
            fuzz_hand_reset(&g->q[q]);
        before_device(g);
        (void)vdev_start(g->dev);
        break;
    }
    (void)vdev_take_interrupts(g->dev);
    (void)vdev_take_errors(g->dev);
    after_device(g, names[op]);
}

static void guest_op(struct guest *g, struct fuzz_in *in)
{
    enum g_op op = (enum g_op)(fuzz_u8(in) % G_OP_COUNT);
    switch (op) {
    case G_WRITE: {
        uint32_t off, n;
        fuzz_mem_write(&g->m, in, &off, &n);
        for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++)
            fuzz_hand_forget(&g->q[q], off, n);
        break;
    }
    case G_ADD_TX: fuzz_hand_add_tx(&g->q[VSOCK_VQ_TX], in, G_GUEST_CID, VSOCK_CID_HOST); break;
    case G_ADD_RX: fuzz_hand_add_in(&g->q[VSOCK_VQ_RX], in); break;
    case G_ADD_EVENT: fuzz_hand_add_in(&g->q[VSOCK_VQ_EVENT], in); break;
    case G_AVAIL_IDX: fuzz_hand_set_avail_idx(&g->q[fuzz_u8(in) % VSOCK_VQ_COUNT], in); break;
    case G_CONSUME:
        for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++)
            fuzz_hand_consume(&g->q[q]);
        break;
    case G_LISTEN: case G_CONNECT: case G_SEND: case G_RECV: case G_CLOSE:
        host_op(g, op, in);
        break;
    default:
        device_op(g, op, in);
        break;
    }
    check_bounds(g);
}

void fuzz_guest_one(const uint8_t *data, size_t len, struct fuzz_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    if (len > FUZZ_GUEST_MAX_LEN) {
        rep->outcome = FUZZ_NOTHING;
        return;
    }
    struct fuzz_in in;
    fuzz_in_init(&in, data, len);
    struct guest *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        fuzz_found(rep, "out of memory");
        return;
    }
    g->rep = rep;
    if (!guest_setup(g, &in))
        fuzz_found(rep, "guest harness: the device refused a valid setup");
    for (unsigned i = 0; i < G_MAX_OPS && !fuzz_in_done(&in) && rep->outcome == FUZZ_OK; i++)
        guest_op(g, &in);
    guest_free(g);
    free(g);
}
