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

/* What a target can do; a case needing one that is missing is skipped with
 * the reason, never passed. */
#define CONF_CAP_RAW 1u        /* raw packet injection and rx observation */
#define CONF_CAP_RAW_RING 2u   /* hand-made descriptor chains on the tx ring */
#define CONF_CAP_RESET 4u      /* inject TRANSPORT_RESET */
#define CONF_CAP_COUNTERS 8u   /* the device's and driver's drop counters */
#define CONF_CAP_CONFIG 16u    /* choose queue sizes, buffer sizes, features */

struct conf;

/* Setup a case may ask for before conf_open (defaults: 0 = the target's). */
struct conf_opts {
    uint64_t seed;           /* sim: the run's seed */
    uint32_t queue_size;     /* rx/tx/event; CONF_CAP_CONFIG */
    uint32_t rx_buf_size;    /* guest rx buffer incl. header; CONF_CAP_CONFIG */
    uint64_t features;       /* device offer; 0 = all */
    uint32_t host_buf_alloc; /* host sockets' buf_alloc; 0 = 256 KiB */
};

/* ---- the target ---- */

const char *conf_target_name(const struct conf *c); /* "sim", "kernel", "guest" */
unsigned conf_target_mask(const struct conf *c);
unsigned conf_caps(const struct conf *c);
uint64_t conf_guest_cid(const struct conf *c);
uint64_t conf_host_cid(const struct conf *c); /* 2 */
/* Nanoseconds: simulated on sim, monotonic elsewhere. */
uint64_t conf_now(const struct conf *c);

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
int conf_close(struct conf *c, enum conf_side s, int fd);
unsigned conf_poll(struct conf *c, enum conf_side s, int fd); /* VEP_POLL* */
int conf_sock_error(struct conf *c, enum conf_side s, int fd);
int conf_set_buf_size(struct conf *c, enum conf_side s, int fd, uint32_t bytes);
int conf_set_rcvlowat(struct conf *c, enum conf_side s, int fd, uint32_t bytes);
int conf_local_port(struct conf *c, enum conf_side s, int fd, uint32_t *port);

/* ---- waiting ---- */

/* Lets the target run until cond(c, arg) holds (true) or timeout_ns pass
 * (false). */
bool conf_wait(struct conf *c, bool (*cond)(struct conf *c, void *arg), void *arg,
               uint64_t timeout_ns);
/* Lets timeout_ns pass (the system settles in the meantime). */
void conf_sleep(struct conf *c, uint64_t timeout_ns);
/* Waits until conf_poll(side, fd) has any of the events; returns them (0 on timeout). */
unsigned conf_wait_poll(struct conf *c, enum conf_side s, int fd, unsigned events,
                        uint64_t timeout_ns);

/* ---- raw access (CONF_CAP_RAW) ---- */

/* From now on the guest side is the case itself: packets the device places
 * on rx are queued for conf_raw_recv instead of reaching guest sockets, and
 * conf_raw_send puts crafted packets on the tx ring as the driver would. */
int conf_raw_begin(struct conf *c);
int conf_raw_send(struct conf *c, const struct vsock_hdr *h, const void *payload, uint32_t len);
/* The next packet the device placed on rx, in order: 1 and filled, 0 when
 * none came within timeout_ns. *len gets the payload bytes that came (the
 * payload is cut at cap). */
int conf_raw_recv(struct conf *c, struct vsock_hdr *h, void *payload, uint32_t cap,
                  uint32_t *len, uint64_t timeout_ns);

/* Hand-made descriptor chains (CONF_CAP_RAW_RING). */
struct conf_desc {
    uint64_t addr;      /* 0: a buffer of len bytes the target provides */
    uint32_t len;
    uint16_t flags;     /* VIRTQ_DESC_F_* exactly as written */
    uint16_t next;      /* index into the same array, written as given */
    const void *data;   /* bytes to put in the provided buffer, or NULL */
};
struct conf_chain_result {
    bool returned;      /* the device put the head on the used ring */
    uint32_t used_len;
    bool error;         /* the device signalled a queue error (vhost's err eventfd) */
};
/* Writes n descriptors into free slots of the tx ring (next fields are
 * translated to those slots), exposes descs[0] as the head, kicks, and
 * reports what the device did within timeout_ns. */
int conf_raw_chain(struct conf *c, const struct conf_desc *descs, unsigned n,
                   struct conf_chain_result *out, uint64_t timeout_ns);

/* ---- other (capability-gated) ---- */

int conf_transport_reset(struct conf *c); /* CONF_CAP_RESET */
/* A counter of the target's own code: the endpoint drop reasons of either
 * side (CONF_CAP_COUNTERS). */
uint64_t conf_drops(struct conf *c, enum conf_side s, enum vep_drop why);

/* ---- running cases ----
 * Cases live in conformance/cases_*.c as
 *     CONF_CASE(name, "VSOCK-RX-3 RING-DEV-7", CONF_ALL, CONF_CAP_RAW, "what it checks")
 *     { ...body using c... }
 * The requirement IDs (conformance/requirements.txt) say which normative
 * statements the case checks. Assertions use CONF_REQUIRE* below. */

struct conf_case {
    const char *name;
    const char *reqs;
    unsigned targets;
    unsigned caps;
    const char *descr;
    void (*body)(struct conf *c);
    const struct conf_opts *opts; /* or NULL */
};

#endif
