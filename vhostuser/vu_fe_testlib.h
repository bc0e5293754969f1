/* A vhost-user front end for tests: it speaks the protocol to a backend
 * (in-process over a socketpair, or a child process over a Unix socket),
 * owns a memfd as guest memory, and runs our guest driver (driver/) on it
 * as a minimal guest. Hostile tests use its raw senders; the rest use the
 * full setup sequence. */
#ifndef VSOCKSIM_VU_FE_TESTLIB_H
#define VSOCKSIM_VU_FE_TESTLIB_H

#include "driver/driver.h"
#include "vhostuser/vhostuser.h"

#include <stdbool.h>
#include <stdint.h>

#define FE_CID 3u
#define FE_QSIZE 64u
#define FE_GPA0 0x100000ull        /* region 0: rings */
#define FE_GPA1 0x400000ull        /* region 1: the driver's arena */
#define FE_REGION (2u << 20)       /* each region's size; region 1 at memfd offset 2 MiB */
#define FE_UA0 0x7f1200000000ull   /* where "QEMU" pretends to have them */
#define FE_UA1 0x7f1300000000ull

struct fe {
    int sock;
    struct vu_backend *b;  /* in-process backend to step, or NULL (a child serves) */
    int memfd;
    uint8_t *mem;
    struct gmem gmem;
    struct vring_layout lay[VSOCK_VQ_COUNT];
    int kick[2], call[2], err[2];
    uint64_t features, protocol, cid;
    struct vdrv *drv;
};

/* The reply to a request: header fields and payload. */
struct fe_reply {
    uint32_t request, flags, size;
    uint8_t payload[4096];
};

/* A front end on sock, guest memory and eventfds made; b may be NULL. */
void fe_init(struct fe *fe, int sock, struct vu_backend *b);
void fe_fini(struct fe *fe);

/* Sends one message exactly as given. */
int fe_send(struct fe *fe, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
            const int *fds, unsigned nfds);
/* Sends a raw byte string (torn headers and the like). */
int fe_send_raw(struct fe *fe, const void *buf, size_t len);
/* Lets the backend run until a reply came: 1 and *r filled, 0 when the
 * connection was closed instead, -1 on timeout. */
int fe_reply(struct fe *fe, struct fe_reply *r, int timeout_ms);
/* Lets the backend run; true when it closed the connection. */
bool fe_closed(struct fe *fe, int timeout_ms);
/* Sends a request and returns its u64 reply (or ack); UINT64_MAX on none. */
uint64_t fe_call_u64(struct fe *fe, uint32_t req, uint32_t flags, const void *payload,
                     uint32_t size, const int *fds, unsigned nfds);
/* Lets the backend (in-process) run for up to ms. */
void fe_run_backend(struct fe *fe, int ms);

/* Message builders. */
uint32_t fe_mem_table(const struct fe *fe, uint8_t *out, unsigned nregions);
void fe_state(uint8_t out[8], uint32_t index, uint32_t num);
void fe_u64(uint8_t out[8], uint64_t v);
void fe_addr(const struct fe *fe, uint8_t out[40], uint32_t index);

/* The whole setup sequence as QEMU sends it, with asserts; then the guest
 * driver runs on the device. Returns false (after ATF_CHECK failures) when a
 * step went wrong. */
bool fe_setup(struct fe *fe);
/* Guest side: moves tx, kicks, lets the backend run, takes interrupts. */
void fe_guest_step(struct fe *fe, int ms);
/* Guest connects to (2, port) and waits for the outcome: 0 connected
 * (RESPONSE), -ECONNRESET (RST), -ETIMEDOUT. *fd gets the guest socket. */
int fe_guest_connect(struct fe *fe, uint32_t port, int *fd, int timeout_ms);
/* A REQUEST through the ring: answered by RST with no host listener, by
 * RESPONSE with one (made on the in-process backend's host sockets). */
bool fe_request_answered(struct fe *fe);

/* How many fds the process has open (for leak checks). */
int fe_count_fds(void);

#endif
