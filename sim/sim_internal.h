/* Private to sim/: the state of one run, shared by the scheduler (sim.c),
 * the applications (sim_flow.c) and the trace glue (sim_trace.c). */
#ifndef VSOCKSIM_SIM_INTERNAL_H
#define VSOCKSIM_SIM_INTERNAL_H

#include "sim/prng.h"
#include "sim/sim.h"
#include "sim/world.h"

#define SIM_NOTES_MAX 16
#define SIM_MAX_ACTORS 512u

/* A kick or interrupt raised and not yet delivered (ioeventfd / irqfd). */
struct sim_note {
    uint64_t at;
    bool irq;   /* else a kick */
    uint8_t q;
};

enum side_state {
    SIDE_NONE,
    SIDE_LISTENING,  /* server: waiting to accept */
    SIDE_CONNECTING, /* client: connect in progress */
    SIDE_OPEN,
    SIDE_CLOSED,
};

struct flow_side {
    bool guest;
    enum side_state st;
    int fd;
    int lfd;             /* server's listener until it accepts */
    uint64_t stall_until;
    uint64_t closed_at;  /* when it became SIDE_CLOSED */
    bool sent_eof;       /* shut down for writing (or closed) */
    bool got_eof;
};

enum flow_state { FLOW_PENDING, FLOW_ACTIVE, FLOW_DONE };

struct flow {
    uint32_t id;
    uint32_t group;
    uint32_t index;       /* within its group */
    enum flow_kind kind;
    enum flow_state st;
    uint32_t port;
    uint32_t total;       /* stream bytes, or seqpacket messages */
    uint32_t max_msg;
    bool disrupted;       /* a fault hit it: it may end early, never with bad data */
    /* The guest reset the device while it ran (at device_reset_at): its host
     * end may be half-open, waiting for ever for a guest end that is gone. */
    bool device_reset;
    uint64_t device_reset_at;
    bool aborted;         /* it ended early */
    struct flow_side cl, sv;
    uint64_t c2s_sent, c2s_rcvd; /* stream bytes, or messages */
    uint64_t s2c_sent, s2c_rcvd;
    uint8_t *pattern;     /* stream: the c2s bytes at offsets 0..total-1, while active */
    uint64_t pattern_made; /* pattern[0..pattern_made) is filled in (pattern_upto) */
    uint32_t next_len;    /* seqpacket: the client's next message, drawn (0: not yet) */
    bool next_eor;
    uint32_t *msg_len;    /* seqpacket: what the client sent, for the server to check */
    uint8_t *msg_eor;
    uint64_t bytes_c2s, bytes_s2c; /* payload actually verified */
};

struct sim {
    const struct sim_cfg *cfg; /* points at cfg_copy */
    struct sim_cfg cfg_copy;
    struct sim_result *res;
    struct prng rng;
    size_t byte_pos; /* next byte of cfg->decision_bytes */
    struct world *w;
    struct vep *g;  /* guest sockets */
    struct vep *h;  /* host sockets */
    uint64_t now;
    uint64_t until;   /* sim_run_until's deadline: an idle clock stops there */
    uint64_t fault_end;
    struct sim_note notes[SIM_NOTES_MAX];
    uint32_t nnotes;
    unsigned kick_ready; /* kicks delivered, waiting for the device's worker */
    unsigned irq_ready;  /* interrupts delivered, waiting for the guest's handler */
    uint64_t resets_injected; /* TRANSPORT_RESET events put on the event queue */
    uint64_t device_stall_until;
    uint64_t rx_starve_until;
    uint64_t paused_until; /* the device is stopped (device-pause) until then; 0: running */
    struct flow *flows;
    uint32_t nflows;
    uint32_t *active;  /* indices of the FLOW_ACTIVE flows, ascending */
    uint32_t nactive;
    uint32_t group_next[SCENARIO_MAX_GROUPS];   /* next pending flow index per group */
    uint32_t group_active[SCENARIO_MAX_GROUPS];
    uint32_t flows_done;
    bool stopped; /* a violation, divergence or error ended the run */
    uint32_t actors[SIM_MAX_ACTORS]; /* scratch for one step's runnable actors */
    uint8_t *scratch; /* an application's send/recv buffer */
};

/* Decisions: the only way anything random happens. value in [0, n). */
uint32_t sim_decide(struct sim *s, const char *kind, uint32_t n);
/* True with probability ppm / 1e6 (no decision drawn when ppm is 0 or 1e6). */
bool sim_chance(struct sim *s, const char *kind, uint32_t ppm);
bool sim_faults_active(const struct sim *s);
/* A TRANSPORT_RESET was raised that the guest has not handled yet. */
bool sim_reset_in_flight(const struct sim *s);
void sim_note_fault(struct sim *s, enum sim_fault f, const char *detail);

/* Ends the run with a violation; printf-style message. */
void sim_violation(struct sim *s, const char *invariant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim_fail(struct sim *s, enum sim_status st, const char *invariant, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* sim_flow.c */
int sim_flows_init(struct sim *s);
void sim_flows_free(struct sim *s);
/* Appends the runnable application actors (flow index * 2 + side). */
uint32_t sim_flows_runnable(struct sim *s, uint32_t *out, uint32_t max);
void sim_flow_run(struct sim *s, uint32_t actor);
/* The earliest stall end among active flows, or UINT64_MAX. */
uint64_t sim_flows_next_wake(const struct sim *s);
/* A fault that breaks connections hit: every active flow may now end early. */
void sim_flows_disrupt_all(struct sim *s);
/* The guest reset the device: as sim_flows_disrupt_all, and since vhost
 * keeps host connections through it, a host end may now be half-open; once
 * the flow's other side is closed, the harness gives up on it after
 * SIM_HALF_OPEN_GIVE_UP_NS, as a test with a timeout would. */
void sim_flows_device_reset(struct sim *s);
#define SIM_HALF_OPEN_GIVE_UP_NS 1000000000ull
/* Flows whose client is connecting now (a device stall will time them out). */
void sim_flows_disrupt_connecting(struct sim *s);
bool sim_flows_all_done(const struct sim *s);
/* Describes unfinished flows for a liveness violation. */
void sim_flows_describe_pending(const struct sim *s, char *buf, size_t len);
uint64_t sim_flows_digest(const struct sim *s, uint64_t h);
bool sim_flow_conn_exempt(void *ctx, bool guest_side, const struct vep_conn_info *c);

/* sim_trace.c: recording and strict replay */
/* True when the value came from the replayed trace; otherwise the caller
 * draws it and hands it to sim_trace_record_value. */
bool sim_trace_decision(struct sim *s, const char *kind, uint32_t n, uint32_t *value);
void sim_trace_record_value(struct sim *s, const char *kind, uint32_t n, uint32_t value);
void sim_trace_packet(struct sim *s, bool g2h, const void *hdr, const uint8_t *payload,
                      uint32_t len);
void sim_trace_fault(struct sim *s, const char *name, const char *detail);
void sim_trace_end(struct sim *s);
/* Sets the world's packet observers to feed the trace and the statistics. */
void sim_world_observe(struct sim *s, struct world_cfg *wc);

uint64_t fnv1a(uint64_t h, const void *data, size_t len);

#endif
