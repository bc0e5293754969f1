/* Private to the bridge (vu_bridge.c, vu_bridge_conn.c): the Unix side of
 * the host sockets. */
#ifndef VSOCKSIM_VU_BRIDGE_PRIV_H
#define VSOCKSIM_VU_BRIDGE_PRIV_H

#include "vhostuser/vu_priv.h"

#include <stdarg.h>

#define BR_BUF (64u * 1024u) /* per direction per connection */
#define BR_MAX_PENDING 64u   /* guest connects per tx batch */
#define BR_LINE 64u          /* "CONNECT <port>\n" */

enum br_state {
    BR_HANDSHAKE,  /* reading "CONNECT <port>\n" */
    BR_CONNECTING, /* waiting for the guest's RESPONSE */
    BR_OPEN,
};

struct br_conn {
    int ufd;              /* Unix side */
    int vfd;              /* the device's host socket, -1 before CONNECT */
    int type;             /* VSOCK_TYPE_STREAM / _SEQPACKET */
    enum br_state st;
    char line[BR_LINE];
    uint32_t line_len;
    uint8_t tg[BR_BUF];   /* Unix -> guest */
    uint32_t tg_off, tg_len;
    uint8_t th[BR_BUF];   /* guest -> Unix */
    uint32_t th_off, th_len;
    bool u_eof;           /* the Unix side sent everything */
    bool v_shut;          /* ... and the guest was told (SHUT_WR) */
    bool v_eof;           /* the guest sent everything */
    bool u_shut;          /* ... and the Unix side was told */
};

struct br_pending {       /* a Unix socket connected for a guest's REQUEST */
    uint32_t port, peer_port;
    int ufd;
    uint16_t type;
};

struct br_lport {         /* a host socket listening for guests */
    uint32_t port;
    int vfd;
    uint16_t type;
};

struct vu_bridge {
    char prefix[108];
    int lfd;              /* listener at PREFIX, -1 without a prefix */
    uint64_t guest_cid;
    uint32_t max;
    struct vep *ep;
    struct vu_stats *stats;
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    struct br_conn **c;
    unsigned n, cap;
    struct br_pending pend[BR_MAX_PENDING];
    unsigned npend;
    struct br_lport *lp;
    unsigned nlp, caplp;
};

enum br_result { BR_IDLE, BR_MOVED, BR_DONE };

void br_log(const struct vu_bridge *br, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct br_conn *br_add(struct vu_bridge *br, int ufd, int vfd, int type, enum br_state st);
short br_conn_events(const struct br_conn *c);
/* Moves what it can; BR_DONE when the connection is over (both closed). */
enum br_result br_conn_run(struct vu_bridge *br, struct br_conn *c, uint64_t now);

#endif
