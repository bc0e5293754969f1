/* The commands: run, replay, show, sweep, faults, scenarios. */
#include "cli/cli.h"
#include "traces/trace.h"
#include "transport/transport.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_ms(FILE *f, uint64_t ns)
{
    fprintf(f, "%" PRIu64 ".%03" PRIu64 " ms", ns / 1000000, ns / 1000 % 1000);
}

static void print_packets(FILE *f, const char *label, const uint64_t *by_op)
{
    fprintf(f, "  %-18s", label);
    for (int op = 1; op < 8; op++)
        fprintf(f, " %s %" PRIu64, vsock_op_name((uint16_t)op), by_op[op]);
    if (by_op[0])
        fprintf(f, " unknown %" PRIu64, by_op[0]);
    fputc('\n', f);
}

static void print_faults(FILE *f, const struct sim_stats *st)
{
    fprintf(f, "  %-18s", "faults injected");
    bool any = false;
    for (int i = 0; i < FAULT_COUNT; i++) {
        if (st->faults[i] == 0)
            continue;
        fprintf(f, "%s%s %" PRIu64, any ? ", " : " ", sim_fault_name((enum sim_fault)i), st->faults[i]);
        any = true;
    }
    fprintf(f, "%s\n", any ? "" : " none");
}

static void print_summary(FILE *f, const struct run_opts *o, const struct sim_result *r,
                          double wall)
{
    const struct sim_stats *st = &r->stats;
    char faults[300];
    sim_faults_format(&o->faults, faults, sizeof(faults));
    fprintf(f, "vsocksim run: scenario %s, seed %" PRIu64 ", faults %s", o->scenario_name,
            o->seed, faults);
    if (o->deviate != 0) {
        char names[256];
        vsock_deviations_format(o->deviate, names, sizeof(names));
        fprintf(f, ", deviate %s", names);
    }
    fputc('\n', f);
    fprintf(f, "  %-18s %s\n", "result", sim_status_name(r->status));
    fprintf(f, "  %-18s %" PRIu64 " (%" PRIu64 " completed, %" PRIu64 " ended by faults)\n",
            "connections", st->flows, st->flows_completed, st->flows_disrupted);
    fprintf(f, "  %-18s guest->host %" PRIu64 ", host->guest %" PRIu64 "\n", "bytes",
            st->bytes_g2h, st->bytes_h2g);
    print_packets(f, "packets g->h", st->pkts_g2h);
    print_packets(f, "packets h->g", st->pkts_h2g);
    fprintf(f, "  %-18s kicks %" PRIu64 ", interrupts %" PRIu64 "\n", "notifications", st->kicks,
            st->interrupts);
    print_faults(f, st);
    fprintf(f, "  %-18s %" PRIu64 "\n", "invariant checks", st->checks);
    fprintf(f, "  %-18s %" PRIu64 " (%" PRIu64 " decisions)\n", "steps", st->steps, st->decisions);
    fprintf(f, "  %-18s ", "simulated time");
    print_ms(f, st->sim_ns);
    fprintf(f, "\n  %-18s %016" PRIx64 "\n", "final digest", st->digest);
    double eps = wall > 0 ? (double)st->steps / wall : 0;
    fprintf(f, "  %-18s %.0f events/s (%.3f s wall)\n", "speed", eps, wall);
}

static void print_failure(const struct run_opts *o, const struct sim_result *r, const char *trace)
{
    char cmd[600];
    replay_command(o, cmd, sizeof(cmd));
    fprintf(stderr, "vsocksim: %s of '%s' at step %" PRIu64 " (t=", sim_status_name(r->status),
            r->invariant, r->step);
    print_ms(stderr, r->t_ns);
    fprintf(stderr, "), seed %" PRIu64 ": %s\n", o->seed, r->message);
    fprintf(stderr, "  replay: %s%s%s\n", cmd, trace ? " --trace " : "", trace ? trace : "");
    if (trace)
        fprintf(stderr, "  trace:  vsocksim replay %s\n", trace);
}

static int exit_for(enum sim_status st)
{
    return st == SIM_OK ? EXIT_RUN_OK : st == SIM_ERROR ? EXIT_IO : EXIT_RUN_FAILED;
}

/* ---- run ---- */

/* One option per deviation ("deviate-bad-credit on"), as for faults: a
 * header value holds 64 characters, and the table will grow. */
static int add_deviation_options(uint64_t deviate, struct trace_header *h)
{
    for (unsigned d = 0; d < VSOCK_DEV_COUNT; d++) {
        if (!(deviate & VSOCK_DEV_BIT(d)))
            continue;
        char key[64];
        snprintf(key, sizeof(key), "deviate-%s", vsock_deviation(d)->name);
        if (trace_header_add_option(h, key, "on") < 0)
            return -1;
    }
    return 0;
}

static int deviations_from_header(const struct trace_header *h, uint64_t *deviate,
                                  const char *path)
{
    *deviate = 0;
    for (unsigned i = 0; i < h->noptions; i++) {
        const struct trace_option *opt = &h->options[i];
        if (strncmp(opt->key, "deviate-", 8) != 0)
            continue;
        char err[256] = "not one deviation's name";
        uint64_t one;
        if (strcmp(opt->key + 8, "none") == 0 || strcmp(opt->key + 8, "all") == 0 ||
            vsock_deviations_parse(opt->key + 8, &one, err, sizeof(err)) < 0) {
            fprintf(stderr, "vsocksim replay: %s: header option '%s': %s\n", path, opt->key,
                    err);
            return -1;
        }
        if (strcmp(opt->value, "on") != 0) {
            fprintf(stderr, "vsocksim replay: %s: header option '%s' is '%s', not on\n", path,
                    opt->key, opt->value);
            return -1;
        }
        *deviate |= one;
    }
    return 0;
}

/* One option per fault ("fault-kick-delay 0.2"): a header value holds 64
 * characters, and a full fault list is longer. */
static int add_fault_options(const struct sim_faults *f, struct trace_header *h)
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

static int header_from_opts(const struct run_opts *o, struct trace_header *h)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->program, sizeof(h->program), "%s", SIM_VERSION);
    h->seed = o->seed;
    snprintf(h->scenario, sizeof(h->scenario), "%.64s", o->scenario_name);
    char num[32];
    int err = add_fault_options(&o->faults, h);
    if (err == 0 && o->scenario_file[0])
        err = trace_header_add_option(h, "scenario-file", o->scenario_file);
    snprintf(num, sizeof(num), "%" PRIu64, o->max_steps);
    if (err == 0)
        err = trace_header_add_option(h, "steps", num);
    snprintf(num, sizeof(num), "%" PRIu64, o->fault_window_ns / 1000000);
    if (err == 0)
        err = trace_header_add_option(h, "fault-window-ms", num);
    snprintf(num, sizeof(num), "%" PRIu64, o->liveness_ns / 1000000);
    if (err == 0)
        err = trace_header_add_option(h, "liveness-ms", num);
    if (err == 0)
        err = trace_header_add_option(h, "linux", vsock_linux_name(o->linux_ver));
    if (err == 0)
        err = add_deviation_options(o->deviate, h);
    return err < 0 ? -1 : 0;
}

static int run_with_trace(const struct run_opts *o, const char *path, bool quiet)
{
    struct sim_cfg cfg;
    sim_cfg_from_opts(o, &cfg);
    FILE *tf = NULL;
    if (path != NULL) {
        tf = fopen(path, "w");
        if (tf == NULL) {
            fprintf(stderr, "vsocksim run: --trace %s: %s\n", path, strerror(errno));
            return EXIT_IO;
        }
        struct trace_header h;
        if (header_from_opts(o, &h) < 0) {
            fprintf(stderr, "vsocksim run: --trace: the run's options do not fit a trace header "
                            "(a scenario file path longer than 64 characters?)\n");
            fclose(tf);
            return EXIT_USAGE;
        }
        cfg.record = trace_writer_open(tf, &h);
        if (cfg.record == NULL) {
            fprintf(stderr, "vsocksim run: --trace %s: out of memory\n", path);
            fclose(tf);
            return EXIT_IO;
        }
    }
    struct sim_result res;
    double t0 = wall_seconds();
    sim_run(&cfg, &res);
    double wall = wall_seconds() - t0;
    if (cfg.record != NULL && trace_writer_close(cfg.record) < 0) {
        fprintf(stderr, "vsocksim run: writing %s failed\n", path);
        fclose(tf);
        return EXIT_IO;
    }
    if (tf != NULL && fclose(tf) != 0) {
        fprintf(stderr, "vsocksim run: writing %s: %s\n", path, strerror(errno));
        return EXIT_IO;
    }
    if (!quiet)
        print_summary(stdout, o, &res, wall);
    if (res.status != SIM_OK)
        print_failure(o, &res, path);
    return exit_for(res.status);
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o;
    run_opts_init(&o);
    const char *trace = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        int r = parse_run_option("run", argc, argv, &i, &o);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 1)
            continue;
        if (strcmp(argv[i], "--trace") == 0) {
            if (i + 1 >= argc)
                return usage_error("run", "--trace needs a file name");
            trace = argv[++i];
        }
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else
            return usage_error("run", "unknown option '%s'", argv[i]);
    }
    if (finish_run_opts("run", &o) < 0)
        return EXIT_USAGE;
    return run_with_trace(&o, trace, quiet);
}

/* ---- replay and show ---- */

static int faults_from_header(const struct trace_header *h, struct sim_faults *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    for (unsigned i = 0; i < h->noptions; i++) {
        const struct trace_option *opt = &h->options[i];
        if (strncmp(opt->key, "fault-", 6) != 0 || strcmp(opt->key, "fault-window-ms") == 0)
            continue;
        char spec[160], err[200];
        snprintf(spec, sizeof(spec), "%s=%s", opt->key + 6, opt->value);
        struct sim_faults one;
        if (sim_faults_parse(spec, &one, err, sizeof(err)) < 0) {
            fprintf(stderr, "vsocksim replay: %s: header option %s: %s\n", path, opt->key, err);
            return -1;
        }
        for (int k = 0; k < FAULT_COUNT; k++)
            if (one.ppm[k])
                f->ppm[k] = one.ppm[k];
    }
    return 0;
}

int opts_from_header(const struct trace_header *h, struct run_opts *o, const char *path)
{
    run_opts_init(o);
    o->seed = h->seed;
    snprintf(o->scenario_name, sizeof(o->scenario_name), "%.64s", h->scenario);
    const char *sf = trace_header_option(h, "scenario-file");
    if (sf != NULL)
        snprintf(o->scenario_file, sizeof(o->scenario_file), "%s", sf);
    if (faults_from_header(h, &o->faults, path) < 0)
        return -1;
    o->faults_given = true;
    const char *keys[3] = {"steps", "fault-window-ms", "liveness-ms"};
    uint64_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        const char *s = trace_header_option(h, keys[i]);
        if (s != NULL && parse_u64(s, &v[i]) < 0) {
            fprintf(stderr, "vsocksim replay: %s: header option '%s' is not a number\n", path, keys[i]);
            return -1;
        }
    }
    /* Traces from before the profile existed followed 6.1's rules. */
    const char *lv = trace_header_option(h, "linux");
    if (lv != NULL && vsock_linux_parse(lv, &o->linux_ver) < 0) {
        fprintf(stderr, "vsocksim replay: %s: header option 'linux' is '%s', not 6.1 or 6.12\n",
                path, lv);
        return -1;
    }
    if (deviations_from_header(h, &o->deviate, path) < 0)
        return -1;
    o->max_steps = v[0];
    o->fault_window_ns = v[1] * 1000000ull;
    o->liveness_ns = v[2] * 1000000ull;
    return finish_run_opts("replay", o) < 0 ? -1 : 0;
}

int cmd_replay(int argc, char **argv)
{
    if (argc != 2)
        return usage_error("replay", "needs exactly one trace file");
    const char *path = argv[1];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "vsocksim replay: %s: %s\n", path, strerror(errno));
        return EXIT_IO;
    }
    struct trace_header h;
    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, &h, &err);
    if (r == NULL) {
        fprintf(stderr, "vsocksim replay: %s: %s\n", path, err.msg);
        fclose(f);
        return EXIT_IO;
    }
    struct run_opts o;
    if (opts_from_header(&h, &o, path) < 0) {
        trace_reader_close(r);
        fclose(f);
        return EXIT_USAGE;
    }
    struct sim_cfg cfg;
    sim_cfg_from_opts(&o, &cfg);
    cfg.replay = r;
    struct sim_result res;
    sim_run(&cfg, &res);
    trace_reader_close(r);
    fclose(f);
    if (res.status == SIM_DIVERGENCE || res.status == SIM_ERROR) {
        fprintf(stderr, "vsocksim replay: %s: %s\n", path, res.message);
        return res.status == SIM_ERROR ? EXIT_IO : EXIT_RUN_FAILED;
    }
    printf("vsocksim replay: %s: reproduced exactly (%" PRIu64 " steps, %" PRIu64
           " decisions, digest %016" PRIx64 "): %s%s%s\n",
           path, res.stats.steps, res.stats.decisions, res.stats.digest, sim_status_name(res.status),
           res.status == SIM_OK ? "" : ": ", res.status == SIM_OK ? "" : res.message);
    return exit_for(res.status);
}

int cmd_show(int argc, char **argv)
{
    bool verbose = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
            verbose = true;
        else if (path == NULL && argv[i][0] != '-')
            path = argv[i];
        else
            return usage_error("show", "unexpected argument '%s'", argv[i]);
    }
    if (path == NULL)
        return usage_error("show", "needs a trace file");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "vsocksim show: %s: %s\n", path, strerror(errno));
        return EXIT_IO;
    }
    struct trace_error err;
    int r = trace_show(f, stdout, verbose, &err);
    fclose(f);
    if (r < 0) {
        fprintf(stderr, "vsocksim show: %s: %s\n", path, err.msg);
        return EXIT_IO;
    }
    return EXIT_RUN_OK;
}

/* ---- sweep ---- */

struct sweep {
    uint64_t first, last;
    uint64_t shard, shards; /* shard in 1..shards */
};

static int parse_range(const char *v, struct sweep *sw)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", v);
    char *dash = strchr(buf, '-');
    if (dash == NULL)
        return parse_u64(buf, &sw->first) < 0 ? -1 : (sw->last = sw->first, 0);
    *dash = '\0';
    if (parse_u64(buf, &sw->first) < 0 || parse_u64(dash + 1, &sw->last) < 0 || sw->last < sw->first)
        return -1;
    return 0;
}

static int parse_shard(const char *v, struct sweep *sw)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", v);
    char *slash = strchr(buf, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if (parse_u64(buf, &sw->shard) < 0 || parse_u64(slash + 1, &sw->shards) < 0 ||
        sw->shards == 0 || sw->shard == 0 || sw->shard > sw->shards)
        return -1;
    return 0;
}

static int sweep_args(int argc, char **argv, struct run_opts *o, struct sweep *sw)
{
    bool have_seeds = false;
    for (int i = 1; i < argc; i++) {
        int r = parse_run_option("sweep", argc, argv, &i, o);
        if (r < 0)
            return -1;
        if (r == 1) {
            if (strcmp(argv[i - 1], "--seed") == 0)
                return usage_error("sweep", "use --seeds A-B, not --seed"), -1;
            continue;
        }
        const char *a = argv[i];
        if ((strcmp(a, "--seeds") == 0 || strcmp(a, "--shard") == 0) && i + 1 >= argc)
            return usage_error("sweep", "%s needs a value", a), -1;
        if (strcmp(a, "--seeds") == 0) {
            if (parse_range(argv[++i], sw) < 0)
                return usage_error("sweep", "--seeds: '%s' is not A-B with A <= B", argv[i]), -1;
            have_seeds = true;
        } else if (strcmp(a, "--shard") == 0) {
            if (parse_shard(argv[++i], sw) < 0)
                return usage_error("sweep", "--shard: '%s' is not i/n with 1 <= i <= n", argv[i]), -1;
        } else {
            return usage_error("sweep", "unknown option '%s'", a), -1;
        }
    }
    if (!have_seeds)
        return usage_error("sweep", "needs --seeds A-B"), -1;
    return finish_run_opts("sweep", o);
}

#define SWEEP_SHOW_FAILURES 20

int cmd_sweep(int argc, char **argv)
{
    struct run_opts o;
    run_opts_init(&o);
    struct sweep sw = {.shard = 1, .shards = 1};
    if (sweep_args(argc, argv, &o, &sw) < 0)
        return EXIT_USAGE;
    uint64_t total = 0, failed = 0, known = 0, first_known = 0, steps = 0;
    uint64_t span = sw.last - sw.first + 1;
    uint64_t mine = span / sw.shards + (span % sw.shards >= sw.shard ? 1 : 0);
    double t0 = wall_seconds();
    for (uint64_t seed = sw.first + (sw.shard - 1); seed >= sw.first && seed <= sw.last;
         seed += sw.shards) {
        o.seed = seed;
        struct sim_cfg cfg;
        sim_cfg_from_opts(&o, &cfg);
        struct sim_result res;
        sim_run(&cfg, &res);
        total++;
        steps += res.stats.steps;
        if (sim_known_linux_deadlock(&res)) {
            /* Linux's own bug, which the model meets by following Linux:
             * counted, not a failure of the model (the first is shown). */
            if (known++ == 0)
                first_known = seed;
        } else if (res.status != SIM_OK) {
            if (++failed <= SWEEP_SHOW_FAILURES)
                print_failure(&o, &res, NULL);
        }
        if (total % (mine >= 10 ? mine / 10 : 1) == 0 || total == mine)
            fprintf(stderr, "sweep: %" PRIu64 "/%" PRIu64 " seeds, %" PRIu64 " failing, %.1f s\n",
                    total, mine, failed, wall_seconds() - t0);
        if (seed > UINT64_MAX - sw.shards)
            break;
    }
    double wall = wall_seconds() - t0;
    char faults[300];
    sim_faults_format(&o.faults, faults, sizeof(faults));
    printf("sweep: scenario %s, faults %s, seeds %" PRIu64 "-%" PRIu64 " shard %" PRIu64 "/%" PRIu64
           ": %" PRIu64 " run, %" PRIu64 " ok, %" PRIu64 " failing (%" PRIu64 " steps, %.1f seeds/s)\n",
           o.scenario_name, faults, sw.first, sw.last, sw.shard, sw.shards, total,
           total - failed - known, failed, steps, wall > 0 ? (double)total / wall : 0.0);
    if (known != 0) {
        o.seed = first_known;
        char cmd[600];
        replay_command(&o, cmd, sizeof(cmd));
        printf("sweep: %" PRIu64 " ended in Linux's reply-pause deadlock (%s), known Linux "
               "behaviour, not failures; the first: %s; --deviate reply-budget runs past it\n",
               known, SIM_KNOWN_LINUX_DEADLOCK_REPORT, cmd);
    }
    if (failed > SWEEP_SHOW_FAILURES)
        printf("sweep: only the first %d failures are shown\n", SWEEP_SHOW_FAILURES);
    return failed ? EXIT_RUN_FAILED : EXIT_RUN_OK;
}

/* ---- listings ---- */

int cmd_faults(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return usage_error("faults", "takes no arguments");
    printf("Faults, for --faults name=rate[,name=rate...] (rate 0..1; all=RATE sets every one):\n");
    for (int i = 0; i < FAULT_COUNT; i++)
        printf("  %-16s %s\n", sim_fault_name((enum sim_fault)i), sim_fault_help((enum sim_fault)i));
    return EXIT_RUN_OK;
}

int cmd_deviations(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return usage_error("deviations", "takes no arguments");
    printf("Deviations from Linux, for --deviate NAME[,NAME...] (default none: Linux's rules;\n"
           "'all' for every one):\n");
    for (unsigned d = 0; d < VSOCK_DEV_COUNT; d++) {
        const struct vsock_deviation_info *i = vsock_deviation(d);
        printf("  %-16s %-10s %s\n", i->name, i->module, i->reason);
    }
    return EXIT_RUN_OK;
}

int cmd_scenarios(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return usage_error("scenarios", "takes no arguments");
    size_t n;
    const struct scenario *list = sim_scenario_list(&n);
    printf("Built-in scenarios, for --scenario NAME (default %s):\n", SIM_DEFAULT_SCENARIO);
    for (size_t i = 0; i < n; i++) {
        printf("  %-12s %s\n", list[i].name, list[i].description);
        if (list[i].faults[0])
            printf("  %-12s default faults: %s\n", "", list[i].faults);
    }
    return EXIT_RUN_OK;
}
