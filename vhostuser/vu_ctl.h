/*
 * The backend's control channel: how the guest target (conformance/
 * target_guest.c, running inside the QEMU guest) drives the host side of our
 * device in `vsocksim vhost-user --control PATH`. QEMU carries the bytes: a
 * virtio-serial port named VCTL_PORT_NAME in the guest, a Unix socket at PATH
 * on the host (QEMU connects to it; the backend listens first).
 *
 * A small, versioned, length-prefixed binary RPC, little-endian:
 *   header   magic u32 (VCTL_MAGIC), version u16 (VCTL_VERSION), op u16,
 *            seq u32 (echoed in the reply), len u32 (bytes that follow)
 *   body     VCTL_NVAL × u64, then len - VCTL_FIXED bytes of data
 * A request's values are the op's arguments; a reply's value 0 is the
 * result (a count, or a negative errno as two's complement) and values 1..
 * are the op's outputs. One reply per request, in order.
 *
 * The backend checks everything: a header with the wrong magic, version or a
 * length beyond VCTL_MAX_DATA gets an error reply (-EPROTO / -EMSGSIZE) and
 * the connection ends (a stream cannot be resynchronised); a well-framed
 * request with an unknown op, a side/fd/length out of range, or an fd the
 * session did not open gets an error reply (-EOPNOTSUPP, -EINVAL, -EBADF)
 * and the session goes on.
 *
 * A session is one case: VCTL_HELLO closes whatever an earlier session left
 * and answers the guest's CID; VCTL_END closes every host socket the session
 * opened (with RST where connected) and reports the session's health. Host
 * sockets are only the ones the session opened: the Unix bridge's are out of
 * reach.
 */
#ifndef VSOCKSIM_VU_CTL_H
#define VSOCKSIM_VU_CTL_H

#include <stddef.h>
#include <stdint.h>

#define VCTL_MAGIC 0x4c544356u /* "VCTL" */
#define VCTL_VERSION 1u
#define VCTL_HDR 16u
#define VCTL_NVAL 6u
#define VCTL_FIXED (VCTL_NVAL * 8u)
#define VCTL_MAX_DATA (256u * 1024u)
#define VCTL_MAX_MSG (VCTL_HDR + VCTL_FIXED + VCTL_MAX_DATA)

/* The session's transcript: every packet that crossed the rings since
 * HELLO, up to VCTL_PKTLOG_MAX (later ones are counted as lost). An entry
 * is one byte of direction (1: guest to host) and the 44-byte header. */
#define VCTL_PKTLOG_MAX 8192u
#define VCTL_PKTLOG_ENTRY 45u
/* The session's tx chains: every chain the device took as a packet, up to
 * VCTL_TXLOG_MAX. An entry is the 44-byte header, le32 descriptor count
 * and VCTL_TXLOG_LENS le32 lengths of its readable descriptors (the first
 * ones; zero beyond the count). */
#define VCTL_TXLOG_MAX 4096u
#define VCTL_TXLOG_LENS 20u
#define VCTL_TXLOG_ENTRY (44u + 4u + 4u * VCTL_TXLOG_LENS)

/* The virtio-serial port's name, and where the guest's /init links it. */
#define VCTL_PORT_NAME "vsocksim.ctl"
#define VCTL_GUEST_PORT "/dev/vsocksim-ctl"

enum vctl_op {
    VCTL_HELLO = 1,     /* -> 0; out: guest cid */
    VCTL_END,           /* -> sockets closed; out: raw overflow, queue errors, packets seen */
    VCTL_SOCKET,        /* type, buf_alloc (0: default) -> fd */
    VCTL_BIND,          /* fd, port */
    VCTL_LISTEN,        /* fd, backlog */
    VCTL_ACCEPT,        /* fd -> fd; out: peer cid, peer port */
    VCTL_CONNECT,       /* fd, cid, port */
    VCTL_SEND,          /* fd, flags, bytes the caller sent (>= data length); data */
    VCTL_RECV,          /* fd, len, flags -> bytes; out: flags; data */
    VCTL_SHUTDOWN,      /* fd, how */
    VCTL_CLOSE,         /* fd */
    VCTL_POLL,          /* fd -> events */
    VCTL_SOCK_ERROR,    /* fd -> 0 or -errno */
    VCTL_SET_BUF_SIZE,  /* fd, bytes */
    VCTL_SET_RCVLOWAT,  /* fd, bytes */
    VCTL_LOCAL_PORT,    /* fd; out: port */
    VCTL_PEER_NAME,     /* fd; out: cid, port */
    VCTL_DROPS,         /* reason -> count */
    VCTL_RAW_BEGIN,     /* the session speaks for the host from now on */
    VCTL_RAW_SEND,      /* data: 44-byte header, payload */
    VCTL_RAW_RECV,      /* cap -> 1 or 0 (none queued); out: payload len; data: header, payload */
    VCTL_PKTLOG,        /* first -> entries returned; out: entries kept, entries lost; data:
                           VCTL_PKTLOG_ENTRY bytes each from entry `first` on */
    VCTL_SET_BUF_MAX,   /* fd, bytes: SO_VM_SOCKETS_BUFFER_MAX_SIZE */
    VCTL_SET_BUF_MIN,   /* fd, bytes: SO_VM_SOCKETS_BUFFER_MIN_SIZE */
    VCTL_DEVICE_STOP,   /* the device stops as at a VM stop (GET_VRING_BASE) and stays
                           stopped; -EAGAIN when it is not running */
    VCTL_DEVICE_START,  /* ... and starts again where it stopped (a VM cont) */
    VCTL_USED_LEN_EXTRA, /* extra (int32, two's complement) -> 0: rx used lens are off by
                            extra bytes until the session ends (vdev_set_rx_used_len_extra) */
    VCTL_OUTQ,          /* fd -> SIOCOUTQ's bytes or -errno (vep_outq) */
    VCTL_SIGPIPES,      /* -> SIGPIPEs the host sockets' sends raised (a count that grows) */
    VCTL_TXLOG,         /* first -> entries returned; out: entries kept, entries lost; data:
                           VCTL_TXLOG_ENTRY bytes each from entry `first` on */
    VCTL_REPLY_STATE,   /* -> 0; out: replies queued, replies at which tx pauses, packets
                           queued | tx paused << 32, rx ring, tx ring (each VCTL_RING_*) */
    VCTL_REPLY_BOUND,   /* replies (0: vhost's rule, the tx queue size) -> 0: tx pauses there
                           from now on (vdev_set_max_queued_replies); END lifts the bound
                           (VCTL_REPLIES_UNBOUND), the next HELLO restores vhost's rule */
    VCTL_OP_END_
};

/* A ring as REPLY_STATE packs it, the device's view: size, avail idx in
 * memory, the next avail entry the device takes, used idx. */
#define VCTL_RING(num, avail, taken, used)                                                    \
    ((uint64_t)(num) | (uint64_t)(avail) << 16 | (uint64_t)(taken) << 32 | (uint64_t)(used) << 48)
#define VCTL_RING_NUM(v) ((uint16_t)((v) & 0xffffu))
#define VCTL_RING_AVAIL(v) ((uint16_t)((v) >> 16))
#define VCTL_RING_TAKEN(v) ((uint16_t)((v) >> 32))
#define VCTL_RING_USED(v) ((uint16_t)((v) >> 48))
/* REPLY_BOUND's (and END's) bound that never pauses: the socket layer's
 * own reply budget still applies. */
#define VCTL_REPLIES_UNBOUND UINT32_MAX

struct vctl_msg {
    uint16_t op;
    uint32_t seq;
    uint64_t v[VCTL_NVAL];
    uint32_t dlen;
    const uint8_t *data; /* dlen bytes, or NULL */
};

const char *vctl_op_name(uint16_t op); /* "SEND", or "op?" */

/* Writes m (header, values, data) into buf: the bytes written, or 0 when it
 * does not fit or dlen is beyond VCTL_MAX_DATA. */
size_t vctl_encode(const struct vctl_msg *m, uint8_t *buf, size_t cap);
/* Checks a header: 0 and the body length (values and data) in *body, or
 * -EPROTO (magic, version, body shorter than the values) / -EMSGSIZE (too
 * long) with *why saying which. op and seq are filled in either way. */
int vctl_parse_header(const uint8_t hdr[VCTL_HDR], uint16_t *op, uint32_t *seq, uint32_t *body,
                      const char **why);
/* Fills m's values and data (pointing into body) from a checked body. */
void vctl_decode_body(const uint8_t *body, uint32_t len, struct vctl_msg *m);

/* The whole of n bytes, within timeout_ms in all: 0, -ETIMEDOUT, -EPIPE at
 * end of file, or another -errno. fd may be non-blocking. */
int vctl_read_full(int fd, void *buf, size_t n, int timeout_ms);
int vctl_write_full(int fd, const void *buf, size_t n, int timeout_ms);

#endif
