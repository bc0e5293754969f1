/* The in-guest vhost harness: our driver's rings in this process's memory,
 * the real vhost-vsock as the device. See khost/khost.h. Nothing here opens
 * a device before khost_guest_check said we are inside the test guest. */
#include "khost/khost.h"
#include "khost/vhost_ioctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define KHOST_PAGE 4096u
#define NQ 2 /* queues vhost runs: rx 0, tx 1 */

struct khost {
    int dev; /* /dev/vhost-vsock, -1 when closed */
    int kick[NQ], call[NQ], err[NQ];
    bool running;
    uint8_t *mem;
    size_t mem_size;
    struct gmem gm;
    struct vring_layout vq[VSOCK_VQ_COUNT];
    uint64_t arena_gpa;
    uint64_t scratch_gpa;
    uint64_t guest_cid;
    uint64_t dev_features;
    struct vdrv *drv;
    struct vq_device evq; /* our device half of the event queue */
    struct khost_stats st;
    uint64_t scratch_off; /* bytes of the scratch area handed out */
    khost_tx_observer tx_obs;
    void *tx_obs_ctx;
    uint16_t tx_seen; /* tx avail entries already shown to tx_obs */
    uint16_t stopped_at[NQ]; /* where khost_stop found the rings */
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static void say(char *why, size_t whylen, const char *what, int err)
{
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "%s: %s", what, strerror(err < 0 ? -err : err));
}

/* ---- memory ------------------------------------------------------------------ */

/* Rings, each on its own page, then the arena, then the scratch buffers for
 * hand-made chains; offsets from base. Returns the bytes needed. */
static uint64_t lay_out(struct khost *k, uint64_t base, uint32_t qsize, uint64_t arena_bytes)
{
    uint64_t at = base;
    for (int q = 0; q < VSOCK_VQ_COUNT; q++) {
        uint64_t bytes = vring_layout_contiguous(&k->vq[q], qsize, at, VIRTQ_USED_ALIGN);
        if (bytes == 0)
            return 0;
        at = align_up(at + bytes, KHOST_PAGE);
    }
    k->arena_gpa = at;
    at = align_up(at + arena_bytes, KHOST_PAGE);
    k->scratch_gpa = at;
    at += KHOST_SCRATCH_BYTES;
    return at - base;
}

static uint64_t read_cid(void *ctx)
{
    const struct khost *k = ctx;
    return k->guest_cid;
}

static void driver_cfg(const struct khost *k, const struct khost_cfg *cfg, struct vdrv_cfg *dc)
{
    memset(dc, 0, sizeof(*dc));
    dc->mem = (struct gmem *)&k->gm;
    memcpy(dc->vq, k->vq, sizeof(dc->vq));
    dc->arena_gpa = k->arena_gpa;
    dc->device_features = k->dev_features;
    dc->driver_features = cfg->driver_features;
    dc->read_cid = read_cid;
    dc->read_cid_ctx = (void *)k;
    dc->rx_buf_size = cfg->rx_buf_size;
    dc->tiny_rx_ok = cfg->tiny_rx_ok;
    dc->tx_max_payload = cfg->tx_max_payload;
    dc->rx_pause_replies = cfg->rx_pause_replies;
    dc->sockets = cfg->sockets;
}

/* Identity mapping: GPA = this process's virtual address, as DESIGN says
 * vhost accepts (ring addresses are user pointers, descriptor addresses go
 * through the memory table). */
static int make_memory(struct khost *k, const struct khost_cfg *cfg, uint32_t qsize,
                       struct vdrv_cfg *dc)
{
    uint64_t probe = lay_out(k, 0, qsize, 0);
    if (probe == 0)
        return -EINVAL;
    driver_cfg(k, cfg, dc);
    uint64_t arena = vdrv_arena_bytes(dc);
    if (arena == 0)
        return -EINVAL;
    uint64_t total = lay_out(k, 0, qsize, arena);
    void *p = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    k->mem = p;
    k->mem_size = (size_t)total;
    uint64_t base = (uint64_t)(uintptr_t)p;
    (void)lay_out(k, base, qsize, arena);
    if (gmem_add_region(&k->gm, base, total, p) != RING_OK)
        return -EINVAL;
    driver_cfg(k, cfg, dc);
    dc->arena_size = arena;
    return 0;
}

/* ---- vhost setup ------------------------------------------------------------- */

static int set_queue(struct khost *k, unsigned q, uint16_t base, char *why, size_t whylen)
{
    if (k->kick[q] < 0)
        k->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (k->call[q] < 0)
        k->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (k->err[q] < 0)
        k->err[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (k->kick[q] < 0 || k->call[q] < 0 || k->err[q] < 0) {
        int e = -errno;
        say(why, whylen, "eventfd", e);
        return e;
    }
    struct khv_vring v = {
        .index = q,
        .num = k->vq[q].num,
        .desc = k->vq[q].desc,
        .avail = k->vq[q].avail,
        .used = k->vq[q].used,
        .base = base,
        .kick = k->kick[q],
        .call = k->call[q],
        .err = k->err[q],
    };
    const char *failed = "vring";
    int r = khv_set_vring(k->dev, &v, &failed);
    if (r != 0)
        say(why, whylen, failed, r);
    return r;
}

static void kick(struct khost *k, unsigned q)
{
    uint64_t one = 1;
    if (write(k->kick[q], &one, sizeof(one)) == (ssize_t)sizeof(one))
        k->st.kicks[q]++;
}

static void flush_kicks(struct khost *k)
{
    unsigned want = vdrv_take_kicks(k->drv);
    for (unsigned q = 0; q < NQ; q++)
        if (want & (1u << q))
            kick(k, q);
    /* Bit 2, the event queue, is ours: khost_inject_event looks at the
     * buffers when it needs one, so a kick there carries nothing. */
}

/* Everything after the memory exists and the driver negotiated: the
 * device's side of the set-up, from SET_FEATURES to the first kicks. base
 * gives each queue's starting avail index (0 at first, what the previous
 * instance reached after a restart). */
static int device_up(struct khost *k, const uint16_t base[NQ], char *why, size_t whylen)
{
    int r;
    uint64_t features = vdrv_features(k->drv);
    if ((r = khv_set_features(k->dev, features)) != 0) {
        say(why, whylen, "VHOST_SET_FEATURES", r);
        return r;
    }
    uint64_t mem = (uint64_t)(uintptr_t)k->mem;
    if ((r = khv_set_mem_table(k->dev, mem, k->mem_size, mem)) != 0) {
        say(why, whylen, "VHOST_SET_MEM_TABLE", r);
        return r;
    }
    for (unsigned q = 0; q < NQ; q++)
        if ((r = set_queue(k, q, base[q], why, whylen)) != 0)
            return r;
    if ((r = khv_set_guest_cid(k->dev, k->guest_cid)) != 0) {
        say(why, whylen, "VHOST_VSOCK_SET_GUEST_CID", r);
        return r;
    }
    if ((r = khv_set_running(k->dev, 1)) != 0) {
        say(why, whylen, "VHOST_VSOCK_SET_RUNNING", r);
        return r;
    }
    k->running = true;
    /* A kick before RUNNING is lost (DESIGN): kick both queues now. */
    kick(k, VSOCK_VQ_RX);
    kick(k, VSOCK_VQ_TX);
    return 0;
}

static int bring_up(struct khost *k, const struct khost_cfg *cfg, uint32_t qsize, char *why,
                    size_t whylen)
{
    int r = khv_set_owner(k->dev);
    if (r != 0) {
        say(why, whylen, "VHOST_SET_OWNER", r);
        return r;
    }
    if ((r = khv_get_features(k->dev, &k->dev_features)) != 0) {
        say(why, whylen, "VHOST_GET_FEATURES", r);
        return r;
    }
    struct vdrv_cfg dc;
    if ((r = make_memory(k, cfg, qsize, &dc)) != 0) {
        say(why, whylen, "guest memory", r);
        return r;
    }
    k->drv = vdrv_new(&dc, &r);
    if (k->drv == NULL) {
        if (why != NULL && whylen > 0)
            snprintf(why, whylen, "vdrv_new: error %d", r);
        return -EINVAL;
    }
    struct vq_device_cfg ec = {
        .layout = k->vq[VSOCK_VQ_EVENT],
        .event_idx = (vdrv_features(k->drv) >> VIRTIO_F_EVENT_IDX) & 1u,
        .indirect = false,
    };
    if ((r = vqdev_init(&k->evq, &k->gm, &ec)) != RING_OK) {
        if (why != NULL && whylen > 0)
            snprintf(why, whylen, "event queue: %s", ring_strerror(r));
        return -EINVAL;
    }
    (void)vdrv_take_kicks(k->drv); /* device_up kicks both queues */
    static const uint16_t zero[NQ];
    return device_up(k, zero, why, whylen);
}

/* QEMU's stop (vhost_dev_stop, vhost_vsock_common_stop): each ring's base
 * read back, then VHOST_VSOCK_SET_RUNNING 0 (vhost_vsock_stop only clears
 * the queues' backends: the device and its sockets stay). */
static int pause_device(struct khost *k, uint16_t base[NQ], char *why, size_t whylen)
{
    for (unsigned q = 0; q < NQ; q++) {
        int r = khv_get_vring_base(k->dev, q, &base[q]);
        if (r != 0) {
            say(why, whylen, "VHOST_GET_VRING_BASE", r);
            return r;
        }
    }
    int r = khv_set_running(k->dev, 0);
    if (r != 0) {
        say(why, whylen, "VHOST_VSOCK_SET_RUNNING 0", r);
        return r;
    }
    k->running = false;
    return 0;
}

int khost_stop(struct khost *k, char *why, size_t whylen)
{
    if (!k->running)
        return -EINVAL;
    return pause_device(k, k->stopped_at, why, whylen);
}

int khost_start(struct khost *k, char *why, size_t whylen)
{
    if (k->running)
        return -EINVAL;
    return device_up(k, k->stopped_at, why, whylen);
}

int khost_guest_reset(struct khost *k, char *why, size_t whylen)
{
    uint16_t base[NQ];
    int r = k->running ? pause_device(k, base, why, whylen) : 0;
    if (r != 0)
        return r;
    /* vhost reads nothing now: the driver may set its rings up afresh. */
    vdrv_device_reset(k->drv, khost_now());
    vqdev_reset(&k->evq);
    (void)vdrv_take_kicks(k->drv); /* device_up kicks both queues */
    k->tx_seen = vdrv_queue(k->drv, VSOCK_VQ_TX)->avail_idx_shadow;
    static const uint16_t zero[NQ];
    return device_up(k, zero, why, whylen);
}

int khost_vring_base(struct khost *k, unsigned q, uint16_t *base)
{
    if (q >= NQ)
        return -EINVAL;
    return khv_get_vring_base(k->dev, q, base);
}

int khost_restart(struct khost *k, char *why, size_t whylen)
{
    uint16_t base[NQ];
    for (unsigned q = 0; q < NQ; q++) {
        int r = khv_get_vring_base(k->dev, q, &base[q]);
        if (r != 0) {
            say(why, whylen, "VHOST_GET_VRING_BASE", r);
            return r;
        }
    }
    (void)khv_set_running(k->dev, 0);
    k->running = false;
    close(k->dev); /* vhost resets the host sockets connected to our CID */
    k->dev = open("/dev/vhost-vsock", O_RDWR | O_CLOEXEC);
    if (k->dev < 0) {
        int e = -errno;
        say(why, whylen, "open /dev/vhost-vsock", e);
        return e;
    }
    int r = khv_set_owner(k->dev);
    if (r != 0) {
        say(why, whylen, "VHOST_SET_OWNER", r);
        return r;
    }
    uint64_t offered;
    if ((r = khv_get_features(k->dev, &offered)) != 0) {
        say(why, whylen, "VHOST_GET_FEATURES", r);
        return r;
    }
    return device_up(k, base, why, whylen);
}

int khost_transport_reset(struct khost *k, char *why, size_t whylen)
{
    int r = khost_restart(k, why, whylen);
    if (r != 0)
        return r;
    r = khost_inject_event(k, VSOCK_EVENT_TRANSPORT_RESET);
    if (r != 0)
        say(why, whylen, "TRANSPORT_RESET event", r);
    return r;
}

struct khost *khost_open(const struct khost_cfg *cfg, int *err, char *why, size_t whylen)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    /* First, before anything is opened. */
    if (khost_guest_check() != 0) {
        *err = -EPERM;
        if (why != NULL && whylen > 0)
            snprintf(why, whylen, "%s", khost_refusal());
        return NULL;
    }
    static const struct khost_cfg defaults;
    if (cfg == NULL)
        cfg = &defaults;
    struct khost *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    for (unsigned q = 0; q < NQ; q++)
        k->kick[q] = k->call[q] = k->err[q] = -1;
    gmem_init(&k->gm);
    k->guest_cid = cfg->guest_cid != 0 ? cfg->guest_cid : KHOST_DEFAULT_GUEST_CID;
    uint32_t qsize = cfg->queue_size != 0 ? cfg->queue_size : KHOST_DEFAULT_QSIZE;
    k->dev = open("/dev/vhost-vsock", O_RDWR | O_CLOEXEC);
    if (k->dev < 0) {
        *err = -errno;
        say(why, whylen, "open /dev/vhost-vsock", *err);
        khost_close(k);
        return NULL;
    }
    *err = bring_up(k, cfg, qsize, why, whylen);
    if (*err != 0) {
        khost_close(k);
        return NULL;
    }
    return k;
}

void khost_close(struct khost *k)
{
    if (k == NULL)
        return;
    if (k->running)
        (void)khv_set_running(k->dev, 0);
    /* The device goes first: its worker reads our memory until then. */
    if (k->dev >= 0)
        close(k->dev);
    for (unsigned q = 0; q < NQ; q++) {
        if (k->kick[q] >= 0)
            close(k->kick[q]);
        if (k->call[q] >= 0)
            close(k->call[q]);
        if (k->err[q] >= 0)
            close(k->err[q]);
    }
    vdrv_free(k->drv);
    if (k->mem != NULL)
        munmap(k->mem, k->mem_size);
    free(k);
}

struct vdrv *khost_driver(struct khost *k) { return k->drv; }
struct vep *khost_sockets(struct khost *k) { return vdrv_sockets(k->drv); }
uint64_t khost_guest_cid(const struct khost *k) { return k->guest_cid; }
uint64_t khost_device_features(const struct khost *k) { return k->dev_features; }
const struct khost_stats *khost_stats(const struct khost *k) { return &k->st; }

void khost_memory(const struct khost *k, uint64_t *gpa, uint64_t *size)
{
    *gpa = (uint64_t)(uintptr_t)k->mem;
    *size = k->mem_size;
}

const struct vring_layout *khost_layout(const struct khost *k, unsigned q)
{
    return q < VSOCK_VQ_COUNT ? &k->vq[q] : NULL;
}

int khost_mem_read(const struct khost *k, uint64_t gpa, void *dst, size_t len)
{
    return gmem_read(&k->gm, gpa, dst, len) == RING_OK ? 0 : -EFAULT;
}

/* ---- running ------------------------------------------------------------------ */

void khost_set_tx_observer(struct khost *k, khost_tx_observer fn, void *ctx)
{
    k->tx_obs = fn;
    k->tx_obs_ctx = ctx;
    k->tx_seen = vdrv_queue(k->drv, VSOCK_VQ_TX)->avail_idx_shadow;
}

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The header of each chain our driver exposed since the last look: its
 * first buffer (through an indirect table if there is one). The chains are
 * still in flight, so their buffers are intact. */
static void observe_tx(struct khost *k)
{
    if (k->tx_obs == NULL)
        return;
    const struct vq_driver *vq = vdrv_queue(k->drv, VSOCK_VQ_TX);
    const struct vring_layout *l = &k->vq[VSOCK_VQ_TX];
    while (k->tx_seen != vq->avail_idx_shadow) {
        uint8_t b[16];
        uint16_t head = 0;
        if (gmem_read(&k->gm, l->avail + 4 + 2u * (k->tx_seen & (l->num - 1)), b, 2) == RING_OK)
            head = (uint16_t)(b[0] | b[1] << 8);
        k->tx_seen++;
        if (head >= l->num || gmem_read(&k->gm, l->desc + 16u * head, b, 16) != RING_OK)
            continue;
        uint64_t addr = ld64(b);
        uint16_t flags = (uint16_t)(b[12] | b[13] << 8);
        if ((flags & VIRTQ_DESC_F_INDIRECT) && gmem_read(&k->gm, addr, b, 16) == RING_OK)
            addr = ld64(b);
        uint8_t raw[VSOCK_HDR_LEN];
        if (gmem_read(&k->gm, addr, raw, sizeof(raw)) != RING_OK)
            continue;
        struct vsock_hdr h;
        vsock_hdr_decode(raw, &h);
        k->tx_obs(k->tx_obs_ctx, &h);
    }
}

void khost_pump(struct khost *k)
{
    vdrv_handle_tx(k->drv, khost_now());
    observe_tx(k);
    flush_kicks(k);
}

static uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    const uint8_t *b = (const uint8_t *)&v;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void st64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int read_counter(int fd, uint64_t *v)
{
    ssize_t r = read(fd, v, sizeof(*v));
    return r == (ssize_t)sizeof(*v) ? 0 : -1;
}

static int poll_ms(uint64_t ns)
{
    uint64_t ms = (ns + 999999u) / 1000000u;
    return ms > 60000 ? 60000 : (int)ms;
}

int khost_step(struct khost *k, uint64_t timeout_ns)
{
    uint64_t now = khost_now();
    uint64_t dl = vdrv_next_deadline(k->drv);
    if (dl != UINT64_MAX)
        timeout_ns = dl <= now ? 0 : (dl - now < timeout_ns ? dl - now : timeout_ns);
    struct pollfd p[2 * NQ];
    for (unsigned q = 0; q < NQ; q++) {
        p[q] = (struct pollfd){.fd = k->call[q], .events = POLLIN};
        p[NQ + q] = (struct pollfd){.fd = k->err[q], .events = POLLIN};
    }
    int r = poll(p, 2 * NQ, poll_ms(timeout_ns));
    if (r < 0 && errno != EINTR)
        return -errno;
    int notes = 0;
    bool irq = false;
    uint64_t v;
    for (unsigned q = 0; r > 0 && q < NQ; q++) {
        if ((p[q].revents & POLLIN) && read_counter(k->call[q], &v) == 0) {
            k->st.calls[q]++;
            irq = true;
            notes++;
        }
        if ((p[NQ + q].revents & POLLIN) && read_counter(k->err[q], &v) == 0) {
            k->st.errors[q] += v;
            notes++;
        }
    }
    now = khost_now();
    if (irq)
        vdrv_interrupt(k->drv, now);
    vdrv_tick(k->drv, now);
    observe_tx(k);
    flush_kicks(k);
    k->st.steps++;
    return notes;
}

/* ---- the event queue: ours, not vhost's ------------------------------------------ */

int khost_inject_event(struct khost *k, uint32_t id)
{
    struct vq_chain ch;
    int r = vqdev_pop(&k->evq, &ch);
    if (r == 0)
        return -ENOSPC;
    if (r < 0)
        return -EIO;
    uint8_t ev[4];
    st32(ev, id);
    /* struct virtio_vsock_event is 4 bytes: Linux's QEMU writes 4. */
    int64_t w = vq_chain_write(&ch, 0, ev, sizeof(ev));
    if (vqdev_push(&k->evq, ch.head, w == (int64_t)sizeof(ev) ? 4u : 0u) != RING_OK)
        return -EIO;
    k->st.events_injected++;
    if (vqdev_should_interrupt(&k->evq))
        vdrv_handle_event(k->drv, khost_now());
    flush_kicks(k);
    return 0;
}

/* ---- hand-made chains ----------------------------------------------------------- */

uint64_t khost_scratch(struct khost *k, uint32_t len, const void *data)
{
    uint64_t off = align_up(k->scratch_off, 16);
    if (len > KHOST_SCRATCH_BYTES || off > KHOST_SCRATCH_BYTES - len)
        return 0;
    uint64_t gpa = k->scratch_gpa + off;
    uint8_t *hva = gmem_translate(&k->gm, gpa, len);
    if (hva == NULL)
        return 0;
    if (data != NULL)
        memcpy(hva, data, len);
    else
        memset(hva, 0, len);
    k->scratch_off = off + len;
    return gpa;
}

void khost_scratch_reset(struct khost *k)
{
    k->scratch_off = 0;
}

int khost_desc_store(struct khost *k, uint64_t gpa, const struct khost_desc *d)
{
    uint8_t raw[VIRTQ_DESC_SIZE];
    st64(raw, d->addr);
    st32(raw + 8, d->len);
    raw[12] = (uint8_t)d->flags;
    raw[13] = (uint8_t)(d->flags >> 8);
    raw[14] = (uint8_t)d->next;
    raw[15] = (uint8_t)(d->next >> 8);
    return gmem_write(&k->gm, gpa, raw, sizeof(raw)) == RING_OK ? 0 : -EFAULT;
}

static bool tx_idle(struct khost *k)
{
    return vqd_in_flight(vdrv_queue(k->drv, VSOCK_VQ_TX)) == 0 &&
           vep_tx_queued_pkts(vdrv_sockets(k->drv)) == 0;
}

static bool wait_tx_idle(struct khost *k, uint64_t deadline)
{
    for (;;) {
        khost_pump(k);
        if (tx_idle(k))
            return true;
        uint64_t now = khost_now();
        if (now >= deadline)
            return false;
        (void)khost_step(k, deadline - now < 1000000u ? deadline - now : 1000000u);
    }
}

static uint16_t ring_ld16(const uint8_t *p)
{
    uint16_t v = __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
    return (uint16_t)(((const uint8_t *)&v)[0] | ((const uint8_t *)&v)[1] << 8);
}

static void ring_st16(uint8_t *p, uint16_t v, int order)
{
    uint16_t le;
    ((uint8_t *)&le)[0] = (uint8_t)v;
    ((uint8_t *)&le)[1] = (uint8_t)(v >> 8);
    __atomic_store_n((uint16_t *)(void *)p, le, order);
}

int khost_raw_chain(struct khost *k, const struct khost_desc *d, unsigned n,
                    struct khost_chain_result *out, uint64_t timeout_ns, uint64_t idle_timeout_ns)
{
    const struct vring_layout *l = &k->vq[VSOCK_VQ_TX];
    if (k == NULL || d == NULL || out == NULL || n == 0 || n > l->num)
        return -EINVAL;
    *out = (struct khost_chain_result){0};
    if (!wait_tx_idle(k, khost_now() + idle_timeout_ns))
        return -EBUSY;
    /* Slot j is d[j]: every descriptor is free while tx is idle. */
    for (unsigned j = 0; j < n; j++) {
        int r = khost_desc_store(k, l->desc + (uint64_t)j * VIRTQ_DESC_SIZE, &d[j]);
        if (r != 0)
            return r;
    }
    uint8_t *avail = gmem_translate(&k->gm, l->avail, vring_avail_bytes(l->num));
    const uint8_t *used = gmem_translate(&k->gm, l->used, vring_used_bytes(l->num));
    if (avail == NULL || used == NULL)
        return -EFAULT;
    uint64_t v;
    while (read_counter(k->err[VSOCK_VQ_TX], &v) == 0) /* only this chain's errors count */
        k->st.errors[VSOCK_VQ_TX] += v;
    uint16_t used_before = ring_ld16(used + 2);
    uint16_t idx = ring_ld16(avail + 2);
    ring_st16(avail + 4 + 2u * (idx & (l->num - 1)), 0, __ATOMIC_RELAXED);
    ring_st16(avail + 2, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    kick(k, VSOCK_VQ_TX); /* a driver may always kick */

    uint64_t deadline = khost_now() + timeout_ns;
    for (;;) {
        if (ring_ld16(used + 2) != used_before) {
            const uint8_t *elem = used + 4 + 8u * (used_before & (l->num - 1));
            out->returned = ld32(elem) == 0;
            out->used_len = ld32(elem + 4);
            break;
        }
        if (read_counter(k->err[VSOCK_VQ_TX], &v) == 0) {
            k->st.errors[VSOCK_VQ_TX] += v;
            out->error = true;
            break;
        }
        uint64_t now = khost_now();
        if (now >= deadline)
            break;
        struct pollfd p[2] = {{.fd = k->call[VSOCK_VQ_TX], .events = POLLIN},
                              {.fd = k->err[VSOCK_VQ_TX], .events = POLLIN}};
        (void)poll(p, 2, poll_ms(deadline - now < 1000000u ? deadline - now : 1000000u));
        if ((p[0].revents & POLLIN) && read_counter(k->call[VSOCK_VQ_TX], &v) == 0)
            k->st.calls[VSOCK_VQ_TX]++;
    }
    /* The driver takes the ring's indices as its own: its next chain goes
     * after this one. A chain vhost refused stays where it is, since vhost
     * does not move past an avail entry it failed to read, and every later
     * kick meets it again: tx is then dead for the rest of the case. */
    int r = vdrv_adopt_queue(k->drv, VSOCK_VQ_TX);
    k->tx_seen = vdrv_queue(k->drv, VSOCK_VQ_TX)->avail_idx_shadow;
    return r == 0 ? 0 : -EIO;
}
