/*
 * fuzz/: the logic of the AFL++ harnesses, kept in the library so that the
 * harness programs (fuzz/NAME_prog.c), the replay test (fuzz/replay_test.c) and
 * the vsocksim commands share it. Pure, like every module: no I/O beyond
 * memory streams, no clock, no global mutable state but one cache (the sim
 * harness parses each of its constant scenario texts once, fuzz/fuzz_sim.c).
 *
 * Each harness takes one input (a byte string) and returns what its oracle
 * found: FUZZ_OK, FUZZ_NOTHING (the input was refused before it reached the
 * code under test: too long, or a trace header the parsers reject) or
 * FUZZ_FINDING with a one-line description in `why`. The harness programs
 * abort() on a finding so that AFL records a crash; the sanitizers (ASan,
 * UBSan) catch the rest.
 *
 * Harnesses:
 *   sim     input = 4 configuration bytes, then sim_cfg.decision_bytes
 *   guest   input = operations of a hostile guest against our device
 *   device  input = operations of a hostile device against our driver
 *   parsers input = 1 selector byte, then a trace file, a scenario file, a
 *           fault list or a conformance packet script
 */
#ifndef VSOCKSIM_FUZZ_H
#define VSOCKSIM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/sim.h"

enum fuzz_outcome { FUZZ_OK = 0, FUZZ_NOTHING = 1, FUZZ_FINDING = 2 };

#define FUZZ_WHY_MAX 600

struct fuzz_report {
    enum fuzz_outcome outcome;
    char why[FUZZ_WHY_MAX]; /* "" unless FUZZ_FINDING */
};

/* The harnesses by name ("sim", "guest", "device", "parsers"). */
typedef void (*fuzz_one_fn)(const uint8_t *data, size_t len, struct fuzz_report *rep);
struct fuzz_harness {
    const char *name;
    fuzz_one_fn one;
    size_t max_len; /* longer inputs are FUZZ_NOTHING */
    /* NULL, or fills the harness's cache; a persistent-mode program calls
     * it before the fork server starts, so that every run covers the same
     * code (no first run that parses while the others do not). */
    void (*prepare)(void);
};
const struct fuzz_harness *fuzz_harness_find(const char *name);
const struct fuzz_harness *fuzz_harness_list(size_t *count);

/* ---- sim --------------------------------------------------------------------- */

#define FUZZ_SIM_HDR 4u            /* configuration bytes before the decisions */
#define FUZZ_SIM_MAX_LEN 16384u
/* Step budget: FUZZ_SIM_MIN_STEPS plus one per FUZZ_SIM_BYTES_PER_STEP
 * decision bytes, at most FUZZ_SIM_STEPS. A step takes about five bytes of
 * decisions; past the input's end every decision is 0, which fires every
 * fault with a non-zero rate: long tails of that are slow and say little.
 * Exhausting the budget is no finding. */
#define FUZZ_SIM_STEPS 600u
#define FUZZ_SIM_MIN_STEPS 32u
#define FUZZ_SIM_BYTES_PER_STEP 4u
#define FUZZ_SIM_FAULT_WINDOW_MS 10u
#define FUZZ_SIM_LIVENESS_MS 30000u
#define FUZZ_SIM_SEED 1u
#define FUZZ_SIM_SCENARIOS 6u
#define FUZZ_SIM_FULL_RINGS 0x08u   /* byte 0: 128-entry rings instead of 1 to 4 */
#define FUZZ_SIM_LINUX_6_12 0x10u   /* byte 0: Linux 6.12's rules instead of 6.1's */
/* byte 0: the guest keeps taking rx while its replies wait (--deviate
 * reply-budget) instead of Linux's rule, under which tiny rings often end
 * in Linux's known reply-pause deadlock, which is no finding. */
#define FUZZ_SIM_REPLY_BUDGET 0x20u

/* The small scenarios the sim harness runs: name, and the file text (also
 * committed as traces/fuzz/sim-scenarios/NAME.scenario, so that a trace of a
 * harness run names a file `vsocksim replay` can read). */
const char *fuzz_sim_scenario_name(unsigned i);
const char *fuzz_sim_scenario_text(unsigned i);
/* "traces/fuzz/sim-scenarios/NAME.scenario" (relative to the source tree). */
void fuzz_sim_scenario_path(unsigned i, char *buf, size_t len);

/* What an input's configuration bytes say. */
struct fuzz_sim_setup {
    unsigned scenario;   /* index, < FUZZ_SIM_SCENARIOS */
    struct sim_cfg cfg;  /* decision_bytes point into the input */
};
/* Decodes the configuration; -1 when the scenario text does not parse (a
 * bug of this file). Inputs shorter than the header read as zeros. */
int fuzz_sim_setup(const uint8_t *data, size_t len, struct fuzz_sim_setup *out);
/* Whether a run's end is a bug: a violation other than the step budget and
 * Linux's known reply-pause deadlock (sim_known_linux_deadlock). */
bool fuzz_sim_is_finding(const struct sim_result *r);
struct trace_header;
/* The trace header of a harness run: `vsocksim replay` then re-runs it from
 * the trace's decisions alone (the scenario file is named relative to the
 * source tree). -1 when it does not fit. */
int fuzz_sim_trace_header(const struct fuzz_sim_setup *su, struct trace_header *h);
void fuzz_sim_one(const uint8_t *data, size_t len, struct fuzz_report *rep);
/* Parses every scenario into the harness's cache (fuzz_harness.prepare). */
void fuzz_sim_prepare(void);

/* ---- guest (hostile guest against device/) ------------------------------------ */

#define FUZZ_GUEST_MAX_LEN 4096u
void fuzz_guest_one(const uint8_t *data, size_t len, struct fuzz_report *rep);

/* ---- device (hostile device against driver/) ----------------------------------- */

#define FUZZ_DEVICE_MAX_LEN 4096u
void fuzz_device_one(const uint8_t *data, size_t len, struct fuzz_report *rep);

/* ---- parsers -------------------------------------------------------------------- */

#define FUZZ_PARSERS_MAX_LEN 16384u
enum fuzz_parser {
    FUZZ_PARSE_TRACE,
    FUZZ_PARSE_SCENARIO,
    FUZZ_PARSE_FAULTS,
    FUZZ_PARSE_SCRIPT, /* conformance/script.h */
    FUZZ_PARSE_COUNT
};
void fuzz_parsers_one(const uint8_t *data, size_t len, struct fuzz_report *rep);

/* ---- shared helpers -------------------------------------------------------------- */

/* Sets a finding (the first one sticks). */
void fuzz_found(struct fuzz_report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A cursor over the input: reads past the end give zeros. */
struct fuzz_in {
    const uint8_t *p;
    size_t len;
    size_t pos;
};
void fuzz_in_init(struct fuzz_in *in, const uint8_t *data, size_t len);
bool fuzz_in_done(const struct fuzz_in *in);
uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
uint64_t fuzz_u64(struct fuzz_in *in);
/* Up to n bytes (fewer at the end); returns how many were copied. */
size_t fuzz_bytes(struct fuzz_in *in, void *dst, size_t n);

#endif
