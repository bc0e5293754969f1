/* vsocksim report: a Markdown bug report from a failing trace. It says what
 * failed (status, invariant, message, step and time), quotes a sanitizer's
 * or harness's output when given one, shows the minimal timeline (the
 * `vsocksim show` lines before the failure), the run's seed and options, and
 * the commands that reproduce it: the trace replays exactly; the seed alone
 * only when its decisions are the seed's (not a fuzzer's input). */
#include "cli/cli.h"
#include "traces/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_DEFAULT_CONTEXT 30u
#define REPORT_MAX_CONTEXT 200u
#define REPORT_LINE 400u
#define REPORT_LOG_MAX 12000u

struct scan {
    uint64_t decisions, packets, faults, lines;
    bool ended;                 /* the trace has its end record */
    struct trace_end end;
    char note[REPORT_LINE];     /* the last note (the violation, as recorded) */
    char error[300];            /* why the trace stopped early, or "" */
    char (*ring)[REPORT_LINE];  /* the last `context` timeline lines */
    unsigned context, nring, head;
};

static void keep_line(struct scan *sc, const char *line)
{
    snprintf(sc->ring[sc->head], REPORT_LINE, "%s", line);
    sc->head = (sc->head + 1) % sc->context;
    if (sc->nring < sc->context)
        sc->nring++;
}

static void scan_record(struct scan *sc, const struct trace_record *r)
{
    char line[REPORT_LINE];
    switch (r->type) {
    case TRACE_DECISION: sc->decisions++; return;
    case TRACE_PACKET: sc->packets++; break;
    case TRACE_FAULT: sc->faults++; break;
    case TRACE_NOTE: {
        size_t n = strnlen(r->note.text, sizeof(sc->note) - 1); /* a long note is cut */
        memcpy(sc->note, r->note.text, n);
        sc->note[n] = '\0';
        break;
    }
    case TRACE_END:
        sc->ended = true;
        sc->end = r->end;
        return;
    }
    if (trace_record_show(r, false, line, sizeof(line)) > 0)
        keep_line(sc, line);
}

static int scan_trace(const char *path, struct scan *sc, struct trace_header *h)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "vsocksim report: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, h, &err);
    if (r == NULL) {
        fprintf(stderr, "vsocksim report: %s: %s\n", path, err.msg);
        fclose(f);
        return -1;
    }
    struct trace_record *rec = malloc(sizeof(*rec));
    int n = rec != NULL ? 1 : -1;
    while (rec != NULL && (n = trace_reader_next(r, rec, &err)) == 1)
        scan_record(sc, rec);
    if (n < 0)
        snprintf(sc->error, sizeof(sc->error), "%s", rec != NULL ? err.msg : "out of memory");
    sc->lines = trace_reader_line(r);
    free(rec);
    trace_reader_close(r);
    fclose(f);
    return 0;
}

/* Strict replay of the trace: what the recorded run really ended with. */
static void replay(const char *path, const struct run_opts *o, struct sim_result *res)
{
    FILE *f = fopen(path, "r");
    struct trace_header h;
    struct trace_reader *r = f != NULL ? trace_reader_open(f, &h, NULL) : NULL;
    struct sim_cfg cfg;
    sim_cfg_from_opts(o, &cfg);
    cfg.replay = r;
    if (r != NULL) {
        sim_run(&cfg, res);
        trace_reader_close(r);
    } else {
        memset(res, 0, sizeof(*res));
        res->status = SIM_ERROR;
        snprintf(res->message, sizeof(res->message), "the trace cannot be read");
    }
    if (f != NULL)
        fclose(f);
}

/* ---- the Markdown ------------------------------------------------------------------ */

static void put_ms(FILE *out, uint64_t ns)
{
    fprintf(out, "%" PRIu64 ".%03" PRIu64 " ms", ns / 1000000u, ns % 1000000u / 1000u);
}

static void put_summary(FILE *out, const struct report_opts *ro, const struct trace_header *h,
                        const struct run_opts *o, const struct scan *sc)
{
    fprintf(out, "| | |\n|---|---|\n");
    fprintf(out, "| trace | `%s` (%" PRIu64 " lines: %" PRIu64 " decisions, %" PRIu64
            " packets, %" PRIu64 " faults)%s |\n", ro->trace, sc->lines, sc->decisions,
            sc->packets, sc->faults, sc->ended ? "" : ", **no end record**");
    if (ro->input != NULL)
        fprintf(out, "| fuzzer input | `%s` |\n", ro->input);
    fprintf(out, "| program | vsocksim %s (trace written by %s) |\n", SIM_VERSION, h->program);
    fprintf(out, "| seed | %" PRIu64 " |\n", h->seed);
    fprintf(out, "| scenario | %s%s%s%s |\n", o->scenario_name, o->scenario_file[0] ? " (`" : "",
            o->scenario_file, o->scenario_file[0] ? "`)" : "");
    fprintf(out, "| options |");
    for (unsigned i = 0; i < h->noptions; i++)
        fprintf(out, " %s=%s", h->options[i].key, h->options[i].value);
    fprintf(out, "%s |\n", h->noptions ? "" : " none");
}

static void put_failure(FILE *out, const struct sim_result *res, const struct scan *sc)
{
    fprintf(out, "\n## What failed\n\n");
    if (res->status == SIM_VIOLATION) {
        fprintf(out, "The invariant **%s** was violated at step %" PRIu64 " (t=", res->invariant,
                res->step);
        put_ms(out, res->t_ns);
        fprintf(out, "):\n\n> %s\n", res->message);
    } else if (res->status == SIM_OK) {
        fprintf(out, "The run ends **ok**: no invariant is violated when the trace replays.\n");
    } else {
        fprintf(out, "The trace does not replay (%s): %s\n", sim_status_name(res->status),
                res->message);
    }
    if (sc->note[0] != '\0')
        fprintf(out, "\nAs recorded in the trace:\n\n> %s\n", sc->note);
    if (!sc->ended)
        fprintf(out, "\nThe trace has no end record%s%s: the recording program stopped early "
                "(a crash or a sanitizer's abort; see below).\n", sc->error[0] ? ": " : "",
                sc->error);
}

static void put_log(FILE *out, const char *path)
{
    FILE *f = fopen(path, "r");
    fprintf(out, "\n## Sanitizer / harness output\n\n");
    if (f == NULL) {
        fprintf(out, "(`%s` cannot be read: %s)\n", path, strerror(errno));
        return;
    }
    fprintf(out, "From `%s`:\n\n```text\n", path);
    char buf[512];
    size_t total = 0;
    while (total < REPORT_LOG_MAX && fgets(buf, sizeof(buf), f) != NULL) {
        fputs(buf, out);
        total += strlen(buf);
    }
    if (total >= REPORT_LOG_MAX)
        fprintf(out, "... (cut at %u bytes)\n", REPORT_LOG_MAX);
    fprintf(out, "```\n");
    fclose(f);
}

static void put_timeline(FILE *out, const struct scan *sc, const char *trace)
{
    fprintf(out, "\n## Minimal timeline\n\nThe last %u packets, faults and notes before the "
            "end (`vsocksim show %s`; `--verbose` adds the decisions):\n\n```text\n",
            sc->nring, trace);
    unsigned first = sc->nring < sc->context ? 0 : sc->head;
    for (unsigned i = 0; i < sc->nring; i++)
        fprintf(out, "%s\n", sc->ring[(first + i) % sc->context]);
    if (sc->ended) {
        fprintf(out, "end %s steps=%" PRIu64 " t=", trace_status_name(sc->end.status),
                sc->end.steps);
        put_ms(out, sc->end.t);
        fprintf(out, "\n");
    }
    fprintf(out, "```\n");
}

static void put_reproduce(FILE *out, const struct report_opts *ro, const struct run_opts *o,
                          bool seed_reproduces)
{
    char cmd[700];
    replay_command(o, cmd, sizeof(cmd));
    fprintf(out, "\n## Reproduce\n\nFrom the source tree:\n\n```sh\nvsocksim replay %s       "
            "# re-executes every decision and checks every record\nvsocksim show --verbose %s\n"
            "vsocksim shrink %s -o smaller.trace   # a smaller trace that fails the same way\n```\n",
            ro->trace, ro->trace, ro->trace);
    if (seed_reproduces)
        fprintf(out, "\nThe seed alone reproduces it too:\n\n```sh\n%s\n```\n", cmd);
    else
        fprintf(out, "\nThe decisions did not come from the seed (a fuzzer's input, or a "
                "shrunk trace): only the trace reproduces it.\n");
    if (ro->input != NULL)
        fprintf(out, "\nFrom the fuzzer input:\n\n```sh\nbuild/clang-asan/fuzz/sim_prog --trace "
                "again.trace %s\n```\n", ro->input);
}

static void write_markdown(FILE *out, const struct report_opts *ro, const struct trace_header *h,
                           const struct run_opts *o, const struct scan *sc,
                           const struct sim_result *res, bool seed_reproduces)
{
    if (res->status == SIM_VIOLATION)
        fprintf(out, "# vsocksim: violation of '%s' at step %" PRIu64 "\n\n", res->invariant,
                res->step);
    else
        fprintf(out, "# vsocksim: trace %s (%s)\n\n", ro->trace, sim_status_name(res->status));
    put_summary(out, ro, h, o, sc);
    put_failure(out, res, sc);
    if (ro->log != NULL)
        put_log(out, ro->log);
    put_timeline(out, sc, ro->trace);
    put_reproduce(out, ro, o, seed_reproduces);
}

int report_write(const struct report_opts *ro, FILE *out)
{
    struct scan sc;
    memset(&sc, 0, sizeof(sc));
    sc.context = ro->context ? ro->context : REPORT_DEFAULT_CONTEXT;
    if (sc.context > REPORT_MAX_CONTEXT)
        sc.context = REPORT_MAX_CONTEXT;
    sc.ring = calloc(sc.context, sizeof(*sc.ring));
    struct trace_header h;
    struct run_opts o;
    if (sc.ring == NULL || scan_trace(ro->trace, &sc, &h) < 0 ||
        opts_from_header(&h, &o, ro->trace) < 0) {
        free(sc.ring);
        return EXIT_IO;
    }
    struct sim_result res, fresh;
    replay(ro->trace, &o, &res);
    struct sim_cfg cfg;
    sim_cfg_from_opts(&o, &cfg);
    sim_run(&cfg, &fresh);
    bool seed = res.status == SIM_VIOLATION && shrink_same_failure(&res, &fresh) &&
                fresh.stats.digest == res.stats.digest;
    write_markdown(out, ro, &h, &o, &sc, &res, seed);
    free(sc.ring);
    return EXIT_RUN_OK;
}

int cmd_report(int argc, char **argv)
{
    struct report_opts ro = {0};
    const char *outp = NULL;
    uint64_t ctx = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-o") == 0 && i + 1 < argc)
            outp = argv[++i];
        else if (strcmp(a, "--log") == 0 && i + 1 < argc)
            ro.log = argv[++i];
        else if (strcmp(a, "--input") == 0 && i + 1 < argc)
            ro.input = argv[++i];
        else if (strcmp(a, "--context") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &ctx) < 0 || ctx == 0 || ctx > REPORT_MAX_CONTEXT)
                return usage_error("report", "--context: '%s' is not 1..%u", argv[i],
                                   REPORT_MAX_CONTEXT);
            ro.context = (unsigned)ctx;
        } else if (ro.trace == NULL && a[0] != '-')
            ro.trace = a;
        else
            return usage_error("report", "unexpected argument '%s'", a);
    }
    if (ro.trace == NULL)
        return usage_error("report", "needs a trace file");
    FILE *out = outp == NULL || strcmp(outp, "-") == 0 ? stdout : fopen(outp, "w");
    if (out == NULL) {
        fprintf(stderr, "vsocksim report: %s: %s\n", outp, strerror(errno));
        return EXIT_IO;
    }
    int rc = report_write(&ro, out);
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, "vsocksim report: writing %s: %s\n", outp, strerror(errno));
        return EXIT_IO;
    }
    if (rc == EXIT_RUN_OK && out != stdout)
        printf("vsocksim report: %s -> %s\n", ro.trace, outp);
    return rc;
}
