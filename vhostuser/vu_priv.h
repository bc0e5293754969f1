/* Private to vhostuser/: the backend's state, shared by its message layer,
 * request handlers, memory table, rings and host-side bridge. */
#ifndef VSOCKSIM_VU_PRIV_H
#define VSOCKSIM_VU_PRIV_H

#include "vhostuser/vhostuser.h"
#include "device/device.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

/* ---- one message ---- */

#define VU_MAX_PAYLOAD 4096u

struct vu_msg {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
    uint8_t payload[VU_MAX_PAYLOAD];
    int fds[VU_MAX_FDS];
    unsigned nfds;
};

/* What reading a message gave. */
enum vu_read {
    VU_READ_OK,
    VU_READ_EOF,   /* the front end closed (before a header started) */
    VU_READ_BAD,   /* malformed framing: torn header, too many fds, too big, timeout */
};

enum vu_read vu_msg_read(int fd, struct vu_msg *m, int timeout_ms, const char **why);
void vu_msg_close_fds(struct vu_msg *m);
/* Sends a reply (header with the REPLY flag, then size bytes). */
int vu_msg_reply(int fd, uint32_t request, const void *payload, uint32_t size);

/* The shape rules of each request: payload size, fd count, queue index.
 * NULL for a request this backend does not implement. */
struct vu_rule {
    uint32_t request;
    const char *name;
    enum { VU_SZ_FIXED, VU_SZ_MEM, VU_SZ_CONFIG } size_kind;
    uint32_t size;
    enum { VU_FD_NONE, VU_FD_MEM, VU_FD_VRING } fd_kind;
    enum { VU_IDX_NONE, VU_IDX_STATE, VU_IDX_U64 } idx_kind;
    bool has_reply;
};
const struct vu_rule *vu_rule_find(uint32_t request);
/* NULL when m fits its rule, else what is wrong. */
const char *vu_msg_check(const struct vu_rule *r, const struct vu_msg *m);

/* ---- memory table ---- */

struct vu_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uaddr;
    uint64_t mmap_offset;
    uint8_t *map;      /* the whole mapping: mmap_offset + size bytes */
    size_t map_len;
};

struct vu_mem {
    struct vu_region r[VU_MAX_REGIONS];
    unsigned n;
};

/* Parses, validates and maps the table in m (its fds are consumed). On
 * failure nothing is mapped and *why says what was wrong. */
int vu_mem_load(struct vu_mem *out, const struct vu_msg *m, uint64_t max_region,
                const char **why);
void vu_mem_unmap(struct vu_mem *mem);
/* Fills g with the table's regions by guest-physical address. */
int vu_mem_to_gmem(const struct vu_mem *mem, struct gmem *g);
/* The guest-physical address of QEMU's [ua, ua+len), if it lies in one region. */
bool vu_mem_ua_to_gpa(const struct vu_mem *mem, uint64_t ua, uint64_t len, uint64_t *gpa);

/* ---- rings ---- */

struct vu_ring {
    uint32_t num;
    uint64_t desc_ua, avail_ua, used_ua;
    bool addr_set;
    uint16_t base;   /* where the ring starts (SET_VRING_BASE, or where it stopped) */
    int kick, call, err;
    bool enabled;
};

/* ---- host-side bridge ---- */

struct vu_bridge;
struct vu_ctl;

struct vu_bridge *vu_bridge_new(const struct vu_cfg *cfg, struct vu_stats *stats, int *err);
void vu_bridge_free(struct vu_bridge *br);
void vu_bridge_set_sockets(struct vu_bridge *br, struct vep *ep);
/* The observer the device's endpoint calls with every packet from the guest:
 * connects the Unix side of a guest's REQUEST before the endpoint sees it. */
void vu_bridge_observe(void *ctx, const struct vsock_hdr *h, const uint8_t *payload,
                       uint32_t len);
/* Poll entries: how many the bridge may want, and filling them. */
unsigned vu_bridge_max_pollfds(const struct vu_bridge *br);
unsigned vu_bridge_pollfds(struct vu_bridge *br, struct pollfd *pfd, unsigned max);
/* Handles the poll results of its entries, then moves bytes both ways.
 * Returns true when anything moved (the device may have packets to deliver). */
bool vu_bridge_run(struct vu_bridge *br, const struct pollfd *pfd, unsigned n, uint64_t now);
/* After the device processed tx: pairs accepted guest connections with the
 * Unix sockets connected for them, refuses the rest. */
void vu_bridge_accept(struct vu_bridge *br, uint64_t now);

/* ---- the backend ---- */

struct vu_backend {
    struct vu_cfg cfg;
    char uds_path[108];
    int conn;                /* the front end, -1 when none */
    int listener;            /* not owned */
    bool owner;
    uint64_t features;       /* acked by SET_FEATURES */
    uint64_t protocol;       /* acked by SET_PROTOCOL_FEATURES */
    bool mem_set;
    struct vu_mem mem;
    struct gmem gmem;        /* what the device reads: mem by guest-physical address */
    struct vdev *dev;
    bool dev_started;
    bool start_failed;       /* the rings as configured did not start: wait for a change */
    bool held;               /* stopped by the control channel (a VM stop): no restart */
    struct vu_ring ring[VU_NUM_RINGS];
    struct vu_bridge *bridge;
    struct vu_ctl *ctl;      /* the control channel, NULL until vu_set_control */
    struct vu_stats stats;
    struct vu_msg msg;       /* the message being handled */
};

void vu_log(const struct vu_backend *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Handler outcomes. */
#define VU_H_OK 0
#define VU_H_FAIL 1       /* refused: error ack if asked, nothing changed */
#define VU_H_REPLIED 2    /* sent its own reply */
#define VU_H_DISCONNECT 3 /* the connection must end */

int vu_handle(struct vu_backend *b, struct vu_msg *m, uint64_t now);
/* Starts the device when both rings are complete (memory, size, addresses,
 * kick fd, enabled); stops it (saving where each ring was) on request. */
void vu_try_start(struct vu_backend *b, uint64_t now);
void vu_stop_device(struct vu_backend *b);
/* Forgets everything the front end set up: rings, fds, memory, features. */
void vu_reset_session(struct vu_backend *b);
/* Writes the call / err eventfds for what the device asked. */
void vu_notify(struct vu_backend *b);

#endif
