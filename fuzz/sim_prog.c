/* The sim harness (fuzz/fuzz.h) as a program: AFL++ persistent mode, or one
 * run per input file (fuzz/prog_main.h). With --trace OUT it also records
 * the run of the (last) input as a trace, decisions included, so that
 * `vsocksim replay OUT` reproduces a finding without the input:
 *
 *   sim_prog --trace crash.trace CRASH_FILE
 *
 * The trace is written line by line, so a sanitizer's abort still leaves
 * every record up to the crash. Run it from the source tree: the trace names
 * its scenario file relative to it. */
#define FUZZ_PROG_HARNESS "sim"
#include "fuzz/prog_main.h"
#include "traces/trace.h"

static const char *trace_path; /* a program's own option; AFL needs no state here */

static int prog_option(int argc, char **argv, int *i)
{
    if (strcmp(argv[*i], "--trace") != 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "sim_prog: --trace needs a file name\n");
        return -1;
    }
    trace_path = argv[++*i];
    return 1;
}

static int record(const uint8_t *data, size_t len, const char *path)
{
    struct fuzz_sim_setup su;
    struct trace_header h;
    if (fuzz_sim_setup(data, len, &su) < 0 || fuzz_sim_trace_header(&su, &h) < 0) {
        fprintf(stderr, "sim_prog: cannot make a trace header\n");
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "sim_prog: %s: %s\n", path, strerror(errno));
        return -1;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    su.cfg.record = trace_writer_open(f, &h);
    struct sim_result res;
    sim_run(&su.cfg, &res);
    int err = su.cfg.record != NULL ? trace_writer_close(su.cfg.record) : -1;
    if (fclose(f) != 0 || err < 0) {
        fprintf(stderr, "sim_prog: writing %s failed\n", path);
        return -1;
    }
    fprintf(stderr, "sim_prog: trace %s: %s%s%s%s (%llu steps); vsocksim replay %s\n", path,
            sim_status_name(res.status), res.status != SIM_OK ? " of '" : "",
            res.status != SIM_OK ? res.invariant : "", res.status != SIM_OK ? "'" : "",
            (unsigned long long)res.stats.steps, path);
    return 0;
}

static void prog_after(const uint8_t *data, size_t len, const struct fuzz_report *rep)
{
    (void)rep;
    if (trace_path != NULL && record(data, len, trace_path) < 0)
        exit(3);
}
