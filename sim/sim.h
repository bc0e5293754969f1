/*
 * sim/: the seeded deterministic simulator. One process, one seed: every
 * choice (who runs next, how long a notification takes, which fault hits,
 * how big the next write is) is a decision drawn from the run's PRNG, or
 * read back from a trace, and nothing else. The same seed and options give
 * the same run, byte for byte, on every compiler and optimisation level.
 *
 * The world (sim/world.h) is the stack: our driver and our device over real
 * split virtqueues. The simulator adds the scheduler (actors: guest and host
 * applications, driver tx and interrupt handling, device kick handling and rx
 * delivery, notification delivery, timers, the fault injector), a simulated
 * clock in nanoseconds, the fault catalogue, the workloads and the invariant
 * oracle, checked after every step.
 */
#ifndef VSOCKSIM_SIM_H
#define VSOCKSIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "transport/transport.h"

#define SIM_VERSION "0.1.0"

/* ---- faults ---------------------------------------------------------------- */

enum sim_fault {
    FAULT_KICK_DELAY,       /* per kick: delivered late */
    FAULT_IRQ_DELAY,        /* per interrupt: delivered late */
    FAULT_SPURIOUS_KICK,    /* per step: a kick with nothing new */
    FAULT_SPURIOUS_IRQ,     /* per step: an interrupt with nothing new */
    FAULT_RX_STARVE,        /* per rx interrupt: the driver holds back refills for a while */
    FAULT_TINY_RINGS,       /* per run: queues of 1 to 4 entries */
    FAULT_HOST_STALL,       /* per host application step: it stops for a while (credit runs out) */
    FAULT_GUEST_STALL,      /* per guest application step: it stops for a while */
    FAULT_PEER_RESET,       /* per application step on a connection: it aborts with RST */
    FAULT_TRANSPORT_RESET,  /* per step: the device sends TRANSPORT_RESET */
    FAULT_DEVICE_RESTART,   /* per step: device reset and renegotiation */
    FAULT_CONNECT_TIMEOUT,  /* per connect: the device stalls past the connect timeout */
    FAULT_DEVICE_PAUSE,     /* per step: a VM stop and cont; no connection may notice */
    FAULT_COUNT
};

struct sim_faults {
    uint32_t ppm[FAULT_COUNT]; /* probability per opportunity, parts per million */
};

const char *sim_fault_name(enum sim_fault f);
const char *sim_fault_help(enum sim_fault f);
/* Parses "name=rate,name=rate" (rate a decimal in [0,1], e.g. 0.05), or
 * "none", or "all=RATE". 0, or -1 with a one-line message in err. */
int sim_faults_parse(const char *spec, struct sim_faults *out, char *err, size_t errlen);
/* The canonical form ("kick-delay=0.2,spurious-irq=0.05", or "none"). */
void sim_faults_format(const struct sim_faults *f, char *buf, size_t len);

/* ---- scenarios ------------------------------------------------------------- */

enum flow_kind {
    FLOW_ECHO,      /* client writes, server echoes, client checks */
    FLOW_BULK,      /* client streams to server */
    FLOW_SEQPACKET, /* client sends messages, server checks each boundary and EOR */
};

enum flow_client { CLIENT_GUEST, CLIENT_HOST, CLIENT_ANY };

#define SCENARIO_MAX_GROUPS 8
#define SCENARIO_NAME_MAX 32

/* count flows of one kind; at most `concurrent` of them run at once. */
struct flow_group {
    enum flow_kind kind;
    enum flow_client client;
    uint32_t count;
    uint32_t concurrent;
    uint32_t bytes;     /* per flow (stream), or largest message (seqpacket) */
    uint32_t messages;  /* seqpacket messages per flow */
    uint32_t port;      /* first server port; flows reuse ports cyclically */
    /* seqpacket: the client sends a message only once the credit for all of
     * it is there, as a blocking sender ends up sending it (Linux splits a
     * message only for a non-blocking sender: vep_send); with nonblocking
     * it sends whenever the socket is writable and retries a message that
     * came back EAGAIN, and Linux's split shows as a merged message. */
    bool nonblocking;
};

struct scenario {
    char name[SCENARIO_NAME_MAX];
    char description[96];
    char faults[160];   /* faults used when the command line names none */
    uint32_t ngroups;
    struct flow_group group[SCENARIO_MAX_GROUPS];
};

/* A built-in scenario by name, or NULL. */
const struct scenario *sim_scenario_builtin(const char *name);
/* All built-in scenarios; *count gets how many. */
const struct scenario *sim_scenario_list(size_t *count);
#define SIM_DEFAULT_SCENARIO "mixed"
const char *sim_flow_kind_name(enum flow_kind k);
/* Parses the scenario file format (see README). 0, or -1 with
 * "file:line: message" in err. */
int sim_scenario_parse(FILE *f, const char *filename, struct scenario *out, char *err,
                       size_t errlen);

/* ---- a run ----------------------------------------------------------------- */

enum sim_status { SIM_OK, SIM_VIOLATION, SIM_DIVERGENCE, SIM_ERROR };

/* The invariant a violation is named after when the flows could not finish
 * because the world is in Linux's reply-pause deadlock (world.h:
 * world_reply_pause_deadlock): the model follows both of Linux's rules, so it
 * meets Linux's bug, which the report documents and the kernel target shows
 * (conformance case reply_flood_linux_rule_deadlocks). Sweeps count it apart
 * from failures, the fuzzer's sim harness does not report it, and
 * --deviate reply-budget (our guest rule) runs past it. */
#define SIM_KNOWN_LINUX_DEADLOCK "linux-reply-pause"
#define SIM_KNOWN_LINUX_DEADLOCK_REPORT "traces/corpus/linux-reply-pause-deadlock.md"


struct trace_writer;
struct trace_reader;
struct world_cfg;

struct sim_cfg {
    uint64_t seed;
    enum vsock_linux linux_ver; /* the Linux profile (transport/transport.h) */
    uint64_t deviate;           /* named deviations from Linux (VSOCK_DEV_BIT) */
    struct scenario scenario;
    struct sim_faults faults;
    uint64_t max_steps;        /* 0 = 5,000,000 */
    uint64_t fault_window_ns;  /* faults stop at this simulated time; 0 = 2 s */
    uint64_t liveness_ns;      /* after faults stop, all flows end within this; 0 = 30 s */
    struct trace_writer *record; /* NULL: no trace */
    struct trace_reader *replay; /* NULL: decisions come from the seed */
    bool check_every_step;     /* the full oracle after every step (default on) */
    /* Decisions from these bytes instead of the PRNG (a fuzzer's input):
     * each decision takes as many bytes as its range needs, little-endian,
     * modulo the range; past the end every decision is 0. */
    const uint8_t *decision_bytes;
    size_t decision_len;
    /* The stack's settings to start from (queue sizes, buffer sizes, the
     * device's features, socket tunables), for the conformance target; NULL
     * for the defaults. Faults, ephemeral port seeds and observers still
     * apply on top. Read by sim_open only, and not recorded in traces. */
    const struct world_cfg *world;
};

struct sim_stats {
    uint64_t steps;
    uint64_t decisions;
    uint64_t sim_ns;
    uint64_t flows;
    uint64_t flows_completed;
    uint64_t flows_disrupted;
    uint64_t bytes_g2h;
    uint64_t bytes_h2g;
    uint64_t pkts_g2h[8];  /* by op; [0] holds unknown ops */
    uint64_t pkts_h2g[8];
    uint64_t kicks;
    uint64_t interrupts;
    uint64_t faults[FAULT_COUNT];
    uint64_t checks;
    uint64_t digest;       /* of the final state */
};

struct sim_result {
    enum sim_status status;
    struct sim_stats stats;
    uint64_t step;          /* where it failed */
    uint64_t t_ns;
    char invariant[48];     /* which invariant, or "divergence" / "error" */
    char message[512];      /* what exactly */
};

/* Whether a result is the known Linux deadlock (SIM_KNOWN_LINUX_DEADLOCK). */
bool sim_known_linux_deadlock(const struct sim_result *r);

/* Runs one simulation. Returns the status (also in res). */
enum sim_status sim_run(const struct sim_cfg *cfg, struct sim_result *res);

/* The same scheduler stepped by a caller, as the conformance cases use it: a
 * scenario with no flows leaves the sockets to the caller, who acts between
 * waits. res must outlive the simulation. NULL only when out of memory
 * (res says so). */
struct sim;
struct world;
struct sim *sim_open(const struct sim_cfg *cfg, struct sim_result *res);
/* Steps the scheduler (the oracle after every step) until cond(ctx) holds
 * (true) or simulated time reaches deadline_ns, a violation stops the run,
 * or nothing is left to happen before the deadline (false; time moves to
 * the deadline). cond may act (send or read from inside it): when that gives
 * the scheduler work, stepping goes on. */
bool sim_run_until(struct sim *s, bool (*cond)(void *ctx), void *ctx, uint64_t deadline_ns);
uint64_t sim_now(const struct sim *s);
struct world *sim_world(struct sim *s);
/* On the caller's request, what the device-restart fault does: the guest
 * resets the device (world_device_reset); 0 or the device's start error. */
int sim_device_reset(struct sim *s);
/* A VM stop and cont (world_device_stop / world_device_start): the guest
 * notices nothing; on start the device looks at tx again. */
void sim_device_stop(struct sim *s);
int sim_device_start(struct sim *s);
bool sim_stopped(const struct sim *s);
/* Final oracle (and with final_checks, no socket may remain), statistics,
 * the trace's end record; frees the simulation. */
enum sim_status sim_close(struct sim *s, bool final_checks);
const char *sim_status_name(enum sim_status s);

#endif
