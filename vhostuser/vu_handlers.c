/* The request handlers. Each gets a message whose shape vu_msg_check has
 * already accepted (size, fds, queue index) and either does what it asks or
 * refuses it (VU_H_FAIL) without changing anything. */
#include "vhostuser/vu_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p)
{
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void st64(uint8_t *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

static int reply_u64(struct vu_backend *b, uint32_t req, uint64_t v)
{
    uint8_t p[8];
    st64(p, v);
    return vu_msg_reply(b->conn, req, p, sizeof(p)) == 0 ? VU_H_REPLIED : VU_H_DISCONNECT;
}

static uint64_t offered_features(const struct vu_backend *b)
{
    return vdev_offered_features(b->dev) | 1ull << VU_F_PROTOCOL_FEATURES;
}

static uint64_t offered_protocol(const struct vu_backend *b)
{
    uint64_t p = 1ull << VU_PROTOCOL_F_CONFIG;
    if (!b->cfg.no_reply_ack)
        p |= 1ull << VU_PROTOCOL_F_REPLY_ACK;
    return p;
}

static int set_features(struct vu_backend *b, const struct vu_msg *m)
{
    uint64_t f = ld64(m->payload);
    if (f & ~offered_features(b)) {
        vu_log(b, "SET_FEATURES 0x%llx: bits not offered", (unsigned long long)f);
        return VU_H_FAIL;
    }
    if (vdev_set_features(b->dev, f & ~(1ull << VU_F_PROTOCOL_FEATURES)) != 0) {
        vu_log(b, "SET_FEATURES while the device runs");
        return VU_H_FAIL;
    }
    b->features = f;
    return VU_H_OK;
}

static int set_protocol_features(struct vu_backend *b, const struct vu_msg *m)
{
    uint64_t f = ld64(m->payload);
    if (f & ~offered_protocol(b)) {
        vu_log(b, "SET_PROTOCOL_FEATURES 0x%llx: bits not offered", (unsigned long long)f);
        return VU_H_FAIL;
    }
    b->protocol = f;
    return VU_H_OK;
}

static int get_config(struct vu_backend *b, const struct vu_msg *m)
{
    uint32_t off = ld32(m->payload), len = ld32(m->payload + 4);
    uint8_t space[VU_CONFIG_MAX] = {0}, out[VU_CONFIG_HDR + VU_CONFIG_MAX];
    st64(space, vdev_guest_cid(b->dev)); /* struct virtio_vsock_config: le64 guest_cid */
    memcpy(out, m->payload, VU_CONFIG_HDR);
    memset(out + VU_CONFIG_HDR, 0, len);
    if (off < VU_CONFIG_MAX)
        memcpy(out + VU_CONFIG_HDR, space + off, len < VU_CONFIG_MAX - off ? len : VU_CONFIG_MAX - off);
    return vu_msg_reply(b->conn, m->request, out, VU_CONFIG_HDR + len) == 0 ? VU_H_REPLIED
                                                                             : VU_H_DISCONNECT;
}

static int set_mem_table(struct vu_backend *b, const struct vu_msg *m)
{
    struct vu_mem t;
    const char *why;
    if (vu_mem_load(&t, m, b->cfg.max_region, &why) != 0) {
        vu_log(b, "SET_MEM_TABLE refused: %s", why);
        return VU_H_FAIL;
    }
    struct gmem g;
    int err = vu_mem_to_gmem(&t, &g);
    if (err != 0) {
        vu_log(b, "SET_MEM_TABLE refused: %s", ring_strerror(err));
        vu_mem_unmap(&t);
        return VU_H_FAIL;
    }
    /* The running rings hold pointers into the old mappings: the device
     * stops (host connections stay) and starts again over the new ones where
     * it stopped (vhost swaps the table under the running queues). */
    vu_stop_device(b);
    vu_mem_unmap(&b->mem);
    b->mem = t;
    b->gmem = g;
    b->mem_set = true;
    b->start_failed = false;
    return VU_H_OK;
}

static struct vu_ring *state_ring(struct vu_backend *b, const struct vu_msg *m)
{
    return &b->ring[ld32(m->payload)];
}

static int refuse_running(struct vu_backend *b, const struct vu_msg *m)
{
    vu_log(b, "%s on ring %u while the device runs", vu_request_name(m->request),
           ld32(m->payload));
    return VU_H_FAIL;
}

static int set_vring_num(struct vu_backend *b, const struct vu_msg *m)
{
    uint32_t num = ld32(m->payload + 4);
    if (b->dev_started)
        return refuse_running(b, m);
    if (!vring_size_valid(num)) {
        vu_log(b, "SET_VRING_NUM %u: not a power of two in 1..32768", num);
        return VU_H_FAIL;
    }
    state_ring(b, m)->num = num;
    b->start_failed = false;
    return VU_H_OK;
}

/* Where a ring's three parts lie, in guest-physical addresses, if all of
 * them are inside mapped memory. */
static bool ring_gpas(const struct vu_backend *b, const struct vu_ring *r, struct vring_layout *l)
{
    l->num = r->num;
    return r->num != 0 && vu_mem_ua_to_gpa(&b->mem, r->desc_ua, vring_desc_bytes(r->num), &l->desc) &&
           vu_mem_ua_to_gpa(&b->mem, r->avail_ua, vring_avail_bytes(r->num), &l->avail) &&
           vu_mem_ua_to_gpa(&b->mem, r->used_ua, vring_used_bytes(r->num), &l->used);
}

static int set_vring_addr(struct vu_backend *b, const struct vu_msg *m)
{
    struct vu_ring *r = state_ring(b, m), n = *r;
    if (b->dev_started)
        return refuse_running(b, m);
    n.desc_ua = ld64(m->payload + 8);
    n.used_ua = ld64(m->payload + 16);
    n.avail_ua = ld64(m->payload + 24);
    struct vring_layout l;
    if (!b->mem_set || !ring_gpas(b, &n, &l)) {
        vu_log(b, "SET_VRING_ADDR ring %u: %s", ld32(m->payload),
               !b->mem_set ? "no memory table yet" : n.num == 0 ? "no ring size yet"
                                                               : "ring outside mapped memory");
        return VU_H_FAIL;
    }
    n.addr_set = true;
    *r = n;
    b->start_failed = false;
    return VU_H_OK;
}

static int set_vring_base(struct vu_backend *b, const struct vu_msg *m)
{
    uint32_t base = ld32(m->payload + 4);
    if (b->dev_started)
        return refuse_running(b, m);
    if (base > 0xffff) {
        vu_log(b, "SET_VRING_BASE %u: beyond a split ring's 16-bit index", base);
        return VU_H_FAIL;
    }
    state_ring(b, m)->base = (uint16_t)base;
    return VU_H_OK;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int get_vring_base(struct vu_backend *b, const struct vu_msg *m)
{
    uint32_t idx = ld32(m->payload);
    vu_stop_device(b);
    struct vu_ring *r = &b->ring[idx];
    close_fd(&r->kick); /* the ring is stopped until a new kick fd */
    uint8_t out[8];
    st32(out, idx);
    st32(out + 4, r->base);
    return vu_msg_reply(b->conn, m->request, out, sizeof(out)) == 0 ? VU_H_REPLIED
                                                                    : VU_H_DISCONNECT;
}

static int set_vring_fd(struct vu_backend *b, struct vu_msg *m)
{
    uint32_t v = ld32(m->payload);
    struct vu_ring *r = &b->ring[v & VU_VRING_IDX_MASK];
    int fd = (v & VU_VRING_NOFD) ? -1 : m->fds[0];
    m->nfds = 0; /* taken */
    /* Whatever the fd really is (QEMU's eventfds already are), reading a
     * kick or bumping a call must never block the loop. */
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int *slot = m->request == VU_SET_VRING_KICK ? &r->kick
              : m->request == VU_SET_VRING_CALL ? &r->call : &r->err;
    close_fd(slot);
    *slot = fd;
    if (m->request != VU_SET_VRING_KICK)
        return VU_H_OK;
    if (fd < 0) {
        vu_log(b, "SET_VRING_KICK without an fd (polling mode) is not supported");
        return VU_H_FAIL;
    }
    /* Without PROTOCOL_FEATURES a ring is enabled by its kick fd. */
    if (!(b->features & 1ull << VU_F_PROTOCOL_FEATURES))
        r->enabled = true;
    b->start_failed = false;
    return VU_H_OK;
}

static int set_vring_enable(struct vu_backend *b, const struct vu_msg *m)
{
    uint32_t on = ld32(m->payload + 4);
    if (on > 1) {
        vu_log(b, "SET_VRING_ENABLE %u: neither 0 nor 1", on);
        return VU_H_FAIL;
    }
    state_ring(b, m)->enabled = on != 0;
    if (on == 0)
        vu_stop_device(b); /* the device runs both rings or none */
    b->start_failed = false;
    return VU_H_OK;
}

static int reset_owner(struct vu_backend *b)
{
    vu_reset_session(b);
    return VU_H_OK;
}

int vu_handle(struct vu_backend *b, struct vu_msg *m, uint64_t now)
{
    (void)now;
    switch (m->request) {
    case VU_GET_FEATURES: return reply_u64(b, m->request, offered_features(b));
    case VU_SET_FEATURES: return set_features(b, m);
    case VU_SET_OWNER: b->owner = true; return VU_H_OK;
    case VU_RESET_OWNER: return reset_owner(b);
    case VU_SET_MEM_TABLE: return set_mem_table(b, m);
    case VU_SET_VRING_NUM: return set_vring_num(b, m);
    case VU_SET_VRING_ADDR: return set_vring_addr(b, m);
    case VU_SET_VRING_BASE: return set_vring_base(b, m);
    case VU_GET_VRING_BASE: return get_vring_base(b, m);
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR: return set_vring_fd(b, m);
    case VU_GET_PROTOCOL_FEATURES: return reply_u64(b, m->request, offered_protocol(b));
    case VU_SET_PROTOCOL_FEATURES: return set_protocol_features(b, m);
    case VU_GET_QUEUE_NUM: return reply_u64(b, m->request, VU_NUM_RINGS);
    case VU_SET_VRING_ENABLE: return set_vring_enable(b, m);
    case VU_GET_CONFIG: return get_config(b, m);
    case VU_SET_CONFIG:
        vu_log(b, "SET_CONFIG refused: the vsock config space is read-only");
        return VU_H_FAIL;
    }
    return VU_H_FAIL;
}
