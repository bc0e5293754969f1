/* Private to device/: the device state shared by its lifecycle, tx, rx and
 * event parts. */
#ifndef VSOCKSIM_DEVICE_PRIV_H
#define VSOCKSIM_DEVICE_PRIV_H

#include "device/device.h"

struct vdev_queue {
    struct vring_layout layout;
    bool layout_set;
    /* All zero while stopped, so num == 0 doubles as "not running" and the
     * ring half refuses to touch guest memory (RING_E_NOT_READY). */
    struct vq_device vq;
    /* Where a stopped ring continues (vdev_stop), as vhost keeps
     * last_avail_idx across VHOST_VSOCK_SET_RUNNING 0 and 1. */
    bool resume;
    uint16_t resume_at;
    /* Chains of these rings the device kept with a queue error (never
     * returned): the driver still counts them in flight. */
    uint32_t kept;
};

/* Which packet a partly delivered rx packet was, so that its later parts
 * are recognised and rx_partial counts each split packet once. */
struct vdev_split {
    bool active;
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint16_t type, op;
    uint32_t left; /* payload still to go after the last part written */
};

struct vdev {
    const struct gmem *mem;
    uint64_t guest_cid;
    uint64_t offered;
    uint64_t features;
    uint32_t max_replies_cfg; /* 0 = the tx queue size, resolved at start */
    uint32_t max_replies;
    bool event_queue;
    bool return_bad_chains; /* the return-bad-chains deviation: our rule, not vhost's */
    int32_t rx_used_extra;  /* vdev_set_rx_used_len_extra */
    bool started;
    bool tx_paused;
    unsigned irq_pending;
    unsigned err_pending;
    struct vdev_queue q[VSOCK_VQ_COUNT];
    struct vep *ep;
    /* One packet's payload at a time: the bound is fixed at creation, so a
     * hostile hdr.len never sizes an allocation. */
    uint8_t *pkt_buf;
    uint32_t pkt_buf_len;
    struct vdev_split split;
    struct vdev_counters c;
    vdev_rx_observer rx_observer;
    void *rx_observer_ctx;
    vdev_tx_layout_observer tx_layout_observer;
    void *tx_layout_ctx;
};

static inline bool vdev_q_running(const struct vdev *dev, enum vsock_vq q)
{
    return dev->q[q].vq.num != 0;
}

void vdev_ring_error(struct vdev *dev, enum vsock_vq q, int err);
/* vhost's vq_err after a chain it could read but not use: the error eventfd,
 * and the chain is kept, never returned. */
void vdev_keep_chain(struct vdev *dev, enum vsock_vq q);
void vdev_signal(struct vdev *dev, enum vsock_vq q);

/* device_tx.c */
void vdev_tx_process(struct vdev *dev, uint64_t now);
/* device_rx.c */
void vdev_rx_process(struct vdev *dev);
/* Delivers, and resumes a tx queue paused on replies once they drain. */
void vdev_pump(struct vdev *dev, uint64_t now);

#endif
