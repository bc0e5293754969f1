/*
 * vhostuser/: a vhost-user-vsock backend built on device/ and ring/, for
 * QEMU's vhost-user-vsock-pci and the real Linux guest driver.
 *
 * The backend speaks the vhost-user protocol (QEMU docs/interop/vhost-user.rst)
 * on one front-end connection at a time: features and protocol features
 * (CONFIG, optionally REPLY_ACK), GET_CONFIG (le64 guest_cid), the memory
 * table (each region mmap'd with its offset and added to guest memory by its
 * guest-physical address), and the rx (0) and tx (1) rings. QEMU keeps the
 * event queue. Every message is checked against its request's size, fd count
 * and queue index before anything is done with it: a malformed message ends
 * the connection cleanly, a well-formed but unacceptable one fails (with an
 * error ack when REPLY_ACK asked for one) and changes nothing. When the front
 * end goes away, the memory is unmapped, the device reset and the backend
 * waits for the next connection.
 *
 * The host side is our device's host sockets (vep_*, vu_sockets), bridged to
 * Unix sockets in the Firecracker / vhost-device-vsock convention when a
 * prefix is given: a host application connects to PREFIX and writes
 * "CONNECT <port>\n", gets "OK <hostport>\n" and then the stream; a guest
 * connecting to host port P reaches a listener at "PREFIX_P" (a SOCK_STREAM
 * listener for stream sockets, a SOCK_SEQPACKET one for seqpacket sockets).
 *
 * No global state: everything lives in struct vu_backend. Host-side I/O is
 * only Unix sockets, eventfds and the memfds QEMU sends.
 */
#ifndef VSOCKSIM_VHOSTUSER_H
#define VSOCKSIM_VHOSTUSER_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/transport.h"

struct vdev;
struct vep;

/* vhost-user requests (front end to back end) this backend knows. */
enum vu_request {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_RESET_OWNER = 4,
    VU_SET_MEM_TABLE = 5,
    VU_SET_LOG_BASE = 6,
    VU_SET_LOG_FD = 7,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_GET_CONFIG = 24,
    VU_SET_CONFIG = 25,
};

#define VU_HDR_SIZE 12u
#define VU_VERSION 0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY 0x4u
#define VU_FLAG_NEED_REPLY 0x8u
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD 0x100u
#define VU_MAX_FDS 8u
#define VU_MAX_REGIONS 8u
#define VU_REGION_BYTES 32u
#define VU_CONFIG_HDR 12u
#define VU_CONFIG_MAX 256u
#define VU_NUM_RINGS 2u

#define VU_F_PROTOCOL_FEATURES 30
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_CONFIG 9

struct vu_cfg {
    uint64_t guest_cid;
    /* Unix-socket prefix of the host side, or NULL for none (the host
     * sockets are then only reachable through vu_sockets). */
    const char *uds_path;
    enum vsock_linux linux_ver; /* whose rules the device follows (0 = 6.1) */
    uint64_t deviate;           /* named deviations from Linux (VSOCK_DEV_BIT); 0 = none */
    bool no_seqpacket;      /* do not offer VIRTIO_VSOCK_F_SEQPACKET */
    bool no_reply_ack;      /* do not offer VHOST_USER_PROTOCOL_F_REPLY_ACK */
    uint64_t max_region;    /* largest memory region accepted; 0 = 64 GiB */
    int msg_timeout_ms;     /* a started message must complete within; 0 = 2000 */
    uint32_t max_bridged;   /* Unix connections bridged at once; 0 = 256 */
    /* Log lines (no newline); NULL for none. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    bool verbose;           /* log every message, not only problems */
};

struct vu_stats {
    uint64_t connections;   /* front ends attached */
    uint64_t disconnects;   /* ... and gone (EOF, error or malformed message) */
    uint64_t msgs;          /* messages handled */
    uint64_t bad_msgs;      /* malformed: ended the connection */
    uint64_t failed_msgs;   /* well formed, refused */
    uint64_t unknown_msgs;  /* requests this backend does not implement */
    uint64_t device_starts;
    uint64_t kicks;
    uint64_t calls;         /* call eventfd writes */
    uint64_t errs;          /* err eventfd writes */
    uint64_t bridged;       /* Unix connections bridged (both directions) */
    uint64_t bridge_refused;/* CONNECTs or guest connects that found nobody */
    uint64_t bytes_to_guest;
    uint64_t bytes_to_host;
    uint64_t ctl_msgs;      /* control requests handled (vu_ctl.h) */
    uint64_t ctl_bad;       /* ... malformed or unknown */
};

struct vu_backend;

/* *err gets 0 or a negative errno (-EINVAL for a reserved CID or a bad
 * prefix, or what creating the prefix listener failed with). */
struct vu_backend *vu_new(const struct vu_cfg *cfg, int *err);
void vu_free(struct vu_backend *b);

/* A Unix listening socket at path (an old socket file there is replaced),
 * non-blocking and close-on-exec; -errno on failure. */
int vu_listen_unix(const char *path);
/* Where vu_step accepts front ends while none is attached (-1: none). The
 * backend does not own it. */
void vu_set_listener(struct vu_backend *b, int listen_fd);
/* Takes a connected front-end socket (owned from now on): -EBUSY while
 * another is attached (fd is then closed). */
int vu_attach(struct vu_backend *b, int fd);
bool vu_attached(const struct vu_backend *b);
/* The control channel (vu_ctl.h) of the guest target: where vu_step accepts
 * its connection (the backend does not own listen_fd), or a connected socket
 * to take (owned from now on; -EBUSY while one is attached). -ENOMEM. */
int vu_set_control(struct vu_backend *b, int listen_fd);
int vu_attach_control(struct vu_backend *b, int fd);
/* Ends the front-end connection as if it had gone away. */
void vu_detach(struct vu_backend *b);

/* One round of the poll loop: waits up to timeout_ms (-1: no limit) for the
 * front end, the kick eventfds, the listener and the host-side sockets, then
 * handles what is ready. Returns 0, or a negative errno if poll itself
 * failed (EINTR gives 0). */
int vu_step(struct vu_backend *b, int timeout_ms);

bool vu_device_running(const struct vu_backend *b);
uint64_t vu_now_ns(void); /* the monotonic clock vu_step passes to the device */
struct vep *vu_sockets(struct vu_backend *b);
struct vdev *vu_device(struct vu_backend *b);
const struct vu_stats *vu_stats(const struct vu_backend *b);
const char *vu_request_name(uint32_t req);

#endif
