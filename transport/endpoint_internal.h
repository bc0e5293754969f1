/* Private to transport/: the endpoint's data, shared by its source files. */
#ifndef VSOCKSIM_TRANSPORT_ENDPOINT_INTERNAL_H
#define VSOCKSIM_TRANSPORT_ENDPOINT_INTERNAL_H

#include "transport/transport.h"

#define VEP_DEFAULT_BUF_ALLOC (256u * 1024u)
#define VEP_MAX_PKT_BUF_SIZE (64u * 1024u) /* Linux VIRTIO_VSOCK_MAX_PKT_BUF_SIZE */
#define VEP_DEFAULT_MAX_SOCKETS 4096u
#define VEP_DEFAULT_MAX_REPLIES 1024u
#define VEP_DEFAULT_CONNECT_TIMEOUT_NS 2000000000ull
#define VEP_DEFAULT_CLOSE_TIMEOUT_NS 8000000000ull
#define VEP_DEFAULT_SNDBUF (1u << 20)
#define VEP_BUF_SIZE_MIN 128u             /* af_vsock's default buffer_min_size */
#define VEP_BUF_SIZE_MAX (256u * 1024u)   /* af_vsock's default buffer_max_size */
#define VEP_GOOD_COPY_LEN 128u            /* Linux GOOD_COPY_LEN: RW this small may be
                                             copied into the last queued packet */
#define VEP_MAX_BACKLOG 4096              /* somaxconn */
#define VEP_PORT_RETRIES 24               /* af_vsock's MAX_PORT_RETRIES */
#define VEP_NONE (-1)

struct vep_pkt {
    struct vep_pkt *next;
    struct vep_pkt *prev; /* rx: the packet before it in its socket's queue */
    struct vsock_hdr hdr;
    uint32_t off; /* rx: bytes already read; tx: bytes already sent */
    uint32_t len; /* payload bytes (rx: its own and those copied into it) */
    uint32_t room; /* rx: tailroom of the skb Linux would hold it in */
    bool reply;
    bool injected;
    int sock;     /* tx: the socket whose sndbuf it counts against, or VEP_NONE */
    uint8_t data[];
};

struct vep_pktq {
    struct vep_pkt *head;
    struct vep_pkt *tail;
    uint32_t count;
};

enum vep_timer { VEP_TIMER_NONE, VEP_TIMER_CONNECT, VEP_TIMER_CLOSE };

struct vep_sock {
    enum vep_sock_state state;
    int type;
    bool bound;
    bool is_child;       /* created by a listener: shares its port */
    bool ever_connected; /* sock->state SS_CONNECTED in Linux terms */
    bool released;       /* the user closed it; it lingers */
    bool done;           /* SOCK_DONE: the peer reset or both sides are shut */
    bool has_transport;  /* vsk->transport: connect was called, or accepted */
    bool ss_connecting;  /* sock->state SS_CONNECTING: set by connect, cleared only
                            by its timeout (a refusal leaves it: EALREADY) */
    /* Linux's two tables, which packets are looked up in: connections by
     * (local port, peer), then bound sockets by local port. */
    bool in_conn;        /* connected table: accepted, or connected by RESPONSE */
    bool in_bound;       /* bound table: bound by the user or by connect */
    int cnext;           /* next slot in the same connected-table bucket */
    int bnext;           /* next slot in the same bound-table bucket */
    uint32_t local_port;
    uint64_t peer_cid;
    uint32_t peer_port;

    unsigned shut;       /* our shutdowns, VSOCK_SHUTDOWN_* bits */
    unsigned peer_shut;
    int err;             /* pending SO_ERROR, positive errno */

    uint64_t buffer_size; /* vsk->buffer_size (SO_VM_SOCKETS_BUFFER_SIZE) */
    uint64_t buffer_min;  /* SO_VM_SOCKETS_BUFFER_MIN_SIZE */
    uint64_t buffer_max;  /* SO_VM_SOCKETS_BUFFER_MAX_SIZE */
    uint32_t buf_alloc;   /* vvs->buf_alloc: the buffer_size the transport took */
    uint32_t fwd_cnt;
    uint32_t last_fwd_cnt; /* fwd_cnt last told to the peer */
    uint32_t rx_bytes;   /* payload of the packets queued (6.1's rx_bytes, 6.12's buf_used):
                            freed, and counted in fwd_cnt, a whole packet at a time */
    uint32_t rx_unread;  /* of those, bytes not read yet (6.12's rx_bytes) */
    uint32_t peer_buf_alloc;
    uint32_t peer_fwd_cnt;
    uint32_t tx_cnt;
    uint32_t tx_queued;  /* payload in the endpoint's tx queue */
    uint32_t unsent;     /* 6.12's bytes_unsent: payload sent and not yet out (vep_outq) */
    uint32_t gen;        /* which use of the slot: a vep_tx.owner names slot and use */
    struct vep_pktq rxq;
    uint32_t msg_count;  /* complete seqpacket messages queued */
    uint32_t rcvlowat;

    int backlog;
    uint32_t ack_backlog;
    int acc_head, acc_tail, acc_next; /* accept queue, FIFO of child slots */
    int parent;                       /* listener while in its accept queue */

    enum vep_timer timer;
    uint64_t deadline;
};

struct vep {
    struct vep_cfg cfg;
    struct vep_sock *socks;
    uint32_t nsocks; /* slots in use or ever used: socks[0..nsocks) valid */
    uint32_t cap;
    int *conn_buckets;
    int *bound_buckets;
    uint32_t bucket_mask;
    struct vep_pktq txq;
    uint32_t tx_replies;
    uint32_t next_ephemeral;
    uint32_t next_gen;
    struct vep_counters ctr;
    vep_intercept_fn intercept;
    void *intercept_ctx;
    uint32_t tx_injected; /* crafted packets waiting */
    uint64_t next_deadline; /* earliest armed timer, UINT64_MAX for none */
};

#endif
