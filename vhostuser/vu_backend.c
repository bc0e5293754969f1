/* The backend's lifecycle: one front end at a time, the device started when
 * both rings are complete and stopped when QEMU asks for a ring's base, and
 * everything the front end set up forgotten when it goes away. */
#include "vhostuser/vu_ctl_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void vu_log(const struct vu_backend *b, const char *fmt, ...)
{
    if (b->cfg.log == NULL)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    b->cfg.log(b->cfg.log_ctx, line);
}

uint64_t vu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void ring_init(struct vu_ring *r)
{
    memset(r, 0, sizeof(*r));
    r->kick = r->call = r->err = -1;
}

static void ring_close(struct vu_ring *r)
{
    int *fds[] = {&r->kick, &r->call, &r->err};
    for (size_t i = 0; i < 3; i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    ring_init(r);
}

/* What the guest sent: the bridge opens Unix connections for its connects;
 * a control session keeps a transcript. */
static void observe_from_guest(void *ctx, const struct vsock_hdr *h, const uint8_t *payload,
                               uint32_t len)
{
    struct vu_backend *b = ctx;
    vu_bridge_observe(b->bridge, h, payload, len);
    if (b->ctl != NULL)
        vu_ctl_note_packet(b->ctl, true, h);
}

static void observe_to_guest(void *ctx, const struct vsock_hdr *h)
{
    struct vu_backend *b = ctx;
    if (b->ctl != NULL)
        vu_ctl_note_packet(b->ctl, false, h);
}

static void observe_tx_layout(void *ctx, const struct vsock_hdr *h, const uint32_t *lens,
                              uint32_t n)
{
    struct vu_backend *b = ctx;
    if (b->ctl != NULL)
        vu_ctl_note_chain(b->ctl, h, lens, n);
}

static struct vdev *make_device(struct vu_backend *b, int *err)
{
    struct vdev_cfg dc = {
        .mem = &b->gmem,
        .guest_cid = b->cfg.guest_cid,
        .event_queue = false, /* QEMU keeps the event queue */
    };
    if (b->cfg.no_seqpacket)
        dc.features = VDEV_DEFAULT_OFFER & ~(1ull << VIRTIO_VSOCK_F_SEQPACKET);
    dc.sockets.linux_ver = b->cfg.linux_ver;
    dc.sockets.deviate = b->cfg.deviate;
    dc.sockets.observe_rx = observe_from_guest;
    dc.sockets.observe_ctx = b;
    struct vdev *dev = vdev_new(&dc, err);
    if (dev != NULL) {
        vdev_set_rx_observer(dev, observe_to_guest, b);
        vdev_set_tx_layout_observer(dev, observe_tx_layout, b);
    }
    return dev;
}

struct vu_backend *vu_new(const struct vu_cfg *cfg, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    struct vu_backend *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    b->cfg = *cfg;
    b->cfg.uds_path = NULL; /* the caller's string need not outlive this call */
    b->conn = -1;
    b->listener = -1;
    for (unsigned i = 0; i < VU_NUM_RINGS; i++)
        ring_init(&b->ring[i]);
    gmem_init(&b->gmem);
    b->bridge = vu_bridge_new(cfg, &b->stats, err);
    if (b->bridge != NULL)
        b->dev = make_device(b, err);
    if (b->dev == NULL) {
        vu_free(b);
        return NULL;
    }
    vu_bridge_set_sockets(b->bridge, vdev_sockets(b->dev));
    *err = 0;
    return b;
}

void vu_free(struct vu_backend *b)
{
    if (b == NULL)
        return;
    vu_detach(b);
    vu_ctl_free(b->ctl);
    vu_bridge_free(b->bridge); /* closes Unix sockets; the vep goes with the device */
    vdev_free(b->dev);
    free(b);
}

void vu_set_listener(struct vu_backend *b, int listen_fd)
{
    b->listener = listen_fd;
}

int vu_attach(struct vu_backend *b, int fd)
{
    if (b->conn >= 0) {
        close(fd);
        return -EBUSY;
    }
    b->conn = fd;
    b->stats.connections++;
    vu_log(b, "front end connected");
    return 0;
}

bool vu_attached(const struct vu_backend *b)
{
    return b->conn >= 0;
}

static int ensure_ctl(struct vu_backend *b)
{
    if (b->ctl == NULL)
        b->ctl = vu_ctl_new();
    return b->ctl != NULL ? 0 : -ENOMEM;
}

int vu_set_control(struct vu_backend *b, int listen_fd)
{
    int err = ensure_ctl(b);
    if (err == 0)
        vu_ctl_set_listener(b->ctl, listen_fd);
    return err;
}

int vu_attach_control(struct vu_backend *b, int fd)
{
    int err = ensure_ctl(b);
    if (err != 0) {
        close(fd);
        return err;
    }
    return vu_ctl_attach(b->ctl, fd);
}

void vu_reset_session(struct vu_backend *b)
{
    vu_stop_device(b);
    b->held = false;
    for (unsigned i = 0; i < VU_NUM_RINGS; i++)
        ring_close(&b->ring[i]);
    vu_mem_unmap(&b->mem);
    gmem_init(&b->gmem);
    b->mem_set = false;
    b->owner = false;
    b->features = 0;
    b->protocol = 0;
    b->start_failed = false;
}

void vu_detach(struct vu_backend *b)
{
    if (b->conn < 0)
        return;
    close(b->conn);
    b->conn = -1;
    b->stats.disconnects++;
    /* As vhost when its file is released (QEMU exits): host connections to
     * the guest are orphaned and what waited for it is dropped. */
    vu_reset_session(b);
    vdev_release(b->dev);
    vu_log(b, "front end gone: memory unmapped, host connections orphaned");
}

bool vu_device_running(const struct vu_backend *b)
{
    return b->dev_started;
}

struct vep *vu_sockets(struct vu_backend *b)
{
    return vdev_sockets(b->dev);
}

struct vdev *vu_device(struct vu_backend *b)
{
    return b->dev;
}

const struct vu_stats *vu_stats(const struct vu_backend *b)
{
    return &b->stats;
}

/* ---- device start and stop ---- */

static bool ring_ready(const struct vu_ring *r)
{
    return r->num != 0 && r->addr_set && r->kick >= 0 && r->enabled;
}

static bool ring_layout(const struct vu_backend *b, const struct vu_ring *r, struct vring_layout *l)
{
    l->num = r->num;
    return vu_mem_ua_to_gpa(&b->mem, r->desc_ua, vring_desc_bytes(r->num), &l->desc) &&
           vu_mem_ua_to_gpa(&b->mem, r->avail_ua, vring_avail_bytes(r->num), &l->avail) &&
           vu_mem_ua_to_gpa(&b->mem, r->used_ua, vring_used_bytes(r->num), &l->used);
}

/* Where a restarted ring continues: the base QEMU sent (SET_VRING_BASE), or
 * where it stopped (GET_VRING_BASE) when QEMU sent none since; 0 for a
 * fresh ring (after a guest reset QEMU sends 0). */
static int apply_base(struct vu_backend *b, enum vsock_vq q, uint16_t base)
{
    return vdev_set_queue_base(b->dev, q, base);
}

/* Each ring at its base before the device runs: vdev_start delivers what
 * host sockets queued meanwhile, which must land where QEMU expects. */
static int configure_and_start(struct vu_backend *b)
{
    for (unsigned i = 0; i < VU_NUM_RINGS; i++) {
        struct vring_layout l;
        if (!ring_layout(b, &b->ring[i], &l))
            return RING_E_GPA_RANGE;
        int err = vdev_set_queue(b->dev, (enum vsock_vq)i, &l);
        if (err == 0)
            err = apply_base(b, (enum vsock_vq)i, b->ring[i].base);
        if (err != 0)
            return err;
    }
    return vdev_start(b->dev);
}

void vu_try_start(struct vu_backend *b, uint64_t now)
{
    if (b->dev_started || b->start_failed || b->held || !b->mem_set ||
        !ring_ready(&b->ring[0]) || !ring_ready(&b->ring[1]))
        return;
    int err = configure_and_start(b);
    if (err != 0) {
        b->start_failed = true;
        vu_log(b, "device not started: %s", err < -100 ? strerror(-err) : ring_strerror(err));
        return;
    }
    b->dev_started = true;
    b->stats.device_starts++;
    vu_log(b, "device started (rx %u, tx %u entries)", b->ring[0].num, b->ring[1].num);
    /* Kicks that came before the rings ran are lost: look at both now. */
    vdev_handle_tx_kick(b->dev, now);
    vdev_handle_rx_kick(b->dev, now);
}

void vu_stop_device(struct vu_backend *b)
{
    if (!b->dev_started)
        return;
    for (unsigned i = 0; i < VU_NUM_RINGS; i++)
        b->ring[i].base = vdev_queue(b->dev, (enum vsock_vq)i)->last_avail_idx;
    /* vhost's VHOST_VSOCK_SET_RUNNING 0: the rings stop, host connections
     * and what they queue for the guest stay (a VM stop, a guest reset or a
     * new memory table must not end them). */
    vdev_stop(b->dev);
    b->dev_started = false;
    vu_log(b, "device stopped (rx at %u, tx at %u)", b->ring[0].base, b->ring[1].base);
}

static void bump(int fd)
{
    uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
        /* A full counter (2^64 - 2 unread) only happens to a front end
         * that never reads it: nothing to add. */
    }
}

void vu_notify(struct vu_backend *b)
{
    unsigned irq = vdev_take_interrupts(b->dev);
    unsigned err = vdev_take_errors(b->dev);
    for (unsigned i = 0; i < VU_NUM_RINGS; i++) {
        if (irq & (1u << i) && b->ring[i].call >= 0) {
            bump(b->ring[i].call);
            b->stats.calls++;
        }
        if (err & (1u << i) && b->ring[i].err >= 0) {
            bump(b->ring[i].err);
            b->stats.errs++;
        }
    }
}
