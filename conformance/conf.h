/*
 * conformance/: one case library for every target.
 *
 * A case is written once against this interface and runs on:
 *   sim    - our driver + our device + our host sockets, in process, under the
 *            seeded scheduler (every case runs under several seeds);
 *   kernel - our driver + the real Linux vhost-vsock + real AF_VSOCK sockets,
 *            inside a QEMU guest (refuses to run anywhere else);
 *   guest  - the real Linux guest driver + our device through vhost-user.
 * A case sees (a) the guest side's sockets, (b) the host side's sockets,
 * (c) raw access: packets injected as the guest driver would send them, and
 * the packets the device places on rx, in order, and (d) waiting: the
 * simulator advances simulated time, real targets poll with a real timeout.
 * Cases never touch a target's internals.
 *
 * Sockets: conf_* calls mirror the BSD socket calls and return what they
 * return, errors as negative errno values (-ECONNRESET), on either side.
 *
 * Targets plug in through conformance/conf_target.h (an ops table registered
 * by name); cases are written with conformance/conf_case.h.
 */
#ifndef VSOCKSIM_CONF_H
#define VSOCKSIM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/transport.h"

enum conf_side { CONF_GUEST, CONF_HOST };

/* Targets, as a mask a case declares it applies to. */
#define CONF_SIM 1u
#define CONF_KERNEL 2u
#define CONF_GUEST_TARGET 4u
#define CONF_ALL (CONF_SIM | CONF_KERNEL | CONF_GUEST_TARGET)
/* Cases that speak packets for the guest need our driver under the device. */
#define CONF_RAW_TARGETS (CONF_SIM | CONF_KERNEL)

/* What a target can do; a case needing one that is missing is skipped with
 * the reason, never passed. */
#define CONF_CAP_RAW 1u        /* raw packet injection and rx observation */
#define CONF_CAP_RAW_RING 2u   /* hand-made descriptor chains on the tx ring */
#define CONF_CAP_RESET 4u      /* inject TRANSPORT_RESET */
#define CONF_CAP_COUNTERS 8u   /* the device's and driver's drop counters */
#define CONF_CAP_CONFIG 16u    /* choose queue sizes, buffer sizes, features */
#define CONF_CAP_RAW_HOST 32u  /* the case speaks for the host: raw packets to the guest */
#define CONF_CAP_RING_INSPECT 64u /* read ring layout and indices; check memory after a chain */
#define CONF_CAP_DEVICE_STOP 128u /* stop the device and start it again (VM stop and cont) */
#define CONF_CAP_USED_LEN 256u    /* our device reports rx used lens off by a chosen amount */
#define CONF_CAP_DEVICE_RESET 512u /* the guest resets the device */
#define CONF_CAP_DRIVER_STATE 1024u /* our driver is the guest: its reply queue and rx pause */
#define CONF_CAP_DEVICE_STATE 2048u /* our device: its reply queue, tx pause and rings */

struct conf;

/* Setup a case may ask for before conf_open (defaults: 0 = the target's). */
struct conf_opts {
    uint64_t seed;           /* sim: the run's seed */
    enum vsock_linux linux_ver; /* the run's Linux profile (set by the runner) */
    uint64_t deviate;        /* named deviations from Linux (VSOCK_DEV_BIT) of our code: on
                                sim both sides, on kernel our driver (reply-budget); a case
                                that sets it checks our deviation, so it runs only where
                                our code plays that part */
    uint32_t queue_size;     /* rx/tx/event; CONF_CAP_CONFIG */
    uint32_t rx_buf_size;    /* guest rx buffer incl. header; CONF_CAP_CONFIG */
    uint64_t features;       /* device offer; 0 = all */
    uint32_t host_buf_alloc; /* host sockets' buf_alloc; 0 = 256 KiB */
    /* Our driver's largest tx packet payload (sim, kernel): a raw send of
     * up to this much goes on the ring as one packet; 0 = 64 KiB, Linux's. */
    uint32_t tx_max_payload;
};

/* ---- opening and closing a target ---- */

/* Whether the named target can run here at all; false with the reason (the
 * kernel target outside its guest image, an unknown name). Cases are then
 * skipped, not failed, unless the name is unknown (*known false). */
bool conf_target_available(const char *target, bool *known, char *why, size_t whylen);
/* Opens a fresh instance of the target: NULL with the reason. */
struct conf *conf_open(const char *target, const struct conf_opts *o, char *why, size_t whylen);
/* Closes it; true when the target stayed healthy (sim: the oracle found no
 * violation during the case), false with the reason. c is freed either way. */
bool conf_close(struct conf *c, char *why, size_t whylen);

const char *conf_target_name(const struct conf *c); /* "sim", "kernel", "guest" */
unsigned conf_target_mask(const struct conf *c);
unsigned conf_caps(const struct conf *c);
/* The opts the target was opened with (the seed above all). */
const struct conf_opts *conf_options(const struct conf *c);
/* The Linux profile of the run: whose rules the sim target's model follows,
 * and the kernel a real target runs (cases whose expectation changed
 * between kernels ask it). */
enum vsock_linux conf_linux(const struct conf *c);
uint64_t conf_guest_cid(const struct conf *c);
uint64_t conf_host_cid(const struct conf *c); /* 2 */
/* Nanoseconds: simulated on sim, monotonic elsewhere. */
uint64_t conf_now(const struct conf *c);
/* Zeroed memory that lives until conf_close, so a failing case leaks
 * nothing; fails the case when out of memory. */
void *conf_scratch(struct conf *c, size_t bytes);

/* ---- failing a case ----
 * Records "file:line: message" and jumps back to the runner (conf_run.c),
 * which closes the target and reports the failure. Outside a runner it
 * prints the message and aborts. Use CONF_REQUIRE* (conf_case.h). */
_Noreturn void conf_fail(struct conf *c, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- sockets, on either side ---- */

int conf_socket(struct conf *c, enum conf_side s, int type); /* VSOCK_TYPE_STREAM / _SEQPACKET */
int conf_bind(struct conf *c, enum conf_side s, int fd, uint32_t port);
int conf_listen(struct conf *c, enum conf_side s, int fd, int backlog);
int conf_accept(struct conf *c, enum conf_side s, int fd); /* -EAGAIN when none is ready */
/* Non-blocking: -EINPROGRESS, then poll for POLLOUT/POLLERR and conf_sock_error. */
int conf_connect(struct conf *c, enum conf_side s, int fd, uint64_t cid, uint32_t port);
int64_t conf_send(struct conf *c, enum conf_side s, int fd, const void *buf, size_t len,
                  unsigned flags);                          /* VEP_MSG_* */
int64_t conf_recv(struct conf *c, enum conf_side s, int fd, void *buf, size_t len,
                  unsigned flags, unsigned *out_flags);     /* VEP_MSG_* */
int conf_shutdown(struct conf *c, enum conf_side s, int fd, int how); /* VEP_SHUT_* */
/* close(2) of a socket (conf_close closes the target). */
int conf_close_sock(struct conf *c, enum conf_side s, int fd);
unsigned conf_poll(struct conf *c, enum conf_side s, int fd); /* VEP_POLL* */
int conf_sock_error(struct conf *c, enum conf_side s, int fd);
int conf_set_buf_size(struct conf *c, enum conf_side s, int fd, uint32_t bytes);
int conf_set_rcvlowat(struct conf *c, enum conf_side s, int fd, uint32_t bytes);
/* SO_VM_SOCKETS_BUFFER_MAX_SIZE / _MIN_SIZE: the bounds buffer sizes are
 * clamped to (Linux's defaults: 262144 and 128). */
int conf_set_buf_max_size(struct conf *c, enum conf_side s, int fd, uint64_t bytes);
int conf_set_buf_min_size(struct conf *c, enum conf_side s, int fd, uint64_t bytes);
int conf_local_port(struct conf *c, enum conf_side s, int fd, uint32_t *port);
/* getpeername(2): the connected peer's CID and port. */
int conf_peer_name(struct conf *c, enum conf_side s, int fd, uint64_t *cid, uint32_t *port);

/* ioctl(SIOCOUTQ): the bytes sent and not yet out of the socket's hands
 * (Linux 6.12), or the negative errno (6.1: -EOPNOTSUPP, no socket ioctl). */
int conf_outq(struct conf *c, enum conf_side s, int fd);
/* How many SIGPIPEs the side's sends have raised since the target opened
 * (a count that only grows: compare against an earlier value), or
 * -EOPNOTSUPP. A send raises one unless it passes VEP_MSG_NOSIGNAL (Linux
 * 6.12 on a stream EPIPE; 6.1 never). */
int64_t conf_sigpipes(struct conf *c, enum conf_side s);

/* ---- waiting ---- */

/* Lets the target run until cond(c, arg) holds (true) or timeout_ns pass
 * (false). cond runs between the target's steps and once more when the
 * target is idle; it may act (send, read), and then it must do all it can
 * in each call (until -EAGAIN), since an idle target is not asked again. */
bool conf_wait(struct conf *c, bool (*cond)(struct conf *c, void *arg), void *arg,
               uint64_t timeout_ns);
/* Lets timeout_ns pass (the system settles in the meantime). */
void conf_sleep(struct conf *c, uint64_t timeout_ns);
/* Waits until conf_poll(side, fd) has any of the events; returns them (0 on timeout). */
unsigned conf_wait_poll(struct conf *c, enum conf_side s, int fd, unsigned events,
                        uint64_t timeout_ns);

#define CONF_MS(n) ((uint64_t)(n) * (uint64_t)1000000)

/* ---- raw access (CONF_CAP_RAW) ---- */

/* From now on the guest side is the case itself: packets the device places
 * on rx are queued for conf_raw_recv instead of reaching guest sockets, and
 * conf_raw_send puts crafted packets on the tx ring as the driver would. */
int conf_raw_begin(struct conf *c);
/* hdr is sent exactly as given, except hdr.len, which is len. */
int conf_raw_send(struct conf *c, const struct vsock_hdr *h, const void *payload, uint32_t len);
/* The next packet the device placed on rx, in order: 1 and filled, 0 when
 * none came within timeout_ns. *len gets the payload bytes that came (the
 * payload is cut at cap). */
int conf_raw_recv(struct conf *c, struct vsock_hdr *h, void *payload, uint32_t cap,
                  uint32_t *len, uint64_t timeout_ns);

/* Hand-made descriptor chains (CONF_CAP_RAW_RING). */
struct conf_desc {
    uint64_t addr;      /* 0: a buffer of len bytes the target provides */
    uint32_t len;       /* with table: 0 = ntable * 16 */
    uint16_t flags;     /* VIRTQ_DESC_F_* exactly as written */
    uint16_t next;      /* index into the same array, written as given */
    const void *data;   /* bytes to put in the provided buffer, or NULL */
    /* An indirect table the target writes into memory it provides (addr is
     * then ignored): its entries follow the same rules, next fields index
     * the table. NULL for none. */
    const struct conf_desc *table;
    uint16_t ntable;
};
struct conf_chain_result {
    bool returned;      /* the device put the head on the used ring */
    uint32_t used_len;
    bool error;         /* the device signalled a queue error (vhost's err eventfd) */
    /* With CONF_CAP_RING_INSPECT the target compares memory after the
     * device was done with the chain: */
    bool inspected;
    bool readable_written; /* a device-readable buffer changed */
    bool table_written;    /* a descriptor (table or indirect table entry) changed */
};
/* Writes n descriptors into free slots of the tx ring (next fields are
 * translated to those slots), exposes descs[0] as the head, kicks, and
 * reports what the device did within timeout_ns. */
int conf_raw_chain(struct conf *c, const struct conf_desc *descs, unsigned n,
                   struct conf_chain_result *out, uint64_t timeout_ns);

/* The host side's raw mode (CONF_CAP_RAW_HOST), the mirror of the above:
 * packets the guest driver sends are queued for conf_raw_host_recv
 * instead of reaching host sockets, and conf_raw_host_send hands crafted
 * packets to the device, which places them on rx for the guest. */
int conf_raw_host_begin(struct conf *c);
int conf_raw_host_send(struct conf *c, const struct vsock_hdr *h, const void *payload,
                       uint32_t len);
int conf_raw_host_recv(struct conf *c, struct vsock_hdr *h, void *payload, uint32_t cap,
                       uint32_t *len, uint64_t timeout_ns);

/* A queue's rings as they are in guest memory now (CONF_CAP_RING_INSPECT).
 * q: 0 rx, 1 tx, 2 event. */
struct conf_ring_info {
    uint32_t num;
    uint64_t desc, avail, used;  /* guest-physical addresses */
    uint16_t avail_flags, avail_idx;
    uint16_t used_flags, used_idx;
};
int conf_ring_info(struct conf *c, unsigned q, struct conf_ring_info *out);
/* The packet header in the buffer of queue q's used entry at position pos
 * (a free-running used index: pos < used_idx), read from guest memory by
 * way of the entry's id and its first descriptor, as a hypervisor could
 * (CONF_CAP_RING_INSPECT): what the device placed there, whether or not the
 * driver has collected it. -EINVAL for a position not yet used, -EFAULT
 * when the entry leads outside guest memory. */
int conf_used_header(struct conf *c, unsigned q, uint16_t pos, struct vsock_hdr *out);

/* Our driver's side of the reply-pause rule (CONF_CAP_DRIVER_STATE: sim and
 * kernel, where our driver is the guest). */
struct conf_driver_info {
    uint32_t replies_queued; /* replies (RESPONSE, RST) waiting for tx */
    uint32_t pkts_queued;    /* packets waiting for tx, replies included */
    uint32_t rx_pause_at;    /* replies at which rx pauses (the rule, resolved) */
    bool rx_paused;          /* rx is paused on replies now */
    uint64_t rx_pauses;      /* how often rx paused so far */
    uint16_t rx_last_used;   /* rx used entries the driver has collected (mod 2^16) */
    uint16_t tx_last_used;
    uint32_t tx_free;        /* tx descriptors free for new chains */
};
int conf_driver_info(struct conf *c, struct conf_driver_info *out);

/* Our device's side of the reply pauses (CONF_CAP_DEVICE_STATE: sim and
 * guest, where our device serves the guest), and its rings as it sees them. */
struct conf_device_ring {
    uint16_t num;   /* 0 while the device is stopped */
    uint16_t avail; /* avail idx in guest memory */
    uint16_t taken; /* the next avail entry the device takes */
    uint16_t used;  /* used idx the device published */
};
struct conf_device_info {
    uint32_t replies_queued; /* replies waiting for rx buffers */
    uint32_t pause_at;       /* replies at which tx pauses (vhost: the tx ring size) */
    uint32_t pkts_queued;    /* packets waiting for rx, replies included */
    bool tx_paused;          /* tx is paused on replies now */
    struct conf_device_ring rx, tx;
};
int conf_device_info(struct conf *c, struct conf_device_info *out);
/* Our device pauses tx at `at` queued replies from now on, until the case
 * ends (CONF_CAP_DEVICE_STATE): 0 restores vhost's rule (the tx ring size),
 * CONF_REPLIES_UNBOUND never pauses. A tx queue the new bound releases goes
 * on at once. */
#define CONF_REPLIES_UNBOUND UINT32_MAX
int conf_device_reply_bound(struct conf *c, uint32_t at);

/* One packet of a transcript (conf_transcript). */
struct conf_pktlog_entry {
    bool to_host;
    struct vsock_hdr h;
};

/* One tx chain the device took as a packet (conf_tx_chains): the packet's
 * header and the lengths of the chain's readable descriptors, as the
 * device walked them (an indirect table's entries). */
#define CONF_TX_CHAIN_LENS 20u
struct conf_tx_chain {
    struct vsock_hdr h;
    uint32_t ndesc;                  /* descriptors (the first CONF_TX_CHAIN_LENS in len) */
    uint32_t len[CONF_TX_CHAIN_LENS];
};

/* ---- other (capability-gated) ---- */

int conf_transport_reset(struct conf *c); /* CONF_CAP_RESET */

/* The device stopped and started again (CONF_CAP_DEVICE_STOP), as QEMU stops
 * vhost at a VM stop (VHOST_VSOCK_SET_RUNNING 0, GET_VRING_BASE) and starts
 * it at cont (the rings handed over again where they stopped, RUNNING 1):
 * the guest notices nothing, its kicks meanwhile are lost, and between the
 * two the case may act (a host send waits for the device). */
int conf_device_stop(struct conf *c);
int conf_device_start(struct conf *c);
/* The guest resets the device (CONF_CAP_DEVICE_RESET): its driver resets its
 * connections and sets up fresh rings (Linux: virtio_vsock_vqs_del, then the
 * queues again), the device is stopped and started on them. What the host
 * side sees is the device's business: vhost keeps its sockets. */
int conf_device_reset(struct conf *c);
/* Our device reports every rx used len `extra` bytes off the bytes it wrote
 * (CONF_CAP_USED_LEN), to see what the guest driver accepts; 0 restores. */
int conf_rx_used_len_extra(struct conf *c, int32_t extra);

/* What the device offers (VHOST_GET_FEATURES on the kernel target): 0 and
 * *out, or -EOPNOTSUPP where the target cannot tell. */
int conf_device_features(struct conf *c, uint64_t *out);
/* How often the device signalled a queue error (vhost's err eventfd) on
 * queue q since the target opened: vhost may signal twice for one chain, so
 * compare against an earlier value rather than a count. -EOPNOTSUPP where
 * the target cannot tell. */
int64_t conf_queue_errors(struct conf *c, unsigned q);
/* The packets that crossed the rings since the target opened, from entry
 * `first` on: up to max into out, and how many there are in all from first
 * (which may exceed max), or -EOPNOTSUPP. Each header is what crossed: a
 * packet split over rx buffers shows as its parts. */
int64_t conf_transcript(struct conf *c, uint32_t first, struct conf_pktlog_entry *out,
                        uint32_t max);
/* The tx chains our device took since the target opened, from entry first
 * on: up to max into out, and how many there are from first; -EOPNOTSUPP
 * where the device is not ours (the kernel target: vhost). How the guest
 * driver lays packets out: what a device sees. */
int64_t conf_tx_chains(struct conf *c, uint32_t first, struct conf_tx_chain *out, uint32_t max);
/* A counter of the target's own code: the endpoint drop reasons of either
 * side (CONF_CAP_COUNTERS). */
uint64_t conf_drops(struct conf *c, enum conf_side s, enum vep_drop why);

/* ---- running cases ----
 * Cases live in conformance/cases_*.c as
 *     CONF_CASE(name, "VS-11 SR-07", CONF_ALL, CONF_CAP_RAW, "what it checks")
 *     { ...body using c... }
 * (see conformance/conf_case.h), which also registers them. The requirement
 * IDs (conformance/requirements.txt) say which normative statements the case
 * checks. Assertions use CONF_REQUIRE*. */

struct conf_case {
    const char *name;
    const char *reqs;
    unsigned targets;
    unsigned caps;
    const char *descr;
    void (*body)(struct conf *c);
    const struct conf_opts *opts; /* or NULL */
    /* Where the CONF_CASE is (__FILE__, __LINE__: gcc gives the line the
     * invocation starts on, clang the line it ends on). */
    const char *file;
    unsigned line;
};

/* The registry: every case linked into this program (conformance/conf_case.h
 * registers a case where it is written; conformance/conf_registry.c).
 * conf_cases returns how many there are and, when cap has room for all,
 * fills v with them ordered by file, line and name: never by link order or
 * address. */
size_t conf_cases(const struct conf_case **v, size_t cap);
/* The registered case of that name, or NULL. */
const struct conf_case *conf_case_find(const char *name);

/* The names of a target mask and of a capability mask, for messages:
 * "sim kernel", "RAW RESET". */
void conf_mask_names(unsigned targets, char *buf, size_t len);
void conf_cap_names(unsigned caps, char *buf, size_t len);

#endif
