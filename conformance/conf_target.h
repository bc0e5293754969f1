/*
 * The target abstraction behind conf.h: each target is one ops table,
 * registered by name in conf.c's table. conf.c dispatches every conf_* call
 * to its target with the target's own state (t), fills in the generic parts
 * (conf_wait_poll, conf_sleep, failing, scratch memory) and turns a missing
 * op into -EOPNOTSUPP, so a target implements only what its caps promise.
 *
 * To add a target: write conformance/target_NAME.c defining
 *     const struct conf_target_ops conf_target_NAME = { .name = "NAME", ... };
 * declare it below and add it to conf.c's table. sim is target_sim.c,
 * kernel target_kernel.c, guest target_guest.c.
 */
#ifndef VSOCKSIM_CONF_TARGET_H
#define VSOCKSIM_CONF_TARGET_H

#include "conformance/conf.h"

struct conf_target_ops {
    const char *name;
    unsigned mask; /* CONF_SIM, CONF_KERNEL or CONF_GUEST_TARGET */

    /* Whether the target can run here (no state is created): false with the
     * reason, and cases are skipped with it. */
    bool (*available)(char *why, size_t len);
    /* A fresh instance (NULL with the reason); o is already resolved. */
    void *(*open)(const struct conf_opts *o, char *why, size_t len);
    /* Frees t; true when it stayed healthy, else false with the reason. */
    bool (*close)(void *t, char *why, size_t len);

    unsigned (*caps)(const void *t);
    uint64_t (*guest_cid)(const void *t);
    uint64_t (*now)(const void *t);

    int (*socket)(void *t, enum conf_side s, int type);
    int (*bind)(void *t, enum conf_side s, int fd, uint32_t port);
    int (*listen)(void *t, enum conf_side s, int fd, int backlog);
    int (*accept)(void *t, enum conf_side s, int fd);
    int (*connect)(void *t, enum conf_side s, int fd, uint64_t cid, uint32_t port);
    int64_t (*send)(void *t, enum conf_side s, int fd, const void *buf, size_t len,
                    unsigned flags);
    int64_t (*recv)(void *t, enum conf_side s, int fd, void *buf, size_t len, unsigned flags,
                    unsigned *out_flags);
    int (*shutdown)(void *t, enum conf_side s, int fd, int how);
    int (*close_sock)(void *t, enum conf_side s, int fd);
    unsigned (*poll)(void *t, enum conf_side s, int fd);
    int (*sock_error)(void *t, enum conf_side s, int fd);
    int (*set_buf_size)(void *t, enum conf_side s, int fd, uint32_t bytes);
    int (*set_rcvlowat)(void *t, enum conf_side s, int fd, uint32_t bytes);
    int (*set_buf_bound)(void *t, enum conf_side s, int fd, bool max, uint64_t bytes);
    int (*local_port)(void *t, enum conf_side s, int fd, uint32_t *port);
    int (*peer_name)(void *t, enum conf_side s, int fd, uint64_t *cid, uint32_t *port);
    int (*outq)(void *t, enum conf_side s, int fd);
    int64_t (*sigpipes)(void *t, enum conf_side s);

    /* Runs the target until cond(arg) holds (true) or timeout_ns pass
     * (false); cond NULL: just let the time pass. */
    bool (*wait)(void *t, bool (*cond)(void *arg), void *arg, uint64_t timeout_ns);

    int (*raw_begin)(void *t);
    int (*raw_send)(void *t, const struct vsock_hdr *h, const void *payload, uint32_t len);
    int (*raw_recv)(void *t, struct vsock_hdr *h, void *payload, uint32_t cap, uint32_t *len,
                    uint64_t timeout_ns);
    int (*raw_chain)(void *t, const struct conf_desc *d, unsigned n,
                     struct conf_chain_result *out, uint64_t timeout_ns);
    int (*raw_host_begin)(void *t);
    int (*raw_host_send)(void *t, const struct vsock_hdr *h, const void *payload, uint32_t len);
    int (*raw_host_recv)(void *t, struct vsock_hdr *h, void *payload, uint32_t cap,
                         uint32_t *len, uint64_t timeout_ns);
    int (*ring_info)(void *t, unsigned q, struct conf_ring_info *out);
    int (*driver_info)(void *t, struct conf_driver_info *out);
    int (*device_info)(void *t, struct conf_device_info *out);
    int (*device_reply_bound)(void *t, uint32_t at);
    /* Guest memory as the device sees it (CONF_CAP_RING_INSPECT): 0, or
     * -EFAULT outside it. */
    int (*mem_read)(void *t, uint64_t gpa, void *dst, size_t len);
    int (*transport_reset)(void *t);
    uint64_t (*drops)(void *t, enum conf_side s, enum vep_drop why);
    int (*device_stop)(void *t);
    int (*device_start)(void *t);
    int (*device_reset)(void *t);
    int (*rx_used_len_extra)(void *t, int32_t extra);
    int (*device_features)(void *t, uint64_t *out);
    int64_t (*queue_errors)(void *t, unsigned q);
    int64_t (*transcript)(void *t, uint32_t first, struct conf_pktlog_entry *out, uint32_t max);
    int64_t (*tx_chains)(void *t, uint32_t first, struct conf_tx_chain *out, uint32_t max);
};

/* The packets that crossed the rings during a case, printed when the
 * target closes, for the referee (conformance/referee.h):
 *   vsocksim-pkt begin target=T [seed=N] linux=V   (V: the run's Linux profile)
 *   vsocksim-pkt g>h|h>g <conf_hdr_format>        one line per packet
 *   vsocksim-pkt unavailable: REASON              no transcript could be had
 *   vsocksim-pkt end packets=N dropped=M
 * One begin/end block per run: on sim a case runs once per seed, so its
 * output holds one block per seed. Bounded: packets beyond the capacity are
 * counted as dropped (the referee then cannot compare that run). */
/* (struct conf_pktlog_entry is in conf.h: conf_transcript hands them out.) */
struct conf_pktlog {
    struct conf_pktlog_entry *e;
    uint32_t n, cap;
    uint64_t dropped;
    char head[48];         /* "target=sim seed=1 linux=6.1" */
    char unavailable[320]; /* why there is no transcript, or "" */
};
#define CONF_PKTLOG_MAX 4000u
/* head: "target=T [seed=N] linux=V". False when out of memory: the log
 * is then marked unavailable and can still be printed and freed. */
bool conf_pktlog_init(struct conf_pktlog *log, uint32_t cap, const char *head);
void conf_pktlog_add(struct conf_pktlog *log, bool to_host, const struct vsock_hdr *h);
/* The same, as entry `at` (0..n): a packet that crossed before what was
 * logged since (the entries from at on move up by one). */
void conf_pktlog_insert(struct conf_pktlog *log, uint32_t at, bool to_host,
                        const struct vsock_hdr *h);
void conf_pktlog_print(const struct conf_pktlog *log);
void conf_pktlog_free(struct conf_pktlog *log);
/* Whether a hand-made chain enters a transcript, as the packet a vhost-style
 * device read (*h): when the device took it (returned), or refused it with
 * a queue error after reading a header whose len the chain cannot hold
 * (vhost_vsock_alloc_skb, 6.1.192 and 6.12.118). A chain refused for its
 * shape never had a header read; nor has one whose first 44 readable bytes
 * the case gave no data for. */
bool conf_chain_read_header(const struct conf_desc *d, unsigned n, bool returned, bool error,
                            struct vsock_hdr *h);
/* conf_used_header over a target's memory reader and a ring's info. */
int conf_read_used_header(int (*read)(void *ctx, uint64_t gpa, void *dst, size_t len), void *ctx,
                          const struct conf_ring_info *r, uint16_t pos, struct vsock_hdr *out);
/* conf_driver_info from our driver (the sim and kernel targets' guest). */
struct vdrv;
void conf_fill_driver_info(struct vdrv *drv, struct conf_driver_info *out);
/* A transcript's entries from first on (the conf_transcript op over a
 * target's own log): how many there are from first, up to max copied. */
int64_t conf_pktlog_copy(const struct conf_pktlog *log, uint32_t first,
                         struct conf_pktlog_entry *out, uint32_t max);

/* The tx chains a device of ours took (conf_tx_chains): grown as needed up
 * to CONF_CHAINLOG_MAX entries, later ones counted as dropped. */
#define CONF_CHAINLOG_MAX 8192u
struct conf_chainlog {
    struct conf_tx_chain *e;
    uint32_t n, cap;
    uint64_t dropped;
};
void conf_chainlog_add(struct conf_chainlog *log, const struct vsock_hdr *h, const uint32_t *lens,
                       uint32_t n);
int64_t conf_chainlog_copy(const struct conf_chainlog *log, uint32_t first,
                           struct conf_tx_chain *out, uint32_t max);
void conf_chainlog_free(struct conf_chainlog *log);

/* Packets held for a case that speaks for one side (raw mode): a bounded
 * ring of copies; packets beyond it, or whose copy cannot be made, are
 * counted as overflow, which fails the case at close. */
#define CONF_PKTQ_MAX 4096u
struct conf_pkt {
    struct vsock_hdr h;
    uint32_t len;   /* payload bytes that came */
    uint8_t *data;  /* malloc'd copy, or NULL */
};
struct conf_pktq {
    struct conf_pkt *pkts; /* ring of CONF_PKTQ_MAX, allocated by conf_pktq_init */
    uint32_t head, count;
    uint64_t overflow;
};
int conf_pktq_init(struct conf_pktq *q); /* 0, or -ENOMEM; again: nothing */
void conf_pktq_push(struct conf_pktq *q, const struct vsock_hdr *h, const uint8_t *payload,
                    uint32_t len);
bool conf_pktq_nonempty(void *q); /* a wait condition */
/* The oldest packet into *h, *len and up to cap bytes of payload; false when
 * the queue is empty. */
bool conf_pktq_pop(struct conf_pktq *q, struct vsock_hdr *h, void *payload, uint32_t cap,
                   uint32_t *len);
void conf_pktq_free(struct conf_pktq *q);

extern const struct conf_target_ops conf_target_sim;
extern const struct conf_target_ops conf_target_kernel;
extern const struct conf_target_ops conf_target_guest;

/* The registered target of that name, or NULL. */
const struct conf_target_ops *conf_target_find(const char *name);
/* Every registered target, in a fixed order; *n gets how many. */
const struct conf_target_ops *const *conf_target_list(size_t *n);

#endif
