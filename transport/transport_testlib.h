/*
 * A two-endpoint harness for tests of transport/ (and of anything built on
 * it: the simulator and conformance tests reuse it).
 *
 * A pair holds a guest endpoint (local CID 3, peer 2, check_dst_cid) and a
 * host endpoint (local CID 2, peer 3, check_src_cid), a fake clock, and a
 * pump that moves packets from each endpoint's tx queue into the other's
 * vep_rx until both queues are empty. While moving them the pump
 *   - optionally records every packet (header + payload) in a log, in the
 *     order it crossed, so a test can assert exact packet sequences;
 *   - checks flow control: for every RW crossing, the bytes the sender has
 *     sent on that connection minus the receiver's fwd_cnt (as the sender
 *     knew it when the pump began) never exceed the receiver's buf_alloc.
 * Everything is deterministic: no PRNG, no wall clock.
 *
 * Names are prefixed tt_ / TT_ so this header can be used together with the
 * other modules' test libraries.
 */
#ifndef VSOCKSIM_TRANSPORT_TESTLIB_H
#define VSOCKSIM_TRANSPORT_TESTLIB_H

#include <atf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/transport.h"

/* ---- messages and requirements ------------------------------------------- */

/* printf into one of a few rotating static buffers. */
const char *tt_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "ECONNRESET" for 104 or -104, "0" for 0, else the number. */
const char *tt_errname(long long err);

/* Integer equality; prints both values (decimal, hex and as errno names). */
#define TT_EQ(expected, actual, ...)                                                      \
    do {                                                                                  \
        long long tt_e_ = (long long)(expected);                                          \
        long long tt_a_ = (long long)(actual);                                            \
        if (tt_e_ != tt_a_)                                                               \
            atf_tc_fail_requirement(__FILE__, __LINE__,                                   \
                                    "%s: expected %s == %lld (%#llx, %s), got %lld "      \
                                    "(%#llx, %s)",                                        \
                                    tt_fmt(__VA_ARGS__), #actual, tt_e_,                  \
                                    (unsigned long long)tt_e_, tt_errname(tt_e_), tt_a_,  \
                                    (unsigned long long)tt_a_, tt_errname(tt_a_));        \
    } while (0)

/* A condition with a formatted explanation of what went wrong. */
#define TT_TRUE(cond, ...)                                                                \
    do {                                                                                  \
        if (!(cond))                                                                      \
            atf_tc_fail_requirement(__FILE__, __LINE__, "%s: %s", #cond,                  \
                                    tt_fmt(__VA_ARGS__));                                 \
    } while (0)

/* ATF test case with a description. */
#define TT_TC(name, descr)                                                                \
    ATF_TC(name);                                                                         \
    ATF_TC_HEAD(name, tc) { atf_tc_set_md_var(tc, "descr", descr); }


/* ---- the pair -------------------------------------------------------------- */

enum tt_side { TT_GUEST = 0, TT_HOST = 1 };
#define TT_GUEST_CID 3u
#define TT_HOST_CID VSOCK_CID_HOST
#define TT_OTHER(side) (1 - (side))

/* One packet that crossed (or was taken, or injected). */
struct tt_rec {
    int from;              /* the sending side */
    bool injected;         /* put in by tt_inject rather than sent by an endpoint */
    bool reply;            /* vep_tx.is_reply */
    struct vsock_hdr hdr;  /* as sent; for endpoint packets hdr.len == paylen */
    uint32_t paylen;       /* payload bytes that came with it (injected: may differ) */
    uint8_t *payload;      /* a copy of paylen bytes; NULL when paylen is 0 */
};

/* The credit the pump has seen for one connection (by port pair). */
struct tt_flow {
    uint32_t gport, hport;
    uint32_t sent[2];       /* RW payload bytes sent by each side since REQUEST */
    bool known[2];          /* side's credit has been advertised */
    uint32_t buf_alloc[2];  /* the latest advertisement by each side */
    uint32_t fwd_cnt[2];
    uint32_t snap_buf_alloc[2]; /* the same, as of the start of the current pump */
    uint32_t snap_fwd_cnt[2];
    bool snap_known[2];
};

struct tt_pair {
    struct vep *ep[2];
    uint64_t now;
    bool record;              /* append crossing packets to log */
    bool check_credit;        /* pump checks flow control (default on) */
    struct tt_rec *log;
    uint32_t nlog, caplog;
    struct tt_flow *flows;
    uint32_t nflows, capflows;
    uint64_t moved[2];        /* packets delivered, by sender */
    uint64_t rw_checked;      /* RW packets whose credit the pump checked */
    uint32_t max_in_flight[2];/* the most unacknowledged bytes seen, by sender */
};

struct vep_cfg tt_guest_cfg(void);
struct vep_cfg tt_host_cfg(void);
/* With the default configurations (seqpacket on, ephemeral seeds 1 and 2). */
void tt_pair_init(struct tt_pair *p);
void tt_pair_init_cfg(struct tt_pair *p, const struct vep_cfg *guest, const struct vep_cfg *host);
void tt_pair_fini(struct tt_pair *p);

#define TT_G(p) ((p)->ep[TT_GUEST])
#define TT_H(p) ((p)->ep[TT_HOST])

/* ---- moving packets ------------------------------------------------------------ */

/* Moves packets both ways until neither side has anything queued. Returns
 * the number moved, or -1 with a reason in why (if not NULL) when it does not
 * settle within max_passes passes or flow control is violated. */
long tt_pump_try(struct tt_pair *p, unsigned max_passes, char *why, size_t whylen);
/* The same; fails the test case instead of returning -1. */
#define tt_pump(p) tt_pump_at(__FILE__, __LINE__, (p))
long tt_pump_at(const char *file, int line, struct tt_pair *p);
/* Moves one packet from side from to the other. false when from has none. */
bool tt_step(struct tt_pair *p, int from);
/* Takes the next packet from side from's tx queue without delivering it
 * (recorded when recording). Returns false when there is none. The copy in
 * out must be released with tt_rec_free. */
bool tt_take(struct tt_pair *p, int from, struct tt_rec *out);
void tt_rec_free(struct tt_rec *r);
/* Delivers a packet taken earlier to the other side (not recorded again). */
void tt_deliver(struct tt_pair *p, const struct tt_rec *r);
/* Throws away everything side from has queued; returns how many packets. */
uint32_t tt_discard(struct tt_pair *p, int from);

/* A header from side from to the other with the CIDs filled in. */
struct vsock_hdr tt_hdr(int from, uint16_t type, uint16_t op, uint32_t src_port,
                        uint32_t dst_port);
/* Hands a crafted packet to side to's vep_rx: hdr as given, len payload bytes
 * (len may disagree with hdr->len). Recorded when recording. */
void tt_inject(struct tt_pair *p, int to, const struct vsock_hdr *hdr, const void *payload,
               uint32_t len);

/* Moves the clock and runs both endpoints' timers. */
void tt_advance(struct tt_pair *p, uint64_t ns);

/* ---- the log ---------------------------------------------------------------------- */

void tt_log_clear(struct tt_pair *p);
const struct tt_rec *tt_log_at(const struct tt_pair *p, uint32_t i);
/* "G>H RW STREAM 1024->1234 len=5 flags=0 buf=262144 fwd=0" */
const char *tt_rec_str(const struct tt_rec *r);
/* The whole log, one packet a line (a static buffer, truncated if long). */
const char *tt_log_str(const struct tt_pair *p);
/* Writes it to stderr (ATF failure reasons must be one line). */
void tt_log_dump(const struct tt_pair *p);
/* The log as bytes: per packet the sender, the encoded header, the payload. */
size_t tt_log_serialize(const struct tt_pair *p, uint8_t **out);
/* Counts log entries from side from with op op (op 0xffff: any). */
uint32_t tt_log_count(const struct tt_pair *p, int from, uint16_t op);

/* Checks log entry i: sender, CIDs (from the sides), type, op, ports, flags
 * and payload length. Prints the log on failure. */
void tt_check_pkt(const char *file, int line, const struct tt_pair *p, uint32_t i, int from,
                  uint16_t type, uint16_t op, uint32_t src_port, uint32_t dst_port,
                  uint32_t flags, uint32_t len);
#define TT_PKT(p, i, from, type, op, sport, dport, flags, len)                             \
    tt_check_pkt(__FILE__, __LINE__, (p), (i), (from), (type), (op), (sport), (dport),      \
                 (flags), (len))
/* Checks the number of log entries. */
#define TT_NLOG(p, n)                                                                       \
    do {                                                                                    \
        if ((p)->nlog != (uint32_t)(n)) {                                                   \
            tt_log_dump(p);                                                                 \
            atf_tc_fail_requirement(__FILE__, __LINE__,                                     \
                                    "expected %u packets, got %u (log on stderr)",          \
                                    (unsigned)(n), (p)->nlog);                              \
        }                                                                                   \
    } while (0)

/* ---- socket helpers (each fails the test case on an unexpected result) ------------- */

/* A bound, listening socket on side. */
#define tt_listen(p, side, type, port, backlog)                                             \
    tt_listen_at(__FILE__, __LINE__, (p), (side), (type), (port), (backlog))
int tt_listen_at(const char *file, int line, struct tt_pair *p, int side, int type,
                 uint32_t port, int backlog);
/* Connects a new socket of side to the other side's listener lfd (bound to
 * port), pumps, accepts. Returns the accepted fd, the connected one in *cfd. */
#define tt_connect(p, side, type, lfd, port, cfd)                                           \
    tt_connect_at(__FILE__, __LINE__, (p), (side), (type), (lfd), (port), (cfd))
int tt_connect_at(const char *file, int line, struct tt_pair *p, int side, int type, int lfd,
                  uint32_t port, int *cfd);

/* A connected stream pair: guest fd *g, host fd *h (guest connects to a host
 * listener on port, which is returned). */
int tt_stream_pair(struct tt_pair *p, uint32_t port, int *g, int *h);

/* Drop counter of side. */
uint64_t tt_drops(const struct tt_pair *p, int side, enum vep_drop why);
/* The vep_conns entry of fd on side (fails if absent). */
struct vep_conn_info tt_conn(const struct tt_pair *p, int side, int fd);
/* Number of sockets side still has (vep_conns). */
uint32_t tt_nsocks(const struct tt_pair *p, int side);

/* A deterministic byte pattern: byte i of stream `salt`. */
uint8_t tt_pattern(uint32_t salt, uint64_t i);
void tt_fill(uint8_t *buf, size_t n, uint32_t salt, uint64_t offset);
/* FNV-1a 64. */
uint64_t tt_hash(const void *buf, size_t n, uint64_t h);
#define TT_HASH_INIT 0xcbf29ce484222325ull

#endif
