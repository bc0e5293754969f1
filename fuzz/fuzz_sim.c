/* The sim harness: the input's first bytes choose a small scenario, the
 * Linux profile (byte 0's FUZZ_SIM_LINUX_6_12), the guest's reply rule
 * (FUZZ_SIM_REPLY_BUDGET) and the fault rates, the rest are the run's
 * decisions (sim_cfg.decision_bytes).
 * The oracle is the simulator's own: any violation but the step budget and
 * Linux's known reply-pause deadlock is a finding. Runs are kept short (a
 * few flows, a step budget) so that the fuzzer does many of them per second. */
#include "fuzz/fuzz.h"
#include "traces/trace.h"

#include <inttypes.h>

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    const char *text;
} scenarios[FUZZ_SIM_SCENARIOS] = {
    {"fuzz-echo",
     "# sim harness (fuzz/fuzz_sim.c): one echo connection\n"
     "scenario fuzz-echo\n"
     "description one 512-byte echo connection\n"
     "flow echo count=1 concurrent=1 bytes=512 client=any port=5000\n"},
    {"fuzz-churn",
     "# sim harness (fuzz/fuzz_sim.c): short connections reusing ports\n"
     "scenario fuzz-churn\n"
     "description five short echo connections, two at a time\n"
     "flow echo count=5 concurrent=2 bytes=64 client=any port=5100\n"},
    {"fuzz-bulk",
     "# sim harness (fuzz/fuzz_sim.c): one-way streams, shutdown or close at the end\n"
     "scenario fuzz-bulk\n"
     "description 8 KiB one way, 2 KiB the other\n"
     "flow bulk count=1 concurrent=1 bytes=8192 client=any port=5200\n"
     "flow bulk count=1 concurrent=1 bytes=2048 client=any port=5250\n"},
    {"fuzz-seqpacket",
     "# sim harness (fuzz/fuzz_sim.c): messages split over 4 KiB rx buffers\n"
     "scenario fuzz-seqpacket\n"
     "description four seqpacket messages of up to 6000 bytes\n"
     "flow seqpacket count=1 concurrent=1 messages=4 bytes=6000 client=any port=5300\n"},
    {"fuzz-mixed",
     "# sim harness (fuzz/fuzz_sim.c): a stream and a seqpacket connection at once\n"
     "scenario fuzz-mixed\n"
     "description one echo and one seqpacket connection at once\n"
     "flow echo count=1 concurrent=1 bytes=256 client=any port=5400\n"
     "flow seqpacket count=1 concurrent=1 messages=3 bytes=2048 client=any port=5450\n"},
    {"fuzz-duplex",
     "# sim harness (fuzz/fuzz_sim.c): echo and bulk both ways\n"
     "scenario fuzz-duplex\n"
     "description an echo and two bulk connections, guest and host clients\n"
     "flow echo count=1 concurrent=1 bytes=1024 client=guest port=5500\n"
     "flow bulk count=1 concurrent=1 bytes=4096 client=host port=5550\n"
     "flow bulk count=1 concurrent=1 bytes=4096 client=guest port=5560\n"},
};

/* Each fault's rate from two bits: off, rare, common, frequent. */
static const uint32_t fault_levels[4] = {0, 1000, 10000, 50000};

const char *fuzz_sim_scenario_name(unsigned i)
{
    return i < FUZZ_SIM_SCENARIOS ? scenarios[i].name : NULL;
}

const char *fuzz_sim_scenario_text(unsigned i)
{
    return i < FUZZ_SIM_SCENARIOS ? scenarios[i].text : NULL;
}

void fuzz_sim_scenario_path(unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "traces/fuzz/sim-scenarios/%s.scenario",
             i < FUZZ_SIM_SCENARIOS ? scenarios[i].name : "none");
}

static int parse_text(unsigned i, struct scenario *out)
{
    const char *text = scenarios[i].text;
    FILE *f = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
    if (f == NULL)
        return -1;
    char err[256];
    int r = sim_scenario_parse(f, scenarios[i].name, out, err, sizeof(err));
    fclose(f);
    return r;
}

/* The harness's only state: each scenario parsed once, as parsing is a
 * pure function of the constant text above. Parsing on every run cost more
 * than a short run itself (fmemopen, getc per byte). Only a successful
 * parse is kept, so a failure is reported on every run as before. */
static int parse_scenario(unsigned i, struct scenario *out)
{
    static struct scenario parsed[FUZZ_SIM_SCENARIOS];
    static bool have[FUZZ_SIM_SCENARIOS];
    if (!have[i]) {
        if (parse_text(i, &parsed[i]) < 0)
            return -1;
        have[i] = true;
    }
    *out = parsed[i];
    return 0;
}

void fuzz_sim_prepare(void)
{
    struct scenario sc;
    for (unsigned i = 0; i < FUZZ_SIM_SCENARIOS; i++)
        (void)parse_scenario(i, &sc); /* a failure shows again in the run */
}

int fuzz_sim_setup(const uint8_t *data, size_t len, struct fuzz_sim_setup *out)
{
    struct fuzz_in in;
    fuzz_in_init(&in, data, len);
    memset(out, 0, sizeof(*out));
    uint8_t b0 = fuzz_u8(&in);
    out->scenario = (b0 & 7u) % FUZZ_SIM_SCENARIOS;
    uint32_t bits = fuzz_u8(&in);
    bits |= (uint32_t)fuzz_u8(&in) << 8;
    bits |= (uint32_t)fuzz_u8(&in) << 16;
    struct sim_cfg *c = &out->cfg;
    for (int f = 0; f < FAULT_COUNT; f++)
        c->faults.ppm[f] = fault_levels[(bits >> (2 * f)) & 3u];
    /* Rings of 1 to 4 entries unless asked otherwise: a 128-entry world
     * costs several times more to build than the rest of a short run. */
    c->faults.ppm[FAULT_TINY_RINGS] = (b0 & FUZZ_SIM_FULL_RINGS) ? 0 : 1000000u;
    c->linux_ver = (b0 & FUZZ_SIM_LINUX_6_12) ? VSOCK_LINUX_6_12 : VSOCK_LINUX_6_1;
    c->deviate = (b0 & FUZZ_SIM_REPLY_BUDGET) ? VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET) : 0;
    if (parse_scenario(out->scenario, &c->scenario) < 0)
        return -1;
    c->seed = FUZZ_SIM_SEED;
    size_t steps = (len > FUZZ_SIM_HDR ? len - FUZZ_SIM_HDR : 0) / FUZZ_SIM_BYTES_PER_STEP;
    c->max_steps = steps < FUZZ_SIM_STEPS - FUZZ_SIM_MIN_STEPS ? FUZZ_SIM_MIN_STEPS + steps
                                                               : FUZZ_SIM_STEPS;
    c->fault_window_ns = FUZZ_SIM_FAULT_WINDOW_MS * 1000000ull;
    c->liveness_ns = FUZZ_SIM_LIVENESS_MS * 1000000ull;
    c->check_every_step = true;
    c->decision_bytes = len > FUZZ_SIM_HDR ? data + FUZZ_SIM_HDR : NULL;
    c->decision_len = len > FUZZ_SIM_HDR ? len - FUZZ_SIM_HDR : 0;
    if (c->decision_bytes == NULL) {
        static const uint8_t none[1] = {0};
        c->decision_bytes = none; /* all decisions 0, still not the PRNG */
        c->decision_len = 0;
    }
    return 0;
}

bool fuzz_sim_is_finding(const struct sim_result *r)
{
    if (r->status == SIM_OK)
        return false;
    if (r->status != SIM_VIOLATION)
        return true; /* an error (out of memory, a broken world) is a bug too */
    if (sim_known_linux_deadlock(r))
        return false; /* Linux's own bug, which the model follows Linux into */
    return !(strcmp(r->invariant, "liveness") == 0 && strstr(r->message, "step budget") != NULL);
}

void fuzz_sim_one(const uint8_t *data, size_t len, struct fuzz_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    if (len > FUZZ_SIM_MAX_LEN) {
        rep->outcome = FUZZ_NOTHING;
        return;
    }
    struct fuzz_sim_setup su;
    if (fuzz_sim_setup(data, len, &su) < 0) {
        fuzz_found(rep, "sim harness: scenario %u does not parse", su.scenario);
        return;
    }
    struct sim_result res;
    sim_run(&su.cfg, &res);
    if (fuzz_sim_is_finding(&res))
        fuzz_found(rep, "%s of '%s' at step %llu: %s", sim_status_name(res.status), res.invariant,
                   (unsigned long long)res.step, res.message);
}

/* As cli/commands.c writes a run's header: one option per fault, the
 * scenario file, the step budget, the fault window, the liveness bound and
 * the Linux profile. */
static int add_faults(const struct sim_faults *f, struct trace_header *h)
{
    for (int i = 0; i < FAULT_COUNT; i++) {
        if (f->ppm[i] == 0)
            continue;
        struct sim_faults one;
        memset(&one, 0, sizeof(one));
        one.ppm[i] = f->ppm[i];
        char spec[96], key[48];
        sim_faults_format(&one, spec, sizeof(spec));
        snprintf(key, sizeof(key), "fault-%s", sim_fault_name((enum sim_fault)i));
        if (trace_header_add_option(h, key, strchr(spec, '=') + 1) < 0)
            return -1;
    }
    return 0;
}

static int add_number(struct trace_header *h, const char *key, uint64_t v)
{
    char num[32];
    snprintf(num, sizeof(num), "%" PRIu64, v);
    return trace_header_add_option(h, key, num);
}

int fuzz_sim_trace_header(const struct fuzz_sim_setup *su, struct trace_header *h)
{
    const struct sim_cfg *c = &su->cfg;
    memset(h, 0, sizeof(*h));
    snprintf(h->program, sizeof(h->program), "%s", SIM_VERSION);
    h->seed = c->seed;
    snprintf(h->scenario, sizeof(h->scenario), "%s", c->scenario.name);
    char path[TRACE_FIELD_MAX + 1];
    fuzz_sim_scenario_path(su->scenario, path, sizeof(path));
    if (add_faults(&c->faults, h) < 0 || trace_header_add_option(h, "scenario-file", path) < 0 ||
        add_number(h, "steps", c->max_steps) < 0 ||
        add_number(h, "fault-window-ms", c->fault_window_ns / 1000000) < 0 ||
        add_number(h, "liveness-ms", c->liveness_ns / 1000000) < 0 ||
        trace_header_add_option(h, "linux", vsock_linux_name(c->linux_ver)) < 0)
        return -1;
    if ((c->deviate & VSOCK_DEV_BIT(VSOCK_DEV_REPLY_BUDGET)) &&
        trace_header_add_option(h, "deviate-reply-budget", "on") < 0)
        return -1;
    return 0;
}
