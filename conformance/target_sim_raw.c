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

static void queue_push(struct simt_queue *q, const struct vsock_hdr *hdr, const uint8_t *payload,
                       uint32_t len)
{
    if (q->count == SIMT_RAW_QMAX) {
        q->overflow++;
        return;
    }
    struct simt_pkt *p = &q->pkts[(q->head + q->count) % SIMT_RAW_QMAX];
    p->h = *hdr;
    p->len = len;
    p->data = NULL;
    if (len > 0) {
        p->data = malloc(len);
        if (p->data == NULL) {
            q->overflow++;
            return;
        }
        memcpy(p->data, payload, len);
    }
    q->count++;
}

void simt_queue_free(struct simt_queue *q)
{
    while (q->pkts != NULL && q->count > 0) {
        free(q->pkts[q->head].data);
        q->head = (q->head + 1) % SIMT_RAW_QMAX;
        q->count--;
    }
    free(q->pkts);
    q->pkts = NULL;
}

static bool queue_nonempty(void *arg)
{
    const struct simt_queue *q = arg;
    return q->count > 0;
}

static int queue_recv(struct simt *t, struct simt_queue *q, struct vsock_hdr *h, void *payload,
                      uint32_t cap, uint32_t *len, uint64_t timeout_ns)
{
    if (!simt_wait(t, queue_nonempty, q, timeout_ns))
        return 0;
    struct simt_pkt *p = &q->pkts[q->head];
    *h = p->h;
    *len = p->len;
    if (payload != NULL && p->data != NULL)
        memcpy(payload, p->data, p->len < cap ? p->len : cap);
    free(p->data);
    p->data = NULL;
    q->head = (q->head + 1) % SIMT_RAW_QMAX;
    q->count--;
    return 1;
}

static int queue_begin(struct simt_queue *q)
{
    if (q->pkts == NULL)
        q->pkts = calloc(SIMT_RAW_QMAX, sizeof(*q->pkts));
    return q->pkts != NULL ? 0 : -ENOMEM;
}

/* ---- the guest side ---- */

static void on_guest_rx(void *ctx, const struct vsock_hdr *hdr, const uint8_t *payload,
                        uint32_t len)
{
    struct simt *t = ctx;
    queue_push(&t->gq, hdr, payload, len);
}

int simt_raw_begin(void *tp)
{
    struct simt *t = tp;
    if (t->raw_host)
        return -EBUSY; /* one side at a time: the case cannot be both ends */
    int err = queue_begin(&t->gq);
    if (err != 0)
        return err;
    t->raw = true;
    vep_set_rx_intercept(world_guest(t->w), on_guest_rx, t);
    return 0;
}

int simt_raw_send(void *tp, const struct vsock_hdr *h, const void *payload, uint32_t len)
{
    struct simt *t = tp;
    if (len > 0 && payload == NULL)
        return -EFAULT;
    return vep_tx_inject(world_guest(t->w), h, payload, len);
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
    queue_push(&t->hq, hdr, payload, len);
}

int simt_raw_host_begin(void *tp)
{
    struct simt *t = tp;
    if (t->raw)
        return -EBUSY;
    int err = queue_begin(&t->hq);
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
