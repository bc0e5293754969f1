/* Private to the sim target (target_sim.c, target_sim_raw.c,
 * target_sim_ring.c). */
#ifndef VSOCKSIM_TARGET_SIM_PRIV_H
#define VSOCKSIM_TARGET_SIM_PRIV_H

#include "conformance/conf_target.h"
#include "sim/sim.h"
#include "sim/world.h"

/* A buffer the target provided for a hand-made chain. */
struct simt_buf {
    uint64_t off;   /* in the scratch region */
    uint32_t len;
    bool writable;  /* the device may write it */
};

#define SIMT_MAX_BUFS 1024u
#define SIMT_RAW_TAKE_NS 1000000000ull /* how long a raw send waits for the device to take it */

struct simt {
    struct sim *s;
    struct world *w;
    struct sim_result res; /* outlives the simulation, as sim_open asks */
    struct world_cfg wc;
    bool raw;              /* the case speaks for the guest */
    bool raw_host;         /* the case speaks for the host */
    struct conf_pktq gq;   /* what the device placed on rx */
    struct conf_pktq hq;   /* what the guest driver sent */
    struct conf_pktlog log; /* what each endpoint received from the rings */
    struct conf_chainlog chains; /* how the guest laid out the tx chains the device took */
    /* Guest memory for hand-made chains: a region of its own, far above
     * the world's RAM, so nothing the driver owns is ever touched; and
     * what was put there, to see afterwards whether the device wrote it. */
    uint8_t *mem;
    uint8_t *shadow;
    uint64_t mem_used;
    bool mem_mapped;
    struct simt_buf bufs[SIMT_MAX_BUFS];
    unsigned nbufs;
};

bool simt_wait(void *tp, bool (*cond)(void *arg), void *arg, uint64_t timeout_ns);

/* target_sim_raw.c */
int simt_raw_begin(void *tp);
int simt_raw_send(void *tp, const struct vsock_hdr *h, const void *payload, uint32_t len);
int simt_raw_recv(void *tp, struct vsock_hdr *h, void *payload, uint32_t cap, uint32_t *len,
                  uint64_t timeout_ns);
int simt_raw_host_begin(void *tp);
int simt_raw_host_send(void *tp, const struct vsock_hdr *h, const void *payload, uint32_t len);
int simt_raw_host_recv(void *tp, struct vsock_hdr *h, void *payload, uint32_t cap,
                       uint32_t *len, uint64_t timeout_ns);

/* target_sim_ring.c */
int simt_raw_chain(void *tp, const struct conf_desc *d, unsigned n, struct conf_chain_result *out,
                   uint64_t timeout_ns);
int simt_ring_info(void *tp, unsigned q, struct conf_ring_info *out);

#endif
