/*
 * transport/: the virtio-vsock wire format and the socket layer both sides
 * share, as Linux shares virtio_transport_common.c between its guest driver
 * and vhost. An endpoint (struct vep) is one side's sockets: connection table,
 * listeners, ports, credit, shutdown/reset rules and timers. It is a pure state
 * machine: packets come in through vep_rx(), packets to send are taken from
 * its tx queue, and time only moves when the caller says so. driver/ wraps one
 * for the guest (gsock_*), device/ one for the host (hsock_*).
 *
 * Errors are negative errno values, as the sockets API gives them.
 */
#ifndef VSOCKSIM_TRANSPORT_H
#define VSOCKSIM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- wire format (virtio 1.2, 5.10.6) -------------------------------------- */

#define VSOCK_HDR_LEN 44u
#define VSOCK_CID_HYPERVISOR 0u
#define VSOCK_CID_LOCAL 1u
#define VSOCK_CID_HOST 2u
#define VSOCK_CID_ANY 0xffffffffu
#define VSOCK_PORT_ANY 0xffffffffu
#define VSOCK_LAST_RESERVED_PORT 1023u

enum vsock_op {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
};

enum vsock_type {
    VSOCK_TYPE_STREAM = 1,
    VSOCK_TYPE_SEQPACKET = 2,
};

#define VSOCK_SHUTDOWN_RCV 1u  /* the sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2u /* the sender will send no more */
#define VSOCK_SEQ_EOM 1u
#define VSOCK_SEQ_EOR 2u

/* Feature bits of the socket device. */
#define VIRTIO_VSOCK_F_STREAM 0
#define VIRTIO_VSOCK_F_SEQPACKET 1
#define VIRTIO_VSOCK_F_NO_IMPLIED_STREAM 2

#define VSOCK_EVENT_TRANSPORT_RESET 0u

struct vsock_hdr {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
};

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_LEN]);
void vsock_hdr_decode(const uint8_t in[VSOCK_HDR_LEN], struct vsock_hdr *h);
const char *vsock_op_name(uint16_t op);     /* "REQUEST", ..., "OP?" */
const char *vsock_type_name(uint16_t type); /* "STREAM", "SEQPACKET", "TYPE?" */

/* ---- the Linux profile --------------------------------------------------------
 * Where the spec leaves room, the model does what Debian's kernel does: the
 * kernel is the referee. Rules that changed between the two kernels the guest
 * images boot are chosen by the profile; each such rule names it at its code. */
enum vsock_linux {
    VSOCK_LINUX_6_1 = 0, /* Debian 12's 6.1.192 (linux-image-6.1.0-*-amd64): the default */
    VSOCK_LINUX_6_12,    /* Debian 12's 6.12.118 (linux-image-6.12.*+deb12-amd64-unsigned) */
    VSOCK_LINUX_COUNT
};
#define VSOCK_LINUX_DEFAULT VSOCK_LINUX_6_1
const char *vsock_linux_name(enum vsock_linux v); /* "6.1", "6.12", "?" */
/* "6.1" or "6.12": 0, or -1 for anything else. */
int vsock_linux_parse(const char *s, enum vsock_linux *out);

/* ---- named deviations from Linux ------------------------------------------------
 * Linux's rule is the model's default. Where we keep a deliberate difference,
 * it is a named switch, off unless asked for (vsocksim run|sweep --deviate
 * NAME,...; vep_cfg.deviate; a trace header's 'deviate' option), listed with
 * its reason by `vsocksim deviations` and documented with the kernel's
 * evidence in conformance/known-differences.txt. The table names deviations
 * of any module: transport/deviation.c. */
enum vsock_deviation {
    VSOCK_DEV_BAD_CREDIT,      /* "bad-credit": fwd_cnt backwards or past tx_cnt is ignored */
    VSOCK_DEV_SEQPACKET_WHOLE, /* "seqpacket-whole": a message is queued whole or not at all */
    VSOCK_DEV_SNDBUF_BOUND,    /* "sndbuf-bound": unsent payload per socket is bounded */
    VSOCK_DEV_RETURN_BAD_CHAINS, /* "return-bad-chains" (device/): malformed chains come back */
    VSOCK_DEV_REPLY_BUDGET,    /* "reply-budget" (driver/): rx goes on while replies wait */
    VSOCK_DEV_COUNT
};
#define VSOCK_DEV_BIT(d) (UINT64_C(1) << (d))
#define VSOCK_DEV_ALL (VSOCK_DEV_BIT(VSOCK_DEV_COUNT) - 1)

struct vsock_deviation_info {
    const char *name;   /* what --deviate takes */
    const char *module; /* whose rule it changes: "transport", "device", ... */
    const char *reason; /* one line: what we do instead of Linux, and why */
};
/* The deviation's entry, or NULL for one beyond the table. */
const struct vsock_deviation_info *vsock_deviation(unsigned d);
/* "NAME,NAME,...", "none" or "all": 0 and the mask, or -1 with a message
 * naming the first unknown or empty item (and the known names) in err. */
int vsock_deviations_parse(const char *s, uint64_t *mask, char *err, size_t errlen);
/* The mask as "NAME,NAME" in table order, "none" for 0; bits beyond the table
 * are written as "bitN". Returns what snprintf would. */
int vsock_deviations_format(uint64_t mask, char *buf, size_t len);

/* ---- endpoint ---------------------------------------------------------------- */

/* Drop reasons for packets an endpoint refuses; each has a counter. */
enum vep_drop {
    VEP_DROP_SHORT,          /* shorter than a header */
    VEP_DROP_LEN_MISMATCH,   /* hdr.len disagrees with the bytes that came */
    VEP_DROP_TOO_BIG,        /* hdr.len beyond the largest packet accepted */
    VEP_DROP_DST_CID,        /* not addressed to us */
    VEP_DROP_SRC_CID,        /* not from the peer we serve */
    VEP_DROP_BAD_OP,         /* op not valid for the socket's state (dropped, as Linux) */
    VEP_DROP_BAD_TYPE,       /* unknown type, or not the socket's (answered with RST) */
    VEP_DROP_NO_SOCKET,      /* nobody bound there, or socket done (answered with RST) */
    VEP_DROP_RST_NO_SOCKET,  /* RST for nothing: never answered */
    VEP_DROP_OVER_CREDIT,    /* RW beyond our buffer (answered with RST; the socket fails
                                with ENOBUFS, as Linux's recv_enqueue failure path) */
    VEP_DROP_BAD_CREDIT,     /* fwd_cnt moved backwards or past what we sent: credit fields
                                ignored (only with the bad-credit deviation) */
    VEP_DROP_BACKLOG,        /* REQUEST to a full listener (answered with RST) */
    VEP_DROP_REPLY_LIMIT,    /* a reply we could not queue */
    VEP_DROP_BAD_SOURCE,     /* not from the socket's peer (vsock_check_source; answered with RST) */
    VEP_DROP_COUNT
};
const char *vep_drop_name(enum vep_drop d);

struct vep_counters {
    uint64_t drops[VEP_DROP_COUNT];
    uint64_t rx_pkts[8];  /* by op, index 0 for unknown */
    uint64_t tx_pkts[8];
    uint64_t rx_bytes;    /* payload accepted */
    uint64_t tx_bytes;    /* payload queued */
    uint64_t connects;    /* connections established */
    uint64_t resets;      /* connections ended by RST (either way) */
    uint64_t sigpipes;    /* SIGPIPEs a send raised (Linux 6.12: a stream send failing with
                             EPIPE without MSG_NOSIGNAL; 6.1 never raises one) */
};

struct vep_cfg {
    enum vsock_linux linux_ver; /* whose rules (0 = VSOCK_LINUX_DEFAULT) */
    uint64_t deviate;     /* VSOCK_DEV_BIT()s: named deviations from Linux; 0 = none */
    uint64_t local_cid;   /* our CID; may change (transport reset) */
    uint64_t peer_cid;    /* the only CID we talk to (guest: 2, device: the guest's) */
    bool check_src_cid;   /* drop packets not from peer_cid (vhost does) */
    bool check_dst_cid;   /* drop packets not to local_cid */
    bool seqpacket;       /* SEQPACKET negotiated */
    uint32_t buf_alloc;   /* receive buffer per socket; 0 = 256 KiB */
    uint32_t max_payload; /* largest payload per packet we build; 0 = 64 KiB */
    uint32_t max_rx_payload; /* largest payload we accept; 0 = 64 KiB */
    uint32_t max_sockets;     /* 0 = 4096 */
    uint32_t max_replies;     /* queued replies before VEP_DROP_REPLY_LIMIT; 0 = 1024 */
    uint64_t connect_timeout_ns; /* 0 = 2 s, as Linux */
    uint64_t close_timeout_ns;   /* 0 = 8 s, as Linux */
    uint32_t ephemeral_seed;     /* first ephemeral port is derived from it */
    uint32_t max_sndbuf;         /* with the sndbuf-bound deviation: payload queued per
                                    socket before -EAGAIN; 0 = 1 MiB */
    /* The buffer each received packet lands in, header included, as the
     * Linux guest posts its rx buffers (VIRTIO_VSOCK_DEFAULT_RX_BUF_SIZE,
     * 3776); 0 = a buffer sized to each packet, as vhost allocates it. Its
     * room decides which small RW packets are copied into the last queued
     * one (virtio_transport_recv_enqueue), and so when credit is freed. */
    uint32_t rx_buf_size;
    /* Who reports a packet sent, for SIOCOUTQ (6.12's bytes_unsent): false,
     * the endpoint itself once the packet's last byte left its queue (vhost:
     * copied into the guest's rx buffers); true, the caller with
     * vep_tx_reclaimed (the guest driver: when it takes the tx buffer back
     * from the used ring, virtio_transport_tx_work). */
    bool unsent_until_reclaimed;
    /* Called after every packet the endpoint queues for sending, NULL for
     * none: Linux 6.12's guest puts a packet on the ring at once when
     * nothing waits before it (virtio_transport_send_pkt's fast path); the
     * callback may take packets (vep_tx_peek, vep_tx_advance). */
    void (*tx_queued)(void *ctx);
    void *tx_queued_ctx;
    /* Called with every packet vep_rx receives, before any check: what
     * crossed the ring, for traces and statistics. NULL for none. */
    void (*observe_rx)(void *ctx, const struct vsock_hdr *hdr, const uint8_t *payload,
                       uint32_t len);
    void *observe_ctx;
};

struct vep;

struct vep *vep_new(const struct vep_cfg *cfg);
void vep_free(struct vep *ep);
void vep_set_local_cid(struct vep *ep, uint64_t cid);
uint64_t vep_local_cid(const struct vep *ep);
const struct vep_counters *vep_counters(const struct vep *ep);

/* --- the socket API: fds are small integers, lowest free first --- */

#define VEP_SHUT_RD 0
#define VEP_SHUT_WR 1
#define VEP_SHUT_RDWR 2

#define VEP_MSG_PEEK 0x2u
#define VEP_MSG_TRUNC 0x20u /* in: return the real length; out: was truncated */
#define VEP_MSG_EOR 0x80u
#define VEP_MSG_DONTWAIT 0x40u
#define VEP_MSG_NOSIGNAL 0x4000u /* send: no SIGPIPE (Linux 6.12's stream EPIPE raises one) */

#define VEP_POLLIN 0x1u
#define VEP_POLLOUT 0x4u
#define VEP_POLLERR 0x8u
#define VEP_POLLHUP 0x10u
#define VEP_POLLRDHUP 0x2000u

enum vep_sock_state {
    VEP_SS_FREE,
    VEP_SS_UNCONNECTED,
    VEP_SS_LISTEN,
    VEP_SS_CONNECTING,
    VEP_SS_CONNECTED,
    VEP_SS_CLOSING,      /* peer reset or shut both ways and nothing left to read (TCP_CLOSING) */
};

int vep_socket(struct vep *ep, int type);
int vep_bind(struct vep *ep, int fd, uint32_t port);
int vep_listen(struct vep *ep, int fd, int backlog);
/* A new fd, or -EAGAIN when no connection is ready. peer_cid and peer_port may be NULL. */
int vep_accept(struct vep *ep, int fd, uint64_t *peer_cid, uint32_t *peer_port);
/* Starts a connection: -EINPROGRESS; the outcome shows in poll and SO_ERROR
 * (vep_sock_error). now is the caller's clock, for the connect timeout. As
 * Linux's non-blocking connect: -EALREADY while the socket is connecting,
 * and also after the peer refused it (only the connect timeout makes it
 * unconnected again: close it); after a timeout a new connect sends a new
 * REQUEST (6.1 then returns a pending, unread ETIMEDOUT at once and leaves
 * the socket closed). */
int vep_connect(struct vep *ep, int fd, uint64_t cid, uint32_t port, uint64_t now);
/* A non-blocking send, as Linux's vsock_connectible_sendmsg: packets of up
 * to max_payload as credit allows. Stream: the bytes queued (possibly fewer
 * than len), -EAGAIN when none could be. Seqpacket: len once the whole
 * message is queued; a message larger than min(peer buf_alloc, own
 * buf_alloc) fails (Linux 6.1: -ENOMEM, as it reports every enqueue error;
 * 6.12: -EMSGSIZE); a message that runs out of credit part way leaves its
 * fragment without EOM queued and returns -EAGAIN, so the receiver merges
 * the next send into the same message (Linux's behaviour; the
 * seqpacket-whole deviation queues a message whole or not at all). Also
 * -EPIPE after SHUT_WR or peer SHUT_RD, -ENOTCONN, -EDESTADDRREQ (peer port
 * VMADDR_PORT_ANY). */
int64_t vep_send(struct vep *ep, int fd, const void *buf, size_t len, unsigned flags);
/* Bytes read, 0 at end of stream, -EAGAIN when empty. *out_flags gets
 * VEP_MSG_EOR / VEP_MSG_TRUNC for seqpacket. With VEP_MSG_TRUNC in flags a
 * seqpacket read returns the message's full length. */
int64_t vep_recv(struct vep *ep, int fd, void *buf, size_t len, unsigned flags,
                 unsigned *out_flags);
int vep_shutdown(struct vep *ep, int fd, int how);
int vep_close(struct vep *ep, int fd, uint64_t now);
/* Ends a socket at once, sending RST to its peer if it has one: what the peer
 * sees when a process or VM dies mid-connection. */
int vep_abort(struct vep *ep, int fd, uint64_t now);
unsigned vep_poll(const struct vep *ep, int fd);
/* Takes the socket's pending error (SO_ERROR): 0 or a negative errno. */
int vep_sock_error(struct vep *ep, int fd);
enum vep_sock_state vep_sock_state(const struct vep *ep, int fd);
/* SO_VM_SOCKETS_BUFFER_SIZE, clamped to the socket's minimum and maximum
 * (128 and 256 KiB unless set); a socket with a transport (connecting or
 * ever connected) announces a change with CREDIT_UPDATE, as Linux's
 * vsock_update_buffer_size does. */
int vep_set_buf_size(struct vep *ep, int fd, uint32_t bytes);
/* SO_VM_SOCKETS_BUFFER_MAX_SIZE and _MIN_SIZE: the new bound applies to the
 * current size at once (announced as above when it moves it). Accepted
 * sockets inherit size and bounds from their listener. */
int vep_set_buf_max_size(struct vep *ep, int fd, uint64_t bytes);
int vep_set_buf_min_size(struct vep *ep, int fd, uint64_t bytes);
/* SO_RCVLOWAT: -EINVAL above the buffer size. Not inherited by accepted
 * sockets. Linux 6.12 also sends a CREDIT_UPDATE when fewer bytes than the
 * new value are queued and space was freed since the last announcement. */
int vep_set_rcvlowat(struct vep *ep, int fd, uint32_t bytes);
/* SIOCOUTQ: the payload bytes sent but not yet out of our hands (Linux
 * 6.12's bytes_unsent: queued, on the ring, or on the used ring until the
 * guest reclaims it). 6.1 has no socket ioctl: -EOPNOTSUPP. 6.12:
 * -EOPNOTSUPP for a socket with no transport (never connected, a plain
 * listener), -EINVAL for a listener with one. */
int vep_outq(const struct vep *ep, int fd);
/* Local and peer addresses of a socket. */
int vep_sock_name(const struct vep *ep, int fd, uint32_t *local_port, uint64_t *peer_cid,
                  uint32_t *peer_port);
/* Bytes waiting to be read. */
uint32_t vep_rx_queued(const struct vep *ep, int fd);
/* What a blocking sender waits for: the bytes a send may put in flight now
 * (Linux's virtio_transport_has_space: min(peer buf_alloc, own buf_alloc)
 * less what is in flight), and in *limit the largest seqpacket message the
 * socket can send at all (min(peer buf_alloc, own buf_alloc); NULL for
 * none). 0 for a socket that is not connected. Applications model a
 * blocking seqpacket sender with it: Linux splits a message only for a
 * non-blocking one (see vep_send). */
uint32_t vep_send_space(const struct vep *ep, int fd, uint32_t *limit);

/* --- the transport side --- */

/* A packet arriving from the peer. len is the number of payload bytes that
 * actually came (which may disagree with hdr->len: a drop). */
void vep_rx(struct vep *ep, const struct vsock_hdr *hdr, const uint8_t *payload, uint32_t len,
            uint64_t now);
/* A packet too short to hold a header (counted as VEP_DROP_SHORT). */
void vep_rx_runt(struct vep *ep);

/* Raw access, for conformance cases that speak packets themselves: while an
 * intercept is set, every packet vep_rx receives goes to it (after the
 * observer) instead of to the sockets. NULL restores normal delivery. */
typedef void (*vep_intercept_fn)(void *ctx, const struct vsock_hdr *hdr, const uint8_t *payload,
                                 uint32_t len);
void vep_set_rx_intercept(struct vep *ep, vep_intercept_fn fn, void *ctx);
/* Queues a crafted packet for sending exactly as given (hdr.len is taken
 * from len): -ENOBUFS when max_replies crafted packets already wait. */
int vep_tx_inject(struct vep *ep, const struct vsock_hdr *hdr, const uint8_t *payload,
                  uint32_t len);

/* The next packet to send: header and the payload bytes not yet sent. The
 * header's len is the remaining payload. false when the queue is empty. */
struct vep_tx {
    struct vsock_hdr hdr;
    const uint8_t *payload;
    bool is_reply; /* generated in answer to a received packet */
    /* The socket whose SIOCOUTQ counts the payload (0: none): with
     * unsent_until_reclaimed, hand it to vep_tx_reclaimed with the bytes
     * once the ring gives the buffer back. */
    uint64_t owner;
};
bool vep_tx_peek(const struct vep *ep, struct vep_tx *out);
/* n payload bytes of the head packet were sent (n may be less than its len:
 * the rest stays queued, for seqpacket without EOM/EOR until the last part). */
void vep_tx_advance(struct vep *ep, uint32_t n);
/* The ring gave back a tx buffer holding bytes payload bytes of owner's
 * (vep_tx.owner): they no longer count as unsent. An owner whose socket is
 * gone is ignored. */
void vep_tx_reclaimed(struct vep *ep, uint64_t owner, uint32_t bytes);
uint32_t vep_tx_queued_pkts(const struct vep *ep);
uint32_t vep_tx_queued_replies(const struct vep *ep);

/* Timers: connect and close timeouts. */
void vep_tick(struct vep *ep, uint64_t now);
/* The earliest time vep_tick has work, or UINT64_MAX. */
uint64_t vep_next_deadline(const struct vep *ep);

/* Every connection is reset locally (no packet is sent), listeners stay:
 * what the Linux guest does on a TRANSPORT_RESET event (the socket becomes
 * unconnected with SO_ERROR ECONNRESET; sockets still connecting are left to
 * their timeout, as Linux only walks the connected table). */
void vep_reset_all(struct vep *ep);
/* What vhost does to host sockets whose guest went away: each connection is
 * marked done and fully shut by the peer, with SO_ERROR ECONNRESET; data
 * already received stays readable. */
void vep_orphan_all(struct vep *ep);
/* Sends a CREDIT_REQUEST on a connected socket (Linux never does on its own). */
int vep_credit_request(struct vep *ep, int fd);

/* Every live connection's key, in fd order: for oracles comparing both sides. */
struct vep_conn_info {
    int fd;
    bool released;         /* closed by the user, lingering until RST or timeout */
    enum vep_sock_state state;
    int type;
    uint32_t local_port;
    uint64_t peer_cid;
    uint32_t peer_port;
    uint32_t buf_alloc;    /* ours */
    uint32_t fwd_cnt;      /* ours */
    uint32_t peer_buf_alloc;
    uint32_t peer_fwd_cnt;
    uint32_t tx_cnt;
    uint32_t rx_queued;
    unsigned peer_shutdown;
    unsigned local_shutdown;
};
/* Fills up to max entries; returns how many sockets there are. */
uint32_t vep_conns(const struct vep *ep, struct vep_conn_info *out, uint32_t max);

#endif
