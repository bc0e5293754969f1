/* The sim target's raw packets, for either side.
 *
 * Guest side: the guest endpoint's rx intercept queues what the device
 * placed on rx (our driver still takes the buffers off the ring and refills
 * them), and vep_tx_inject queues crafted packets that our driver puts on
 * the tx ring as it would its own.
 *
 * Host side, the mirror: the host endpoint's rx intercept queues what the
 * guest driver sent (after the device took it off the tx ring), and
 * vep_tx_inject on the host endpoint makes the device place crafted packets
 * on rx for the guest. */
#include "conformance/target_sim_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int queue_recv(struct simt *t, struct conf_pktq *q, struct vsock_hdr *h, void *payload,
                      uint32_t cap, uint32_t *len, uint64_t timeout_ns)
{
    if (!simt_wait(t, conf_pktq_nonempty, q, timeout_ns))
        return 0;
    return conf_pktq_pop(q, h, payload, cap, len) ? 1 : 0;
}

/* ---- the guest side ---- */

static void on_guest_rx(void *ctx, const struct vsock_hdr *hdr, const uint8_t *payload,
                        uint32_t len)
{
    struct simt *t = ctx;
    conf_pktq_push(&t->gq, hdr, payload, len);
}

int simt_raw_begin(void *tp)
{
    struct simt *t = tp;
    if (t->raw_host)
        return -EBUSY; /* one side at a time: the case cannot be both ends */
    int err = conf_pktq_init(&t->gq);
    if (err != 0)
        return err;
    t->raw = true;
    vep_set_rx_intercept(world_guest(t->w), on_guest_rx, t);
    /* A crafted packet the device refuses (vhost's rules) costs the
     * driver its chain, with a queue error: the case's doing. */
    world_accept_kept_chains(t->w, VSOCK_VQ_TX);
    return 0;
}

/* The device has taken every packet the guest queued off the tx ring. */
static bool guest_tx_taken(void *arg)
{
    struct simt *t = arg;
    return vep_tx_queued_pkts(world_guest(t->w)) == 0 &&
           vqd_in_flight(vdrv_queue(world_driver(t->w), VSOCK_VQ_TX)) == 0;
}

/* As on the kernel target, a raw send returns once the device has taken the
 * packet (bounded), so the host side has seen it before the case goes on:
 * a host send right after a CREDIT_UPDATE sees its credit. */
int simt_raw_send(void *tp, const struct vsock_hdr *h, const void *payload, uint32_t len)
{
    struct simt *t = tp;
    if (len > 0 && payload == NULL)
        return -EFAULT;
    int err = vep_tx_inject(world_guest(t->w), h, payload, len);
    if (err == 0)
        (void)simt_wait(t, guest_tx_taken, t, SIMT_RAW_TAKE_NS);
    return err;
}

int simt_raw_recv(void *tp, struct vsock_hdr *h, void *payload, uint32_t cap, uint32_t *len,
                  uint64_t timeout_ns)
{
    struct simt *t = tp;
    if (!t->raw)
        return -EINVAL;
    return queue_recv(t, &t->gq, h, payload, cap, len, timeout_ns);
}

/* ---- the host side ---- */

static void on_host_rx(void *ctx, const struct vsock_hdr *hdr, const uint8_t *payload,
                       uint32_t len)
{
    struct simt *t = ctx;
    conf_pktq_push(&t->hq, hdr, payload, len);
}

int simt_raw_host_begin(void *tp)
{
    struct simt *t = tp;
    if (t->raw)
        return -EBUSY;
    int err = conf_pktq_init(&t->hq);
    if (err != 0)
        return err;
    t->raw_host = true;
    vep_set_rx_intercept(world_host(t->w), on_host_rx, t);
    return 0;
}

int simt_raw_host_send(void *tp, const struct vsock_hdr *h, const void *payload, uint32_t len)
{
    struct simt *t = tp;
    if (len > 0 && payload == NULL)
        return -EFAULT;
    return vep_tx_inject(world_host(t->w), h, payload, len);
}

int simt_raw_host_recv(void *tp, struct vsock_hdr *h, void *payload, uint32_t cap,
                       uint32_t *len, uint64_t timeout_ns)
{
    struct simt *t = tp;
    if (!t->raw_host)
        return -EINVAL;
    return queue_recv(t, &t->hq, h, payload, cap, len, timeout_ns);
}
